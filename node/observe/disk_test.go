package observe_test

import (
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/storage"

	"github.com/docket-project/docket/node/observe"
	"github.com/docket-project/docket/protocol"
)

// TestNoContentOnDisk runs an observer of a hybrid torrent to the end of
// its download with the working directory, HOME and TMPDIR pointing at
// empty directories, and checks that it wrote nothing to any of them.
func TestNoContentOnDisk(t *testing.T) {
	tt := newV2Torrent(t, 32<<10, true, 300<<10, 200<<10)
	seeder := startPeer(t, tt, peerOpts{host: "127.0.0.35"}).addr
	dirs := map[string]string{"cwd": t.TempDir(), "HOME": t.TempDir(), "TMPDIR": t.TempDir(), "XDG_CACHE_HOME": t.TempDir()}
	t.Chdir(dirs["cwd"])
	for _, env := range []string{"HOME", "TMPDIR", "XDG_CACHE_HOME"} {
		t.Setenv(env, dirs[env])
	}
	o, err := observe.New(observe.Config{ListenAddr: "127.0.0.36:0", Discovery: observe.Discovery{NoTrackers: true}}, tt.raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.AddPeers("manual", seeder); err != nil {
		t.Fatal(err)
	}
	waitFor(t, o, 20*time.Second, "seeder verified", func(m map[netip.AddrPort]observe.PeerReport) bool {
		return m[seeder].Evidence.Grade == protocol.GradeVerifiedTransfer
	})
	// Let the download run to its end, then close.
	time.Sleep(time.Second)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	for name, dir := range dirs {
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && path != dir {
				t.Errorf("observer wrote %s in %s", path, name)
			}
			return nil
		})
	}
	if _, err := os.Stat(filepath.Join(dirs["cwd"], tt.info.BestName())); err == nil {
		t.Error("content written under its own name")
	}
}

// TestNoMetadataServed has a client that knows only the infohash (as from
// a magnet link) dial the observer: the observer must not hand it the info
// dictionary (it does not offer ut_metadata), so the client never learns
// what the torrent holds from it.
func TestNoMetadataServed(t *testing.T) {
	tt := newV1Torrent(t, 16<<10)
	o := newObserver(t, tt, "127.0.0.33", observe.Config{Discovery: observe.Discovery{NoTrackers: true}})
	cc := observe.ClosedSwarmConfig()
	cc.SetListenAddr("127.0.0.34:0")
	cc.Slogger = testLogger(t, slog.LevelWarn)
	cc.DefaultStorage = storage.NewFileOpts(storage.NewFileClientOpts{
		ClientBaseDir:   t.TempDir(),
		PieceCompletion: storage.NewMapPieceCompletion(),
	})
	cl, err := torrent.NewClient(cc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	leecher, _ := cl.AddTorrentInfoHash(tt.shortHash())
	leecher.AddPeers([]torrent.PeerInfo{{Addr: torrent.PeerRemoteAddr(net.TCPAddrFromAddrPort(observerAddr(t, o))), Trusted: true}})
	waitFor(t, o, 10*time.Second, "magnet client connected", func(m map[netip.AddrPort]observe.PeerReport) bool {
		return len(m) == 1
	})
	select {
	case <-leecher.GotInfo():
		t.Error("the observer handed out the info dictionary")
	case <-time.After(2 * time.Second):
	}
}
