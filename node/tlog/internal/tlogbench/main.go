// Command tlogbench measures the log role on this machine, with Tessera's
// POSIX driver embedded and the log on local disk:
//
//   - sustained append throughput: -n distinct credentials submitted by
//     -workers concurrent callers of Log.Submit, each waiting for its
//     inclusion proof, in entries per second, with the latency of each
//     submission under that load; then the same over HTTP (POST /add) for
//     -n/2 more;
//   - submission-to-inclusion-proof latency over HTTP, one submission at a
//     time (POST /add until the proof arrives), p50 and p99;
//   - inclusion proof serving over HTTP: POST /add of objects already in
//     the log, answered from the dedup index with a fresh proof, one at a
//     time and from -workers concurrent clients.
//
// Usage:
//
//	go run ./node/tlog/internal/tlogbench [-n 20000] [-workers 1000] [-seq 200] [-batch 256] [-dir DIR]
//
// The objects are signed before the clock starts.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transparency-dev/tessera"
	"golang.org/x/mod/sumdb/note"

	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/node/tlog"
	"github.com/docket-project/docket/protocol"
)

func main() {
	n := flag.Int("n", 20000, "entries appended in the throughput run")
	workers := flag.Int("workers", 1000, "concurrent submitters")
	seq := flag.Int("seq", 200, "sequential HTTP submissions and proof requests")
	batch := flag.Uint("batch", 0, "entries sequenced together at most (default tlog.DefaultBatchMaxSize)")
	dir := flag.String("dir", "", "log directory (default: a new temporary one, removed at the end)")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("tlogbench: ")
	if err := run(*n, *workers, *seq, *batch, *dir); err != nil {
		log.Fatal(err)
	}
}

func run(n, workers, seq int, batch uint, dir string) error {
	if dir == "" {
		tmp, err := os.MkdirTemp("", "tlogbench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	fmt.Printf("signing %d credentials...\n", n+n/2+seq)
	objects, err := credentials(n + n/2 + seq)
	if err != nil {
		return err
	}
	skey, _, err := note.GenerateKey(rand.Reader, "tlogbench.example/log")
	if err != nil {
		return err
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return err
	}
	ctx := context.Background()
	l, err := tlog.Open(ctx, tlog.Config{Dir: dir, Signer: signer, BatchMaxSize: batch})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: l.Handler()}
	go func() { _ = srv.Serve(ln) }()
	base := "http://" + ln.Addr().String()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}, Timeout: time.Minute}

	// Sustained throughput through the Go API.
	lat, elapsed, err := parallel(objects[:n], workers, func(o []byte) error {
		_, err := l.Submit(ctx, tlog.KindAuto, o)
		return err
	})
	if err != nil {
		return err
	}
	fmt.Printf("append:  %d entries by %d concurrent submitters in %v: %.0f entries/s; latency p50 %v, p99 %v\n",
		n, workers, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), pct(lat, 50), pct(lat, 99))

	// The same over HTTP.
	post := func(o []byte) error { return postAdd(client, base, o) }
	lat, elapsed, err = parallel(objects[n:n+n/2], workers, post)
	if err != nil {
		return err
	}
	fmt.Printf("append:  %d entries by %d concurrent HTTP clients in %v: %.0f entries/s; latency p50 %v, p99 %v\n",
		n/2, workers, elapsed.Round(time.Millisecond), float64(n/2)/elapsed.Seconds(), pct(lat, 50), pct(lat, 99))

	// Latency over HTTP, one submission at a time.
	lat, _, err = parallel(objects[n+n/2:], 1, post)
	if err != nil {
		return err
	}
	fmt.Printf("latency: %d sequential HTTP submissions to inclusion proof: p50 %v, p99 %v\n", seq, pct(lat, 50), pct(lat, 99))

	// Proof serving: objects already in the log.
	lat, _, err = parallel(objects[:seq], 1, post)
	if err != nil {
		return err
	}
	fmt.Printf("proofs:  %d sequential HTTP requests for logged objects: p50 %v, p99 %v\n", seq, pct(lat, 50), pct(lat, 99))
	m := min(n, 10*workers)
	lat, elapsed, err = parallel(objects[:m], workers, post)
	if err != nil {
		return err
	}
	fmt.Printf("proofs:  %d HTTP requests for logged objects from %d clients: %.0f proofs/s; p50 %v, p99 %v\n",
		m, workers, float64(m)/elapsed.Seconds(), pct(lat, 50), pct(lat, 99))

	_ = srv.Close()
	return l.Close(ctx)
}

// credentials signs n distinct credentials.
func credentials(n int) ([][]byte, error) {
	registrar, err := sign.Generate(sign.Ed25519)
	if err != nil {
		return nil, err
	}
	holder, err := sign.Generate(sign.Ed25519)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC().Truncate(time.Second)
	out := make([][]byte, n)
	for i := range out {
		out[i], _, err = protocol.IssueCredential(registrar, protocol.Credential{
			Subject:   protocol.Subject{Name: fmt.Sprintf("Holder %d", i), PublicKey: holder.Public().DER()},
			Works:     []protocol.Work{{ID: "film-1", Title: "A Film", Content: []protocol.ContentID{"btih:c9e15763f722f23e98a29decdfae341b98d53056"}}},
			Scope:     protocol.Scope{Regions: []string{"DE"}},
			NotBefore: now,
			NotAfter:  now.AddDate(1, 0, 0),
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func postAdd(client *http.Client, base string, object []byte) error {
	resp, err := client.Post(base+"/add", "application/octet-stream", bytes.NewReader(object))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusServiceUnavailable {
		return errUnavailable
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /add: %s: %s", resp.Status, body)
	}
	return nil
}

// parallel calls f on every object from workers goroutines and returns the
// duration of each call and of the whole run. A pushed-back call is
// retried.
func parallel(objects [][]byte, workers int, f func([]byte) error) ([]time.Duration, time.Duration, error) {
	lat := make([]time.Duration, len(objects))
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(objects) {
					return
				}
				t := time.Now()
				err := f(objects[i])
				for tries := 0; err != nil && tries < 100 && isPushback(err); tries++ {
					time.Sleep(10 * time.Millisecond)
					err = f(objects[i])
				}
				lat[i] = time.Since(t)
				if err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	return lat, elapsed, first
}

// isPushback reports whether the log refused a submission for now: through
// the Go API with tessera.ErrPushback, over HTTP with 503.
func isPushback(err error) bool {
	return errors.Is(err, tessera.ErrPushback) || errors.Is(err, errUnavailable)
}

var errUnavailable = errors.New("log unavailable")

// pct returns the p-th percentile of sorted durations.
func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, len(sorted)*p/100)].Round(100 * time.Microsecond)
}
