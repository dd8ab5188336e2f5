package logclient_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/node/logclient"
	"github.com/docket-project/docket/node/tlog"
	"github.com/docket-project/docket/node/witness"
	"github.com/docket-project/docket/protocol"
)

const origin = "docket.example/log"

// logKey is a log's checkpoint key.
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

// tWriter routes slog output to t.Logf.
type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// testWitness is a real witness (node/witness) with its state on disk,
// behind a real HTTP server on loopback.
type testWitness struct {
	w        *witness.Witness
	url      string
	key      string        // cosignature/v1 verifier key
	verifier note.Verifier // for it
}

func newTestWitness(t testing.TB, name string, lk logKey) *testWitness {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := fnote.NewSignerForCosignatureV1(skey)
	if err != nil {
		t.Fatal(err)
	}
	cvkey, err := fnote.VKeyToCosignatureV1(vkey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := fnote.NewVerifierForCosignatureV1(cvkey)
	if err != nil {
		t.Fatal(err)
	}
	w, err := witness.New(witness.Config{
		Signer:   signer,
		Logs:     []witness.Log{{Origin: origin, Verifier: lk.verifier}},
		StateDir: t.TempDir(),
		Logger:   testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w.Handler())
	t.Cleanup(srv.Close)
	return &testWitness{w: w, url: srv.URL, key: cvkey, verifier: v}
}

// testLog is a real log (node/tlog) on disk behind a real HTTP server on
// loopback.
type testLog struct {
	log *tlog.Log
	dir string
	url string
}

// openLog opens a log in dir requiring required of the witnesses, or fails.
func openLog(t testing.TB, lk logKey, dir string, required int, ws ...*testWitness) (*testLog, error) {
	t.Helper()
	cfg := tlog.Config{Dir: dir, Signer: lk.signer, WitnessesRequired: required, Logger: testLogger(t)}
	for _, w := range ws {
		cfg.Witnesses = append(cfg.Witnesses, tlog.Witness{Key: w.key, URL: w.url})
	}
	l, err := tlog.Open(t.Context(), cfg)
	if err != nil {
		return nil, err
	}
	srv := httptest.NewServer(l.Handler())
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := l.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return &testLog{log: l, dir: dir, url: srv.URL}, nil
}

func newTestLog(t testing.TB, lk logKey, required int, ws ...*testWitness) *testLog {
	t.Helper()
	l, err := openLog(t, lk, t.TempDir(), required, ws...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// submit appends entry, which must be accepted, and returns its proof.
func (l *testLog) submit(t testing.TB, entry []byte) *tlog.Proof {
	t.Helper()
	p, err := l.log.Submit(t.Context(), tlog.KindAuto, entry)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// issuer makes distinct real credentials, the simplest Docket object.
type issuer struct {
	registrar, holder *sign.PrivateKey
}

func newIssuer(t testing.TB) *issuer {
	t.Helper()
	registrar, err := sign.Generate(sign.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	holder, err := sign.Generate(sign.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	return &issuer{registrar: registrar, holder: holder}
}

// credential returns a credential whose holder is called name.
func (is *issuer) credential(t testing.TB, name string) []byte {
	t.Helper()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	cred, _, err := protocol.IssueCredential(is.registrar, protocol.Credential{
		Subject:   protocol.Subject{Name: name, PublicKey: is.holder.Public().DER()},
		Works:     []protocol.Work{{ID: "film-1", Title: "A Film", Content: []protocol.ContentID{"btih:c9e15763f722f23e98a29decdfae341b98d53056"}}},
		Scope:     protocol.Scope{Regions: []string{"DE"}},
		NotBefore: now.AddDate(0, -1, 0),
		NotAfter:  now.AddDate(1, 0, 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// credentials returns n distinct credentials named prefix 0, prefix 1, ...
func (is *issuer) credentials(t testing.TB, prefix string, n int) [][]byte {
	t.Helper()
	out := make([][]byte, n)
	for i := range out {
		out[i] = is.credential(t, fmt.Sprintf("%s %d", prefix, i))
	}
	return out
}

// verifier returns a logclient.Verifier of the log trusting the witnesses.
func verifier(t testing.TB, lk logKey, required int, ws ...*testWitness) *logclient.Verifier {
	t.Helper()
	var keys []string
	for _, w := range ws {
		keys = append(keys, w.key)
	}
	v, err := logclient.NewVerifier(lk.vkey, keys, required)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// client returns a Client of the log at location (URL or directory).
func client(t testing.TB, location string, v *logclient.Verifier, state string) *logclient.Client {
	t.Helper()
	src, err := logclient.OpenSource(location)
	if err != nil {
		t.Fatal(err)
	}
	c, err := logclient.NewClient(src, v, state)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
