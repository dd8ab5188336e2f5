package policy_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/node/policy"
)

func TestClaimantWindowSlides(t *testing.T) {
	var w policy.ClaimantWindow
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	const a, b sign.KeyID = "claimant-a", "claimant-b"
	if n := w.Count(a, t0); n != 0 {
		t.Fatalf("empty window counts %d", n)
	}
	w.Record(a, 10, t0)
	w.Record(a, 0, t0)  // ignored
	w.Record(a, -5, t0) // ignored
	w.Record(b, 7, t0.Add(10*time.Minute))
	w.Record(a, 20, t0.Add(30*time.Minute))
	for _, tt := range []struct {
		claimant sign.KeyID
		at       time.Duration
		want     int
	}{
		{a, 0, 30}, // an install recorded after now still counts
		{a, 30 * time.Minute, 30},
		{a, time.Hour - time.Nanosecond, 30},
		{a, time.Hour, 20}, // exactly an hour old: no longer counts
		{a, 90*time.Minute - time.Nanosecond, 20},
		{a, 90 * time.Minute, 0},
		{b, time.Hour, 7},
		{b, 70 * time.Minute, 0},
		{"claimant-c", 0, 0},
	} {
		if n := w.Count(tt.claimant, t0.Add(tt.at)); n != tt.want {
			t.Errorf("Count(%s, t0+%v) = %d, want %d", tt.claimant, tt.at, n, tt.want)
		}
	}
	// Recording forgets what no longer counts, for every claimant.
	w.Record(b, 1, t0.Add(2*time.Hour))
	if n := w.Count(a, t0); n != 0 {
		t.Errorf("after a record two hours later, t0's installs still count %d", n)
	}
}

func TestClaimantWindowConcurrent(t *testing.T) {
	var w policy.ClaimantWindow
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			claimant := sign.KeyID(fmt.Sprintf("claimant-%d", g%2))
			for i := range 100 {
				w.Record(claimant, 1, t0.Add(time.Duration(i)*time.Second))
				w.Count(claimant, t0.Add(time.Duration(i)*time.Second))
			}
		})
	}
	wg.Wait()
	for c := range 2 {
		if n := w.Count(sign.KeyID(fmt.Sprintf("claimant-%d", c)), t0.Add(time.Minute)); n != 400 {
			t.Errorf("claimant-%d: %d pairs, want 400", c, n)
		}
	}
}
