package policy

import (
	"sync"
	"time"

	"github.com/docket-project/docket/crypto/sign"
)

// ClaimantWindowLength is the length of the sliding window of
// MaxPairsPerClaimantPerHour.
const ClaimantWindowLength = time.Hour

// ClaimantWindow counts, for each claimant, the pairs installed on its
// assertions in the last ClaimantWindowLength: a sliding window, so an
// install stops counting exactly an hour after it happened. It reads no
// clock; callers pass the time. The zero value is an empty window, ready to
// use. A ClaimantWindow is safe for concurrent use.
type ClaimantWindow struct {
	mu sync.Mutex
	// installs holds, per claimant, the installs recorded at most an hour
	// before the latest Record. Guarded by mu.
	installs map[sign.KeyID][]install
}

// install is one Record call.
type install struct {
	at    time.Time
	pairs int
}

// Record counts pairs installed at time at on an assertion of claimant.
// Callers record a verdict's pairs when, and only if, they install them:
//
//	w.Record(v.Claimant, len(v.Pairs), now)
//
// Record also forgets installs that no longer count.
func (w *ClaimantWindow) Record(claimant sign.KeyID, pairs int, at time.Time) {
	if pairs <= 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.installs == nil {
		w.installs = map[sign.KeyID][]install{}
	}
	cutoff := at.Add(-ClaimantWindowLength)
	for c, list := range w.installs {
		kept := list[:0]
		for _, in := range list {
			if in.at.After(cutoff) {
				kept = append(kept, in)
			}
		}
		if len(kept) == 0 {
			delete(w.installs, c)
		} else {
			w.installs[c] = kept
		}
	}
	w.installs[claimant] = append(w.installs[claimant], install{at: at, pairs: pairs})
}

// Count returns the pairs recorded for claimant in the hour before now:
// those recorded strictly after now − ClaimantWindowLength (including any
// recorded after now).
func (w *ClaimantWindow) Count(claimant sign.KeyID, now time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	cutoff := now.Add(-ClaimantWindowLength)
	n := 0
	for _, in := range w.installs[claimant] {
		if in.at.After(cutoff) {
			n += in.pairs
		}
	}
	return n
}
