// Package diff is Strom's differential test against Apache Kafka: the same
// scripted sequences of raw requests go to a real Kafka broker (from
// internal/testkit/kafkaref) and to an in-process Strom broker, and the
// responses are compared field by field after normalising what
// legitimately differs (ids, ports, timestamps, error texts, ...).
//
// Each API is exercised at every version both brokers advertise. A short
// subset runs in the normal `go test ./...` (when java is available); the
// full suite runs with `STROM_COMPAT=full` or `-tags compat`. Differences
// that are known Strom bugs are listed in one allow-list table
// (knownDifferences in compare_test.go) and in docs/compatibility.md.
//
// Everything lives in _test.go files: the package has no API.
package diff
