package claimant_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	g "github.com/anacrolix/generics"
	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"

	"github.com/docket-project/docket/crypto/seal"
	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/node/observe"
	"github.com/docket-project/docket/protocol"
)

// testLogger routes logs to t.Logf.
func testLogger(t *testing.T, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: level}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}

// makeTorrent writes size random bytes to a temp file and returns their
// v1 metainfo, parsed and encoded, and the content.
func makeTorrent(t *testing.T, size int, pieceLength int64) (*metainfo.MetaInfo, []byte, []byte) {
	t.Helper()
	content := make([]byte, size)
	rand.Read(content)
	path := filepath.Join(t.TempDir(), "night-trains.bin")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	info := metainfo.Info{PieceLength: pieceLength}
	if err := info.BuildFromFilePath(path); err != nil {
		t.Fatal(err)
	}
	mi := &metainfo.MetaInfo{}
	var err error
	if mi.InfoBytes, err = bencode.Marshal(info); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := mi.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return mi, buf.Bytes(), content
}

// seeder is an anacrolix client seeding a test torrent.
type seeder struct {
	cl   *torrent.Client
	addr netip.AddrPort
}

// startSeeder runs an anacrolix seeder on host holding content, in a
// closed swarm (no DHT, PEX or trackers), and returns it; it is closed
// when the test ends, if not before.
func startSeeder(t *testing.T, host string, mi *metainfo.MetaInfo, content []byte) *seeder {
	t.Helper()
	info, err := mi.UnmarshalInfo()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, info.BestName()), content, 0o600); err != nil {
		t.Fatal(err)
	}
	cc := torrent.NewDefaultClientConfig()
	cc.NoDHT = true
	cc.DisablePEX = true
	cc.DisableTrackers = true
	cc.DisableWebseeds = true
	cc.DisableWebtorrent = true
	cc.NoDefaultPortForwarding = true
	cc.DisableIPv6 = true
	cc.Slogger = testLogger(t, slog.LevelWarn).With("seeder", host)
	cc.Seed = true
	// The default (1 MiB) stalls downloads part-way.
	cc.MaxAllocPeerRequestDataPerConn = 64 << 20
	cc.DropMutuallyCompletePeers = false
	cc.SetListenAddr(host + ":0")
	cc.DefaultStorage = storage.NewFileOpts(storage.NewFileClientOpts{
		ClientBaseDir:   dir,
		PieceCompletion: storage.NewMapPieceCompletion(),
		UsePartFiles:    g.Some(false),
	})
	cl, err := torrent.NewClient(cc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	tt, _ := cl.AddTorrentOpt(torrent.AddTorrentOpts{InfoHash: mi.HashInfoBytes(), InfoBytes: mi.InfoBytes})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := tt.VerifyDataContext(ctx); err != nil {
		t.Fatal(err)
	}
	if n := tt.BytesMissing(); n != 0 {
		t.Fatalf("seeder %s misses %d bytes", host, n)
	}
	ap, err := netip.ParseAddrPort(cl.ListenAddrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	return &seeder{cl: cl, addr: ap}
}

// world is a registrar, a claimant holding a credential for one content
// id, and two ISPs: isp-a serves 127.0.0.20/30, isp-b 127.0.0.16/28, so
// that 127.0.0.20-23 are isp-a's by the longer prefix and 127.0.0.40 is
// nobody's.
type world struct {
	registrar, holder *sign.PrivateKey
	cred              []byte
	credID            protocol.ID
	isps              map[string]*protocol.ISP
	dir               protocol.Directory
}

var (
	prefixA = netip.MustParsePrefix("127.0.0.20/30")
	prefixB = netip.MustParsePrefix("127.0.0.16/28")
)

func newWorld(t *testing.T, content protocol.ContentID, now time.Time) *world {
	t.Helper()
	w := &world{isps: map[string]*protocol.ISP{}}
	var err error
	if w.registrar, err = sign.Generate(sign.Ed25519); err != nil {
		t.Fatal(err)
	}
	if w.holder, err = sign.Generate(sign.Ed25519); err != nil {
		t.Fatal(err)
	}
	for _, e := range []struct {
		name, region string
		prefix       netip.Prefix
	}{{"isp-a", "DE", prefixA}, {"isp-b", "NL", prefixB}} {
		id, err := seal.GenerateIdentity()
		if err != nil {
			t.Fatal(err)
		}
		w.isps[e.name] = &protocol.ISP{Name: e.name, Region: e.region, Identity: id}
		w.dir.ISPs = append(w.dir.ISPs, protocol.DirectoryEntry{
			Name: e.name, Region: e.region, Recipient: id.Recipient().String(), Prefixes: []netip.Prefix{e.prefix},
		})
	}
	w.cred, w.credID, err = protocol.IssueCredential(w.registrar, protocol.Credential{
		Subject:   protocol.Subject{Name: "Example Records", PublicKey: w.holder.Public().DER()},
		Works:     []protocol.Work{{ID: "work-1", Title: "Night Trains", Content: []protocol.ContentID{content}}},
		Scope:     protocol.Scope{ISPs: []string{"isp-a", "isp-b"}},
		NotBefore: now.Add(-time.Hour),
		NotAfter:  now.Add(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// verify checks bundle as each ISP at now and returns, per ISP, the
// grades of the peers it serves by address (an ISP the bundle has no
// section for is absent), and every address of the swarm.
func (w *world) verify(t *testing.T, bundle []byte, now time.Time) (map[string]map[netip.Addr]protocol.Grade, map[netip.Addr]bool) {
	t.Helper()
	v := protocol.NewVerifier([]*sign.PublicKey{w.registrar.Public()}, protocol.WithPermittedPrefixes(netip.MustParsePrefix("127.0.0.0/8")))
	chain, err := v.VerifyChain([][]byte{w.cred}, now)
	if err != nil {
		t.Fatal(err)
	}
	sa, err := protocol.DecodeAssertion(bundle)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[netip.Addr]protocol.Grade{}
	swarm := map[netip.Addr]bool{}
	for name, isp := range w.isps {
		if _, ok := sa.Assertion.Section(name); !ok {
			continue
		}
		va, err := v.Verify(bundle, chain, isp, now)
		if err != nil {
			t.Fatalf("%s rejects the assertion: %v", name, err)
		}
		out[name] = map[netip.Addr]protocol.Grade{}
		for _, p := range va.Local() {
			out[name][p.Addr] = p.Evidence.Grade
		}
		for _, p := range va.Section.Peers {
			swarm[p.Addr] = true
		}
	}
	return out, swarm
}

// memPublisher keeps what it is given, failing while fail says so.
type memPublisher struct {
	mu      sync.Mutex
	fail    func(call int) error
	calls   int
	bundles [][]byte
	ids     []protocol.ID
}

func (p *memPublisher) Publish(_ context.Context, bundle []byte, id protocol.ID) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.fail != nil {
		if err := p.fail(p.calls); err != nil {
			return err
		}
	}
	p.bundles = append(p.bundles, slices.Clone(bundle))
	p.ids = append(p.ids, id)
	return nil
}

// fakeClock is a Clock that moves only when the test advances it.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	c  chan time.Time
}

func newFakeClock(now time.Time) *fakeClock { return &fakeClock{now: now} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{at: c.now.Add(d), c: ch})
	return ch
}

// advance waits (up to 10 s) until n channels are waiting, then moves the
// clock by d and fires the channels due.
func (c *fakeClock) advance(t *testing.T, n int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		waiting := len(c.waiters)
		c.mu.Unlock()
		if waiting >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d clock waiters, want %d", waiting, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
			continue
		}
		w.c <- c.now
	}
	c.waiters = kept
}

// waitVerified polls o every 20 ms until the addresses in want, and only
// they, are verified-transfer, failing the test after limit.
func waitVerified(t *testing.T, o *observe.Observer, limit time.Duration, want ...netip.AddrPort) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		var got []netip.AddrPort
		for _, r := range o.Peers() {
			if r.Evidence.Grade == protocol.GradeVerifiedTransfer {
				got = append(got, r.Addr)
			}
		}
		slices.SortFunc(got, netip.AddrPort.Compare)
		slices.SortFunc(want, netip.AddrPort.Compare)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("verified peers %v, want %v: %+v", got, want, o.Peers())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
