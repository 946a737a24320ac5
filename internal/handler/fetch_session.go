package handler

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
)

// Fetch sessions (KIP-227): the broker remembers the partitions a
// consumer fetches, so that later requests carry only changes and
// responses only partitions with news.

// sessionPart is one partition of a session, with what was last sent.
type sessionPart struct {
	topic       string
	id          metadata.TopicID
	partition   int32
	fetchOffset ids.Offset
	maxBytes    int32
	leaderEpoch ids.LeaderEpoch // current leader epoch the client knows, -1 none
	// A follower's fetch only (sessionless): the epoch of its last batch,
	// and the partition's answer when admitFollower gave one.
	lastFetchedEpoch ids.LeaderEpoch
	answer           *kmsg.FetchResponseTopicPartition
	// Last values sent; a partition is left out of an incremental answer
	// when none of these changed and it has no records or error.
	sentHW, sentLSO, sentLogStart int64
}

type partKey struct {
	topic     string
	partition int32
}

type fetchSession struct {
	id        int32
	nextEpoch int32
	parts     []*sessionPart
	index     map[partKey]*sessionPart
	lastUsed  time.Time
}

func (s *fetchSession) upsert(p sessionPart) {
	k := partKey{p.topic, p.partition}
	if old, ok := s.index[k]; ok {
		old.fetchOffset, old.maxBytes, old.leaderEpoch, old.id = p.fetchOffset, p.maxBytes, p.leaderEpoch, p.id
		return
	}
	np := p
	np.sentHW, np.sentLSO, np.sentLogStart = -1, -1, -1
	s.parts = append(s.parts, &np)
	s.index[k] = &np
}

func (s *fetchSession) forget(topic string, partition int32) {
	k := partKey{topic, partition}
	if _, ok := s.index[k]; !ok {
		return
	}
	delete(s.index, k)
	for i, p := range s.parts {
		if p.topic == topic && p.partition == partition {
			s.parts = append(s.parts[:i], s.parts[i+1:]...)
			break
		}
	}
}

// fetchSessions is the broker's session cache, bounded in size; when full
// the least recently used session is evicted.
type fetchSessions struct {
	max int
	mu  sync.Mutex
	m   map[int32]*fetchSession
}

func newFetchSessions(max int) *fetchSessions {
	return &fetchSessions{max: max, m: map[int32]*fetchSession{}}
}

func (c *fetchSessions) create(now time.Time) *fetchSession {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		var oldest *fetchSession
		for _, s := range c.m {
			if oldest == nil || s.lastUsed.Before(oldest.lastUsed) {
				oldest = s
			}
		}
		delete(c.m, oldest.id)
	}
	for {
		id := rand.Int32()
		if id == 0 {
			continue
		}
		if _, taken := c.m[id]; taken {
			continue
		}
		s := &fetchSession{id: id, nextEpoch: 1, index: map[partKey]*sessionPart{}, lastUsed: now}
		c.m[id] = s
		return s
	}
}

func (c *fetchSessions) get(id int32) *fetchSession {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[id]
}

func (c *fetchSessions) remove(id int32) {
	c.mu.Lock()
	delete(c.m, id)
	c.mu.Unlock()
}

func nextSessionEpoch(e int32) int32 {
	if e == 1<<31-1 {
		return 1
	}
	return e + 1
}
