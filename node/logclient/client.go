package logclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
	sumtlog "golang.org/x/mod/sumdb/tlog"

	"github.com/docket-project/docket/internal/atomicfile"
	"github.com/docket-project/docket/node/tlog"
)

// ErrNoCheckpoint is returned by the Client's reading methods before it has
// accepted any checkpoint.
var ErrNoCheckpoint = errors.New("no checkpoint accepted yet: update first")

// ErrIndexOutOfRange is wrapped by the errors for an entry index at or past
// the tree size.
var ErrIndexOutOfRange = errors.New("index out of range")

// ErrInclusion is wrapped by VerifyProof's error for an inclusion proof
// that does not lead from the entry to the checkpoint's root.
var ErrInclusion = errors.New("inclusion proof does not verify")

// SplitViewError reports two checkpoints of one log, both validly signed,
// that cannot both be true: the same size with different roots, or a
// larger tree whose first entries do not hash to the smaller tree's root.
// A log that shows them has shown different clients different logs. The
// notes are the evidence; anyone with the log's key can check them.
type SplitViewError struct {
	// Origin is the log's origin.
	Origin string
	// OldSize and OldRoot are the tree of the checkpoint held (accepted
	// before), OldNote the checkpoint itself.
	OldSize uint64
	OldRoot sumtlog.Hash
	OldNote []byte
	// NewSize and NewRoot are the tree of the checkpoint presented, NewNote
	// the checkpoint itself.
	NewSize uint64
	NewRoot sumtlog.Hash
	NewNote []byte
}

func (e *SplitViewError) Error() string {
	return fmt.Sprintf("split view of log %s: the checkpoint of size %d (root %s) is not consistent with the one of size %d (root %s)",
		e.Origin, e.NewSize, e.NewRoot, e.OldSize, e.OldRoot)
}

// Client follows one log: it keeps the last checkpoint it accepted, in a
// state file if it has one, accepts a new checkpoint only if it is
// consistent with that one, and reads and proves entries against it. Its
// methods are safe for concurrent use.
type Client struct {
	src      Source
	verifier *Verifier
	state    string

	mu     sync.Mutex
	latest *Checkpoint // guarded by mu
}

// NewClient returns a Client reading the log from src and opening its
// checkpoints with v. If statePath is not empty, the Client keeps the last
// checkpoint it accepted in that file (created on the first Update) and
// starts from the one it holds: a client that restarts still refuses a
// checkpoint inconsistent with what it saw before. The checkpoint in the
// file must be signed by the log's key; it needs no cosignatures, as it
// was accepted under the policy of its day.
func NewClient(src Source, v *Verifier, statePath string) (*Client, error) {
	c := &Client{src: src, verifier: v, state: statePath}
	if statePath == "" {
		return c, nil
	}
	data, err := os.ReadFile(statePath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return c, nil
	case err != nil:
		return nil, fmt.Errorf("failed to read log client state: %w", err)
	}
	cp, err := v.logOnly().Open(data)
	if err != nil {
		return nil, fmt.Errorf("failed to read log client state %s: %w", statePath, err)
	}
	c.latest = cp
	return c, nil
}

// Latest returns the last checkpoint the Client accepted, or nil.
func (c *Client) Latest() *Checkpoint {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.latest
}

// Update reads the log's checkpoint, opens it with the Verifier, checks
// that it is consistent with the checkpoint held, and if it is, holds it
// (and writes it to the state file) and returns it.
//
// A checkpoint inconsistent with the one held is refused with a
// *SplitViewError, and nothing changes. A checkpoint older than the one
// held but consistent with it (a stale mirror) is not taken: Update returns
// the one held. A checkpoint the Verifier refuses is refused with its
// error. Any other error is a failure to read or prove, which proves
// nothing about the log.
func (c *Client) Update(ctx context.Context) (*Checkpoint, error) {
	raw, err := c.src.ReadFile(ctx, layout.CheckpointPath)
	if err != nil {
		return nil, err
	}
	cp, err := c.verifier.Open(raw)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.latest; old != nil {
		if err := c.CheckConsistency(ctx, old, cp); err != nil {
			return nil, err
		}
		if cp.Size < old.Size || bytes.Equal(cp.Note, old.Note) {
			return old, nil
		}
	}
	if c.state != "" {
		if err := atomicfile.Write(c.state, cp.Note, 0o644); err != nil {
			return nil, fmt.Errorf("failed to save log client state: %w", err)
		}
	}
	c.latest = cp
	return cp, nil
}

// CheckConsistency checks that two checkpoints of the log describe one
// append-only history: at the same size they must have the same root;
// otherwise the larger tree must extend the smaller, which it proves with
// a consistency proof (RFC 6962) built from the log's tiles, authenticated
// against the larger checkpoint's root: a log presenting a checkpoint
// smaller than old must still serve the tiles of old's tree. It returns a
// *SplitViewError, old and cp in the roles of its Old and New, if they do
// not; any other error is a failure to read or prove.
func (c *Client) CheckConsistency(ctx context.Context, old, cp *Checkpoint) error {
	split := &SplitViewError{Origin: cp.Origin,
		OldSize: old.Size, OldRoot: old.Hash, OldNote: old.Note,
		NewSize: cp.Size, NewRoot: cp.Hash, NewNote: cp.Note}
	small, large := old, cp
	if small.Size > large.Size {
		small, large = large, small
	}
	switch {
	case small.Size == large.Size:
		if small.Hash != large.Hash {
			return split
		}
		return nil
	case small.Size == 0:
		return nil // every tree extends the empty one
	}
	hr := sumtlog.TileHashReader(large.Tree(), &tileReader{ctx: ctx, src: c.src})
	proof, err := sumtlog.ProveTree(int64(large.Size), int64(small.Size), hr)
	if err != nil {
		return fmt.Errorf("failed to prove consistency of sizes %d and %d from the log's tiles: %w", small.Size, large.Size, err)
	}
	if sumtlog.CheckTree(proof, int64(large.Size), large.Hash, int64(small.Size), small.Hash) != nil {
		return split
	}
	return nil
}

// Entry returns entry index of the log, as the checkpoint held covers it:
// its leaf hash is read from tiles authenticated against the checkpoint's
// root, and the entry's bytes must hash to it.
func (c *Client) Entry(ctx context.Context, index uint64) ([]byte, error) {
	cp, err := c.covering(index)
	if err != nil {
		return nil, err
	}
	hr := sumtlog.TileHashReader(cp.Tree(), &tileReader{ctx: ctx, src: c.src})
	leaf, err := hr.ReadHashes([]int64{sumtlog.StoredHashIndex(0, int64(index))})
	if err != nil {
		return nil, fmt.Errorf("failed to read entry %d: %w", index, err)
	}
	bundle := index / layout.EntryBundleWidth
	width := min(cp.Size-bundle*layout.EntryBundleWidth, layout.EntryBundleWidth)
	partial := ""
	if width < layout.EntryBundleWidth {
		partial = layout.EntriesPath(bundle, uint8(width))
	}
	data, err := readPartial(ctx, c.src, partial, layout.EntriesPath(bundle, 0))
	if err != nil {
		return nil, fmt.Errorf("failed to read entry %d: %w", index, err)
	}
	var eb api.EntryBundle
	if err := eb.UnmarshalText(data); err != nil {
		return nil, fmt.Errorf("failed to read entry %d: malformed entry bundle: %w", index, err)
	}
	i := index % layout.EntryBundleWidth
	if uint64(len(eb.Entries)) <= i {
		return nil, fmt.Errorf("failed to read entry %d: the entry bundle holds %d entries", index, len(eb.Entries))
	}
	entry := eb.Entries[i]
	if sumtlog.RecordHash(entry) != leaf[0] {
		return nil, fmt.Errorf("failed to read entry %d: the entry bundle does not match the tree of size %d", index, cp.Size)
	}
	return bytes.Clone(entry), nil
}

// Prove returns the inclusion proof of entry index in the tree of the
// checkpoint held, built from tiles authenticated against its root: the
// Proof object the log returns for a submission (package node/tlog).
func (c *Client) Prove(ctx context.Context, index uint64) (*tlog.Proof, error) {
	cp, err := c.covering(index)
	if err != nil {
		return nil, err
	}
	hr := sumtlog.TileHashReader(cp.Tree(), &tileReader{ctx: ctx, src: c.src})
	rp, err := sumtlog.ProveRecord(int64(cp.Size), int64(index), hr)
	if err != nil {
		return nil, fmt.Errorf("failed to prove entry %d: %w", index, err)
	}
	p := &tlog.Proof{Index: index, Checkpoint: string(cp.Note), Inclusion: make([][]byte, len(rp))}
	for i := range rp {
		p.Inclusion[i] = bytes.Clone(rp[i][:])
	}
	return p, nil
}

// covering returns the checkpoint held if its tree contains index.
func (c *Client) covering(index uint64) (*Checkpoint, error) {
	cp := c.Latest()
	switch {
	case cp == nil:
		return nil, ErrNoCheckpoint
	case index >= cp.Size:
		return nil, fmt.Errorf("entry %d: %w: the tree has %d entries", index, ErrIndexOutOfRange, cp.Size)
	}
	return cp, nil
}

// VerifyProof verifies, offline, that entry is in the log: p's checkpoint
// must open with v (the log's signature and the required cosignatures) and
// p's inclusion proof must lead from the entry's leaf hash at p.Index to
// the checkpoint's root. It returns the checkpoint. An error is Open's, or
// wraps ErrIndexOutOfRange or ErrInclusion.
func (v *Verifier) VerifyProof(p *tlog.Proof, entry []byte) (*Checkpoint, error) {
	cp, err := v.Open([]byte(p.Checkpoint))
	if err != nil {
		return nil, err
	}
	if p.Index >= cp.Size {
		return nil, fmt.Errorf("entry %d: %w: the checkpoint's tree has %d entries", p.Index, ErrIndexOutOfRange, cp.Size)
	}
	rp := make(sumtlog.RecordProof, len(p.Inclusion))
	for i, h := range p.Inclusion {
		if len(h) != sumtlog.HashSize {
			return nil, fmt.Errorf("entry %d: %w: proof hash %d has %d bytes", p.Index, ErrInclusion, i, len(h))
		}
		rp[i] = sumtlog.Hash(h)
	}
	if err := sumtlog.CheckRecord(rp, int64(cp.Size), cp.Hash, int64(p.Index), sumtlog.RecordHash(entry)); err != nil {
		return nil, fmt.Errorf("entry %d: %w in the tree of size %d", p.Index, ErrInclusion, cp.Size)
	}
	return cp, nil
}

// tileReader is a sumtlog.TileReader over a Source in the tlog-tiles
// layout, whose paths, unlike sumdb's, do not carry the tile height.
type tileReader struct {
	ctx context.Context
	src Source
}

func (r *tileReader) Height() int { return layout.TileHeight }

func (r *tileReader) ReadTiles(tiles []sumtlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		if t.H != layout.TileHeight || t.L < 0 || t.W < 1 || t.W > layout.TileWidth {
			return nil, fmt.Errorf("tile %v is not a hash tile of height %d", t, layout.TileHeight)
		}
		partial := ""
		if t.W < layout.TileWidth {
			partial = layout.TilePath(uint64(t.L), uint64(t.N), uint8(t.W))
		}
		data, err := readPartial(r.ctx, r.src, partial, layout.TilePath(uint64(t.L), uint64(t.N), 0))
		if err != nil {
			return nil, err
		}
		// A full tile stands in for a missing partial one: its prefix.
		// TileHashReader checks lengths and authenticates the contents.
		if len(data) > t.W*sumtlog.HashSize {
			data = data[:t.W*sumtlog.HashSize]
		}
		out[i] = data
	}
	return out, nil
}

func (r *tileReader) SaveTiles([]sumtlog.Tile, [][]byte) {}
