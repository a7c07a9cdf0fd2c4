package cli

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/rallyvoip/rally/core/pki"
)

func newPKIInitCmd(_ *globalFlags) *cobra.Command {
	var (
		dir      string
		validity time.Duration
	)
	vv := &validityValue{d: &validity}
	cmd := &cobra.Command{
		Use:   "init --dir DIR [--validity D]",
		Short: "Create the federation root CA in DIR",
		Long: `init creates the federation's root CA (certificate and private key) in DIR.
Keep DIR private: whoever holds the CA key can join sites to the federation.`,
		Example: "  rally pki init --dir pki\n  rally pki init --dir pki --validity 3650d",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return usageErrorf("pki init: --dir is required")
			}
			if err := pki.InitCA(dir, vv.or(pki.DefaultCAValidity)); err != nil {
				return err // pki errors name themselves ("pki: ...")
			}
			out := cmd.OutOrStdout()
			certPath, keyPath := filepath.Join(dir, pki.CACertFile), filepath.Join(dir, pki.CAKeyFile)
			fmt.Fprintf(out, "wrote %s\n", certPath)
			fmt.Fprintf(out, "wrote %s\n", keyPath)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory `DIR` to create the CA in (created if needed)")
	cmd.Flags().Var(vv, "validity", "CA lifetime, e.g. 87600h or 3650d (default "+pki.DefaultCAValidity.String()+")")
	return cmd
}
