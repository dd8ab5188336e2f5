// Package enforce turns block decisions into pair ACLs: the desired state
// is a set of (local address, remote address, expiry) pairs, and backends
// (enforce/nft, enforce/flowspec, enforce/dryrun) make a network drop
// traffic between the two addresses of each pair, in both directions,
// until the pair expires.
//
// This package sees addresses and expiries only, never claims: deciding
// which pairs to block is the ISP policy's job (node/policy).
package enforce

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Key names a pair regardless of its expiry. Local is an address of the
// enforcing ISP; Remote is the other end. A pair whose two ends are both
// local is stored with the lower address as Local.
type Key struct {
	Local  netip.Addr
	Remote netip.Addr
}

// Pair is one blocked pair: traffic between Local and Remote is dropped in
// both directions until Expires.
type Pair struct {
	Key
	Expires time.Time
}

// ErrInvalidPair is returned for a pair whose addresses are invalid, of
// different families, equal, zoned or IPv4-mapped.
var ErrInvalidPair = errors.New("invalid pair")

// Validate checks that the pair's addresses can be enforced.
func (k Key) Validate() error {
	switch {
	case !k.Local.IsValid() || !k.Remote.IsValid():
		return fmt.Errorf("%w: missing address", ErrInvalidPair)
	case k.Local.Zone() != "" || k.Remote.Zone() != "" || k.Local.Is4In6() || k.Remote.Is4In6():
		return fmt.Errorf("%w: %s - %s: zoned or IPv4-mapped address", ErrInvalidPair, k.Local, k.Remote)
	case k.Local.Is4() != k.Remote.Is4():
		return fmt.Errorf("%w: %s - %s: different address families", ErrInvalidPair, k.Local, k.Remote)
	case k.Local == k.Remote:
		return fmt.Errorf("%w: %s with itself", ErrInvalidPair, k.Local)
	}
	return nil
}

// State is a desired state: each pair once, with the latest expiry it was
// given. The zero value is not usable; use NewState.
type State struct {
	pairs map[Key]time.Time
}

// NewState returns an empty state.
func NewState() *State { return &State{pairs: map[Key]time.Time{}} }

// Add merges pairs into the state: a pair already present keeps the later
// of its two expiries. It adds nothing if any pair is invalid.
func (s *State) Add(pairs ...Pair) error {
	for _, p := range pairs {
		if err := p.Validate(); err != nil {
			return err
		}
	}
	for _, p := range pairs {
		if p.Expires.After(s.pairs[p.Key]) {
			s.pairs[p.Key] = p.Expires
		}
	}
	return nil
}

// Remove drops pairs from the state.
func (s *State) Remove(keys ...Key) {
	for _, k := range keys {
		delete(s.pairs, k)
	}
}

// Expire drops the pairs that expire at or before now and returns them.
func (s *State) Expire(now time.Time) []Pair {
	var gone []Pair
	for k, exp := range s.pairs {
		if !exp.After(now) {
			gone = append(gone, Pair{Key: k, Expires: exp})
			delete(s.pairs, k)
		}
	}
	SortPairs(gone)
	return gone
}

// Has reports whether the state holds a pair for k.
func (s *State) Has(k Key) bool {
	_, ok := s.pairs[k]
	return ok
}

// Len returns the number of pairs.
func (s *State) Len() int { return len(s.pairs) }

// Pairs returns the pairs, sorted by local then remote address.
func (s *State) Pairs() []Pair {
	out := make([]Pair, 0, len(s.pairs))
	for k, exp := range s.pairs {
		out = append(out, Pair{Key: k, Expires: exp})
	}
	SortPairs(out)
	return out
}

// SortPairs sorts pairs by local then remote address.
func SortPairs(p []Pair) {
	slices.SortFunc(p, func(a, b Pair) int {
		if c := a.Local.Compare(b.Local); c != 0 {
			return c
		}
		return a.Remote.Compare(b.Remote)
	})
}

// Compile returns the pairs that block every local address from every
// other address of the swarm (remotes may include the locals), until
// expires: one pair per unordered couple of distinct addresses of the same
// family with at least one local end. Two local ends are ordered lower
// address first.
func Compile(locals, remotes []netip.Addr, expires time.Time) []Pair {
	isLocal := make(map[netip.Addr]bool, len(locals))
	for _, l := range locals {
		isLocal[l] = true
	}
	seen := map[Key]bool{}
	var out []Pair
	for _, l := range locals {
		for _, r := range remotes {
			if l == r || l.Is4() != r.Is4() {
				continue
			}
			k := Key{Local: l, Remote: r}
			if isLocal[r] && r.Less(l) {
				k = Key{Local: r, Remote: l}
			}
			if !seen[k] {
				seen[k] = true
				out = append(out, Pair{Key: k, Expires: expires})
			}
		}
	}
	SortPairs(out)
	return out
}

// Backend makes a network enforce pairs. Implementations say in their
// errors which failures are worth retrying: an error wrapping ErrTemporary
// means the same call may succeed later (a router unreachable, a netlink
// buffer full); an error wrapping ErrConfig means the backend is
// misconfigured and retrying will not help. A failed call may have applied
// part of its pairs; callers recover with Reconcile. A backend starting
// over state it did not write (a new process over kernel sets or a router
// RIB) should be reconciled before Add or Remove, so that it learns what is
// installed without reading large state back.
type Backend interface {
	// Add installs pairs. A pair already installed takes the later of its
	// installed and new expiries. Pairs at or past their expiry are skipped.
	Add(ctx context.Context, pairs []Pair) error
	// Remove withdraws pairs before their expiry (an upheld dispute, a
	// revocation). Removing a pair that is not installed is not an error.
	Remove(ctx context.Context, keys []Key) error
	// Reconcile makes the installed state equal to desired: it installs
	// what is missing, withdraws what is not desired and corrects expiries.
	// Nodes call it at start, with their stored desired state.
	Reconcile(ctx context.Context, desired []Pair) error
}

// Lister is a Backend that can report what it has installed, for status
// and tests. Reading installed state back can be slow for large states
// (nftables dumps sets in time quadratic in their size): nodes keep their
// own record and do not call Installed on the hot path.
type Lister interface {
	Installed(ctx context.Context) ([]Pair, error)
}

// Uninstaller is a Backend that can remove everything it installed,
// including its own scaffolding (an nftables table, BGP sessions).
type Uninstaller interface {
	Uninstall(ctx context.Context) error
}

// Errors that classify backend failures; see Backend.
var (
	ErrTemporary = errors.New("temporary enforcement failure")
	ErrConfig    = errors.New("enforcement backend misconfigured")
)
