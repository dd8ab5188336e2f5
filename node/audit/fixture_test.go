package audit_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/storage/posix"
	"golang.org/x/mod/sumdb/note"

	"github.com/docket-project/docket/crypto/seal"
	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/node/tlog"
	"github.com/docket-project/docket/protocol"
)

const origin = "docket.example/log"

// logKey is a log's checkpoint key pair.
type logKey struct {
	signer   note.Signer
	verifier note.Verifier
	vkey     string
}

func newLogKey(t testing.TB) logKey {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return logKey{signer, verifier, vkey}
}

// testLog is a real log on disk, written through node/tlog, behind a real
// HTTP server on loopback.
type testLog struct {
	key logKey
	dir string
	url string
	log *tlog.Log
	// closed is set once the log is closed.
	closed bool
}

func openLog(t testing.TB, key logKey, dir string) *testLog {
	t.Helper()
	l, err := tlog.Open(t.Context(), tlog.Config{
		Dir:    dir,
		Signer: key.signer,
		Logger: slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(l.Handler())
	tl := &testLog{key: key, dir: dir, url: srv.URL, log: l}
	t.Cleanup(func() {
		srv.Close()
		tl.close(t)
	})
	return tl
}

// close stops the log, once: its directory then stays as it is.
func (l *testLog) close(t testing.TB) {
	t.Helper()
	if l.closed {
		return
	}
	l.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.log.Close(ctx); err != nil {
		t.Error(err)
	}
}

// tWriter routes slog output to t.Logf.
type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}

// submitAll submits entries concurrently and returns the index of each.
func (l *testLog) submitAll(t testing.TB, entries [][]byte) []uint64 {
	t.Helper()
	const submitters = 256
	indexes := make([]uint64, len(entries))
	errs := make([]error, len(entries))
	var wg sync.WaitGroup
	work := make(chan int)
	for range min(submitters, len(entries)) {
		wg.Go(func() {
			for i := range work {
				p, err := l.log.Submit(t.Context(), tlog.KindAuto, entries[i])
				if err != nil {
					errs[i] = err
					continue
				}
				indexes[i] = p.Index
			}
		})
	}
	for i := range entries {
		work <- i
	}
	close(work)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("submitting entry %d: %v", i, err)
		}
	}
	return indexes
}

// submit submits one entry and returns its index.
func (l *testLog) submit(t testing.TB, entry []byte) uint64 {
	t.Helper()
	return l.submitAll(t, [][]byte{entry})[0]
}

// rawLog writes entries, whatever they hold, to a Tessera POSIX log in dir
// in the given order, bypassing node/tlog's check: a log that accepted
// what it should not have.
func rawLog(t testing.TB, key logKey, dir string, entries [][]byte) {
	t.Helper()
	ctx := t.Context()
	driver, err := posix.New(ctx, posix.Config{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	opts := tessera.NewAppendOptions().
		WithCheckpointSigner(key.signer).
		WithBatching(tessera.DefaultBatchMaxSize, 10*time.Millisecond).
		WithCheckpointInterval(100 * time.Millisecond)
	appender, shutdown, reader, err := tessera.NewAppender(ctx, driver, opts)
	if err != nil {
		t.Fatal(err)
	}
	awaiter := tessera.NewPublicationAwaiter(ctx, reader.ReadCheckpoint, 10*time.Millisecond)
	futures := make([]tessera.IndexFuture, len(entries))
	for i, e := range entries {
		futures[i] = appender.Add(ctx, tessera.NewEntry(e))
	}
	for i, f := range futures {
		idx, _, err := awaiter.Await(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if idx.Index != uint64(i) {
			t.Fatalf("entry %d appended at index %d", i, idx.Index)
		}
	}
	if err := shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

// world makes real signed objects: registrars, rights holders with grants,
// agents with delegations, revocations and assertions.
type world struct {
	registrars []*sign.PrivateKey
	directory  protocol.Directory
	start      time.Time
}

// The validity of every credential, and the base of assertion times.
var (
	credFrom  = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	credUntil = time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	assertAt  = time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC)
)

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{start: assertAt}
	for _, alg := range []sign.Algorithm{sign.Ed25519, sign.ECDSAP256} {
		w.registrars = append(w.registrars, newKey(t, alg))
	}
	identity, err := seal.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	w.directory = protocol.Directory{ISPs: []protocol.DirectoryEntry{{
		Name: "isp-a", Region: "DE", Recipient: identity.Recipient().String(),
		Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")},
	}}}
	return w
}

func newKey(t testing.TB, alg sign.Algorithm) *sign.PrivateKey {
	t.Helper()
	k, err := sign.Generate(alg)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// trusted returns the registrars' public keys.
func (w *world) trusted() []*sign.PublicKey {
	var out []*sign.PublicKey
	for _, k := range w.registrars {
		out = append(out, k.Public())
	}
	return out
}

// contentID makes a distinct btih content id from a name.
func contentID(name string) protocol.ContentID {
	sum := sha1.Sum([]byte(name))
	return protocol.ContentID("btih:" + hex.EncodeToString(sum[:]))
}

// party is a credential holder: a rights holder with a grant or an agent
// with a delegation.
type party struct {
	key    *sign.PrivateKey
	cred   []byte
	credID protocol.ID
	signed *protocol.SignedCredential
	// registrar is the index of the registrar at the root of its chain.
	registrar int
	works     []protocol.Work
}

// grant issues a grant of two works with two content ids each from
// registrar r to a new rights holder called name.
func (w *world) grant(t testing.TB, r int, name string) *party {
	t.Helper()
	p := &party{key: newKey(t, sign.Ed25519), registrar: r}
	for i := range 2 {
		work := fmt.Sprintf("%s-work-%d", name, i)
		p.works = append(p.works, protocol.Work{ID: work, Title: "Work " + work,
			Content: []protocol.ContentID{contentID(work + "/a"), contentID(work + "/b")}})
	}
	return w.issue(t, p, name, w.registrars[r])
}

// issue signs p's grant with key, valid from credFrom to credUntil.
func (w *world) issue(t testing.TB, p *party, name string, key *sign.PrivateKey) *party {
	t.Helper()
	var err error
	p.cred, p.credID, err = protocol.IssueCredential(key, protocol.Credential{
		Subject:   protocol.Subject{Name: name, PublicKey: p.key.Public().DER()},
		Works:     p.works,
		Scope:     protocol.Scope{Regions: []string{"DE", "NL"}},
		NotBefore: credFrom,
		NotAfter:  credUntil,
	})
	if err != nil {
		t.Fatal(err)
	}
	p.signed = decodeCredential(t, p.cred)
	return p
}

func decodeCredential(t testing.TB, cred []byte) *protocol.SignedCredential {
	t.Helper()
	sc, err := protocol.DecodeCredential(cred)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// delegate has holder delegate its first work to a new agent.
func (w *world) delegate(t testing.TB, holder *party, name string) *party {
	t.Helper()
	a := &party{key: newKey(t, sign.Ed25519), registrar: holder.registrar, works: holder.works[:1]}
	var err error
	a.cred, a.credID, err = protocol.Delegate(holder.key, holder.signed, protocol.Credential{
		Subject:   protocol.Subject{Name: name, PublicKey: a.key.Public().DER()},
		Works:     a.works,
		Scope:     protocol.Scope{Regions: []string{"DE"}},
		NotBefore: credFrom,
		NotAfter:  credUntil,
	})
	if err != nil {
		t.Fatal(err)
	}
	a.signed = decodeCredential(t, a.cred)
	return a
}

// revoke signs a revocation of credential id with key at the given time.
func revoke(t testing.TB, key *sign.PrivateKey, id protocol.ID, at time.Time) []byte {
	t.Helper()
	rev, _, err := protocol.SignRevocation(key, protocol.Revocation{Credential: id, Reason: "rights transferred", RevokedAt: at})
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

// assert builds an assertion by p under its credential about content,
// valid for life (the default if zero) from notBefore, with one peer
// observed in the ten minutes before.
func (w *world) assert(t testing.TB, p *party, content protocol.ContentID, notBefore time.Time, life time.Duration) []byte {
	t.Helper()
	bundle, err := w.bundle(p, content, notBefore, life)
	if err != nil {
		t.Fatal(err)
	}
	return bundle
}

// bundle is assert for any goroutine: it returns the error.
func (w *world) bundle(p *party, content protocol.ContentID, notBefore time.Time, life time.Duration) ([]byte, error) {
	seen := notBefore.Add(-8 * time.Minute)
	bundle, _, err := protocol.BuildAssertion(p.key, protocol.Observation{
		Content: content, Swarm: content, PieceCount: 100,
		Observed: protocol.Window{Start: notBefore.Add(-10 * time.Minute), End: notBefore},
		Peers: []protocol.ObservedPeer{{
			Addr: netip.MustParseAddr("198.51.100.7"),
			Evidence: protocol.Evidence{
				Grade: protocol.GradeVerifiedTransfer, Port: 51413, Transport: "tcp", Source: "tracker",
				FirstSeen: seen, LastSeen: seen.Add(time.Minute),
				PeerID: "2d5452333030302d313233343536373839616263", Client: "Transmission 3.00", Bytes: 16384,
				Pieces: []protocol.PieceProof{{Index: 3, Hash: "8a4d0f4f0c3e5b1a2f6e7d8c9b0a1f2e3d4c5b6a", At: seen.Add(30 * time.Second)}},
			},
		}},
	}, w.directory, protocol.BuildOptions{Credential: p.credID, NotBefore: notBefore, Life: life})
	return bundle, err
}

// job is one assertion to build.
type job struct {
	by        *party
	content   protocol.ContentID
	notBefore time.Time
}

// build builds the assertions of jobs in parallel, in order.
func (w *world) build(t testing.TB, jobs []job) [][]byte {
	t.Helper()
	out := make([][]byte, len(jobs))
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := range next {
				out[i], errs[i] = w.bundle(jobs[i].by, jobs[i].content, jobs[i].notBefore, 0)
			}
		})
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return out
}
