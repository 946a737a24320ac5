package cli

import (
	"context"
	"encoding/base64"
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

// clientFunc is a subcommand body that sends Kafka requests itself.
type clientFunc func(ctx context.Context, cl *kgo.Client, out io.Writer, args []string) error

// clientRunner turns a clientFunc into a cobra RunE that connects to the
// cluster for the duration of the command. A cluster that cannot be reached
// fails at once with a hint instead of the request's shard errors.
func clientRunner(cf *clientFlags) func(clientFunc) func(*cobra.Command, []string) error {
	return func(run clientFunc) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			cl, err := cf.newClient()
			if err != nil {
				return err
			}
			defer cl.Close()
			if err := cf.reachable(cmd.Context(), cl); err != nil {
				return err
			}
			err = run(cmd.Context(), cl, cmd.OutOrStdout(), args)
			if err != nil && isDialError(err) {
				return unreachable(cf.seedList(), err)
			}
			return err
		}
	}
}

// adminRunner is clientRunner for bodies that use kadm.
func adminRunner(cf *clientFlags) withAdminFunc {
	withClient := clientRunner(cf)
	return func(run adminFunc) func(*cobra.Command, []string) error {
		return withClient(func(ctx context.Context, cl *kgo.Client, out io.Writer, args []string) error {
			return run(ctx, kadm.NewClient(cl), out, args)
		})
	}
}

func newTopicCmd(d Deps) *cobra.Command {
	cmd := groupCmd(&cobra.Command{Use: "topic", Short: "Create, list, describe, delete and configure topics"})
	withAdmin := adminRunner(addClientFlags(cmd, d))

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
	create.Flags().Int32VarP(&partitions, "partitions", "p", -1, "partitions (-1: broker default)")
	create.Flags().Int16VarP(&rf, "replication-factor", "r", -1, "replication factor (-1: broker default)")
	create.Flags().StringArrayVarP(&configs, "config", "c", nil, "topic config key=value (repeatable)")
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
	}
	format := outputFlag(cmd)
	cmd.RunE = withAdmin(func(ctx context.Context, adm *kadm.Client, out io.Writer, _ []string) error {
		if err := checkFormat(*format); err != nil {
			return err
		}
		list := adm.ListTopics
		if internal {
			list = adm.ListTopicsWithInternal
		}
		tds, err := list(ctx)
		if err != nil {
			return fmt.Errorf("list topics: %w", err)
		}
		sums := make([]topicSummary, 0, len(tds))
		for _, td := range tds.Sorted() {
			sums = append(sums, summarizeTopic(td))
		}
		return render(out, *format, sums, func() error {
			for _, s := range sums {
				fmt.Fprintln(out, s.Name)
			}
			return nil
		})
	})
	cmd.Flags().BoolVar(&internal, "internal", false, "include internal topics")
	return cmd
}

func summarizeTopic(td kadm.TopicDetail) topicSummary {
	// The id as Kafka prints a Uuid: URL-safe base64 without padding.
	return topicSummary{Name: td.Topic, ID: base64.RawURLEncoding.EncodeToString(td.ID[:]), Partitions: len(td.Partitions),
		ReplicationFactor: td.Partitions.NumReplicas(), Internal: td.IsInternal}
}

func newTopicDescribeCmd(withAdmin withAdminFunc) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "describe [TOPIC...]",
		Short: "Describe topics: partitions, leaders, replicas, ISR and non-default configs",
	}
	format := outputFlag(cmd)
	cmd.RunE = withAdmin(func(ctx context.Context, adm *kadm.Client, out io.Writer, topics []string) error {
		if err := checkFormat(*format); err != nil {
			return err
		}
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
		var descs []topicDescription
		for _, td := range tds.Sorted() {
			if td.Err != nil {
				errs = append(errs, fmt.Errorf("topic %s: %w", td.Topic, td.Err))
				continue
			}
			rc, _ := rcs.On(td.Topic, nil)
			descs = append(descs, describeTopic(td, rc))
		}
		if err := render(out, *format, descs, func() error {
			for _, d := range descs {
				printTopic(out, d)
			}
			return nil
		}); err != nil {
			return err
		}
		return errors.Join(errs...)
	})
	return cmd
}

// describeTopic gathers a topic's partitions and non-default configs.
func describeTopic(td kadm.TopicDetail, rc kadm.ResourceConfig) topicDescription {
	d := topicDescription{topicSummary: summarizeTopic(td), Configs: map[string]string{}}
	for _, c := range rc.Configs {
		if c.Source == kmsg.ConfigSourceDefaultConfig || c.Source == kmsg.ConfigSourceStaticBrokerConfig {
			continue
		}
		v := "<sensitive>"
		if c.Value != nil {
			v = *c.Value
		}
		d.Configs[c.Key] = v
	}
	for _, p := range td.Partitions.Sorted() {
		tp := topicPartition{Partition: p.Partition, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch,
			Replicas: nonNil(p.Replicas), ISR: nonNil(p.ISR), Offline: p.OfflineReplicas}
		if p.Err != nil {
			tp.Error = message(p.Err)
		}
		d.PartitionSet = append(d.PartitionSet, tp)
	}
	return d
}

func nonNil(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}

// printTopic prints in the layout of kafka-topics.sh --describe.
func printTopic(out io.Writer, d topicDescription) {
	cfgs := make([]string, 0, len(d.Configs))
	for k, v := range d.Configs {
		cfgs = append(cfgs, k+"="+v)
	}
	sort.Strings(cfgs)
	fmt.Fprintf(out, "Topic: %s\tTopicId: %s\tPartitionCount: %d\tReplicationFactor: %d\tConfigs: %s\n",
		d.Name, d.ID, d.Partitions, d.ReplicationFactor, strings.Join(cfgs, ","))
	for _, p := range d.PartitionSet {
		line := fmt.Sprintf("\tTopic: %s\tPartition: %d\tLeader: %d\tLeaderEpoch: %d\tReplicas: %s\tIsr: %s",
			d.Name, p.Partition, p.Leader, p.LeaderEpoch, joinIDs(p.Replicas), joinIDs(p.ISR))
		if len(p.Offline) > 0 {
			line += "\tOffline: " + joinIDs(p.Offline)
		}
		if p.Error != "" {
			line += "\tError: " + p.Error
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
		PreRunE: func(*cobra.Command, []string) error {
			if _, err := parseKV("config", set); err != nil {
				return usageError{err}
			}
			return nil
		},
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
