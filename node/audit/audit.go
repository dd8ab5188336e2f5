package audit

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/protocol"
)

// Config configures an audit. Zero values of the optional fields are the
// defaults.
type Config struct {
	// Source is the log: an http:// or https:// base URL serving the
	// c2sp.org/tlog-tiles read endpoints, or the directory of a log in that
	// layout, as node/tlog stores it. Required.
	Source string
	// LogKey verifies the log's checkpoints; its name is the log's origin.
	// Required.
	LogKey note.Verifier
	// Witnesses verify witness cosignatures on the checkpoint, such as
	// those of transparency-dev/formats/note.NewVerifierForCosignatureV1.
	Witnesses []note.Verifier
	// WitnessesRequired is how many distinct Witnesses must have cosigned
	// the checkpoint. Zero means all of them.
	WitnessesRequired int
	// Registrars are the trusted registrar keys: a grant issued by another
	// key is a finding, and so is everything under it.
	Registrars []*sign.PublicKey
	// ISPs are the trusted ISP signing keys: announcements and receipts
	// are verified against them, each announcement at its own issued_at.
	// Without any, they are counted but not verified.
	ISPs []*sign.PublicKey
	// MaxAssertionLife is the longest assertion life accepted. Default
	// protocol.DefaultMaxAssertionLife.
	MaxAssertionLife time.Duration
	// StateFile, if set, holds the checkpoint of the last audit: the log
	// must extend it, and a successful audit replaces it. A missing file is
	// a first audit.
	StateFile string
	// Progress, if set, is called after each entry bundle with the number
	// of entries audited so far and the checkpoint's size, from the
	// goroutine running Audit.
	Progress func(done, total uint64)
	// HTTPClient fetches from a URL Source. Default: a client with a
	// timeout of DefaultHTTPTimeout. Its responses are limited to the size
	// of the largest entry bundle.
	HTTPClient *http.Client
	// Workers is how many entries are decoded and verified at once.
	// Default runtime.GOMAXPROCS(0).
	Workers int
}

// DefaultHTTPTimeout bounds each request of the default HTTP client.
const DefaultHTTPTimeout = time.Minute

// fetchWorkers is how many entry bundles are read ahead.
const fetchWorkers = 4

// CheckpointError means the log's checkpoint does not open with the log's
// key or is not a checkpoint of its origin.
type CheckpointError struct {
	// Err is the cause.
	Err error
}

func (e *CheckpointError) Error() string {
	return fmt.Sprintf("the log's checkpoint does not verify with its key: %v", e.Err)
}

func (e *CheckpointError) Unwrap() error { return e.Err }

// WitnessError means fewer witnesses than required cosigned the checkpoint.
type WitnessError struct {
	// Required is the number of cosignatures required.
	Required int
	// Cosigned names the witnesses whose cosignatures verified.
	Cosigned []string
}

func (e *WitnessError) Error() string {
	return fmt.Sprintf("the log's checkpoint is cosigned by %d of the configured witnesses, %d required", len(e.Cosigned), e.Required)
}

// RootMismatchError means the log's entries do not hash to the root of its
// signed checkpoint: the entries were changed, or the log is broken.
type RootMismatchError struct {
	// Size is the checkpoint's tree size.
	Size uint64
	// CheckpointRoot is the root the log signed.
	CheckpointRoot []byte
	// EntriesRoot is the root of the entries as read.
	EntriesRoot []byte
	// Index is the first entry whose leaf hash differs from the log's
	// level-0 hash tiles, when those tiles hash to the checkpoint's root;
	// -1 otherwise.
	Index int64
}

func (e *RootMismatchError) Error() string {
	msg := fmt.Sprintf("the log's %d entries hash to root %s, not to its checkpoint's root %s",
		e.Size, b64(e.EntriesRoot), b64(e.CheckpointRoot))
	if e.Index >= 0 {
		msg += fmt.Sprintf("; entry %d is not the one the log's hash tiles commit to", e.Index)
	}
	return msg
}

// SplitViewError means the audited checkpoint and the one of the previous
// audit (the state file's) are not of one history: the log showed two
// different views.
type SplitViewError struct {
	// OldSize and OldRoot are the previous audit's tree.
	OldSize uint64
	OldRoot []byte
	// NewSize and NewRoot are the audited checkpoint's tree.
	NewSize uint64
	NewRoot []byte
	// PrefixRoot is the root of the first OldSize entries of the audited
	// log; nil if it has fewer entries.
	PrefixRoot []byte
	// OldCheckpoint and NewCheckpoint are the two signed checkpoints: the
	// evidence of the split view.
	OldCheckpoint, NewCheckpoint []byte
}

func (e *SplitViewError) Error() string {
	if e.NewSize < e.OldSize {
		return fmt.Sprintf("split view: the log's checkpoint has %d entries (root %s), fewer than the %d (root %s) audited before",
			e.NewSize, b64(e.NewRoot), e.OldSize, b64(e.OldRoot))
	}
	return fmt.Sprintf("split view: the first %d of the log's %d entries (root %s) hash to %s, not to the root %s audited before",
		e.OldSize, e.NewSize, b64(e.NewRoot), b64(e.PrefixRoot), b64(e.OldRoot))
}

func b64(h []byte) string { return base64.StdEncoding.EncodeToString(h) }

// Audit audits the log cfg.Source describes, as the package documentation
// says, and returns its report. A log that cannot be read, whose checkpoint
// does not verify (*CheckpointError, *WitnessError), whose entries do not
// match its checkpoint (*RootMismatchError) or that does not extend the
// previous audit's checkpoint (*SplitViewError) is an error, and the state
// file is left as it was. Problems with entries are the report's Findings.
func Audit(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	src, err := openSource(cfg.Source, cfg.HTTPClient)
	if err != nil {
		return nil, err
	}
	origin := cfg.LogKey.Name()
	prev, err := readState(cfg.StateFile, origin, cfg.LogKey)
	if err != nil {
		return nil, err
	}
	raw, err := src.ReadCheckpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to read the log's checkpoint: %w", err)
	}
	cp, witnesses, err := verifyCheckpoint(raw, origin, cfg)
	if err != nil {
		return nil, err
	}
	if prev != nil && prev.Size > cp.Size {
		return nil, &SplitViewError{OldSize: prev.Size, OldRoot: prev.Hash, NewSize: cp.Size, NewRoot: cp.Hash,
			OldCheckpoint: prev.raw, NewCheckpoint: raw}
	}

	var prevTree *log.Checkpoint
	if prev != nil {
		prevTree = prev.Checkpoint
	}
	a := newAuditor(&cfg, cp.Size, prevTree)
	if err := a.run(ctx, src); err != nil {
		return nil, err
	}
	root := a.root()
	if !bytes.Equal(root, cp.Hash) {
		index := locate(ctx, src, cp, a.leaves)
		return nil, &RootMismatchError{Size: cp.Size, CheckpointRoot: cp.Hash, EntriesRoot: root, Index: index}
	}
	if prev != nil && !bytes.Equal(a.prefixRoot, prev.Hash) {
		return nil, &SplitViewError{OldSize: prev.Size, OldRoot: prev.Hash, NewSize: cp.Size, NewRoot: cp.Hash,
			PrefixRoot: a.prefixRoot, OldCheckpoint: prev.raw, NewCheckpoint: raw}
	}

	r := a.finish()
	r.Origin, r.Size, r.Root, r.Checkpoint, r.Witnesses = origin, cp.Size, cp.Hash, string(raw), witnesses
	if prev != nil {
		r.Previous = &TreeHead{Size: prev.Size, Root: prev.Hash}
	}
	if cfg.StateFile != "" {
		if err := writeState(cfg.StateFile, raw); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (c *Config) validate() error {
	switch {
	case c.Source == "":
		return errors.New("failed to audit: Source is empty")
	case c.LogKey == nil:
		return errors.New("failed to audit: LogKey is nil")
	case c.WitnessesRequired < 0 || c.WitnessesRequired > len(c.Witnesses):
		return fmt.Errorf("failed to audit: WitnessesRequired is %d, with %d witnesses configured", c.WitnessesRequired, len(c.Witnesses))
	case c.MaxAssertionLife < 0:
		return errors.New("failed to audit: MaxAssertionLife is negative")
	}
	if c.WitnessesRequired == 0 {
		c.WitnessesRequired = len(c.Witnesses)
	}
	if c.MaxAssertionLife == 0 {
		c.MaxAssertionLife = protocol.DefaultMaxAssertionLife
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	return nil
}

// verifyCheckpoint opens a checkpoint with the log's key and counts the
// configured witnesses that cosigned it. It returns the names of those
// witnesses, sorted.
func verifyCheckpoint(raw []byte, origin string, cfg Config) (*log.Checkpoint, []string, error) {
	cp, _, n, err := log.ParseCheckpoint(raw, origin, cfg.LogKey, cfg.Witnesses...)
	if err != nil {
		return nil, nil, &CheckpointError{Err: err}
	}
	type key struct {
		name string
		hash uint32
	}
	cosigned := map[key]bool{}
	for _, w := range cfg.Witnesses {
		k := key{w.Name(), w.KeyHash()}
		if slices.ContainsFunc(n.Sigs, func(s note.Signature) bool { return s.Name == k.name && s.Hash == k.hash }) {
			cosigned[k] = true
		}
	}
	var names []string
	for k := range cosigned {
		names = append(names, k.name)
	}
	slices.Sort(names)
	if len(cosigned) < cfg.WitnessesRequired {
		return nil, nil, &WitnessError{Required: cfg.WitnessesRequired, Cosigned: names}
	}
	return cp, names, nil
}

// emptyRoot is the root of the empty tree.
var emptyRoot = rfc6962.DefaultHasher.EmptyRoot()
