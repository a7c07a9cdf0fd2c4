package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// newPKICmd groups the federation PKI commands. They work on files only
// and never talk to a daemon.
func newPKICmd(f *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pki",
		Short: "Create the federation root CA and issue site and operator certificates",
		Long: `pki manages the federation's certificates in a directory on disk.

Every site of a federation must hold an identity certificate issued by the
same root CA (URI SAN rally://site/NAME); operators administer a site
remotely with an operator certificate (URI SAN rally://operator/NAME).`,
	}
	cmd.AddCommand(newPKIInitCmd(f), newPKIIssueCmd(f))
	return cmd
}

// validityValue is a --validity flag: a Go duration ("8760h") or a number
// of days ("365d").
type validityValue struct {
	d   *time.Duration
	set bool
}

func (v *validityValue) String() string {
	if v.d == nil || *v.d == 0 {
		return ""
	}
	return v.d.String()
}

func (v *validityValue) Type() string { return "duration" }

func (v *validityValue) Set(s string) error {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil {
			return fmt.Errorf("%q: want a duration such as 720h or 30d", s)
		}
		d = time.Duration(n * float64(24*time.Hour))
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return fmt.Errorf("%q: want a duration such as 720h or 30d", s)
		}
	}
	if d <= 0 {
		return fmt.Errorf("%q: must be positive", s)
	}
	*v.d, v.set = d, true
	return nil
}

// or returns the flag's value, or def when it was not set.
func (v *validityValue) or(def time.Duration) time.Duration {
	if v.set {
		return *v.d
	}
	return def
}
