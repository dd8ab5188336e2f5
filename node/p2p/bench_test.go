package p2p

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

var errJunk = errors.New("not a benchmark message")

// BenchmarkGossipMesh20 measures messages per second through 20 hosts
// on loopback TCP, each connected to the next two around a ring (degree
// 4, diameter 5), with no loss: a run ends when every host has received
// every message and fails if one never arrives. One host publishes b.N
// messages of 512 bytes at a fixed rate; msgs/s is b.N over the time from
// the first publication to the last delivery, so it reaches the rate only
// if the mesh keeps up.
//
//	go test -run '^$' -bench GossipMesh20 -benchtime 5000x ./node/p2p/
func BenchmarkGossipMesh20(b *testing.B) {
	for _, rate := range []int{500, 1000, 2000} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) { benchmarkMesh(b, 20, rate) })
	}
}

func benchmarkMesh(b *testing.B, hosts, rate int) {
	nodes := make([]*Node, hosts)
	got := make([]atomic.Int64, hosts)
	for i := range nodes {
		nodes[i] = startNode(b, Config{
			ListenAddrs: listenOn(b, "tcp"),
			Topics: []Topic{{
				Name: TopicAssertion,
				Validate: func(_ context.Context, _ peer.ID, data []byte) error {
					if !bytes.HasPrefix(data, []byte("bench")) {
						return errJunk
					}
					return nil
				},
				Deliver: func(Message) { got[i].Add(1) },
			}},
		})
	}
	for i := range nodes {
		connect(b, nodes[i], nodes[(i+1)%hosts])
		connect(b, nodes[i], nodes[(i+2)%hosts])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	msg := make([]byte, 512)
	copy(msg, "bench")
	allGot := func(want int64) bool {
		for i := 1; i < hosts; i++ {
			if got[i].Load() < want {
				return false
			}
		}
		return true
	}
	// A first message reaches everyone once the meshes are up.
	if err := nodes[0].Publish(ctx, TopicAssertion, msg); err != nil {
		b.Fatal(err)
	}
	waitFor(b, 10*time.Second, "the first message to reach every host", func() bool { return allGot(1) })
	time.Sleep(2 * time.Second) // let every mesh fill

	b.ResetTimer()
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	for i := range b.N {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		binary.BigEndian.PutUint64(msg[8:], uint64(i)+1)
		if err := nodes[0].Publish(ctx, TopicAssertion, msg); err != nil {
			b.Fatal(err)
		}
	}
	published := time.Since(start)
	deadline := time.Now().Add(30*time.Second + time.Duration(b.N)*time.Millisecond)
	for !allGot(int64(b.N) + 1) {
		if time.Now().After(deadline) {
			var counts []int64
			for i := 1; i < hosts; i++ {
				counts = append(counts, got[i].Load()-1)
			}
			b.Fatalf("messages lost: of %d, the hosts received %v; publisher's stats %+v", b.N, counts, nodes[0].Stats().Topics[TopicAssertion])
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(b.N*(hosts-1))/elapsed.Seconds(), "deliveries/s")
	b.Logf("%d messages at %d/s to %d hosts: published in %v, all delivered in %v", b.N, rate, hosts-1, published, elapsed)
}
