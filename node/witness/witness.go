package witness

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"

	"github.com/docket-project/docket/internal/atomicfile"
	"github.com/docket-project/docket/node/logclient"
)

// MaxProofHashes is the most consistency proof hashes a request may carry
// (c2sp.org/tlog-witness): enough for any tree of up to 2^63 entries.
const MaxProofHashes = 63

// The reasons AddCheckpoint refuses a checkpoint. Its errors wrap one of
// these or are a *ConflictError; the comment of each gives the HTTP status
// of the c2sp.org/tlog-witness answer.
var (
	// ErrMalformed: the request or the checkpoint is not well-formed, or
	// the old size is larger than the checkpoint's. 400 Bad Request.
	ErrMalformed = errors.New("malformed request")
	// ErrUnknownLog: the witness does not follow the checkpoint's origin.
	// 404 Not Found.
	ErrUnknownLog = errors.New("unknown log")
	// ErrBadSignature: the checkpoint has no valid signature by the log's
	// key, or a signature by that key does not verify. 403 Forbidden.
	ErrBadSignature = errors.New("checkpoint is not signed by the log's key")
	// ErrRootMismatch: the checkpoint has the size of the one the witness
	// holds but another root hash: the log equivocates. 409 Conflict.
	ErrRootMismatch = errors.New("checkpoint has the size of the one held but another root hash")
	// ErrBadProof: the consistency proof does not lead from the checkpoint
	// held to the new one. 422 Unprocessable Entity.
	ErrBadProof = errors.New("consistency proof does not verify")
)

// ConflictError is returned by AddCheckpoint when the request's old size
// is not the size of the checkpoint the witness holds for the log (409
// Conflict, with Size as the body): the log must retry from Size.
type ConflictError struct {
	// Origin is the log's origin.
	Origin string
	// Old is the old size of the request; Size is the size the witness
	// holds.
	Old, Size uint64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("old size %d is not %d, the size of the latest checkpoint of %s cosigned", e.Old, e.Size, e.Origin)
}

// Log is a log the witness follows.
type Log struct {
	// Origin is the log's origin, the first line of its checkpoints.
	Origin string
	// Verifier checks the log's signature on its checkpoints.
	Verifier note.Verifier
}

// ParseLog parses "ORIGIN=VKEY": a log's origin and its note verifier key
// (c2sp.org/signed-note, Ed25519), as "docket log keygen" prints it. The
// origin is up to the first '='.
func ParseLog(s string) (Log, error) {
	origin, vkey, ok := strings.Cut(s, "=")
	if !ok || origin == "" || vkey == "" {
		return Log{}, fmt.Errorf("log %q is not ORIGIN=VKEY", s)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return Log{}, fmt.Errorf("log %q: not a note verifier key: %w", s, err)
	}
	return Log{Origin: origin, Verifier: v}, nil
}

// Config configures a Witness.
type Config struct {
	// Signer makes the witness's cosignatures: a c2sp.org/tlog-cosignature
	// cosignature/v1 signer, such as
	// github.com/transparency-dev/formats/note.NewSignerForCosignatureV1
	// returns. Its name is the witness's name. Required.
	Signer note.Signer
	// Logs are the logs the witness follows, each origin once. Required.
	Logs []Log
	// StateDir holds the latest checkpoint cosigned for each log, one file
	// per log. It is created if missing. A file whose checkpoint does not
	// verify with its log's key (damaged, or the key changed) stops New:
	// the witness must not forget what it cosigned. Required.
	StateDir string
	// Logger receives the witness's events; a checkpoint that shows a log
	// misbehaving is logged at level Warn. Default: discard them.
	Logger *slog.Logger
}

// Witness is a c2sp.org/tlog-witness witness: it cosigns a log's checkpoint
// only if the checkpoint is consistent with the last one it cosigned for
// that log, which it keeps on disk. Its methods are safe for concurrent
// use.
type Witness struct {
	signer note.Signer
	logger *slog.Logger
	logs   map[string]*logState
}

// logState is what the witness holds for one log.
type logState struct {
	verifier note.Verifier
	path     string

	mu   sync.Mutex
	size uint64       // guarded by mu; 0 until a checkpoint is cosigned
	hash sumtlog.Hash // guarded by mu
	note []byte       // guarded by mu; nil until a checkpoint is cosigned
}

// New returns a Witness following cfg.Logs, holding for each the latest
// checkpoint it cosigned before, read from cfg.StateDir.
func New(cfg Config) (*Witness, error) {
	switch {
	case cfg.Signer == nil:
		return nil, errors.New("failed to start witness: Signer is nil")
	case len(cfg.Logs) == 0:
		return nil, errors.New("failed to start witness: Logs is empty")
	case cfg.StateDir == "":
		return nil, errors.New("failed to start witness: StateDir is empty")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("failed to start witness: %w", err)
	}
	w := &Witness{signer: cfg.Signer, logger: cfg.Logger, logs: make(map[string]*logState)}
	for i, l := range cfg.Logs {
		switch {
		case l.Origin == "" || l.Verifier == nil:
			return nil, fmt.Errorf("failed to start witness: Logs[%d] needs an Origin and a Verifier", i)
		case w.logs[l.Origin] != nil:
			return nil, fmt.Errorf("failed to start witness: log %q is given twice", l.Origin)
		}
		st, err := loadState(cfg.StateDir, l)
		if err != nil {
			return nil, fmt.Errorf("failed to start witness: %w", err)
		}
		w.logs[l.Origin] = st
	}
	return w, nil
}

// stateFile returns the name of the file holding a log's state: the
// SHA-256 of its origin, so that any origin makes a safe file name. The
// file holds the checkpoint, whose first line is the origin.
func stateFile(origin string) string {
	sum := sha256.Sum256([]byte(origin))
	return hex.EncodeToString(sum[:]) + ".checkpoint"
}

// loadState reads the latest checkpoint cosigned for l, if any.
func loadState(dir string, l Log) (*logState, error) {
	st := &logState{verifier: l.Verifier, path: filepath.Join(dir, stateFile(l.Origin))}
	data, err := os.ReadFile(st.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		st.hash = sumtlog.Hash(sha256.Sum256(nil)) // the empty tree's root
		return st, nil
	case err != nil:
		return nil, err
	}
	// The file was written whole (atomicfile); it must still verify, so
	// that a damaged file or a changed log key stops the witness rather
	// than letting it forget what it cosigned.
	n, err := note.Open(data, note.VerifierList(l.Verifier))
	if err != nil {
		return nil, fmt.Errorf("state of log %q in %s does not verify with the log's key: %w", l.Origin, st.path, err)
	}
	origin, size, hash, err := logclient.ParseCheckpointText(n.Text)
	if err != nil {
		return nil, fmt.Errorf("state of log %q in %s: %w", l.Origin, st.path, err)
	}
	if origin != l.Origin {
		return nil, fmt.Errorf("state of log %q in %s holds a checkpoint of %q", l.Origin, st.path, origin)
	}
	st.size, st.hash, st.note = size, hash, data
	return st, nil
}

// Name returns the witness's name, the name of its key.
func (w *Witness) Name() string { return w.signer.Name() }

// Latest returns the latest checkpoint the witness cosigned for the log
// with the given origin, with the log's signature and the witness's
// cosignature, or nil if it has cosigned none.
func (w *Witness) Latest(origin string) []byte {
	st := w.logs[origin]
	if st == nil {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return bytes.Clone(st.note)
}

// AddCheckpoint is the c2sp.org/tlog-witness add-checkpoint operation:
// given the size oldSize of the checkpoint the log believes the witness
// holds, a consistency proof from that size, and a new checkpoint signed by
// the log, it cosigns the checkpoint if it is consistent with the one
// held, records it (on disk, before returning) and returns the
// cosignature lines ("— NAME BASE64\n").
//
// It refuses, changing nothing, with an error wrapping ErrMalformed,
// ErrUnknownLog, ErrBadSignature, ErrRootMismatch or ErrBadProof, or a
// *ConflictError; any other error is a failure of the witness.
func (w *Witness) AddCheckpoint(oldSize uint64, proof [][]byte, checkpoint []byte) ([]byte, error) {
	// The origin chooses the key; the signature is checked next.
	origin, _, ok := bytes.Cut(checkpoint, []byte("\n"))
	if !ok || len(origin) == 0 {
		return nil, fmt.Errorf("%w: the checkpoint has no origin line", ErrMalformed)
	}
	st := w.logs[string(origin)]
	if st == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownLog, origin)
	}
	n, err := note.Open(checkpoint, note.VerifierList(st.verifier))
	var unverified *note.UnverifiedNoteError
	var invalid *note.InvalidSignatureError
	switch {
	case errors.As(err, &unverified), errors.As(err, &invalid):
		return nil, fmt.Errorf("%w (%s): %w", ErrBadSignature, st.verifier.Name(), err)
	case err != nil:
		return nil, fmt.Errorf("%w: checkpoint: %w", ErrMalformed, err)
	}
	_, size, hash, err := logclient.ParseCheckpointText(n.Text)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if oldSize > size {
		return nil, fmt.Errorf("%w: old size %d is larger than the checkpoint's size %d", ErrMalformed, oldSize, size)
	}
	if len(proof) > MaxProofHashes {
		return nil, fmt.Errorf("%w: %d consistency proof hashes, at most %d allowed", ErrMalformed, len(proof), MaxProofHashes)
	}
	tp := make(sumtlog.TreeProof, len(proof))
	for i, h := range proof {
		if len(h) != sumtlog.HashSize {
			return nil, fmt.Errorf("%w: consistency proof hash %d has %d bytes", ErrMalformed, i, len(h))
		}
		tp[i] = sumtlog.Hash(h)
	}

	// Checking against the state and recording the new one are one step,
	// so that two requests cannot roll the state back.
	st.mu.Lock()
	defer st.mu.Unlock()
	if oldSize != st.size {
		return nil, &ConflictError{Origin: string(origin), Old: oldSize, Size: st.size}
	}
	switch {
	case oldSize == size && hash != st.hash:
		w.logger.Warn("log equivocates: same size, another root", "origin", string(origin),
			"size", size, "held", st.hash.String(), "presented", hash.String(), "checkpoint", string(checkpoint))
		return nil, fmt.Errorf("%w: size %d, root %s held, %s presented", ErrRootMismatch, size, st.hash, hash)
	case oldSize == size || oldSize == 0:
		// Nothing to prove: the same tree, or one extending the empty tree.
		if len(tp) != 0 {
			return nil, fmt.Errorf("%w: a proof from size %d to %d must be empty", ErrBadProof, oldSize, size)
		}
	default:
		if sumtlog.CheckTree(tp, int64(size), hash, int64(oldSize), st.hash) != nil {
			w.logger.Warn("consistency proof does not verify", "origin", string(origin),
				"old", oldSize, "held", st.hash.String(), "size", size, "presented", hash.String(), "checkpoint", string(checkpoint))
			return nil, fmt.Errorf("%w: from size %d (root %s) to %d (root %s)", ErrBadProof, oldSize, st.hash, size, hash)
		}
	}

	cosigned, cosig, err := w.cosign(n)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(st.path, cosigned, 0o644); err != nil {
		return nil, fmt.Errorf("failed to record checkpoint: %w", err)
	}
	st.size, st.hash, st.note = size, hash, cosigned
	w.logger.Debug("checkpoint cosigned", "origin", string(origin), "size", size)
	return cosig, nil
}

// cosign signs n, whose signatures are the log's verified ones, and
// returns the note with them and the cosignature, and the cosignature
// lines alone.
func (w *Witness) cosign(n *note.Note) (cosigned, cosig []byte, err error) {
	var head bytes.Buffer
	head.WriteString(n.Text + "\n")
	for _, s := range n.Sigs {
		fmt.Fprintf(&head, "— %s %s\n", s.Name, s.Base64)
	}
	cosigned, err = note.Sign(&note.Note{Text: n.Text, Sigs: n.Sigs}, w.signer)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to cosign checkpoint: %w", err)
	}
	cosig, ok := bytes.CutPrefix(cosigned, head.Bytes())
	if !ok || len(cosig) == 0 {
		return nil, nil, errors.New("failed to cosign checkpoint: the signed note does not extend the checkpoint")
	}
	return cosigned, bytes.Clone(cosig), nil
}
