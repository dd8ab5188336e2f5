package isp_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"golang.org/x/mod/sumdb/note"

	"github.com/docket-project/docket/crypto/seal"
	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/enforce"
	"github.com/docket-project/docket/enforce/dryrun"
	"github.com/docket-project/docket/node/isp"
	"github.com/docket-project/docket/node/policy"
	"github.com/docket-project/docket/node/store"
	"github.com/docket-project/docket/node/tlog"
	"github.com/docket-project/docket/protocol"
)

const (
	film       = protocol.ContentID("btih:c9e15763f722f23e98a29decdfae341b98d53056")
	logOrigin  = "docket.example/log"
	otherLog   = "elsewhere.example/log"
	ispName    = "isp-a"
	ispRegion  = "DE"
	otherISP   = "isp-b"
	stateFile  = "state.json"
	storeFile  = "isp.db"
	assertLife = protocol.DefaultAssertionLife
)

// The lab network: isp-a serves 198.51.100.0/25, isp-b 198.51.100.128/25
// and 2001:db8::/32. These documentation prefixes are permitted to the
// verifier although they are not global unicast. isp-a protects
// 198.51.100.0/29.
var (
	ownPrefix  = netip.MustParsePrefix("198.51.100.0/25")
	bPrefixes  = []netip.Prefix{netip.MustParsePrefix("198.51.100.128/25"), netip.MustParsePrefix("2001:db8::/32")}
	protected  = netip.MustParsePrefix("198.51.100.0/29")
	labPermits = []netip.Prefix{
		netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("203.0.113.0/24"),
		netip.MustParsePrefix("2001:db8::/32"),
	}
)

// peer is one peer of a test swarm: its address and the grade of its
// evidence. The claimant routes it by the lab network's prefixes.
type peer struct {
	addr  string
	grade protocol.Grade
}

func vt(addr string) peer { return peer{addr, protocol.GradeVerifiedTransfer} }

// swarm is the default swarm: two verified-transfer subscribers of isp-a,
// one of isp-b and one address no ISP serves. isp-a blocks 5 pairs:
// .10-.20, and each of .10 and .20 with 198.51.100.200 and 203.0.113.9.
var swarm = []peer{vt("198.51.100.10"), vt("198.51.100.20"), vt("198.51.100.200"), vt("203.0.113.9")}

const swarmPairs = 5

// clock is the pipeline's clock, moved by the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// sink collects receipts; while fail is set it refuses them.
type sink struct {
	mu       sync.Mutex
	fail     error
	receipts [][]byte
}

func (s *sink) Deliver(_ context.Context, _ protocol.ID, envelope []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.receipts = append(s.receipts, envelope)
	return nil
}

func (s *sink) setFail(err error) {
	s.mu.Lock()
	s.fail = err
	s.mu.Unlock()
}

func (s *sink) all() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.receipts)
}

// fixture is a registrar; a rights holder with a grant for isp-a and
// isp-b; an agent holding a delegation of it; isp-a (the pipeline's ISP)
// and isp-b; the shared trusted and untrusted logs; a clock starting now;
// and a directory for isp-a's store and dry-run state.
type fixture struct {
	dir                              string
	registrar, holder, agent, ispKey *sign.PrivateKey
	ours, theirs                     *age.X25519Identity
	grant, deleg                     []byte
	grantID, delegID                 protocol.ID
	log, untrusted                   *tlog.Log
	logVerifier                      note.Verifier
	clock                            *clock
	sink                             *sink
	policy                           policy.Config
	t0                               time.Time
	logger                           *slog.Logger
}

// must returns v, or panics if setting up a test failed.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	fx := &fixture{
		dir:       t.TempDir(),
		registrar: must(sign.Generate(sign.Ed25519)),
		holder:    must(sign.Generate(sign.Ed25519)),
		agent:     must(sign.Generate(sign.Ed25519)),
		ispKey:    must(sign.Generate(sign.Ed25519)),
		ours:      must(seal.GenerateIdentity()),
		theirs:    must(seal.GenerateIdentity()),
		clock:     &clock{t: now.Add(time.Minute)},
		logger:    testLogger(t),
		sink:      &sink{},
		t0:        now,
		policy: policy.Config{
			OwnPrefixes:          []netip.Prefix{ownPrefix},
			Protected:            []netip.Prefix{protected},
			MaxPairsPerAssertion: 20,
		},
	}
	fx.grant, fx.grantID = fx.issue(t, fx.registrar, fx.holder, []string{ispName, otherISP})
	parent := must(protocol.DecodeCredential(fx.grant))
	var err error
	fx.deleg, fx.delegID, err = protocol.Delegate(fx.holder, parent, protocol.Credential{
		Subject:   protocol.Subject{Name: "Example Agent", PublicKey: fx.agent.Public().DER()},
		Works:     parent.Credential.Works,
		Scope:     protocol.Scope{ISPs: []string{ispName}},
		NotBefore: parent.Credential.NotBefore,
		NotAfter:  parent.Credential.NotAfter,
	})
	if err != nil {
		t.Fatal(err)
	}
	fx.log, fx.logVerifier, fx.untrusted = shared.log, shared.verifier, shared.untrusted
	return fx
}

// shared holds the logs the tests share: a trusted one and an untrusted
// one, real logs on disk, opened by TestMain.
var shared struct {
	log, untrusted *tlog.Log
	verifier       note.Verifier
}

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "isp-test-logs")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	open := func(origin string) (*tlog.Log, note.Verifier) {
		skey, vkey, err := note.GenerateKey(rand.Reader, origin)
		if err != nil {
			panic(err)
		}
		l, err := tlog.Open(context.Background(), tlog.Config{Dir: filepath.Join(dir, origin), Signer: must(note.NewSigner(skey))})
		if err != nil {
			panic(err)
		}
		return l, must(note.NewVerifier(vkey))
	}
	shared.log, shared.verifier = open(logOrigin)
	shared.untrusted, _ = open(otherLog)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shared.log.Close(ctx)
		shared.untrusted.Close(ctx)
	}()
	return m.Run()
}

// issue issues a grant from registrar to subject, scoped to isps.
func (fx *fixture) issue(t testing.TB, registrar, subject *sign.PrivateKey, isps []string) ([]byte, protocol.ID) {
	t.Helper()
	cred, id, err := protocol.IssueCredential(registrar, protocol.Credential{
		Subject:   protocol.Subject{Name: "Example Records", PublicKey: subject.Public().DER()},
		Works:     []protocol.Work{{ID: "work-1", Title: "Night Trains", Content: []protocol.ContentID{film}}},
		Scope:     protocol.Scope{ISPs: isps},
		NotBefore: fx.t0.AddDate(0, -1, 0),
		NotAfter:  fx.t0.AddDate(1, 0, 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	return cred, id
}

// openLog opens a real log on disk for one test, with a new key named
// origin or with signer if given, and returns it with its signer and
// verifier (nil if signer was given).
func openLog(t *testing.T, origin string, signer note.Signer) (*tlog.Log, note.Signer, note.Verifier) {
	t.Helper()
	var verifier note.Verifier
	if signer == nil {
		skey, vkey, err := note.GenerateKey(rand.Reader, origin)
		if err != nil {
			t.Fatal(err)
		}
		signer = must(note.NewSigner(skey))
		verifier = must(note.NewVerifier(vkey))
	}
	l, err := tlog.Open(t.Context(), tlog.Config{Dir: t.TempDir(), Signer: signer, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := l.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return l, signer, verifier
}

// testLogger routes slog output to t.Logf.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}

// claim says who builds an assertion and when.
type claim struct {
	// key and credential sign the assertion: the holder under the grant
	// unless set.
	key        *sign.PrivateKey
	credential protocol.ID
	// notBefore is the start of validity; fx.t0 unless set.
	notBefore time.Time
	peers     []peer
}

// build makes an assertion as a claimant would and returns the full
// bundle, with every section, and its id.
func (fx *fixture) build(t testing.TB, c claim) ([]byte, protocol.ID) {
	t.Helper()
	if c.key == nil {
		c.key = fx.holder
	}
	if c.credential == "" {
		c.credential = fx.grantID
	}
	if c.notBefore.IsZero() {
		c.notBefore = fx.t0
	}
	if c.peers == nil {
		c.peers = swarm
	}
	nb := c.notBefore
	obs := protocol.Observation{
		Content: film, Swarm: film, PieceCount: 1000,
		Observed: protocol.Window{Start: nb.Add(-10 * time.Minute), End: nb},
	}
	for i, p := range c.peers {
		e := protocol.Evidence{Grade: p.grade, Port: uint16(6881 + i), Source: "tracker",
			FirstSeen: nb.Add(-9 * time.Minute), LastSeen: nb.Add(-5 * time.Minute)}
		if p.grade != protocol.GradeAnnounced {
			e.Transport, e.PeerID, e.Client = "tcp", fmt.Sprintf("%040x", i+1), "Transmission 3.00"
		}
		if p.grade == protocol.GradeVerifiedTransfer {
			e.Bytes = 16384
			e.Pieces = []protocol.PieceProof{{Index: i, Hash: fmt.Sprintf("%040x", i+7), At: nb.Add(-8 * time.Minute)}}
		}
		obs.Peers = append(obs.Peers, protocol.ObservedPeer{Addr: netip.MustParseAddr(p.addr), Evidence: e})
	}
	dir := protocol.Directory{ISPs: []protocol.DirectoryEntry{
		{Name: ispName, Region: ispRegion, Recipient: fx.ours.Recipient().String(), Prefixes: []netip.Prefix{ownPrefix}},
		{Name: otherISP, Region: "FR", Recipient: fx.theirs.Recipient().String(), Prefixes: bPrefixes},
	}}
	bundle, id, err := protocol.BuildAssertion(c.key, obs, dir, protocol.BuildOptions{Credential: c.credential, NotBefore: nb, Life: assertLife})
	if err != nil {
		t.Fatal(err)
	}
	return bundle, id
}

// proveAll submits entries to l at once, so that one checkpoint covers
// them, and returns their proofs in JSON.
func proveAll(t testing.TB, l *tlog.Log, entries ...[]byte) [][]byte {
	t.Helper()
	proofs := make([][]byte, len(entries))
	errs := make([]error, len(entries))
	var wg sync.WaitGroup
	for i, e := range entries {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			proof, err := l.Submit(ctx, tlog.KindAssertion, e)
			if err == nil {
				proofs[i], err = json.Marshal(proof)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return proofs
}

// prove submits entry to l and returns the proof in JSON.
func prove(t testing.TB, l *tlog.Log, entry []byte) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	proof, err := l.Submit(ctx, tlog.KindAssertion, entry)
	if err != nil {
		t.Fatal(err)
	}
	return must(json.Marshal(proof))
}

// ownBundle returns the bundle carrying isp-a's section only, as the
// claimant sends it to isp-a.
func ownBundle(t testing.TB, full []byte) []byte {
	t.Helper()
	sa := must(protocol.DecodeAssertion(full))
	return must(sa.Bundle(ispName))
}

// submission logs the full bundle in the trusted log, as the claimant
// does, and returns what isp-a receives: its own bundle, the chain and
// the log's proof.
func (fx *fixture) submission(t testing.TB, full []byte, chain ...[]byte) isp.Submission {
	t.Helper()
	if chain == nil {
		chain = [][]byte{fx.grant}
	}
	return isp.Submission{Bundle: ownBundle(t, full), Chain: chain, Proof: prove(t, fx.log, full)}
}

// node is a running pipeline over its store and dry-run backend.
type node struct {
	p       *isp.Pipeline
	store   *store.Store
	backend *dryrun.Backend
}

// start opens isp-a's store and dry-run state in fx.dir and starts a
// pipeline over them; the test's cleanup stops it unless stop did.
func (fx *fixture) start(t testing.TB) *node {
	t.Helper()
	n := &node{
		store:   must(store.Open(filepath.Join(fx.dir, storeFile), store.Options{})),
		backend: must(dryrun.New(filepath.Join(fx.dir, stateFile))),
	}
	t.Cleanup(func() { n.store.Close() })
	pol := must(policy.New(fx.policy))
	p, err := isp.New(t.Context(), isp.Config{
		Name: ispName, Region: ispRegion, Identity: fx.ours, Key: fx.ispKey,
		Registrars:        []*sign.PublicKey{fx.registrar.Public()},
		Logs:              []note.Verifier{fx.logVerifier},
		Policy:            pol,
		Store:             n.store,
		Backend:           n.backend,
		Receipts:          fx.sink,
		PermittedPrefixes: labPermits,
		Now:               fx.clock.Now,
		Logger:            fx.logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	n.p = p
	return n
}

// stop closes the node's store, as a stopped daemon would.
func (n *node) stop(t testing.TB) {
	t.Helper()
	if err := n.store.Close(); err != nil {
		t.Fatal(err)
	}
}

// submit submits s and fails the test on a node failure.
func (n *node) submit(t testing.TB, s isp.Submission) *isp.Decision {
	t.Helper()
	d, err := n.p.Submit(t.Context(), s)
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	return d
}

// applied submits s and fails unless it is applied with pairs pairs.
func (n *node) applied(t testing.TB, s isp.Submission, pairs int) *isp.Decision {
	t.Helper()
	d := n.submit(t, s)
	if d.Verdict != protocol.VerdictApplied || d.Pairs != pairs {
		t.Fatalf("decision %s %s (%v), %d pairs; want applied, %d pairs", d.Verdict, d.Code, d.Err, d.Pairs, pairs)
	}
	return d
}

// stateBytes returns the dry-run state file, nil if it does not exist.
func (fx *fixture) stateBytes(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fx.dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		t.Fatal(err)
	}
	return data
}

// state returns the pairs of the dry-run state file, by key.
func (fx *fixture) state(t testing.TB) map[enforce.Key]time.Time {
	t.Helper()
	out := map[enforce.Key]time.Time{}
	data := fx.stateBytes(t)
	if data == nil {
		return out
	}
	for _, p := range must(dryrun.Unmarshal(data)) {
		if _, dup := out[p.Key]; dup {
			t.Errorf("pair %v twice in the state file", p.Key)
		}
		out[p.Key] = p.Expires
	}
	return out
}

// checkReceipt verifies a receipt with isp-a's key and checks its verdict
// and code.
func (fx *fixture) checkReceipt(t testing.TB, envelope []byte, id protocol.ID, verdict protocol.Verdict, code string) *protocol.Receipt {
	t.Helper()
	sr, err := protocol.VerifyReceipt(envelope, fx.ispKey.Public())
	if err != nil {
		t.Fatalf("receipt does not verify: %v", err)
	}
	r := &sr.Receipt
	if r.ISP != ispName || r.Assertion != id || r.Verdict != verdict || r.Code != code {
		t.Errorf("receipt %+v; want %s %s for %s", r, verdict, code, id)
	}
	return r
}

// forgeSignature returns bundle with one bit of its signature flipped.
func forgeSignature(t testing.TB, bundle []byte) []byte {
	t.Helper()
	var b struct {
		Envelope struct {
			PayloadType string `json:"payloadType"`
			Payload     string `json:"payload"`
			Signatures  []struct {
				KeyID string `json:"keyid"`
				Sig   string `json:"sig"`
			} `json:"signatures"`
		} `json:"envelope"`
		Sealed json.RawMessage `json:"sealed"`
	}
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	sig := must(base64.StdEncoding.DecodeString(b.Envelope.Signatures[0].Sig))
	sig[len(sig)/2] ^= 1
	b.Envelope.Signatures[0].Sig = base64.StdEncoding.EncodeToString(sig)
	return must(json.Marshal(&b))
}
