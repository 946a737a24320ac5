package controller

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// TestCatchUpAfterWholeQuorumRestart stops every node of a quorum whose
// log holds topics both in a snapshot and after it, starts them all again,
// and checks the catch-up rule: a node is ready only once its image holds
// every topic, and the read index a node is given never falls below what
// was committed before, across the restart's election and a leader change
// after it. Counting the leader's applied index (low right after an
// election) or raft's AppliedIndex (ahead of the FSM) lets a node be ready
// on a snapshot's image, without the topics created after it.
func TestCatchUpAfterWholeQuorumRestart(t *testing.T) {
	nodes := startQuorum(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	createTopics := func(via *Raft, from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if _, err := via.CreateTopic(ctx, TopicSpec{Name: fmt.Sprintf("t%03d", i), Partitions: 1, ReplicationFactor: 3}); err != nil {
				t.Fatal(err)
			}
		}
	}
	createTopics(nodes[0], 0, 40)
	for _, c := range nodes {
		waitFor(t, "40 topics on every node", func() bool { return len(c.Image().Topics) == 40 })
		if err := c.r.Snapshot().Error(); err != nil {
			t.Fatalf("snapshot of node %d: %v", c.cfg.NodeID, err)
		}
	}
	const total = 120
	createTopics(nodes[1], 40, total)
	var committed uint64
	for _, c := range nodes {
		waitFor(t, "every topic on every node", func() bool { return len(c.Image().Topics) == total })
		applied, _ := c.fsm.appliedIndex()
		committed = max(committed, applied)
	}

	// Stop every node, then start them all at once on the same state.
	var dirs []string
	for _, c := range nodes {
		dirs = append(dirs, c.cfg.Dir)
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	restarted := make([]*Raft, len(nodes))
	for i, c := range nodes {
		restarted[i] = openNodeIn(t, c.cfg.Self, c.cfg.RaftListen, c.cfg.Peers, dirs[i])
	}
	var wg sync.WaitGroup
	errs := make([]error, len(restarted))
	for i, c := range restarted {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.WaitReady(ctx); err != nil {
				errs[i] = err
				return
			}
			// Ready means current: nothing may be missing, at once.
			if n := len(c.Image().Topics); n != total {
				errs[i] = fmt.Errorf("node %d ready with %d of %d topics in its image", c.cfg.NodeID, n, total)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}

	// The read index only grows, whichever node leads.
	var leader, follower *Raft
	for _, c := range restarted {
		if c.r.State() == raft.Leader {
			leader = c
		} else {
			follower = c
		}
	}
	if leader == nil || follower == nil {
		t.Fatal("no leader and follower after the restart")
	}
	before, err := follower.readIndex(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if before < committed {
		t.Errorf("read index %d after the restart is below the %d committed before it", before, committed)
	}
	if err := leader.r.LeadershipTransfer().Error(); err != nil {
		t.Fatalf("leadership transfer: %v", err)
	}
	waitFor(t, "a new leader", func() bool {
		for _, c := range restarted {
			if c != leader && c.r.State() == raft.Leader {
				return true
			}
		}
		return false
	})
	var after uint64
	waitFor(t, "a read index from the new leader", func() bool {
		after, err = leader.readIndex(ctx) // the old leader asks the new one
		return err == nil
	})
	if after <= before {
		t.Errorf("read index went from %d to %d across a leader change", before, after)
	}
	if err := leader.catchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(leader.Image().Topics); n != total {
		t.Errorf("old leader caught up with %d of %d topics", n, total)
	}
}
