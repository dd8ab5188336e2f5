package tlog_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/node/tlog"
)

// benchWorkers is how many submitters wait for their proofs at once.
const benchWorkers = 1000

// benchSubmit calls Submit for every object from benchWorkers goroutines
// and reports entries/s and the latency percentiles of one submission.
func benchSubmit(b *testing.B, l *tlog.Log, objects [][]byte) {
	b.Helper()
	b.ResetTimer()
	start := time.Now()
	lat := submitAll(b, l, objects)
	elapsed := time.Since(start)
	b.StopTimer()
	report(b, len(objects), elapsed, lat)
}

// report reports entries/s and the p50 and p99 of lat.
func report(b *testing.B, n int, elapsed time.Duration, lat []time.Duration) {
	slices.Sort(lat)
	b.ReportMetric(float64(n)/elapsed.Seconds(), "entries/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// submitAll calls Submit for every object from benchWorkers goroutines and
// returns the latency of each.
func submitAll(b testing.TB, l *tlog.Log, objects [][]byte) []time.Duration {
	b.Helper()
	return run(b, objects, func(o []byte) error {
		_, err := l.Submit(b.Context(), tlog.KindAuto, o)
		return err
	})
}

// run calls f for every object from benchWorkers goroutines and returns
// the latency of each call.
func run(b testing.TB, objects [][]byte, f func([]byte) error) []time.Duration {
	b.Helper()
	lat := make([]time.Duration, len(objects))
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, benchWorkers)
	for range benchWorkers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(objects) {
					return
				}
				t := time.Now()
				if err := f(objects[i]); err != nil {
					errs <- err
					return
				}
				lat[i] = time.Since(t)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return lat
}

func benchObjects(b *testing.B, o *objects, n int, prefix string) [][]byte {
	b.Helper()
	out := make([][]byte, n)
	for i := range out {
		out[i], _ = o.credential(b, fmt.Sprintf("%s %d", prefix, i))
	}
	return out
}

// BenchmarkAppend measures sustained appends of distinct credentials
// through Log.Submit, for several batch sizes: entries/s, and the p50 and
// p99 latency from Submit to its inclusion proof under that load. Run it
// with a fixed count to compare changes:
//
//	go test -run '^$' -bench BenchmarkAppend -benchtime 20000x ./node/tlog
func BenchmarkAppend(b *testing.B) {
	for _, batch := range []uint{256, 1024, 4096} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			signer, _ := newKey(b)
			l, err := tlog.Open(b.Context(), tlog.Config{Dir: b.TempDir(), Signer: signer, BatchMaxSize: batch})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close(context.Background())
			objects := benchObjects(b, newObjects(b), b.N, "Holder")
			benchSubmit(b, l, objects)
		})
	}
}

// BenchmarkProofOfLogged measures Submit of credentials already in the
// log: the dedup index answers, and the proof comes from the tiles of the
// latest checkpoint.
func BenchmarkProofOfLogged(b *testing.B) {
	tl := newTestLog(b)
	objects := benchObjects(b, newObjects(b), min(b.N, 2000), "Holder")
	submitAll(b, tl.log, objects)
	again := make([][]byte, b.N)
	for i := range again {
		again[i] = objects[i%len(objects)]
	}
	benchSubmit(b, tl.log, again)
}

// BenchmarkAppendHTTP measures sustained appends of distinct credentials
// through POST /add from benchWorkers concurrent clients in the same
// process: entries/s and the p50 and p99 latency to the proof.
func BenchmarkAppendHTTP(b *testing.B) {
	tl := newTestLog(b)
	objects := benchObjects(b, newObjects(b), b.N, "Holder")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchWorkers}, Timeout: time.Minute}
	post := func(o []byte) error {
		resp, err := client.Post(tl.url+"/add", "application/octet-stream", bytes.NewReader(o))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("POST /add: %s", resp.Status)
		}
		return nil
	}
	b.ResetTimer()
	start := time.Now()
	lat := run(b, objects, post)
	elapsed := time.Since(start)
	b.StopTimer()
	report(b, len(objects), elapsed, lat)
}

// BenchmarkAppendVerified measures what verifying signatures costs a log:
// the same distinct objects are appended through Log.Submit by
// benchWorkers submitters to an open log and to one that trusts the
// registrar, and it reports both rates and their ratio ("x-open", 1 when
// verifying costs nothing). Credentials are verified with the registrar's
// key and indexed; assertions, under one credential logged beforehand,
// are verified with its subject's key read from the index.
//
//	go test -run '^$' -bench BenchmarkAppendVerified -benchtime 5000x ./node/tlog
func BenchmarkAppendVerified(b *testing.B) {
	for _, kind := range []string{"credential", "assertion"} {
		b.Run("kind="+kind, func(b *testing.B) {
			o := newObjects(b)
			cred, credID := o.credential(b, "Example Films")
			objects := make([][]byte, b.N)
			for i := range objects {
				if kind == "credential" {
					objects[i], _ = o.credential(b, fmt.Sprintf("Holder %d", i))
					continue
				}
				at := *o
				at.now = o.now.Add(time.Duration(i) * time.Second)
				objects[i] = at.assertion(b, credID)
			}
			// ResetTimer drops reported metrics: report them at the end.
			rate, p50 := map[bool]float64{}, map[bool]time.Duration{}
			for _, verify := range []bool{false, true} {
				signer, _ := newKey(b)
				cfg := tlog.Config{Dir: b.TempDir(), Signer: signer}
				if verify {
					cfg.Registrars = []*sign.PublicKey{o.registrar.Public()}
				}
				l, err := tlog.Open(b.Context(), cfg)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := l.Submit(b.Context(), tlog.KindAuto, cred); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				start := time.Now()
				lat := submitAll(b, l, objects)
				elapsed := time.Since(start)
				b.StopTimer()
				rate[verify] = float64(len(objects)) / elapsed.Seconds()
				slices.Sort(lat)
				p50[verify] = lat[len(lat)/2]
				if err := l.Close(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			for verify, name := range map[bool]string{false: "open", true: "verified"} {
				b.ReportMetric(rate[verify], name+"-objects/s")
				b.ReportMetric(float64(p50[verify].Microseconds())/1000, name+"-p50-ms")
			}
			b.ReportMetric(rate[true]/rate[false], "x-open")
		})
	}
}
