package sdk

import (
	"io"
	"log/slog"
	"os"
)

// stderr is the process's stderr as it was at start. go-plugin's Serve
// later points os.Stderr at a pipe that it forwards to the host's
// SyncStderr (discarded by default); the host parses the real stderr as
// hclog JSON and re-logs each line at its level.
var stderr = os.Stderr

// hclogTimeFormat is the @timestamp layout go-plugin's host parses.
const hclogTimeFormat = "2006-01-02T15:04:05.000000Z07:00"

// Logger returns the logger a plugin should use: hclog JSON lines on the
// process's real stderr, from debug level up (the host filters by its own
// level). It is safe to call before or after Serve.
func Logger() *slog.Logger {
	return NewLogger(stderr, slog.LevelDebug)
}

// NewLogger returns a slog logger that writes hclog JSON lines
// ("@timestamp", "@level", "@message", then the attributes) to w, from
// level up.
func NewLogger(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level:       level,
		ReplaceAttr: hclogAttr,
	}))
}

func hclogAttr(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.TimeKey:
		return slog.String("@timestamp", a.Value.Time().Format(hclogTimeFormat))
	case slog.LevelKey:
		return slog.String("@level", hclogLevel(a.Value.Any()))
	case slog.MessageKey:
		return slog.String("@message", a.Value.String())
	}
	return a
}

func hclogLevel(v any) string {
	l, ok := v.(slog.Level)
	if !ok {
		return "info"
	}
	switch {
	case l < slog.LevelDebug:
		return "trace"
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	}
	return "error"
}
