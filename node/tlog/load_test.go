package tlog_test

import (
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/docket-project/docket/node/tlog"
)

// TestLoad measures submission latency and append throughput. It is heavy,
// so it runs only when DOCKET_TLOG_LOAD is set:
//
//	DOCKET_TLOG_LOAD=1 go test -run TestLoad -v ./node/tlog
func TestLoad(t *testing.T) {
	if os.Getenv("DOCKET_TLOG_LOAD") == "" {
		t.Skip("set DOCKET_TLOG_LOAD=1 to measure latency and throughput")
	}
	const sequential, bulk, workers = 200, 10000, 500
	tl := newTestLog(t)
	o := newObjects(t)
	entries := make([][]byte, sequential+bulk)
	for i := range entries {
		entries[i], _ = o.credential(t, fmt.Sprintf("Holder %d", i))
	}

	// Latency: one submission at a time over HTTP, until its proof arrives.
	lat := make([]time.Duration, sequential)
	for i := range sequential {
		start := time.Now()
		status, body := tl.post(t, tlog.KindAuto, entries[i])
		lat[i] = time.Since(start)
		if status != 200 {
			t.Fatalf("POST /add: %d %s", status, body)
		}
	}
	slices.Sort(lat)
	t.Logf("latency over %d sequential HTTP submissions: p50 %v, p99 %v, max %v",
		sequential, lat[sequential/2], lat[sequential*99/100], lat[sequential-1])

	// Throughput: many concurrent submissions through the Go API.
	work := make(chan []byte)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for e := range work {
				if _, err := tl.log.Submit(t.Context(), tlog.KindAuto, e); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for _, e := range entries[sequential:] {
		work <- e
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("throughput: %d entries appended and proven in %v (%.0f entries/s, %d concurrent submitters)",
		bulk, elapsed, float64(bulk)/elapsed.Seconds(), workers)
	if n := tl.tree(t).N; n != int64(len(entries)) {
		t.Errorf("tree size %d, want %d", n, len(entries))
	}
}
