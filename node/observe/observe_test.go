package observe_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/docket-project/docket/crypto/seal"
	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/node/observe"
	"github.com/docket-project/docket/protocol"
)

const contentSize = 1 << 20

// testLogger routes logs to t.Logf.
func testLogger(t *testing.T, level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: level}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}

// makeTorrent returns a single-file v1 torrent of random content: its
// metainfo, parsed and encoded, and the content.
func makeTorrent(t *testing.T, pieceLength int64) (*metainfo.MetaInfo, []byte, []byte) {
	t.Helper()
	tt := newV1Torrent(t, pieceLength)
	return tt.mi, tt.raw, tt.data[0]
}

// startSeeder runs an anacrolix seeder on host holding content (corrupted
// if corrupt, while claiming every piece) and returns its listen address.
func startSeeder(t *testing.T, host string, mi *metainfo.MetaInfo, content []byte, corrupt bool) netip.AddrPort {
	t.Helper()
	info, err := mi.UnmarshalInfo()
	if err != nil {
		t.Fatal(err)
	}
	tt := &testTorrent{mi: mi, info: info, data: [][]byte{content}}
	return startPeer(t, tt, peerOpts{host: host, corrupt: corrupt}).addr
}

// deadAddr returns a loopback address where nothing listens.
func deadAddr(t *testing.T, host string) netip.AddrPort {
	t.Helper()
	l, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	ap := netip.MustParseAddrPort(l.Addr().String())
	l.Close()
	return ap
}

// TestObserveSwarm runs three honest seeders, one that serves corrupted
// data while claiming every piece, and an address where nothing listens,
// with one-chunk pieces (each piece from one peer) and four-chunk pieces
// (chunks of one piece from several peers).
func TestObserveSwarm(t *testing.T) {
	for _, pieceLength := range []int64{16 << 10, 64 << 10} {
		t.Run(fmt.Sprintf("piece=%dKiB", pieceLength>>10), func(t *testing.T) { testObserveSwarm(t, pieceLength) })
	}
}

func testObserveSwarm(t *testing.T, pieceLength int64) {
	mi, miBytes, content := makeTorrent(t, pieceLength)
	info, err := mi.UnmarshalInfo()
	if err != nil {
		t.Fatal(err)
	}
	good := []netip.AddrPort{
		startSeeder(t, "127.0.0.11", mi, content, false),
		startSeeder(t, "127.0.0.12", mi, content, false),
		startSeeder(t, "127.0.0.13", mi, content, false),
	}
	bad := startSeeder(t, "127.0.0.14", mi, content, true)
	dead := deadAddr(t, "127.0.0.15")

	o, err := observe.New(observe.Config{
		ListenAddr:   "127.0.0.10:0",
		DownloadRate: 256 << 10,
		Logger:       testLogger(t, slog.LevelInfo).With("observer", "127.0.0.10"),
	}, miBytes)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	start := time.Now()
	if err := o.AddPeers("manual", append(good, bad)...); err != nil {
		t.Fatal(err)
	}
	if err := o.AddPeers("tracker", dead); err != nil {
		t.Fatal(err)
	}

	byAddr := func() map[netip.AddrPort]observe.PeerReport {
		m := map[netip.AddrPort]observe.PeerReport{}
		for _, r := range o.Peers() {
			m[r.Addr] = r
		}
		return m
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		m := byAddr()
		done := m[bad].FailedPieces > 0
		for _, a := range good {
			done = done && m[a].Evidence.Grade == protocol.GradeVerifiedTransfer
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("swarm not verified in time: %+v", o.Peers())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("full verified map after %v", time.Since(start))

	m := byAddr()
	for _, a := range good {
		e := m[a].Evidence
		if e.Transport != "tcp" && e.Transport != "utp" || len(e.PeerID) != 40 || e.Bytes <= 0 || e.Source != "manual" {
			t.Errorf("seeder %s: bad evidence %+v", a, e)
		}
		if e.Client == "" {
			t.Errorf("seeder %s: no client name", a)
		}
		for _, p := range e.Pieces {
			if p.Index < 0 || p.Index >= info.NumPieces() {
				t.Errorf("seeder %s: piece index %d out of range", a, p.Index)
				continue
			}
			if want := hex.EncodeToString(info.Pieces[20*p.Index : 20*p.Index+20]); p.Hash != want {
				t.Errorf("seeder %s: piece %d hash %s, want %s", a, p.Index, p.Hash, want)
			}
		}
		t.Logf("seeder %s: %d pieces, %d bytes, client %q, %s", a, len(e.Pieces), e.Bytes, e.Client, e.Transport)
	}
	if r := m[bad]; r.Evidence.Grade != protocol.GradeHandshake || len(r.Evidence.Pieces) != 0 {
		t.Errorf("corrupt seeder: grade %s with %d pieces, want handshake", r.Evidence.Grade, len(r.Evidence.Pieces))
	}
	if e := m[dead].Evidence; e.Grade != protocol.GradeAnnounced || e.Source != "tracker" || e.Port != dead.Port() {
		t.Errorf("dead address: %+v, want announced from tracker", e)
	}
	if n := o.UploadedBytes(); n != 0 {
		t.Errorf("observer uploaded %d bytes", n)
	}

	obs, err := o.Observation()
	if err != nil {
		t.Fatal(err)
	}
	if want := protocol.ContentID("btih:" + mi.HashInfoBytes().HexString()); obs.Content != want || obs.Swarm != want {
		t.Errorf("content %s swarm %s, want %s", obs.Content, obs.Swarm, want)
	}
	if obs.PieceCount != info.NumPieces() || len(obs.Peers) != 5 {
		t.Errorf("piece count %d, %d peers; want %d, 5", obs.PieceCount, len(obs.Peers), info.NumPieces())
	}
	buildAndVerify(t, obs)
	if n := o.UploadedBytes(); n != 0 {
		t.Errorf("observer uploaded %d bytes", n)
	}
}

// buildAndVerify signs obs into an assertion and verifies it as the ISP
// serving 127.0.0.0/8.
func buildAndVerify(t *testing.T, obs protocol.Observation) {
	t.Helper()
	loopback := netip.MustParsePrefix("127.0.0.0/8")
	registrar, err := sign.Generate(sign.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	holder, err := sign.Generate(sign.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	identity, err := seal.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	now := obs.Observed.End
	cred, credID, err := protocol.IssueCredential(registrar, protocol.Credential{
		Subject:   protocol.Subject{Name: "Example Records", PublicKey: holder.Public().DER()},
		Works:     []protocol.Work{{ID: "work-1", Title: "Night Trains", Content: []protocol.ContentID{obs.Content}}},
		Scope:     protocol.Scope{ISPs: []string{"isp-a"}},
		NotBefore: now.Add(-time.Hour),
		NotAfter:  now.Add(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := protocol.Directory{ISPs: []protocol.DirectoryEntry{
		{Name: "isp-a", Region: "DE", Recipient: identity.Recipient().String(), Prefixes: []netip.Prefix{loopback}},
	}}
	bundle, _, err := protocol.BuildAssertion(holder, obs, dir, protocol.BuildOptions{Credential: credID, NotBefore: now})
	if err != nil {
		t.Fatalf("BuildAssertion: %v", err)
	}
	v := protocol.NewVerifier([]*sign.PublicKey{registrar.Public()}, protocol.WithPermittedPrefixes(loopback))
	chain, err := v.VerifyChain([][]byte{cred}, now)
	if err != nil {
		t.Fatal(err)
	}
	isp := &protocol.ISP{Name: "isp-a", Region: "DE", Identity: identity}
	if _, err := v.Verify(bundle, chain, isp, now.Add(time.Second)); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

func TestNewRejectsBadMetainfo(t *testing.T) {
	if _, err := observe.New(observe.Config{ListenAddr: "127.0.0.10:0"}, []byte("not bencode")); err == nil {
		t.Error("New accepted garbage metainfo")
	}
}

func TestNoPeers(t *testing.T) {
	_, miBytes, _ := makeTorrent(t, 16<<10)
	o, err := observe.New(observe.Config{ListenAddr: "127.0.0.10:0"}, miBytes)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if err := o.AddPeers("incoming", netip.MustParseAddrPort("127.0.0.16:6881")); err == nil {
		t.Error("AddPeers accepted source incoming")
	}
	if _, err := o.Observation(); err == nil {
		t.Error("Observation succeeded without peers")
	}
}

func TestCleanClient(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Transmission 3.00", "Transmission 3.00"},
		{"bad\x00\nname\xff", "badname"},
		{strings.Repeat("é", 100), strings.Repeat("é", 64)},
		{"a" + strings.Repeat("é", 100), "a" + strings.Repeat("é", 63)},
	} {
		if got := observe.CleanClient(tc.in); got != tc.want {
			t.Errorf("cleanClient(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
