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
//
// v3+ carries the features (KIP-584) Strom implements, as a KRaft cluster
// of Kafka 4.1 reports them: `transaction.version` supported 0-2 (v4+)
// and finalized at level 2, so that clients use transactions v2 (KIP-890 part
// 2: Produce v12+ and TxnOffsetCommit v5+ add their partitions
// implicitly, EndTxn v5 bumps the epoch); clients that do not know it keep
// the protocol of before, chosen per request version. Kafka's other
// features (metadata.version, kraft.version, group.version, ...) describe
// KRaft internals or protocols Strom does not gate by feature, and are not
// advertised.

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
	if req.Version >= 3 {
		addFeatures(resp, req.Version)
	}
	return Now(resp)
}

// TransactionVersionFeature is the feature flag of transactions v2
// (KIP-890 part 2, KIP-1022).
const TransactionVersionFeature = "transaction.version"

// transactionVersionMax is the highest transaction.version Strom
// implements, and the level it finalizes.
const transactionVersionMax = 2

// finalizedFeaturesEpoch is the epoch of the finalized features: Kafka
// gives the metadata offset of their last change, which clients compare
// to take the newest answer. Strom's levels are fixed by the build, so the
// epoch is too; a build that changes a level must raise it.
const finalizedFeaturesEpoch = 1

// addFeatures fills the features of an ApiVersions v3+ answer. A
// supported range starting at 0 is left out below v4, whose clients
// cannot read a minimum of 0 (KIP-1022), as Kafka does; the finalized
// level is listed at every version.
func addFeatures(resp *kmsg.ApiVersionsResponse, version int16) {
	if version >= 4 {
		sf := kmsg.NewApiVersionsResponseSupportedFeature()
		sf.Name, sf.MinVersion, sf.MaxVersion = TransactionVersionFeature, 0, transactionVersionMax
		resp.SupportedFeatures = append(resp.SupportedFeatures, sf)
	}
	ff := kmsg.NewApiVersionsResponseFinalizedFeature()
	ff.Name, ff.MinVersionLevel, ff.MaxVersionLevel = TransactionVersionFeature, transactionVersionMax, transactionVersionMax
	resp.FinalizedFeatures = append(resp.FinalizedFeatures, ff)
	resp.FinalizedFeaturesEpoch = finalizedFeaturesEpoch
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
