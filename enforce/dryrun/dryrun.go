// Package dryrun is an enforcement backend that blocks nothing: it keeps
// the installed state in a JSON file, for ISPs that want a person to apply
// the pairs, or to review them before another backend does.
//
// The file is a JSON array of pairs, sorted by local then remote address,
// one pair a line, each expiry an RFC 3339 time in UTC:
//
//	[
//	  {"local":"198.51.100.1","remote":"203.0.113.1","expires":"2030-06-01T10:00:00Z"},
//	  {"local":"2001:db8::1","remote":"2001:db8:1::1","expires":"2030-06-01T10:00:00Z"}
//	]
//
// Every call that changes the state rewrites the whole file atomically (a
// temporary file in the same directory, renamed over the old one), so a
// reader sees either the old state or the new one. Pairs past their expiry
// are left out of the file and of Installed, as a kernel would drop them.
// New reads the file back, so that a restarted node keeps its state.
//
// Marshal and Unmarshal write and read the same format; "docket enforce
// apply --pairs" reads it too.
package dryrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/docket-project/docket/enforce"
)

// Backend keeps pairs in a JSON file. It implements enforce.Backend and
// enforce.Lister; its methods are safe for concurrent use, but two
// Backends must not share a file.
type Backend struct {
	path string

	mu sync.Mutex
	// state is the state the file holds.
	state *enforce.State
}

var (
	_ enforce.Backend = (*Backend)(nil)
	_ enforce.Lister  = (*Backend)(nil)
)

// New returns a backend that keeps its state in the file at path, loading
// the pairs the file holds if it exists. The file is written by the first
// call that changes the state.
func New(path string) (*Backend, error) {
	b := &Backend{path: path, state: enforce.NewState()}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return b, nil
	} else if err != nil {
		return nil, fmt.Errorf("failed to load state: %w", err)
	}
	pairs, err := Unmarshal(data)
	if err == nil {
		err = b.state.Add(pairs...)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to load state %s: %w", path, err)
	}
	return b, nil
}

// Add adds pairs to the file; a pair already there keeps the later of its
// two expiries.
func (b *Backend) Add(ctx context.Context, pairs []enforce.Pair) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	next := b.clone()
	if err := next.Add(pairs...); err != nil {
		return fmt.Errorf("failed to add pairs: %w", err)
	}
	return b.save(next)
}

// Remove removes pairs from the file.
func (b *Backend) Remove(ctx context.Context, keys []enforce.Key) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	next := b.clone()
	next.Remove(keys...)
	return b.save(next)
}

// Reconcile makes the file hold exactly the desired pairs.
func (b *Backend) Reconcile(ctx context.Context, desired []enforce.Pair) error {
	next := enforce.NewState()
	if err := next.Add(desired...); err != nil {
		return fmt.Errorf("failed to reconcile: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.save(next)
}

// Installed returns the pairs in the state that have not expired, sorted
// by local then remote address.
func (b *Backend) Installed(ctx context.Context) ([]enforce.Pair, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.state.Expire(time.Now())
	return b.state.Pairs(), nil
}

// clone returns a copy of the state, for a change that takes effect only
// once saved.
func (b *Backend) clone() *enforce.State {
	next := enforce.NewState()
	_ = next.Add(b.state.Pairs()...) // valid: already in a state
	return next
}

// save writes the unexpired pairs of next to the file and, once written,
// makes next the state. An error writing wraps enforce.ErrConfig if the
// file cannot be written at all (a missing directory, no permission),
// enforce.ErrTemporary otherwise (a full disk).
func (b *Backend) save(next *enforce.State) error {
	next.Expire(time.Now())
	data, err := Marshal(next.Pairs())
	if err != nil {
		return err
	}
	if err := writeFile(b.path, data); err != nil {
		class := enforce.ErrTemporary
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			class = enforce.ErrConfig
		}
		return fmt.Errorf("failed to write state: %w: %w", class, err)
	}
	b.state = next
	return nil
}

// writeFile replaces the file at path with data atomically.
func writeFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// jsonPair is a pair as the file holds it.
type jsonPair struct {
	Local   netip.Addr `json:"local"`
	Remote  netip.Addr `json:"remote"`
	Expires time.Time  `json:"expires"`
}

// Marshal encodes pairs, in the order given, in the file format: a JSON
// array with one pair a line.
func Marshal(pairs []enforce.Pair) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("[")
	for i, p := range pairs {
		line, err := json.Marshal(jsonPair{Local: p.Local, Remote: p.Remote, Expires: p.Expires.UTC()})
		if err != nil {
			return nil, fmt.Errorf("failed to encode pair %v: %w", p.Key, err)
		}
		if i > 0 {
			buf.WriteString(",")
		}
		buf.WriteString("\n  ")
		buf.Write(line)
	}
	buf.WriteString("\n]\n")
	return buf.Bytes(), nil
}

// Unmarshal decodes a JSON array of pairs strictly: unknown or duplicate
// members and missing expiries are errors, and an invalid pair is an error
// wrapping enforce.ErrInvalidPair. It does not drop expired pairs.
func Unmarshal(data []byte) ([]enforce.Pair, error) {
	var in []jsonPair
	if err := json.Unmarshal(data, &in, json.RejectUnknownMembers(true)); err != nil {
		return nil, fmt.Errorf("failed to parse pairs: %w", err)
	}
	pairs := make([]enforce.Pair, len(in))
	for i, jp := range in {
		p := enforce.Pair{Key: enforce.Key{Local: jp.Local, Remote: jp.Remote}, Expires: jp.Expires}
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("failed to parse pairs: pair %d: %w", i+1, err)
		}
		if p.Expires.IsZero() {
			return nil, fmt.Errorf("failed to parse pairs: pair %d: missing expires", i+1)
		}
		pairs[i] = p
	}
	return pairs, nil
}
