package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	g "github.com/anacrolix/generics"
	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/docket-project/docket/node/claimant"
	"github.com/docket-project/docket/node/observe"
	"github.com/docket-project/docket/protocol"
)

// TestObserveScript runs the scripts of testdata/observe, which observe
// swarms of seeders running in the test's process on loopback addresses.
func TestObserveScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/observe",
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"seeders":     cmdSeeders,
			"mkdirectory": cmdMkdirectory,
			"assertions":  cmdAssertions,
			"sleep": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 1 {
					ts.Fatalf("usage: sleep DURATION")
				}
				d, err := time.ParseDuration(args[0])
				ts.Check(err)
				time.Sleep(d)
			},
		},
	})
}

// cmdSeeders makes a torrent of 2 MiB of random content in 16 KiB pieces,
// writes it to FILE and seeds it from each HOST until the script ends:
// seeders FILE HOST... It sets $CONTENT to the torrent's content id,
// $INFOHASH to its infohash and $SEEDER1... to the seeders' addresses.
func cmdSeeders(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: seeders FILE HOST...")
	}
	content := make([]byte, 2<<20)
	rand.Read(content)
	dir := ts.MkAbs("seed")
	ts.Check(os.MkdirAll(dir, 0o700))
	path := filepath.Join(dir, "night-trains.bin")
	ts.Check(os.WriteFile(path, content, 0o600))
	info := metainfo.Info{PieceLength: 16 << 10}
	ts.Check(info.BuildFromFilePath(path))
	mi := &metainfo.MetaInfo{}
	var err error
	mi.InfoBytes, err = bencode.Marshal(info)
	ts.Check(err)
	var buf bytes.Buffer
	ts.Check(mi.Write(&buf))
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), buf.Bytes(), 0o644))
	ts.Setenv("CONTENT", "btih:"+mi.HashInfoBytes().HexString())
	ts.Setenv("INFOHASH", mi.HashInfoBytes().HexString())
	for i, host := range args[1:] {
		cc := torrent.NewDefaultClientConfig()
		cc.NoDHT = true
		cc.DisablePEX = true
		cc.DisableTrackers = true
		cc.DisableWebseeds = true
		cc.DisableWebtorrent = true
		cc.NoDefaultPortForwarding = true
		cc.DisableIPv6 = true
		cc.Slogger = slog.New(slog.DiscardHandler)
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
		ts.Check(err)
		ts.Defer(func() { cl.Close() })
		tt, _ := cl.AddTorrentOpt(torrent.AddTorrentOpts{InfoHash: mi.HashInfoBytes(), InfoBytes: mi.InfoBytes})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = tt.VerifyDataContext(ctx)
		cancel()
		ts.Check(err)
		if n := tt.BytesMissing(); n != 0 {
			ts.Fatalf("seeder %s misses %d bytes", host, n)
		}
		ts.Setenv(fmt.Sprintf("SEEDER%d", i+1), cl.ListenAddrs()[0].String())
	}
}

// cmdAssertions waits up to 30 seconds until DIR holds at least N files,
// checks that they are numbered from 1 without a gap, and copies the first
// N to assertion1.json ... assertionN.json: assertions DIR N.
func cmdAssertions(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: assertions DIR N")
	}
	n, err := strconv.Atoi(args[1])
	ts.Check(err)
	dir := ts.MkAbs(args[0])
	deadline := time.Now().Add(30 * time.Second)
	var names []string
	for {
		names = names[:0]
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".json") {
				names = append(names, e.Name())
			}
		}
		if len(names) >= n {
			break
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%d assertions in %s after 30s, want %d", len(names), args[0], n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	slices.Sort(names)
	for i, name := range names {
		if !strings.HasPrefix(name, fmt.Sprintf("%06d-", i+1)) {
			ts.Fatalf("file %d of %s is %s", i+1, args[0], name)
		}
	}
	for i, name := range names[:n] {
		data, err := os.ReadFile(filepath.Join(dir, name))
		ts.Check(err)
		ts.Check(os.WriteFile(ts.MkAbs(fmt.Sprintf("assertion%d.json", i+1)), data, 0o644))
	}
}

// TestProgressDisplay checks both ways progress is shown: redrawn in place
// on a terminal, with other lines written above it; a line per change of
// the peer counts and per round elsewhere.
func TestProgressDisplay(t *testing.T) {
	p1 := observe.Progress{Known: 3, Connected: 2, Verified: 1, Pieces: 5, PieceCount: 8}
	p2 := p1
	p2.Pieces = 6
	p3 := p2
	p3.Verified = 2
	id := protocol.IDOf([]byte("x"))
	until := time.Date(2030, 6, 1, 10, 10, 0, 0, time.UTC)
	events := []claimant.Event{
		{Kind: claimant.EventProgress, Progress: p1},
		{Kind: claimant.EventProgress, Progress: p2},
		{Kind: claimant.EventPublished, Progress: p2, Round: 1, ID: id, NotAfter: until,
			Grades: map[protocol.Grade]int{protocol.GradeVerifiedTransfer: 1, protocol.GradeHandshake: 1}, PeersPerISP: map[string]int{"isp-b": 1, "isp-a": 1}},
		{Kind: claimant.EventProgress, Progress: p3},
	}
	line1 := "peers: 3 known, 2 connected, 1 verified; pieces: 5/8 verified"
	line2 := "peers: 3 known, 2 connected, 1 verified; pieces: 6/8 verified"
	line3 := "peers: 3 known, 2 connected, 2 verified; pieces: 6/8 verified"
	round := "round 1: published " + string(id) + ": 2 peers: 1 verified-transfer, 1 handshake; served by isp-a 1, isp-b 1; valid until 2030-06-01T10:10:00Z"
	const clear = "\r\x1b[K"
	for _, tc := range []struct {
		tty  bool
		want string
	}{
		{true, line1 + clear + line2 + clear + line2 + clear + round + "\n" + line2 + clear + "log line\n" + line2 + clear + line3 + "\n"},
		{false, line1 + "\n" + line2 + "\n" + round + "\n" + "log line\n" + line3 + "\n"},
	} {
		var buf bytes.Buffer
		d := &progressDisplay{w: &buf, tty: tc.tty}
		for i, e := range events {
			d.event(e)
			if i == 2 {
				fmt.Fprintf(d, "log line\n")
			}
		}
		d.done()
		if buf.String() != tc.want {
			t.Errorf("tty %v:\n got %q\nwant %q", tc.tty, buf.String(), tc.want)
		}
	}
}
