// Command strom is the Strom broker and its command-line tools in one
// binary: serve, topic, produce, consume, bench and version. The command
// tree lives in internal/cli; this file only links in the broker.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/strom-broker/strom/cmd/strom/internal/cli"
	"github.com/strom-broker/strom/internal/broker"
	"github.com/strom-broker/strom/internal/config"
)

func main() {
	os.Exit(cli.Execute(context.Background(), cli.Deps{NewBroker: newBroker}))
}

// newBroker is the one place the binary touches internal/broker.
func newBroker(cfg config.Config, logger *slog.Logger) (cli.Broker, error) {
	b, err := broker.New(cfg, logger)
	if err != nil {
		return nil, err
	}
	return b, nil
}
