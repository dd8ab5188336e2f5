package flowspec

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
)

// gobgpLogger routes GoBGP's logs to a slog.Logger, with GoBGP's fields as
// attributes.
type gobgpLogger struct {
	l *slog.Logger
}

func newGobgpLogger(l *slog.Logger) gobgpLogger {
	return gobgpLogger{l: l.With("component", "gobgp")}
}

func (g gobgpLogger) log(level slog.Level, msg string, fields gobgplog.Fields) {
	ctx := context.Background()
	if !g.l.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, len(fields))
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		attrs = append(attrs, slog.Any(k, fields[k]))
	}
	g.l.LogAttrs(ctx, level, msg, attrs...)
}

// Panic logs and panics: GoBGP calls it on what it considers a bug.
func (g gobgpLogger) Panic(msg string, fields gobgplog.Fields) {
	g.log(slog.LevelError, msg, fields)
	panic(fmt.Sprintf("gobgp: %s %v", msg, fields))
}

// Fatal logs and panics rather than exiting the process: GoBGP calls it on
// what it considers a bug.
func (g gobgpLogger) Fatal(msg string, fields gobgplog.Fields) {
	g.log(slog.LevelError, msg, fields)
	panic(fmt.Sprintf("gobgp: %s %v", msg, fields))
}

func (g gobgpLogger) Error(msg string, fields gobgplog.Fields) { g.log(slog.LevelError, msg, fields) }
func (g gobgpLogger) Warn(msg string, fields gobgplog.Fields)  { g.log(slog.LevelWarn, msg, fields) }
func (g gobgpLogger) Info(msg string, fields gobgplog.Fields)  { g.log(slog.LevelInfo, msg, fields) }
func (g gobgpLogger) Debug(msg string, fields gobgplog.Fields) { g.log(slog.LevelDebug, msg, fields) }

// SetLevel does nothing: the slog.Logger's handler decides.
func (g gobgpLogger) SetLevel(gobgplog.LogLevel) {}

// GetLevel reports DebugLevel when the handler takes debug records, so
// that GoBGP skips building debug messages otherwise.
func (g gobgpLogger) GetLevel() gobgplog.LogLevel {
	if g.l.Enabled(context.Background(), slog.LevelDebug) {
		return gobgplog.DebugLevel
	}
	return gobgplog.InfoLevel
}
