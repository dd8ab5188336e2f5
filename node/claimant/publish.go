package claimant

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"

	"github.com/docket-project/docket/internal/atomicfile"
	"github.com/docket-project/docket/protocol"
)

// Publisher takes each assertion a Claimant builds to where ISPs can get
// it.
//
// Publish is given a full bundle (spec/SPEC.md §5.7) and its assertion
// id; it must not modify the bundle or keep it after returning. It returns
// nil once the bundle has reached its destination, and an error if it may
// not have: the Claimant reports the error and does not offer that bundle
// again, since the next round brings a fresher one. Publish must give up
// when ctx is done.
type Publisher interface {
	Publish(ctx context.Context, bundle []byte, id protocol.ID) error
}

// FilePublisher writes each bundle to a file of its own in a directory,
// named by a sequence number and the assertion id:
// 000001-<id>.json, 000002-<id>.json, ... A file appears whole or not at
// all. It is safe for concurrent use.
type FilePublisher struct {
	dir string

	mu  sync.Mutex
	seq int // the number of the last file written
}

// fileName matches the names FilePublisher writes.
var fileName = regexp.MustCompile(`^([0-9]{6,})-[0-9a-f]{64}\.json$`)

// NewFilePublisher returns a FilePublisher writing into dir, which is
// created when the first bundle is written if it does not exist.
// Numbering continues after the highest number already there.
func NewFilePublisher(dir string) (*FilePublisher, error) {
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("failed to open output directory: %w", err)
	}
	p := &FilePublisher{dir: dir}
	for _, e := range entries {
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		if n, err := strconv.Atoi(m[1]); err == nil && n > p.seq {
			p.seq = n
		}
	}
	return p, nil
}

// Publish writes bundle to the directory as the next file.
func (p *FilePublisher) Publish(ctx context.Context, bundle []byte, id protocol.ID) error {
	if !id.Valid() {
		return fmt.Errorf("failed to publish: %q is not an assertion id", id)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("failed to publish %s: %w", id, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return fmt.Errorf("failed to publish %s: %w", id, err)
	}
	path := filepath.Join(p.dir, fmt.Sprintf("%06d-%s.json", p.seq+1, id))
	if err := atomicfile.Write(path, bundle, 0o644); err != nil {
		return err
	}
	p.seq++
	return nil
}

// MultiPublisher publishes to each of its publishers, concurrently. One
// failing does not keep the bundle from the others; Publish returns every
// error, joined.
type MultiPublisher []Publisher

// Publish hands bundle to every publisher and waits for all of them.
func (m MultiPublisher) Publish(ctx context.Context, bundle []byte, id protocol.ID) error {
	errs := make([]error, len(m))
	var wg sync.WaitGroup
	for i, p := range m {
		wg.Go(func() { errs[i] = p.Publish(ctx, bundle, id) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
