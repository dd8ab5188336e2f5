package tlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
)

// Polling periods of the published checkpoint: while a submission waits
// for one, and otherwise.
const (
	awaitPoll = 5 * time.Millisecond
	idlePoll  = time.Second
)

// checkpoint is a published checkpoint: its signed note and its tree size.
type checkpoint struct {
	raw  []byte
	size uint64
}

// published follows the log's published checkpoint by reading it, often
// while submissions wait for it and seldom otherwise: Tessera's POSIX
// driver publishes it as a file and notifies nobody.
type published struct {
	read func(context.Context) ([]byte, error)

	mu      sync.Mutex
	cur     checkpoint
	changed chan struct{} // closed and replaced when cur changes
	waiters int
	stopped error // set when the log closes
}

func newPublished(read func(context.Context) ([]byte, error)) *published {
	return &published{read: read, changed: make(chan struct{})}
}

// run polls the checkpoint until ctx is done.
func (p *published) run(ctx context.Context) {
	t := time.NewTicker(awaitPoll)
	defer t.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			p.mu.Lock()
			p.stopped = errors.New("log is closed")
			close(p.changed)
			p.mu.Unlock()
			return
		case now := <-t.C:
			p.mu.Lock()
			idle := p.waiters == 0
			p.mu.Unlock()
			if idle && now.Sub(last) < idlePoll {
				continue
			}
			last = now
			_, _ = p.refresh(ctx)
		}
	}
}

// refresh reads the published checkpoint and returns the latest one.
func (p *published) refresh(ctx context.Context) (checkpoint, error) {
	raw, err := p.read(ctx)
	if errors.Is(err, fs.ErrNotExist) {
		return p.latest(), nil
	}
	if err != nil {
		return p.latest(), fmt.Errorf("failed to read checkpoint: %w", err)
	}
	var c log.Checkpoint
	if _, err := c.Unmarshal(raw); err != nil {
		return p.latest(), fmt.Errorf("failed to parse checkpoint: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// A checkpoint is replaced by a larger one, or by the same tree with
	// other (co)signatures; never by a smaller one read late.
	if p.stopped == nil && (c.Size > p.cur.size || c.Size == p.cur.size && !bytes.Equal(raw, p.cur.raw)) {
		p.cur = checkpoint{raw: raw, size: c.Size}
		close(p.changed)
		p.changed = make(chan struct{})
	}
	return p.cur, nil
}

// latest returns the latest checkpoint read.
func (p *published) latest() checkpoint {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur
}

// await returns the first checkpoint read of a tree of at least n entries.
func (p *published) await(ctx context.Context, n uint64) (checkpoint, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.waiters++
	defer func() { p.waiters-- }()
	for p.cur.size < n {
		if p.stopped != nil {
			return checkpoint{}, p.stopped
		}
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
		}
		p.mu.Lock()
		if err := ctx.Err(); err != nil {
			return checkpoint{}, err
		}
	}
	return p.cur, nil
}

// maxProverTiles bounds the tiles a prover keeps: 1024 tiles of at most
// 511 hashes, 16 MiB.
const maxProverTiles = 1024

// prover builds inclusion proofs from the log's tiles. It keeps the tiles
// it reads, with every node they contain: a tile stores the bottom row of
// an 8-level subtree, and a proof needs nodes from every row, which
// Tessera's client.ProofBuilder recomputes from the bottom row on each
// request. Full tiles never change and are kept across checkpoints.
type prover struct {
	tiles func(ctx context.Context, level, index uint64, p uint8) ([]byte, error)

	mu    sync.Mutex
	size  uint64 // tree size of the partial tiles in cache
	cache map[tileKey]*tileNodes
}

type tileKey struct {
	level, index uint64
}

// tileNodes holds the nodes of one tile: rows[0] is the tile's stored row,
// rows[k] the complete nodes k levels above it, computed when needed.
type tileNodes struct {
	rows [][][]byte
}

// inclusion returns the inclusion proof of each index in the tree of size
// entries.
func (p *prover) inclusion(ctx context.Context, size uint64, indexes []uint64) ([][][]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if size != p.size || len(p.cache) > maxProverTiles {
		// Partial tiles belong to one tree size; full ones to all.
		for k, t := range p.cache {
			if len(t.rows[0]) < layout.TileWidth || len(p.cache) > maxProverTiles {
				delete(p.cache, k)
			}
		}
		p.size = size
	}
	if p.cache == nil {
		p.cache = map[tileKey]*tileNodes{}
	}
	proofs := make([][][]byte, len(indexes))
	for i, index := range indexes {
		nodes, err := proof.Inclusion(index, size)
		if err != nil {
			return nil, fmt.Errorf("failed to build inclusion proof of entry %d in a tree of %d: %w", index, size, err)
		}
		hashes := make([][]byte, len(nodes.IDs))
		for j, id := range nodes.IDs {
			if hashes[j], err = p.node(ctx, size, id); err != nil {
				return nil, fmt.Errorf("failed to build inclusion proof of entry %d in a tree of %d: %w", index, size, err)
			}
		}
		if hashes, err = nodes.Rehash(hashes, rfc6962.DefaultHasher.HashChildren); err != nil {
			return nil, fmt.Errorf("failed to build inclusion proof of entry %d in a tree of %d: %w", index, size, err)
		}
		if hashes == nil {
			hashes = [][]byte{} // [] in JSON, not null
		}
		proofs[i] = hashes
	}
	return proofs, nil
}

// node returns the hash of a complete node of the tree of size entries.
func (p *prover) node(ctx context.Context, size uint64, id compact.NodeID) ([]byte, error) {
	tileLevel, tileIndex, level, index := layout.NodeCoordsToTileAddress(uint64(id.Level), id.Index)
	k := tileKey{tileLevel, tileIndex}
	t := p.cache[k]
	if t == nil {
		raw, err := p.tiles(ctx, tileLevel, tileIndex, layout.PartialTileSize(tileLevel, tileIndex, size))
		if err != nil {
			return nil, fmt.Errorf("failed to read tile %d/%d: %w", tileLevel, tileIndex, err)
		}
		var h api.HashTile
		if err := h.UnmarshalText(raw); err != nil {
			return nil, fmt.Errorf("failed to parse tile %d/%d: %w", tileLevel, tileIndex, err)
		}
		t = &tileNodes{rows: [][][]byte{h.Nodes}}
		p.cache[k] = t
	}
	for len(t.rows) <= int(level) {
		below := t.rows[len(t.rows)-1]
		row := make([][]byte, len(below)/2)
		for i := range row {
			row[i] = rfc6962.DefaultHasher.HashChildren(below[2*i], below[2*i+1])
		}
		t.rows = append(t.rows, row)
	}
	if row := t.rows[level]; index < uint64(len(row)) {
		return row[index], nil
	}
	return nil, fmt.Errorf("node %d/%d is not in tile %d/%d of a tree of %d", id.Level, id.Index, tileLevel, tileIndex, size)
}
