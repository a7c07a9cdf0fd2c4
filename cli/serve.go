package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rallyvoip/rally/core/config"
	"github.com/rallyvoip/rally/core/site"
)

// newServeCmd runs one site's daemon in the foreground until interrupted.
func newServeCmd(f *globalFlags) *cobra.Command {
	var level, format string
	cmd := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "Run one site's daemon",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.config == "" {
				return usageErrorf("serve needs --config FILE")
			}
			logger, err := newLogger(cmd.ErrOrStderr(), level, format)
			if err != nil {
				return usageErrorf("%v", err)
			}
			cfg, err := config.Load(f.config)
			if err != nil {
				return err
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			s, err := site.New(cmd.Context(), cfg, logger, site.WithBuiltinPlugins(exe, builtinPlugins()))
			if err != nil {
				return err
			}
			defer s.Close()
			return s.Serve(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&level, "log-level", "info", "log level: debug, info, warn or error")
	cmd.Flags().StringVar(&format, "log-format", "text", "log format: text or json")
	return cmd
}

func newLogger(w interface{ Write([]byte) (int, error) }, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, errors.New("--log-format: want text or json")
	}
}
