package flowspec

import (
	"cmp"
	"container/heap"
	"slices"
	"time"

	"github.com/docket-project/docket/enforce"
)

// record is the Backend's desired state: every pair asked for and neither
// expired nor removed, announced or shed. It is a map of its own rather
// than an enforce.State so that planning costs one pass over the pairs
// plus a selection of the best MaxRules, not a sort of all of them: the
// desired state can be far larger than the cap.
type record map[enforce.Key]*entry

type entry struct {
	expires time.Time
	// keep is set by plan: the pair's rules fit under the cap.
	keep bool
	// announced is set once both of the pair's rules are in the RIB.
	announced bool
	// shed is set while the pair is left out for lack of room and counted
	// in Stats.Shed.
	shed bool
}

// add records p, keeping the later of its recorded and new expiries.
func (r record) add(p enforce.Pair) {
	if e, ok := r[p.Key]; !ok {
		r[p.Key] = &entry{expires: p.Expires}
	} else if p.Expires.After(e.expires) {
		e.expires = p.Expires
	}
}

// addLive adds the pairs that expire after now.
func (r record) addLive(pairs []enforce.Pair, now time.Time) {
	for _, p := range pairs {
		if p.Expires.After(now) {
			r.add(p)
		}
	}
}

// expire drops the pairs that expire at or before now and returns how
// many it dropped.
func (r record) expire(now time.Time) int {
	n := 0
	for k, e := range r {
		if !e.expires.After(now) {
			delete(r, k)
			n++
		}
	}
	return n
}

// pairs returns the pairs for which include is true, sorted by local then
// remote address.
func (r record) pairs(include func(*entry) bool) []enforce.Pair {
	var out []enforce.Pair
	for k, e := range r {
		if include(e) {
			out = append(out, enforce.Pair{Key: k, Expires: e.expires})
		}
	}
	enforce.SortPairs(out)
	return out
}

// keepFirst orders pairs as the package documentation says shedding keeps
// them: later expiry, then lower local address, then lower remote address.
func keepFirst(a, b enforce.Pair) int {
	return cmp.Or(b.Expires.Compare(a.Expires), a.Local.Compare(b.Local), a.Remote.Compare(b.Remote))
}

// plan sets each entry's keep flag for a cap of maxRules rules and returns
// the rules the kept pairs need and the earliest expiry (zero if r is
// empty).
//
// Walking all pairs in keepFirst order, a pair is kept if the rules it
// adds fit. A pair adds two rules or none (when its twin, the same two
// addresses the other way round, is already kept), so after the first
// maxRules pairs in that order the rules are full and only twins of kept
// pairs can still be kept: plan selects those first maxRules pairs with a
// heap instead of sorting everything, then keeps the remaining twins.
func (r record) plan(maxRules int) (target map[rule]bool, next time.Time) {
	target = map[rule]bool{}
	for _, e := range r {
		if next.IsZero() || e.expires.Before(next) {
			next = e.expires
		}
		e.keep = false
	}
	if 2*len(r) <= maxRules {
		for k, e := range r {
			e.keep = true
			for _, x := range rulesOf(k) {
				target[x] = true
			}
		}
		return target, next
	}
	best := &worstFirst{}
	for k, e := range r {
		p := enforce.Pair{Key: k, Expires: e.expires}
		switch {
		case best.Len() < maxRules:
			heap.Push(best, p)
		case keepFirst(p, (*best)[0]) < 0:
			(*best)[0] = p
			heap.Fix(best, 0)
		}
	}
	candidates := []enforce.Pair(*best)
	slices.SortFunc(candidates, keepFirst)
	for _, p := range candidates {
		rs := rulesOf(p.Key)
		if !target[rs[0]] && len(target)+len(rs) > maxRules {
			continue
		}
		r[p.Key].keep = true
		for _, x := range rs {
			target[x] = true
		}
	}
	for k, e := range r {
		if rs := rulesOf(k); !e.keep && target[rs[0]] && target[rs[1]] {
			e.keep = true
		}
	}
	return target, next
}

// worstFirst is a heap of pairs whose root is the one shedding would drop
// first.
type worstFirst []enforce.Pair

func (h worstFirst) Len() int           { return len(h) }
func (h worstFirst) Less(i, j int) bool { return keepFirst(h[i], h[j]) > 0 }
func (h worstFirst) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *worstFirst) Push(x any)        { *h = append(*h, x.(enforce.Pair)) }
func (h *worstFirst) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
