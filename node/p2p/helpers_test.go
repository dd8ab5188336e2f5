package p2p

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// loopback is the only range tests dial.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// listenOn returns the listen address of a transport on 127.0.0.1.
func listenOn(t testing.TB, transport string) []string {
	switch transport {
	case "tcp":
		return []string{"/ip4/127.0.0.1/tcp/0"}
	case "quic":
		return []string{"/ip4/127.0.0.1/udp/0/quic-v1"}
	case "both":
		return []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}
	}
	t.Fatalf("unknown transport %q", transport)
	return nil
}

// tWriter routes a node's slog output to t.Logf.
type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// startNode starts a node on 127.0.0.1 that dials only loopback, closed
// when the test ends.
func startNode(t testing.TB, cfg Config) *Node {
	t.Helper()
	if cfg.DialPrefixes == nil {
		cfg.DialPrefixes = loopback
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return n
}

// connect connects a to b, failing the test if it cannot.
func connect(t testing.TB, a, b *Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Connect(ctx, b.AddrInfo()); err != nil {
		t.Fatal(err)
	}
}

// inbox collects the messages a node's Deliver receives.
type inbox struct {
	mu   sync.Mutex
	got  map[string]time.Time // data → first arrival
	cond chan struct{}        // closed and replaced on every arrival
}

func newInbox() *inbox {
	return &inbox{got: make(map[string]time.Time), cond: make(chan struct{})}
}

func (b *inbox) deliver(m Message) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.got[string(m.Data)]; !ok {
		b.got[string(m.Data)] = time.Now()
	}
	close(b.cond)
	b.cond = make(chan struct{})
}

func (b *inbox) count(match func(string) bool) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for d := range b.got {
		if match(d) {
			n++
		}
	}
	return n
}

// wait waits until data has arrived and returns when it did.
func (b *inbox) wait(ctx context.Context, data string) (time.Time, error) {
	for {
		b.mu.Lock()
		at, ok := b.got[data]
		cond := b.cond
		b.mu.Unlock()
		if ok {
			return at, nil
		}
		select {
		case <-cond:
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

// acceptAll accepts every message.
func acceptAll(context.Context, peer.ID, []byte) error { return nil }

// rejectJunk rejects messages that start with "junk", ignores those that
// start with "stale" and accepts the rest.
func rejectJunk(_ context.Context, _ peer.ID, data []byte) error {
	switch {
	case bytes.HasPrefix(data, []byte("junk")):
		return errors.New("junk")
	case bytes.HasPrefix(data, []byte("stale")):
		return Ignore(errors.New("stale"))
	}
	return nil
}

// waitFor polls cond every 20 ms until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
