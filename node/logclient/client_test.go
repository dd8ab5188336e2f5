package logclient_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	tclient "github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"

	"github.com/docket-project/docket/node/logclient"
	"github.com/docket-project/docket/node/tlog"
)

// openIndependently opens a checkpoint with x/mod/sumdb/note alone and
// parses its body by hand, sharing no code with logclient.
func openIndependently(t testing.TB, cp string, known ...note.Verifier) (*note.Note, sumtlog.Tree) {
	t.Helper()
	n, err := note.Open([]byte(cp), note.VerifierList(known...))
	if err != nil {
		t.Fatalf("opening checkpoint: %v\n%s", err, cp)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) != 4 || lines[0] != origin || lines[3] != "" {
		t.Fatalf("checkpoint body %q", n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != sumtlog.HashSize {
		t.Fatalf("root %q: %v", lines[2], err)
	}
	return n, sumtlog.Tree{N: size, Hash: sumtlog.Hash(root)}
}

// A log requiring 2 of 2 witnesses publishes only checkpoints both
// cosigned; every pair of them is consistent; entries read and proven from
// the tiles are those submitted.
func TestWitnessedLog(t *testing.T) {
	lk := newLogKey(t)
	w1 := newTestWitness(t, "witness1.example", lk)
	w2 := newTestWitness(t, "witness2.example", lk)
	l := newTestLog(t, lk, 2, w1, w2)
	entries := newIssuer(t).credentials(t, "Holder", 41)

	// One at a time, so that there is a checkpoint of every size.
	proofs := make([]*tlog.Proof, len(entries))
	for i, e := range entries {
		proofs[i] = l.submit(t, e)
	}

	v := verifier(t, lk, 2, w1, w2)
	trees := make([]sumtlog.Tree, len(entries))
	cps := make([]*logclient.Checkpoint, len(entries))
	for i, p := range proofs {
		// x/mod/sumdb/note with the log's key and the witnesses'
		// cosignature/v1 keys verifies all three signatures.
		n, tree := openIndependently(t, p.Checkpoint, lk.verifier, w1.verifier, w2.verifier)
		var names []string
		for _, s := range n.Sigs {
			names = append(names, s.Name)
		}
		if fmt.Sprint(names) != "[docket.example/log witness1.example witness2.example]" &&
			fmt.Sprint(names) != "[docket.example/log witness2.example witness1.example]" {
			t.Fatalf("checkpoint of entry %d is signed by %v", i, names)
		}
		if tree.N != int64(i+1) {
			t.Fatalf("entry %d proven in a tree of size %d, want %d", i, tree.N, i+1)
		}
		trees[i] = tree
		// So does logclient, with the inclusion proof.
		cp, err := v.VerifyProof(p, entries[i])
		if err != nil {
			t.Fatalf("VerifyProof of entry %d: %v", i, err)
		}
		if cp.Tree() != tree || len(cp.Cosignatures) != 2 {
			t.Fatalf("logclient opened tree %v with %d cosignatures; want %v with 2", cp.Tree(), len(cp.Cosignatures), tree)
		}
		cps[i] = cp
	}

	// Without a trusted second witness, the checkpoint falls short of two.
	var quorum *logclient.QuorumError
	other := newTestWitness(t, "witness3.example", lk)
	if _, err := verifier(t, lk, 2, w1, other).Open([]byte(proofs[0].Checkpoint)); !errors.As(err, &quorum) || quorum.Have != 1 || quorum.Need != 2 {
		t.Errorf("Open trusting witness1 and witness3, requiring 2: %v, want a *QuorumError with 1 of 2", err)
	}

	t.Run("consistency", func(t *testing.T) {
		// Every pair of checkpoints: a proof built by Tessera's client from
		// the HTTP tiles checks with x/mod/sumdb/tlog.CheckTree, and
		// logclient, reading the log's directory, finds them consistent.
		u, err := url.Parse(l.url + "/")
		if err != nil {
			t.Fatal(err)
		}
		fetcher, err := tclient.NewHTTPFetcher(u, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := client(t, l.dir, v, "")
		pairs := 0
		for j := 1; j < len(trees); j++ {
			pb, err := tclient.NewProofBuilder(t.Context(), uint64(trees[j].N), fetcher.ReadTile)
			if err != nil {
				t.Fatal(err)
			}
			for i := range j {
				raw, err := pb.ConsistencyProof(t.Context(), uint64(trees[i].N), uint64(trees[j].N))
				if err != nil {
					t.Fatal(err)
				}
				p := make(sumtlog.TreeProof, len(raw))
				for k := range raw {
					p[k] = sumtlog.Hash(raw[k])
				}
				if err := sumtlog.CheckTree(p, trees[j].N, trees[j].Hash, trees[i].N, trees[i].Hash); err != nil {
					t.Fatalf("CheckTree %d → %d: %v", trees[i].N, trees[j].N, err)
				}
				// The check can fail: not against another tree's root.
				if sumtlog.CheckTree(p, trees[j].N, trees[j].Hash, trees[i].N, trees[(i+1)%j].Hash) == nil && j > 1 {
					t.Fatalf("CheckTree %d → %d accepted the root of size %d", trees[i].N, trees[j].N, trees[(i+1)%j].N)
				}
				if err := c.CheckConsistency(t.Context(), cps[i], cps[j]); err != nil {
					t.Fatalf("CheckConsistency %d → %d: %v", trees[i].N, trees[j].N, err)
				}
				if err := c.CheckConsistency(t.Context(), cps[j], cps[i]); err != nil {
					t.Fatalf("CheckConsistency %d ← %d: %v", trees[i].N, trees[j].N, err)
				}
				pairs++
			}
		}
		t.Logf("%d pairs of checkpoints of sizes 1 to %d are consistent", pairs, len(trees))
	})

	t.Run("follow", func(t *testing.T) {
		// Over HTTP, the published checkpoint carries both cosignatures.
		c := client(t, l.url, v, filepath.Join(t.TempDir(), "state"))
		cp, err := c.Update(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if cp.Size != uint64(len(entries)) || len(cp.Cosignatures) != 2 {
			t.Fatalf("Update: size %d with %d cosignatures", cp.Size, len(cp.Cosignatures))
		}
		for _, i := range []uint64{0, 1, 17, 39, 40} {
			got, err := c.Entry(t.Context(), i)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, entries[i]) {
				t.Errorf("Entry(%d) differs from the submission", i)
			}
			p, err := c.Prove(t.Context(), i)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.VerifyProof(p, entries[i]); err != nil {
				t.Errorf("VerifyProof of Prove(%d): %v", i, err)
			}
			if _, err := v.VerifyProof(p, entries[(i+1)%40]); !errors.Is(err, logclient.ErrInclusion) {
				t.Errorf("VerifyProof of Prove(%d) with another entry: %v, want ErrInclusion", i, err)
			}
		}
		// The last submission's proof is for this very checkpoint: Prove
		// gives the same proof.
		p, err := c.Prove(t.Context(), 40)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(p.Inclusion) != fmt.Sprint(proofs[40].Inclusion) || p.Index != proofs[40].Index {
			t.Errorf("Prove(40) = %v, the log's proof %v", p.Inclusion, proofs[40].Inclusion)
		}
		if _, err := c.Entry(t.Context(), 41); !errors.Is(err, logclient.ErrIndexOutOfRange) {
			t.Errorf("Entry(41) of 41: %v, want ErrIndexOutOfRange", err)
		}
	})
}

// equivocate returns two logs with the same key: their first shared
// entries are the same, the rest differ.
func equivocate(t *testing.T, lk logKey, shared, a, b [][]byte, ws ...*testWitness) (*testLog, *testLog) {
	t.Helper()
	la := newTestLog(t, lk, len(ws), ws...)
	lb := newTestLog(t, lk, 0)
	for _, e := range shared {
		la.submit(t, e)
		lb.submit(t, e)
	}
	for _, e := range a {
		la.submit(t, e)
	}
	for _, e := range b {
		lb.submit(t, e)
	}
	return la, lb
}

// request formats a tlog-witness add-checkpoint body.
func request(old uint64, proof [][]byte, cp string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "old %d\n", old)
	for _, h := range proof {
		fmt.Fprintf(&b, "%s\n", base64.StdEncoding.EncodeToString(h))
	}
	b.WriteString("\n" + cp)
	return b.Bytes()
}

func post(t testing.TB, u string, body []byte) int {
	t.Helper()
	resp, err := http.Post(u+"/add-checkpoint", "text/plain", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// readCheckpoint reads a log's published checkpoint from its directory.
func readCheckpoint(t testing.TB, dir string) string {
	t.Helper()
	cp, err := os.ReadFile(filepath.Join(dir, "checkpoint"))
	if err != nil {
		t.Fatal(err)
	}
	return string(cp)
}

// A log that shows two histories, each signed with its key: the witness
// that cosigned one refuses the other, and a client that accepted one
// refuses the other with a *SplitViewError naming both trees.
func TestSplitView(t *testing.T) {
	lk := newLogKey(t)
	w := newTestWitness(t, "witness.example", lk)
	is := newIssuer(t)
	shared := is.credentials(t, "Shared", 9)
	// A: 9 shared entries and one of its own (size 10), cosigned by w.
	// B: the same 9, then 6 others: size 10 with another root, then 15.
	la, lb := equivocate(t, lk, shared, is.credentials(t, "A", 1), is.credentials(t, "B", 1), w)
	cpB10 := readCheckpoint(t, lb.dir)
	for _, e := range is.credentials(t, "B more", 5) {
		lb.submit(t, e)
	}
	cpB15 := readCheckpoint(t, lb.dir)

	// The client follows A, keeping its state in a file.
	v := verifier(t, lk, 0, w)
	state := filepath.Join(t.TempDir(), "state")
	held, err := client(t, la.url, v, state).Update(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if held.Size != 10 || len(held.Cosignatures) != 1 {
		t.Fatalf("A's checkpoint: size %d, %d cosignatures", held.Size, len(held.Cosignatures))
	}
	saved, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}

	// B shows the same size with another root, then a larger tree that
	// does not extend A's. A client restarted from its state refuses both.
	for _, c := range []struct {
		name string
		cp   string
		size uint64
	}{{"same size", cpB10, 10}, {"larger", cpB15, 15}} {
		t.Run(c.name, func(t *testing.T) {
			src := &fixedCheckpoint{Source: mustSource(t, lb.dir), cp: []byte(c.cp)}
			c2, err := logclient.NewClient(src, v, state)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c2.Update(t.Context())
			var split *logclient.SplitViewError
			if !errors.As(err, &split) {
				t.Fatalf("Update: %v, want a *SplitViewError", err)
			}
			_, presented := openIndependently(t, c.cp, lk.verifier)
			if split.OldSize != 10 || split.NewSize != c.size || split.OldRoot != held.Hash ||
				split.NewRoot != presented.Hash || split.Origin != origin {
				t.Errorf("SplitViewError %+v, want sizes 10 and %d and both roots", split, c.size)
			}
			if !bytes.Equal(split.OldNote, held.Note) || string(split.NewNote) != c.cp {
				t.Error("SplitViewError does not carry both checkpoints")
			}
			for _, want := range []string{"size 10", fmt.Sprintf("size %d", c.size), held.Hash.String(), presented.Hash.String()} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %s", err, want)
				}
			}
			if after, _ := os.ReadFile(state); !bytes.Equal(after, saved) {
				t.Error("a refused checkpoint changed the client's state")
			}
			if got := c2.Latest(); got == nil || got.Size != 10 {
				t.Errorf("after the refusal the client holds %v", got)
			}
		})
	}

	// The witness holding A's 10 refuses B's 10 (409) and B's 15 with B's
	// own consistency proof, built by Tessera's client from B's tiles (422).
	pb, err := tclient.NewProofBuilder(t.Context(), 15, tclient.FileFetcher{Root: lb.dir}.ReadTile)
	if err != nil {
		t.Fatal(err)
	}
	proof, err := pb.ConsistencyProof(t.Context(), 10, 15)
	if err != nil {
		t.Fatal(err)
	}
	before := w.w.Latest(origin)
	if got := post(t, w.url, request(10, nil, cpB10)); got != http.StatusConflict {
		t.Errorf("witness given B's checkpoint of size 10: %d, want 409", got)
	}
	if got := post(t, w.url, request(10, proof, cpB15)); got != http.StatusUnprocessableEntity {
		t.Errorf("witness given B's checkpoint of size 15: %d, want 422", got)
	}
	if !bytes.Equal(w.w.Latest(origin), before) {
		t.Error("the refused checkpoints changed the witness's state")
	}
	// B cannot even open with that witness: its first checkpoint, of the
	// empty tree, is refused.
	if _, err := openLog(t, lk, t.TempDir(), 1, w); err == nil {
		t.Error("a second log with A's key opened with A's witness")
	}
	// A goes on, and the client follows it.
	la.submit(t, is.credential(t, "A more"))
	if cp, err := client(t, la.url, v, state).Update(t.Context()); err != nil || cp.Size != 11 {
		t.Errorf("A grown to 11: %v, %v", cp, err)
	}
}

func mustSource(t testing.TB, location string) logclient.Source {
	t.Helper()
	src, err := logclient.OpenSource(location)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// fixedCheckpoint is a log's Source that serves a chosen checkpoint, as a
// stale mirror or an equivocating log does.
type fixedCheckpoint struct {
	logclient.Source
	cp []byte
}

func (s *fixedCheckpoint) ReadFile(ctx context.Context, path string) ([]byte, error) {
	if path == "checkpoint" {
		return s.cp, nil
	}
	return s.Source.ReadFile(ctx, path)
}

// A stale checkpoint, consistent with the one held, leaves the client as
// it was; the state survives a restart of the client.
func TestStaleAndRestart(t *testing.T) {
	lk := newLogKey(t)
	l := newTestLog(t, lk, 0)
	is := newIssuer(t)
	var old string
	for i, e := range is.credentials(t, "Holder", 6) {
		p := l.submit(t, e)
		if i == 2 {
			old = p.Checkpoint
		}
	}
	v := verifier(t, lk, 0)
	state := filepath.Join(t.TempDir(), "state")
	held, err := client(t, l.dir, v, state).Update(t.Context())
	if err != nil || held.Size != 6 {
		t.Fatalf("Update: %v, %v", held, err)
	}
	c, err := logclient.NewClient(&fixedCheckpoint{Source: mustSource(t, l.dir), cp: []byte(old)}, v, state)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Latest(); got == nil || !bytes.Equal(got.Note, held.Note) {
		t.Fatalf("restarted client holds %v, want the checkpoint of size 6", got)
	}
	got, err := c.Update(t.Context())
	if err != nil || got.Size != 6 {
		t.Errorf("Update with a stale checkpoint of size 3: %v, %v; want the one of size 6 kept", got, err)
	}
	// A state file that is not a checkpoint of this log is refused.
	other := newLogKey(t)
	for name, data := range map[string][]byte{
		"garbage":                 []byte("not a checkpoint\n"),
		"a truncated checkpoint":  []byte(old[:len(old)-10]),
		"signed with another key": signText(t, other, strings.SplitN(old, "\n\n", 2)[0]+"\n"),
	} {
		path := filepath.Join(t.TempDir(), "state")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := logclient.NewClient(mustSource(t, l.dir), v, path); err == nil {
			t.Errorf("NewClient with %s as state succeeded", name)
		}
	}
	if _, err := logclient.NewClient(mustSource(t, l.dir), verifier(t, other, 0), state); err == nil {
		t.Error("NewClient with the state of another log's key succeeded")
	}
}

func signText(t testing.TB, lk logKey, text string) []byte {
	t.Helper()
	cp, err := note.Sign(&note.Note{Text: text}, lk.signer)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// A client holding an old checkpoint reads its entries and tiles after the
// log has replaced the partial ones with full ones, as Tessera's garbage
// collection does.
func TestFullTileFallback(t *testing.T) {
	lk := newLogKey(t)
	l := newTestLog(t, lk, 0)
	entries := newIssuer(t).credentials(t, "Holder", 300)
	byIndex := make(map[uint64][]byte)
	submitAll := func(entries [][]byte) string {
		var mu sync.Mutex
		var last *tlog.Proof
		var wg sync.WaitGroup
		for _, e := range entries {
			wg.Go(func() {
				p, err := l.log.Submit(t.Context(), tlog.KindAuto, e)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				byIndex[p.Index] = e
				if last == nil || p.Index > last.Index {
					last = p
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		return last.Checkpoint
	}
	old := submitAll(entries[:100])
	submitAll(entries[100:])
	v := verifier(t, lk, 0)
	oldCP, err := v.Open([]byte(old))
	if err != nil {
		t.Fatal(err)
	}
	if oldCP.Size >= 256 {
		t.Fatalf("old checkpoint of size %d, want a partial first tile", oldCP.Size)
	}
	for _, dir := range []string{"tile/0/000.p", "tile/entries/000.p"} {
		if err := os.RemoveAll(filepath.Join(l.dir, dir)); err != nil {
			t.Fatal(err)
		}
	}
	state := filepath.Join(t.TempDir(), "state")
	if err := os.WriteFile(state, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	c := client(t, l.dir, v, state)
	for _, i := range []uint64{0, 50, oldCP.Size - 1} {
		got, err := c.Entry(t.Context(), i)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, byIndex[i]) {
			t.Errorf("Entry(%d) of the old tree is not the entry at that index", i)
		}
		p, err := c.Prove(t.Context(), i)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.VerifyProof(p, got); err != nil {
			t.Errorf("VerifyProof(%d): %v", i, err)
		}
	}
	cp, err := c.Update(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if cp.Size != 300 {
		t.Errorf("Update: size %d, want 300", cp.Size)
	}
}

// A log requiring 1 of 2 witnesses goes on while one is down; when that one
// is back it answers the log's stale old size with 409 and its own size,
// and the log catches it up with a consistency proof from there.
func TestOneOfTwoWitnesses(t *testing.T) {
	lk := newLogKey(t)
	w1 := newTestWitness(t, "witness1.example", lk)
	w2 := newTestWitness(t, "witness2.example", lk)
	var down sync.Mutex // held while w2 is down
	var w2Down bool
	h := w2.w.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		down.Lock()
		isDown := w2Down
		down.Unlock()
		if isDown {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	w2.url = srv.URL
	l := newTestLog(t, lk, 1, w1, w2)
	entries := newIssuer(t).credentials(t, "Holder", 12)
	v1 := verifier(t, lk, 1, w1, w2)
	cosigners := func(p *tlog.Proof) int {
		cp, err := v1.Open([]byte(p.Checkpoint))
		if err != nil {
			t.Fatal(err)
		}
		return len(cp.Cosignatures)
	}

	for _, e := range entries[:4] {
		l.submit(t, e)
	}
	held := w2.w.Latest(origin)
	down.Lock()
	w2Down = true
	down.Unlock()
	for _, e := range entries[4:8] {
		if p := l.submit(t, e); cosigners(p) != 1 {
			t.Errorf("with witness2 down, entry %d's checkpoint has %d cosignatures, want 1", p.Index, cosigners(p))
		}
	}
	if !bytes.Equal(w2.w.Latest(origin), held) {
		t.Fatal("witness2 changed while down")
	}
	down.Lock()
	w2Down = false
	down.Unlock()
	// Tessera publishes as soon as one witness has cosigned and stops
	// waiting for the other, so witness2 catches up with some checkpoint
	// after its return, not necessarily each.
	both := 0
	for _, e := range entries[8:] {
		if cosigners(l.submit(t, e)) == 2 {
			both++
		}
	}
	_, tree := openIndependently(t, string(w2.w.Latest(origin)), lk.verifier)
	t.Logf("after its return witness2 holds size %d; %d of 4 checkpoints carry both cosignatures", tree.N, both)
	if tree.N <= 8 {
		t.Errorf("witness2 holds size %d, not one after its return", tree.N)
	}
}
