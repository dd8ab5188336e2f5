package isp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"

	"github.com/docket-project/docket/node/store"
	"github.com/docket-project/docket/node/tlog"
	"github.com/docket-project/docket/protocol"
)

// maxProofSize bounds the proof JSON read from a submission. A proof
// from the log covers every entry of the submitted bundle, its sections'
// parts included; the pipeline reads only the entries of the assertion's
// object, so a relay may trim the others (More beyond them) to keep the
// proof small.
const maxProofSize = 4 << 20

// checkpoint is a checkpoint of a trusted log whose signature verified.
type checkpoint struct {
	origin string
	size   uint64
	hash   sumtlog.Hash
	// note is the signed note as received, kept in the store.
	note []byte
}

// checkInclusion is step 5 of spec/SPEC.md §6.4 (specified in §13.3): it
// verifies that the assertion is in a trusted log. A log holds an
// assertion as its object, the bundle of its envelope with no section,
// and its sections in part entries beside it (node/tlog.Entries); the
// object's entries come first in the log's proof. The pipeline computes
// them from the envelope bytes, which every bundle of the assertion
// carries unchanged, so the bundle it received need not be the one
// logged. The checkpoint must be signed by the key of the trusted log its
// origin names, and each object entry's inclusion proof must lead from
// its RFC 6962 leaf hash, SHA-256(0x00 || entry), to the checkpoint's
// root. The object's payload binds every section by its size and digest,
// so the object's inclusion commits the log to the section the ISP opens.
// A checkpoint of a size seen before with another root is a split view.
// Failures are *Error with a code of §13.3.
func (p *Pipeline) checkInclusion(sa *protocol.SignedAssertion, s Submission) (*checkpoint, error) {
	if len(s.Proof) == 0 {
		return nil, errorf(CodeNotLogged, "the submission carries no inclusion proof; nothing is enforced that a trusted log does not show")
	}
	if len(s.Proof) > maxProofSize {
		return nil, errorf(CodeProofInvalid, "proof is %d bytes, limit %d", len(s.Proof), maxProofSize)
	}
	var pr tlog.Proof
	dec := json.NewDecoder(bytes.NewReader(s.Proof))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&pr); err != nil {
		return nil, wrapf(CodeProofInvalid, err, "proof is not a log inclusion proof")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errorf(CodeProofInvalid, "proof has data after its JSON object")
	}
	object, err := protocol.EncodeBundle(sa.RawEnvelope, nil)
	if err != nil {
		return nil, fmt.Errorf("failed to encode the assertion's object: %w", err)
	}
	entries, err := tlog.Entries(tlog.KindAssertion, object)
	if err != nil {
		return nil, fmt.Errorf("failed to compute the assertion's log entries: %w", err)
	}
	proofs := append([]tlog.EntryProof{{Index: pr.Index, Inclusion: pr.Inclusion}}, pr.More...)
	if len(proofs) < len(entries) {
		return nil, errorf(CodeProofInvalid, "proof covers %d entries; the assertion is logged in %d", len(proofs), len(entries))
	}

	cp, err := p.openCheckpoint([]byte(pr.Checkpoint))
	if err != nil {
		return nil, err
	}
	for i, entry := range entries {
		e := proofs[i]
		if e.Index >= cp.size {
			return nil, errorf(CodeProofInvalid, "index %d is outside log %s's tree of %d entries", e.Index, cp.origin, cp.size)
		}
		hashes := make(sumtlog.RecordProof, len(e.Inclusion))
		for j, h := range e.Inclusion {
			if len(h) != sumtlog.HashSize {
				return nil, errorf(CodeProofInvalid, "proof hash %d of entry %d has %d bytes, want %d", j, i, len(h), sumtlog.HashSize)
			}
			hashes[j] = sumtlog.Hash(h)
		}
		if err := sumtlog.CheckRecord(hashes, int64(cp.size), cp.hash, int64(e.Index), sumtlog.RecordHash(entry)); err != nil {
			return nil, wrapf(CodeProofInvalid, err, "the proof does not show assertion %s at index %d of log %s's tree of %d entries", sa.ID, e.Index, cp.origin, cp.size)
		}
	}

	var stored []byte
	if err := p.store.View(func(tx *store.Tx) error { stored = tx.Checkpoint(cp.origin); return nil }); err != nil {
		return nil, err
	}
	if prev, err := parseStoredCheckpoint(stored); err == nil && prev.Size == cp.size && !bytes.Equal(prev.Hash, cp.hash[:]) {
		p.log.Error("log shows two trees of one size", "origin", cp.origin, "size", cp.size,
			"kept", string(stored), "received", string(cp.note))
		return nil, errorf(CodeLogInconsistent, "log %s signed two different trees of %d entries", cp.origin, cp.size)
	}
	return cp, nil
}

// openCheckpoint verifies a checkpoint's signature by a trusted log and
// parses it.
func (p *Pipeline) openCheckpoint(text []byte) (*checkpoint, error) {
	n, err := note.Open(text, p.logs)
	var unknown *note.UnverifiedNoteError
	switch {
	case errors.As(err, &unknown):
		return nil, wrapf(CodeUntrustedLog, err, "the proof's checkpoint is not signed by a trusted log")
	case err != nil:
		return nil, wrapf(CodeProofInvalid, err, "the proof's checkpoint is not a valid signed note")
	}
	var c log.Checkpoint
	if _, err := c.Unmarshal([]byte(n.Text)); err != nil {
		return nil, wrapf(CodeProofInvalid, err, "the proof's checkpoint is not a log checkpoint")
	}
	signed := false
	for _, sig := range n.Sigs {
		signed = signed || sig.Name == c.Origin
	}
	if !signed {
		return nil, errorf(CodeUntrustedLog, "the checkpoint of log %q is not signed by that log's key", c.Origin)
	}
	if len(c.Hash) != sumtlog.HashSize || c.Size > math.MaxInt64 {
		return nil, errorf(CodeProofInvalid, "the checkpoint of log %s has a root hash of %d bytes or an impossible size", c.Origin, len(c.Hash))
	}
	return &checkpoint{origin: c.Origin, size: c.Size, hash: sumtlog.Hash(c.Hash), note: text}, nil
}

// parseStoredCheckpoint parses a checkpoint the store kept: it verified
// when it was kept, so only its text is read.
func parseStoredCheckpoint(stored []byte) (*log.Checkpoint, error) {
	body, _, ok := bytes.Cut(stored, []byte("\n\n"))
	if !ok {
		return nil, fmt.Errorf("failed to parse stored checkpoint: no signature block")
	}
	var c log.Checkpoint
	if _, err := c.Unmarshal(append(body, '\n')); err != nil {
		return nil, fmt.Errorf("failed to parse stored checkpoint: %w", err)
	}
	return &c, nil
}

// newerCheckpoint reports whether cp is larger than the checkpoint the
// store keeps for its log.
func newerCheckpoint(tx *store.Tx, cp *checkpoint) bool {
	if cp == nil {
		return false
	}
	prev, err := parseStoredCheckpoint(tx.Checkpoint(cp.origin))
	return err != nil || prev.Size < cp.size
}

// keepCheckpoint stores cp as its log's latest checkpoint if it is larger
// than the one kept.
func keepCheckpoint(tx *store.Tx, cp *checkpoint) error {
	if !newerCheckpoint(tx, cp) {
		return nil
	}
	return tx.PutCheckpoint(cp.origin, cp.note)
}
