package observe_test

import (
	"encoding/hex"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docket-project/docket/node/observe"
	"github.com/docket-project/docket/protocol"
)

// v2File is one file of a v2 test torrent as the test expects the
// observer to see it.
type v2File struct {
	root       [32]byte
	begin, end int // torrent pieces it occupies
}

// v2Files lists tt's v2 files with content.
func v2Files(tt *testTorrent) []v2File {
	var out []v2File
	for fi := range tt.info.UpvertedFilesIter() {
		if fi.Length == 0 {
			continue
		}
		out = append(out, v2File{
			root:  fi.PiecesRoot.Unwrap(),
			begin: fi.BeginPieceIndex(tt.info.PieceLength),
			end:   fi.EndPieceIndex(tt.info.PieceLength),
		})
	}
	return out
}

// v2PieceHash returns the BEP 52 hash of piece i: its piece layer entry,
// or its file's pieces root for a file of one piece.
func v2PieceHash(tt *testTorrent, i int) string {
	for _, f := range v2Files(tt) {
		if i < f.begin || i >= f.end {
			continue
		}
		if f.end-f.begin == 1 {
			return hex.EncodeToString(f.root[:])
		}
		layer := tt.mi.PieceLayers[string(f.root[:])]
		return hex.EncodeToString([]byte(layer[32*(i-f.begin) : 32*(i-f.begin+1)]))
	}
	return ""
}

// TestObserveV2 observes v2 and hybrid swarms, single- and multi-file:
// three honest anacrolix seeders, one that serves corrupted data while
// claiming every piece, and an address where nothing listens. Honest
// seeders must be verified-transfer with BEP 52 piece hashes, the
// corrupting one recorded as failing and only handshake (never
// blockable), the dead address announced; the observation must name the
// right content id and verify as an assertion.
func TestObserveV2(t *testing.T) {
	for _, tc := range []struct {
		name   string
		hybrid bool
		sizes  []int
	}{
		{"v2-single", false, []int{1 << 20}},
		{"v2-multi", false, []int{600<<10 + 7, 20 << 10, 400 << 10}},
		{"hybrid-single", true, []int{1 << 20}},
		{"hybrid-multi", true, []int{600<<10 + 7, 20 << 10, 400 << 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testObserveV2(t, newV2Torrent(t, 32<<10, tc.hybrid, tc.sizes...))
		})
	}
}

func testObserveV2(t *testing.T, tt *testTorrent) {
	good := []netip.AddrPort{
		startPeer(t, tt, peerOpts{host: "127.0.0.41"}).addr,
		startPeer(t, tt, peerOpts{host: "127.0.0.42"}).addr,
		startPeer(t, tt, peerOpts{host: "127.0.0.43"}).addr,
	}
	bad := startPeer(t, tt, peerOpts{host: "127.0.0.44", corrupt: true}).addr
	dead := deadAddr(t, "127.0.0.45")
	o := newObserver(t, tt, "127.0.0.40", observe.Config{DownloadRate: 256 << 10, RedialInterval: 2 * time.Second})
	if err := o.AddPeers("manual", append(good, bad)...); err != nil {
		t.Fatal(err)
	}
	if err := o.AddPeers("tracker", dead); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitFor(t, o, 30*time.Second, "swarm verified", func(m map[netip.AddrPort]observe.PeerReport) bool {
		done := m[bad].FailedPieces > 0
		for _, a := range good {
			done = done && m[a].Evidence.Grade == protocol.GradeVerifiedTransfer
		}
		return done
	})
	t.Logf("full verified map after %v", time.Since(start))

	wantIDs := []protocol.ContentID{tt.btmh()}
	if tt.info.HasV1() {
		wantIDs = []protocol.ContentID{tt.btih(), tt.btmh()}
	}
	files := v2Files(tt)
	for _, f := range files {
		wantIDs = append(wantIDs, protocol.FileRootContentID(f.root))
	}
	if got := o.ContentIDs(); !slices.Equal(got, wantIDs) {
		t.Errorf("content ids %v, want %v", got, wantIDs)
	}

	obs, err := o.Observation()
	if err != nil {
		t.Fatal(err)
	}
	if obs.Content != tt.btmh() || obs.Swarm != tt.btmh() || obs.PieceCount != tt.info.NumPieces() {
		t.Errorf("observation of %s in %s with %d pieces, want %s with %d", obs.Content, obs.Swarm, obs.PieceCount, tt.btmh(), tt.info.NumPieces())
	}
	grades := gradesByIP(obs)
	for _, a := range good {
		e := grades[a.Addr().String()]
		if e.Grade != protocol.GradeVerifiedTransfer {
			t.Errorf("seeder %s: %s, want verified-transfer", a, e.Grade)
		}
		for _, p := range e.Pieces {
			if want := v2PieceHash(tt, p.Index); p.Hash != want || len(p.Hash) != 64 {
				t.Errorf("seeder %s: piece %d hash %s, want %s", a, p.Index, p.Hash, want)
			}
		}
	}
	if e := grades[bad.Addr().String()]; e.Grade != protocol.GradeHandshake || len(e.Pieces) != 0 {
		t.Errorf("corrupting seeder: %s with %d pieces, want handshake", e.Grade, len(e.Pieces))
	}
	if e := grades[dead.Addr().String()]; e.Grade != protocol.GradeAnnounced {
		t.Errorf("dead address: %s, want announced", e.Grade)
	}
	buildAndVerify(t, obs)

	// A hybrid's v1 view: the btih swarm with SHA-1 piece proofs.
	if tt.info.HasV1() {
		v1, err := o.ObservationFor(tt.btih())
		if err != nil {
			t.Fatal(err)
		}
		if v1.Content != tt.btih() || v1.Swarm != tt.btih() {
			t.Errorf("v1 view of %s in %s", v1.Content, v1.Swarm)
		}
		for _, p := range v1.Peers {
			for _, pp := range p.Evidence.Pieces {
				if want := hex.EncodeToString(tt.info.Pieces[20*pp.Index : 20*pp.Index+20]); pp.Hash != want {
					t.Errorf("v1 view: %s piece %d hash %s, want %s", p.Addr, pp.Index, pp.Hash, want)
				}
			}
		}
		buildAndVerify(t, v1)
	}

	// Each file's bt2file view: the btmh swarm, only that file's pieces.
	for _, f := range files {
		id := protocol.FileRootContentID(f.root)
		fo, err := o.ObservationFor(id)
		if err != nil {
			t.Fatal(err)
		}
		if fo.Content != id || fo.Swarm != tt.btmh() {
			t.Errorf("file view of %s in %s, want %s in %s", fo.Content, fo.Swarm, id, tt.btmh())
		}
		verified := 0
		for _, p := range fo.Peers {
			for _, pp := range p.Evidence.Pieces {
				if pp.Index < f.begin || pp.Index >= f.end {
					t.Errorf("file %s: piece %d outside [%d,%d)", id, pp.Index, f.begin, f.end)
				}
			}
			if p.Evidence.Grade == protocol.GradeVerifiedTransfer {
				verified++
			}
		}
		t.Logf("file %s (pieces %d-%d): %d peers verified", id, f.begin, f.end-1, verified)
		if verified > 0 {
			buildAndVerify(t, fo)
		}
	}
	if _, err := o.ObservationFor(protocol.FileRootContentID([32]byte{1})); err == nil {
		t.Error("ObservationFor accepted a file the torrent does not carry")
	}
	if n := o.UploadedBytes(); n != 0 {
		t.Errorf("observer uploaded %d bytes", n)
	}
}

// TestNewRejectsBadV2 checks that metainfo whose BEP 52 hashes cannot be
// checked is refused, with an error that says why, and never panics.
func TestNewRejectsBadV2(t *testing.T) {
	for _, tc := range []struct {
		name   string
		hybrid bool
		tamper func(tt *testTorrent)
		want   string
	}{
		{"piece layer altered", false, func(tt *testTorrent) {
			for k, v := range tt.mi.PieceLayers {
				b := []byte(v)
				b[0] ^= 1
				tt.mi.PieceLayers[k] = string(b)
			}
		}, "not its pieces root"},
		{"piece layer missing", false, func(tt *testTorrent) {
			clear(tt.mi.PieceLayers)
		}, "needs a piece layer"},
		{"pieces root short", false, func(tt *testTorrent) {
			f := tt.info.FileTree.Dir["night-trains.bin"]
			f.File.PiecesRoot = f.File.PiecesRoot[:31]
			tt.info.FileTree.Dir["night-trains.bin"] = f
		}, "pieces root of 31 bytes"},
		{"piece length not a power of two", false, func(tt *testTorrent) {
			tt.info.PieceLength = 48 << 10
		}, "power of two"},
		{"hybrid v1 pieces missing", true, func(tt *testTorrent) {
			tt.info.Pieces = tt.info.Pieces[:len(tt.info.Pieces)-20]
		}, "v1 pieces"},
		{"hybrid v1 layout differs", true, func(tt *testTorrent) {
			tt.info.Length++
		}, "laid out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tt := newV2Torrent(t, 64<<10, tc.hybrid, 256<<10)
			tc.tamper(tt)
			tt.encode(t)
			_, err := observe.New(observe.Config{ListenAddr: "127.0.0.40:0"}, tt.raw)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
