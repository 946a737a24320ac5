package console_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/testkit"
)

// TestConsoleTenThousandPartitions: a 3-node cluster (each node its own
// process) holding 10,000 partitions at RF=1 — one topic of 5,000 and 50
// of 100 — and a group committed on all of them. Every page of the
// console is loaded in Chromium, its content checked and its load time
// logged (docs/console.md reports them); each must come within 10 s, a
// usability bound, not a benchmark. /metrics of every node is scraped and
// its size logged. Full run only (STROM_CONSOLE=full, make console-test).
func TestConsoleTenThousandPartitions(t *testing.T) {
	if os.Getenv("STROM_CONSOLE") != "full" {
		t.Skip("the 10,000-partition console walk runs with STROM_CONSOLE=full (make console-test)")
	}
	const (
		big, bigParts   = "big", 5000
		small, smallN   = "scale-", 50
		smallParts      = 100
		group           = "scale-group"
		totalPartitions = bigParts + smallN*smallParts
		pageBound       = 10 * time.Second
	)
	c := testkit.StartCluster(t, 3, testkit.WithReadyTimeout(2*time.Minute))
	bootstrap := strings.Split(c.Bootstrap(), ",")
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap...), kgo.ProducerLinger(50*time.Millisecond),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	// Each node opens its new partitions as it applies the topic, a few
	// fsyncs each: thousands take a while on a loaded machine.
	adm.SetTimeoutMillis(int32((5 * time.Minute).Milliseconds()))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	start := time.Now()
	if res, err := adm.CreateTopic(ctx, bigParts, 1, nil, big); err != nil || res.Err != nil {
		t.Fatalf("create %s: %v %v", big, err, res.Err)
	}
	var names []string
	for i := 0; i < smallN; i++ {
		names = append(names, fmt.Sprintf("%s%03d", small, i))
	}
	res, err := adm.CreateTopics(ctx, smallParts, 1, nil, names...)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Error(); err != nil {
		t.Fatal(err)
	}
	// Every partition has a leader on every node's metadata.
	for _, n := range c.Nodes() {
		ncl := testkit.NewClient(t, n.KafkaAddr())
		deadline := time.Now().Add(5 * time.Minute)
		for {
			md, err := kadm.NewClient(ncl).Metadata(ctx)
			led := 0
			if err == nil {
				for _, td := range md.Topics {
					for _, p := range td.Partitions {
						if !td.IsInternal && p.Leader >= 0 && p.Err == nil {
							led++
						}
					}
				}
			}
			if led == totalPartitions {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d: %d of %d partitions have a leader (%v)", n.ID(), led, totalPartitions, err)
			}
			time.Sleep(time.Second)
		}
	}
	t.Logf("created %d partitions on 3 nodes in %v", totalPartitions, time.Since(start).Round(time.Millisecond))

	// One record in every partition of big, ten in each small topic's
	// partition 0; a group commits offset 0 on every partition of big.
	start = time.Now()
	for p := int32(0); p < bigParts; p++ {
		cl.Produce(ctx, &kgo.Record{Topic: big, Partition: p, Value: []byte(fmt.Sprintf("record of partition %d", p))}, nil)
	}
	for _, name := range names {
		for i := 0; i < 10; i++ {
			cl.Produce(ctx, &kgo.Record{Topic: name, Value: []byte(fmt.Sprintf("%s #%d", name, i))}, nil)
		}
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	offs := kadm.Offsets{}
	for p := int32(0); p < bigParts; p++ {
		offs.Add(kadm.Offset{Topic: big, Partition: p, At: 0, LeaderEpoch: -1})
	}
	if err := adm.CommitAllOffsets(ctx, group, offs); err != nil {
		t.Fatal(err)
	}
	t.Logf("produced %d records and committed %d offsets in %v", bigParts+10*smallN, bigParts, time.Since(start).Round(time.Millisecond))

	for _, n := range c.Nodes() {
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", n.PID()))
		t.Logf("node %d: %d open files", n.ID(), len(fds))
	}

	// /metrics of every node, per-partition series on (the default).
	for _, n := range c.Nodes() {
		start := time.Now()
		resp, err := http.Get("http://" + n.AdminAddr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("node %d /metrics: %d %v", n.ID(), resp.StatusCode, err)
		}
		series := 0
		for _, line := range strings.Split(string(body), "\n") {
			if line != "" && !strings.HasPrefix(line, "#") {
				series++
			}
		}
		t.Logf("node %d /metrics: %d bytes, %d series, %v", n.ID(), len(body), series, took.Round(time.Millisecond))
		if took > pageBound {
			t.Errorf("node %d /metrics took %v", n.ID(), took)
		}
	}

	bctx := browser(t)
	base := "http://" + c.Node(2).AdminAddr()
	text := func(sel string) string {
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return strings.TrimSpace(s)
	}
	// load opens path, waits for sel and checks its text; the time from
	// navigation to sel shown is logged. The first load of a page warms
	// the console's client, so each page is loaded twice and the second
	// time is the one reported.
	load := func(name, path, sel string, ok func(string) bool) {
		t.Helper()
		var took time.Duration
		for i := 0; i < 2; i++ {
			start := time.Now()
			if err := chromedp.Do(bctx, chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
				t.Fatalf("%s (%s): %v", name, path, err)
			}
			took = time.Since(start)
			if got := text(sel); !ok(got) {
				errText, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`(document.querySelector(".error")||{}).textContent||""`))
				t.Fatalf("%s (%s): %s is\n%.2000s\n(error: %q)", name, path, sel, got, errText)
			}
		}
		t.Logf("page %-28s %-45s %v", name, path, took.Round(time.Millisecond))
		if took > pageBound {
			t.Errorf("%s took %v, more than %v", name, took, pageBound)
		}
	}
	rows := func(table string) int {
		n, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("`+table+` tbody tr").length`))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	load("cluster", "/", "#partitions-count", func(s string) bool {
		n, _ := strconv.Atoi(s)
		return n >= totalPartitions
	})
	if s := text("#brokers"); s != "3" {
		t.Fatalf("brokers = %s", s)
	}
	load("topics", "/topics", "#topics", func(s string) bool { return strings.Contains(s, big) && strings.Contains(s, small+"000") })
	if n := rows("#topics"); n != 50 {
		t.Fatalf("the first page of topics has %d rows, want 50", n)
	}
	load("topics-page-2", "/topics?page=2", "#topics", func(s string) bool { return strings.Contains(s, small+"049") })
	load("topics-search", "/topics?q="+small+"042", "#topics", func(s string) bool {
		return strings.Contains(s, small+"042") && !strings.Contains(s, small+"041") && strings.Contains(s, "\t100\t")
	})
	if n := rows("#topics"); n != 1 {
		t.Fatalf("a search for %s042 shows %d rows", small, n)
	}
	load("topic-5000", "/topics/"+big, "#partitions", func(s string) bool { return strings.Contains(s, "\n0\t") })
	if n := rows("#partitions"); n > 100 {
		t.Fatalf("the partition table of %s shows %d rows on one page", big, n)
	}
	if s := text("#partition-count"); !strings.Contains(s, "5000 partitions") {
		t.Fatalf("partition summary = %q", s)
	}
	load("topic-5000-last-page", "/topics/"+big+"?partition=4999", "#partitions", func(s string) bool {
		// partition 4999: one record, end offset 1.
		for _, line := range strings.Split(s, "\n") {
			if f := strings.Split(line, "\t"); len(f) == 7 && f[0] == "4999" && f[5] == "1" {
				return true
			}
		}
		return false
	})
	load("topic-100", "/topics/"+small+"007", "#partitions", func(s string) bool { return strings.Contains(s, "\n99\t") || strings.Contains(s, "\n49\t") })
	load("messages-partition", "/topics/"+big+"/messages?partition=4321&from=start", "#messages", func(s string) bool {
		return strings.Contains(s, "record of partition 4321")
	})
	load("messages-all-from-end", "/topics/"+big+"/messages", "#count", func(s string) bool { return s == "50 messages" })
	load("messages-all-from-start", "/topics/"+small+"003/messages?from=start", "#count", func(s string) bool { return s == "10 messages" })
	load("groups", "/groups", "#groups", func(s string) bool { return strings.Contains(s, group) && strings.Contains(s, strconv.Itoa(bigParts)) })
	load("group-5000", "/groups/"+group, "#total-lag", func(s string) bool { return s == strconv.Itoa(bigParts) })
	if n := rows("#lag"); n > 100 {
		t.Fatalf("the lag table of %s shows %d rows on one page", group, n)
	}
}
