package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strom-broker/strom/internal/aclreq"
)

// strom user: SCRAM credentials, as kafka-configs --entity-type users
// (DescribeUserScramCredentials, AlterUserScramCredentials).
func newUserCmd(d Deps) *cobra.Command {
	cmd := groupCmd(&cobra.Command{Use: "user", Short: "List, create and delete SASL/SCRAM users"})
	withAdmin := adminRunner(addClientFlags(cmd, d))

	list := &cobra.Command{Use: "list", Short: "List users and their SCRAM mechanisms", Args: cobra.NoArgs}
	listFormat := outputFlag(list)
	list.RunE = withAdmin(func(ctx context.Context, adm *kadm.Client, out io.Writer, _ []string) error {
		if err := checkFormat(*listFormat); err != nil {
			return err
		}
		described, err := adm.DescribeUserSCRAMs(ctx)
		if err != nil {
			return fmt.Errorf("list users: %w", err)
		}
		type userCred struct {
			User       string `json:"user" yaml:"user"`
			Mechanism  string `json:"mechanism" yaml:"mechanism"`
			Iterations int32  `json:"iterations" yaml:"iterations"`
		}
		creds := []userCred{}
		for name, u := range described {
			if u.Err != nil {
				continue
			}
			for _, ci := range u.CredInfos {
				creds = append(creds, userCred{name, ci.Mechanism.String(), ci.Iterations})
			}
		}
		sort.Slice(creds, func(i, j int) bool {
			return creds[i].User+creds[i].Mechanism < creds[j].User+creds[j].Mechanism
		})
		return render(out, *listFormat, creds, func() error {
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USER\tMECHANISM\tITERATIONS")
			for _, c := range creds {
				fmt.Fprintf(tw, "%s\t%s\t%d\n", c.User, c.Mechanism, c.Iterations)
			}
			return tw.Flush()
		})
	})

	var password, passwordFile, mechanism string
	var iterations int32
	set := &cobra.Command{
		Use:   "set USER",
		Short: "Create a user or change its password (one SCRAM mechanism)",
		Args:  cobra.ExactArgs(1),
		RunE: withAdmin(func(ctx context.Context, adm *kadm.Client, out io.Writer, args []string) error {
			mech, err := parseMechanism(mechanism)
			if err != nil {
				return err
			}
			pw := password
			if passwordFile != "" {
				b, err := os.ReadFile(passwordFile)
				if err != nil {
					return fmt.Errorf("password file: %w", err)
				}
				pw = strings.TrimRight(string(b), "\r\n")
			}
			if pw == "" {
				return usageError{errors.New("give the password with --password or --password-file")}
			}
			res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: args[0], Mechanism: mech, Iterations: iterations, Password: pw}})
			if err != nil {
				return fmt.Errorf("set user %s: %w", args[0], err)
			}
			if err := scramResult(res); err != nil {
				return fmt.Errorf("set user %s: %w", args[0], err)
			}
			fmt.Fprintf(out, "set %s credential of user %s\n", mech, args[0])
			return nil
		}),
	}
	set.Flags().StringVar(&password, "password", "", "the password (visible in the process list: prefer --password-file)")
	set.Flags().StringVar(&passwordFile, "password-file", "", "file holding the password")
	set.Flags().StringVar(&mechanism, "mechanism", "SCRAM-SHA-512", "SCRAM-SHA-256 or SCRAM-SHA-512")
	set.Flags().Int32Var(&iterations, "iterations", 4096, "SCRAM iterations (4096 to 16384)")

	var delMechanism string
	del := &cobra.Command{
		Use:   "delete USER",
		Short: "Delete a user's credential of one SCRAM mechanism",
		Args:  cobra.ExactArgs(1),
		RunE: withAdmin(func(ctx context.Context, adm *kadm.Client, out io.Writer, args []string) error {
			mech, err := parseMechanism(delMechanism)
			if err != nil {
				return err
			}
			res, err := adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: args[0], Mechanism: mech}}, nil)
			if err != nil {
				return fmt.Errorf("delete user %s: %w", args[0], err)
			}
			if err := scramResult(res); err != nil {
				return fmt.Errorf("delete user %s: %w", args[0], err)
			}
			fmt.Fprintf(out, "deleted %s credential of user %s\n", mech, args[0])
			return nil
		}),
	}
	del.Flags().StringVar(&delMechanism, "mechanism", "SCRAM-SHA-512", "SCRAM-SHA-256 or SCRAM-SHA-512")
	cmd.AddCommand(list, set, del)
	return cmd
}

func parseMechanism(s string) (kadm.ScramMechanism, error) {
	switch strings.ToUpper(s) {
	case "SCRAM-SHA-256":
		return kadm.ScramSha256, nil
	case "SCRAM-SHA-512":
		return kadm.ScramSha512, nil
	}
	return 0, usageError{fmt.Errorf("--mechanism %q: want SCRAM-SHA-256 or SCRAM-SHA-512", s)}
}

func scramResult(res kadm.AlteredUserSCRAMs) error {
	for _, u := range res {
		if u.Err != nil {
			if u.ErrMessage != "" {
				return fmt.Errorf("%w: %s", u.Err, u.ErrMessage)
			}
			return u.Err
		}
	}
	return nil
}

// aclFlags name one resource and its bindings, as kafka-acls does.
type aclFlags struct {
	topic, group, txnID string
	cluster, prefixed   bool
	principals          []string
	hosts               []string
	operations          []string
	deny                bool
}

func (f *aclFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.topic, "topic", "", "the topic")
	fl.StringVar(&f.group, "group", "", "the consumer group")
	fl.StringVar(&f.txnID, "transactional-id", "", "the transactional id")
	fl.BoolVar(&f.cluster, "cluster", false, "the cluster")
	fl.BoolVar(&f.prefixed, "prefixed", false, "the name is a prefix (PREFIXED pattern)")
	fl.StringSliceVar(&f.principals, "principal", nil, "principal, e.g. User:alice (repeatable)")
	fl.StringSliceVar(&f.hosts, "host", []string{"*"}, "host (repeatable)")
	fl.StringSliceVar(&f.operations, "operation", nil, "operation: READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS, IDEMPOTENT_WRITE, CLUSTER_ACTION, ALL (repeatable)")
	fl.BoolVar(&f.deny, "deny", false, "a DENY binding (default ALLOW)")
}

// resource returns the one resource the flags name.
func (f *aclFlags) resource() (kmsg.ACLResourceType, string, error) {
	var rt kmsg.ACLResourceType
	var name string
	n := 0
	if f.topic != "" {
		rt, name, n = kmsg.ACLResourceTypeTopic, f.topic, n+1
	}
	if f.group != "" {
		rt, name, n = kmsg.ACLResourceTypeGroup, f.group, n+1
	}
	if f.txnID != "" {
		rt, name, n = kmsg.ACLResourceTypeTransactionalId, f.txnID, n+1
	}
	if f.cluster {
		rt, name, n = kmsg.ACLResourceTypeCluster, "kafka-cluster", n+1
	}
	if n != 1 {
		return 0, "", usageError{errors.New("name one resource: --topic, --group, --transactional-id or --cluster")}
	}
	return rt, name, nil
}

func (f *aclFlags) ops() ([]kmsg.ACLOperation, error) {
	if len(f.operations) == 0 {
		return nil, usageError{errors.New("give at least one --operation")}
	}
	var out []kmsg.ACLOperation
	for _, o := range f.operations {
		op, err := kmsg.ParseACLOperation(strings.ToLower(strings.ReplaceAll(o, "-", "_")))
		if err != nil || op == kmsg.ACLOperationUnknown || op == kmsg.ACLOperationAny {
			return nil, usageError{fmt.Errorf("--operation %q is not a Kafka ACL operation", o)}
		}
		out = append(out, op)
	}
	return out, nil
}

func (f *aclFlags) pattern() kmsg.ACLResourcePatternType {
	if f.prefixed {
		return kmsg.ACLResourcePatternTypePrefixed
	}
	return kmsg.ACLResourcePatternTypeLiteral
}

func (f *aclFlags) permission() kmsg.ACLPermissionType {
	if f.deny {
		return kmsg.ACLPermissionTypeDeny
	}
	return kmsg.ACLPermissionTypeAllow
}

// bindings crosses every --principal, --host and --operation on the one
// resource the flags name.
func (f *aclFlags) bindings() ([]aclreq.Binding, error) {
	rt, name, err := f.resource()
	if err != nil {
		return nil, err
	}
	ops, err := f.ops()
	if err != nil {
		return nil, err
	}
	if len(f.principals) == 0 {
		return nil, usageError{errors.New("give at least one --principal")}
	}
	var out []aclreq.Binding
	for _, p := range f.principals {
		for _, h := range f.hosts {
			for _, op := range ops {
				out = append(out, aclreq.Binding{ResourceType: rt, Resource: name, Pattern: f.pattern(),
					Principal: p, Host: h, Operation: op, Permission: f.permission()})
			}
		}
	}
	return out, nil
}

// strom acl: the cluster's ACLs, as kafka-acls --list/--add/--remove
// (DescribeAcls, CreateAcls, DeleteAcls).
func newACLCmd(d Deps) *cobra.Command {
	cmd := groupCmd(&cobra.Command{Use: "acl", Short: "List, add and remove ACLs"})
	withClient := clientRunner(addClientFlags(cmd, d))

	list := &cobra.Command{Use: "list", Short: "List every ACL", Args: cobra.NoArgs}
	listFormat := outputFlag(list)
	list.RunE = withClient(func(ctx context.Context, cl *kgo.Client, out io.Writer, _ []string) error {
		if err := checkFormat(*listFormat); err != nil {
			return err
		}
		bs, err := aclreq.List(ctx, cl)
		if err != nil {
			return fmt.Errorf("list ACLs: %w", err)
		}
		type acl struct {
			ResourceType string `json:"resource_type" yaml:"resource_type"`
			Resource     string `json:"resource" yaml:"resource"`
			Pattern      string `json:"pattern" yaml:"pattern"`
			Principal    string `json:"principal" yaml:"principal"`
			Host         string `json:"host" yaml:"host"`
			Operation    string `json:"operation" yaml:"operation"`
			Permission   string `json:"permission" yaml:"permission"`
		}
		acls := []acl{}
		for _, b := range bs {
			acls = append(acls, acl{b.ResourceType.String(), b.Resource, b.Pattern.String(),
				b.Principal, b.Host, b.Operation.String(), b.Permission.String()})
		}
		return render(out, *listFormat, acls, func() error {
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RESOURCE-TYPE\tRESOURCE\tPATTERN\tPRINCIPAL\tHOST\tOPERATION\tPERMISSION")
			for _, a := range acls {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ResourceType, a.Resource, a.Pattern, a.Principal, a.Host, a.Operation, a.Permission)
			}
			return tw.Flush()
		})
	})

	var add aclFlags
	addCmd := &cobra.Command{
		Use:   "add",
		Short: "Add ACLs: every --principal, --host and --operation on one resource",
		Args:  cobra.NoArgs,
		RunE: withClient(func(ctx context.Context, cl *kgo.Client, out io.Writer, _ []string) error {
			bs, err := add.bindings()
			if err != nil {
				return err
			}
			if err := aclreq.Create(ctx, cl, bs); err != nil {
				return fmt.Errorf("add ACLs: %w", err)
			}
			fmt.Fprintf(out, "added %d ACLs\n", len(bs))
			return nil
		}),
	}
	add.register(addCmd)

	var rm aclFlags
	rmCmd := &cobra.Command{
		Use:   "remove",
		Short: "Remove the ACLs matching every --principal, --host and --operation on one resource",
		Args:  cobra.NoArgs,
		RunE: withClient(func(ctx context.Context, cl *kgo.Client, out io.Writer, _ []string) error {
			bs, err := rm.bindings()
			if err != nil {
				return err
			}
			removed, err := aclreq.Delete(ctx, cl, bs)
			if err != nil {
				return fmt.Errorf("remove ACLs: %w", err)
			}
			fmt.Fprintf(out, "removed %d ACLs\n", removed)
			return nil
		}),
	}
	rm.register(rmCmd)
	cmd.AddCommand(list, addCmd, rmCmd)
	return cmd
}
