package claimant_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/docket-project/docket/node/claimant"
	"github.com/docket-project/docket/node/observe"
	"github.com/docket-project/docket/protocol"
)

// newObserver starts an observer on 127.0.0.50 reading now, downloading
// at most rate bytes per second, closed when the test ends.
func newObserver(t *testing.T, metainfo []byte, now func() time.Time, rate int) *observe.Observer {
	t.Helper()
	o, err := observe.New(observe.Config{
		ListenAddr:   "127.0.0.50:0",
		DownloadRate: rate,
		Logger:       testLogger(t, slog.LevelWarn).With("observer", "127.0.0.50"),
		Now:          now,
	}, metainfo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

// run runs c until the test ends or the returned stop is called, which
// returns Run's summary. Events other than progress go to the channel.
func run(t *testing.T, o claimant.Source, cfg claimant.Config) (<-chan claimant.Event, func() claimant.Summary) {
	t.Helper()
	events := make(chan claimant.Event, 64)
	cfg.Events = func(e claimant.Event) {
		if e.Kind != claimant.EventProgress {
			events <- e
		}
	}
	cfg.Logger = testLogger(t, slog.LevelInfo)
	c, err := claimant.New(o, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan claimant.Summary, 1)
	go func() { done <- c.Run(ctx) }()
	stopped := false
	stop := func() claimant.Summary {
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() {
		if !stopped {
			stop()
		}
	})
	return events, stop
}

// next returns the next event, failing the test after limit.
func next(t *testing.T, events <-chan claimant.Event, limit time.Duration) claimant.Event {
	t.Helper()
	select {
	case e := <-events:
		t.Logf("round %d: %s %s peers %v isps %v err %v", e.Round, e.Kind, e.ID, e.Grades, e.PeersPerISP, e.Err)
		return e
	case <-time.After(limit):
		t.Fatalf("no event within %v", limit)
	}
	panic("unreachable")
}

// TestRouting runs one round over a swarm of three verified seeders: one
// in isp-a's /30 (also inside isp-b's /28: the longer prefix wins), one in
// isp-b's /28 only, one in no ISP's prefix. Each ISP's sealed section
// gives evidence for its own seeder only; the third is in every section as
// a bare address and has evidence in none. A joe-job address the observer
// only heard of (announced) is counted but left out of the assertion, so
// that no ISP makes it an end of a pair. A window over the whole run
// presents the peers as Observation does.
func TestRouting(t *testing.T) {
	mi, miBytes, content := makeTorrent(t, 512<<10, 16<<10)
	a := startSeeder(t, "127.0.0.21", mi, content)
	b := startSeeder(t, "127.0.0.25", mi, content)
	d := startSeeder(t, "127.0.0.40", mi, content)
	clock := newFakeClock(time.Now().UTC().Truncate(time.Second))
	o := newObserver(t, miBytes, clock.Now, 256<<10)
	if err := o.AddPeers("manual", a.addr, b.addr, d.addr); err != nil {
		t.Fatal(err)
	}
	// A joe job: an address listed where no BitTorrent peer answers.
	joe := netip.MustParseAddrPort("127.0.0.55:9")
	if err := o.AddPeers("tracker", joe); err != nil {
		t.Fatal(err)
	}
	waitVerified(t, o, 30*time.Second, a.addr, b.addr, d.addr)
	// A window over the whole run presents what Observation does.
	whole, err := o.Observation()
	if err != nil {
		t.Fatal(err)
	}
	window, err := o.ObservationWindow(time.Time{}, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(whole.Peers, window.Peers) || whole.Observed.Start != window.Observed.Start {
		t.Errorf("window over the whole run:\n%+v\nObservation:\n%+v", window, whole)
	}
	w := newWorld(t, protocol.V1ContentID(mi.HashInfoBytes()), clock.Now())
	pub := &memPublisher{}
	events, stop := run(t, o, claimant.Config{
		Key: w.holder, Credential: w.credID, Directory: w.dir, Publisher: pub,
		Interval: time.Minute, ProgressInterval: time.Hour, Clock: clock,
	})
	clock.advance(t, 2, time.Minute)
	e := next(t, events, 10*time.Second)
	if e.Kind != claimant.EventPublished || e.Round != 1 || e.Grades[protocol.GradeVerifiedTransfer] != 3 {
		t.Fatalf("round 1: %s with grades %v (%v), want published with 3 verified peers", e.Kind, e.Grades, e.Err)
	}
	if e.Grades[protocol.GradeAnnounced] != 1 {
		t.Errorf("round 1 grades %v, want the joe-job address announced", e.Grades)
	}
	if e.PeersPerISP["isp-a"] != 1 || e.PeersPerISP["isp-b"] != 1 || len(e.PeersPerISP) != 2 {
		t.Errorf("peers per ISP %v, want one for each of isp-a and isp-b", e.PeersPerISP)
	}
	if s := stop(); s.Rounds != 1 || s.Published != 1 || s.Last != e.ID {
		t.Errorf("summary %+v, want one round publishing %s", s, e.ID)
	}
	if len(pub.bundles) != 1 || pub.ids[0] != e.ID || protocol.IDOf(mustPayload(t, pub.bundles[0])) != e.ID {
		t.Fatalf("publisher got %d bundles, ids %v; want assertion %s", len(pub.bundles), pub.ids, e.ID)
	}
	local, swarm := w.verify(t, pub.bundles[0], clock.Now().Add(time.Second))
	ip := func(s *seeder) netip.Addr { return s.addr.Addr() }
	if g := local["isp-a"]; len(g) != 1 || g[ip(a)] != protocol.GradeVerifiedTransfer {
		t.Errorf("isp-a's own peers %v, want %s verified-transfer", g, ip(a))
	}
	if g := local["isp-b"]; len(g) != 1 || g[ip(b)] != protocol.GradeVerifiedTransfer {
		t.Errorf("isp-b's own peers %v, want %s verified-transfer", g, ip(b))
	}
	if len(swarm) != 3 || !swarm[ip(a)] || !swarm[ip(b)] || !swarm[ip(d)] {
		t.Errorf("sections list %v, want the three seeders and not the joe-job address %v", swarm, joe)
	}
}

// mustPayload returns the payload of an assertion bundle's envelope.
func mustPayload(t *testing.T, bundle []byte) []byte {
	t.Helper()
	sa, err := protocol.DecodeAssertion(bundle)
	if err != nil {
		t.Fatal(err)
	}
	return sa.Envelope.Payload
}

// TestPublishFailure makes one of two publishers fail the first round: the
// round is reported failed, the other publisher still got the bundle, and
// the loop goes on to publish the next rounds. Once the seeders left and
// the window moved past them, a round publishes nothing.
func TestPublishFailure(t *testing.T) {
	mi, miBytes, content := makeTorrent(t, 512<<10, 16<<10)
	a := startSeeder(t, "127.0.0.21", mi, content)
	b := startSeeder(t, "127.0.0.25", mi, content)
	clock := newFakeClock(time.Now().UTC().Truncate(time.Second))
	o := newObserver(t, miBytes, clock.Now, 256<<10)
	if err := o.AddPeers("manual", a.addr, b.addr); err != nil {
		t.Fatal(err)
	}
	// Both are verified at the clock's first reading.
	waitVerified(t, o, 30*time.Second, a.addr, b.addr)
	w := newWorld(t, protocol.V1ContentID(mi.HashInfoBytes()), clock.Now())
	out := t.TempDir()
	files, err := claimant.NewFilePublisher(out)
	if err != nil {
		t.Fatal(err)
	}
	unavailable := errors.New("log unavailable")
	flaky := &memPublisher{fail: func(call int) error {
		if call == 1 {
			return unavailable
		}
		return nil
	}}
	events, stop := run(t, o, claimant.Config{
		Key: w.holder, Credential: w.credID, Directory: w.dir,
		Publisher: claimant.MultiPublisher{files, flaky},
		Interval:  time.Minute, Window: 3 * time.Minute, ProgressInterval: time.Hour, Clock: clock,
	})
	var got []claimant.Event
	for range 3 {
		clock.advance(t, 2, time.Minute)
		got = append(got, next(t, events, 10*time.Second))
	}
	// The seeders leave; a window starting after that holds nobody.
	a.cl.Close()
	b.cl.Close()
	deadline := time.Now().Add(10 * time.Second)
	for o.Progress().Connected > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the observer still counts %d connections", o.Progress().Connected)
		}
		time.Sleep(10 * time.Millisecond)
	}
	clock.advance(t, 2, 4*time.Minute)
	got = append(got, next(t, events, 10*time.Second))
	want := []claimant.EventKind{claimant.EventFailed, claimant.EventPublished, claimant.EventPublished, claimant.EventEmpty}
	for i, e := range got {
		if e.Kind != want[i] || e.Round != i+1 {
			t.Errorf("event %d: round %d %s, want round %d %s", i, e.Round, e.Kind, i+1, want[i])
		}
	}
	if e := got[0]; !errors.Is(e.Err, unavailable) || !e.ID.Valid() {
		t.Errorf("round 1 failed with %v for assertion %q, want the publisher's error and the id", e.Err, e.ID)
	}
	if e := got[3]; e.Window.Start != clock.Now().Add(-3*time.Minute) || len(e.Grades) != 0 {
		t.Errorf("round 4: window %v, grades %v; want a window of 3 minutes without peers", e.Window, e.Grades)
	}
	s := stop()
	if s != (claimant.Summary{Rounds: 4, Published: 2, Empty: 1, Failed: 1, Last: got[2].ID}) {
		t.Errorf("summary %+v", s)
	}
	if len(flaky.ids) != 2 || flaky.ids[0] != got[1].ID || flaky.ids[1] != got[2].ID {
		t.Errorf("flaky publisher got %v, want rounds 2 and 3", flaky.ids)
	}
	// The file publisher got all three bundles, the failed round's too.
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	wantNames := []string{"000001-" + string(got[0].ID) + ".json", "000002-" + string(got[1].ID) + ".json", "000003-" + string(got[2].ID) + ".json"}
	if strings.Join(names, " ") != strings.Join(wantNames, " ") {
		t.Fatalf("files %v, want %v", names, wantNames)
	}
	for i, name := range names {
		bundle, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		local, _ := w.verify(t, bundle, got[i].At.Add(time.Second))
		if local["isp-a"][a.addr.Addr()] != protocol.GradeVerifiedTransfer || local["isp-b"][b.addr.Addr()] != protocol.GradeVerifiedTransfer {
			t.Errorf("%s: own peers %v", name, local)
		}
	}
}

// TestContinuous runs the claimant on the system clock with one-second
// rounds while three seeders upload at a capped rate. One seeder stops
// after the first assertion: once a window starts after it left, it is in
// no assertion, while the two others still are, verified. Every assertion
// written verifies for each ISP it addresses.
func TestContinuous(t *testing.T) {
	mi, miBytes, content := makeTorrent(t, 2<<20, 16<<10)
	a := startSeeder(t, "127.0.0.21", mi, content)
	c := startSeeder(t, "127.0.0.22", mi, content)
	b := startSeeder(t, "127.0.0.25", mi, content)
	o := newObserver(t, miBytes, nil, 384<<10)
	w := newWorld(t, protocol.V1ContentID(mi.HashInfoBytes()), time.Now())
	out := t.TempDir()
	files, err := claimant.NewFilePublisher(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.AddPeers("manual", a.addr, b.addr, c.addr); err != nil {
		t.Fatal(err)
	}
	events, stop := run(t, o, claimant.Config{
		Key: w.holder, Credential: w.credID, Directory: w.dir, Publisher: files,
		Interval: time.Second, Window: time.Second,
	})
	var published []claimant.Event
	first := next(t, events, 10*time.Second)
	if first.Kind != claimant.EventPublished {
		t.Fatalf("round 1: %s (%v)", first.Kind, first.Err)
	}
	published = append(published, first)
	c.cl.Close()
	deadline := time.Now().Add(10 * time.Second)
	for o.Progress().Connected > 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the observer still counts %d connections", o.Progress().Connected)
		}
		time.Sleep(10 * time.Millisecond)
	}
	left := time.Now()
	var after claimant.Event
	for after.ID == "" {
		e := next(t, events, 10*time.Second)
		if e.Kind != claimant.EventPublished {
			t.Fatalf("round %d: %s (%v); the download should still run", e.Round, e.Kind, e.Err)
		}
		published = append(published, e)
		if e.Window.Start.After(left) {
			after = e
		}
	}
	stop()
	// Every file verifies; it is named after its sequence number and id.
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < len(published) {
		t.Fatalf("%d files for %d assertions published", len(entries), len(published))
	}
	byID := map[protocol.ID]map[netip.Addr]bool{}
	for i, e := range entries {
		bundle, err := os.ReadFile(filepath.Join(out, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		id := protocol.IDOf(mustPayload(t, bundle))
		if want := fmt.Sprintf("%06d-%s.json", i+1, id); e.Name() != want {
			t.Errorf("file %s, want %s", e.Name(), want)
		}
		local, swarm := w.verify(t, bundle, time.Now())
		if len(local) == 0 {
			t.Errorf("%s addresses no ISP", e.Name())
		}
		byID[id] = swarm
	}
	if swarm := byID[first.ID]; !swarm[a.addr.Addr()] || !swarm[b.addr.Addr()] || !swarm[c.addr.Addr()] {
		t.Errorf("first assertion lists %v, want the three seeders", swarm)
	}
	if swarm := byID[after.ID]; swarm[c.addr.Addr()] || !swarm[a.addr.Addr()] || !swarm[b.addr.Addr()] {
		t.Errorf("round %d, after %s left: lists %v, want %s and %s only", after.Round, c.addr, swarm, a.addr, b.addr)
	}
	bundle, err := os.ReadFile(filepath.Join(out, fmt.Sprintf("%06d-%s.json", len(published), after.ID)))
	if err != nil {
		t.Fatal(err)
	}
	local, _ := w.verify(t, bundle, time.Now())
	if local["isp-a"][a.addr.Addr()] != protocol.GradeVerifiedTransfer || local["isp-b"][b.addr.Addr()] != protocol.GradeVerifiedTransfer {
		t.Errorf("round %d: own peers %v, want %s and %s verified-transfer", after.Round, local, a.addr, b.addr)
	}
}
