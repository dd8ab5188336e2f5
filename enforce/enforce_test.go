package enforce_test

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/docket-project/docket/enforce"
)

var t0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func pair(l, r string, exp time.Time) enforce.Pair {
	return enforce.Pair{Key: enforce.Key{Local: addr(l), Remote: addr(r)}, Expires: exp}
}

func TestStateMergesToLaterExpiry(t *testing.T) {
	t.Parallel()
	s := enforce.NewState()
	if err := s.Add(pair("198.51.100.1", "203.0.113.1", t0.Add(10*time.Minute))); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(pair("198.51.100.1", "203.0.113.1", t0.Add(5*time.Minute)), pair("198.51.100.1", "203.0.113.2", t0.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	got := s.Pairs()
	if len(got) != 2 || !got[0].Expires.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("pairs = %v, want two with the first keeping the later expiry", got)
	}
	if err := s.Add(pair("198.51.100.1", "203.0.113.1", t0.Add(20*time.Minute))); err != nil {
		t.Fatal(err)
	}
	if got := s.Pairs()[0].Expires; !got.Equal(t0.Add(20 * time.Minute)) {
		t.Fatalf("refresh did not extend: %v", got)
	}
	gone := s.Expire(t0.Add(time.Minute))
	if len(gone) != 1 || s.Len() != 1 {
		t.Fatalf("expire at +1m removed %v, left %d", gone, s.Len())
	}
}

func TestStateRejectsInvalidPairsAtomically(t *testing.T) {
	t.Parallel()
	for _, bad := range []enforce.Pair{
		pair("198.51.100.1", "2001:db8::1", t0),
		pair("198.51.100.1", "198.51.100.1", t0),
		pair("::ffff:198.51.100.1", "::ffff:203.0.113.1", t0),
		pair("fe80::1%eth0", "fe80::2", t0),
		{Key: enforce.Key{Local: addr("198.51.100.1")}, Expires: t0},
	} {
		s := enforce.NewState()
		err := s.Add(pair("198.51.100.1", "203.0.113.1", t0), bad)
		if !errors.Is(err, enforce.ErrInvalidPair) {
			t.Errorf("Add(%v): %v, want ErrInvalidPair", bad, err)
		}
		if s.Len() != 0 {
			t.Errorf("Add(%v) failed but added %d pairs", bad, s.Len())
		}
	}
}

func TestCompile(t *testing.T) {
	t.Parallel()
	locals := []netip.Addr{addr("198.51.100.2"), addr("198.51.100.1"), addr("2001:db8::1")}
	remotes := []netip.Addr{addr("198.51.100.1"), addr("198.51.100.2"), addr("203.0.113.1"), addr("2001:db8::1"), addr("2001:db8:1::1")}
	got := enforce.Compile(locals, remotes, t0)
	want := []enforce.Key{
		{Local: addr("198.51.100.1"), Remote: addr("198.51.100.2")},
		{Local: addr("198.51.100.1"), Remote: addr("203.0.113.1")},
		{Local: addr("198.51.100.2"), Remote: addr("203.0.113.1")},
		{Local: addr("2001:db8::1"), Remote: addr("2001:db8:1::1")},
	}
	if len(got) != len(want) {
		t.Fatalf("Compile = %v, want %v", got, want)
	}
	for i, p := range got {
		if p.Key != want[i] || !p.Expires.Equal(t0) {
			t.Errorf("pair %d = %v, want %v until %v", i, p, want[i], t0)
		}
		if err := p.Validate(); err != nil {
			t.Errorf("compiled an invalid pair: %v", err)
		}
	}
}

// TestCompileScale checks the debate's example: 500 peers of which 50 are
// local give 50×499 - C(50,2) pairs, not 500², and compile quickly enough
// to be measured by BenchmarkCompile.
func TestCompileScale(t *testing.T) {
	t.Parallel()
	var all []netip.Addr
	a := addr("198.51.100.0")
	for range 500 {
		a = a.Next()
		all = append(all, a)
	}
	got := len(enforce.Compile(all[:50], all, t0))
	if want := 50*499 - 50*49/2; got != want {
		t.Fatalf("%d pairs, want %d", got, want)
	}
}
