package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
)

// envAdmin names the environment variable that sets the default admin
// address when neither --admin nor --config is given.
const envAdmin = "RALLY_ADMIN"

// defaultTimeout bounds each unary admin call (not --watch).
const defaultTimeout = 30 * time.Second

// globalFlags holds the persistent flags every command shares. The flags
// are bound to its fields in NewRootCmd; there are no package-level flag
// variables.
type globalFlags struct {
	// admin is the admin API address: unix:///path.sock or host:port.
	admin string
	// config is a site configuration file; the admin address and the CA
	// are then read from it (serve reads the whole site from it).
	config string
	// cert, key and ca are the operator's mutual-TLS files for a remote
	// (host:port) admin address.
	cert, key, ca string
	// timeout bounds each unary admin call; 0 means no bound.
	timeout time.Duration

	// now and loc render relative and wall-clock times in tables; tests
	// pin them.
	now func() time.Time
	loc *time.Location
}

// NewRootCmd builds the rally command tree writing to out and errOut.
func NewRootCmd(out, errOut io.Writer) *cobra.Command {
	f := &globalFlags{now: time.Now, loc: time.Local}
	root := &cobra.Command{
		Use:   "rally",
		Short: "Keep IP phones working when their site's phone system goes down",
		Long: `rally links sites (one phone system each) into a federation. Each site
replicates backup records of its phones, users, hunt groups and voicemail
boxes to its backup site; when a home site dies its phones register at the
backup as guests, and fail back when the home returns.

Commands that talk to a running daemon find its admin API through --admin,
--config or the ` + envAdmin + ` environment variable, in that order.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(out)
	root.SetErr(errOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &usageError{err: err}
	})

	pf := root.PersistentFlags()
	pf.StringVar(&f.admin, "admin", "", "admin API address `ADDR`: unix:///path.sock or host:port (default $"+envAdmin+")")
	pf.StringVar(&f.config, "config", "", "site configuration `FILE` (admin address and CA are read from it)")
	pf.StringVar(&f.cert, "cert", "", "operator certificate `FILE` for a remote admin address")
	pf.StringVar(&f.key, "key", "", "operator private key `FILE` for a remote admin address")
	pf.StringVar(&f.ca, "ca", "", "federation root CA `FILE` for a remote admin address")
	pf.DurationVar(&f.timeout, "timeout", defaultTimeout, "bound on each admin call (0 for none)")

	root.AddCommand(
		newServeCmd(f),
		newPKICmd(f),
		newLinkCmd(f),
		newUnlinkCmd(f),
		newFailbackCmd(f),
		newStatusCmd(f),
		newPhonesCmd(f),
		newHotDeskCmd(f),
		newCheckCmd(f),
		newPluginCmd(f),
		newDemoCmd(f),
		newPluginServeCmd(),
	)
	return root
}

// Main runs the rally command line with args (without the program name) and
// returns the process exit code: 0 on success, 1 on any error, which is
// printed to errOut as "rally: <error>".
func Main(ctx context.Context, args []string, out, errOut io.Writer) int {
	root := NewRootCmd(out, errOut)
	if args == nil {
		args = []string{} // cobra reads os.Args when args is nil
	}
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintf(errOut, "rally: %v\n", err)
	var ue *usageError
	if errors.As(err, &ue) && cmd != nil {
		fmt.Fprintf(errOut, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return 1
}

// usageError is a mistake on the command line (as opposed to a failure
// while doing the work); Main follows it with a pointer to --help.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// exactArgs accepts exactly the named positional arguments.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < len(names):
			return usageErrorf("%s: missing %s", cmd.Name(), names[len(args)])
		case len(args) > len(names):
			return usageErrorf("%s: unexpected argument %q", cmd.Name(), args[len(names)])
		}
		return nil
	}
}

// noArgs refuses positional arguments.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("%s: unexpected argument %q", cmd.Name(), args[0])
	}
	return nil
}
