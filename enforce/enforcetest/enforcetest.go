// Package enforcetest holds the conformance test every enforcement backend
// runs, so that nft, flowspec and dryrun keep the same contract
// (enforce.Backend).
package enforcetest

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/docket-project/docket/enforce"
)

// TestBackend checks b's contract. newBackend returns a fresh backend with
// nothing installed, which must also implement enforce.Lister; life is how
// long the pairs it installs live, long enough for the test's steps (a few
// seconds for kernel timers, longer for slow backends).
func TestBackend(t *testing.T, newBackend func(t *testing.T) enforce.Backend, life time.Duration) {
	ctx := context.Background()
	p := func(local, remote string, expires time.Time) enforce.Pair {
		return enforce.Pair{Key: enforce.Key{Local: netip.MustParseAddr(local), Remote: netip.MustParseAddr(remote)}, Expires: expires}
	}
	installed := func(t *testing.T, b enforce.Backend) map[enforce.Key]time.Time {
		t.Helper()
		l, ok := b.(enforce.Lister)
		if !ok {
			t.Fatalf("backend %T does not implement enforce.Lister", b)
		}
		pairs, err := l.Installed(ctx)
		if err != nil {
			t.Fatalf("Installed: %v", err)
		}
		out := map[enforce.Key]time.Time{}
		for _, p := range pairs {
			if _, dup := out[p.Key]; dup {
				t.Errorf("pair %v installed twice", p.Key)
			}
			out[p.Key] = p.Expires
		}
		return out
	}
	// near reports whether an installed expiry matches a wanted one within
	// the precision backends keep (kernel timeouts count milliseconds,
	// routers whole seconds).
	near := func(got, want time.Time) bool {
		d := got.Sub(want)
		return d > -2*time.Second && d < 2*time.Second
	}

	t.Run("AddBothFamilies", func(t *testing.T) {
		b := newBackend(t)
		exp := time.Now().Add(life)
		want := []enforce.Pair{p("198.51.100.1", "203.0.113.1", exp), p("2001:db8::1", "2001:db8:1::1", exp)}
		if err := b.Add(ctx, want); err != nil {
			t.Fatal(err)
		}
		got := installed(t, b)
		if len(got) != 2 {
			t.Fatalf("installed %v, want both pairs", got)
		}
		for _, w := range want {
			if e, ok := got[w.Key]; !ok || !near(e, w.Expires) {
				t.Errorf("pair %v installed until %v, want %v", w.Key, e, w.Expires)
			}
		}
	})

	t.Run("RefreshKeepsLaterExpiry", func(t *testing.T) {
		b := newBackend(t)
		long, short := time.Now().Add(life), time.Now().Add(life/2)
		pair := p("198.51.100.1", "203.0.113.1", short)
		if err := b.Add(ctx, []enforce.Pair{pair}); err != nil {
			t.Fatal(err)
		}
		pair.Expires = long
		if err := b.Add(ctx, []enforce.Pair{pair}); err != nil {
			t.Fatal(err)
		}
		if e := installed(t, b)[pair.Key]; !near(e, long) {
			t.Fatalf("after refresh installed until %v, want the later %v", e, long)
		}
		pair.Expires = short
		if err := b.Add(ctx, []enforce.Pair{pair}); err != nil {
			t.Fatal(err)
		}
		if e := installed(t, b)[pair.Key]; !near(e, long) {
			t.Fatalf("an earlier expiry shortened the pair to %v, want %v kept", e, long)
		}
	})

	t.Run("SamePairTwiceInOneAdd", func(t *testing.T) {
		b := newBackend(t)
		long, short := time.Now().Add(life), time.Now().Add(life/2)
		pair := p("198.51.100.1", "203.0.113.1", long)
		again := pair
		again.Expires = short
		if err := b.Add(ctx, []enforce.Pair{pair, again}); err != nil {
			t.Fatal(err)
		}
		got := installed(t, b)
		if e, ok := got[pair.Key]; len(got) != 1 || !ok || !near(e, long) {
			t.Fatalf("installed %v, want the pair once until the later %v", got, long)
		}
	})

	t.Run("SkipsExpired", func(t *testing.T) {
		b := newBackend(t)
		if err := b.Add(ctx, []enforce.Pair{p("198.51.100.1", "203.0.113.1", time.Now().Add(-time.Second))}); err != nil {
			t.Fatal(err)
		}
		if got := installed(t, b); len(got) != 0 {
			t.Fatalf("installed an expired pair: %v", got)
		}
	})

	t.Run("InvalidPairInstallsNothing", func(t *testing.T) {
		b := newBackend(t)
		exp := time.Now().Add(life)
		err := b.Add(ctx, []enforce.Pair{p("198.51.100.1", "203.0.113.1", exp), p("198.51.100.1", "2001:db8::1", exp)})
		if !errors.Is(err, enforce.ErrInvalidPair) {
			t.Fatalf("Add with a mixed-family pair: %v, want ErrInvalidPair", err)
		}
		if got := installed(t, b); len(got) != 0 {
			t.Fatalf("a rejected Add installed %v", got)
		}
	})

	t.Run("InvalidReconcileChangesNothing", func(t *testing.T) {
		b := newBackend(t)
		exp := time.Now().Add(life)
		kept := p("198.51.100.1", "203.0.113.1", exp)
		if err := b.Add(ctx, []enforce.Pair{kept}); err != nil {
			t.Fatal(err)
		}
		err := b.Reconcile(ctx, []enforce.Pair{p("198.51.100.2", "203.0.113.2", exp), p("198.51.100.3", "198.51.100.3", exp)})
		if !errors.Is(err, enforce.ErrInvalidPair) {
			t.Fatalf("Reconcile with a pair of one address: %v, want ErrInvalidPair", err)
		}
		if got := installed(t, b); len(got) != 1 || got[kept.Key].IsZero() {
			t.Fatalf("a rejected Reconcile changed the installed state to %v", got)
		}
	})

	t.Run("Remove", func(t *testing.T) {
		b := newBackend(t)
		exp := time.Now().Add(life)
		keep, drop := p("198.51.100.1", "203.0.113.1", exp), p("198.51.100.2", "203.0.113.1", exp)
		if err := b.Add(ctx, []enforce.Pair{keep, drop}); err != nil {
			t.Fatal(err)
		}
		if err := b.Remove(ctx, []enforce.Key{drop.Key, p("198.51.100.9", "203.0.113.9", exp).Key}); err != nil {
			t.Fatalf("Remove (one pair not installed): %v", err)
		}
		got := installed(t, b)
		if _, ok := got[drop.Key]; ok || len(got) != 1 {
			t.Fatalf("after Remove installed %v, want only %v", got, keep.Key)
		}
	})

	t.Run("Reconcile", func(t *testing.T) {
		b := newBackend(t)
		exp := time.Now().Add(life)
		stale, kept := p("198.51.100.1", "203.0.113.1", exp), p("198.51.100.2", "203.0.113.1", exp)
		if err := b.Add(ctx, []enforce.Pair{stale, kept}); err != nil {
			t.Fatal(err)
		}
		later := exp.Add(life / 2)
		kept.Expires = later
		added := p("2001:db8::2", "2001:db8:1::2", exp)
		if err := b.Reconcile(ctx, []enforce.Pair{kept, added}); err != nil {
			t.Fatal(err)
		}
		got := installed(t, b)
		if len(got) != 2 {
			t.Fatalf("after Reconcile installed %v, want exactly the desired two", got)
		}
		if e := got[kept.Key]; !near(e, later) {
			t.Errorf("reconciled pair until %v, want %v", e, later)
		}
		if _, ok := got[added.Key]; !ok {
			t.Errorf("Reconcile did not install %v", added.Key)
		}
	})
}
