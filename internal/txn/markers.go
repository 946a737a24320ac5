package txn

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/ids"
	"github.com/strom-broker/strom/internal/metadata"
)

// markersVersion is the WriteTxnMarkers version sent: v1, the one version
// Kafka 4.x serves (v0 was removed by KIP-896).
const markersVersion = 1

// markerRetryBackoff paces resends to a leader that failed or is unknown
// (Kafka's marker channel retries on its next poll).
const markerRetryBackoff = 100 * time.Millisecond

// MarkerSender delivers a WriteTxnMarkers request to a node and returns
// its response.
type MarkerSender interface {
	Send(ctx context.Context, node ids.NodeID, req *kmsg.WriteTxnMarkersRequest) (*kmsg.WriteTxnMarkersResponse, error)
}

// markerJob is the markers one transaction still needs.
type markerJob struct {
	p        int32
	epoch    ids.LeaderEpoch // coordinator epoch
	m        *Metadata
	pid      int64
	pepoch   int16
	commit   bool
	tv       int16
	pending  map[TopicPartition]struct{}
	received time.Time
}

// markerJobLocked captures what m's markers need; m is PrepareCommit or
// PrepareAbort.
func (c *Coordinator) markerJobLocked(p int32, epoch ids.LeaderEpoch, m *Metadata) markerJob {
	j := markerJob{p: p, epoch: epoch, m: m, pid: m.ProducerID, pepoch: m.Epoch, commit: m.State == PrepareCommit, tv: m.TV,
		pending: make(map[TopicPartition]struct{}, len(m.Partitions)), received: c.now()}
	for tp := range m.Partitions {
		j.pending[tp] = struct{}{}
	}
	return j
}

// startMarkers sends j's markers from a goroutine and, once every
// partition has its marker, writes CompleteCommit/CompleteAbort.
func (c *Coordinator) startMarkers(j markerJob) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.sendMarkers(&j)
	}()
}

func (c *Coordinator) stillOwned(j *markerJob) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.mu.owned[j.p]
	return o != nil && o.epoch == j.epoch && o.txns[j.m.ID] == j.m
}

func (c *Coordinator) sendMarkers(j *markerJob) {
	for len(j.pending) > 0 {
		if c.ctx.Err() != nil || !c.stillOwned(j) {
			return // the next coordinator of the partition finishes it
		}
		im := c.image()
		byNode := map[ids.NodeID][]TopicPartition{}
		for tp := range j.pending {
			t := im.Topics[tp.Topic]
			if t == nil || int(tp.Partition) >= len(t.Partitions) {
				// A deleted topic needs no marker (Kafka drops it too).
				delete(j.pending, tp)
				continue
			}
			leader := t.Partitions[tp.Partition].Leader
			if _, ok := im.Broker(leader); !ok {
				continue // no live leader yet: retried
			}
			byNode[leader] = append(byNode[leader], tp)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		for node, tps := range byNode {
			wg.Add(1)
			go func() {
				defer wg.Done()
				done := c.sendTo(node, j, tps)
				mu.Lock()
				for _, tp := range done {
					delete(j.pending, tp)
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		if len(j.pending) == 0 {
			break
		}
		select {
		case <-c.ctx.Done():
			return
		case <-time.After(markerRetryBackoff):
		}
	}
	c.complete(j)
}

// sendTo sends the markers of tps to node and returns the partitions
// that have theirs.
func (c *Coordinator) sendTo(node ids.NodeID, j *markerJob, tps []TopicPartition) []TopicPartition {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.Version = markersVersion
	mk := kmsg.NewWriteTxnMarkersRequestMarker()
	mk.ProducerID, mk.ProducerEpoch, mk.Committed, mk.CoordinatorEpoch = j.pid, j.pepoch, j.commit, int32(j.epoch)
	mk.TransactionVersion = int8(j.tv)
	idx := map[string]int{}
	for _, tp := range tps {
		i, ok := idx[tp.Topic]
		if !ok {
			i = len(mk.Topics)
			idx[tp.Topic] = i
			t := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			t.Topic = tp.Topic
			mk.Topics = append(mk.Topics, t)
		}
		mk.Topics[i].Partitions = append(mk.Topics[i].Partitions, tp.Partition)
	}
	req.Markers = []kmsg.WriteTxnMarkersRequestMarker{mk}
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	resp, err := c.send.Send(ctx, node, req)
	if err != nil {
		c.logger.Debug("sending transaction markers failed; retrying", "node", node, "id", j.m.ID, "err", err)
		return nil
	}
	var done []TopicPartition
	for _, m := range resp.Markers {
		if m.ProducerID != j.pid {
			continue
		}
		for _, t := range m.Topics {
			for _, p := range t.Partitions {
				tp := TopicPartition{t.Topic, p.Partition}
				switch err := kerr.ErrorForCode(p.ErrorCode); {
				case err == nil:
					done = append(done, tp)
				case errors.Is(err, kerr.UnknownTopicOrPartition) && c.topicGone(tp):
					done = append(done, tp)
				default:
					// Kafka retries every other error: the leader moved,
					// NOT_ENOUGH_REPLICAS, storage, ...; a stale
					// coordinator epoch means a newer coordinator owns it.
					c.logger.Debug("transaction marker not written; retrying", "node", node, "partition", tp, "err", err)
				}
			}
		}
	}
	return done
}

func (c *Coordinator) topicGone(tp TopicPartition) bool {
	t := c.image().Topics[tp.Topic]
	return t == nil || int(tp.Partition) >= len(t.Partitions)
}

// complete writes CompleteCommit/CompleteAbort once every marker is out.
func (c *Coordinator) complete(j *markerJob) {
	for c.ctx.Err() == nil {
		c.mu.Lock()
		o := c.mu.owned[j.p]
		if o == nil || o.epoch != j.epoch || o.txns[j.m.ID] != j.m {
			c.mu.Unlock()
			return
		}
		m := j.m
		if m.pending != nil || (m.State != PrepareCommit && m.State != PrepareAbort) {
			c.mu.Unlock()
			return
		}
		t, err := m.PrepareComplete(c.now().UnixMilli())
		c.mu.Unlock()
		if err != nil {
			c.logger.Error("completing a transaction", "id", m.ID, "err", err)
			return
		}
		err = c.write(c.ctx, j.p, j.epoch, m, t, nil)
		if err == nil {
			c.logger.Debug("transaction completed", "id", m.ID, "state", t.State, "took", c.now().Sub(j.received))
			return
		}
		if errors.Is(err, ErrNotCoordinator) {
			return
		}
		c.logger.Warn("writing a completed transaction failed; retrying", "id", m.ID, "err", err)
		select {
		case <-c.ctx.Done():
		case <-time.After(markerRetryBackoff):
		}
	}
}

// NetSender sends markers over Kafka connections to each leader's
// inter-broker address (the replication listener in a cluster, the Kafka
// listener otherwise), one connection per node, requests one at a time.
type NetSender struct {
	image    func() *metadata.Image
	clientID string

	// tls, when set, dials the replication listeners with mutual TLS
	// (SetTLS); nil dials plaintext.
	tls      *tls.Config
	listener string // inter_broker_listener; "" for the replication listener

	mu    sync.Mutex
	conns map[ids.NodeID]*markerConn
}

// SetTLS makes the sender dial other nodes' replication listeners (or
// inter-broker listeners, SetListener) with cfg (mutual TLS with the node
// certificate). Call it before Send.
func (s *NetSender) SetTLS(cfg *tls.Config) { s.tls = cfg }

// SetListener makes the sender dial each node's registered Kafka listener
// of that name (inter_broker_listener) rather than its replication
// listener. Call it before Send.
func (s *NetSender) SetListener(name string) { s.listener = name }

// NewNetSender returns a sender resolving nodes in image().
func NewNetSender(image func() *metadata.Image, clientID string) *NetSender {
	return &NetSender{image: image, clientID: clientID, conns: map[ids.NodeID]*markerConn{}}
}

// Close closes every connection.
func (s *NetSender) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, c := range s.conns {
		c.nc.Close()
		delete(s.conns, id)
	}
}

// Send implements MarkerSender.
func (s *NetSender) Send(ctx context.Context, node ids.NodeID, req *kmsg.WriteTxnMarkersRequest) (*kmsg.WriteTxnMarkersResponse, error) {
	b, ok := s.image().Broker(node)
	if !ok {
		return nil, fmt.Errorf("node %d is not live", node)
	}
	addr, tlsCfg := b.Replication, s.tls
	for _, ep := range b.Listeners {
		if s.listener != "" && ep.Name == s.listener {
			addr = net.JoinHostPort(ep.Host, strconv.Itoa(int(ep.Port)))
		}
	}
	if addr == "" {
		addr, tlsCfg = net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))), nil
	}
	s.mu.Lock()
	c := s.conns[node]
	if c != nil && c.addr != addr {
		c.nc.Close()
		delete(s.conns, node)
		c = nil
	}
	s.mu.Unlock()
	if c == nil {
		// Dialed without s.mu: a node that does not answer must not hold
		// up markers to the others. A connection dialed concurrently for
		// the same node replaces this one for later sends.
		d := net.Dialer{Timeout: 5 * time.Second}
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("dial %s: %w", addr, err)
		}
		if tlsCfg != nil {
			tc := tls.Client(nc, tlsCfg)
			hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := tc.HandshakeContext(hctx)
			cancel()
			if err != nil {
				nc.Close()
				return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
			}
			nc = tc
		}
		c = &markerConn{addr: addr, nc: nc, fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID(s.clientID))}
		s.mu.Lock()
		if old := s.conns[node]; old != nil {
			old.nc.Close()
		}
		s.conns[node] = c
		s.mu.Unlock()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	if err := c.roundTrip(ctx, req, resp); err != nil {
		s.mu.Lock()
		if s.conns[node] == c {
			delete(s.conns, node)
		}
		s.mu.Unlock()
		c.nc.Close()
		return nil, err
	}
	return resp, nil
}

type markerConn struct {
	addr string
	nc   net.Conn
	fmt  *kmsg.RequestFormatter
	mu   sync.Mutex // one request at a time
	corr int32
	buf  []byte
}

func (c *markerConn) roundTrip(ctx context.Context, req kmsg.Request, resp kmsg.Response) error {
	c.corr++
	c.buf = c.fmt.AppendRequest(c.buf[:0], req, c.corr)
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(30 * time.Second)
	}
	if err := c.nc.SetDeadline(deadline); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Now()) })
	defer stop()
	if _, err := c.nc.Write(c.buf); err != nil {
		return fmt.Errorf("send WriteTxnMarkers: %w", err)
	}
	var hdr [4]byte
	if _, err := io.ReadFull(c.nc, hdr[:]); err != nil {
		return fmt.Errorf("read WriteTxnMarkers response: %w", err)
	}
	size := int32(binary.BigEndian.Uint32(hdr[:]))
	if size < 4 || size > 16<<20 {
		return fmt.Errorf("WriteTxnMarkers response of %d bytes", size)
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(c.nc, body); err != nil {
		return fmt.Errorf("read WriteTxnMarkers response: %w", err)
	}
	r := kbin.Reader{Src: body}
	if corr := r.Int32(); corr != c.corr {
		return fmt.Errorf("WriteTxnMarkers response for correlation id %d, want %d", corr, c.corr)
	}
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() {
		kmsg.SkipTags(&r)
	}
	if err := r.Complete(); err != nil {
		return fmt.Errorf("WriteTxnMarkers response header: %w", err)
	}
	if err := resp.ReadFrom(r.Src); err != nil {
		return fmt.Errorf("decode WriteTxnMarkers response: %w", err)
	}
	return nil
}
