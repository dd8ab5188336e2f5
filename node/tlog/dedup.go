package tlog

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/transparency-dev/tessera"
	antispam "github.com/transparency-dev/tessera/storage/posix/antispam"
)

// dedupDir is the directory, inside the log's, of the persistent index of
// entries that answers a repeated submission with the first index. Like
// Tessera's own .state, it is not part of the tlog-tiles layout.
const dedupDir = ".dedup"

// dedupStopWait bounds how long Close waits for the index's follower to
// stop before it closes the index's database.
const dedupStopWait = 5 * time.Second

// dedup is Tessera's persistent antispam for the POSIX driver, a Badger
// database mapping each entry's SHA-256 to its index, filled by a follower
// that reads the log. It adds what Tessera v1.0.4 does not offer: waiting
// for the follower to stop, and closing the database, which holds a lock on
// its directory until it is closed.
type dedup struct {
	*antispam.AntispamStorage
	db *badger.DB

	mu        sync.Mutex
	closed    bool
	following []chan struct{} // one per running Follow, closed when it returns
}

func openDedup(ctx context.Context, dir string, pushback uint) (*dedup, error) {
	as, err := antispam.NewAntispam(ctx, dir, antispam.AntispamOpts{PushbackThreshold: pushback})
	if err != nil {
		return nil, fmt.Errorf("failed to open dedup index: %w", err)
	}
	// AntispamStorage has no Close; its database is its unexported field db.
	f := reflect.ValueOf(as).Elem().FieldByName("db")
	if !f.IsValid() || f.Type() != reflect.TypeFor[*badger.DB]() {
		return nil, errors.New("failed to open dedup index: Tessera's antispam storage has no *badger.DB field db to close it with")
	}
	return &dedup{AntispamStorage: as, db: (*badger.DB)(f.UnsafePointer())}, nil
}

// Follower implements tessera.Antispam, keeping track of the follower.
func (d *dedup) Follower(bundleHasher func([]byte) ([][]byte, error)) tessera.Follower {
	return &trackedFollower{Follower: d.AntispamStorage.Follower(bundleHasher), d: d}
}

// processed returns how many entries of the log, from the first, the index
// holds.
func (d *dedup) processed(ctx context.Context) (uint64, error) {
	return d.AntispamStorage.Follower(nil).EntriesProcessed(ctx)
}

// close closes the database once every follower has stopped; the caller
// has cancelled their context.
func (d *dedup) close() error {
	d.mu.Lock()
	d.closed = true
	following := d.following
	d.mu.Unlock()
	timeout := time.After(dedupStopWait)
	for _, done := range following {
		select {
		case <-done:
		case <-timeout:
			return errors.New("failed to close dedup index: its follower did not stop")
		}
	}
	if err := d.db.Close(); err != nil {
		return fmt.Errorf("failed to close dedup index: %w", err)
	}
	return nil
}

type trackedFollower struct {
	tessera.Follower
	d *dedup
}

func (f *trackedFollower) Follow(ctx context.Context, lr tessera.LogReader) {
	done := make(chan struct{})
	defer close(done)
	f.d.mu.Lock()
	if f.d.closed {
		f.d.mu.Unlock()
		return
	}
	f.d.following = append(f.d.following, done)
	f.d.mu.Unlock()
	f.Follower.Follow(ctx, lr)
}
