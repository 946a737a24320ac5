package cli

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

// outputFlag registers --format text|json|yaml, the one output flag of the
// list and describe commands (as rpk's --format; -o stays free for offsets).
func outputFlag(cmd *cobra.Command) *string {
	s := new(string)
	cmd.Flags().StringVar(s, "format", "text", "output format: text, json or yaml")
	return s
}

func checkFormat(format string) error {
	switch format {
	case "text", "json", "yaml":
		return nil
	}
	return usageError{fmt.Errorf("--format %q: want text, json or yaml", format)}
}

// render writes v as JSON or YAML, or calls text for the text format.
func render(out io.Writer, format string, v any, text func() error) error {
	switch format {
	case "json":
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		enc := yaml.NewEncoder(out)
		enc.SetIndent(2)
		if err := enc.Encode(v); err != nil {
			return err
		}
		return enc.Close()
	}
	return text()
}

// Machine-readable shapes of the list and describe commands. Field names
// follow Kafka's own (kafka-topics.sh, kafka-consumer-groups.sh).

type topicSummary struct {
	Name              string `json:"name" yaml:"name"`
	ID                string `json:"id" yaml:"id"`
	Partitions        int    `json:"partitions" yaml:"partitions"`
	ReplicationFactor int    `json:"replication_factor" yaml:"replication_factor"`
	Internal          bool   `json:"internal" yaml:"internal"`
}

type topicPartition struct {
	Partition   int32   `json:"partition" yaml:"partition"`
	Leader      int32   `json:"leader" yaml:"leader"`
	LeaderEpoch int32   `json:"leader_epoch" yaml:"leader_epoch"`
	Replicas    []int32 `json:"replicas" yaml:"replicas,flow"`
	ISR         []int32 `json:"isr" yaml:"isr,flow"`
	Offline     []int32 `json:"offline,omitempty" yaml:"offline,omitempty,flow"`
	Error       string  `json:"error,omitempty" yaml:"error,omitempty"`
}

type topicDescription struct {
	topicSummary `yaml:",inline"`
	Configs      map[string]string `json:"configs" yaml:"configs"`
	PartitionSet []topicPartition  `json:"partition_details" yaml:"partition_details"`
}

type groupSummary struct {
	Group        string `json:"group" yaml:"group"`
	State        string `json:"state" yaml:"state"`
	Type         string `json:"type" yaml:"type"`
	ProtocolType string `json:"protocol_type" yaml:"protocol_type"`
	Coordinator  int32  `json:"coordinator" yaml:"coordinator"`
}

type groupOffset struct {
	Topic     string `json:"topic" yaml:"topic"`
	Partition int32  `json:"partition" yaml:"partition"`
	Committed *int64 `json:"committed" yaml:"committed"`
	LogEnd    int64  `json:"log_end" yaml:"log_end"`
	Lag       *int64 `json:"lag" yaml:"lag"`
	Member    string `json:"member,omitempty" yaml:"member,omitempty"`
	ClientID  string `json:"client_id,omitempty" yaml:"client_id,omitempty"`
	Host      string `json:"host,omitempty" yaml:"host,omitempty"`
}

type groupDescription struct {
	Group       string        `json:"group" yaml:"group"`
	State       string        `json:"state" yaml:"state"`
	Protocol    string        `json:"protocol" yaml:"protocol"`
	Coordinator int32         `json:"coordinator" yaml:"coordinator"`
	Members     int           `json:"members" yaml:"members"`
	Offsets     []groupOffset `json:"offsets" yaml:"offsets"`
}
