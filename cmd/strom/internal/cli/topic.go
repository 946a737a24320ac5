package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// adminFunc is a subcommand body that talks to the cluster through kadm.
type adminFunc func(ctx context.Context, adm *kadm.Client, out io.Writer, args []string) error

// adminRunner turns an adminFunc into a cobra RunE that connects to the
// --bootstrap brokers for the duration of the command.
func adminRunner(bootstrap *string) withAdminFunc {
	return func(run adminFunc) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			cl, err := kgo.NewClient(kgo.SeedBrokers(splitList(*bootstrap)...), kgo.ClientID("strom-cli"))
			if err != nil {
				return fmt.Errorf("connect: %w", err)
			}
			defer cl.Close()
			return run(cmd.Context(), kadm.NewClient(cl), cmd.OutOrStdout(), args)
		}
	}
}

func newTopicCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "topic", Short: "Create, list, describe, delete and configure topics"}
	withAdmin := adminRunner(bootstrapFlag(cmd))

	var partitions int32
	var rf int16
	var configs []string
	var ifNotExists bool
	create := &cobra.Command{
		Use:   "create TOPIC...",
		Short: "Create topics",
		Args:  cobra.MinimumNArgs(1),
		RunE: withAdmin(func(ctx context.Context, adm *kadm.Client, out io.Writer, topics []string) error {
			kvs, err := parseKV("config", configs)
			if err != nil {
				return err
			}
			cfgs := make(map[string]*string, len(kvs))
			for _, kv := range kvs {
				cfgs[kv[0]] = kadm.StringPtr(kv[1])
			}
			resps, err := adm.CreateTopics(ctx, partitions, rf, cfgs, topics...)
			if err != nil {
				return fmt.Errorf("create topics: %w", err)
			}
			var errs []error
			for _, r := range resps.Sorted() {
				switch {
				case r.Err == nil:
					fmt.Fprintf(out, "created topic %s (%d partitions, replication factor %d)\n", r.Topic, r.NumPartitions, r.ReplicationFactor)
				case ifNotExists && errors.Is(r.Err, kerr.TopicAlreadyExists):
				default:
					errs = append(errs, fmt.Errorf("create topic %s: %w%s", r.Topic, r.Err, detail(r.ErrMessage)))
				}
			}
			return errors.Join(errs...)
		}),
	}
	create.Flags().Int32Var(&partitions, "partitions", -1, "partitions (-1: broker default)")
	create.Flags().Int16Var(&rf, "replication-factor", -1, "replication factor (-1: broker default)")
	create.Flags().StringArrayVar(&configs, "config", nil, "topic config key=value (repeatable)")
	create.Flags().BoolVar(&ifNotExists, "if-not-exists", false, "succeed when the topic already exists")

	cmd.AddCommand(create, newTopicListCmd(withAdmin), newTopicDescribeCmd(withAdmin), newTopicDeleteCmd(withAdmin), newTopicAlterCmd(withAdmin))
	return cmd
}

// withAdminFunc wraps an adminFunc into a cobra RunE (see adminRunner).
type withAdminFunc = func(adminFunc) func(*cobra.Command, []string) error

func detail(msg string) string {
	if msg == "" {
		return ""
	}
	return ": " + msg
}

func newTopicListCmd(withAdmin withAdminFunc) *cobra.Command {
	var internal bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List topics",
		Args:  cobra.NoArgs,
		RunE: withAdmin(func(ctx context.Context, adm *kadm.Client, out io.Writer, _ []string) error {
			list := adm.ListTopics
			if internal {
				list = adm.ListTopicsWithInternal
			}
			tds, err := list(ctx)
			if err != nil {
				return fmt.Errorf("list topics: %w", err)
			}
			for _, td := range tds.Sorted() {
				fmt.Fprintln(out, td.Topic)
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&internal, "internal", false, "include internal topics")
	return cmd
}

func newTopicDescribeCmd(withAdmin withAdminFunc) *cobra.Command {
	return &cobra.Command{
		Use:   "describe [TOPIC...]",
		Short: "Describe topics: partitions, leaders, replicas, ISR and non-default configs",
		RunE: withAdmin(func(ctx context.Context, adm *kadm.Client, out io.Writer, topics []string) error {
			tds, err := adm.ListTopics(ctx, topics...)
			if err != nil {
				return fmt.Errorf("describe topics: %w", err)
			}
			names := make([]string, 0, len(tds))
			for _, td := range tds.Sorted() {
				if td.Err == nil {
					names = append(names, td.Topic)
				}
			}
			// Configs are extra: a broker that cannot describe them still
			// gets its partitions printed.
			rcs, cfgErr := adm.DescribeTopicConfigs(ctx, names...)
			var errs []error
			if cfgErr != nil {
				errs = append(errs, fmt.Errorf("describe topic configs: %w", cfgErr))
			}
			for _, td := range tds.Sorted() {
				if td.Err != nil {
					errs = append(errs, fmt.Errorf("topic %s: %w", td.Topic, td.Err))
					continue
				}
				rc, _ := rcs.On(td.Topic, nil)
				printTopic(out, td, rc)
			}
			return errors.Join(errs...)
		}),
	}
}

// printTopic prints in the layout of kafka-topics.sh --describe.
func printTopic(out io.Writer, td kadm.TopicDetail, rc kadm.ResourceConfig) {
	var cfgs []string
	for _, c := range rc.Configs {
		if c.Source == kmsg.ConfigSourceDefaultConfig || c.Source == kmsg.ConfigSourceStaticBrokerConfig {
			continue
		}
		v := "<sensitive>"
		if c.Value != nil {
			v = *c.Value
		}
		cfgs = append(cfgs, c.Key+"="+v)
	}
	sort.Strings(cfgs)
	fmt.Fprintf(out, "Topic: %s\tTopicId: %s\tPartitionCount: %d\tReplicationFactor: %d\tConfigs: %s\n",
		td.Topic, td.ID, len(td.Partitions), td.Partitions.NumReplicas(), strings.Join(cfgs, ","))
	for _, p := range td.Partitions.Sorted() {
		line := fmt.Sprintf("\tTopic: %s\tPartition: %d\tLeader: %d\tLeaderEpoch: %d\tReplicas: %s\tIsr: %s",
			td.Topic, p.Partition, p.Leader, p.LeaderEpoch, joinIDs(p.Replicas), joinIDs(p.ISR))
		if len(p.OfflineReplicas) > 0 {
			line += "\tOffline: " + joinIDs(p.OfflineReplicas)
		}
		if p.Err != nil {
			line += "\tError: " + p.Err.Error()
		}
		fmt.Fprintln(out, line)
	}
}

func joinIDs(ids []int32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ",")
}

func newTopicDeleteCmd(withAdmin withAdminFunc) *cobra.Command {
	return &cobra.Command{
		Use:   "delete TOPIC...",
		Short: "Delete topics",
		Args:  cobra.MinimumNArgs(1),
		RunE: withAdmin(func(ctx context.Context, adm *kadm.Client, out io.Writer, topics []string) error {
			resps, err := adm.DeleteTopics(ctx, topics...)
			if err != nil {
				return fmt.Errorf("delete topics: %w", err)
			}
			var errs []error
			for _, r := range resps.Sorted() {
				if r.Err != nil {
					errs = append(errs, fmt.Errorf("delete topic %s: %w%s", r.Topic, r.Err, detail(r.ErrMessage)))
					continue
				}
				fmt.Fprintf(out, "deleted topic %s\n", r.Topic)
			}
			return errors.Join(errs...)
		}),
	}
}

func newTopicAlterCmd(withAdmin withAdminFunc) *cobra.Command {
	var set, del []string
	cmd := &cobra.Command{
		Use:   "alter-config TOPIC...",
		Short: "Set or delete topic configs (incrementally)",
		Args:  cobra.MinimumNArgs(1),
		RunE: withAdmin(func(ctx context.Context, adm *kadm.Client, out io.Writer, topics []string) error {
			kvs, err := parseKV("config", set)
			if err != nil {
				return err
			}
			var alters []kadm.AlterConfig
			for _, kv := range kvs {
				alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: kv[0], Value: kadm.StringPtr(kv[1])})
			}
			for _, k := range del {
				alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
			}
			if len(alters) == 0 {
				return errors.New("alter-config: give --config key=value or --delete-config key")
			}
			resps, err := adm.AlterTopicConfigs(ctx, alters, topics...)
			if err != nil {
				return fmt.Errorf("alter topic configs: %w", err)
			}
			var errs []error
			for _, r := range resps {
				if r.Err != nil {
					errs = append(errs, fmt.Errorf("alter topic %s: %w%s", r.Name, r.Err, detail(r.ErrMessage)))
					continue
				}
				fmt.Fprintf(out, "altered topic %s\n", r.Name)
			}
			return errors.Join(errs...)
		}),
	}
	cmd.Flags().StringArrayVar(&set, "config", nil, "set config key=value (repeatable)")
	cmd.Flags().StringArrayVar(&del, "delete-config", nil, "revert config key to its default (repeatable)")
	return cmd
}
