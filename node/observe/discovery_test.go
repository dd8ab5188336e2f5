package observe_test

import (
	"context"
	"crypto/rand"
	"net"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anacrolix/dht/v2"
	"github.com/anacrolix/dht/v2/krpc"
	peer_store "github.com/anacrolix/dht/v2/peer-store"
	"github.com/anacrolix/generics"
	"github.com/anacrolix/torrent"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/anacrolix/torrent/tracker"
	httpTrackerServer "github.com/anacrolix/torrent/tracker/http/server"
	trackerServer "github.com/anacrolix/torrent/tracker/server"
	"github.com/anacrolix/torrent/tracker/udp"

	"github.com/docket-project/docket/node/observe"
	"github.com/docket-project/docket/protocol"
)

// memTracker is the peer store behind anacrolix's HTTP tracker server
// (tracker/http/server): it lists every address announced for an
// infohash but the asker's, and asks for re-announces every second.
type memTracker struct {
	mu        sync.Mutex
	peers     map[[20]byte]map[netip.AddrPort]bool
	announces []trackedAnnounce
}

// trackedAnnounce is one announce the tracker received.
type trackedAnnounce struct {
	from netip.AddrPort
	req  udp.AnnounceRequest
}

func (m *memTracker) TrackAnnounce(_ context.Context, req udp.AnnounceRequest, addr netip.AddrPort) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.announces = append(m.announces, trackedAnnounce{addr, req})
	if m.peers[req.InfoHash] == nil {
		m.peers[req.InfoHash] = map[netip.AddrPort]bool{}
	}
	if req.Event == tracker.Stopped {
		delete(m.peers[req.InfoHash], addr)
	} else {
		m.peers[req.InfoHash][addr] = true
	}
	return nil
}

func (m *memTracker) Scrape(context.Context, [][20]byte) ([]udp.ScrapeInfohashResult, error) {
	return nil, nil
}

func (m *memTracker) GetPeers(_ context.Context, ih [20]byte, _ trackerServer.GetPeersOpts, remote netip.AddrPort) trackerServer.ServerAnnounceResult {
	m.mu.Lock()
	defer m.mu.Unlock()
	res := trackerServer.ServerAnnounceResult{Interval: generics.Some[int32](1)}
	for a := range m.peers[ih] {
		if a != remote {
			res.Peers = append(res.Peers, trackerServer.PeerInfo{AnnounceAddr: a})
		}
	}
	return res
}

// listed returns the addresses announced for ih.
func (m *memTracker) listed(ih [20]byte) []netip.AddrPort {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []netip.AddrPort
	for a := range m.peers[ih] {
		out = append(out, a)
	}
	return out
}

// announcesFrom returns the announces received from ip.
func (m *memTracker) announcesFrom(ip netip.Addr) []trackedAnnounce {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []trackedAnnounce
	for _, a := range m.announces {
		if a.from.Addr() == ip {
			out = append(out, a)
		}
	}
	return out
}

// startTracker serves anacrolix's HTTP tracker on 127.0.0.1 and returns
// its store and announce URL.
func startTracker(t *testing.T) (*memTracker, string) {
	t.Helper()
	m := &memTracker{peers: map[[20]byte]map[netip.AddrPort]bool{}}
	srv := httptest.NewServer(httpTrackerServer.Handler{
		Announce: &trackerServer.AnnounceHandler{AnnounceTracker: m},
	})
	t.Cleanup(srv.Close)
	return m, srv.URL + "/announce"
}

// announceFrom announces addr for ih to the tracker, the connection
// leaving from addr's IP: anyone can list an address that way, even one
// where nothing listens (a joe job).
func announceFrom(t *testing.T, trackerURL string, ih [20]byte, addr netip.AddrPort) {
	t.Helper()
	var id [20]byte
	rand.Read(id[:])
	_, err := tracker.Announce{
		TrackerUrl:  trackerURL,
		DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: addr.Addr().AsSlice()}}).DialContext,
		Request: tracker.AnnounceRequest{
			InfoHash: ih, PeerId: id, Port: addr.Port(), Event: tracker.Started, NumWant: 0,
		},
		Context: t.Context(),
	}.Do()
	if err != nil {
		t.Fatal(err)
	}
}

// TestTrackerDiscovery runs a real HTTP tracker (anacrolix's server) that
// lists two seeders and a joe-job address where nothing listens. The
// observer must dial and verify the seeders it learns from the tracker,
// pick up a third seeder that joins after it started (through a
// re-announce, or the seeder dialing it), and keep the joe-job address
// announced, never blockable, while announcing itself as a leecher that
// has uploaded nothing.
func TestTrackerDiscovery(t *testing.T) {
	store, url := startTracker(t)
	tt := newV1Torrent(t, 16<<10, url)
	ih := tt.shortHash()
	joe := deadAddr(t, "127.0.0.55")
	announceFrom(t, url, ih, joe)
	early := []*testPeer{
		startPeer(t, tt, peerOpts{host: "127.0.0.51", trackers: true}),
		startPeer(t, tt, peerOpts{host: "127.0.0.52", trackers: true}),
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(store.listed(ih)) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("tracker lists %v", store.listed(ih))
		}
		time.Sleep(20 * time.Millisecond)
	}

	o := newObserver(t, tt, "127.0.0.50", observe.Config{
		DownloadRate:   256 << 10,
		RedialInterval: time.Second,
		Discovery:      observe.Discovery{AnnounceInterval: time.Second},
	})
	waitFor(t, o, 20*time.Second, "listed seeders verified", func(m map[netip.AddrPort]observe.PeerReport) bool {
		return m[early[0].addr].Evidence.Grade == protocol.GradeVerifiedTransfer &&
			m[early[1].addr].Evidence.Grade == protocol.GradeVerifiedTransfer && m[joe].Evidence.Source == "tracker"
	})
	late := startPeer(t, tt, peerOpts{host: "127.0.0.53", trackers: true})
	start := time.Now()
	waitFor(t, o, 20*time.Second, "late seeder verified", func(m map[netip.AddrPort]observe.PeerReport) bool {
		return reportsByIP(m)[late.addr.Addr()].Evidence.Grade == protocol.GradeVerifiedTransfer
	})
	t.Logf("late seeder verified %v after it started", time.Since(start))

	obs, err := o.Observation()
	if err != nil {
		t.Fatal(err)
	}
	grades := gradesByIP(obs)
	for _, s := range early {
		if e := grades[s.addr.Addr().String()]; e.Source != "tracker" || e.Port != s.addr.Port() {
			t.Errorf("seeder %s: %s from %s at port %d, want tracker at its listen port", s.addr, e.Grade, e.Source, e.Port)
		}
	}
	if e := grades[late.addr.Addr().String()]; e.Source != "tracker" && e.Source != "incoming" {
		t.Errorf("late seeder: source %q, want tracker or incoming", e.Source)
	} else {
		t.Logf("late seeder: %s via %s, port %d", e.Grade, e.Source, e.Port)
	}
	if e := grades[joe.Addr().String()]; e.Grade != protocol.GradeAnnounced || e.Source != "tracker" || e.Port != joe.Port() {
		t.Errorf("joe-job address: %+v, want announced from tracker", e)
	}
	buildAndVerify(t, obs)

	self := observerAddr(t, o)
	if !slices.Contains(store.listed(ih), self) {
		t.Errorf("tracker lists %v, not the observer's %s", store.listed(ih), self)
	}
	// AnnounceInterval is a second: a re-announce follows within a few.
	anns := store.announcesFrom(self.Addr())
	for deadline := time.Now().Add(5 * time.Second); len(anns) < 2 && time.Now().Before(deadline); anns = store.announcesFrom(self.Addr()) {
		time.Sleep(100 * time.Millisecond)
	}
	if len(anns) < 2 {
		t.Fatalf("observer announced %d times, want re-announces", len(anns))
	}
	for _, a := range anns {
		if a.req.Uploaded != 0 || a.req.Port != self.Port() || a.req.PeerId == ([20]byte{}) {
			t.Errorf("observer announce %+v", a.req)
		}
	}
	if anns[0].req.Event != tracker.Started || anns[0].req.Left != int64(len(tt.data[0])) {
		t.Errorf("first announce: event %v, left %d", anns[0].req.Event, anns[0].req.Left)
	}
	if _, ok := grades[self.Addr().String()]; ok {
		t.Error("the observer recorded itself")
	}
	if n := o.UploadedBytes(); n != 0 {
		t.Errorf("observer uploaded %d bytes", n)
	}
}

// TestNoTrackers checks that with trackers off the observer never
// announces, and learns nothing from a tracker that lists a seeder.
func TestNoTrackers(t *testing.T) {
	store, url := startTracker(t)
	tt := newV1Torrent(t, 16<<10, url)
	startPeer(t, tt, peerOpts{host: "127.0.0.56", trackers: true})
	o := newObserver(t, tt, "127.0.0.57", observe.Config{
		Discovery: observe.Discovery{NoTrackers: true, AnnounceInterval: 100 * time.Millisecond},
	})
	time.Sleep(time.Second)
	if anns := store.announcesFrom(netip.MustParseAddr("127.0.0.57")); len(anns) != 0 {
		t.Errorf("observer announced %d times with trackers off", len(anns))
	}
	if n := len(o.Peers()); n != 0 {
		t.Errorf("observer found %d peers with trackers off", n)
	}
}

// TestSilentPeers observes two peers that complete the handshake but
// never send data: an anacrolix client holding nothing, and a raw peer
// that claims every piece but never unchokes. Both must be handshake,
// with no bytes and no failures, beside an honest seeder that is
// verified-transfer.
func TestSilentPeers(t *testing.T) {
	tt := newV1Torrent(t, 16<<10)
	honest := startPeer(t, tt, peerOpts{host: "127.0.0.61"}).addr
	empty := startPeer(t, tt, peerOpts{host: "127.0.0.62", empty: true}).addr
	raw := startRawPeer(t, "127.0.0.63", tt, rawPeerOpts{}).addr
	o := newObserver(t, tt, "127.0.0.60", observe.Config{DownloadRate: 512 << 10, DisableUTP: true, Discovery: observe.Discovery{NoTrackers: true}})
	if err := o.AddPeers("manual", honest, empty, raw); err != nil {
		t.Fatal(err)
	}
	waitFor(t, o, 20*time.Second, "honest verified, silent ones connected", func(m map[netip.AddrPort]observe.PeerReport) bool {
		return m[honest].Evidence.Grade == protocol.GradeVerifiedTransfer &&
			m[empty].Evidence.Grade == protocol.GradeHandshake && m[raw].Evidence.Grade == protocol.GradeHandshake
	})
	// Give the silent peers the rest of the download to misbehave in.
	time.Sleep(time.Second)
	for _, r := range o.Peers() {
		if r.Addr == honest {
			continue
		}
		e := r.Evidence
		if e.Grade != protocol.GradeHandshake || e.Bytes != 0 || len(e.Pieces) != 0 || r.FailedPieces != 0 || len(e.PeerID) != 40 {
			t.Errorf("silent peer %s: %+v, %d failures", r.Addr, e, r.FailedPieces)
		}
	}
	m := map[netip.AddrPort]observe.PeerReport{}
	for _, r := range o.Peers() {
		m[r.Addr] = r
	}
	if id := m[raw].Evidence.PeerID; !strings.HasPrefix(id, "2d5349303030312d") { // "-SI0001-"
		t.Errorf("raw peer's id %s", id)
	}
	obs, err := o.Observation()
	if err != nil {
		t.Fatal(err)
	}
	buildAndVerify(t, obs)
}

// TestIncomingPeers has peers dial the observer, for a v1, a v2 and a
// hybrid torrent: a seeder must be verified-transfer and a peer holding
// nothing handshake, both from source incoming at the address and port
// they dialed from.
func TestIncomingPeers(t *testing.T) {
	for _, tc := range []struct {
		name string
		tt   func(t *testing.T) *testTorrent
	}{
		{"v1", func(t *testing.T) *testTorrent { return newV1Torrent(t, 16<<10) }},
		{"v2", func(t *testing.T) *testTorrent { return newV2Torrent(t, 16<<10, false, 512<<10) }},
		{"hybrid", func(t *testing.T) *testTorrent { return newV2Torrent(t, 16<<10, true, 512<<10) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tt := tc.tt(t)
			o := newObserver(t, tt, "127.0.0.64", observe.Config{Discovery: observe.Discovery{NoTrackers: true}})
			self := observerAddr(t, o)
			seeder := startPeer(t, tt, peerOpts{host: "127.0.0.65"})
			empty := startPeer(t, tt, peerOpts{host: "127.0.0.66", empty: true})
			for _, p := range []*testPeer{seeder, empty} {
				p.t.AddPeers([]torrent.PeerInfo{{Addr: torrent.PeerRemoteAddr(net.TCPAddrFromAddrPort(self)), Trusted: true}})
			}
			waitFor(t, o, 20*time.Second, "incoming peers graded", func(m map[netip.AddrPort]observe.PeerReport) bool {
				byIP := reportsByIP(m)
				return byIP[seeder.addr.Addr()].Evidence.Grade == protocol.GradeVerifiedTransfer &&
					byIP[empty.addr.Addr()].Evidence.Grade == protocol.GradeHandshake
			})
			for _, r := range o.Peers() {
				if r.Evidence.Source != "incoming" || r.Evidence.Transport != "tcp" {
					t.Errorf("%s: %+v, want an incoming TCP connection", r.Addr, r.Evidence)
				}
				if r.Addr == seeder.addr || r.Addr == empty.addr {
					t.Errorf("%s: recorded at the peer's listen port, not the port it dialed from", r.Addr)
				}
			}
			obs, err := o.Observation()
			if err != nil {
				t.Fatal(err)
			}
			buildAndVerify(t, obs)
			if n := o.UploadedBytes(); n != 0 {
				t.Errorf("observer uploaded %d bytes to peers that dialed it", n)
			}
		})
	}
}

// TestPEX has seeder A connect to seeder B, then hands only A to the
// observer: A's peer exchange must make the observer find and verify B
// (source pex), while the observer sends no PEX message of its own.
func TestPEX(t *testing.T) {
	tt := newV1Torrent(t, 16<<10)
	// The observer dials from 127.0.0.1 (outgoing connections are not
	// bound), so every connection A has from there is the observer's.
	observerIP := netip.MustParseAddr("127.0.0.1")
	var mu sync.Mutex
	pexFromObserver := 0
	a := startPeer(t, tt, peerOpts{host: "127.0.0.71", pex: true, onExtension: func(ev torrent.PeerConnReadExtensionMessageEvent) {
		name, _, err := ev.PeerConn.LocalLtepProtocolMap.LookupId(ev.ExtensionNumber)
		if err != nil || name != pp.ExtensionNamePex {
			return
		}
		if ap, err := netip.ParseAddrPort(ev.PeerConn.RemoteAddr.String()); err == nil && ap.Addr() == observerIP {
			mu.Lock()
			pexFromObserver++
			mu.Unlock()
		}
	}})
	b := startPeer(t, tt, peerOpts{host: "127.0.0.72", pex: true})
	a.t.AddPeers([]torrent.PeerInfo{{Addr: torrent.PeerRemoteAddr(net.TCPAddrFromAddrPort(b.addr)), Trusted: true}})
	deadline := time.Now().Add(10 * time.Second)
	for len(a.t.PeerConns()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("seeder A did not connect to B")
		}
		time.Sleep(20 * time.Millisecond)
	}
	o := newObserver(t, tt, "127.0.0.70", observe.Config{DownloadRate: 256 << 10, Discovery: observe.Discovery{NoTrackers: true}})
	if err := o.AddPeers("manual", a.addr); err != nil {
		t.Fatal(err)
	}
	waitFor(t, o, 20*time.Second, "B found through PEX and verified", func(m map[netip.AddrPort]observe.PeerReport) bool {
		return m[b.addr].Evidence.Source == "pex" && m[b.addr].Evidence.Grade == protocol.GradeVerifiedTransfer
	})
	// A sends its first PEX message at once; the observer would send
	// within a minute: watch a while for one.
	time.Sleep(2 * time.Second)
	mu.Lock()
	defer mu.Unlock()
	if pexFromObserver != 0 {
		t.Errorf("observer sent %d PEX messages", pexFromObserver)
	}
}

// TestPEXOff checks that with PEX off nothing is learned from a peer's
// peer exchange.
func TestPEXOff(t *testing.T) {
	tt := newV1Torrent(t, 16<<10)
	a := startPeer(t, tt, peerOpts{host: "127.0.0.73", pex: true})
	b := startPeer(t, tt, peerOpts{host: "127.0.0.74", pex: true})
	a.t.AddPeers([]torrent.PeerInfo{{Addr: torrent.PeerRemoteAddr(net.TCPAddrFromAddrPort(b.addr)), Trusted: true}})
	o := newObserver(t, tt, "127.0.0.75", observe.Config{Discovery: observe.Discovery{NoTrackers: true, NoPEX: true}})
	if err := o.AddPeers("manual", a.addr); err != nil {
		t.Fatal(err)
	}
	waitFor(t, o, 20*time.Second, "A verified", func(m map[netip.AddrPort]observe.PeerReport) bool {
		return m[a.addr].Evidence.Grade == protocol.GradeVerifiedTransfer
	})
	time.Sleep(time.Second)
	for _, r := range o.Peers() {
		if r.Addr.Addr() == b.addr.Addr() {
			t.Errorf("observer learned %s with PEX off", r.Addr)
		}
	}
}

// TestDHTDiscovery runs a DHT on loopback: a bootstrap node, two seeders
// announcing the torrent, and a node that announces an address where
// nothing listens. The observer's passive node must find the seeders
// (source dht) and verify them, and keep the forged address announced.
func TestDHTDiscovery(t *testing.T) {
	// anacrolix's DHT nodes keep no peer store (their get_peers replies
	// carry no token, so nobody can announce to them): the bootstrap node
	// keeps one, as mainline nodes do.
	boot := startDHTNode(t, "127.0.0.80", nil, &peerStore{})
	nodes := []string{boot.Addr().String()}
	tt := newV1Torrent(t, 16<<10)
	seeders := []*testPeer{
		startPeer(t, tt, peerOpts{host: "127.0.0.81", dhtNodes: nodes}),
		startPeer(t, tt, peerOpts{host: "127.0.0.82", dhtNodes: nodes}),
	}
	joe := deadAddr(t, "127.0.0.85")
	forger := startDHTNode(t, "127.0.0.85", nodes, nil)
	ann, err := forger.Announce(tt.shortHash(), int(joe.Port()), false)
	if err != nil {
		t.Fatal(err)
	}
	for range ann.Peers {
	}
	o := newObserver(t, tt, "127.0.0.86", observe.Config{
		DownloadRate:   512 << 10,
		RedialInterval: time.Second,
		Discovery:      observe.Discovery{NoTrackers: true, DHT: true, DHTNodes: nodes, AnnounceInterval: time.Second},
	})
	waitFor(t, o, 30*time.Second, "seeders found in the DHT and verified", func(m map[netip.AddrPort]observe.PeerReport) bool {
		for _, s := range seeders {
			if m[s.addr].Evidence.Grade != protocol.GradeVerifiedTransfer {
				return false
			}
		}
		return m[joe].Evidence.Source == "dht"
	})
	for _, r := range o.Peers() {
		if r.Evidence.Source != "dht" {
			t.Errorf("%s: source %s, want dht", r.Addr, r.Evidence.Source)
		}
		t.Logf("%s: %s", r.Addr, r.Evidence.Grade)
	}
	m := map[netip.AddrPort]observe.PeerReport{}
	for _, r := range o.Peers() {
		m[r.Addr] = r
	}
	if g := m[joe].Evidence.Grade; g != protocol.GradeAnnounced {
		t.Errorf("forged DHT address: %s, want announced", g)
	}
	obs, err := o.Observation()
	if err != nil {
		t.Fatal(err)
	}
	buildAndVerify(t, obs)
}

// peerStore keeps the peers announced to a DHT node. (anacrolix/dht's
// peer_store.InMemory keys peers by IP alone and hands back IP bytes as
// address and port, so its get_peers values are unusable.)
type peerStore struct {
	mu    sync.Mutex
	peers map[[20]byte][]netip.AddrPort
}

func (s *peerStore) AddPeer(ih peer_store.InfoHash, na krpc.NodeAddr) {
	a, ok := netip.AddrFromSlice(na.IP)
	if !ok {
		return
	}
	ap := netip.AddrPortFrom(a.Unmap(), uint16(na.Port))
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.peers == nil {
		s.peers = map[[20]byte][]netip.AddrPort{}
	}
	if !slices.Contains(s.peers[ih], ap) {
		s.peers[ih] = append(s.peers[ih], ap)
	}
}

func (s *peerStore) GetPeers(ih peer_store.InfoHash) []krpc.NodeAddr {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []krpc.NodeAddr
	for _, ap := range s.peers[ih] {
		out = append(out, krpc.NodeAddr{IP: ap.Addr().AsSlice(), Port: int(ap.Port())})
	}
	return out
}

// startDHTNode runs an answering DHT node on an ephemeral UDP port of
// host, starting from nodes and storing announced peers in store, if set.
func startDHTNode(t *testing.T, host string, nodes []string, store peer_store.Interface) *dht.Server {
	t.Helper()
	conn, err := net.ListenPacket("udp4", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := dht.NewDefaultServerConfig()
	cfg.Conn = conn
	cfg.StartingNodes = func() ([]dht.Addr, error) { return dht.ResolveHostPorts(nodes) }
	cfg.PeerStore = store
	s, err := dht.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// TestConfigErrors checks that a configuration the observer cannot use is
// refused with an error naming the field.
func TestConfigErrors(t *testing.T) {
	tt := newV1Torrent(t, 16<<10)
	for _, tc := range []struct {
		cfg  observe.Config
		want string
	}{
		{observe.Config{ListenAddr: "127.0.0.10"}, "listen address"},
		{observe.Config{ListenAddr: "127.0.0.10:http"}, "listen port"},
		{observe.Config{ListenAddr: "127.0.0.10:0", RedialInterval: -time.Second}, "RedialInterval"},
		{observe.Config{ListenAddr: "127.0.0.10:0", Discovery: observe.Discovery{AnnounceInterval: -1}}, "AnnounceInterval"},
		{observe.Config{ListenAddr: "127.0.0.10:0", Discovery: observe.Discovery{DHT: true, DHTNodes: []string{"router.example"}}}, "DHTNodes"},
		{observe.Config{ListenAddr: "127.0.0.10:0", Discovery: observe.Discovery{DHT: true, DHTNodes: []string{"127.0.0.1:0"}}}, "DHTNodes"},
	} {
		if _, err := observe.New(tc.cfg, tt.raw); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v): %v, want an error about %s", tc.cfg, err, tc.want)
		}
	}
}

// TestRedial hands the observer an address where nothing listens yet, then
// starts a seeder there: the observer's redials must reach it, and it must
// be verified-transfer.
func TestRedial(t *testing.T) {
	tt := newV1Torrent(t, 16<<10)
	addr := deadAddr(t, "127.0.0.37")
	o := newObserver(t, tt, "127.0.0.38", observe.Config{RedialInterval: 300 * time.Millisecond, Discovery: observe.Discovery{NoTrackers: true}})
	if err := o.AddPeers("manual", addr); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if g := o.Peers()[0].Evidence.Grade; g != protocol.GradeAnnounced {
		t.Fatalf("nothing listens yet, but the address is %s", g)
	}
	startPeer(t, tt, peerOpts{host: "127.0.0.37", port: addr.Port()})
	waitFor(t, o, 20*time.Second, "late listener verified", func(m map[netip.AddrPort]observe.PeerReport) bool {
		return m[addr].Evidence.Grade == protocol.GradeVerifiedTransfer
	})
}
