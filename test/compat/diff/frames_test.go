package diff

import (
	"encoding/binary"
	"testing"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Frame-level behaviour: what each broker does with frames it cannot
// serve. Kafka answers an unknown ApiVersions version with a v0 reply
// (KIP-511) and closes the connection on everything else below.
func TestFrames(t *testing.T) {
	runScenarios(t, []scenario{
		{name: "unsupported-apiversions", key: -1, short: true, run: unsupportedApiVersions},
		{name: "malformed", key: -1, short: true, run: malformedFrames},
	})
}

func unsupportedApiVersions(s *session, _ int16) {
	c, err := dial(s.addr)
	if err != nil {
		s.fail("dial: %v", err)
	}
	defer c.Close()
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 127 // a future version, encoded as a client would (flexible)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "strom-compat", "1"
	if _, err := c.nc.Write(encodeRequest(7, req)); err != nil {
		s.fail("write: %v", err)
	}
	body, err := c.readFrame()
	if err != nil {
		s.record("ApiVersions v127", transportOutcome(err))
		return
	}
	rd := kbin.Reader{Src: body}
	corr := rd.Int32()
	resp := &kmsg.ApiVersionsResponse{Version: 0}
	if err := resp.ReadFrom(rd.Src); err != nil {
		s.record("ApiVersions v127", "undecodable as v0: "+err.Error())
		return
	}
	// Which APIs each side lists is compared in TestApiVersions; here only
	// the error, the correlation id and ApiVersions' own entry matter.
	var own []kmsg.ApiVersionsResponseApiKey
	for _, k := range resp.ApiKeys {
		if k.ApiKey == 18 {
			own = append(own, k)
		}
	}
	s.record("ApiVersions v127", normalize(map[string]any{
		"CorrelationID": corr, "ErrorCode": resp.ErrorCode, "ApiVersionsEntry": own,
	}))
}

func malformedFrames(s *session, _ int16) {
	oversized := binary.BigEndian.AppendUint32(nil, 200<<20) // > socket.request.max.bytes (100 MiB)
	oversized = append(oversized, rawHeader(3, 0, 1)...)

	md := kmsg.NewPtrMetadataRequest()
	md.Version = 12
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("some-topic-name")
	md.Topics = append(md.Topics, mt)
	full := encodeRequest(1, md)
	truncatedBody := frame(full[4 : len(full)-6]) // length matches, body cut short

	frames := []struct {
		name string
		data []byte
	}{
		{"oversized frame", oversized},
		{"negative frame size", binary.BigEndian.AppendUint32(nil, 0xffffff00)},
		{"frame shorter than a header", frame([]byte{0, 3, 0})},
		{"unknown API key", frame(append(rawHeader(32000, 0, 1), 0, 0, 0, 0))},
		{"unsupported Produce version", frame(append(rawHeader(0, 99, 1), 0, 0, 0, 0))},
		{"truncated Metadata v12 body", truncatedBody},
		{"Metadata v1 with a topic count beyond the frame", frame(append(rawHeader(3, 1, 1), 0x7f, 0xff, 0xff, 0xff))},
	}
	for _, f := range frames {
		c, err := dial(s.addr)
		if err != nil {
			s.fail("dial: %v", err)
		}
		if _, err := c.nc.Write(f.data); err != nil {
			s.record(f.name, "closed while writing")
		} else {
			s.record(f.name, c.outcome())
		}
		c.Close()
	}
}
