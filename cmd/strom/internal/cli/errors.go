package cli

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Exit codes: 1 for a failed operation (the broker refused, the topic or
// group does not exist, the broker is unreachable), 2 for a command line
// that does not parse (unknown command or flag, bad flag value).
const (
	exitFailure = 1
	exitUsage   = 2
)

// usageError marks a command line that does not parse.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// unreachableError says no broker answered, with a hint on where the
// address comes from.
type unreachableError struct {
	seeds string
	cause error
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf("cannot reach a broker at %s (%s); is strom serve running there? Set the address with -b, $%s or a profile file",
		e.seeds, netCause(e.cause), envBootstrap)
}

func (e *unreachableError) Unwrap() error { return e.cause }

func unreachable(seeds string, err error) error {
	return &unreachableError{seeds: seeds, cause: err}
}

// netCause is the shortest description of a dial failure.
func netCause(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to host"
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return "unknown host " + dnsErr.Name
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timed out"
	}
	return err.Error()
}

// isDialError reports whether err is a failure to reach any broker.
func isDialError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dnsErr *net.DNSError
	return errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &dnsErr)
}

// kafkaWords is a Kafka error code in Kafka's words: the description
// Kafka's clients print, without the code's name.
func kafkaWords(err *kerr.Error) string {
	return strings.TrimSuffix(err.Description, ".")
}

// message turns an error into the one sentence printed after "strom: ".
// Wrapping contexts stay; a Kafka error is shown in Kafka's words (the
// broker's own message when it sent one, else the code's description)
// followed by the code's name to search for: "topic x: This server does not
// host this topic-partition (UNKNOWN_TOPIC_OR_PARTITION)".
func message(err error) string {
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		return err.Error()
	}
	s, full := err.Error(), ke.Error() // franz-go prints CODE_NAME: Description.
	i := strings.Index(s, full)
	if i < 0 {
		return s
	}
	words := kafkaWords(ke)
	if rest, ok := strings.CutPrefix(s[i+len(full):], ": "); ok && rest != "" {
		words = strings.TrimSuffix(rest, ".")
	}
	return s[:i] + words + " (" + ke.Message + ")"
}

// flagError rewords a bad flag value without the parser's internals
// (strconv.ParseInt: parsing "x": invalid syntax).
func flagError(err error) error {
	var ive *pflag.InvalidValueError
	if !errors.As(err, &ive) {
		return err
	}
	var want string
	switch ive.GetFlag().Value.Type() {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		want = "an integer"
	case "int32Slice", "intSlice", "int64Slice", "uintSlice":
		want = "integers separated by commas"
	case "float64", "float32":
		want = "a number"
	case "bool":
		want = "true or false"
	case "duration":
		want = "a duration such as 500ms, 10s or 1m"
	default:
		return err
	}
	return fmt.Errorf("--%s %q: want %s", ive.GetFlag().Name, ive.GetValue(), want)
}

// exitCode maps a command error to the process exit code.
func exitCode(err error) int {
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailure
}

// groupCmd makes cmd a command group: run bare it prints its help; with an
// unknown subcommand it fails with cobra's suggestions, as the root does.
func groupCmd(cmd *cobra.Command) *cobra.Command {
	cmd.Args = cobra.ArbitraryArgs
	cmd.SuggestionsMinimumDistance = 2
	cmd.RunE = func(c *cobra.Command, args []string) error {
		if len(args) == 0 {
			return c.Help()
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
		if s := c.SuggestionsFor(args[0]); len(s) > 0 {
			msg += "; did you mean " + strings.Join(s, " or ") + "?"
		} else {
			msg += "; see " + c.CommandPath() + " --help"
		}
		return usageError{errors.New(msg)}
	}
	return cmd
}
