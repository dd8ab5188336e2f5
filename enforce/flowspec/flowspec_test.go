package flowspec_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docket-project/docket/enforce"
	"github.com/docket-project/docket/enforce/enforcetest"
	"github.com/docket-project/docket/enforce/flowspec"
)

// testLogger returns a logger that writes to t.Logf until the test ends
// (GoBGP's goroutines may log a little after Close).
func testLogger(t testing.TB) *slog.Logger {
	w := &tWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.done = true
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type tWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Logf("%s", bytes.TrimRight(p, "\n"))
	}
	return len(p), nil
}

// embedded returns a config for a speaker with no neighbours that does not
// listen.
func embedded(maxRules int) flowspec.Config {
	return flowspec.Config{AS: 65000, RouterID: netip.MustParseAddr("192.0.2.1"), ListenPort: -1, MaxRules: maxRules}
}

func newBackend(t testing.TB, cfg flowspec.Config, opts ...flowspec.Option) *flowspec.Backend {
	t.Helper()
	b, err := flowspec.New(context.Background(), cfg, append([]flowspec.Option{flowspec.WithLogger(testLogger(t))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func pair(local, remote string, expires time.Time) enforce.Pair {
	return enforce.Pair{Key: enforce.Key{Local: netip.MustParseAddr(local), Remote: netip.MustParseAddr(remote)}, Expires: expires}
}

func installed(t *testing.T, b *flowspec.Backend) []enforce.Pair {
	t.Helper()
	got, err := b.Installed(context.Background())
	if err != nil {
		t.Fatalf("Installed: %v", err)
	}
	return got
}

func keys(pairs []enforce.Pair) string {
	var s []string
	for _, p := range pairs {
		s = append(s, p.Local.String()+"-"+p.Remote.String())
	}
	return strings.Join(s, " ")
}

func TestBackend(t *testing.T) {
	enforcetest.TestBackend(t, func(t *testing.T) enforce.Backend {
		return newBackend(t, embedded(0))
	}, time.Minute)
}

func TestConfigErrors(t *testing.T) {
	a := netip.MustParseAddr
	good := embedded(0)
	n := flowspec.Neighbor{Address: a("127.0.0.2"), AS: 65001}
	for _, tc := range []struct {
		field string
		edit  func(c *flowspec.Config)
	}{
		{"as", func(c *flowspec.Config) { c.AS = 0 }},
		{"router_id", func(c *flowspec.Config) { c.RouterID = netip.Addr{} }},
		{"router_id", func(c *flowspec.Config) { c.RouterID = a("2001:db8::1") }},
		{"listen_address", func(c *flowspec.Config) { c.ListenAddress = a("::ffff:127.0.0.1") }},
		{"listen_port", func(c *flowspec.Config) { c.ListenPort = 65536 }},
		{"listen_port", func(c *flowspec.Config) { c.ListenPort = -2 }},
		{"max_rules", func(c *flowspec.Config) { c.MaxRules = 1 }},
		{"max_rules", func(c *flowspec.Config) { c.MaxRules = -5 }},
		{"neighbors[0].address", func(c *flowspec.Config) { c.Neighbors = []flowspec.Neighbor{{AS: 65001}} }},
		{"neighbors[0].address", func(c *flowspec.Config) { c.Neighbors = []flowspec.Neighbor{{Address: a("0.0.0.0"), AS: 65001}} }},
		{"neighbors[1].address", func(c *flowspec.Config) { c.Neighbors = []flowspec.Neighbor{n, n} }},
		{"neighbors[0].as", func(c *flowspec.Config) { c.Neighbors = []flowspec.Neighbor{{Address: a("127.0.0.2")}} }},
		{"neighbors[0].local_address", func(c *flowspec.Config) {
			c.Neighbors = []flowspec.Neighbor{{Address: a("127.0.0.2"), AS: 65001, LocalAddress: a("::1")}}
		}},
		{"neighbors[0].connect_retry", func(c *flowspec.Config) {
			c.Neighbors = []flowspec.Neighbor{{Address: a("127.0.0.2"), AS: 65001, ConnectRetry: -time.Second}}
		}},
		{"listen_address", func(c *flowspec.Config) { c.ListenAddress, c.ListenPort = a("192.0.2.200"), 17900 }},
	} {
		cfg := good
		tc.edit(&cfg)
		b, err := flowspec.New(context.Background(), cfg, flowspec.WithLogger(testLogger(t)))
		if err == nil {
			b.Close()
			t.Errorf("New accepted a bad %s: %+v", tc.field, cfg)
			continue
		}
		if !errors.Is(err, enforce.ErrConfig) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("bad %s: %v, want enforce.ErrConfig naming the field", tc.field, err)
		}
	}
}

// TestCapSheds checks that over the cap the backend keeps the pairs with
// the latest expiries, ties broken by local then remote address, and
// counts the rest as shed.
func TestCapSheds(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t, embedded(6)) // room for three pairs
	now := time.Now()
	early := pair("198.51.100.1", "203.0.113.1", now.Add(5*time.Minute))
	mid := pair("198.51.100.2", "203.0.113.1", now.Add(10*time.Minute))
	tieB := pair("198.51.100.3", "203.0.113.2", now.Add(20*time.Minute))
	tieA := pair("198.51.100.3", "203.0.113.1", now.Add(20*time.Minute))
	v6 := pair("2001:db8::1", "2001:db8:1::1", now.Add(20*time.Minute)) // IPv6 sorts after IPv4
	late := pair("198.51.100.9", "203.0.113.9", now.Add(30*time.Minute))

	if err := b.Add(ctx, []enforce.Pair{early, mid, tieB, tieA, v6, late}); err != nil {
		t.Fatal(err)
	}
	// Kept in order: late, then the 20-minute ties by address: tieA,
	// tieB (v6 loses the tie), then no room.
	want := []enforce.Pair{tieA, tieB, late}
	if got := installed(t, b); keys(got) != keys(want) {
		t.Fatalf("announced %s, want %s", keys(got), keys(want))
	}
	st := b.Stats()
	if st.Shed != 3 || st.Shedding != 3 || st.Rules != 6 || st.Announced != 3 || st.Desired != 6 {
		t.Fatalf("Stats() = %+v; want 3 shed, 6 rules, 3 of 6 pairs announced", st)
	}

	// Removing a kept pair makes room for the best shed one (v6).
	if err := b.Remove(ctx, []enforce.Key{late.Key}); err != nil {
		t.Fatal(err)
	}
	want = []enforce.Pair{tieA, tieB, v6}
	if got := installed(t, b); keys(got) != keys(want) {
		t.Fatalf("after Remove announced %s, want %s", keys(got), keys(want))
	}
	if st := b.Stats(); st.Shed != 3 || st.Shedding != 2 {
		t.Fatalf("after Remove Stats() = %+v, want Shed 3 (a counter), Shedding 2", st)
	}

	// A later pair displaces the last kept one (v6), which counts again.
	later := pair("198.51.100.10", "203.0.113.10", now.Add(time.Hour))
	if err := b.Add(ctx, []enforce.Pair{later}); err != nil {
		t.Fatal(err)
	}
	want = []enforce.Pair{tieA, tieB, later}
	if got := installed(t, b); keys(got) != keys(want) {
		t.Fatalf("after a later Add announced %s, want %s", keys(got), keys(want))
	}
	if st := b.Stats(); st.Shed != 4 || st.Shedding != 3 || st.Rules != 6 {
		t.Fatalf("after a later Add Stats() = %+v, want Shed 4, Shedding 3, 6 rules", st)
	}

	// Reconcile applies the same order to the desired state it is given.
	if err := b.Reconcile(ctx, []enforce.Pair{early, mid, v6}); err != nil {
		t.Fatal(err)
	}
	want = []enforce.Pair{early, mid, v6}
	if got := installed(t, b); keys(got) != keys(want) {
		t.Fatalf("after Reconcile announced %s, want %s", keys(got), keys(want))
	}
	if st := b.Stats(); st.Shedding != 0 || st.Rules != 6 {
		t.Fatalf("after Reconcile Stats() = %+v, want nothing shed", st)
	}
}

// TestTwinKeys checks that (A, B) and (B, A), two pairs needing the same
// two rules, share them: the rules stay until neither pair wants them.
func TestTwinKeys(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t, embedded(2))
	exp := time.Now().Add(time.Minute)
	ab, ba := pair("198.51.100.1", "198.51.100.2", exp), pair("198.51.100.2", "198.51.100.1", exp)
	if err := b.Add(ctx, []enforce.Pair{ab, ba}); err != nil {
		t.Fatal(err)
	}
	if got, st := installed(t, b), b.Stats(); len(got) != 2 || st.Rules != 2 || st.Shedding != 0 {
		t.Fatalf("installed %s with %+v, want both pairs on two rules", keys(got), st)
	}
	if err := b.Remove(ctx, []enforce.Key{ab.Key}); err != nil {
		t.Fatal(err)
	}
	if got, st := installed(t, b), b.Stats(); keys(got) != keys([]enforce.Pair{ba}) || st.Rules != 2 {
		t.Fatalf("after removing one twin installed %s with %+v, want the other on two rules", keys(got), st)
	}
	if err := b.Remove(ctx, []enforce.Key{ba.Key}); err != nil {
		t.Fatal(err)
	}
	if st := b.Stats(); st.Rules != 0 {
		t.Fatalf("after removing both twins %+v, want no rules", st)
	}
}

// TestExpiryWithdraws checks that the backend withdraws a pair itself when
// it expires.
func TestExpiryWithdraws(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t, embedded(0))
	start := time.Now()
	short := pair("198.51.100.1", "203.0.113.1", start.Add(300*time.Millisecond))
	long := pair("2001:db8::1", "2001:db8:1::1", start.Add(time.Minute))
	if err := b.Add(ctx, []enforce.Pair{short, long}); err != nil {
		t.Fatal(err)
	}
	for deadline := start.Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got := installed(t, b)
		if keys(got) == keys([]enforce.Pair{long}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("installed %s 5 s after the short pair expired", keys(got))
		}
	}
	if d := time.Since(short.Expires); d < 0 {
		t.Fatalf("withdrew the pair %v before its expiry", -d)
	}
	if st := b.Stats(); st.Rules != 2 || st.Desired != 1 {
		t.Fatalf("after expiry Stats() = %+v, want one pair on two rules", st)
	}
}

// TestNeighborDown checks that rules reach the speaker's RIB while a
// neighbour is unreachable, and that the call says so with ErrTemporary.
func TestNeighborDown(t *testing.T) {
	ctx := context.Background()
	cfg := embedded(0)
	// Nothing listens on port 9 (discard) of 127.0.0.9.
	cfg.Neighbors = []flowspec.Neighbor{{Address: netip.MustParseAddr("127.0.0.9"), AS: 65009, Port: 9}}
	b := newBackend(t, cfg)
	p := pair("198.51.100.1", "203.0.113.1", time.Now().Add(time.Minute))
	err := b.Add(ctx, []enforce.Pair{p})
	if !errors.Is(err, enforce.ErrTemporary) || !strings.Contains(err.Error(), "127.0.0.9") {
		t.Fatalf("Add with the neighbour down: %v, want enforce.ErrTemporary naming it", err)
	}
	if got := installed(t, b); keys(got) != keys([]enforce.Pair{p}) {
		t.Fatalf("installed %s, want the pair announced in the speaker's RIB", keys(got))
	}
}

func TestClosed(t *testing.T) {
	b := newBackend(t, embedded(0))
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Add(context.Background(), []enforce.Pair{pair("198.51.100.1", "203.0.113.1", time.Now().Add(time.Minute))}); !errors.Is(err, flowspec.ErrClosed) {
		t.Fatalf("Add after Close: %v, want ErrClosed", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// BenchmarkAnnounce measures announcing 5,000 pairs (10,000 rules) into
// the embedded speaker's RIB, with no neighbour.
func BenchmarkAnnounce(b *testing.B) {
	const pairs = 5000
	ctx := context.Background()
	be, err := flowspec.New(ctx, embedded(2*pairs))
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	exp := time.Now().Add(time.Hour)
	batch := make([]enforce.Pair, pairs)
	for i := range batch {
		batch[i] = pair(fmt.Sprintf("10.0.%d.%d", i/256, i%256), "203.0.113.1", exp)
	}
	b.ResetTimer()
	for range b.N {
		if err := be.Add(ctx, batch); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := be.Reconcile(ctx, nil); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(2*pairs*b.N)/b.Elapsed().Seconds(), "rules/s")
}
