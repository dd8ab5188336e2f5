package devnet

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/merkle"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/tracker"

	"github.com/docket-project/docket/node/observe"
	"github.com/docket-project/docket/protocol"
)

// treeDigest maps every file under dir to the SHA-256 of its content.
func treeDigest(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		out[path] = hex.EncodeToString(sum[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMakeTorrent makes a torrent whose last piece is short and checks
// its metainfo against its data: name, sizes, tracker, infohash and
// content id, and every piece hash. It refuses to overwrite, and bad
// names, sizes and tracker URLs are refused before anything is written.
func TestMakeTorrent(t *testing.T) {
	dir := t.TempDir()
	const size = 20*PieceLength + 1234
	const url = "http://127.0.0.1:6969/announce"
	tor, err := MakeTorrent(dir, "night-trains.mkv", size, url)
	if err != nil {
		t.Fatal(err)
	}
	if tor.File != filepath.Join(dir, "night-trains.mkv.torrent") || tor.DataDir != filepath.Join(dir, "data") || tor.Name != "night-trains.mkv" {
		t.Errorf("torrent %+v: unexpected paths or name", tor)
	}
	mi, err := metainfo.LoadFromFile(tor.File)
	if err != nil {
		t.Fatal(err)
	}
	info, err := mi.UnmarshalInfo()
	if err != nil {
		t.Fatal(err)
	}
	if ih := mi.HashInfoBytes(); ih != tor.InfoHash {
		t.Errorf("infohash %x, Torrent says %x", ih, tor.InfoHash)
	}
	if want := protocol.V1ContentID(mi.HashInfoBytes()); tor.ContentID != want || string(want) != "btih:"+hex.EncodeToString(tor.InfoHash[:]) {
		t.Errorf("content id %s, want %s", tor.ContentID, want)
	}
	if info.PieceLength != PieceLength || info.Name != tor.Name || info.Length != size || len(info.Files) != 0 || info.HasV2() || !info.HasV1() {
		t.Errorf("info: piece length %d, name %q, length %d, %d files, v2 %v: want a v1 single file of %d bytes in 16 KiB pieces",
			info.PieceLength, info.Name, info.Length, len(info.Files), info.HasV2(), size)
	}
	if tor.Pieces != 21 || info.NumPieces() != 21 {
		t.Errorf("pieces: Torrent says %d, info %d, want 21", tor.Pieces, info.NumPieces())
	}
	if mi.Announce != url || !slices.EqualFunc(mi.UpvertedAnnounceList(), metainfo.AnnounceList{{url}}, slices.Equal) {
		t.Errorf("announce %q, list %q", mi.Announce, mi.UpvertedAnnounceList())
	}
	data, err := os.ReadFile(filepath.Join(tor.DataDir, tor.Name))
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != size {
		t.Fatalf("data has %d bytes, want %d", len(data), size)
	}
	for i := range info.NumPieces() {
		piece := data[i*PieceLength : min((i+1)*PieceLength, size)]
		if sum := sha1.Sum(piece); !bytes.Equal(sum[:], info.Pieces[i*20:(i+1)*20]) {
			t.Errorf("piece %d does not match its hash", i)
		}
	}

	before := treeDigest(t, dir)
	if _, err := MakeTorrent(dir, "night-trains.mkv", size, url); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("making the same torrent again: %v, want an error saying it exists", err)
	}
	if after := treeDigest(t, dir); !maps.Equal(before, after) {
		t.Errorf("a refused MakeTorrent changed the files: %v → %v", before, after)
	}

	for _, c := range []struct {
		what, name string
		size       int64
		url        string
		want       string
	}{
		{"name with a slash", "a/b.mkv", 1, url, "not a plain file name"},
		{"parent name", "..", 1, url, "not a plain file name"},
		{"empty name", "", 1, url, "not a plain file name"},
		{"zero size", "x", 0, url, "size 0"},
		{"negative size", "x", -5, url, "size -5"},
		{"huge size", "x", MaxTorrentSize + 1, url, "is not between"},
		{"ftp tracker", "x", 1, "ftp://127.0.0.1/announce", "not an http, https or udp URL"},
		{"tracker without host", "x", 1, "http:///announce", "not an http, https or udp URL"},
	} {
		t.Run(c.what, func(t *testing.T) {
			dir := t.TempDir()
			_, err := MakeTorrent(dir, c.name, c.size, c.url)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("MakeTorrent: %v, want an error with %q", err, c.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("a refused MakeTorrent left %d entries in its directory", len(entries))
			}
		})
	}
}

// TestTrackerPeers runs the tracker and announces to it over HTTP with
// anacrolix's tracker client from addresses of their own: each asker gets
// every listed address but its own, the asked interval and the counts; an
// injected address is listed without announcing and outlives the TTL an
// announced one lapses after; "stopped" delists.
func TestTrackerPeers(t *testing.T) {
	tr, err := StartTracker("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if !strings.HasPrefix(tr.URL(), "http://127.0.0.1:") || !strings.HasSuffix(tr.URL(), "/announce") {
		t.Errorf("URL %q", tr.URL())
	}
	var ih [20]byte
	rand.Read(ih[:])
	joe := netip.MustParseAddrPort("127.0.0.74:6881")
	tr.Inject(ih, joe)

	announce := func(from netip.AddrPort, event tracker.AnnounceEvent, left int64) tracker.AnnounceResponse {
		t.Helper()
		var id [20]byte
		rand.Read(id[:])
		res, err := tracker.Announce{
			TrackerUrl:  tr.URL(),
			DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: from.Addr().AsSlice()}}).DialContext,
			Request:     tracker.AnnounceRequest{InfoHash: ih, PeerId: id, Port: from.Port(), Event: event, Left: left, NumWant: -1},
			Context:     t.Context(),
		}.Do()
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	listed := func(res tracker.AnnounceResponse) []netip.AddrPort {
		var out []netip.AddrPort
		for _, p := range res.Peers {
			if a, ok := p.ToNetipAddrPort(); ok {
				out = append(out, unmapped(a))
			}
		}
		slices.SortFunc(out, netip.AddrPort.Compare)
		return out
	}
	a := netip.MustParseAddrPort("127.0.0.71:7001")
	b := netip.MustParseAddrPort("127.0.0.72:7002")
	res := announce(a, tracker.Started, 0)
	if got := listed(res); !slices.Equal(got, []netip.AddrPort{joe}) {
		t.Errorf("first announcer is told %v, want only the injected %v", got, joe)
	}
	if res.Interval != int32(trackerInterval/time.Second) {
		t.Errorf("interval %d s, want %v", res.Interval, trackerInterval)
	}
	res = announce(b, tracker.Started, 100)
	if got := listed(res); !slices.Equal(got, []netip.AddrPort{a, joe}) {
		t.Errorf("second announcer is told %v, want %v and %v", got, a, joe)
	}
	if res.Seeders != 1 || res.Leechers != 2 {
		t.Errorf("counts: %d seeders, %d leechers; want 1 (a, nothing left) and 2 (b, and the injected address)", res.Seeders, res.Leechers)
	}
	if got := tr.Peers(ih); !slices.Equal(got, []netip.AddrPort{a, b, joe}) {
		t.Errorf("Peers %v, want %v, %v, %v sorted", got, a, b, joe)
	}

	announce(b, tracker.Stopped, 100)
	if got := tr.Peers(ih); !slices.Equal(got, []netip.AddrPort{a, joe}) {
		t.Errorf("after b stopped: %v", got)
	}
	// Past the TTL, a (which stopped announcing) lapses; the joe job stays.
	tr.store.mu.Lock()
	tr.store.now = func() time.Time { return time.Now().Add(trackerPeerTTL + time.Second) }
	tr.store.mu.Unlock()
	if got := tr.Peers(ih); !slices.Equal(got, []netip.AddrPort{joe}) {
		t.Errorf("after the TTL: %v, want only %v", got, joe)
	}
	var other [20]byte
	if got := tr.Peers(other); len(got) != 0 {
		t.Errorf("an unknown swarm lists %v", got)
	}

	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", strings.TrimSuffix(strings.TrimPrefix(tr.URL(), "http://"), "/announce"), time.Second); err == nil {
		c.Close()
		t.Error("the tracker still accepts connections after Close")
	}
	if err := tr.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
}

// TestSwarmObserved seeds from 127.0.0.61 and .62 with announces to a
// real tracker, runs a victim's server on .63 and has the tracker list a
// joe-job address .64:6881 where nothing listens. A real observer, which
// learns the swarm from the tracker only, must verify pieces from both
// seeders and grade the joe-job address announced only; the victim
// answers its line to a plain TCP dial. Cancelling the context stops
// Seed within a few seconds: every port is closed, the seeders have
// announced "stopped", and the data is as it was.
func TestSwarmObserved(t *testing.T) {
	tr, err := StartTracker("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	dir := t.TempDir()
	tor, err := MakeTorrent(dir, "night-trains.mkv", 256<<10, tr.URL())
	if err != nil {
		t.Fatal(err)
	}
	before := treeDigest(t, dir)
	joe := netip.MustParseAddrPort("127.0.0.64:6881")
	tr.Inject(tor.InfoHash, joe)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ready := make(chan []netip.AddrPort, 1)
	done := make(chan error, 1)
	go func() {
		done <- Seed(ctx, SeedOptions{
			Torrent:  tor.File,
			DataDir:  tor.DataDir,
			Listen:   []netip.AddrPort{netip.MustParseAddrPort("127.0.0.61:0"), netip.MustParseAddrPort("127.0.0.62:0")},
			Announce: true,
			Victims:  []netip.AddrPort{netip.MustParseAddrPort("127.0.0.63:0")},
			Ready:    func(l []netip.AddrPort) { ready <- l },
		})
	}()
	var listening []netip.AddrPort
	select {
	case listening = <-ready:
	case err := <-done:
		t.Fatalf("Seed returned before it was ready: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("Seed not ready within 15 s")
	}
	if len(listening) != 3 {
		t.Fatalf("Ready got %v, want 3 addresses", listening)
	}
	for i, ip := range []string{"127.0.0.61", "127.0.0.62", "127.0.0.63"} {
		if listening[i].Addr().String() != ip || listening[i].Port() == 0 {
			t.Errorf("Ready address %d is %v, want %s with its port resolved", i, listening[i], ip)
		}
	}
	seeders, victim := listening[:2], listening[2]

	// The tracker lists each seeder at its own IP and listen port.
	deadline := time.Now().Add(10 * time.Second)
	for !containsAll(tr.Peers(tor.InfoHash), seeders[0], seeders[1], joe) {
		if time.Now().After(deadline) {
			t.Fatalf("tracker lists %v, want the seeders %v and %v", tr.Peers(tor.InfoHash), seeders, joe)
		}
		time.Sleep(20 * time.Millisecond)
	}

	raw, err := os.ReadFile(tor.File)
	if err != nil {
		t.Fatal(err)
	}
	o, err := observe.New(observe.Config{
		ListenAddr:     "127.0.0.60:0",
		DownloadRate:   256 << 10,
		RedialInterval: time.Second,
		Discovery:      observe.Discovery{AnnounceInterval: time.Second},
		Logger:         slog.New(slog.DiscardHandler),
	}, raw)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	byIP := func() map[netip.Addr]observe.PeerReport {
		rank := []protocol.Grade{protocol.GradeVerifiedTransfer, protocol.GradeHandshake, protocol.GradeAnnounced}
		out := map[netip.Addr]observe.PeerReport{}
		for _, r := range o.Peers() {
			if cur, ok := out[r.Addr.Addr()]; !ok || slices.Index(rank, r.Evidence.Grade) < slices.Index(rank, cur.Evidence.Grade) {
				out[r.Addr.Addr()] = r
			}
		}
		return out
	}
	start := time.Now()
	for deadline := start.Add(20 * time.Second); ; {
		m := byIP()
		if m[seeders[0].Addr()].Evidence.Grade == protocol.GradeVerifiedTransfer && m[seeders[1].Addr()].Evidence.Grade == protocol.GradeVerifiedTransfer {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("seeders not both verified within 20 s; observer's peers: %+v", o.Peers())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("observer verified both seeders %v after it started", time.Since(start).Round(time.Millisecond))
	m := byIP()
	for _, s := range seeders {
		if r := m[s.Addr()]; len(r.Evidence.Pieces) == 0 || r.FailedPieces != 0 {
			t.Errorf("seeder %v: %d verified pieces, %d failed", s, len(r.Evidence.Pieces), r.FailedPieces)
		}
	}
	if r, ok := m[joe.Addr()]; !ok || r.Evidence.Grade != protocol.GradeAnnounced || r.Evidence.Source != "tracker" || r.Addr != joe {
		t.Errorf("joe-job address: %+v (listed %v), want %v announced by the tracker", r, ok, joe)
	}
	if r, ok := m[victim.Addr()]; ok {
		t.Errorf("the victim's address reached the observer: %+v", r)
	}

	// The victim is a plain TCP server, not a BitTorrent peer.
	c, err := net.DialTimeout("tcp", victim.String(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(2 * time.Second))
	got, err := io.ReadAll(c)
	c.Close()
	if err != nil || string(got) != "victim\n" {
		t.Errorf("victim answered %q, %v; want %q", got, err, "victim\n")
	}

	cancel()
	stopStart := time.Now()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Seed after cancel: %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Seed did not return within 10 s of cancel")
	}
	stopped := time.Since(stopStart)
	t.Logf("Seed returned %v after cancel", stopped.Round(time.Millisecond))
	if stopped > 5*time.Second {
		t.Errorf("Seed took %v to stop, want a few seconds at most", stopped)
	}
	for _, a := range listening {
		if c, err := net.DialTimeout("tcp", a.String(), time.Second); err == nil {
			c.Close()
			t.Errorf("%v still accepts connections after Seed returned", a)
		}
	}
	if peers := tr.Peers(tor.InfoHash); slices.Contains(peers, seeders[0]) || slices.Contains(peers, seeders[1]) || !slices.Contains(peers, joe) {
		t.Errorf("after Seed returned the tracker lists %v: want the joe job, not the seeders (they announce stopped)", peers)
	}
	if after := treeDigest(t, dir); !maps.Equal(before, after) {
		t.Errorf("seeding changed the files under %s: %v → %v", dir, before, after)
	}
}

func containsAll(list []netip.AddrPort, want ...netip.AddrPort) bool {
	for _, w := range want {
		if !slices.Contains(list, w) {
			return false
		}
	}
	return true
}

// TestSeedBadInput checks that Seed refuses, with an error naming what
// is wrong and without calling Ready, missing or altered data, repeated
// addresses, an address already taken and an announce without trackers.
func TestSeedBadInput(t *testing.T) {
	dir := t.TempDir()
	tor, err := MakeTorrent(dir, "film.mkv", 64<<10, "http://127.0.0.1:1/announce")
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(tor.DataDir, tor.Name)
	bare, err := MakeTorrent(filepath.Join(dir, "bare"), "bare.mkv", 16<<10, "")
	if err != nil {
		t.Fatal(err)
	}
	taken, err := net.Listen("tcp", "127.0.0.66:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenAddr := taken.Addr().(*net.TCPAddr).AddrPort()

	l1 := netip.MustParseAddrPort("127.0.0.65:0")
	l2 := netip.MustParseAddrPort("127.0.0.65:6881")
	ok := SeedOptions{Torrent: tor.File, DataDir: tor.DataDir, Listen: []netip.AddrPort{l1}}
	with := func(f func(*SeedOptions)) SeedOptions {
		o := ok
		f(&o)
		return o
	}
	cases := []struct {
		what  string
		opts  SeedOptions
		setup func(t *testing.T)
		want  []string
	}{
		{"missing data", ok, func(t *testing.T) { renameAway(t, data) }, []string{data}},
		{"altered data", ok, func(t *testing.T) { flipByte(t, data, 40_000) }, []string{data, "does not match the torrent"}},
		{"short data", ok, func(t *testing.T) { truncate(t, data, 1000) }, []string{data, "1000 bytes", "65536"}},
		{"two equal Listen entries", with(func(o *SeedOptions) { o.Listen = []netip.AddrPort{l2, l2} }), nil, []string{"127.0.0.65:6881", "Listen"}},
		{"victim at a seeder's address", with(func(o *SeedOptions) { o.Listen = []netip.AddrPort{l2}; o.Victims = []netip.AddrPort{l2} }), nil, []string{"127.0.0.65:6881", "Victims"}},
		{"unspecified address", with(func(o *SeedOptions) { o.Listen = []netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:6881")} }), nil, []string{"0.0.0.0:6881", "not an address to listen on"}},
		{"no Listen", with(func(o *SeedOptions) { o.Listen = nil }), nil, []string{"no listen address"}},
		{"address taken", with(func(o *SeedOptions) { o.Listen = []netip.AddrPort{takenAddr} }), nil, []string{takenAddr.String()}},
		{"victim address taken", with(func(o *SeedOptions) { o.Victims = []netip.AddrPort{takenAddr} }), nil, []string{"victim at " + takenAddr.String()}},
		{"announce without trackers", SeedOptions{Torrent: bare.File, DataDir: bare.DataDir, Listen: []netip.AddrPort{l1}, Announce: true}, nil, []string{bare.File, "no http, https or udp tracker"}},
		{"missing torrent", with(func(o *SeedOptions) { o.Torrent = filepath.Join(dir, "nope.torrent") }), nil, []string{filepath.Join(dir, "nope.torrent")}},
	}
	for _, c := range cases {
		t.Run(c.what, func(t *testing.T) {
			if c.setup != nil {
				c.setup(t)
			}
			called := false
			c.opts.Ready = func([]netip.AddrPort) { called = true }
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			err := Seed(ctx, c.opts)
			if err == nil {
				t.Fatal("Seed accepted it")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			if called {
				t.Error("Ready was called")
			}
			t.Logf("error: %v", err)
		})
	}
}

// TestSeedV2 seeds a BitTorrent v2 torrent (BEP 52, piece layers)
// built with anacrolix's merkle package: its data verifies and Seed
// gets ready; with a byte changed, Seed names the file.
func TestSeedV2(t *testing.T) {
	dir := t.TempDir()
	const size = 5*PieceLength + 777
	content := make([]byte, size)
	rand.Read(content)
	info := metainfo.Info{PieceLength: PieceLength, MetaVersion: 2, Name: "v2-film.bin"}
	root := merkle.NewHash()
	root.Write(content)
	rootHash := root.Sum(nil)
	info.FileTree.Dir = map[string]metainfo.FileTree{info.Name: {File: metainfo.FileTreeFile{Length: size, PiecesRoot: string(rootHash)}}}
	var layer []byte
	for off := 0; off < size; off += PieceLength {
		h := merkle.NewHash()
		h.Write(content[off:min(off+PieceLength, size)])
		layer = h.SumMinLength(layer, PieceLength)
	}
	mi := metainfo.MetaInfo{PieceLayers: map[string]string{string(rootHash): string(layer)}}
	var err error
	if mi.InfoBytes, err = bencode.Marshal(&info); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := mi.Write(&buf); err != nil {
		t.Fatal(err)
	}
	torrentFile := filepath.Join(dir, "v2.torrent")
	dataDir := filepath.Join(dir, "data")
	// anacrolix keeps a v2 torrent's single file in a directory of the
	// torrent's name, as it does a multi-file torrent's files.
	data := filepath.Join(dataDir, info.Name, info.Name)
	if err := os.WriteFile(torrentFile, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(data), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(data, content, 0o644); err != nil {
		t.Fatal(err)
	}
	seed := func() (bool, error) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		ready := false
		err := Seed(ctx, SeedOptions{
			Torrent: torrentFile, DataDir: dataDir,
			Listen: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.67:0")},
			Ready:  func([]netip.AddrPort) { ready = true; cancel() },
		})
		return ready, err
	}
	if ready, err := seed(); err != nil || !ready {
		t.Fatalf("seeding v2: ready %v, error %v", ready, err)
	}
	flipByte(t, data, 3*PieceLength+5)
	ready, err := seed()
	if err == nil || !strings.Contains(err.Error(), data) || ready {
		t.Fatalf("seeding altered v2 data: ready %v, error %v; want an error naming %s", ready, err, data)
	}
	t.Logf("error: %v", err)
}

// renameAway moves path aside until the test ends.
func renameAway(t *testing.T, path string) {
	t.Helper()
	if err := os.Rename(path, path+".away"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Rename(path+".away", path) })
}

// flipByte inverts the byte at off of path until the test ends.
func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	orig := b[0]
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		f.WriteAt([]byte{orig}, off)
	})
}

// truncate shortens path to n bytes until the test ends.
func truncate(t *testing.T, path string, n int64) {
	t.Helper()
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, n); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.WriteFile(path, orig, 0o644); err != nil {
			t.Error(err)
		}
	})
}
