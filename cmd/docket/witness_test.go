package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/node/logclient"
	"github.com/docket-project/docket/node/tlog"
	"github.com/docket-project/docket/protocol"
)

// docketCmd returns a docket command: the test binary, which TestMain runs
// as docket when it is called by that name (testscript puts it on PATH).
func docketCmd(t *testing.T, dir string, args ...string) *exec.Cmd {
	t.Helper()
	path, err := exec.LookPath("docket")
	if err != nil {
		t.Fatalf("docket is not on PATH: %v", err)
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	return cmd
}

// docket runs a docket command to completion and returns its stdout,
// stderr and exit status.
func docket(t *testing.T, dir string, args ...string) (string, string, int) {
	t.Helper()
	cmd := docketCmd(t, dir, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return stdout.String(), stderr.String(), exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), 0
}

// mustDocket runs a docket command that must succeed.
func mustDocket(t *testing.T, dir string, args ...string) string {
	t.Helper()
	stdout, stderr, status := docket(t, dir, args...)
	if status != 0 {
		t.Fatalf("docket %s: status %d\n%s", strings.Join(args, " "), status, stderr)
	}
	return stdout
}

// syncBuffer collects a process's standard error.
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

// server is a docket serving verb running as a process.
type server struct {
	cmd    *exec.Cmd
	url    string
	stderr *syncBuffer
	done   chan error
}

var servingRE = regexp.MustCompile(` serving on (http://127\.0\.0\.1:\d+)$`)

// serve starts a docket serving verb and waits, at most 30 seconds, for
// the line saying where it serves.
func serve(t *testing.T, dir string, args ...string) *server {
	t.Helper()
	cmd := docketCmd(t, dir, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			t.Logf("docket %s:\n%s", strings.Join(args, " "), s.stderr)
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
		s.done <- cmd.Wait()
	}()
	select {
	case line, ok := <-lines:
		m := servingRE.FindStringSubmatch(line)
		if !ok || m == nil {
			t.Fatalf("docket %s printed %q\n%s", strings.Join(args, " "), line, s.stderr)
		}
		s.url = m[1]
	case <-time.After(30 * time.Second):
		t.Fatalf("docket %s did not start in 30 s\n%s", strings.Join(args, " "), s.stderr)
	}
	return s
}

// stop interrupts the server and waits, at most 20 seconds, for it to exit.
func (s *server) stop(t *testing.T) {
	if s.cmd.ProcessState != nil || s.done == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("docket exited: %v\n%s", err, s.stderr)
		}
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		t.Errorf("docket did not stop on SIGTERM in 20 s")
	}
	s.done = nil
}

// verifierKey returns the key "docket ... keygen" printed.
func verifierKey(t *testing.T, stdout string) string {
	t.Helper()
	k, ok := strings.CutPrefix(strings.TrimSpace(stdout), "verifier key: ")
	if !ok {
		t.Fatalf("keygen printed %q", stdout)
	}
	return k
}

// The log, two witnesses and the log's readers as separate docket
// processes on loopback: every checkpoint the log publishes carries both
// cosignatures, entries and proofs read back verify, a restarted witness
// refuses to go back, and a reader with state refuses an equivocating log.
func TestWitnessedLogProcesses(t *testing.T) {
	dir := t.TempDir()
	logKey := verifierKey(t, mustDocket(t, dir, "log", "keygen", "--name", "docket.example/log", "--out", "log.key"))
	w1Key := verifierKey(t, mustDocket(t, dir, "witness", "keygen", "--name", "witness1.example", "--out", "w1.key"))
	w2Key := verifierKey(t, mustDocket(t, dir, "witness", "keygen", "--name", "witness2.example", "--out", "w2.key"))

	follow := "docket.example/log=" + logKey
	w1 := serve(t, dir, "witness", "serve", "--key", "w1.key", "--log", follow, "--state", "w1", "--listen", "127.0.0.1:0")
	w2 := serve(t, dir, "witness", "serve", "--key", "w2.key", "--log", follow, "--state", "w2", "--listen", "127.0.0.1:0")
	logServe := []string{"log", "serve", "--dir", "logdir", "--key", "log.key", "--listen", "127.0.0.1:0",
		"--witness", w1Key + "=" + w1.url, "--witness", w2Key + "=" + w2.url}

	// With a witness down, a new log cannot publish its first checkpoint
	// and does not start; once the witness is back, it does.
	w2.stop(t)
	if _, stderr, status := docket(t, dir, logServe...); status != 1 || !strings.Contains(stderr, "witness policy was not satisfied") {
		t.Fatalf("docket log serve with a witness down: status %d\n%s", status, stderr)
	}
	w2 = serve(t, dir, "witness", "serve", "--key", "w2.key", "--log", follow, "--state", "w2",
		"--listen", strings.TrimPrefix(w2.url, "http://"))
	logSrv := serve(t, dir, logServe...)

	// Three credentials, submitted one by one.
	registrar, err := sign.Generate(sign.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	creds := make([][]byte, 3)
	proofs := make([]tlog.Proof, 3)
	for i := range creds {
		creds[i] = testCredential(t, registrar, fmt.Sprintf("Holder %d", i))
		name := fmt.Sprintf("cred%d.json", i)
		if err := os.WriteFile(filepath.Join(dir, name), creds[i], 0o644); err != nil {
			t.Fatal(err)
		}
		out := mustDocket(t, dir, "log", "submit", "--url", logSrv.url, name)
		if err := json.Unmarshal([]byte(out), &proofs[i]); err != nil {
			t.Fatal(err)
		}
	}

	// The proofs' checkpoints carry the log's signature and both
	// cosignatures, checked with x/mod/sumdb/note alone.
	lv, err := note.NewVerifier(logKey)
	if err != nil {
		t.Fatal(err)
	}
	var wvs []note.Verifier
	for _, k := range []string{w1Key, w2Key} {
		v, err := fnote.NewVerifierForCosignatureV1(k)
		if err != nil {
			t.Fatal(err)
		}
		wvs = append(wvs, v)
	}
	for i, p := range proofs {
		n, err := note.Open([]byte(p.Checkpoint), note.VerifierList(append([]note.Verifier{lv}, wvs...)...))
		if err != nil || len(n.Sigs) != 3 {
			t.Fatalf("checkpoint of submission %d: %v, %d signatures", i, err, len(n.Sigs))
		}
	}

	// log get and log prove, over HTTP and from the directory, requiring
	// both cosignatures.
	read := []string{"--key", logKey, "--witness-key", w1Key, "--witness-key", w2Key}
	for _, location := range []string{logSrv.url, "logdir"} {
		for i, cred := range creds {
			got := mustDocket(t, dir, append([]string{"log", "get", fmt.Sprint(i), "--log", location}, read...)...)
			if got != string(cred) {
				t.Errorf("docket log get %d --log %s: %q, want the credential submitted", i, location, got)
			}
		}
	}
	v, err := logclient.NewVerifier(logKey, []string{w1Key, w2Key}, 2)
	if err != nil {
		t.Fatal(err)
	}
	out := mustDocket(t, dir, append([]string{"log", "prove", "1", "--log", "logdir", "--state", "reader.state"}, read...)...)
	var p tlog.Proof
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatal(err)
	}
	if cp, err := v.VerifyProof(&p, creds[1]); err != nil || cp.Size != 3 {
		t.Errorf("docket log prove 1: %v (size %v)\n%s", err, cp, out)
	}

	// A restarted witness holds what it cosigned: it refuses the first
	// checkpoint again, and the log goes on with it.
	w1.stop(t)
	w1 = serve(t, dir, "witness", "serve", "--key", "w1.key", "--log", follow, "--state", "w1",
		"--listen", strings.TrimPrefix(w1.url, "http://"))
	resp, err := http.Post(w1.url+"/add-checkpoint", "text/plain", strings.NewReader("old 0\n\n"+proofs[0].Checkpoint))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict || string(body) != "3\n" {
		t.Errorf("restarted witness given the checkpoint of size 1: %s %q, want 409 \"3\\n\"", resp.Status, body)
	}
	if err := os.WriteFile(filepath.Join(dir, "cred3.json"), testCredential(t, registrar, "Holder 3"), 0o644); err != nil {
		t.Fatal(err)
	}
	out = mustDocket(t, dir, "log", "submit", "--url", logSrv.url, "cred3.json")
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatal(err)
	}
	if cp, err := v.Open([]byte(p.Checkpoint)); err != nil || cp.Size != 4 {
		t.Errorf("after the witness restarted: %v, %v", cp, err)
	}

	// Another log with the same key and other entries: the reader whose
	// state holds the first log's checkpoint of size 3 refuses its
	// checkpoint of size 4.
	logSrv.stop(t)
	other := serve(t, dir, "log", "serve", "--dir", "otherdir", "--key", "log.key", "--listen", "127.0.0.1:0")
	for i := range 4 {
		name := fmt.Sprintf("x%d.json", i)
		if err := os.WriteFile(filepath.Join(dir, name), testCredential(t, registrar, fmt.Sprintf("Other Holder %d", i)), 0o644); err != nil {
			t.Fatal(err)
		}
		mustDocket(t, dir, "log", "submit", "--url", other.url, name)
	}
	stateBefore, err := os.ReadFile(filepath.Join(dir, "reader.state"))
	if err != nil {
		t.Fatal(err)
	}
	_, stderr, status := docket(t, dir, "log", "get", "0", "--log", other.url, "--key", logKey, "--state", "reader.state")
	if status != 1 || !strings.Contains(stderr, "docket: error: split view of log docket.example/log: the checkpoint of size 4 ") ||
		!strings.Contains(stderr, "one of size 3") || !strings.Contains(stderr, "reader.state") {
		t.Errorf("docket log get from the equivocating log: status %d\n%s", status, stderr)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "reader.state")); !bytes.Equal(after, stateBefore) {
		t.Error("the refused checkpoint replaced the reader's state")
	}
	// Without the witnesses' cosignatures the other log's checkpoint is
	// refused outright.
	_, stderr, status = docket(t, dir, append([]string{"log", "get", "0", "--log", other.url}, read...)...)
	if status != 1 || !strings.Contains(stderr, "has 0 valid witness cosignatures, 2 required") {
		t.Errorf("docket log get requiring cosignatures from an unwitnessed log: status %d\n%s", status, stderr)
	}
}

// testCredential issues a credential to a holder called name.
func testCredential(t *testing.T, registrar *sign.PrivateKey, name string) []byte {
	t.Helper()
	cred, _, err := protocol.IssueCredential(registrar, protocol.Credential{
		Subject:   protocol.Subject{Name: name, PublicKey: registrar.Public().DER()},
		Works:     []protocol.Work{{ID: "film-1", Title: "A Film", Content: []protocol.ContentID{"btih:c9e15763f722f23e98a29decdfae341b98d53056"}}},
		Scope:     protocol.Scope{Regions: []string{"DE"}},
		NotBefore: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:  time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC),
	})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}
