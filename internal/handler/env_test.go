package handler

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strom-broker/strom/internal/controller"
	"github.com/strom-broker/strom/internal/storage"
)

// TestErrCodeLogsUnknownErrors: errors the table knows are answered
// quietly; one it does not know is UNKNOWN_SERVER_ERROR with a log line.
func TestErrCodeLogsUnknownErrors(t *testing.T) {
	var logs bytes.Buffer
	e := &Env{Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	for _, tc := range []struct {
		err  error
		want *kerr.Error
	}{
		{fmt.Errorf("%w: t-0", controller.ErrElectionNotNeeded), kerr.ElectionNotNeeded},
		{fmt.Errorf("read offset 9: %w", storage.ErrOffsetOutOfRange), kerr.OffsetOutOfRange},
		{fmt.Errorf("append: %w", storage.ErrFailed), kerr.KafkaStorageError},
	} {
		if got := e.errCode(tc.err); got != tc.want.Code {
			t.Errorf("%v: %v, want %v", tc.err, kerr.ErrorForCode(got), tc.want)
		}
	}
	if e.errCode(nil) != 0 {
		t.Error("nil is not 0")
	}
	if logs.Len() != 0 {
		t.Errorf("known errors logged: %s", logs.String())
	}
	if got := e.errCode(errors.New("a new failure")); got != kerr.UnknownServerError.Code {
		t.Errorf("unknown error: %v, want UNKNOWN_SERVER_ERROR", kerr.ErrorForCode(got))
	}
	if !strings.Contains(logs.String(), "a new failure") || !strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("unknown error not logged: %q", logs.String())
	}
}
