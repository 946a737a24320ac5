package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// newDocsCmd generates reference pages from the command tree, so they can
// never disagree with the flags.
func newDocsCmd() *cobra.Command {
	cmd := groupCmd(&cobra.Command{Use: "docs", Short: "Generate man pages and markdown reference from the command tree"})
	man := &cobra.Command{
		Use:   "man DIR",
		Short: "Write one man page (section 1) per command into DIR",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return err
			}
			hdr := &doc.GenManHeader{Title: "STROM", Section: "1", Source: "strom " + Version, Manual: "Strom manual"}
			root := cmd.Root()
			root.DisableAutoGenTag = true
			if err := doc.GenManTree(root, hdr, args[0]); err != nil {
				return fmt.Errorf("write man pages: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "man pages written to %s\n", args[0])
			return nil
		},
	}
	md := &cobra.Command{
		Use:   "markdown DIR",
		Short: "Write one markdown page per command into DIR",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return err
			}
			root := cmd.Root()
			root.DisableAutoGenTag = true
			if err := doc.GenMarkdownTree(root, args[0]); err != nil {
				return fmt.Errorf("write markdown pages: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "markdown pages written to %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(man, md)
	return cmd
}
