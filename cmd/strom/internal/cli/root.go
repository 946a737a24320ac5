// Package cli builds the strom command tree: serve, topic, produce,
// consume, bench and version. It holds every flag and the flag > env >
// file > default precedence, but no broker: the caller injects a
// BrokerFactory, so the tree builds and is tested without internal/broker.
//
// Concurrency: each command runs on the calling goroutine; goroutines a
// command starts (signal watchers, progress printers) end before it returns.
package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/strom-broker/strom/internal/config"
)

// Version is the release version, set at link time with
// -ldflags "-X github.com/strom-broker/strom/cmd/strom/internal/cli.Version=v1.2.3".
var Version = "dev"

// Broker is what serve needs from the broker.
type Broker interface {
	Start(ctx context.Context) error // binds the listener; ctx cancels the waits of start-up
	Addr() net.Addr                  // the bound address, valid after Start
	Shutdown(ctx context.Context) error
}

// BrokerFactory opens a broker (storage open and recovery included).
type BrokerFactory func(cfg config.Config, logger *slog.Logger) (Broker, error)

// Deps are the process-level inputs the command tree uses.
type Deps struct {
	NewBroker BrokerFactory
	// LookupEnv reads the environment; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
}

// NewRoot returns the strom command tree. Input and output go through the
// cobra command (SetIn, SetOut, SetErr), so tests can capture them.
func NewRoot(d Deps) *cobra.Command {
	if d.LookupEnv == nil {
		d.LookupEnv = os.LookupEnv
	}
	root := groupCmd(&cobra.Command{
		Use:           "strom",
		Short:         "Strom: a Kafka-compatible streaming broker",
		SilenceUsage:  true,
		SilenceErrors: true,
	})
	root.AddCommand(
		newServeCmd(d),
		newClusterCmd(),
		newTopicCmd(d),
		newGroupCmd(d),
		newUserCmd(d),
		newACLCmd(d),
		newProduceCmd(d),
		newConsumeCmd(d),
		newBenchCmd(d),
		newVersionCmd(),
		newDocsCmd(),
	)
	root.SetGlobalNormalizationFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		return pflag.NormalizedName(normalizeFlag(name))
	})
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{flagError(err)} })
	return root
}

// Execute runs the command tree on os.Args and returns the exit code.
func Execute(ctx context.Context, d Deps) int {
	root := NewRoot(d)
	if err := root.ExecuteContext(ctx); err != nil {
		if strings.HasPrefix(err.Error(), "required flag") {
			err = usageError{err}
		}
		fmt.Fprintf(root.ErrOrStderr(), "strom: %s\n", message(err))
		return exitCode(err)
	}
	return 0
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), versionString())
			return nil
		},
	}
}

func versionString() string {
	s := fmt.Sprintf("strom %s (%s %s/%s", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, kv := range bi.Settings {
			if kv.Key == "vcs.revision" && len(kv.Value) >= 12 {
				s += ", commit " + kv.Value[:12]
			}
		}
	}
	return s + ")"
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseKV parses repeated k=v flags; flag names the flag for errors.
func parseKV(flag string, kvs []string) ([][2]string, error) {
	out := make([][2]string, 0, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--%s %q: want key=value", flag, kv)
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}
