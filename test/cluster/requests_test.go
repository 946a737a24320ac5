package cluster_test

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func metadataRequest() *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{}
	return req
}

func metadataResponse(r kmsg.Response) *kmsg.MetadataResponse { return r.(*kmsg.MetadataResponse) }

func topicMetadataRequest(topic string) *kmsg.MetadataRequest {
	req := metadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	return req
}
