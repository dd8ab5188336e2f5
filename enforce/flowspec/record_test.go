package flowspec

import (
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/docket-project/docket/enforce"
)

// TestPlanMatchesGreedy checks plan's heap selection against the rule it
// implements, applied literally: sort every pair in keepFirst order and
// keep each pair whose new rules fit. The pairs are drawn from few
// addresses and expiries, so that twins and ties are common.
func TestPlanMatchesGreedy(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Unix(1_800_000_000, 0)
	for iter := range 300 {
		r := record{}
		for range rng.IntN(40) {
			a := netip.AddrFrom4([4]byte{10, 0, 0, byte(rng.IntN(8))})
			b := netip.AddrFrom4([4]byte{10, 0, 0, byte(rng.IntN(8))})
			if a == b {
				continue
			}
			r.add(enforce.Pair{Key: enforce.Key{Local: a, Remote: b}, Expires: base.Add(time.Duration(rng.IntN(5)) * time.Second)})
		}
		maxRules := 2 + rng.IntN(30)

		target, next := r.plan(maxRules)

		all := r.pairs(func(*entry) bool { return true })
		slices.SortFunc(all, keepFirst)
		want, wantKeep := map[rule]bool{}, map[enforce.Key]bool{}
		for _, p := range all {
			rs := rulesOf(p.Key)
			need := 0
			for _, x := range rs {
				if !want[x] {
					need++
				}
			}
			if len(want)+need <= maxRules {
				wantKeep[p.Key] = true
				want[rs[0]], want[rs[1]] = true, true
			}
		}
		if !maps.Equal(target, want) {
			t.Fatalf("iteration %d (%d pairs, max %d): plan chose rules %v, want %v", iter, len(r), maxRules, target, want)
		}
		for k, e := range r {
			if e.keep != wantKeep[k] {
				t.Fatalf("iteration %d (%d pairs, max %d): pair %v keep = %v, want %v", iter, len(r), maxRules, k, e.keep, wantKeep[k])
			}
		}
		if len(all) > 0 && !next.Equal(slices.MinFunc(all, func(a, b enforce.Pair) int { return a.Expires.Compare(b.Expires) }).Expires) {
			t.Fatalf("iteration %d: next expiry %v is not the earliest", iter, next)
		}
	}
}

// BenchmarkPlan measures planning 100,000 desired pairs under the default
// cap, which every Add, Remove and expiry does.
func BenchmarkPlan(b *testing.B) {
	r := record{}
	now := time.Now()
	remote := netip.MustParseAddr("203.0.113.1")
	for i := range 100_000 {
		local := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		r.add(enforce.Pair{Key: enforce.Key{Local: local, Remote: remote}, Expires: now.Add(time.Duration(i%977) * time.Second)})
	}
	for b.Loop() {
		r.plan(DefaultMaxRules)
	}
}
