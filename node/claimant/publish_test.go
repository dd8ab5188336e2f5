package claimant_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/docket-project/docket/node/claimant"
	"github.com/docket-project/docket/protocol"
)

// TestFilePublisher checks file names, that numbering goes on after what
// a directory already holds, and what is refused.
func TestFilePublisher(t *testing.T) {
	dir := t.TempDir()
	ids := []protocol.ID{protocol.IDOf([]byte("one")), protocol.IDOf([]byte("two")), protocol.IDOf([]byte("three"))}
	p, err := claimant.NewFilePublisher(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ids[:2] {
		if err := p.Publish(t.Context(), []byte("bundle "+string(rune('0'+i))), id); err != nil {
			t.Fatal(err)
		}
	}
	// Unrelated files are ignored.
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p, err = claimant.NewFilePublisher(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(t.Context(), []byte("bundle 2"), ids[2]); err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(t.Context(), []byte("x"), "../escape"); err == nil {
		t.Error("published under an id that is not one")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := p.Publish(ctx, []byte("x"), ids[0]); !errors.Is(err, context.Canceled) {
		t.Errorf("published with a done context: %v", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	want := []string{"000001-" + string(ids[0]) + ".json", "000002-" + string(ids[1]) + ".json", "000003-" + string(ids[2]) + ".json", "notes.txt"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("files %v, want %v", names, want)
	}
	if data, err := os.ReadFile(filepath.Join(dir, want[2])); err != nil || string(data) != "bundle 2" {
		t.Errorf("third file holds %q (%v)", data, err)
	}
	// A missing directory is created with the first file, not before.
	missing := filepath.Join(dir, "missing", "assertions")
	p, err = claimant.NewFilePublisher(missing)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("NewFilePublisher created the directory")
	}
	if err := p.Publish(t.Context(), []byte("bundle"), ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(missing, "000001-"+string(ids[0])+".json")); err != nil {
		t.Error(err)
	}
	// A file is no directory.
	if _, err := claimant.NewFilePublisher(filepath.Join(dir, "notes.txt")); err == nil {
		t.Error("NewFilePublisher accepted a file as its directory")
	}
}

// TestNewRejects checks that configurations that cannot work are refused,
// naming the field.
func TestNewRejects(t *testing.T) {
	mi, miBytes, _ := makeTorrent(t, 64<<10, 16<<10)
	o := newObserver(t, miBytes, nil, 0)
	w := newWorld(t, protocol.V1ContentID(mi.HashInfoBytes()), time.Now())
	good := claimant.Config{Key: w.holder, Credential: w.credID, Directory: w.dir, Publisher: &memPublisher{}}
	if _, err := claimant.New(o, good); err != nil {
		t.Fatalf("good configuration refused: %v", err)
	}
	badDir := w.dir
	badDir.ISPs = append([]protocol.DirectoryEntry{{Name: "isp-c", Region: "FR", Recipient: "not a recipient", Prefixes: []netip.Prefix{prefixA}}}, w.dir.ISPs...)
	for _, tc := range []struct {
		field string
		edit  func(*claimant.Config)
	}{
		{"Key", func(c *claimant.Config) { c.Key = nil }},
		{"Credential", func(c *claimant.Config) { c.Credential = "cred" }},
		{"Publisher", func(c *claimant.Config) { c.Publisher = nil }},
		{"Directory", func(c *claimant.Config) { c.Directory = protocol.Directory{} }},
		{"Directory", func(c *claimant.Config) { c.Directory = badDir }},
		{"Interval", func(c *claimant.Config) { c.Interval = -time.Second }},
		{"Window", func(c *claimant.Config) { c.Interval, c.Window = time.Minute, 30*time.Second }},
		{"Life", func(c *claimant.Config) { c.Interval, c.Life = time.Minute, time.Minute }},
	} {
		cfg := good
		tc.edit(&cfg)
		if _, err := claimant.New(o, cfg); err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: error %v, want one naming the field", tc.field, err)
		}
	}
}

// TestFetchMetainfo fetches a torrent's metainfo named by a magnet URI
// from a seeder and starts an observer on it.
func TestFetchMetainfo(t *testing.T) {
	mi, _, content := makeTorrent(t, 256<<10, 16<<10)
	s := startSeeder(t, "127.0.0.30", mi, content)
	other := netip.MustParseAddrPort("127.0.0.31:6881")
	magnet := "magnet:?xt=urn:btih:" + mi.HashInfoBytes().HexString() + "&dn=night-trains.bin&x.pe=" + other.String() + "&x.pe=0.0.0.0:1"
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	raw, listed, err := claimant.FetchMetainfo(ctx, magnet, []netip.AddrPort{s.addr}, testLogger(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || listed[0] != other {
		t.Errorf("magnet peers %v, want %v", listed, other)
	}
	got, err := metainfo.Load(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if got.HashInfoBytes() != mi.HashInfoBytes() {
		t.Fatalf("fetched info hashes to %s, want %s", got.HashInfoBytes(), mi.HashInfoBytes())
	}
	o := newObserver(t, raw, nil, 0)
	if err := o.AddPeers("manual", s.addr); err != nil {
		t.Fatal(err)
	}
	waitVerified(t, o, 20*time.Second, s.addr)

	// Nobody supplies the metainfo of a swarm without peers.
	ctx, cancel = context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	if _, _, err := claimant.FetchMetainfo(ctx, "magnet:?xt=urn:btih:"+strings.Repeat("ab", 20), nil, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("fetch from nobody: %v, want the deadline", err)
	}
	if _, _, err := claimant.FetchMetainfo(t.Context(), "http://example.com/", nil, nil); err == nil {
		t.Error("fetched from a URI that is no magnet")
	}
}
