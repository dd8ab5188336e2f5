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
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
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
	// pairs is the state the file holds: each pair's expiry.
	pairs map[enforce.Key]time.Time
}

var (
	_ enforce.Backend = (*Backend)(nil)
	_ enforce.Lister  = (*Backend)(nil)
)

// New returns a backend that keeps its state in the file at path, loading
// the pairs the file holds if it exists. The file is written by the first
// call that changes the state.
func New(path string) (*Backend, error) {
	b := &Backend{path: path, pairs: map[enforce.Key]time.Time{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return b, nil
	} else if err != nil {
		return nil, fmt.Errorf("failed to load state: %w", err)
	}
	pairs, err := Unmarshal(data)
	if err != nil {
		return nil, fmt.Errorf("failed to load state %s: %w", path, err)
	}
	merge(b.pairs, pairs)
	return b, nil
}

// Add adds pairs to the file; a pair already there keeps the later of its
// two expiries.
func (b *Backend) Add(ctx context.Context, pairs []enforce.Pair) error {
	if err := validate(pairs); err != nil {
		return fmt.Errorf("failed to add pairs: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	next := maps.Clone(b.pairs)
	merge(next, pairs)
	return b.save(next)
}

// Remove removes pairs from the file.
func (b *Backend) Remove(ctx context.Context, keys []enforce.Key) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	next := maps.Clone(b.pairs)
	for _, k := range keys {
		delete(next, k)
	}
	return b.save(next)
}

// Reconcile makes the file hold exactly the desired pairs.
func (b *Backend) Reconcile(ctx context.Context, desired []enforce.Pair) error {
	if err := validate(desired); err != nil {
		return fmt.Errorf("failed to reconcile: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	next := map[enforce.Key]time.Time{}
	merge(next, desired)
	return b.save(next)
}

// Installed returns the pairs in the state that have not expired, sorted
// by local then remote address.
func (b *Backend) Installed(ctx context.Context) ([]enforce.Pair, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return live(b.pairs, time.Now()), nil
}

// save writes the unexpired pairs of next to the file and, once written,
// makes next the state. An error writing wraps enforce.ErrConfig if the
// file cannot be written at all (a missing directory, no permission),
// enforce.ErrTemporary otherwise (a full disk).
func (b *Backend) save(next map[enforce.Key]time.Time) error {
	now := time.Now()
	maps.DeleteFunc(next, func(_ enforce.Key, exp time.Time) bool { return !exp.After(now) })
	data, err := Marshal(live(next, now))
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
	b.pairs = next
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

// validate checks every pair.
func validate(pairs []enforce.Pair) error {
	for _, p := range pairs {
		if err := p.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// merge adds pairs to m, keeping each pair's latest expiry.
func merge(m map[enforce.Key]time.Time, pairs []enforce.Pair) {
	for _, p := range pairs {
		if p.Expires.After(m[p.Key]) {
			m[p.Key] = p.Expires
		}
	}
}

// live returns the pairs of m that expire after now, sorted.
func live(m map[enforce.Key]time.Time, now time.Time) []enforce.Pair {
	out := make([]enforce.Pair, 0, len(m))
	for k, exp := range m {
		if exp.After(now) {
			out = append(out, enforce.Pair{Key: k, Expires: exp})
		}
	}
	slices.SortFunc(out, func(x, y enforce.Pair) int {
		if c := x.Local.Compare(y.Local); c != 0 {
			return c
		}
		return x.Remote.Compare(y.Remote)
	})
	return out
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
