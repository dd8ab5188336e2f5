package tlog

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/transparency-dev/formats/log"
	fproof "github.com/transparency-dev/formats/proof"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera"
	"golang.org/x/mod/sumdb/note"
)

// Proof shows that a submission is in the log: the JSON object the log
// returns for an accepted submission. Index and Inclusion prove its first
// entry (see Entries); More proves the others, in order. See the package
// documentation.
type Proof struct {
	// Index is the position of the submission's first entry in the log,
	// from 0.
	Index uint64 `json:"index"`
	// Checkpoint is a c2sp.org/tlog-checkpoint signed note whose tree
	// contains every entry of the submission.
	Checkpoint string `json:"checkpoint"`
	// Inclusion is the RFC 6962 inclusion proof of the first entry in the
	// checkpoint's tree, leaf to root; each hash is 32 bytes, base64 in JSON.
	Inclusion [][]byte `json:"inclusion"`
	// More proves each further entry of the submission, in the order of
	// Entries; absent when the submission is one entry.
	More []EntryProof `json:"more,omitempty"`
}

// EntryProof is the index and inclusion proof of one further entry of a
// submission, in the tree of the Proof's checkpoint.
type EntryProof struct {
	Index     uint64   `json:"index"`
	Inclusion [][]byte `json:"inclusion"`
}

// Verify checks that p proves entries, the first len(entries) entries of a
// submission as Entries returns them (all of them, or those of its object
// alone), in a checkpoint signed by the log's key, and returns the
// checkpoint. It checks no witness cosignature. Verify is pure: it does no
// I/O.
func (p *Proof) Verify(entries [][]byte, logKey note.Verifier) (*log.Checkpoint, error) {
	cp, _, _, err := log.ParseCheckpoint([]byte(p.Checkpoint), logKey.Name(), logKey)
	if err != nil {
		return nil, fmt.Errorf("failed to verify checkpoint: %w", err)
	}
	if len(entries) == 0 || len(entries) > 1+len(p.More) {
		return nil, fmt.Errorf("proof covers %d entries, not the %d given", 1+len(p.More), len(entries))
	}
	all := append([]EntryProof{{Index: p.Index, Inclusion: p.Inclusion}}, p.More...)
	for i, entry := range entries {
		e := all[i]
		leaf := rfc6962.DefaultHasher.HashLeaf(entry)
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, e.Index, cp.Size, leaf, e.Inclusion, cp.Hash); err != nil {
			return nil, fmt.Errorf("failed to verify inclusion of entry %d (index %d) in a tree of %d: %w", i, e.Index, cp.Size, err)
		}
	}
	return cp, nil
}

// TLogProof returns the proof of the submission's first entry in the
// c2sp.org/tlog-proof format. That entry is the submitted object itself
// when the object fits one entry, as every revocation and nearly every
// credential and assertion does; for an assertion it does not cover the
// sealed sections, which the signed object binds by their digests. It is
// an error if the object is stored in parts (see ObjectFitsOneEntry).
func (p *Proof) TLogProof(entries [][]byte) ([]byte, error) {
	if len(entries) == 0 || IsPart(entries[0]) {
		return nil, errors.New("the object is stored in several entries, and a tlog-proof proves one")
	}
	hashes := make([][32]byte, len(p.Inclusion))
	for i, h := range p.Inclusion {
		if len(h) != 32 {
			return nil, fmt.Errorf("inclusion proof hash %d is %d bytes", i, len(h))
		}
		hashes[i] = [32]byte(h)
	}
	return fproof.TLogProof{Index: p.Index, Hashes: hashes, Checkpoint: []byte(p.Checkpoint)}.Marshal(), nil
}

// ObjectFitsOneEntry reports whether the object of a submission, given as
// Entries returns its entries, is one entry, which a c2sp.org/tlog-proof
// can prove.
func ObjectFitsOneEntry(entries [][]byte) bool { return len(entries) > 0 && !IsPart(entries[0]) }

// Submit appends data, one signed object of the given kind (KindAuto to
// detect it), and returns its Proof once a published checkpoint covers
// every entry it is stored in (see Entries). An entry identical to one in
// the log already, submitted before or after a restart of the log, is not
// appended again: the proof gives the earlier index.
//
// If the log rejects data, as Check does or, in a log that trusts
// registrars, because its signature does not verify with a key the log
// trusts (see Config.Registrars), the error is a *protocol.Error whose
// code protocol.CodeOf returns, and nothing is appended. Any other error is
// a failure of the log or ctx (errors.Is(err, tessera.ErrPushback) when
// the log is overloaded); some entries may then be appended, and
// submitting data again completes the submission without repeating them.
func (l *Log) Submit(ctx context.Context, kind Kind, data []byte) (*Proof, error) {
	d, entries, err := l.prepare(kind, data)
	if err != nil {
		return nil, err
	}
	return l.commit(ctx, d, entries)
}

// prepare decodes a submission, verifies its signature if the log trusts
// registrars, and returns it with its entries.
func (l *Log) prepare(kind Kind, data []byte) (*decoded, [][]byte, error) {
	d, err := decode(kind, data)
	if err != nil {
		return nil, nil, err
	}
	if l.trust != nil {
		if err := l.trust.verify(&d); err != nil {
			return nil, nil, err
		}
	}
	entries, err := d.entries()
	if err != nil {
		return nil, nil, err
	}
	return &d, entries, nil
}

// commit appends a prepared submission's entries, waits for their proof,
// and then records what a later submission's verification needs: a
// credential's key. A credential already logged, answered with its first
// index, is recorded again, which completes a submission interrupted
// between publication and recording.
func (l *Log) commit(ctx context.Context, d *decoded, entries [][]byte) (*Proof, error) {
	p, err := l.submitEntries(ctx, entries)
	if err != nil {
		return nil, err
	}
	if l.trust != nil {
		if err := l.trust.record(d); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func (l *Log) submitEntries(ctx context.Context, entries [][]byte) (*Proof, error) {
	// After a restart, the dedup index first catches up with the log.
	select {
	case <-l.dedupReady:
	case <-ctx.Done():
		return nil, fmt.Errorf("failed to append entry: %w", ctx.Err())
	}
	futures := make([]tessera.IndexFuture, len(entries))
	for i, e := range entries {
		futures[i] = l.add(ctx, tessera.NewEntry(e))
	}
	indexes := make([]uint64, len(entries))
	dups := 0
	for i, f := range futures {
		idx, err := f()
		if err != nil {
			return nil, fmt.Errorf("failed to append entry: %w", err)
		}
		indexes[i] = idx.Index
		if idx.IsDup {
			dups++
		}
	}
	cp, err := l.published.await(ctx, slices.Max(indexes)+1)
	if err != nil {
		return nil, fmt.Errorf("failed to await checkpoint: %w", err)
	}
	proofs, err := l.prover.inclusion(ctx, cp.size, indexes)
	if err != nil {
		return nil, err
	}
	p := &Proof{Index: indexes[0], Checkpoint: string(cp.raw), Inclusion: proofs[0]}
	for i := 1; i < len(indexes); i++ {
		p.More = append(p.More, EntryProof{Index: indexes[i], Inclusion: proofs[i]})
	}
	l.logger.Debug("entries published", "index", indexes[0], "entries", len(entries), "dup", dups, "size", cp.size)
	return p, nil
}
