//go:build unix

package main

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if os.Getenv(seederEnv) != "" {
		if err := serveSeeders(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "obsbench: error:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// BenchmarkFullVerifiedMap measures, for a swarm of 20 anacrolix seeders
// on 127.0.0.2 to 127.0.0.21 (in a child process), the time from starting
// an observer to a full verified map, and the observer's CPU time per
// verified peer.
func BenchmarkFullVerifiedMap(b *testing.B) {
	for _, utp := range []bool{true, false} {
		b.Run(fmt.Sprintf("utp=%v", utp), func(b *testing.B) {
			sw, err := startSwarm(b.TempDir(), 20, 32<<20, 16<<10)
			if err != nil {
				b.Fatal(err)
			}
			defer sw.Close()
			var elapsed, cpu time.Duration
			verified, n := 0, 0
			for b.Loop() {
				r, err := sw.measure(context.Background(), observerConfig(utp, 0))
				if err != nil {
					b.Fatal(err)
				}
				elapsed += r.Elapsed
				cpu += r.CPU
				verified += r.Verified
				n++
			}
			b.ReportMetric(elapsed.Seconds()/float64(n), "s/map")
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(verified), "cpu-ms/peer")
		})
	}
}
