package daemon_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/docket-project/docket/crypto/seal"
	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/enforce"
	"github.com/docket-project/docket/enforce/dryrun"
	"github.com/docket-project/docket/node/daemon"
	"github.com/docket-project/docket/node/logclient"
	"github.com/docket-project/docket/protocol"
)

const (
	film      = protocol.ContentID("btih:c9e15763f722f23e98a29decdfae341b98d53056")
	logOrigin = "docket.test/log"
)

// The lab network: isp-a serves 198.51.100.0/25, isp-b 198.51.100.128/25
// and 2001:db8::/32; these documentation prefixes are permitted as peer
// addresses.
var (
	labPermits = []string{"198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"}
	ispPrefix  = map[string][]string{
		"isp-a": {"198.51.100.0/25"},
		"isp-b": {"198.51.100.128/25", "2001:db8::/32"},
	}
)

// swarm: two verified-transfer subscribers of isp-a, one of isp-b and one
// address no ISP serves. isp-a blocks 5 pairs (.10-.20, and each of them
// with .200 and 203.0.113.9), isp-b 3 (.200 with each of the others).
var swarm = []string{"198.51.100.10", "198.51.100.20", "198.51.100.200", "203.0.113.9"}

var wantPairs = map[string]int{"isp-a": 5, "isp-b": 3}

// tWriter routes log lines to t.Logf.
type tWriter struct {
	t      testing.TB
	prefix string
}

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s%s", w.prefix, bytes.TrimRight(p, "\n"))
	return len(p), nil
}

func testLogger(t testing.TB, name string) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t, name + ": "}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// world holds the keys and credentials of a test federation, as files in
// dir: a registrar, a rights holder (the claimant) with a grant for isp-a
// and isp-b, the two ISPs' keys and age identities, and the log's key.
type world struct {
	dir       string
	registrar *sign.PrivateKey
	holder    *sign.PrivateKey
	isps      map[string]*sign.PrivateKey
	grant     []byte
	grantID   protocol.ID
	logSigner string // note signing key
	logVKey   string
}

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{dir: t.TempDir(), isps: map[string]*sign.PrivateKey{}}
	w.registrar = w.key(t, "registrar")
	w.holder = w.key(t, "holder")
	for _, name := range []string{"isp-a", "isp-b"} {
		w.isps[name] = w.key(t, name)
	}
	now := time.Now().UTC().Truncate(time.Second)
	var err error
	w.grant, w.grantID, err = protocol.IssueCredential(w.registrar, protocol.Credential{
		Subject:   protocol.Subject{Name: "Example Records", PublicKey: w.holder.Public().DER()},
		Works:     []protocol.Work{{ID: "work-1", Title: "Night Trains", Content: []protocol.ContentID{film}}},
		Scope:     protocol.Scope{ISPs: []string{"isp-a", "isp-b"}},
		NotBefore: now.AddDate(0, -1, 0),
		NotAfter:  now.AddDate(1, 0, 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	w.write(t, "holder.cred.json", w.grant)
	w.logSigner, w.logVKey, err = note.GenerateKey(rand.Reader, logOrigin)
	if err != nil {
		t.Fatal(err)
	}
	w.write(t, "log.key", []byte(w.logSigner+"\n"))
	return w
}

// key writes NAME.key, NAME.pub and NAME.age.
func (w *world) key(t testing.TB, name string) *sign.PrivateKey {
	t.Helper()
	k, err := sign.Generate(sign.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := k.MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	pp, err := k.Public().MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	id, err := seal.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	w.write(t, name+".key", kp)
	w.write(t, name+".pub", pp)
	w.write(t, name+".age", seal.IdentityFile(id, time.Now()))
	return k
}

func (w *world) write(t testing.TB, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(w.dir, name), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (w *world) path(name string) string { return filepath.Join(w.dir, name) }

// base is the configuration every test node starts from: TCP on
// 127.0.0.1, dialling only loopback.
func (w *world) base(t testing.TB, roles ...string) *daemon.Config {
	return &daemon.Config{
		Roles:   roles,
		DataDir: t.TempDir(),
		P2P: daemon.P2PConfig{
			Listen:       []string{"/ip4/127.0.0.1/tcp/0"},
			DialPrefixes: []string{"127.0.0.0/8"},
		},
	}
}

// trustLog makes cfg trust the test log at url.
func (w *world) trustLog(cfg *daemon.Config, url string) {
	cfg.Trust.Logs = []daemon.TrustedLog{{Key: w.logVKey, URL: url}}
}

// logConfig is a log node that verifies signatures: it trusts the
// registrar and both ISPs.
func (w *world) logConfig(t testing.TB) *daemon.Config {
	cfg := w.base(t, daemon.RoleLog)
	cfg.Log = &daemon.LogConfig{Key: w.path("log.key"), Listen: "127.0.0.1:0"}
	cfg.Trust.Registrars = []string{w.path("registrar.pub")}
	cfg.Trust.ISPs = []string{w.path("isp-a.pub"), w.path("isp-b.pub")}
	return cfg
}

func (w *world) ispConfig(t testing.TB, name, logURL string, peers ...string) *daemon.Config {
	cfg := w.base(t, daemon.RoleISP)
	w.trustLog(cfg, logURL)
	cfg.P2P.Peers = peers
	cfg.Trust.Registrars = []string{w.path("registrar.pub")}
	cfg.ISP = &daemon.ISPConfig{
		Name: name, Region: "DE", Key: w.path(name + ".key"), Identity: w.path(name + ".age"),
		Prefixes: ispPrefix[name], PermittedPrefixes: labPermits, ReceiptRetry: "1s",
	}
	return cfg
}

func (w *world) claimantConfig(t testing.TB, logURL string, peers ...string) *daemon.Config {
	cfg := w.base(t, daemon.RoleClaimant)
	w.trustLog(cfg, logURL)
	cfg.P2P.Peers = peers
	cfg.Trust.Registrars = []string{w.path("registrar.pub")}
	cfg.Trust.ISPs = []string{w.path("isp-a.pub"), w.path("isp-b.pub")}
	cfg.Claimant = &daemon.ClaimantConfig{Key: w.path("holder.key"), Chain: []string{w.path("holder.cred.json")}}
	return cfg
}

// start starts a node, stopped when the test ends.
func start(t testing.TB, name string, cfg *daemon.Config) *daemon.Daemon {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := daemon.New(ctx, cfg, testLogger(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// build makes an assertion over the test swarm valid from notBefore for
// life, routed by dir, and returns the full bundle and its id.
func (w *world) build(t testing.TB, dir protocol.Directory, notBefore time.Time, life time.Duration) ([]byte, protocol.ID) {
	t.Helper()
	nb := notBefore.UTC().Truncate(time.Second)
	obs := protocol.Observation{
		Content: film, Swarm: film, PieceCount: 1000,
		Observed: protocol.Window{Start: nb.Add(-10 * time.Minute), End: nb},
	}
	for i, addr := range swarm {
		obs.Peers = append(obs.Peers, protocol.ObservedPeer{Addr: netip.MustParseAddr(addr), Evidence: protocol.Evidence{
			Grade: protocol.GradeVerifiedTransfer, Port: uint16(6881 + i), Source: "tracker", Transport: "tcp",
			FirstSeen: nb.Add(-9 * time.Minute), LastSeen: nb.Add(-5 * time.Minute),
			PeerID: fmt.Sprintf("%040x", i+1), Client: "Transmission 3.00", Bytes: 16384,
			Pieces: []protocol.PieceProof{{Index: i, Hash: fmt.Sprintf("%040x", i+7), At: nb.Add(-8 * time.Minute)}},
		}})
	}
	bundle, id, err := protocol.BuildAssertion(w.holder, obs, dir, protocol.BuildOptions{Credential: w.grantID, NotBefore: nb, Life: life})
	if err != nil {
		t.Fatal(err)
	}
	return bundle, id
}

// eventually polls cond every 50 ms until it holds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logReceipt is a receipt read back from the log.
type logReceipt struct {
	index   uint64
	receipt protocol.Receipt
}

// receipts reads the whole log at url and returns its receipts, each
// verified with the key of the ISP it names.
func (w *world) receipts(t testing.TB, url string) []logReceipt {
	t.Helper()
	src, err := logclient.NewHTTPSource(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := logclient.NewVerifier(w.logVKey, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := logclient.NewClient(src, v, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cp, err := c.Update(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []logReceipt
	for i := uint64(0); i < cp.Size; i++ {
		e, err := c.Entry(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(e, []byte("receipt")) {
			continue
		}
		sr, err := protocol.DecodeReceipt(e)
		if err != nil {
			continue
		}
		key := w.isps[sr.Receipt.ISP]
		if key == nil {
			t.Fatalf("entry %d: receipt of unknown ISP %q", i, sr.Receipt.ISP)
		}
		vr, err := protocol.VerifyReceipt(e, key.Public())
		if err != nil {
			t.Fatalf("entry %d: receipt does not verify: %v", i, err)
		}
		out = append(out, logReceipt{index: i, receipt: vr.Receipt})
	}
	return out
}

// receiptsFor filters receipts by ISP and assertion.
func receiptsFor(all []logReceipt, isp string, id protocol.ID) []protocol.Receipt {
	var out []protocol.Receipt
	for _, r := range all {
		if r.receipt.ISP == isp && r.receipt.Assertion == id {
			out = append(out, r.receipt)
		}
	}
	return out
}

// dryrunPairs reads a dry-run state file.
func dryrunPairs(t testing.TB, path string) []enforce.Pair {
	t.Helper()
	b, err := dryrun.New(path)
	if err != nil {
		t.Fatal(err)
	}
	pairs, err := b.Installed(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return pairs
}

// checkOwnPairs checks that every pair of an ISP's state has its local
// end in the ISP's prefixes, and that there are want of them.
func checkOwnPairs(t testing.TB, isp string, pairs []enforce.Pair, want int) {
	t.Helper()
	if len(pairs) != want {
		t.Errorf("%s enforces %d pairs, want %d: %v", isp, len(pairs), want, pairs)
	}
	for _, p := range pairs {
		own := false
		for _, s := range ispPrefix[isp] {
			own = own || netip.MustParsePrefix(s).Contains(p.Local)
		}
		if !own {
			t.Errorf("%s enforces pair %v whose local end is not its own", isp, p)
		}
	}
}

// syncBuffer is a goroutine-safe buffer.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) contains(s string) bool { return strings.Contains(b.String(), s) }
