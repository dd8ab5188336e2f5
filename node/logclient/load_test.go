package logclient_test

import (
	"bytes"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/docket-project/docket/node/tlog"
)

// TestWitnessLatency measures what 2-of-2 witness cosigning adds to
// checkpoint publication: the latency from submission to inclusion proof,
// one submission at a time over HTTP, for a log without witnesses and for
// one that requires both of two, and the time each witness takes to
// answer the log. It is heavy, so it runs only when DOCKET_WITNESS_LOAD is
// set:
//
//	DOCKET_WITNESS_LOAD=1 go test -run TestWitnessLatency -v ./node/logclient
func TestWitnessLatency(t *testing.T) {
	if os.Getenv("DOCKET_WITNESS_LOAD") == "" {
		t.Skip("set DOCKET_WITNESS_LOAD=1 to measure the latency witnesses add")
	}
	const n = 300
	is := newIssuer(t)
	lk := newLogKey(t)
	plainLog := newTestLog(t, lk, 0)
	lk2 := newLogKey(t)
	var mu sync.Mutex
	var answers []time.Duration // of the witnesses to add-checkpoint
	timed := func(tw *testWitness) *testWitness {
		h := tw.w.Handler()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			h.ServeHTTP(w, r)
			mu.Lock()
			defer mu.Unlock()
			answers = append(answers, time.Since(start))
		}))
		t.Cleanup(srv.Close)
		tw.url = srv.URL
		return tw
	}
	w1 := timed(newTestWitness(t, "witness1.example", lk2))
	w2 := timed(newTestWitness(t, "witness2.example", lk2))
	witnessedLog := newTestLog(t, lk2, 2, w1, w2)
	post := func(l *testLog, e []byte) time.Duration {
		start := time.Now()
		resp, err := http.Post(l.url+"/add", "application/octet-stream", bytes.NewReader(e))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /add: %s", resp.Status)
		}
		return time.Since(start)
	}
	// Alternating between the logs, so that both see the same load from
	// the rest of the machine, with a random pause before each submission
	// so that it falls anywhere in the log's checkpoint interval.
	pause := func() { time.Sleep(rand.N(tlog.DefaultCheckpointInterval)) }
	entries := is.credentials(t, "Holder", n)
	plain := make([]time.Duration, n)
	witnessed := make([]time.Duration, n)
	for i, e := range entries {
		pause()
		plain[i] = post(plainLog, e)
		pause()
		witnessed[i] = post(witnessedLog, e)
	}
	slices.Sort(plain)
	slices.Sort(witnessed)
	mu.Lock()
	slices.Sort(answers)
	mu.Unlock()
	p := func(lat []time.Duration, q int) time.Duration { return lat[len(lat)*q/100] }
	t.Logf("submit→proof latency over %d sequential HTTP submissions:", n)
	t.Logf("  no witness:     p50 %v, p99 %v, max %v", p(plain, 50), p(plain, 99), plain[n-1])
	t.Logf("  2 of 2 witness: p50 %v, p99 %v, max %v", p(witnessed, 50), p(witnessed, 99), witnessed[n-1])
	t.Logf("  added by cosigning: p50 %v (×%.2f), p99 %v (×%.2f)",
		p(witnessed, 50)-p(plain, 50), float64(p(witnessed, 50))/float64(p(plain, 50)),
		p(witnessed, 99)-p(plain, 99), float64(p(witnessed, 99))/float64(p(plain, 99)))
	t.Logf("witness answers to add-checkpoint (%d): p50 %v, p99 %v, max %v",
		len(answers), p(answers, 50), p(answers, 99), answers[len(answers)-1])
}
