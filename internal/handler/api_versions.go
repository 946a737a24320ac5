package handler

import (
	"regexp"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ApiVersions v0-4.
//
// The list is built from the registered handlers. A request at a version
// above ours never reaches Serve with a decoded body: the server answers it
// with UnsupportedApiVersions (a v0 response, KIP-511). v3+ validates the
// client software name and version as Kafka does (INVALID_REQUEST).
// Features (KIP-584) are not advertised: Strom has no feature levels yet.

func init() { register(kmsg.ApiVersions, 0, 4, serveApiVersions) }

var softwareRe = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?$`)

func apiKeys() []kmsg.ApiVersionsResponseApiKey {
	sup := Supported()
	keys := make([]kmsg.ApiVersionsResponseApiKey, 0, len(sup))
	for _, v := range sup {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = v.Key.Int16(), v.Min, v.Max
		keys = append(keys, k)
	}
	return keys
}

func serveApiVersions(e *Env, r *Request) Result {
	req := r.Body.(*kmsg.ApiVersionsRequest)
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	if req.Version >= 3 && (!softwareRe.MatchString(req.ClientSoftwareName) || !softwareRe.MatchString(req.ClientSoftwareVersion)) {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return Now(resp)
	}
	resp.ApiKeys = apiKeys()
	return Now(resp)
}

// UnsupportedApiVersions is the answer to an ApiVersions request at a
// version above ours: v0-encoded, UNSUPPORTED_VERSION, with our full list so
// the client can pick a version it shares with us.
func UnsupportedApiVersions() *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.ApiKeys = apiKeys()
	return resp
}
