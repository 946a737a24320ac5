// Package console_test drives Strom's web console in a real headless
// Chromium (Debian's chromium, through chromedp) while real Kafka clients
// produce and consume: create a topic, see the messages, see a group's lag
// fall to 0, reset its offsets. The default run walks a single broker;
// STROM_CONSOLE=full (make console-test) walks a 3-node cluster too, and
// STROM_CONSOLE_SCREENSHOTS=DIR saves a screenshot of each page there
// (docs/console/ holds the committed ones).
package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strom-broker/strom/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

func TestConsoleWalkSingleBroker(t *testing.T) {
	p := testkit.StartProcess(t, testkit.ProcessOptions{})
	walk(t, []string{p.Addr()}, p.AdminAddr(), 1)
}

func TestConsoleWalkCluster(t *testing.T) {
	if os.Getenv("STROM_CONSOLE") != "full" {
		t.Skip("the 3-node console walk runs with STROM_CONSOLE=full (make console-test)")
	}
	c := testkit.StartCluster(t, 3)
	walk(t, strings.Split(c.Bootstrap(), ","), c.Node(2).AdminAddr(), 3)
}

// browser starts headless Chromium with the flags this machine's closed
// network needs, and extra.
func browser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	path := testkit.NeedTool(t, "chromium", "chromium-browser", "google-chrome")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	opts = append(opts, extra...)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	return ctx
}

// walk goes through every page of the console on admin, checking each
// against what real clients did on bootstrap.
func walk(t *testing.T, bootstrap []string, admin string, brokers int) {
	ctx := browser(t)
	base := "http://" + admin
	shots := os.Getenv("STROM_CONSOLE_SCREENSHOTS")
	shot := func(name string) {
		if shots == "" {
			return
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	text := func(sel string) string {
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return strings.TrimSpace(s)
	}
	// until reloads url until the text of sel satisfies ok.
	until := func(url, sel, what string, ok func(string) bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		var got string
		for time.Now().Before(deadline) {
			if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
				t.Fatalf("open %s: %v", url, err)
			}
			if got = text(sel); ok(got) {
				return
			}
			time.Sleep(500 * time.Millisecond)
		}
		t.Fatalf("%s: %s on %s is %q", what, sel, url, got)
	}

	// The cluster page lists every broker.
	until(base+"/", "#brokers", "brokers on the cluster page", func(s string) bool { return s == strconv.Itoa(brokers) })

	// Create a topic through the form.
	const topic, group = "console-walk", "console-group"
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/topics"),
		chromedp.WaitVisible(chromedp.CSS("#create-topic")),
		chromedp.SetValue(chromedp.CSS(`#create-topic input[name="name"]`), topic),
		chromedp.SetValue(chromedp.CSS(`#create-topic input[name="partitions"]`), "2"),
		chromedp.Submit(chromedp.CSS(`#create-topic`)),
		chromedp.WaitVisible(chromedp.CSS("#partitions")),
	); err != nil {
		t.Fatalf("create topic through the console: %v", err)
	}
	if n := text(".notice"); !strings.Contains(n, "created topic "+topic) {
		t.Fatalf("notice after create = %q", n)
	}

	// A real client produces JSON records.
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = 20
	for i := 0; i < n; i++ {
		v, _ := json.Marshal(map[string]any{"n": i, "what": "walk"})
		cl.Produce(cctx, &kgo.Record{Key: []byte(fmt.Sprintf("k%d", i)), Value: v,
			Headers: []kgo.RecordHeader{{Key: "source", Value: []byte("test")}}}, nil)
	}
	if err := cl.Flush(cctx); err != nil {
		t.Fatal(err)
	}
	until(base+"/topics", "#topics", "the new topic in the list", func(s string) bool { return strings.Contains(s, topic) })
	shot("topics")
	until(base+"/topics/"+topic, "#partitions", "end offsets on the topic page", func(s string) bool {
		// Rows: partition, leader, replicas, ISR, start, end, size.
		var sum int
		for _, line := range strings.Split(s, "\n")[1:] {
			if f := strings.Split(line, "\t"); len(f) == 7 {
				end, _ := strconv.Atoi(f[5])
				sum += end
				if f[6] == "0 B" {
					return false
				}
			}
		}
		return sum == n
	})
	shot("topic")

	// The messages, pretty-printed as JSON, with keys and headers.
	until(base+"/topics/"+topic+"/messages?from=start&format=json&limit=100", "#count", "messages", func(s string) bool { return s == fmt.Sprintf("%d messages", n) })
	body := text("#messages")
	if !strings.Contains(body, `"what": "walk"`) || !strings.Contains(body, "k7") || !strings.Contains(body, "source=test") {
		t.Fatalf("messages table lacks the JSON value, key or header:\n%s", body)
	}
	shot("messages")

	// Produce one message through the console.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/topics/"+topic+"/messages"),
		chromedp.WaitReady(chromedp.CSS("#produce")),
		chromedp.SetValue(chromedp.CSS(`#produce input[name="partition"]`), "1"),
		chromedp.SetValue(chromedp.CSS(`#produce input[name="key"]`), "from-console"),
		chromedp.SetValue(chromedp.CSS(`#produce textarea[name="value"]`), "hello from the console"),
		chromedp.Submit(chromedp.CSS(`#produce`)),
		chromedp.WaitVisible(chromedp.CSS(".notice")),
	); err != nil {
		t.Fatalf("produce through the console: %v", err)
	}
	if s := text("#messages"); !strings.Contains(s, "hello from the console") {
		t.Fatalf("the produced message is not shown:\n%s", s)
	}

	// A group commits half: lag n/2+1 (one more record came from the console).
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(cctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	offs := kadm.Offsets{}
	var total int64
	ends.Each(func(o kadm.ListedOffset) {
		total += o.Offset
		offs.Add(kadm.Offset{Topic: topic, Partition: o.Partition, At: o.Offset / 2, LeaderEpoch: -1})
	})
	var half int64
	offs.Each(func(o kadm.Offset) { half += o.At })
	if err := adm.CommitAllOffsets(cctx, group, offs); err != nil {
		t.Fatal(err)
	}
	until(base+"/groups/"+group, "#total-lag", "lag of the half-committed group", func(s string) bool { return s == strconv.FormatInt(total-half, 10) })

	// A consumer of the group reads the rest: lag falls to 0.
	cons, err := kgo.NewClient(kgo.SeedBrokers(bootstrap...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic))
	if err != nil {
		t.Fatal(err)
	}
	for read := int64(0); read < total-half; {
		fs := cons.PollFetches(cctx)
		if cctx.Err() != nil {
			t.Fatal(cctx.Err())
		}
		read += int64(fs.NumRecords())
	}
	if err := cons.CommitUncommittedOffsets(cctx); err != nil {
		t.Fatal(err)
	}
	until(base+"/groups/"+group, "#total-lag", "lag after consuming", func(s string) bool { return s == "0" })
	shot("group")
	until(base+"/groups", "#groups", "the group in the list", func(s string) bool { return strings.Contains(s, group) })
	shot("groups")
	cons.Close()

	// Empty now: reset to earliest through the console; lag is everything.
	until(base+"/groups/"+group, "#state", "the group empty after its member left", func(s string) bool { return s == "Empty" })
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.CSS("#reset-offsets")),
		chromedp.SetValue(chromedp.CSS(`#reset-offsets select[name="to"]`), "earliest"),
		chromedp.Submit(chromedp.CSS(`#reset-offsets`)),
		chromedp.WaitVisible(chromedp.CSS(".notice")),
	); err != nil {
		t.Fatalf("reset offsets through the console: %v", err)
	}
	if s := text("#total-lag"); s != strconv.FormatInt(total, 10) {
		t.Fatalf("lag after reset to earliest = %s, want %d", s, total)
	}

	// Live charts draw the topic's traffic from the node's metrics (in a
	// cluster, traffic this node led).
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/charts"), chromedp.WaitVisible(chromedp.CSS("#chart-records"))); err != nil {
		t.Fatal(err)
	}
	// Traffic while the page samples, so the records chart has a curve.
	go func() {
		for i := 0; i < 40 && cctx.Err() == nil; i++ {
			cl.Produce(cctx, &kgo.Record{Value: []byte("chart")}, nil)
			time.Sleep(150 * time.Millisecond)
		}
	}()
	// The charts read this node's own metrics: in a cluster the group's
	// lag is reported by its coordinator, which may be another node, so
	// the lag chart is checked on a single broker only; the byte chart
	// always has its two series.
	chart := "#chart-bytes"
	if brokers == 1 {
		chart = "#chart-lag"
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		attr, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(chart), "data-series"))
		if err != nil {
			t.Fatal(err)
		}
		series := attr.Value
		samples, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS("#chart-records"), "data-samples"))
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := strconv.Atoi(samples.Value); attr.Exists && series != "" && series != "0" && n >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s drew no series (data-series=%q)", chart, series)
		}
		time.Sleep(500 * time.Millisecond)
	}
	shot("charts")

	// Internal topics cannot be deleted from the console: no form.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/topics/__consumer_offsets"), chromedp.WaitVisible(chromedp.CSS("#partitions"))); err != nil {
		t.Fatal(err)
	}
	forms, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#delete-topic").length`))
	if err != nil {
		t.Fatal(err)
	}
	if forms != 0 {
		t.Fatalf("__consumer_offsets offers a delete form")
	}
	until(base+"/", "#brokers", "brokers on the cluster page", func(s string) bool { return s == strconv.Itoa(brokers) })
	// Each node's place in the metadata quorum and its software version
	// (the test binary is built without a release version: "dev").
	if nodes := text("#nodes"); !strings.Contains(nodes, "leader, log end") || strings.Count(nodes, "dev") < brokers {
		t.Fatalf("the nodes table lacks quorum roles or versions:\n%s", nodes)
	}
	shot("cluster")
}
