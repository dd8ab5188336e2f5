package witness_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"

	"github.com/docket-project/docket/node/witness"
)

const origin = "docket.example/log"

// memLog is a log kept in memory with x/mod/sumdb/tlog: it signs
// checkpoints with a real note key and proves consistency, so that a test
// can make it equivocate at will.
type memLog struct {
	origin string
	signer note.Signer
	hashes []sumtlog.Hash // stored hashes, sumdb's layout
	n      int64
}

func newMemLog(t testing.TB, name string) (*memLog, note.Verifier) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
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
	return &memLog{origin: name, signer: signer}, verifier
}

// fork returns a log with the same key and the first n entries of l.
func (l *memLog) fork(t testing.TB, n int64) *memLog {
	t.Helper()
	return &memLog{origin: l.origin, signer: l.signer, hashes: slices.Clone(l.hashes[:sumtlog.StoredHashCount(n)]), n: n}
}

func (l *memLog) ReadHashes(indexes []int64) ([]sumtlog.Hash, error) {
	out := make([]sumtlog.Hash, len(indexes))
	for i, x := range indexes {
		out[i] = l.hashes[x]
	}
	return out, nil
}

// append adds entries named by prefix and their index.
func (l *memLog) append(t testing.TB, prefix string, count int) {
	t.Helper()
	for range count {
		h, err := sumtlog.StoredHashes(l.n, fmt.Appendf(nil, "%s %d", prefix, l.n), l)
		if err != nil {
			t.Fatal(err)
		}
		l.hashes = append(l.hashes, h...)
		l.n++
	}
}

func (l *memLog) root(t testing.TB, size int64) sumtlog.Hash {
	t.Helper()
	h, err := sumtlog.TreeHash(size, l)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// checkpoint returns the log's signed checkpoint of the given size.
func (l *memLog) checkpoint(t testing.TB, size int64) []byte {
	t.Helper()
	return l.sign(t, fmt.Sprintf("%s\n%d\n%s\n", l.origin, size, l.root(t, size)), l.signer)
}

func (l *memLog) sign(t testing.TB, text string, signers ...note.Signer) []byte {
	t.Helper()
	cp, err := note.Sign(&note.Note{Text: text}, signers...)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// proof returns the consistency proof from size old to size.
func (l *memLog) proof(t testing.TB, old, size int64) [][]byte {
	t.Helper()
	if old == 0 || old == size {
		return nil
	}
	p, err := sumtlog.ProveTree(size, old, l)
	if err != nil {
		t.Fatal(err)
	}
	out := make([][]byte, len(p))
	for i := range p {
		out[i] = p[i][:]
	}
	return out
}

// request formats an add-checkpoint body.
func request(old int64, proof [][]byte, cp []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", old)
	for _, h := range proof {
		fmt.Fprintf(&b, "%s\n", base64.StdEncoding.EncodeToString(h))
	}
	b.WriteString("\n")
	b.Write(cp)
	return b.Bytes()
}

// testWitness is a real witness with its state on disk, behind a real HTTP
// server on loopback.
type testWitness struct {
	w        *witness.Witness
	url      string
	dir      string
	skey     string
	verifier note.Verifier // its cosignature/v1 key
	logs     []witness.Log
}

func newTestWitness(t testing.TB, logs ...witness.Log) *testWitness {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, "witness.example")
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
	tw := &testWitness{dir: t.TempDir(), skey: skey, verifier: v, logs: logs}
	tw.start(t)
	return tw
}

// start starts the witness from its state directory, as after a restart.
func (tw *testWitness) start(t testing.TB) {
	t.Helper()
	signer, err := fnote.NewSignerForCosignatureV1(tw.skey)
	if err != nil {
		t.Fatal(err)
	}
	w, err := witness.New(witness.Config{
		Signer:   signer,
		Logs:     tw.logs,
		StateDir: tw.dir,
		Logger:   slog.New(slog.NewTextHandler(tWriter{t}, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w.Handler())
	t.Cleanup(srv.Close)
	tw.w, tw.url = w, srv.URL
}

// tWriter routes the witness's slog output to t.Logf.
type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}

// post sends an add-checkpoint request and returns the status, content
// type and body of the answer.
func (tw *testWitness) post(t testing.TB, body []byte) (int, string, []byte) {
	t.Helper()
	resp, err := http.Post(tw.url+"/add-checkpoint", "text/plain", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), out
}

// cosign submits the checkpoint of size of l, from old, which must be
// cosigned; it checks the cosignature with x/mod/sumdb/note and a
// cosignature/v1 verifier and returns the cosigned checkpoint.
func (tw *testWitness) cosign(t testing.TB, l *memLog, lv note.Verifier, old, size int64) []byte {
	t.Helper()
	cp := l.checkpoint(t, size)
	status, _, body := tw.post(t, request(old, l.proof(t, old, size), cp))
	if status != http.StatusOK {
		t.Fatalf("add-checkpoint old %d size %d: %d %s", old, size, status, body)
	}
	cosigned := append(bytes.Clone(cp), body...)
	n, err := note.Open(cosigned, note.VerifierList(lv, tw.verifier))
	if err != nil {
		t.Fatalf("opening cosigned checkpoint: %v\n%s", err, cosigned)
	}
	if len(n.Sigs) != 2 || n.Sigs[1].Name != "witness.example" {
		t.Fatalf("cosigned checkpoint has signatures %v", n.Sigs)
	}
	return cosigned
}

// state returns the witness's state file for the log and the checkpoint
// it holds.
func (tw *testWitness) state(t testing.TB) ([]byte, []byte) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(tw.dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	var data []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, b...)
	}
	return data, tw.w.Latest(origin)
}

func TestGrowingLog(t *testing.T) {
	l, lv := newMemLog(t, origin)
	tw := newTestWitness(t, witness.Log{Origin: origin, Verifier: lv})
	if tw.w.Latest(origin) != nil {
		t.Fatal("a new witness holds a checkpoint")
	}
	// The empty tree first, as a new Tessera log publishes it, then every
	// size up to 300, crossing a full tile, in steps of 1 to 7.
	tw.cosign(t, l, lv, 0, 0)
	old := int64(0)
	for step := int64(1); old < 300; step = step%7 + 1 {
		l.append(t, "entry", int(step))
		tw.cosign(t, l, lv, old, l.n)
		old = l.n
	}
	// The same checkpoint again gets a fresh cosignature.
	again := tw.cosign(t, l, lv, old, old)
	if got := tw.w.Latest(origin); !bytes.Equal(got, again) {
		t.Errorf("Latest:\n%s\nwant the last cosigned checkpoint:\n%s", got, again)
	}
}

func TestConflicts(t *testing.T) {
	l, lv := newMemLog(t, origin)
	tw := newTestWitness(t, witness.Log{Origin: origin, Verifier: lv})
	l.append(t, "entry", 10)
	tw.cosign(t, l, lv, 0, 10)
	l.append(t, "entry", 5)

	// The equivocating twin: the same key, the first 7 entries, then others.
	twin := l.fork(t, 7)
	twin.append(t, "other", 8)

	for _, c := range []struct {
		name   string
		body   []byte
		status int
		size   string // the body of a 409 with text/x.tlog.size
	}{
		{"old size behind", request(5, l.proof(t, 5, 15), l.checkpoint(t, 15)), http.StatusConflict, "10\n"},
		{"old size ahead", request(12, l.proof(t, 12, 15), l.checkpoint(t, 15)), http.StatusConflict, "10\n"},
		{"old size 0 to a witness holding 10", request(0, nil, l.checkpoint(t, 15)), http.StatusConflict, "10\n"},
		{"a smaller checkpoint from the size held", request(10, nil, l.checkpoint(t, 8)), http.StatusBadRequest, ""},
		{"same size, other root", request(10, nil, twin.checkpoint(t, 10)), http.StatusConflict, ""},
		{"fork at a larger size, its own proof", request(10, twin.proof(t, 10, 15), twin.checkpoint(t, 15)), http.StatusUnprocessableEntity, ""},
		{"fork at a larger size, the true proof", request(10, l.proof(t, 10, 15), twin.checkpoint(t, 15)), http.StatusUnprocessableEntity, ""},
		{"proof of other sizes", request(10, l.proof(t, 9, 15), l.checkpoint(t, 15)), http.StatusUnprocessableEntity, ""},
		{"no proof", request(10, nil, l.checkpoint(t, 15)), http.StatusUnprocessableEntity, ""},
		{"a proof between equal sizes", request(10, l.proof(t, 9, 10), l.checkpoint(t, 10)), http.StatusUnprocessableEntity, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			fileBefore, heldBefore := tw.state(t)
			status, ctype, body := tw.post(t, c.body)
			if status != c.status {
				t.Fatalf("status %d %q, want %d", status, body, c.status)
			}
			if c.size != "" && (ctype != witness.SizeContentType || string(body) != c.size) {
				t.Errorf("409 with %q %q, want %s %q", ctype, body, witness.SizeContentType, c.size)
			}
			if c.size == "" && ctype == witness.SizeContentType {
				t.Errorf("a %d answer has Content-Type %s", status, ctype)
			}
			if fileAfter, heldAfter := tw.state(t); !bytes.Equal(fileAfter, fileBefore) || !bytes.Equal(heldAfter, heldBefore) {
				t.Error("a refused checkpoint changed the witness's state")
			}
		})
	}
	// The true log goes on.
	tw.cosign(t, l, lv, 10, 15)
}

func TestBadInput(t *testing.T) {
	l, lv := newMemLog(t, origin)
	other, otherV := newMemLog(t, "docket.example/other")
	tw := newTestWitness(t, witness.Log{Origin: origin, Verifier: lv},
		witness.Log{Origin: "docket.example/other", Verifier: otherV})
	l.append(t, "entry", 4)
	tw.cosign(t, l, lv, 0, 4)
	l.append(t, "entry", 4)
	other.append(t, "entry", 4)

	good := l.checkpoint(t, 8)
	proof := l.proof(t, 4, 8)
	text := fmt.Sprintf("%s\n8\n%s\n", origin, l.root(t, 8))

	// A key with the log's name that is not the log's key.
	impostor, _ := newMemLog(t, origin)
	forged := impostor.sign(t, text, impostor.signer)
	// The log's signature with one character of its base64 changed, past
	// the key hash.
	flipped := bytes.Clone(good)
	i := bytes.LastIndexByte(flipped, ' ') + 20
	if flipped[i] == 'A' {
		flipped[i] = 'B'
	} else {
		flipped[i] = 'A'
	}

	many := make([][]byte, witness.MaxProofHashes+1)
	for i := range many {
		many[i] = proof[0]
	}
	b64 := base64.StdEncoding.EncodeToString(proof[0])
	withProof := func(lines ...string) []byte {
		return []byte("old 4\n" + strings.Join(lines, "\n") + "\n\n" + string(good))
	}
	for _, c := range []struct {
		name   string
		body   []byte
		status int
	}{
		{"empty", nil, http.StatusBadRequest},
		{"no old line", good, http.StatusBadRequest},
		{"old with a leading zero", []byte("old 04\n\n" + string(good)), http.StatusBadRequest},
		{"negative old", []byte("old -4\n\n" + string(good)), http.StatusBadRequest},
		{"old in hex", []byte("old 0x4\n\n" + string(good)), http.StatusBadRequest},
		{"old with two spaces", []byte("old  4\n\n" + string(good)), http.StatusBadRequest},
		{"old out of range", []byte("old 18446744073709551616\n\n" + string(good)), http.StatusBadRequest},
		{"no empty line", []byte("old 4\n" + b64 + "\n"), http.StatusBadRequest},
		{"no checkpoint", []byte("old 4\n\n"), http.StatusBadRequest},
		{"proof hash not base64", withProof("not base64!"), http.StatusBadRequest},
		{"proof hash of 31 bytes", withProof(base64.StdEncoding.EncodeToString(proof[0][:31])), http.StatusBadRequest},
		{"proof hash in URL base64", withProof(base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xff}, 32))), http.StatusBadRequest},
		{"too many proof hashes", request(4, many, good), http.StatusBadRequest},
		{"over the size limit", request(4, proof, append(bytes.Repeat([]byte("x"), witness.MaxRequestSize), good...)), http.StatusBadRequest},
		{"checkpoint without signatures", request(4, proof, []byte(text)), http.StatusBadRequest},
		{"checkpoint size with a leading zero", request(4, proof, l.sign(t, strings.Replace(text, "\n8\n", "\n08\n", 1), l.signer)), http.StatusBadRequest},
		{"checkpoint hash truncated", request(4, proof, l.sign(t, strings.Replace(text, "=\n", "\n", 1), l.signer)), http.StatusBadRequest},
		{"old size larger than the checkpoint", request(9, nil, good), http.StatusBadRequest},
		{"unknown origin", request(4, proof, impostor.sign(t, strings.Replace(text, origin, "docket.example/unknown", 1), impostor.signer)), http.StatusNotFound},
		{"no origin line", request(4, proof, []byte("\n8\n")), http.StatusBadRequest},
		{"signed by another key of the same name", request(4, proof, forged), http.StatusForbidden},
		{"signed by the other log's key", request(4, proof, other.sign(t, text, other.signer)), http.StatusForbidden},
		{"log signature altered", request(4, proof, flipped), http.StatusForbidden},
		{"old size 0 with a proof", request(0, proof, l.checkpoint(t, 8)), http.StatusConflict},
	} {
		t.Run(c.name, func(t *testing.T) {
			fileBefore, heldBefore := tw.state(t)
			status, _, body := tw.post(t, c.body)
			if status != c.status {
				t.Errorf("status %d %q, want %d", status, body, c.status)
			}
			if fileAfter, heldAfter := tw.state(t); !bytes.Equal(fileAfter, fileBefore) || !bytes.Equal(heldAfter, heldBefore) {
				t.Error("a refused request changed the witness's state")
			}
		})
	}

	// Only POST.
	resp, err := http.Get(tw.url + "/add-checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /add-checkpoint: %d, want 405", resp.StatusCode)
	}

	// The Go API answers with the typed errors.
	for _, c := range []struct {
		old   uint64
		proof [][]byte
		cp    []byte
		want  error
	}{
		{4, proof, forged, witness.ErrBadSignature},
		{4, proof, []byte("docket.example/unknown\n"), witness.ErrUnknownLog},
		{9, nil, good, witness.ErrMalformed},
		{4, nil, good, witness.ErrBadProof},
	} {
		if _, err := tw.w.AddCheckpoint(c.old, c.proof, c.cp); !errors.Is(err, c.want) {
			t.Errorf("AddCheckpoint: %v, want %v", err, c.want)
		}
	}
	var conflict *witness.ConflictError
	if _, err := tw.w.AddCheckpoint(3, nil, good); !errors.As(err, &conflict) || conflict.Size != 4 || conflict.Old != 3 {
		t.Errorf("AddCheckpoint old 3: %v, want a *ConflictError holding 4", err)
	}

	// Both logs are still served; the other one from nothing.
	tw.cosign(t, l, lv, 4, 8)
	cp := other.checkpoint(t, 4)
	if status, _, body := tw.post(t, request(0, nil, cp)); status != http.StatusOK {
		t.Errorf("first checkpoint of the other log: %d %s", status, body)
	}
}

func TestRestart(t *testing.T) {
	l, lv := newMemLog(t, origin)
	tw := newTestWitness(t, witness.Log{Origin: origin, Verifier: lv})
	l.append(t, "entry", 20)
	tw.cosign(t, l, lv, 0, 12)
	held := tw.cosign(t, l, lv, 12, 20)

	tw.start(t)
	if got := tw.w.Latest(origin); !bytes.Equal(got, held) {
		t.Fatalf("after a restart the witness holds\n%s\nwant\n%s", got, held)
	}
	twin := l.fork(t, 15)
	twin.append(t, "other", 5)
	for _, c := range []struct {
		name   string
		body   []byte
		status int
	}{
		{"downgrade from old 0", request(0, nil, l.checkpoint(t, 12)), http.StatusConflict},
		{"downgrade from the size held", request(20, nil, l.checkpoint(t, 12)), http.StatusBadRequest},
		{"same size, other root", request(20, nil, twin.checkpoint(t, 20)), http.StatusConflict},
		{"replay of an old request", request(0, nil, l.checkpoint(t, 12)), http.StatusConflict},
	} {
		if status, _, body := tw.post(t, c.body); status != c.status {
			t.Errorf("%s after a restart: %d %s, want %d", c.name, status, body, c.status)
		}
	}
	l.append(t, "entry", 3)
	tw.cosign(t, l, lv, 20, 23)

	// The state file is the cosigned checkpoint: the log's signature and
	// the witness's cosignature both verify.
	data, _ := tw.state(t)
	if _, err := note.Open(data, note.VerifierList(lv)); err != nil {
		t.Errorf("state file: log signature: %v", err)
	}
	if _, err := note.Open(data, note.VerifierList(tw.verifier)); err != nil {
		t.Errorf("state file: cosignature: %v", err)
	}

	// A damaged state file stops the witness from starting rather than
	// letting it forget what it cosigned.
	files, _ := filepath.Glob(filepath.Join(tw.dir, "*.checkpoint"))
	if len(files) != 1 {
		t.Fatalf("state files %v, want one", files)
	}
	if err := os.WriteFile(files[0], data[:len(data)/3], 0o644); err != nil {
		t.Fatal(err)
	}
	signer, _ := fnote.NewSignerForCosignatureV1(tw.skey)
	if _, err := witness.New(witness.Config{Signer: signer, Logs: tw.logs, StateDir: tw.dir}); err == nil {
		t.Error("a witness started from a truncated state file")
	}
}

// Concurrent requests from the same old size: exactly one wins, and the
// state never moves back.
func TestConcurrentUpdates(t *testing.T) {
	l, lv := newMemLog(t, origin)
	tw := newTestWitness(t, witness.Log{Origin: origin, Verifier: lv})
	l.append(t, "entry", 5)
	tw.cosign(t, l, lv, 0, 5)
	const n = 16
	l.append(t, "entry", n)
	bodies := make([][]byte, n)
	for i := range n {
		bodies[i] = request(5, l.proof(t, 5, int64(6+i)), l.checkpoint(t, int64(6+i)))
	}
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			resp, err := http.Post(tw.url+"/add-checkpoint", "text/plain", bytes.NewReader(bodies[i]))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		})
	}
	wg.Wait()
	won := -1
	for i, s := range statuses {
		switch {
		case s == http.StatusOK && won < 0:
			won = i
		case s == http.StatusOK:
			t.Errorf("requests %d and %d from old size 5 were both cosigned", won, i)
		case s != http.StatusConflict:
			t.Errorf("request %d: %d, want 200 or 409", i, s)
		}
	}
	if won < 0 {
		t.Fatal("no request was cosigned")
	}
	held := tw.w.Latest(origin)
	if want := fmt.Sprintf("%s\n%d\n%s\n", origin, 6+won, l.root(t, int64(6+won))); !bytes.HasPrefix(held, []byte(want)) {
		t.Errorf("the witness holds\n%s\nnot the checkpoint it cosigned, of size %d", held, 6+won)
	}
}

// The worked example of the package documentation is real.
func TestDocExample(t *testing.T) {
	const (
		logKey     = "docket.example/log+b93071ef+AZDmxfUlt8pQ0jEsDz654d+UHbPB+cjCbYnuQFZA/fE3"
		witnessKey = "witness1.example+9c6258c2+BFhT+y21KfikhFtHoi8r0EWUrS8z899pZ0Nt4dZe2Mcl"
		root3      = "lPvQ3YNvUDAWkubQ6t5yjuGexSv/8WBu2AfIV11aqhk="
		body       = "old 3\n" +
			"V8efTzGuApxdS9MLBzwnyU35NDiytGl+Hh7vW8A5SkE=\n" +
			"YcoROfaBWEHVuvLQ0tm9nf7pfImN1ve6DAqpQe5sAes=\n" +
			"WkdmL9ijF9lgSaP59HxV3GfKZgUbqjaD27GbL+CaB7A=\n" +
			"SFM123z+yWXxX/dF/GJcQdXqJkaTaTAWWCj3PdS2iFQ=\n" +
			"\n" +
			"docket.example/log\n5\nfKo0Xb2JKmZFTWxlEuo8PqPw0+whvj/C4jdXBf049nI=\n\n" +
			"— docket.example/log uTBx7+k3TXQY80GVA7oubsI8Lk8KotmmAh4aHyY4plMK4Yz8qHqxRZL8C240VIm17QzM6EjkPX3H44IkIFfQfNn/ng0=\n"
		cosig = "— witness1.example nGJYwgAAAABrBZCSTVIhBmMV1HSYTIrF4kvArnsKvKw7lPDegoSaFJU0l52D3tz0d1Fr+l1tad+mR5FOKNp/vzlbtRxdfSn1uqVBAA==\n"
	)
	old, proof, cp, err := witness.ParseRequest([]byte(body))
	if err != nil || old != 3 || len(proof) != 4 {
		t.Fatalf("ParseRequest: %d, %d hashes, %v", old, len(proof), err)
	}
	lv, err := note.NewVerifier(logKey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(cp, note.VerifierList(lv))
	if err != nil {
		t.Fatal(err)
	}
	// The log's entries are "entry 0" to "entry 4".
	l := &memLog{origin: origin}
	l.append(t, "entry", 5)
	if got := l.root(t, 3).String(); got != root3 {
		t.Errorf("root of size 3 %s, documented %s", got, root3)
	}
	if want := fmt.Sprintf("%s\n5\n%s\n", origin, l.root(t, 5)); n.Text != want {
		t.Errorf("checkpoint body %q, want %q", n.Text, want)
	}
	for i, want := range []sumtlog.Hash{l.hashes[3], l.hashes[4], l.hashes[2], l.hashes[7]} {
		if !bytes.Equal(proof[i], want[:]) {
			t.Errorf("proof hash %d is not the documented node", i)
		}
	}
	if got := l.proof(t, 3, 5); fmt.Sprint(got) != fmt.Sprint(proof) {
		t.Error("the documented proof is not sumdb's")
	}
	wv, err := fnote.NewVerifierForCosignatureV1(witnessKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open([]byte(n.Text+"\n"+cosig), note.VerifierList(wv)); err != nil {
		t.Errorf("documented cosignature: %v", err)
	}
}
