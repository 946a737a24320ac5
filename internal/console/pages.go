package console

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ---- cluster ----

type nodeRow struct {
	ID         int32
	Addr       string
	Rack       string
	Controller bool
	// The metadata quorum as DescribeQuorum reports it: this node's role,
	// its metadata log end and how far behind the committed index it is.
	Version     string
	Voter       bool
	Role        string
	LogEnd      int64
	MetadataLag int64
	Leaders     int
	Replicas    int
	DiskUse     int64
	DiskErr     string
}

type partRef struct {
	Topic     string
	Partition int32
	Leader    int32
	Replicas  []int32
	ISR       []int32
}

type overviewData struct {
	ClusterID   string
	Controller  int32
	QuorumEpoch int32
	QuorumHW    int64
	Nodes       []nodeRow
	Topics      int
	Partitions  int
	// The first pageSize of each (by topic and partition) and how many
	// there are: a node down in a large cluster leaves thousands.
	UnderReplicated []partRef
	Offline         []partRef
	UnderCount      int
	OfflineCount    int
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	var d overviewData
	err := c.withAdmin(r, func(ctx context.Context, adm *kadm.Client, cl *kgo.Client) error {
		var err error
		d, err = c.loadOverview(ctx, adm, cl)
		return err
	})
	c.render(w, r, "overview", "Cluster", d, err)
}

func (c *Console) loadOverview(ctx context.Context, adm *kadm.Client, cl *kgo.Client) (overviewData, error) {
	var d overviewData
	md, err := adm.Metadata(ctx)
	if err != nil {
		return d, err
	}
	d.ClusterID, d.Controller = md.Cluster, md.Controller
	rows := map[int32]*nodeRow{}
	for _, b := range md.Brokers {
		row := &nodeRow{ID: b.NodeID, Addr: fmt.Sprintf("%s:%d", b.Host, b.Port), Controller: b.NodeID == md.Controller}
		if b.Rack != nil {
			row.Rack = *b.Rack
		}
		rows[b.NodeID] = row
	}
	for _, t := range md.Topics {
		d.Topics++
		for _, p := range t.Partitions {
			d.Partitions++
			ref := partRef{Topic: t.Topic, Partition: p.Partition, Leader: p.Leader, Replicas: p.Replicas, ISR: p.ISR}
			if row := rows[p.Leader]; row != nil {
				row.Leaders++
			} else {
				d.Offline = append(d.Offline, ref)
			}
			if len(p.ISR) < len(p.Replicas) {
				d.UnderReplicated = append(d.UnderReplicated, ref)
			}
			for _, rep := range p.Replicas {
				if row := rows[rep]; row != nil {
					row.Replicas++
				}
			}
		}
	}
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rt.Partitions = append(rt.Partitions, kmsg.NewDescribeQuorumRequestTopicPartition())
	req.Topics = append(req.Topics, rt)
	if resp, err := req.RequestWith(ctx, cl); err == nil && len(resp.Topics) == 1 && len(resp.Topics[0].Partitions) == 1 {
		p := resp.Topics[0].Partitions[0]
		d.QuorumEpoch, d.QuorumHW = p.LeaderEpoch, p.HighWatermark
		for _, v := range p.CurrentVoters {
			row := rows[v.ReplicaID]
			if row == nil {
				continue
			}
			row.Voter, row.Role, row.LogEnd = true, "follower", v.LogEndOffset
			if v.ReplicaID == p.LeaderID {
				row.Role = "leader"
			}
			if v.LogEndOffset >= 0 {
				row.MetadataLag = max(p.HighWatermark-v.LogEndOffset, 0)
			} else {
				row.Role = "unreachable"
			}
		}
	}
	if dirs, err := adm.DescribeAllLogDirs(ctx, nil); err == nil {
		for id, bd := range dirs {
			row := rows[id]
			if row == nil {
				continue
			}
			bd.Each(func(ld kadm.DescribedLogDir) {
				if ld.Err != nil {
					row.DiskErr = ld.Err.Error()
				}
				row.DiskUse += ld.Size()
			})
		}
	}
	if c.cfg.NodeVersions != nil {
		for id, v := range c.cfg.NodeVersions() {
			if row := rows[id]; row != nil {
				row.Version = v
			}
		}
	}
	for _, row := range rows {
		d.Nodes = append(d.Nodes, *row)
	}
	sort.Slice(d.Nodes, func(i, j int) bool { return d.Nodes[i].ID < d.Nodes[j].ID })
	sortRefs(d.UnderReplicated)
	sortRefs(d.Offline)
	d.UnderCount, d.OfflineCount = len(d.UnderReplicated), len(d.Offline)
	d.UnderReplicated = d.UnderReplicated[:min(len(d.UnderReplicated), pageSize)]
	d.Offline = d.Offline[:min(len(d.Offline), pageSize)]
	return d, nil
}

func sortRefs(r []partRef) {
	sort.Slice(r, func(i, j int) bool {
		if r[i].Topic != r[j].Topic {
			return r[i].Topic < r[j].Topic
		}
		return r[i].Partition < r[j].Partition
	})
}

// ---- topics ----

type topicRow struct {
	Name            string
	Internal        bool
	Partitions      int
	RF              int
	Records         int64
	Rate            string // records/s since the topic was last listed, "" unknown
	UnderReplicated int
	Err             string
}

type listData[T any] struct {
	Query            string
	Rows             []T
	Total            int
	Page, Pages      int
	PrevPage, NextPg int
}

// paginate returns the page-th page (1-based) of rows.
func paginate[T any](rows []T, q string, page int) listData[T] {
	d := listData[T]{Query: q, Total: len(rows)}
	d.Pages = max((len(rows)+pageSize-1)/pageSize, 1)
	d.Page = min(max(page, 1), d.Pages)
	lo := (d.Page - 1) * pageSize
	d.Rows = rows[lo:min(lo+pageSize, len(rows))]
	if d.Page > 1 {
		d.PrevPage = d.Page - 1
	}
	if d.Page < d.Pages {
		d.NextPg = d.Page + 1
	}
	return d
}

func pageParam(r *http.Request) int {
	p, _ := strconv.Atoi(r.URL.Query().Get("page"))
	return p
}

func (c *Console) topics(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	var rows []topicRow
	err := c.withAdmin(r, func(ctx context.Context, adm *kadm.Client, _ *kgo.Client) error {
		details, err := adm.ListTopicsWithInternal(ctx)
		if err != nil {
			return err
		}
		var names []string
		for name := range details {
			if q == "" || strings.Contains(strings.ToLower(name), strings.ToLower(q)) {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		// Offsets only for the page shown: 10,000 partitions stay cheap.
		pg := paginate(names, q, pageParam(r))
		starts, _ := adm.ListStartOffsets(ctx, pg.Rows...)
		ends, _ := adm.ListEndOffsets(ctx, pg.Rows...)
		for _, name := range names {
			t := details[name]
			row := topicRow{Name: name, Internal: t.IsInternal, Partitions: len(t.Partitions)}
			if t.Err != nil {
				row.Err = t.Err.Error()
			}
			for _, p := range t.Partitions {
				row.RF = max(row.RF, len(p.Replicas))
				if len(p.ISR) < len(p.Replicas) {
					row.UnderReplicated++
				}
			}
			if slices.Contains(pg.Rows, name) {
				var end int64
				for p := range t.Partitions {
					s, sok := starts.Lookup(name, p)
					e, eok := ends.Lookup(name, p)
					if sok && eok && s.Err == nil && e.Err == nil {
						row.Records += e.Offset - s.Offset
						end += e.Offset
					}
				}
				row.Rate = c.rates.rate(name, end, time.Now())
			}
			rows = append(rows, row)
		}
		return nil
	})
	c.render(w, r, "topics", "Topics", paginate(rows, q, pageParam(r)), err)
}

func (c *Console) createTopic(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSpace(r.FormValue("name"))
	err := func() error {
		parts, err := formInt(r, "partitions", 1)
		if err != nil {
			return err
		}
		rf, err := formInt(r, "replication_factor", -1)
		if err != nil {
			return err
		}
		configs, err := parseKV(r.FormValue("configs"))
		if err != nil {
			return err
		}
		return c.withAdmin(r, func(ctx context.Context, adm *kadm.Client, _ *kgo.Client) error {
			res, err := adm.CreateTopic(ctx, int32(parts), int16(rf), configs, name)
			if err := firstErr(err, res.Err); err != nil {
				return err
			}
			waitTopicLed(ctx, adm, name)
			return nil
		})
	}()
	if err != nil {
		redirect(w, r, "/topics", err, "")
		return
	}
	redirect(w, r, "/topics/"+name, nil, "created topic "+name)
}

// waitTopicLed waits until a new topic's partitions all have a leader in
// the metadata the console's client is answered (see waitApplied).
func waitTopicLed(ctx context.Context, adm *kadm.Client, name string) {
	waitApplied(ctx, func(ctx context.Context) bool {
		td, err := adm.ListTopics(ctx, name)
		if err != nil {
			return false
		}
		t, ok := td[name]
		if !ok || t.Err != nil || len(t.Partitions) == 0 {
			return false
		}
		for _, p := range t.Partitions {
			if p.Leader < 0 {
				return false
			}
		}
		return true
	})
}

// waitApplied polls done, within ctx and at most appliedWait, after a
// change the console made: the metadata leader has committed it, but the
// node that answers the page the browser loads next may not have applied
// it yet, and the page would not show it. The page shows whatever there
// is once the wait ends.
func waitApplied(ctx context.Context, done func(context.Context) bool) {
	ctx, cancel := context.WithTimeout(ctx, appliedWait)
	defer cancel()
	for !done(ctx) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// appliedWait bounds waitApplied.
const appliedWait = 5 * time.Second

// parseKV reads key=value lines (or comma-separated pairs).
func parseKV(s string) (map[string]*string, error) {
	out := map[string]*string{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == ',' }) {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("config %q: want key=value", f)
		}
		v = strings.TrimSpace(v)
		out[strings.TrimSpace(k)] = &v
	}
	return out, nil
}

type partitionRow struct {
	Partition int32
	Leader    int32
	Replicas  []int32
	ISR       []int32
	Start     int64
	End       int64
	Size      int64
	Under     bool
	Offline   bool
}

type configRow struct {
	Name, Value, Source string
	Sensitive, ReadOnly bool
}

type topicData struct {
	Name     string
	Internal bool
	// Partitions is the page shown of the topic's partitions (offsets
	// and sizes asked for these only); Count, Under and Offline are over
	// all of them.
	Partitions             []partitionRow
	Count, Under, Offline  int
	Page, Pages            int
	PrevPage, NextPg, Last int
	Configs                []configRow
}

// partitionPageSize is how many partitions a topic's page shows.
const partitionPageSize = 100

// listOffsets asks the leaders of topic's partitions parts for the offset
// at ts (-2: the log start, -1: the end), in one request the client
// splits by leader; a partition that fails is left out (shown as 0).
func listOffsets(ctx context.Context, cl *kgo.Client, topic string, parts []int32, ts int64) map[int32]int64 {
	out := make(map[int32]int64, len(parts))
	if len(parts) == 0 {
		return out
	}
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for _, p := range parts {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = p, ts, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	for _, sh := range cl.RequestSharded(ctx, req) {
		resp, ok := sh.Resp.(*kmsg.ListOffsetsResponse)
		if sh.Err != nil || !ok {
			continue
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode == 0 {
					out[p.Partition] = p.Offset
				}
			}
		}
	}
	return out
}

func (c *Console) topic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	var d topicData
	err := c.withAdmin(r, func(ctx context.Context, adm *kadm.Client, cl *kgo.Client) error {
		details, err := adm.ListTopicsWithInternal(ctx, name)
		if err != nil {
			return err
		}
		t, ok := details[name]
		if !ok || t.Err != nil {
			return fmt.Errorf("topic %s: %v", name, firstErr(t.Err, errors.New("unknown topic")))
		}
		d = topicData{Name: name, Internal: t.IsInternal, Count: len(t.Partitions)}
		all := t.Partitions.Sorted()
		for _, p := range all {
			if p.Leader < 0 {
				d.Offline++
			} else if len(p.ISR) < len(p.Replicas) {
				d.Under++
			}
		}
		// The page asked for, or the one holding ?partition=N.
		page := pageParam(r)
		if v := r.URL.Query().Get("partition"); v != "" {
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n < 0 || int(n) >= len(all) {
				return fmt.Errorf("topic %s has no partition %q", name, v)
			}
			page = sort.Search(len(all), func(i int) bool { return all[i].Partition >= int32(n) })/partitionPageSize + 1
		}
		d.Pages = max((len(all)+partitionPageSize-1)/partitionPageSize, 1)
		d.Page = min(max(page, 1), d.Pages)
		if d.Page > 1 {
			d.PrevPage = d.Page - 1
		}
		if d.Page < d.Pages {
			d.NextPg, d.Last = d.Page+1, d.Pages
		}
		lo := (d.Page - 1) * partitionPageSize
		shown := all[lo:min(lo+partitionPageSize, len(all))]
		nums := make([]int32, len(shown))
		set := kadm.TopicsSet{}
		for i, p := range shown {
			nums[i] = p.Partition
			set.Add(name, p.Partition)
		}
		starts := listOffsets(ctx, cl, name, nums, -2)
		ends := listOffsets(ctx, cl, name, nums, -1)
		sizes := map[int32]int64{}
		if dirs, err := adm.DescribeAllLogDirs(ctx, set); err == nil {
			for _, bd := range dirs {
				bd.Each(func(ld kadm.DescribedLogDir) {
					for _, ps := range ld.Topics[name] {
						sizes[ps.Partition] = max(sizes[ps.Partition], ps.Size)
					}
				})
			}
		}
		for _, p := range shown {
			row := partitionRow{Partition: p.Partition, Leader: p.Leader, Replicas: p.Replicas, ISR: p.ISR,
				Under: len(p.ISR) < len(p.Replicas), Offline: p.Leader < 0, Size: sizes[p.Partition]}
			row.Start, row.End = starts[p.Partition], ends[p.Partition]
			d.Partitions = append(d.Partitions, row)
		}
		rcs, err := adm.DescribeTopicConfigs(ctx, name)
		if err != nil {
			return err
		}
		rc, err := rcs.On(name, nil)
		if err == nil && rc.Err == nil {
			for _, cfg := range rc.Configs {
				row := configRow{Name: cfg.Key, Source: cfg.Source.String(), Sensitive: cfg.Sensitive}
				if cfg.Value != nil && !cfg.Sensitive {
					row.Value = *cfg.Value
				}
				d.Configs = append(d.Configs, row)
			}
			sort.Slice(d.Configs, func(i, j int) bool { return d.Configs[i].Name < d.Configs[j].Name })
		}
		return nil
	})
	c.render(w, r, "topic", "Topic "+name, d, err)
}

func (c *Console) deleteTopic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	err := c.withAdmin(r, func(ctx context.Context, adm *kadm.Client, _ *kgo.Client) error {
		res, err := adm.DeleteTopic(ctx, name)
		return firstErr(err, res.Err)
	})
	if err != nil {
		redirect(w, r, "/topics/"+name, err, "")
		return
	}
	redirect(w, r, "/topics", nil, "deleted topic "+name)
}

func (c *Console) alterConfigs(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	err := func() error {
		key := strings.TrimSpace(r.FormValue("key"))
		if key == "" {
			return errors.New("config name is empty")
		}
		ac := kadm.AlterConfig{Name: key}
		if r.FormValue("op") == "delete" {
			ac.Op = kadm.DeleteConfig
		} else {
			v := r.FormValue("value")
			ac.Op, ac.Value = kadm.SetConfig, &v
		}
		return c.withAdmin(r, func(ctx context.Context, adm *kadm.Client, _ *kgo.Client) error {
			res, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{ac}, name)
			if err != nil {
				return err
			}
			for _, one := range res {
				if one.Err != nil {
					return fmt.Errorf("%w: %s", one.Err, one.ErrMessage)
				}
			}
			return nil
		})
	}()
	redirect(w, r, "/topics/"+name, err, "config updated")
}

func (c *Console) addPartitions(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	err := func() error {
		add, err := formInt(r, "add", 0)
		if err != nil {
			return err
		}
		if add < 1 {
			return errors.New("add at least one partition")
		}
		return c.withAdmin(r, func(ctx context.Context, adm *kadm.Client, _ *kgo.Client) error {
			res, err := adm.CreatePartitions(ctx, int(add), name)
			if err != nil {
				return err
			}
			one, err := res.On(name, nil)
			return firstErr(err, one.Err)
		})
	}()
	redirect(w, r, "/topics/"+name, err, "partitions added")
}

// ---- messages ----

type message struct {
	Partition int32
	Offset    int64
	Timestamp int64
	Key       string
	Value     string
	Headers   []string
	Pretty    bool // Value is pretty-printed JSON
}

type messagesData struct {
	Topic      string
	Partitions []int32
	Partition  int32 // -1: all
	From       string
	Offset     int64
	Time       string
	Limit      int
	Format     string
	Messages   []message
}

// maxBrowse bounds one page of messages.
const maxBrowse = 500

func (c *Console) messages(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := messagesData{Topic: r.PathValue("topic"), Partition: -1, From: q.Get("from"), Format: q.Get("format"), Limit: 50, Time: q.Get("time")}
	if d.From == "" {
		d.From = "end"
	}
	if d.Format == "" {
		d.Format = "text"
	}
	err := func() error {
		if v := q.Get("partition"); v != "" && v != "all" {
			p, err := strconv.ParseInt(v, 10, 32)
			if err != nil {
				return fmt.Errorf("partition %q is not a number", v)
			}
			d.Partition = int32(p)
		}
		if v := q.Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return fmt.Errorf("limit %q: want a positive number", v)
			}
			d.Limit = min(n, maxBrowse)
		}
		if v := q.Get("offset"); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("offset %q is not a number", v)
			}
			d.Offset = n
		}
		return c.withAdmin(r, func(ctx context.Context, adm *kadm.Client, _ *kgo.Client) error {
			msgs, parts, err := c.browse(ctx, r, adm, d)
			d.Messages, d.Partitions = msgs, parts
			return err
		})
	}()
	c.render(w, r, "messages", "Messages of "+d.Topic, d, err)
}

// browse reads up to d.Limit messages from where d says, stopping at the
// end offsets seen when it started (it never waits for new records).
func (c *Console) browse(ctx context.Context, r *http.Request, adm *kadm.Client, d messagesData) ([]message, []int32, error) {
	starts, err := adm.ListStartOffsets(ctx, d.Topic)
	if err != nil {
		return nil, nil, err
	}
	ends, err := adm.ListEndOffsets(ctx, d.Topic)
	if err != nil {
		return nil, nil, err
	}
	if err := ends.Error(); err != nil {
		return nil, nil, err
	}
	var all []int32
	ends.Each(func(o kadm.ListedOffset) { all = append(all, o.Partition) })
	slices.Sort(all)
	parts := all
	if d.Partition >= 0 {
		if !slices.Contains(all, d.Partition) {
			return nil, all, fmt.Errorf("topic %s has no partition %d", d.Topic, d.Partition)
		}
		parts = []int32{d.Partition}
	}
	var byTime kadm.ListedOffsets
	if d.From == "timestamp" {
		ts, err := time.Parse("2006-01-02T15:04", d.Time)
		if err != nil {
			ms, perr := strconv.ParseInt(d.Time, 10, 64)
			if perr != nil {
				return nil, all, fmt.Errorf("time %q: want 2006-01-02T15:04 (UTC) or Unix milliseconds", d.Time)
			}
			ts = time.UnixMilli(ms)
		}
		if byTime, err = adm.ListOffsetsAfterMilli(ctx, ts.UnixMilli(), d.Topic); err != nil {
			return nil, all, err
		}
	}
	per := d.Limit
	if len(parts) > 1 && d.From == "end" {
		per = max(d.Limit/len(parts), 1)
	}
	from := map[int32]kgo.Offset{}
	stop := map[int32]int64{}
	for _, p := range parts {
		s, _ := starts.Lookup(d.Topic, p)
		e, _ := ends.Lookup(d.Topic, p)
		at := s.Offset
		switch d.From {
		case "end":
			at = max(e.Offset-int64(per), s.Offset)
		case "offset":
			at = min(max(d.Offset, s.Offset), e.Offset)
		case "timestamp":
			if o, ok := byTime.Lookup(d.Topic, p); ok && o.Err == nil && o.Offset >= 0 {
				at = o.Offset
			} else {
				at = e.Offset
			}
		case "start":
		default:
			return nil, all, fmt.Errorf("from %q: want start, end, offset or timestamp", d.From)
		}
		if at < e.Offset {
			from[p] = kgo.NewOffset().At(at)
			stop[p] = e.Offset
		}
	}
	if len(from) == 0 {
		return nil, all, nil
	}
	cl, err := c.newClient(r,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{d.Topic: from}), kgo.FetchMaxWait(200*time.Millisecond))
	if err != nil {
		return nil, all, err
	}
	defer cl.Close()
	var out []message
	for len(stop) > 0 && len(out) < d.Limit {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			break
		}
		fs.EachRecord(func(rec *kgo.Record) {
			end, ok := stop[rec.Partition]
			if !ok || len(out) >= d.Limit {
				return
			}
			if rec.Offset >= end {
				delete(stop, rec.Partition)
				return
			}
			out = append(out, render(rec, d.Format))
			if rec.Offset+1 >= end {
				delete(stop, rec.Partition)
			}
		})
		for _, e := range fs.Errors() {
			return out, all, e.Err
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Timestamp != out[j].Timestamp {
			return out[i].Timestamp < out[j].Timestamp
		}
		if out[i].Partition != out[j].Partition {
			return out[i].Partition < out[j].Partition
		}
		return out[i].Offset < out[j].Offset
	})
	return out, all, nil
}

func render(rec *kgo.Record, format string) message {
	m := message{Partition: rec.Partition, Offset: rec.Offset, Timestamp: rec.Timestamp.UnixMilli()}
	m.Key = show(rec.Key, "text")
	if rec.Key == nil {
		m.Key = ""
	}
	switch format {
	case "json":
		var v any
		if json.Unmarshal(rec.Value, &v) == nil {
			b, _ := json.MarshalIndent(v, "", "  ")
			m.Value, m.Pretty = string(b), true
		} else {
			m.Value = show(rec.Value, "text")
		}
	default:
		m.Value = show(rec.Value, format)
	}
	for _, h := range rec.Headers {
		m.Headers = append(m.Headers, h.Key+"="+show(h.Value, "text"))
	}
	return m
}

// show renders bytes as text when they are UTF-8, as hex otherwise (or
// when asked).
func show(b []byte, format string) string {
	if b == nil {
		return "null"
	}
	if format == "hex" || !utf8.Valid(b) {
		return hex.EncodeToString(b)
	}
	return string(b)
}

func (c *Console) produce(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	var res *kgo.Record
	err := c.withAdmin(r, func(ctx context.Context, _ *kadm.Client, cl *kgo.Client) error {
		rec := &kgo.Record{Topic: topic, Value: []byte(r.FormValue("value"))}
		if k := r.FormValue("key"); k != "" {
			rec.Key = []byte(k)
		}
		for _, line := range strings.Split(r.FormValue("headers"), "\n") {
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			k, v, _ := strings.Cut(line, "=")
			rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: strings.TrimSpace(k), Value: []byte(v)})
		}
		if p := strings.TrimSpace(r.FormValue("partition")); p != "" && p != "any" {
			n, err := strconv.ParseInt(p, 10, 32)
			if err != nil {
				return fmt.Errorf("partition %q is not a number", p)
			}
			// The console's client partitions by key; a chosen partition
			// is sent through a client that honours it.
			pc, err := c.newClient(r, kgo.RecordPartitioner(kgo.ManualPartitioner()))
			if err != nil {
				return err
			}
			defer pc.Close()
			rec.Partition = int32(n)
			cl = pc
		}
		var err error
		res, err = cl.ProduceSync(ctx, rec).First()
		return err
	})
	if err != nil {
		redirect(w, r, "/topics/"+topic+"/messages", err, "")
		return
	}
	redirect(w, r, fmt.Sprintf("/topics/%s/messages?partition=%d&from=end", topic, res.Partition), nil,
		fmt.Sprintf("produced to partition %d at offset %d", res.Partition, res.Offset))
}

// ---- groups ----

type groupRow struct {
	Group, State, Type, ProtocolType string
	Coordinator                      int32
	Lag                              int64
	LagKnown                         bool
}

func (c *Console) groups(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	var rows []groupRow
	err := c.withAdmin(r, func(ctx context.Context, adm *kadm.Client, _ *kgo.Client) error {
		listed, err := adm.ListGroups(ctx)
		if err != nil && len(listed) == 0 {
			return err
		}
		for _, g := range listed.Sorted() {
			if q != "" && !strings.Contains(strings.ToLower(g.Group), strings.ToLower(q)) {
				continue
			}
			rows = append(rows, groupRow{Group: g.Group, State: g.State, Type: g.GroupType, ProtocolType: g.ProtocolType, Coordinator: g.Coordinator})
		}
		pg := paginate(rows, q, pageParam(r))
		for i := range pg.Rows {
			if lag, err := c.groupLag(r, adm, pg.Rows[i].Group); err == nil {
				pg.Rows[i].Lag, pg.Rows[i].LagKnown = lag.Total, true
			}
		}
		return nil
	})
	c.render(w, r, "groups", "Consumer groups", paginate(rows, q, pageParam(r)), err)
}

type lagRow struct {
	Topic     string
	Partition int32
	Committed int64
	End       int64
	Lag       int64
	Member    string
}

type groupLag struct {
	Rows  []lagRow
	Total int64
}

// groupLag is the group's committed offsets against the partitions' end
// offsets (the high watermark), as kafka-consumer-groups computes lag.
func (c *Console) groupLag(r *http.Request, adm *kadm.Client, group string) (groupLag, error) {
	ctx, cancel := c.ctx(r)
	defer cancel()
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return groupLag{}, err
	}
	if err := offs.Error(); err != nil {
		return groupLag{}, err
	}
	var topics []string
	for t := range offs {
		topics = append(topics, t)
	}
	var l groupLag
	if len(topics) == 0 {
		return l, nil
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return l, err
	}
	offs.Each(func(o kadm.OffsetResponse) {
		row := lagRow{Topic: o.Topic, Partition: o.Partition, Committed: o.At, End: -1}
		if e, ok := ends.Lookup(o.Topic, o.Partition); ok && e.Err == nil {
			row.End = e.Offset
			row.Lag = max(e.Offset-o.At, 0)
			l.Total += row.Lag
		}
		l.Rows = append(l.Rows, row)
	})
	sort.Slice(l.Rows, func(i, j int) bool {
		if l.Rows[i].Topic != l.Rows[j].Topic {
			return l.Rows[i].Topic < l.Rows[j].Topic
		}
		return l.Rows[i].Partition < l.Rows[j].Partition
	})
	return l, nil
}

type memberRow struct {
	MemberID, InstanceID, ClientID, Host string
	Assignment                           string
}

type groupData struct {
	Group, State, Type, Protocol string
	Coordinator                  int32
	Epoch                        int32
	Members                      []memberRow
	Lag                          groupLag
	// LagPage is the page of Lag.Rows shown.
	LagPage listData[lagRow]
	Empty   bool
}

func (c *Console) group(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("group")
	d := groupData{Group: id}
	err := c.withAdmin(r, func(ctx context.Context, adm *kadm.Client, _ *kgo.Client) error {
		listed, _ := adm.ListGroups(ctx)
		lg, ok := listed[id]
		if !ok {
			return fmt.Errorf("group %s does not exist", id)
		}
		d.State, d.Type, d.Coordinator = lg.State, lg.GroupType, lg.Coordinator
		owner := map[string]string{}
		if d.Type == "consumer" {
			dg, err := adm.DescribeConsumerGroups(ctx, id)
			if err != nil {
				return err
			}
			g := dg[id]
			if g.Err != nil {
				return g.Err
			}
			d.State, d.Protocol, d.Epoch = g.State, g.AssignorName, g.Epoch
			for _, m := range g.Members {
				row := memberRow{MemberID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost, Assignment: topicsSet(m.Assignment, owner, m.MemberID)}
				if m.InstanceID != nil {
					row.InstanceID = *m.InstanceID
				}
				d.Members = append(d.Members, row)
			}
		} else {
			dg, err := adm.DescribeGroups(ctx, id)
			if err != nil {
				return err
			}
			g := dg[id]
			if g.Err != nil {
				return g.Err
			}
			d.State, d.Protocol = g.State, g.Protocol
			if d.Type == "" {
				d.Type = "classic"
			}
			for _, m := range g.Members {
				row := memberRow{MemberID: m.MemberID, ClientID: m.ClientID, Host: m.ClientHost}
				if m.InstanceID != nil {
					row.InstanceID = *m.InstanceID
				}
				if a, ok := m.Assigned.AsConsumer(); ok {
					set := kadm.TopicsSet{}
					for _, t := range a.Topics {
						set.Add(t.Topic, t.Partitions...)
					}
					row.Assignment = topicsSet(set, owner, m.MemberID)
				}
				d.Members = append(d.Members, row)
			}
		}
		d.Empty = d.State == "Empty" || len(d.Members) == 0
		lag, err := c.groupLag(r, adm, id)
		if err != nil {
			return err
		}
		for i := range lag.Rows {
			lag.Rows[i].Member = owner[fmt.Sprintf("%s/%d", lag.Rows[i].Topic, lag.Rows[i].Partition)]
		}
		d.Lag = lag
		d.LagPage = paginate(lag.Rows, "", pageParam(r))
		return nil
	})
	c.render(w, r, "group", "Group "+id, d, err)
}

func topicsSet(s kadm.TopicsSet, owner map[string]string, member string) string {
	var parts []string
	for _, tp := range s.Sorted() {
		ps := slices.Clone(tp.Partitions)
		slices.Sort(ps)
		for _, p := range ps {
			owner[fmt.Sprintf("%s/%d", tp.Topic, p)] = member
		}
		parts = append(parts, tp.Topic+"["+joinInts(ps)+"]")
	}
	return strings.Join(parts, " ")
}

func (c *Console) resetGroup(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("group")
	err := c.withAdmin(r, func(ctx context.Context, adm *kadm.Client, _ *kgo.Client) error {
		cur, err := adm.FetchOffsets(ctx, id)
		if err != nil {
			return err
		}
		var topics []string
		for t := range cur {
			topics = append(topics, t)
		}
		if t := strings.TrimSpace(r.FormValue("topic")); t != "" {
			topics = []string{t}
		}
		if len(topics) == 0 {
			return errors.New("the group has no committed offsets; name a topic")
		}
		var target kadm.ListedOffsets
		switch to := r.FormValue("to"); to {
		case "earliest":
			target, err = adm.ListStartOffsets(ctx, topics...)
		case "latest":
			target, err = adm.ListEndOffsets(ctx, topics...)
		case "timestamp":
			ms, perr := strconv.ParseInt(strings.TrimSpace(r.FormValue("value")), 10, 64)
			if perr != nil {
				return fmt.Errorf("timestamp %q: want Unix milliseconds", r.FormValue("value"))
			}
			target, err = adm.ListOffsetsAfterMilli(ctx, ms, topics...)
		case "offset":
			n, perr := strconv.ParseInt(strings.TrimSpace(r.FormValue("value")), 10, 64)
			if perr != nil {
				return fmt.Errorf("offset %q is not a number", r.FormValue("value"))
			}
			target, err = adm.ListEndOffsets(ctx, topics...)
			if err == nil {
				for t, ps := range target {
					for p, o := range ps {
						o.Offset = min(n, o.Offset)
						target[t][p] = o
					}
				}
			}
		default:
			return fmt.Errorf("reset to %q: want earliest, latest, timestamp or offset", to)
		}
		if err != nil {
			return err
		}
		if err := target.Error(); err != nil {
			return err
		}
		offs := kadm.Offsets{}
		target.Each(func(o kadm.ListedOffset) {
			offs.Add(kadm.Offset{Topic: o.Topic, Partition: o.Partition, At: o.Offset, LeaderEpoch: -1})
		})
		res, err := adm.CommitOffsets(ctx, id, offs)
		if err != nil {
			return err
		}
		return res.Error()
	})
	redirect(w, r, "/groups/"+id, err, "offsets reset")
}

func (c *Console) deleteGroup(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("group")
	err := c.withAdmin(r, func(ctx context.Context, adm *kadm.Client, _ *kgo.Client) error {
		res, err := adm.DeleteGroup(ctx, id)
		return firstErr(err, res.Err)
	})
	if err != nil {
		redirect(w, r, "/groups/"+id, err, "")
		return
	}
	redirect(w, r, "/groups", nil, "deleted group "+id)
}

// ---- charts ----

func (c *Console) charts(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, "charts", "Live charts", nil, nil)
}

// seriesPoint is one sample of the charts' series, from this node's own
// metrics: cumulative counters (the page derives rates) and lag gauges.
type seriesPoint struct {
	Time      int64              `json:"time"`
	RecordsIn map[string]float64 `json:"records_in"`
	BytesIn   float64            `json:"bytes_in"`
	BytesOut  float64            `json:"bytes_out"`
	GroupLag  map[string]float64 `json:"group_lag"`
}

func (c *Console) series(w http.ResponseWriter, r *http.Request) {
	p := seriesPoint{Time: time.Now().UnixMilli(), RecordsIn: map[string]float64{}, GroupLag: map[string]float64{}}
	fams, err := c.cfg.Registry.Gather()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			label := func(name string) string {
				for _, l := range m.GetLabel() {
					if l.GetName() == name {
						return l.GetValue()
					}
				}
				return ""
			}
			switch f.GetName() {
			case "strom_topic_records_in_total":
				p.RecordsIn[label("topic")] += m.GetCounter().GetValue()
			case "strom_topic_bytes_in_total":
				p.BytesIn += m.GetCounter().GetValue()
			case "strom_topic_bytes_out_total":
				p.BytesOut += m.GetCounter().GetValue()
			case "kafka_consumergroup_lag_sum":
				p.GroupLag[label("consumergroup")] += m.GetGauge().GetValue()
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(p)
}
