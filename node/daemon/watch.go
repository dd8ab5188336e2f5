package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/docket-project/docket/node/p2p"
	"github.com/docket-project/docket/node/tlog"
	"github.com/docket-project/docket/protocol"
)

// maxWatchedFile bounds a file taken from a watch directory: an
// assertion bundle.
const maxWatchedFile = protocol.MaxAssertionBundle

// watcher takes the *.json files that appear in a directory, in name
// order, and hands each to handle: when handle returns nil the file moves
// to dir/done, when it returns an error wrapping *publishError to
// dir/failed, and otherwise it stays to be tried again at the next scan.
type watcher struct {
	role     string
	dir      string
	interval time.Duration
	log      *slog.Logger
	metrics  *metrics
	handle   func(ctx context.Context, data []byte) error
}

func (w *watcher) run(ctx context.Context) {
	for _, sub := range []string{"", "done", "failed"} {
		if err := os.MkdirAll(filepath.Join(w.dir, sub), 0o755); err != nil {
			w.log.Error("failed to create watch directory", "dir", w.dir, "err", err)
			return
		}
	}
	tick := time.NewTicker(w.interval)
	defer tick.Stop()
	for {
		w.scan(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (w *watcher) scan(ctx context.Context) {
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		w.log.Error("failed to read watch directory", "dir", w.dir, "err", err)
		return
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".json") && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	for _, name := range names {
		if ctx.Err() != nil {
			return
		}
		path := filepath.Join(w.dir, name)
		data, err := readLimited(path, maxWatchedFile)
		if err == nil {
			err = w.handle(ctx, data)
		}
		var perr *publishError
		switch {
		case err == nil:
			w.metrics.watched.WithLabelValues(w.role, "done").Inc()
			w.move(path, "done")
		case errors.As(err, &perr):
			w.metrics.watched.WithLabelValues(w.role, "failed").Inc()
			w.log.Warn("file refused; moved to failed", "file", path, "err", err)
			w.move(path, "failed")
		default:
			w.log.Warn("failed to publish file; will try again", "file", path, "err", err)
		}
	}
}

func (w *watcher) move(path, sub string) {
	if err := os.Rename(path, filepath.Join(w.dir, sub, filepath.Base(path))); err != nil {
		w.log.Error("failed to move watched file", "file", path, "err", err)
	}
}

// readLimited reads a file of at most limit bytes; a longer one is
// refused for good.
func readLimited(path string, limit int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(data) > limit {
		return nil, &publishError{fmt.Errorf("%s is larger than %d bytes", path, limit)}
	}
	return data, nil
}

// publishRevocation is the registrar's handling of a revocation file: it
// logs the revocation and gossips it to the ISPs.
func (d *Daemon) publishRevocation(ctx context.Context, data []byte) error {
	sr, err := protocol.DecodeRevocation(data)
	if err != nil {
		return &publishError{err}
	}
	if _, _, err := d.logs.submit(ctx, tlog.KindRevocation, data); err != nil {
		var perr *protocol.Error
		if errors.As(err, &perr) {
			return &publishError{err}
		}
		return err
	}
	msg, err := encodeJSON(&RevocationMessage{Revocation: data})
	if err != nil {
		return &publishError{err}
	}
	pctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	if err := d.node.Publish(pctx, p2p.TopicRevocation, msg); err != nil {
		d.metrics.revocations.WithLabelValues(RoleRegistrar, "gossip_failed").Inc()
		return fmt.Errorf("revocation %s is logged but not gossiped: %w", sr.ID, err)
	}
	d.metrics.revocations.WithLabelValues(RoleRegistrar, "published").Inc()
	d.log.Info("revocation published", "role", RoleRegistrar, "revocation", sr.ID, "credential", sr.Revocation.Credential)
	return nil
}
