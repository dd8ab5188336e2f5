package logclient

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"
)

// MaxCheckpointSize is the longest checkpoint note Open accepts, in bytes:
// room for the body and dozens of signatures.
const MaxCheckpointSize = 64 << 10

// The reasons Open rejects a checkpoint. Open's errors wrap one of these or
// are a *QuorumError.
var (
	// ErrMalformed: the checkpoint is not a well-formed signed note with a
	// c2sp.org/tlog-checkpoint body.
	ErrMalformed = errors.New("malformed checkpoint")
	// ErrNotSigned: no signature by the log's key is on the checkpoint.
	ErrNotSigned = errors.New("checkpoint is not signed by the log's key")
	// ErrBadSignature: a signature line names a trusted key (the log's
	// or a witness's) but does not verify under it.
	ErrBadSignature = errors.New("a signature on the checkpoint does not verify")
	// ErrWrongOrigin: the checkpoint's origin line is not the name of the
	// log's key.
	ErrWrongOrigin = errors.New("checkpoint is of another log")
)

// QuorumError is returned by Open for a checkpoint that carries fewer valid
// witness cosignatures than the Verifier requires.
type QuorumError struct {
	// Origin and Size identify the checkpoint.
	Origin string
	Size   uint64
	// Have is the number of trusted witnesses whose cosignature verified;
	// Need is the number required.
	Have, Need int
}

func (e *QuorumError) Error() string {
	return fmt.Sprintf("checkpoint of %s at size %d has %d valid witness cosignatures, %d required",
		e.Origin, e.Size, e.Have, e.Need)
}

// Checkpoint is a checkpoint a Verifier accepted: its body, who cosigned
// it, and the signed note itself.
type Checkpoint struct {
	// Origin is the log's origin, the first line of the checkpoint.
	Origin string
	// Size is the number of entries in the tree.
	Size uint64
	// Hash is the tree's RFC 6962 root hash.
	Hash sumtlog.Hash
	// Cosignatures are the trusted witnesses' cosignatures that verified,
	// in the order of the note.
	Cosignatures []Cosignature
	// Note is the signed note as received, with every signature on it.
	Note []byte
}

// Tree returns the checkpoint's tree in the form x/mod/sumdb/tlog uses.
func (c *Checkpoint) Tree() sumtlog.Tree { return sumtlog.Tree{N: int64(c.Size), Hash: c.Hash} }

// Cosignature is a witness's verified c2sp.org/tlog-cosignature on a
// checkpoint.
type Cosignature struct {
	// Name is the name of the witness's key.
	Name string
	// Time is when the witness cosigned, to the second.
	Time time.Time
}

// emptyRoot is the RFC 6962 root hash of the empty tree.
var emptyRoot = sumtlog.Hash(sha256.Sum256(nil))

// ParseCheckpointText parses the body of a c2sp.org/tlog-checkpoint note,
// the text above its signatures: the origin line, the tree size in decimal
// without leading zeros, the root hash in base64, and any extension lines,
// each line ending in a newline. It is strict: a size with a sign or a
// leading zero, a hash that is not 32 bytes in canonical base64, an empty
// extension line, or a tree of size 0 whose hash is not the empty tree's is
// an error wrapping ErrMalformed. The size is at most math.MaxInt64, the
// largest tree x/mod/sumdb/tlog handles.
func ParseCheckpointText(text string) (origin string, size uint64, hash sumtlog.Hash, err error) {
	bad := func(format string, args ...any) (string, uint64, sumtlog.Hash, error) {
		return "", 0, sumtlog.Hash{}, fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
	body, ok := strings.CutSuffix(text, "\n")
	if !ok {
		return bad("the body does not end with a newline")
	}
	lines := strings.Split(body, "\n")
	if len(lines) < 3 {
		return bad("the body has %d lines, want origin, size and root hash", len(lines))
	}
	origin = lines[0]
	if origin == "" {
		return bad("the origin line is empty")
	}
	s := lines[1]
	if s == "" || s[0] < '0' || s[0] > '9' || (s[0] == '0' && s != "0") {
		return bad("tree size %q is not a decimal number without leading zeros", s)
	}
	size, err = strconv.ParseUint(s, 10, 64)
	if err != nil || size > math.MaxInt64 {
		return bad("tree size %q is out of range", s)
	}
	h, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(h) != sumtlog.HashSize || base64.StdEncoding.EncodeToString(h) != lines[2] {
		return bad("root hash %q is not 32 bytes in canonical base64", lines[2])
	}
	hash = sumtlog.Hash(h)
	for _, ext := range lines[3:] {
		if ext == "" {
			return bad("an extension line is empty")
		}
	}
	if size == 0 && hash != emptyRoot {
		return bad("a tree of size 0 has root %s, not the empty tree's", hash)
	}
	return origin, size, hash, nil
}

// Verifier opens checkpoints of one log: it checks the log's signature and
// that at least a required number of trusted witnesses cosigned. Its
// methods are safe for concurrent use.
type Verifier struct {
	log       note.Verifier
	witnesses []note.Verifier
	required  int
}

// NewVerifier returns a Verifier for the log whose note verifier key is
// logKey (c2sp.org/signed-note, Ed25519; its name is the log's origin),
// trusting the witnesses whose cosignature/v1 verifier keys are witnessKeys
// (as "docket witness keygen" prints them; a plain Ed25519 note key is
// taken as the same key's cosignature/v1 key) and requiring that required
// of them cosigned each checkpoint.
func NewVerifier(logKey string, witnessKeys []string, required int) (*Verifier, error) {
	lv, err := note.NewVerifier(logKey)
	if err != nil {
		return nil, fmt.Errorf("failed to read log key %q: %w", logKey, err)
	}
	if required < 0 || required > len(witnessKeys) {
		return nil, fmt.Errorf("cannot require %d cosignatures from %d witnesses", required, len(witnessKeys))
	}
	v := &Verifier{log: lv, required: required}
	type id struct {
		name string
		hash uint32
	}
	seen := map[id]bool{{lv.Name(), lv.KeyHash()}: true}
	for _, k := range witnessKeys {
		wv, err := fnote.NewVerifierForCosignatureV1(k)
		if err != nil {
			return nil, fmt.Errorf("failed to read witness key %q: %w", k, err)
		}
		if seen[id{wv.Name(), wv.KeyHash()}] {
			return nil, fmt.Errorf("witness key %q is given twice, or is the log's key", k)
		}
		seen[id{wv.Name(), wv.KeyHash()}] = true
		v.witnesses = append(v.witnesses, wv)
	}
	return v, nil
}

// Origin returns the origin of the log the Verifier opens checkpoints of.
func (v *Verifier) Origin() string { return v.log.Name() }

// Required returns the number of witness cosignatures Open requires.
func (v *Verifier) Required() int { return v.required }

// logOnly returns a Verifier of the same log that requires no cosignature.
func (v *Verifier) logOnly() *Verifier { return &Verifier{log: v.log, witnesses: v.witnesses} }

// Open verifies a signed checkpoint and returns it: it must be a
// well-formed note (c2sp.org/signed-note) with a c2sp.org/tlog-checkpoint
// body whose origin is the log's, signed by the log's key and cosigned by
// at least the required number of trusted witnesses. Signatures by unknown
// keys are ignored; a signature by a trusted key that does not verify
// rejects the note, as the signed-note specification requires.
//
// An error wraps ErrMalformed, ErrNotSigned, ErrBadSignature or
// ErrWrongOrigin, or is a *QuorumError.
func (v *Verifier) Open(cp []byte) (*Checkpoint, error) {
	if len(cp) > MaxCheckpointSize {
		return nil, fmt.Errorf("failed to open checkpoint: %w: longer than %d bytes", ErrMalformed, MaxCheckpointSize)
	}
	n, err := note.Open(cp, note.VerifierList(append([]note.Verifier{v.log}, v.witnesses...)...))
	var unverified *note.UnverifiedNoteError
	var invalid *note.InvalidSignatureError
	switch {
	case errors.As(err, &unverified):
		return nil, fmt.Errorf("failed to open checkpoint: %w (%s)", ErrNotSigned, v.log.Name())
	case errors.As(err, &invalid):
		return nil, fmt.Errorf("failed to open checkpoint: %w: the signature by %s+%08x", ErrBadSignature, invalid.Name, invalid.Hash)
	case err != nil:
		return nil, fmt.Errorf("failed to open checkpoint: %w: %w", ErrMalformed, err)
	}
	c := &Checkpoint{Note: bytes.Clone(cp)}
	signed := false
	for _, s := range n.Sigs {
		if s.Name == v.log.Name() && s.Hash == v.log.KeyHash() {
			signed = true
			continue
		}
		t, err := fnote.CoSigV1Timestamp(s)
		if err != nil {
			return nil, fmt.Errorf("failed to open checkpoint: %w: cosignature by %s: %w", ErrMalformed, s.Name, err)
		}
		c.Cosignatures = append(c.Cosignatures, Cosignature{Name: s.Name, Time: t.UTC()})
	}
	if !signed {
		return nil, fmt.Errorf("failed to open checkpoint: %w (%s)", ErrNotSigned, v.log.Name())
	}
	if c.Origin, c.Size, c.Hash, err = ParseCheckpointText(n.Text); err != nil {
		return nil, fmt.Errorf("failed to open checkpoint: %w", err)
	}
	if c.Origin != v.log.Name() {
		return nil, fmt.Errorf("failed to open checkpoint: %w: origin %q, want %q", ErrWrongOrigin, c.Origin, v.log.Name())
	}
	if len(c.Cosignatures) < v.required {
		return nil, &QuorumError{Origin: c.Origin, Size: c.Size, Have: len(c.Cosignatures), Need: v.required}
	}
	return c, nil
}
