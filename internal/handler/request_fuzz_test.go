package handler

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/testkit/fuzzseed"
)

// FuzzRequestBody decodes request bodies of every API and version the
// handlers serve, as the server does before calling them (the server's
// FuzzRequest sends the same through a running broker). A body that
// decodes re-encodes to bytes that decode to the same encoding: what a
// handler sees is all there is to the request.
func FuzzRequestBody(f *testing.F) {
	corpus := map[kmsg.Key]bool{kmsg.Produce: true, kmsg.Fetch: true, kmsg.Metadata: true,
		kmsg.CreateTopics: true, kmsg.OffsetCommit: true, kmsg.ConsumerGroupHeartbeat: true}
	for _, vr := range Supported() {
		for _, v := range []int16{vr.Min, vr.Max} {
			r := vr.Key.Request()
			r.SetVersion(v)
			body := r.AppendTo(nil)
			if corpus[vr.Key] && v == vr.Max {
				fuzzseed.Add(f, int16(vr.Key), v, body)
			} else {
				f.Add(int16(vr.Key), v, body)
			}
		}
	}
	p := kmsg.NewPtrProduceRequest()
	p.SetVersion(9)
	p.Acks, p.TimeoutMillis = -1, 1000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = "t"
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = []byte("not a batch, but bytes")
	pt.Partitions = append(pt.Partitions, pp)
	p.Topics = append(p.Topics, pt)
	fuzzseed.Add(f, int16(kmsg.Produce), int16(9), p.AppendTo(nil))

	f.Fuzz(func(t *testing.T, key, version int16, body []byte) {
		vr, ok := Lookup(kmsg.Key(key))
		if !ok || version < vr.Min || version > vr.Max {
			return
		}
		r := vr.Key.Request()
		r.SetVersion(version)
		if err := r.ReadFrom(body); err != nil {
			return
		}
		again := r.AppendTo(nil)
		back := vr.Key.Request()
		back.SetVersion(version)
		if err := back.ReadFrom(again); err != nil {
			t.Fatalf("%s v%d: re-encoded body does not decode: %v", vr.Key.Name(), version, err)
		}
		if third := back.AppendTo(nil); !bytes.Equal(third, again) {
			t.Fatalf("%s v%d: encoding not stable\n%x\n%x", vr.Key.Name(), version, again, third)
		}
	})
}
