package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func newGroupCmd(d Deps) *cobra.Command {
	cmd := groupCmd(&cobra.Command{Use: "group", Short: "List, describe, delete consumer groups and reset their offsets"})
	withAdmin := adminRunner(addClientFlags(cmd, d))
	list := &cobra.Command{
		Use:   "list",
		Short: "List consumer groups with their state",
		Args:  cobra.NoArgs,
	}
	listFormat := outputFlag(list)
	list.RunE = withAdmin(func(ctx context.Context, adm *kadm.Client, out io.Writer, _ []string) error {
		if err := checkFormat(*listFormat); err != nil {
			return err
		}
		groups, err := adm.ListGroups(ctx)
		if err != nil {
			return fmt.Errorf("list groups: %w", err)
		}
		sums := []groupSummary{}
		for _, g := range groups.Sorted() {
			sums = append(sums, groupSummary{Group: g.Group, State: g.State, Type: g.GroupType, ProtocolType: g.ProtocolType, Coordinator: g.Coordinator})
		}
		return render(out, *listFormat, sums, func() error {
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "GROUP\tSTATE\tTYPE\tPROTOCOL-TYPE\tCOORDINATOR")
			for _, g := range sums {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", g.Group, g.State, orDash(g.Type), orDash(g.ProtocolType), g.Coordinator)
			}
			return tw.Flush()
		})
	})
	describe := &cobra.Command{
		Use:   "describe GROUP...",
		Short: "Show members, assignments, committed offsets and lag per partition",
		Args:  cobra.MinimumNArgs(1),
	}
	descFormat := outputFlag(describe)
	describe.RunE = withAdmin(func(ctx context.Context, adm *kadm.Client, out io.Writer, groups []string) error {
		if err := checkFormat(*descFormat); err != nil {
			return err
		}
		lags, err := adm.Lag(ctx, groups...)
		if err != nil {
			return fmt.Errorf("describe groups: %w", err)
		}
		var errs []error
		descs := []groupDescription{}
		for _, g := range lags.Sorted() {
			if err := g.Error(); err != nil {
				errs = append(errs, fmt.Errorf("group %s: %w", g.Group, err))
				continue
			}
			if g.State == "Dead" {
				errs = append(errs, fmt.Errorf("group %s: %w", g.Group, kerr.GroupIDNotFound))
				continue
			}
			descs = append(descs, describeGroupLag(g))
		}
		if err := render(out, *descFormat, descs, func() error {
			for _, d := range descs {
				printGroupLag(out, d)
			}
			return nil
		}); err != nil {
			return err
		}
		return errors.Join(errs...)
	})
	del := &cobra.Command{
		Use:   "delete GROUP...",
		Short: "Delete empty consumer groups and their committed offsets",
		Args:  cobra.MinimumNArgs(1),
		RunE: withAdmin(func(ctx context.Context, adm *kadm.Client, out io.Writer, groups []string) error {
			resps, err := adm.DeleteGroups(ctx, groups...)
			if err != nil {
				return fmt.Errorf("delete groups: %w", err)
			}
			var errs []error
			for _, r := range resps.Sorted() {
				if r.Err != nil {
					errs = append(errs, fmt.Errorf("delete group %s: %w%s", r.Group, r.Err, detail(r.ErrMessage)))
					continue
				}
				fmt.Fprintf(out, "deleted group %s\n", r.Group)
			}
			return errors.Join(errs...)
		}),
	}
	cmd.AddCommand(list, describe, del, newGroupResetCmd(withAdmin))
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func describeGroupLag(g kadm.DescribedGroupLag) groupDescription {
	d := groupDescription{Group: g.Group, State: g.State, Protocol: g.Protocol, Coordinator: g.Coordinator.NodeID,
		Members: len(g.Members), Offsets: []groupOffset{}}
	for _, l := range g.Lag.Sorted() {
		o := groupOffset{Topic: l.Topic, Partition: l.Partition, LogEnd: l.End.Offset}
		if l.Member != nil {
			o.Member, o.ClientID, o.Host = l.Member.MemberID, l.Member.ClientID, l.Member.ClientHost
		}
		if l.Commit.At >= 0 {
			o.Committed = &l.Commit.At
		}
		if l.Lag >= 0 {
			o.Lag = &l.Lag
		}
		d.Offsets = append(d.Offsets, o)
	}
	return d
}

func printGroupLag(out io.Writer, g groupDescription) {
	fmt.Fprintf(out, "group %s: state %s, protocol %s, coordinator %d, %d member(s)\n", g.Group, g.State, orDash(g.Protocol), g.Coordinator, g.Members)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tCOMMITTED\tLOG-END\tLAG\tMEMBER\tCLIENT-ID\tHOST")
	for _, l := range g.Offsets {
		committed, lag := "-", "-"
		if l.Committed != nil {
			committed = strconv.FormatInt(*l.Committed, 10)
		}
		if l.Lag != nil {
			lag = strconv.FormatInt(*l.Lag, 10)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%s\t%s\t%s\n", l.Topic, l.Partition, committed, l.LogEnd, lag,
			orDash(l.Member), orDash(l.ClientID), orDash(l.Host))
	}
	tw.Flush()
}

func newGroupResetCmd(withAdmin withAdminFunc) *cobra.Command {
	var (
		topics               []string
		toEarliest, toLatest bool
		toOffset             int64
		toDatetime           string
		execute              bool
	)
	cmd := &cobra.Command{
		Use:   "reset-offsets GROUP",
		Short: "Set a group's committed offsets (the group must have no members); prints the plan unless --execute",
		Args:  cobra.ExactArgs(1),
		RunE: withAdmin(func(ctx context.Context, adm *kadm.Client, out io.Writer, args []string) error {
			group := args[0]
			chosen := 0
			for _, b := range []bool{toEarliest, toLatest, toOffset >= 0, toDatetime != ""} {
				if b {
					chosen++
				}
			}
			if chosen != 1 {
				return errors.New("choose exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime")
			}
			if len(topics) == 0 {
				return errors.New("--topic is required")
			}
			described, err := adm.DescribeGroups(ctx, group)
			if err != nil {
				return fmt.Errorf("describe group: %w", err)
			}
			if d, ok := described[group]; ok && d.Err == nil && len(d.Members) > 0 {
				return fmt.Errorf("group %s has %d active member(s); stop them first", group, len(d.Members))
			}
			var listed kadm.ListedOffsets
			switch {
			case toEarliest:
				listed, err = adm.ListStartOffsets(ctx, topics...)
			case toLatest:
				listed, err = adm.ListEndOffsets(ctx, topics...)
			case toDatetime != "":
				var ts time.Time
				if ts, err = time.Parse(time.RFC3339, toDatetime); err != nil {
					return fmt.Errorf("--to-datetime: want RFC 3339 (2006-01-02T15:04:05Z): %w", err)
				}
				listed, err = adm.ListOffsetsAfterMilli(ctx, ts.UnixMilli(), topics...)
			default:
				listed, err = adm.ListEndOffsets(ctx, topics...)
			}
			if err != nil {
				return fmt.Errorf("list offsets: %w", err)
			}
			offsets := kadm.Offsets{}
			var errs []error
			listed.Each(func(l kadm.ListedOffset) {
				if l.Err != nil {
					errs = append(errs, fmt.Errorf("%s[%d]: %w", l.Topic, l.Partition, l.Err))
					return
				}
				at := l.Offset
				if toOffset >= 0 {
					at = min(toOffset, l.Offset)
				}
				offsets.Add(kadm.Offset{Topic: l.Topic, Partition: l.Partition, At: at, LeaderEpoch: -1})
			})
			if err := errors.Join(errs...); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TOPIC\tPARTITION\tNEW-OFFSET")
			offsets.Each(func(o kadm.Offset) { fmt.Fprintf(tw, "%s\t%d\t%d\n", o.Topic, o.Partition, o.At) })
			tw.Flush()
			if !execute {
				fmt.Fprintln(out, "dry run: add --execute to commit these offsets")
				return nil
			}
			resps, err := adm.CommitOffsets(ctx, group, offsets)
			if err != nil {
				return fmt.Errorf("commit offsets: %w", err)
			}
			if err := resps.Error(); err != nil {
				return fmt.Errorf("commit offsets: %w", err)
			}
			fmt.Fprintf(out, "committed new offsets for group %s\n", group)
			return nil
		}),
	}
	cmd.Flags().StringSliceVar(&topics, "topic", nil, "topics to reset (repeatable)")
	cmd.Flags().BoolVar(&toEarliest, "to-earliest", false, "reset to the log start offset")
	cmd.Flags().BoolVar(&toLatest, "to-latest", false, "reset to the log end offset")
	cmd.Flags().Int64Var(&toOffset, "to-offset", -1, "reset to this offset (capped at the log end)")
	cmd.Flags().StringVar(&toDatetime, "to-datetime", "", "reset to the first offset at or after this time (RFC 3339)")
	cmd.Flags().BoolVar(&execute, "execute", false, "commit the new offsets (default: print the plan only)")
	return cmd
}
