package testkit

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AckLedger records, on the producer's side, which node acknowledged which
// produce batch: it reads the Produce responses on the client's own
// connections (kgo.Dialer), so it needs nothing from the brokers. With the
// leader epochs of the batches as read back, it checks that no two nodes
// acknowledged writes for one partition in the same leader epoch, and that
// no (partition, offset) was acknowledged twice: the two signs of two
// leaders accepting acks=all writes at once.
type AckLedger struct {
	nodes map[string]int32 // Kafka address -> node id

	mu      sync.Mutex
	acks    map[ledgerKey][]ledgerAck // by topic and partition, in arrival order
	excused []string                  // second acknowledgers Check let pass, and why
}

// maxInFlight is how many produce requests per broker an idempotent
// franz-go producer keeps outstanding (Kafka's limit with idempotence).
const maxInFlight = 5

// Excused returns the epochs Check found acknowledged by a second node and
// let pass as the next leader's answers to retried batches.
func (l *AckLedger) Excused() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.excused...)
}

type ledgerKey struct {
	topic     string
	partition int32
}

type ledgerAck struct {
	base int64
	node int32
}

// NewAckLedger returns an empty ledger for a cluster's nodes.
func NewAckLedger(c *Cluster) *AckLedger {
	l := &AckLedger{nodes: map[string]int32{}, acks: map[ledgerKey][]ledgerAck{}}
	for _, nd := range c.Nodes() {
		l.nodes[nd.KafkaAddr()] = nd.ID()
	}
	return l
}

// Opt is the client option that routes a franz-go client's connections
// through the ledger.
func (l *AckLedger) Opt() kgo.Opt {
	var d net.Dialer
	return kgo.Dialer(func(ctx context.Context, network, host string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, host)
		if err != nil {
			return nil, err
		}
		node, ok := l.nodes[host]
		if !ok {
			node = -1
		}
		return &ledgerConn{Conn: c, l: l, node: node, versions: map[int32]int16{}}, nil
	})
}

func (l *AckLedger) record(node int32, resp *kmsg.ProduceResponse) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 || p.BaseOffset < 0 {
				continue
			}
			k := ledgerKey{t.Topic, p.Partition}
			l.acks[k] = append(l.acks[k], ledgerAck{base: p.BaseOffset, node: node})
		}
	}
}

// Acks returns how many batches each node acknowledged.
func (l *AckLedger) Acks() map[int32]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[int32]int{}
	for _, as := range l.acks {
		for _, a := range as {
			out[a.node]++
		}
	}
	return out
}

// Check compares the ledger with read, a full read of topic, and returns
// the violations found:
//
//   - a batch base offset of a partition acknowledged more than once (two
//     leaders handed out the same offset);
//   - the acknowledged records of one partition and leader epoch (the epoch
//     of their batch as read back) acknowledged by more than one node.
//
// Only records the checker saw acknowledged count. A retried batch that the
// next leader answers from its producer state (the first answer was lost)
// is acknowledged by a node other than the one that wrote it, in the
// writer's epoch: so a second node is allowed in an epoch only for the
// epoch's last batches (at most maxInFlight, those an idempotent producer
// can have outstanding per partition), above every record the first node
// acknowledged in it, and only when it acknowledged records of a later
// epoch too (it led next).
func (l *AckLedger) Check(topic string, read []*kgo.Record, chk *Checker) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	sorted := map[int32][]ledgerAck{}
	for k, as := range l.acks {
		if k.topic != topic {
			continue
		}
		byBase := map[int64][]int32{}
		for _, a := range as {
			byBase[a.base] = append(byBase[a.base], a.node)
		}
		for base, nodes := range byBase {
			if len(nodes) > 1 {
				out = append(out, fmt.Sprintf("%s/%d offset %d acknowledged %d times, by nodes %v", topic, k.partition, base, len(nodes), nodes))
			}
		}
		s := slices.Clone(as)
		sort.Slice(s, func(i, j int) bool { return s[i].base < s[j].base })
		sorted[k.partition] = s
	}
	// nodeOf finds the acknowledgement covering offset: the batch with the
	// greatest base offset not above it.
	find := func(p int32, off int64) (ledgerAck, bool) {
		s := sorted[p]
		i := sort.Search(len(s), func(i int) bool { return s[i].base > off })
		if i == 0 {
			return ledgerAck{}, false
		}
		return s[i-1], true
	}
	nodeOf := func(p int32, off int64) int32 {
		a, ok := find(p, off)
		if !ok {
			return -1
		}
		return a.node
	}
	baseOf := func(p int32, off int64) int64 {
		a, _ := find(p, off)
		return a.base
	}
	type pe struct {
		p int32
		e int32
	}
	type span struct {
		lo, hi  int64
		batches map[int64]bool
	}
	ackedBy := map[pe]map[int32]*span{}
	type pn struct {
		p    int32
		node int32
	}
	latestEpoch := map[pn]int32{} // the latest epoch a node acknowledged records of, per partition
	chk.mu.Lock()
	for _, r := range read {
		if _, ok := chk.acked[string(r.Value)]; !ok {
			continue
		}
		n := nodeOf(r.Partition, r.Offset)
		if n < 0 {
			continue // acknowledged through a connection the ledger did not see
		}
		if e, ok := latestEpoch[pn{r.Partition, n}]; !ok || r.LeaderEpoch > e {
			latestEpoch[pn{r.Partition, n}] = r.LeaderEpoch
		}
		k := pe{r.Partition, r.LeaderEpoch}
		if ackedBy[k] == nil {
			ackedBy[k] = map[int32]*span{}
		}
		sp := ackedBy[k][n]
		if sp == nil {
			sp = &span{lo: r.Offset, hi: r.Offset, batches: map[int64]bool{}}
			ackedBy[k][n] = sp
		}
		sp.lo, sp.hi = min(sp.lo, r.Offset), max(sp.hi, r.Offset)
		sp.batches[baseOf(r.Partition, r.Offset)] = true
	}
	chk.mu.Unlock()
	for k, nodes := range ackedBy {
		if len(nodes) < 2 {
			continue
		}
		var desc []string
		for n, sp := range nodes {
			desc = append(desc, fmt.Sprintf("node %d: offsets %d-%d in %d batches", n, sp.lo, sp.hi, len(sp.batches)))
		}
		sort.Strings(desc)
		if len(nodes) == 2 {
			// a: the node with the lower offsets (the epoch's writer), b:
			// the other, which may have answered retries of its tail as
			// the next leader.
			var ns []int32
			for n := range nodes {
				ns = append(ns, n)
			}
			if nodes[ns[0]].lo > nodes[ns[1]].lo {
				ns[0], ns[1] = ns[1], ns[0]
			}
			a, b, bNode := nodes[ns[0]], nodes[ns[1]], ns[1]
			if b.lo > a.hi && len(b.batches) <= maxInFlight && latestEpoch[pn{k.p, bNode}] > k.e {
				l.excused = append(l.excused, fmt.Sprintf("%s/%d leader epoch %d: the epoch's last batches answered by the next leader (%s)", topic, k.p, k.e, strings.Join(desc, "; ")))
				continue
			}
		}
		out = append(out, fmt.Sprintf("%s/%d leader epoch %d: acknowledged by more than one node (%s)", topic, k.p, k.e, strings.Join(desc, "; ")))
	}
	sort.Strings(out)
	return out
}

// ledgerConn tees a client connection: requests written tell the Produce
// versions by correlation id, responses read are decoded when they answer
// a Produce.
type ledgerConn struct {
	net.Conn
	l    *AckLedger
	node int32

	wmu      sync.Mutex
	wbuf     []byte
	vmu      sync.Mutex
	versions map[int32]int16 // correlation id -> Produce version
	rbuf     []byte          // read side: only the reading goroutine
}

// Write notes the Produce versions before the bytes leave: the answer may
// otherwise be read before they are noted.
func (c *ledgerConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	c.wbuf = append(c.wbuf, p...)
	for len(c.wbuf) >= 4 {
		size := int(binary.BigEndian.Uint32(c.wbuf))
		if len(c.wbuf) < 4+size {
			break
		}
		frame := c.wbuf[4 : 4+size]
		if size >= 8 && int16(binary.BigEndian.Uint16(frame)) == 0 { // Produce
			c.vmu.Lock()
			c.versions[int32(binary.BigEndian.Uint32(frame[4:]))] = int16(binary.BigEndian.Uint16(frame[2:]))
			c.vmu.Unlock()
		}
		c.wbuf = c.wbuf[4+size:]
	}
	if len(c.wbuf) == 0 {
		c.wbuf = nil
	}
	c.wmu.Unlock()
	return c.Conn.Write(p)
}

func (c *ledgerConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.rbuf = append(c.rbuf, p[:n]...)
	for len(c.rbuf) >= 4 {
		size := int(binary.BigEndian.Uint32(c.rbuf))
		if len(c.rbuf) < 4+size {
			break
		}
		c.response(c.rbuf[4 : 4+size])
		c.rbuf = c.rbuf[4+size:]
	}
	if len(c.rbuf) == 0 {
		c.rbuf = nil
	}
	return n, err
}

func (c *ledgerConn) response(frame []byte) {
	if len(frame) < 4 {
		return
	}
	corr := int32(binary.BigEndian.Uint32(frame))
	c.vmu.Lock()
	v, ok := c.versions[corr]
	delete(c.versions, corr)
	c.vmu.Unlock()
	if !ok {
		return
	}
	body := frame[4:]
	resp := kmsg.NewPtrProduceResponse()
	resp.Version = v
	if resp.IsFlexible() {
		// Response header v1: tagged fields.
		var ok bool
		if body, ok = skipTags(body); !ok {
			return
		}
	}
	if err := resp.ReadFrom(body); err != nil {
		return
	}
	c.l.record(c.node, resp)
}

// skipTags skips a tagged-field section.
func skipTags(b []byte) ([]byte, bool) {
	n, w := binary.Uvarint(b)
	if w <= 0 {
		return nil, false
	}
	b = b[w:]
	for range n {
		_, w := binary.Uvarint(b) // tag
		if w <= 0 {
			return nil, false
		}
		b = b[w:]
		size, w := binary.Uvarint(b)
		if w <= 0 || uint64(len(b)-w) < size {
			return nil, false
		}
		b = b[w+int(size):]
	}
	return b, true
}
