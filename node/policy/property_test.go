package policy_test

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/docket-project/docket/enforce"
	"github.com/docket-project/docket/node/policy"
	"github.com/docket-project/docket/protocol"
)

// TestHardRulesProperty evaluates random swarms under random policies and
// checks every verdict against the hard rules, and against a brute-force
// computation of the pairs they allow.
func TestHardRulesProperty(t *testing.T) {
	const iterations = 300
	fx := newFixture(t)
	rng := rand.New(rand.NewPCG(20260601, 1))
	roots := policy.RootServers()
	grades := []protocol.Grade{vt, hs, anno}
	// Configured protection lies partly inside the own prefixes.
	protectedPool := []netip.Prefix{
		netip.MustParsePrefix("203.0.113.0/28"),
		netip.MustParsePrefix("2001:db8:b::/64"),
	}
	infraPool := []netip.Prefix{
		netip.MustParsePrefix("198.51.100.240/28"),
		netip.MustParsePrefix("2001:db8:a:ffff::/64"),
	}
	accepted := 0
	for i := range iterations {
		cfg := policy.Config{
			OwnPrefixes:          ownPrefixes,
			MaxTTL:               policy.Duration(time.Duration(1+rng.IntN(20)) * time.Minute),
			MaxPairsPerAssertion: 1 << 20,
		}
		for _, g := range []protocol.Grade{vt, hs} {
			if rng.IntN(2) == 0 {
				cfg.LocalGrades = append(cfg.LocalGrades, g)
			}
		}
		for _, p := range protectedPool {
			if rng.IntN(2) == 0 {
				cfg.Protected = append(cfg.Protected, p)
			}
		}
		for _, p := range infraPool {
			if rng.IntN(2) == 0 {
				cfg.Infrastructure = append(cfg.Infrastructure, p)
			}
		}
		if rng.IntN(4) == 0 {
			cfg.Rules = []string{"a.local_peers > 0", "a.peers >= a.local_peers"}
		}
		pol, err := policy.New(cfg)
		if err != nil {
			t.Fatal(err)
		}

		// A swarm of 1 to 30 peers from these pools, routed at random. The
		// first is routed to this ISP, so that it gets a section.
		seen := map[netip.Addr]bool{}
		var peers []peer
		for n := 1 + rng.IntN(30); len(peers) < n; {
			var addr netip.Addr
			switch rng.IntN(6) {
			case 0: // own IPv4, including infrastructure
				addr = netip.AddrFrom4([4]byte{198, 51, 100, byte(rng.IntN(256))})
			case 1: // own IPv6, including infrastructure
				addr = netip.MustParseAddr("2001:db8:a::").Next()
				if rng.IntN(3) == 0 {
					addr = netip.MustParseAddr("2001:db8:a:ffff::1")
				}
				for range rng.IntN(8) {
					addr = addr.Next()
				}
			case 2: // remote, some protected
				addr = netip.AddrFrom4([4]byte{203, 0, 113, byte(rng.IntN(64))})
			case 3:
				addr = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0xb, 15: byte(rng.IntN(8))})
				if rng.IntN(2) == 0 {
					addr = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0xc, 15: byte(rng.IntN(8))})
				}
			case 4: // a root server
				addr = roots[rng.IntN(len(roots))].Addr()
			case 5: // documentation range of nobody's
				addr = netip.AddrFrom4([4]byte{192, 0, 2, byte(rng.IntN(256))})
			}
			if seen[addr] {
				continue
			}
			seen[addr] = true
			p := peer{addr: addr, grade: grades[rng.IntN(len(grades))]}
			switch rng.IntN(3) {
			case 0:
				p.isp = "isp-a"
			case 1:
				p.isp = "isp-b"
			}
			if len(peers) == 0 {
				p.isp = "isp-a"
			}
			peers = append(peers, p)
		}
		va := fx.verify(t, peers...)
		v, err := pol.Evaluate(va, evalAt, policy.Counters{})

		// The oracle: every unordered couple of unprotected addresses of a
		// family with an eligible local end: a peer with evidence, in the
		// own prefixes, of an allowed grade (a candidate) and unprotected.
		// Couples with a candidate and a protected end are dropped.
		protected := slices.Concat(roots, cfg.Protected, cfg.Infrastructure)
		isProtected := func(a netip.Addr) bool {
			return slices.ContainsFunc(protected, func(p netip.Prefix) bool { return p.Contains(a) })
		}
		allowed := cfg.LocalGrades
		if len(allowed) == 0 {
			allowed = policy.DefaultLocalGrades
		}
		candidate := func(p protocol.Peer) bool {
			own := slices.ContainsFunc(ownPrefixes, func(q netip.Prefix) bool { return q.Contains(p.Addr) })
			return p.Evidence != nil && own && slices.Contains(allowed, p.Evidence.Grade)
		}
		eligible := map[netip.Addr]bool{}
		for _, p := range va.Section.Peers {
			if candidate(p) && !isProtected(p.Addr) {
				eligible[p.Addr] = true
			}
		}
		want := map[enforce.Key]bool{}
		droppedPairs := 0
		for _, x := range va.Section.Peers {
			for _, y := range va.Section.Peers {
				switch {
				case !x.Addr.Less(y.Addr) || x.Addr.Is4() != y.Addr.Is4():
				case isProtected(x.Addr) || isProtected(y.Addr):
					if candidate(x) || candidate(y) {
						droppedPairs++
					}
				case eligible[x.Addr]:
					want[enforce.Key{Local: x.Addr, Remote: y.Addr}] = true
				case eligible[y.Addr]:
					want[enforce.Key{Local: y.Addr, Remote: x.Addr}] = true
				}
			}
		}

		if err != nil {
			if code := policy.CodeOf(err); code != policy.CodeNothingToEnforce || len(want) > 0 {
				t.Fatalf("iteration %d: %v, with %d pairs allowed\npeers %v\nconfig %+v", i, err, len(want), peers, cfg)
			}
			continue
		}
		accepted++
		if len(v.Pairs) != len(want) {
			t.Errorf("iteration %d: %d pairs, want %d", i, len(v.Pairs), len(want))
		}
		limit := evalAt.Add(time.Duration(cfg.MaxTTL))
		for _, p := range v.Pairs {
			switch {
			case p.Validate() != nil:
				t.Errorf("iteration %d: pair %v: %v", i, p.Key, p.Validate())
			case isProtected(p.Local) || isProtected(p.Remote):
				t.Errorf("iteration %d: pair %v has a protected end", i, p.Key)
			case !eligible[p.Local]:
				t.Errorf("iteration %d: pair %v: local end is not an own local peer of an allowed grade", i, p.Key)
			case !want[p.Key]:
				t.Errorf("iteration %d: pair %v is not allowed", i, p.Key)
			case p.Expires.After(va.Assertion.NotAfter) || p.Expires.After(va.Until) || p.Expires.After(limit) || !p.Expires.After(evalAt):
				t.Errorf("iteration %d: pair %v expires at %v, outside (now, min(not_after %v, now+max_ttl %v)]", i, p.Key, p.Expires, va.Assertion.NotAfter, limit)
			}
		}
		protectedPeers := 0
		for _, p := range va.Section.Peers {
			if isProtected(p.Addr) {
				protectedPeers++
			}
		}
		if v.Excluded.ProtectedPeers != protectedPeers || v.Excluded.ProtectedPairs != droppedPairs || v.LocalEnds != len(eligible) {
			t.Errorf("iteration %d: verdict counts %d protected peers, %d protected pairs and %d local ends, want %d, %d and %d",
				i, v.Excluded.ProtectedPeers, v.Excluded.ProtectedPairs, v.LocalEnds, protectedPeers, droppedPairs, len(eligible))
		}
	}
	if accepted < iterations/4 {
		t.Errorf("only %d of %d random assertions accepted: the generator tests too little", accepted, iterations)
	}
	t.Logf("%d of %d accepted", accepted, iterations)
}
