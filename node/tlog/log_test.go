package tlog_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"

	"github.com/docket-project/docket/crypto/dsse"
	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/node/tlog"
	"github.com/docket-project/docket/protocol"
)

const origin = "docket.example/log"

// testClient bounds every request a test makes.
var testClient = &http.Client{Timeout: time.Minute}

// testLog is a real log on disk behind a real HTTP server on loopback.
type testLog struct {
	log      *tlog.Log
	closeFn  func()
	dir      string
	url      string
	signer   note.Signer
	verifier note.Verifier
	// registrars and isps are the keys the log trusts; with no registrars
	// it is an open log.
	registrars, isps []*sign.PublicKey

	mu    sync.Mutex
	tiles map[string][]byte // tiles and entry bundles read, by path
}

// newKey returns a new checkpoint key of the test log's origin.
func newKey(t testing.TB) (note.Signer, note.Verifier) {
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
	return signer, verifier
}

// newTestLog opens an open log: it verifies no signature.
func newTestLog(t testing.TB) *testLog {
	t.Helper()
	signer, verifier := newKey(t)
	tl := &testLog{dir: t.TempDir(), signer: signer, verifier: verifier, tiles: map[string][]byte{}}
	tl.open(t)
	return tl
}

// newTrustedLog opens a log that trusts o's registrar and ISP keys.
func newTrustedLog(t testing.TB, o *objects) *testLog {
	t.Helper()
	signer, verifier := newKey(t)
	tl := &testLog{dir: t.TempDir(), signer: signer, verifier: verifier, tiles: map[string][]byte{},
		registrars: []*sign.PublicKey{o.registrar.Public()}, isps: []*sign.PublicKey{o.isp.Public()}}
	tl.open(t)
	return tl
}

// open opens the log in tl.dir and serves it until the test ends or
// tl.close.
func (tl *testLog) open(t testing.TB) {
	t.Helper()
	l, err := tlog.Open(t.Context(), tlog.Config{
		Dir:        tl.dir,
		Signer:     tl.signer,
		Registrars: tl.registrars,
		ISPs:       tl.isps,
		Logger:     slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(l.Handler())
	tl.log, tl.url = l, srv.URL
	closed := false
	closeFn := func() {
		if closed {
			return
		}
		closed = true
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := l.Close(ctx); err != nil {
			t.Error(err)
		}
	}
	tl.closeFn = closeFn
	t.Cleanup(closeFn)
}

// close stops the log and its server.
func (tl *testLog) close() { tl.closeFn() }

// tWriter routes the log's slog output to t.Logf.
type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}

// post submits body to POST /add and returns the status and response body.
func (tl *testLog) post(t testing.TB, kind tlog.Kind, body []byte) (int, []byte) {
	t.Helper()
	u := tl.url + "/add"
	if kind != tlog.KindAuto {
		u += "?kind=" + string(kind)
	}
	resp, err := testClient.Post(u, "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

// submit posts an object that must be accepted and verifies its proof of
// every entry the object is stored in.
func (tl *testLog) submit(t testing.TB, kind tlog.Kind, object []byte) tlog.Proof {
	t.Helper()
	status, body := tl.post(t, kind, object)
	if status != http.StatusOK {
		t.Fatalf("POST /add: %d %s", status, body)
	}
	var p tlog.Proof
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("decoding proof %s: %v", body, err)
	}
	entries, err := tlog.Entries(kind, object)
	if err != nil {
		t.Fatal(err)
	}
	tl.verifyProof(t, p, entries)
	return p
}

// get fetches a path of the log's tlog-tiles interface.
// A tile or entry bundle the log serves never changes (a partial one's path
// names its width), so get keeps them.
func (tl *testLog) get(t testing.TB, path string) (int, []byte) {
	t.Helper()
	tl.mu.Lock()
	body, ok := tl.tiles[path]
	tl.mu.Unlock()
	if ok {
		return http.StatusOK, body
	}
	resp, err := testClient.Get(tl.url + "/" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK && strings.HasPrefix(path, "tile/") {
		tl.mu.Lock()
		tl.tiles[path] = body
		tl.mu.Unlock()
	}
	return resp.StatusCode, body
}

// openCheckpoint verifies a checkpoint's signature with x/mod/sumdb/note
// and parses its tree, independently of Tessera.
func (tl *testLog) openCheckpoint(t testing.TB, cp []byte) sumtlog.Tree {
	t.Helper()
	tree, err := parseCheckpoint(tl.verifier, cp)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// parseCheckpoint verifies a checkpoint's signature with x/mod/sumdb/note
// and parses its tree: origin, size and root hash lines.
func parseCheckpoint(v note.Verifier, cp []byte) (sumtlog.Tree, error) {
	n, err := note.Open(cp, note.VerifierList(v))
	if err != nil {
		return sumtlog.Tree{}, fmt.Errorf("opening checkpoint %q: %w", cp, err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) != 4 || lines[0] != origin || lines[3] != "" {
		return sumtlog.Tree{}, fmt.Errorf("checkpoint body %q: want origin, size, hash", n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return sumtlog.Tree{}, fmt.Errorf("checkpoint size %q", lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != sumtlog.HashSize {
		return sumtlog.Tree{}, fmt.Errorf("checkpoint root %q: %v", lines[2], err)
	}
	return sumtlog.Tree{N: size, Hash: sumtlog.Hash(root)}, nil
}

// tree returns the tree of the log's published checkpoint.
func (tl *testLog) tree(t testing.TB) sumtlog.Tree {
	t.Helper()
	status, cp := tl.get(t, "checkpoint")
	if status != http.StatusOK {
		t.Fatalf("GET /checkpoint: %d", status)
	}
	return tl.openCheckpoint(t, cp)
}

// verifyProof checks a proof of entries with x/mod/sumdb/tlog: the
// checkpoint's signature, each inclusion proof against the entry's
// RecordHash, and the same again from the tiles the log serves; and that
// the entry bundles hold the entries' exact bytes. It checks p.Verify
// agrees.
func (tl *testLog) verifyProof(t testing.TB, p tlog.Proof, entries [][]byte) {
	t.Helper()
	tree := tl.openCheckpoint(t, []byte(p.Checkpoint))
	all := append([]tlog.EntryProof{{Index: p.Index, Inclusion: p.Inclusion}}, p.More...)
	if len(all) != len(entries) {
		t.Fatalf("proof covers %d entries, want %d", len(all), len(entries))
	}
	hr := sumtlog.TileHashReader(tree, &httpTiles{t: t, tl: tl})
	for i, e := range all {
		if int64(e.Index) >= tree.N {
			t.Fatalf("index %d outside tree of size %d", e.Index, tree.N)
		}
		proof := make(sumtlog.RecordProof, len(e.Inclusion))
		for j, h := range e.Inclusion {
			if len(h) != sumtlog.HashSize {
				t.Fatalf("proof hash %d has %d bytes", j, len(h))
			}
			proof[j] = sumtlog.Hash(h)
		}
		leaf := sumtlog.RecordHash(entries[i])
		if err := sumtlog.CheckRecord(proof, tree.N, tree.Hash, int64(e.Index), leaf); err != nil {
			t.Fatalf("inclusion proof of index %d in tree %d: %v", e.Index, tree.N, err)
		}
		// The tiles over HTTP prove the same record, and the entry bundle
		// holds the exact bytes.
		fromTiles, err := sumtlog.ProveRecord(tree.N, int64(e.Index), hr)
		if err != nil {
			t.Fatalf("proving from tiles: %v", err)
		}
		if err := sumtlog.CheckRecord(fromTiles, tree.N, tree.Hash, int64(e.Index), leaf); err != nil {
			t.Fatalf("proof from tiles: %v", err)
		}
		if got := tl.entry(t, tree.N, e.Index); !bytes.Equal(got, entries[i]) {
			t.Fatalf("entry %d in the entry bundle differs from the submission's entry %d", e.Index, i)
		}
	}
	if _, err := p.Verify(entries, tl.verifier); err != nil {
		t.Fatalf("Proof.Verify: %v", err)
	}
}

// entry reads entry i from the tlog-tiles entry bundle of a tree of size n.
func (tl *testLog) entry(t testing.TB, n int64, i uint64) []byte {
	t.Helper()
	bundle := i / 256
	path := fmt.Sprintf("tile/entries/%s", tilesIndex(int64(bundle)))
	if w := n - int64(bundle)*256; w < 256 {
		path += fmt.Sprintf(".p/%d", w)
	}
	status, data := tl.get(t, path)
	if status != http.StatusOK {
		t.Fatalf("GET /%s: %d", path, status)
	}
	for j := uint64(0); ; j++ {
		if len(data) < 2 {
			t.Fatalf("entry %d missing from /%s", i, path)
		}
		size := int(binary.BigEndian.Uint16(data))
		if len(data) < 2+size {
			t.Fatalf("truncated entry bundle /%s", path)
		}
		if j == i%256 {
			return data[2 : 2+size]
		}
		data = data[2+size:]
	}
}

// tilesIndex formats a tile index as tlog-tiles does: x001/x234/067.
func tilesIndex(n int64) string {
	s := fmt.Sprintf("%03d", n%1000)
	for n >= 1000 {
		n /= 1000
		s = fmt.Sprintf("x%03d/%s", n%1000, s)
	}
	return s
}

// httpTiles is a sumtlog.TileReader over the log's HTTP tiles. sumdb's
// tile paths carry the height ("tile/8/L/N"); tlog-tiles' do not.
type httpTiles struct {
	t  testing.TB
	tl *testLog
}

func (r *httpTiles) Height() int { return 8 }

func (r *httpTiles) ReadTiles(tiles []sumtlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, tile := range tiles {
		path := "tile/" + strings.TrimPrefix(tile.Path(), "tile/8/")
		status, data := r.tl.get(r.t, path)
		if status != http.StatusOK {
			return nil, fmt.Errorf("GET /%s: %d", path, status)
		}
		out[i] = data
	}
	return out, nil
}

func (r *httpTiles) SaveTiles([]sumtlog.Tile, [][]byte) {}

func TestSubmitEveryKind(t *testing.T) {
	t.Parallel()
	tl := newTestLog(t)
	o := newObjects(t)
	cred, credID := o.credential(t, "Example Films")
	rev := o.revocation(t, credID)
	bundle := o.assertion(t, credID)
	cred2, _ := o.credential(t, "Other Films")
	announcement := o.announcement(t)
	receipt := o.receipt(t, protocol.IDOf([]byte("an assertion")))

	var indexes []uint64
	for _, c := range []struct {
		kind  tlog.Kind
		entry []byte
	}{
		{tlog.KindCredential, cred},
		{tlog.KindAuto, rev},
		{tlog.KindAssertion, bundle},
		{tlog.KindAuto, cred2},
		{tlog.KindAuto, announcement},
		{tlog.KindReceipt, receipt},
	} {
		p := tl.submit(t, c.kind, c.entry)
		indexes = append(indexes, p.Index)
	}
	// The assertion is its object, the bundle without sections, at 2 and
	// its one sealed section, one part, at 3.
	if fmt.Sprint(indexes) != "[0 1 2 4 5 6]" {
		t.Errorf("indexes %v, want [0 1 2 4 5 6]", indexes)
	}
	if n := tl.tree(t).N; n != 7 {
		t.Errorf("tree size %d, want 7", n)
	}
	// Earlier entries are still proven from the tiles of the grown tree.
	tl.submit(t, tlog.KindAuto, bundle)
}

func TestDuplicateKeepsIndex(t *testing.T) {
	t.Parallel()
	tl := newTestLog(t)
	o := newObjects(t)
	cred, credID := o.credential(t, "Example Films")
	rev := o.revocation(t, credID)

	first := tl.submit(t, tlog.KindAuto, cred)
	tl.submit(t, tlog.KindAuto, rev)
	before := tl.tree(t)
	again := tl.submit(t, tlog.KindCredential, cred)
	if again.Index != first.Index {
		t.Errorf("duplicate got index %d, first %d", again.Index, first.Index)
	}
	time.Sleep(3 * tlog.DefaultCheckpointInterval)
	if after := tl.tree(t); after != before {
		t.Errorf("duplicate grew the tree from %d to %d", before.N, after.N)
	}
}

// TestRejects submits faulty objects to a log that verifies signatures:
// each is refused with HTTP 400 and its code, by POST /add and by Submit,
// and the tree stays as it was.
func TestRejects(t *testing.T) {
	t.Parallel()
	o := newObjects(t)
	tl := newTrustedLog(t, o)
	cred, credID := o.credential(t, "Example Films")
	rev := o.revocation(t, credID)
	bundle := o.assertion(t, credID)
	tl.submit(t, tlog.KindAuto, cred)
	before := tl.tree(t)

	// The assertion's envelope alone, without its bundle.
	var b struct{ Envelope json.RawMessage }
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	// Another credential, so that only the fault can be the reason.
	fresh, freshID := o.credential(t, "Fresh Films")
	other, err := sign.Generate(sign.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	env, err := dsse.Decode(fresh, protocol.MaxCredentialEnvelope)
	if err != nil {
		t.Fatal(err)
	}
	// The registrar's credential, its signature removed.
	var m map[string]any
	if err := json.Unmarshal(fresh, &m); err != nil {
		t.Fatal(err)
	}
	m["signatures"] = []any{}
	unsigned, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	// The registrar's credential, signed by another key that names itself...
	byOther, err := dsse.Sign(other, env.PayloadType, env.Payload)
	if err != nil {
		t.Fatal(err)
	}
	// ... or that names the registrar's key.
	forged, err := dsse.Decode(byOther, protocol.MaxCredentialEnvelope)
	if err != nil {
		t.Fatal(err)
	}
	forged.KeyID = env.KeyID
	forgedEnv, err := dsse.Encode(forged)
	if err != nil {
		t.Fatal(err)
	}
	// A credential issued by a registrar the log does not trust.
	rogue := *o
	rogue.registrar = other
	untrusted, _ := rogue.credential(t, "Rogue Films")
	// A delegation of a credential the log does not hold, and an assertion
	// under it.
	agent, err := sign.Generate(sign.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	orphan, _ := o.delegation(t, fresh, agent)
	orphanBundle := o.assertion(t, freshID)
	// An assertion under the logged credential by a key other than its
	// subject's.
	notHolder := o.assertionBy(t, other, credID)
	// The holder may not revoke its own grant.
	holderKeys := *o
	holderKeys.registrar = o.holder
	revByHolder := holderKeys.revocation(t, credID)

	for _, c := range []struct {
		name  string
		kind  tlog.Kind
		entry []byte
		code  protocol.Code
		msg   string // in the message, if set
	}{
		{"empty", tlog.KindAuto, nil, protocol.CodeMalformed, ""},
		{"not JSON", tlog.KindAuto, []byte("{"), protocol.CodeMalformed, ""},
		{"array", tlog.KindAuto, []byte("[]"), protocol.CodeMalformed, ""},
		{"neither envelope nor bundle", tlog.KindAuto, []byte(`{"a":1}`), protocol.CodeMalformed, ""},
		{"truncated credential", tlog.KindAuto, fresh[:len(fresh)-1], protocol.CodeMalformed, ""},
		{"unknown kind", "dispute", fresh, protocol.CodeUnknownPayloadType, ""},
		{"credential as receipt", tlog.KindReceipt, fresh, protocol.CodeUnknownPayloadType, ""},
		{"credential as revocation", tlog.KindRevocation, fresh, protocol.CodeUnknownPayloadType, ""},
		{"revocation as assertion", tlog.KindAssertion, rev, protocol.CodeUnknownField, ""},
		{"bare assertion envelope", tlog.KindAuto, b.Envelope, protocol.CodeUnknownPayloadType, ""},
		{"unknown payload type", tlog.KindAuto,
			bytes.Replace(fresh, []byte("credential.v1"), []byte("credential.v9"), 1), protocol.CodeUnknownPayloadType, ""},
		{"unknown member", tlog.KindAuto,
			bytes.Replace(fresh, []byte(`{"payloadType"`), []byte(`{"x":1,"payloadType"`), 1), protocol.CodeUnknownField, ""},
		{"duplicate member", tlog.KindAuto,
			bytes.Replace(fresh, []byte(`{"payloadType":"`), []byte(`{"payloadType":"x","payloadType":"`), 1), protocol.CodeDuplicateKey, ""},
		{"bad content id", tlog.KindAuto,
			editPayload(t, fresh, func(s string) string { return strings.Replace(s, "btih:c9e1", "btih:C9E1", 1) }),
			protocol.CodeBadContentID, ""},
		{"tampered sealed section", tlog.KindAuto, flipSealed(t, bundle), protocol.CodeSectionMismatch, ""},
		{"over the submission limit", tlog.KindAuto, bytes.Repeat([]byte(" "), tlog.MaxSubmissionSize+1), protocol.CodeOversize, ""},
		{"over MaxCredentialEnvelope", tlog.KindCredential, bytes.Repeat([]byte("{"), protocol.MaxCredentialEnvelope+1), protocol.CodeOversize, ""},
		{"over MaxAssertionBundle", tlog.KindAssertion, bytes.Repeat([]byte("{"), protocol.MaxAssertionBundle+1), protocol.CodeOversize, ""},
		{"unsigned", tlog.KindAuto, unsigned, protocol.CodeMalformed, "exactly one signature"},
		{"signed by another key", tlog.KindAuto, byOther, protocol.CodeWrongKey, "not signed by the key that must sign it"},
		{"signature of another key", tlog.KindAuto, forgedEnv, protocol.CodeBadSignature, "does not verify"},
		{"untrusted registrar", tlog.KindAuto, untrusted, protocol.CodeUntrustedRegistrar, "not a trusted registrar"},
		{"assertion whose credential is not logged", tlog.KindAuto, orphanBundle, protocol.CodeChainBroken,
			"credential " + string(freshID) + " is not in the log; submit it first"},
		{"assertion by another key", tlog.KindAuto, notHolder, protocol.CodeWrongKey, "is not the credential's subject"},
		{"delegation whose parent is not logged", tlog.KindAuto, orphan, protocol.CodeChainBroken,
			"parent credential " + string(freshID) + " is not in the log; submit it first"},
		{"revocation of a credential not logged", tlog.KindAuto, o.revocation(t, freshID), protocol.CodeChainBroken, "is not in the log"},
		{"revocation by the holder of its grant", tlog.KindAuto, revByHolder, protocol.CodeRevocationUnauthorized, "may not revoke"},
		{"receipt from an untrusted ISP", tlog.KindAuto, o.receiptBy(t, other, credID), protocol.CodeUntrustedISP, "not a trusted ISP key"},
		{"announcement from an untrusted ISP", tlog.KindAuto, o.announcementBy(t, other), protocol.CodeUntrustedISP, "not a trusted ISP key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body := tl.post(t, c.kind, c.entry)
			if status != http.StatusBadRequest {
				t.Fatalf("status %d %s, want 400", status, body)
			}
			var e tlog.ErrorResponse
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("decoding %s: %v", body, err)
			}
			if e.Code != c.code || e.Message == "" || !strings.Contains(e.Message, c.msg) {
				t.Errorf("got %s %q, want %s %q", e.Code, e.Message, c.code, c.msg)
			}
			// The Go API says the same, with a typed error.
			_, err := tl.log.Submit(t.Context(), c.kind, c.entry)
			var perr *protocol.Error
			if !errors.As(err, &perr) || perr.Code != c.code {
				t.Errorf("Submit: %v, want a *protocol.Error with %s", err, c.code)
			}
		})
	}
	time.Sleep(3 * tlog.DefaultCheckpointInterval)
	if after := tl.tree(t); after != before {
		t.Errorf("rejections changed the tree: size %d → %d, root %v → %v", before.N, after.N, before.Hash, after.Hash)
	}
}

func TestTilesNotFound(t *testing.T) {
	t.Parallel()
	tl := newTestLog(t)
	o := newObjects(t)
	cred, _ := o.credential(t, "Example Films")
	tl.submit(t, tlog.KindAuto, cred)
	for path, want := range map[string]int{
		"tile/0/005":           http.StatusNotFound,
		"tile/entries/005":     http.StatusNotFound,
		"tile/0/nonsense":      http.StatusBadRequest,
		"tile/entries/x.p/1":   http.StatusBadRequest,
		"tile/entries/000.p/1": http.StatusOK,
	} {
		if status, _ := tl.get(t, path); status != want {
			t.Errorf("GET /%s: %d, want %d", path, status, want)
		}
	}
}

// TestTilesBeyondCheckpoint: what lies on disk beyond the published tree
// (left by a crash, or not yet published) is not served.
func TestTilesBeyondCheckpoint(t *testing.T) {
	t.Parallel()
	tl := newTestLog(t)
	o := newObjects(t)
	cred, _ := o.credential(t, "Example Films")
	tl.submit(t, tlog.KindAuto, cred)
	for _, path := range []string{"tile/entries/001", "tile/0/001", "tile/1/000", "tile/entries/000.p/2"} {
		file := filepath.Join(tl.dir, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, []byte("uncommitted"), 0o644); err != nil {
			t.Fatal(err)
		}
		if status, body := tl.get(t, path); status != http.StatusNotFound {
			t.Errorf("GET /%s: %d %q, want 404", path, status, body)
		}
	}
	if status, _ := tl.get(t, "tile/entries/000.p/1"); status != http.StatusOK {
		t.Errorf("GET /tile/entries/000.p/1: %d, want 200", status)
	}
}

// TestDedupAcrossRestart: an object submitted again after the log
// restarted is answered with its first indexes and not appended again.
func TestDedupAcrossRestart(t *testing.T) {
	t.Parallel()
	tl := newTestLog(t)
	o := newObjects(t)
	cred, credID := o.credential(t, "Example Films")
	bundle := o.assertion(t, credID)
	first := tl.submit(t, tlog.KindAuto, cred)
	firstBundle := tl.submit(t, tlog.KindAuto, bundle)
	tl.close()
	if _, err := os.Stat(filepath.Join(tl.dir, ".dedup")); err != nil {
		t.Fatalf("no persistent dedup index: %v", err)
	}

	tl.open(t)
	before := tl.tree(t)
	if before.N != 3 {
		t.Fatalf("reopened log has %d entries, want 3", before.N)
	}
	if again := tl.submit(t, tlog.KindAuto, cred); again.Index != first.Index {
		t.Errorf("credential submitted again after a restart got index %d, first %d", again.Index, first.Index)
	}
	if again := tl.submit(t, tlog.KindAuto, bundle); fmt.Sprint(splitProof(again)) != fmt.Sprint(splitProof(firstBundle)) {
		t.Errorf("bundle submitted again after a restart got %v, first %v", splitProof(again), splitProof(firstBundle))
	}
	time.Sleep(3 * tlog.DefaultCheckpointInterval)
	if after := tl.tree(t); after != before {
		t.Errorf("duplicates after a restart grew the tree from %d to %d", before.N, after.N)
	}
	fresh, _ := o.credential(t, "Fresh Films")
	if p := tl.submit(t, tlog.KindAuto, fresh); p.Index != 3 {
		t.Errorf("new credential got index %d, want 3", p.Index)
	}
}

func TestCheckDetects(t *testing.T) {
	t.Parallel()
	o := newObjects(t)
	cred, credID := o.credential(t, "Example Films")
	for want, entry := range map[tlog.Kind][]byte{
		tlog.KindCredential:   cred,
		tlog.KindRevocation:   o.revocation(t, credID),
		tlog.KindAssertion:    o.assertion(t, credID),
		tlog.KindAnnouncement: o.announcement(t),
		tlog.KindReceipt:      o.receipt(t, credID),
	} {
		if got, err := tlog.Check(tlog.KindAuto, entry); err != nil || got != want {
			t.Errorf("Check: %s, %v; want %s", got, err, want)
		}
	}
}

func TestReopen(t *testing.T) {
	t.Parallel()
	skey, _, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	o := newObjects(t)
	dir := t.TempDir()
	var indexes []uint64
	for i := range 2 {
		l, err := tlog.Open(t.Context(), tlog.Config{Dir: dir, Signer: signer})
		if err != nil {
			t.Fatal(err)
		}
		cred, _ := o.credential(t, fmt.Sprintf("Holder %d", i))
		p, err := l.Submit(t.Context(), tlog.KindAuto, cred)
		if err != nil {
			t.Fatal(err)
		}
		indexes = append(indexes, p.Index)
		if err := l.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(indexes) != "[0 1]" {
		t.Errorf("indexes across a restart %v, want [0 1]", indexes)
	}
}

func TestOpenNeedsConfig(t *testing.T) {
	t.Parallel()
	if _, err := tlog.Open(t.Context(), tlog.Config{}); err == nil {
		t.Error("Open without Dir succeeded")
	}
	if _, err := tlog.Open(t.Context(), tlog.Config{Dir: t.TempDir()}); err == nil {
		t.Error("Open without Signer succeeded")
	}
}

// The package documentation's checkpoint is real: it opens with its key.
func TestDocCheckpoint(t *testing.T) {
	t.Parallel()
	v, err := note.NewVerifier("docket.example/log+336a1b5b+AbTMQ6eX4PIiXX01+iyqvZqwjSCtV6zFo201XYDNjjrg")
	if err != nil {
		t.Fatal(err)
	}
	cp := "docket.example/log\n3\nG5FYsMjG4zK90Z4fpS0UdRm4VHBAl1UZTu/BV+DEBWE=\n\n" +
		"— docket.example/log M2obW69Fj7ax9F6XjuSC9eXvjbtw0JpXvrte3JO4imxErKdKLdoCX9tx0OY0jWJUhVQmb5Q+3uP/Ty4s+PbOLJq+WgE=\n"
	if _, err := note.Open([]byte(cp), note.VerifierList(v)); err != nil {
		t.Fatal(err)
	}
}
