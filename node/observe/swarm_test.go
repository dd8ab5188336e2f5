package observe_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/anacrolix/dht/v2"
	g "github.com/anacrolix/generics"
	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/merkle"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
	infohash_v2 "github.com/anacrolix/torrent/types/infohash-v2"

	"github.com/docket-project/docket/node/observe"
	"github.com/docket-project/docket/protocol"
)

// testTorrent is a torrent built for a test, with its content.
type testTorrent struct {
	mi   *metainfo.MetaInfo
	raw  []byte // the .torrent file's bytes
	info metainfo.Info
	// data holds each file's bytes in the order of info.UpvertedFiles.
	data [][]byte
}

// shortHash is the 20-byte infohash a client joins the swarm with: the v1
// infohash, or the truncated v2 infohash of a v2-only torrent.
func (tt *testTorrent) shortHash() metainfo.Hash {
	if tt.info.HasV1() {
		return tt.mi.HashInfoBytes()
	}
	v2 := infohash_v2.HashBytes(tt.mi.InfoBytes)
	return *v2.ToShort()
}

// btih and btmh are the torrent's content ids.
func (tt *testTorrent) btih() protocol.ContentID {
	return protocol.V1ContentID(tt.mi.HashInfoBytes())
}

func (tt *testTorrent) btmh() protocol.ContentID {
	return protocol.V2ContentID(infohash_v2.HashBytes(tt.mi.InfoBytes))
}

// encode sets tt.raw from tt.mi, marshalling the info through a pointer
// (the file tree's marshaller has a pointer receiver).
func (tt *testTorrent) encode(t *testing.T) {
	t.Helper()
	var err error
	if tt.mi.InfoBytes, err = bencode.Marshal(&tt.info); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := tt.mi.Write(&buf); err != nil {
		t.Fatal(err)
	}
	tt.raw = buf.Bytes()
}

// randomBytes returns n random bytes.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// newV1Torrent builds a single-file v1 torrent of contentSize random bytes
// announcing to the given trackers.
func newV1Torrent(t *testing.T, pieceLength int64, trackers ...string) *testTorrent {
	t.Helper()
	content := randomBytes(contentSize)
	path := filepath.Join(t.TempDir(), "night-trains.bin")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	tt := &testTorrent{mi: &metainfo.MetaInfo{}, info: metainfo.Info{PieceLength: pieceLength}, data: [][]byte{content}}
	if err := tt.info.BuildFromFilePath(path); err != nil {
		t.Fatal(err)
	}
	if len(trackers) > 0 {
		tt.mi.Announce = trackers[0]
		tt.mi.AnnounceList = metainfo.AnnounceList{trackers}
	}
	tt.encode(t)
	return tt
}

// newV2Torrent builds a v2 torrent (BEP 52) of random files of the given
// sizes, a hybrid one (v1 fields too, files padded to piece boundaries
// with BEP 47 pad files) if hybrid is set. Merkle trees come from
// anacrolix's merkle package, so the observer's own BEP 52 hashing is
// checked against another implementation.
func newV2Torrent(t *testing.T, pieceLength int64, hybrid bool, sizes ...int) *testTorrent {
	t.Helper()
	tt := &testTorrent{
		mi:   &metainfo.MetaInfo{PieceLayers: map[string]string{}},
		info: metainfo.Info{PieceLength: pieceLength, MetaVersion: 2, Name: "night-trains"},
	}
	if len(sizes) == 1 {
		tt.info.Name = "night-trains.bin"
	}
	tt.info.FileTree.Dir = map[string]metainfo.FileTree{}
	var v1 bytes.Buffer // the v1 view: files and padding
	for i, size := range sizes {
		data := randomBytes(size)
		tt.data = append(tt.data, data)
		name := fmt.Sprintf("part-%d.bin", i)
		if len(sizes) == 1 {
			name = tt.info.Name
		}
		h := merkle.NewHash()
		h.Write(data)
		root := h.Sum(nil)
		tt.info.FileTree.Dir[name] = metainfo.FileTree{File: metainfo.FileTreeFile{Length: int64(size), PiecesRoot: string(root)}}
		if int64(size) > pieceLength {
			var layer []byte
			for off := int64(0); off < int64(size); off += pieceLength {
				ph := merkle.NewHash()
				ph.Write(data[off:min(off+pieceLength, int64(size))])
				layer = ph.SumMinLength(layer, int(pieceLength))
			}
			tt.mi.PieceLayers[string(root)] = string(layer)
		}
		v1.Write(data)
		if len(sizes) > 1 {
			tt.info.Files = append(tt.info.Files, metainfo.FileInfo{Length: int64(size), Path: []string{name}})
		}
		if pad := (pieceLength - int64(size)%pieceLength) % pieceLength; pad > 0 && i < len(sizes)-1 {
			v1.Write(make([]byte, pad))
			tt.info.Files = append(tt.info.Files, metainfo.FileInfo{
				Length:            pad,
				Path:              []string{".pad", fmt.Sprint(pad)},
				ExtendedFileAttrs: metainfo.ExtendedFileAttrs{Attr: "p"},
			})
		}
	}
	if hybrid {
		if len(sizes) == 1 {
			tt.info.Length = int64(sizes[0])
		}
		for b := v1.Bytes(); len(b) > 0; b = b[min(len(b), int(pieceLength)):] {
			sum := sha1.Sum(b[:min(len(b), int(pieceLength))])
			tt.info.Pieces = append(tt.info.Pieces, sum[:]...)
		}
	} else {
		tt.info.Files = nil
	}
	tt.encode(t)
	if err := metainfo.ValidatePieceLayers(tt.mi.PieceLayers, &tt.info.FileTree, pieceLength); err != nil {
		t.Fatalf("built piece layers anacrolix rejects: %v", err)
	}
	return tt
}

// peerOpts configures a test peer.
type peerOpts struct {
	host string
	// port is the port to listen on; 0 means any.
	port uint16
	// corrupt serves inverted bytes while claiming every piece.
	corrupt bool
	// empty holds no data and claims none: a leecher that completes
	// handshakes but has nothing to send.
	empty bool
	// trackers announces to the torrent's trackers.
	trackers bool
	// pex sends peer exchange messages.
	pex bool
	// dhtNodes, if set, runs a DHT node on the peer's UDP port starting
	// from these nodes, and announces the torrent to the DHT.
	dhtNodes []string
	// onExtension, if set, sees every extension message the peer reads.
	onExtension func(torrent.PeerConnReadExtensionMessageEvent)
}

// testPeer is a running anacrolix client in a test's swarm.
type testPeer struct {
	cl   *torrent.Client
	t    *torrent.Torrent
	addr netip.AddrPort
}

// startPeer runs an anacrolix client on o.host holding tt's content (or
// none, or corrupted content) and seeding it. All its connections, to
// peers and trackers, leave from o.host.
func startPeer(t *testing.T, tt *testTorrent, o peerOpts) *testPeer {
	t.Helper()
	dir := t.TempDir()
	if !o.empty {
		i := 0
		for fi := range tt.info.UpvertedFilesIter() {
			data := bytes.Clone(tt.data[i])
			i++
			if o.corrupt {
				for j := range data {
					data[j] ^= 0xff
				}
			}
			path := filepath.Join(append([]string{dir, tt.info.BestName()}, fi.BestPath()...)...)
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A corrupt peer claims every piece without checking; an empty one
	// knows it has none.
	pc := storage.NewMapPieceCompletion()
	if o.corrupt || o.empty {
		for i := range tt.info.NumPieces() {
			for _, ih := range []metainfo.Hash{tt.shortHash(), tt.mi.HashInfoBytes()} {
				if err := pc.Set(metainfo.PieceKey{InfoHash: ih, Index: i}, o.corrupt); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	cc := observe.ClosedSwarmConfig()
	cc.Slogger = testLogger(t, slog.LevelWarn).With("peer", o.host)
	cc.Seed = true
	cc.MaxAllocPeerRequestDataPerConn = 64 << 20
	cc.DropMutuallyCompletePeers = false
	cc.SetListenAddr(netip.AddrPortFrom(netip.MustParseAddr(o.host), o.port).String())
	cc.DialForPeerConns = false
	local := net.ParseIP(o.host)
	cc.TrackerDialContext = (&net.Dialer{LocalAddr: &net.TCPAddr{IP: local}}).DialContext
	cc.DisableTrackers = !o.trackers
	cc.DisablePEX = !o.pex
	if o.dhtNodes != nil {
		cc.NoDHT = false
		nodes := o.dhtNodes
		cc.DhtStartingNodes = func(string) dht.StartingNodesGetter {
			return func() ([]dht.Addr, error) { return dht.ResolveHostPorts(nodes) }
		}
	}
	if o.onExtension != nil {
		cc.Callbacks.PeerConnReadExtensionMessage = append(cc.Callbacks.PeerConnReadExtensionMessage, o.onExtension)
	}
	cc.DefaultStorage = storage.NewFileOpts(storage.NewFileClientOpts{
		ClientBaseDir:   dir,
		PieceCompletion: pc,
		UsePartFiles:    g.Some(false),
	})
	cl, err := torrent.NewClient(cc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	cl.AddDialer(torrent.NetworkDialer{Network: "tcp4", Dialer: &net.Dialer{LocalAddr: &net.TCPAddr{IP: local}}})
	tor, _ := cl.AddTorrentOpt(torrent.AddTorrentOpts{
		InfoHash:                 tt.shortHash(),
		InfoBytes:                tt.mi.InfoBytes,
		DisableInitialPieceCheck: o.corrupt || o.empty,
	})
	if tt.info.HasV2() {
		if errs := tor.AddPieceLayers(tt.mi.PieceLayers); len(errs) > 0 {
			t.Fatal(errs)
		}
	}
	if o.trackers {
		tor.AddTrackers(tt.mi.UpvertedAnnounceList())
	}
	if o.empty {
		// A client that needs no data and has none to seed wants no
		// connections: this one is a leecher that has nothing yet.
		tor.DownloadAll()
	}
	if !o.corrupt && !o.empty {
		// Adding v2 piece layers queues checks of their own, which can
		// overlap the first verification: check again until complete.
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		for n := tor.BytesMissing(); n != 0; n = tor.BytesMissing() {
			if ctx.Err() != nil {
				t.Fatalf("peer %s misses %d bytes", o.host, n)
			}
			if err := tor.VerifyDataContext(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	ap, err := netip.ParseAddrPort(cl.ListenAddrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	return &testPeer{cl: cl, t: tor, addr: ap}
}

// newObserver starts an observer on host for tt, closed when the test
// ends.
func newObserver(t *testing.T, tt *testTorrent, host string, cfg observe.Config) *observe.Observer {
	t.Helper()
	cfg.ListenAddr = host + ":0"
	cfg.Logger = testLogger(t, slog.LevelInfo).With("observer", host)
	o, err := observe.New(cfg, tt.raw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

// observerAddr returns the observer's listen address.
func observerAddr(t *testing.T, o *observe.Observer) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(o.ListenAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

// gradesByIP returns the grade and source of every IP of obs.
func gradesByIP(obs protocol.Observation) map[string]protocol.Evidence {
	m := map[string]protocol.Evidence{}
	for _, p := range obs.Peers {
		m[p.Addr.String()] = p.Evidence
	}
	return m
}

// waitFor polls cond every 50 ms until it holds or limit passes, then
// fails the test with the observer's peers.
func waitFor(t *testing.T, o *observe.Observer, limit time.Duration, what string, cond func(map[netip.AddrPort]observe.PeerReport) bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		m := map[netip.AddrPort]observe.PeerReport{}
		for _, r := range o.Peers() {
			m[r.Addr] = r
		}
		if cond(m) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; peers: %+v", what, limit, o.Peers())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// reportsByIP merges the reports of one IP into its strongest.
func reportsByIP(m map[netip.AddrPort]observe.PeerReport) map[netip.Addr]observe.PeerReport {
	out := map[netip.Addr]observe.PeerReport{}
	rank := []protocol.Grade{protocol.GradeVerifiedTransfer, protocol.GradeHandshake, protocol.GradeAnnounced}
	for a, r := range m {
		if cur, ok := out[a.Addr()]; !ok || slices.Index(rank, r.Evidence.Grade) < slices.Index(rank, cur.Evidence.Grade) {
			out[a.Addr()] = r
		}
	}
	return out
}
