package tlog_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"

	"github.com/docket-project/docket/node/tlog"
)

// Crash test settings: the server is killed crashKills times, each time
// after a random moment of load within crashLoad.
const (
	crashKills     = 6
	crashWorkers   = 64
	crashMinLoad   = 150 * time.Millisecond
	crashMaxLoad   = 1500 * time.Millisecond
	crashDedupTrys = 4 // acknowledged objects submitted again after each restart
)

// TestCrash runs "docket log serve" as a real process, submits objects to
// it over HTTP from many workers at once, and kills it with SIGKILL at
// random moments. After every restart it verifies the whole log from
// scratch with x/mod/sumdb (every entry bundle and tile, and the signed
// checkpoint's root), checks that every submission acknowledged with an
// inclusion proof is at its index with the same bytes, that the log still
// contains the tree of every checkpoint seen before the crash, and that an
// acknowledged object submitted again keeps its index.
func TestCrash(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds docket and runs it; skipped with -short")
	}
	dir := t.TempDir()
	docket := filepath.Join(dir, "docket")
	start := time.Now()
	if out, err := exec.Command("go", "build", "-o", docket, "github.com/docket-project/docket/cmd/docket").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("built docket in %v", time.Since(start).Round(time.Millisecond))

	keyFile := filepath.Join(dir, "log.key")
	out, err := exec.Command(docket, "log", "keygen", "--name", origin, "--out", keyFile).Output()
	if err != nil {
		t.Fatalf("docket log keygen: %v", err)
	}
	vkey, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "verifier key: ")
	if !ok {
		t.Fatalf("docket log keygen printed %q", out)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}

	seed := uint64(time.Now().UnixNano())
	t.Logf("random seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	logDir := filepath.Join(dir, "log")
	c := &crashRun{t: t, verifier: verifier, o: newObjects(t), acked: map[uint64][]byte{}, seen: map[int64]sumtlog.Hash{}}
	for round := 0; round <= crashKills; round++ {
		srv := startLog(t, docket, logDir, keyFile)
		c.url = srv.url
		tree, entries := c.verifyLog()
		c.verifyAcked(tree, entries)
		c.verifyDedup(rng)
		if round == crashKills {
			t.Logf("after %d kills: %d entries, %d acknowledged submissions, %d refused with 503, in %v",
				crashKills, tree.N, len(c.acked), c.pushedBack, time.Since(start).Round(time.Millisecond))
			srv.stop(t)
			break
		}
		load := crashMinLoad + time.Duration(rng.Int64N(int64(crashMaxLoad-crashMinLoad)))
		n := len(c.acked)
		c.drive(srv, load)
		t.Logf("round %d: log of %d entries, %d submissions acknowledged in %v, then SIGKILL",
			round, tree.N, len(c.acked)-n, load.Round(time.Millisecond))
	}
}

// logProcess is a running "docket log serve".
type logProcess struct {
	cmd    *exec.Cmd
	url    string
	stderr *bytes.Buffer
	exited chan struct{}
}

// startLog starts "docket log serve" on a free loopback port and waits for
// it to say where it serves.
func startLog(t *testing.T, docket, dir, key string) *logProcess {
	t.Helper()
	cmd := exec.Command(docket, "log", "serve", "--dir", dir, "--key", key, "--listen", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &logProcess{cmd: cmd, stderr: &bytes.Buffer{}, exited: make(chan struct{})}
	cmd.Stderr = &lockedWriter{w: p.stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() { p.kill() })
	addr := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			if _, u, ok := strings.Cut(s.Text(), " serving on "); ok {
				addr <- u
			}
		}
	}()
	select {
	case p.url = <-addr:
	case <-p.exited:
		t.Fatalf("docket log serve exited: %s", p.stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("docket log serve did not start in 30s: %s", p.stderr)
	}
	return p
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *logProcess) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// stop interrupts the process, which closes the log, and waits for it.
func (p *logProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
		if !p.cmd.ProcessState.Success() {
			t.Errorf("docket log serve ended with %v: %s", p.cmd.ProcessState, p.stderr)
		}
	case <-time.After(20 * time.Second):
		p.kill()
		t.Errorf("docket log serve did not stop on SIGINT: %s", p.stderr)
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// crashRun is the state a crash test keeps across restarts.
type crashRun struct {
	t        *testing.T
	verifier note.Verifier
	o        *objects
	url      string

	mu         sync.Mutex
	acked      map[uint64][]byte      // index → bytes of each acknowledged submission
	seen       map[int64]sumtlog.Hash // size → root of checkpoints seen since the last restart
	pushedBack int
	next       int // names fresh objects
}

func (c *crashRun) get(path string) []byte {
	c.t.Helper()
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(c.url + "/" + path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		c.t.Fatalf("GET /%s: %d %v", path, resp.StatusCode, err)
	}
	return body
}

// openCheckpoint verifies a checkpoint with x/mod/sumdb/note.
func (c *crashRun) openCheckpoint(cp []byte) sumtlog.Tree {
	c.t.Helper()
	tree, err := parseCheckpoint(c.verifier, cp)
	if err != nil {
		c.t.Fatal(err)
	}
	return tree
}

// verifyLog reads the whole log over HTTP and verifies it from scratch,
// with x/mod/sumdb/tlog: the checkpoint's signature, every entry bundle,
// every tile, and the root. It returns the tree and its entries.
func (c *crashRun) verifyLog() (sumtlog.Tree, [][]byte) {
	t := c.t
	t.Helper()
	tree := c.openCheckpoint(c.get("checkpoint"))
	var entries [][]byte
	for b := int64(0); b*256 < tree.N; b++ {
		path := "tile/entries/" + tilesIndex(b)
		w := min(tree.N-b*256, 256)
		if w < 256 {
			path += fmt.Sprintf(".p/%d", w)
		}
		data := c.get(path)
		for i := int64(0); i < w; i++ {
			if len(data) < 2 || len(data) < 2+int(binary.BigEndian.Uint16(data)) {
				t.Fatalf("/%s holds fewer than %d entries", path, w)
			}
			n := int(binary.BigEndian.Uint16(data))
			entries = append(entries, data[2:2+n])
			data = data[2+n:]
		}
		if len(data) != 0 {
			t.Fatalf("/%s holds more than %d entries", path, w)
		}
	}
	var stored []sumtlog.Hash
	hr := sumtlog.HashReaderFunc(func(indexes []int64) ([]sumtlog.Hash, error) {
		out := make([]sumtlog.Hash, len(indexes))
		for i, x := range indexes {
			if x >= int64(len(stored)) {
				return nil, fmt.Errorf("stored hash %d not computed", x)
			}
			out[i] = stored[x]
		}
		return out, nil
	})
	for i, e := range entries {
		hashes, err := sumtlog.StoredHashes(int64(i), e, hr)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hashes...)
	}
	if root, err := sumtlog.TreeHash(tree.N, hr); err != nil || root != tree.Hash {
		t.Fatalf("entries of the log hash to %v (%v), the checkpoint says %v", root, err, tree.Hash)
	}
	for _, tile := range sumtlog.NewTiles(8, 0, tree.N) {
		want, err := sumtlog.ReadTileData(tile, hr)
		if err != nil {
			t.Fatal(err)
		}
		path := "tile/" + strings.TrimPrefix(tile.Path(), "tile/8/")
		if got := c.get(path); !bytes.Equal(got, want) {
			t.Fatalf("/%s differs from the tile computed from the entries", path)
		}
	}
	// Every checkpoint seen before is a prefix of this tree.
	c.mu.Lock()
	defer c.mu.Unlock()
	for n, hash := range c.seen {
		if n > tree.N {
			t.Fatalf("log shrank from %d to %d entries", n, tree.N)
		}
		if root, err := sumtlog.TreeHash(n, hr); err != nil || root != hash {
			t.Fatalf("tree of %d entries has root %v now, %v in a checkpoint before the crash", n, root, hash)
		}
	}
	clear(c.seen)
	c.seen[tree.N] = tree.Hash
	return tree, entries
}

// verifyAcked checks that every acknowledged submission is in the log at
// its index with identical bytes.
func (c *crashRun) verifyAcked(tree sumtlog.Tree, entries [][]byte) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for index, object := range c.acked {
		if int64(index) >= tree.N {
			c.t.Fatalf("acknowledged entry %d is missing from a log of %d entries", index, tree.N)
		}
		if !bytes.Equal(entries[index], object) {
			c.t.Fatalf("entry %d differs from the acknowledged submission", index)
		}
	}
}

// verifyDedup submits some acknowledged objects again: each keeps its
// index.
func (c *crashRun) verifyDedup(rng *rand.Rand) {
	c.t.Helper()
	c.mu.Lock()
	var sample []uint64
	for index := range c.acked {
		sample = append(sample, index)
	}
	c.mu.Unlock()
	for range min(crashDedupTrys, len(sample)) {
		index := sample[rng.IntN(len(sample))]
		c.mu.Lock()
		object := c.acked[index]
		c.mu.Unlock()
		p, status, err := c.post(context.Background(), object)
		if err != nil || status != http.StatusOK {
			c.t.Fatalf("submitting entry %d again: %d %v", index, status, err)
		}
		if p.Index != index {
			c.t.Fatalf("entry %d submitted again after a crash got index %d", index, p.Index)
		}
	}
}

// post submits an object and, on HTTP 200, decodes its proof.
func (c *crashRun) post(ctx context.Context, object []byte) (*tlog.Proof, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url+"/add", bytes.NewReader(object))
	if err != nil {
		return nil, 0, err
	}
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, resp.StatusCode, err
	}
	var p tlog.Proof
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, resp.StatusCode, err
	}
	return &p, resp.StatusCode, nil
}

// drive submits fresh objects from crashWorkers workers for load, then
// kills the server, and records every acknowledged submission after
// checking its proof.
func (c *crashRun) drive(srv *logProcess, load time.Duration) {
	t := c.t
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errs := make(chan error, crashWorkers)
	var wg sync.WaitGroup
	for range crashWorkers {
		wg.Go(func() {
			for ctx.Err() == nil {
				c.mu.Lock()
				c.next++
				name := fmt.Sprintf("Holder %d", c.next)
				c.mu.Unlock()
				object, _, err := c.o.issue(name)
				if err != nil {
					errs <- err
					return
				}
				p, status, err := c.post(ctx, object)
				switch {
				case err != nil && status == 0:
					return // the server is gone
				case status == http.StatusServiceUnavailable:
					c.mu.Lock()
					c.pushedBack++
					c.mu.Unlock()
					time.Sleep(10 * time.Millisecond)
					continue
				case err != nil || status != http.StatusOK:
					errs <- fmt.Errorf("POST /add: %d %v", status, err)
					return
				}
				tree, err := checkProof(c.verifier, p, object)
				if err != nil {
					errs <- err
					return
				}
				c.mu.Lock()
				c.acked[p.Index] = object
				if hash, ok := c.seen[tree.N]; ok && hash != tree.Hash {
					err = fmt.Errorf("two checkpoints of %d entries with different roots", tree.N)
				}
				c.seen[tree.N] = tree.Hash
				c.mu.Unlock()
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	time.Sleep(load)
	srv.kill()
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// checkProof verifies a proof of a one-entry object with x/mod/sumdb: the
// checkpoint's signature and the inclusion proof.
func checkProof(v note.Verifier, p *tlog.Proof, object []byte) (sumtlog.Tree, error) {
	tree, err := parseCheckpoint(v, []byte(p.Checkpoint))
	if err != nil {
		return tree, err
	}
	if len(p.More) != 0 {
		return tree, fmt.Errorf("proof of a one-entry object covers %d entries", 1+len(p.More))
	}
	proof := make([]sumtlog.Hash, len(p.Inclusion))
	for i, h := range p.Inclusion {
		if len(h) != sumtlog.HashSize {
			return tree, fmt.Errorf("proof hash of %d bytes", len(h))
		}
		proof[i] = sumtlog.Hash(h)
	}
	return tree, checkRecord(proof, tree, int64(p.Index), object)
}
