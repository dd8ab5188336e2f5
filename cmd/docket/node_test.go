package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/enforce"
	"github.com/docket-project/docket/enforce/dryrun"
	"github.com/docket-project/docket/node/daemon"
	"github.com/docket-project/docket/node/logclient"
	"github.com/docket-project/docket/protocol"
)

// nodeProc is a "docket node run" process.
type nodeProc struct {
	dir    string // the node's directory, holding docket.toml and data/
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan error
	info   daemon.RunInfo
}

// startNode runs "docket node run -c DIR/docket.toml" and waits, at most
// 30 seconds, until the node has written its run file.
func startNode(t *testing.T, dir string) *nodeProc {
	t.Helper()
	n := &nodeProc{dir: dir, stderr: &syncBuffer{}, done: make(chan error, 1)}
	n.cmd = docketCmd(t, dir, "node", "run", "-c", daemon.StarterConfigFile)
	n.cmd.Stderr = n.stderr
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { n.done <- n.cmd.Wait() }()
	t.Cleanup(func() {
		n.stop(t)
		if t.Failed() {
			t.Logf("node %s:\n%s", filepath.Base(dir), n.stderr)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		data, err := os.ReadFile(filepath.Join(dir, "data", daemon.RunFile))
		if err == nil && json.Unmarshal(data, &n.info) == nil && n.info.PID == n.cmd.Process.Pid {
			return n
		}
		select {
		case err := <-n.done:
			t.Fatalf("node %s exited: %v\n%s", filepath.Base(dir), err, n.stderr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s did not start in 30 s\n%s", filepath.Base(dir), n.stderr)
		}
	}
}

// stop sends SIGTERM and waits, at most 20 seconds, for a clean exit.
func (n *nodeProc) stop(t *testing.T) {
	if n.done == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-n.done:
		if err != nil {
			t.Errorf("node %s exited: %v", filepath.Base(n.dir), err)
		}
	case <-time.After(20 * time.Second):
		_ = n.cmd.Process.Kill()
		t.Errorf("node %s did not stop on SIGTERM in 20 s", filepath.Base(n.dir))
	}
	n.done = nil
}

// kill kills the node with SIGKILL.
func (n *nodeProc) kill(t *testing.T) {
	_ = n.cmd.Process.Kill()
	<-n.done
	n.done = nil
}

// status reads the node's /status.
func (n *nodeProc) status(t *testing.T) *daemon.Status {
	t.Helper()
	var st daemon.Status
	getJSON(t, n.info.Admin+"/status", &st)
	return &st
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v\n%s", url, err, body)
	}
}

// editConfig loads DIR/docket.toml, lets edit change it and writes it
// back.
func editConfig(t *testing.T, dir string, edit func(*daemon.Config)) {
	t.Helper()
	path := filepath.Join(dir, daemon.StarterConfigFile)
	cfg, err := daemon.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	// Every node on loopback, its ports chosen by the system.
	cfg.P2P.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.P2P.DialPrefixes = []string{"127.0.0.0/8"}
	cfg.Admin.Listen = "127.0.0.1:0"
	edit(cfg)
	data, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

var printedRE = regexp.MustCompile(`(?m)^(verifier key|peer id): +(\S+)$`)

// printed returns what "docket node init" printed after "what: ".
func printed(t *testing.T, out, what string) string {
	t.Helper()
	for _, m := range printedRE.FindAllStringSubmatch(out, -1) {
		if m[1] == what {
			return m[2]
		}
	}
	t.Fatalf("node init did not print %q:\n%s", what, out)
	return ""
}

// TestNodeProcesses runs a federation as separate "docket node run"
// processes on loopback, each configured by "docket node init": a witness,
// a registrar with the log, a claimant and two ISPs with the dry-run
// backend. A pre-built assertion dropped in the claimant's watch
// directory is logged, gossiped and enforced by each ISP on its own pairs
// only, and both receipts land in the log, whose checkpoints the witness
// cosigns. Then isp-a is killed with SIGKILL and restarted: its store,
// enforced state and view of the log come back, and the assertion
// published again is refused as a replay without a second receipt.
func TestNodeProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts five docket processes")
	}
	root := t.TempDir()
	dirs := map[string]string{}
	for _, name := range []string{"witness", "registry", "claimant", "isp-a", "isp-b"} {
		dirs[name] = filepath.Join(root, name)
	}
	witnessKey := printed(t, mustDocket(t, root, "node", "init", "witness", "--dir", "witness", "--witness-name", "docket.test/w1"), "verifier key")
	logKey := printed(t, mustDocket(t, root, "node", "init", "registrar,log", "--dir", "registry", "--log-origin", "docket.test/log"), "verifier key")
	mustDocket(t, root, "node", "init", "claimant", "--dir", "claimant")
	for _, isp := range []string{"isp-a", "isp-b"} {
		mustDocket(t, root, "node", "init", "isp", "--dir", isp, "--isp-name", isp, "--region", "DE")
	}
	mustDocket(t, root, "credential", "issue", "--key", "registry/keys/registrar.key", "--subject", "claimant/keys/claimant.pub",
		"--name", "Example Records", "--work-id", "work-1", "--title", "Night Trains", "--content", "btih:c9e15763f722f23e98a29decdfae341b98d53056",
		"--isp", "isp-a", "--isp", "isp-b", "--valid", "720h", "--out", "claimant/claimant.cred.json")

	// The witness follows the log; the log asks the witness to cosign.
	editConfig(t, dirs["witness"], func(c *daemon.Config) {
		c.Trust.Logs = []daemon.TrustedLog{{Key: logKey}}
		c.Witness.Listen = "127.0.0.1:0"
	})
	wit := startNode(t, dirs["witness"])
	trustWitness := []daemon.TrustedWitness{{Key: witnessKey, URL: wit.info.Witness}}
	editConfig(t, dirs["registry"], func(c *daemon.Config) {
		c.Log.Listen = "127.0.0.1:0"
		c.Trust.Witnesses = trustWitness
		c.Trust.ISPs = []string{filepath.Join(dirs["isp-a"], "keys", "isp.pub"), filepath.Join(dirs["isp-b"], "keys", "isp.pub")}
	})
	reg := startNode(t, dirs["registry"])

	trust := func(c *daemon.Config) {
		c.Trust.Logs = []daemon.TrustedLog{{Key: logKey, URL: reg.info.Log}}
		c.Trust.Witnesses = []daemon.TrustedWitness{{Key: witnessKey}}
		c.Trust.Registrars = []string{filepath.Join(dirs["registry"], "keys", "registrar.pub")}
		c.P2P.Peers = reg.info.P2P
	}
	prefixes := map[string][]string{"isp-a": {"198.51.100.0/25"}, "isp-b": {"198.51.100.128/25", "2001:db8::/32"}}
	isps := map[string]*nodeProc{}
	for _, name := range []string{"isp-a", "isp-b"} {
		editConfig(t, dirs[name], func(c *daemon.Config) {
			trust(c)
			c.ISP.Prefixes = prefixes[name]
			c.ISP.PermittedPrefixes = []string{"198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"}
			c.ISP.ReceiptRetry = "1s"
		})
		isps[name] = startNode(t, dirs[name])
	}
	editConfig(t, dirs["claimant"], func(c *daemon.Config) {
		trust(c)
		c.Trust.ISPs = []string{filepath.Join(dirs["isp-a"], "keys", "isp.pub"), filepath.Join(dirs["isp-b"], "keys", "isp.pub")}
	})
	cl := startNode(t, dirs["claimant"])

	// The claimant learns both ISPs from their announcements.
	var dir protocol.Directory
	waitFor(t, 30*time.Second, "the claimant's directory to hold both ISPs", func() bool {
		getJSON(t, cl.info.Admin+"/directory", &dir)
		return len(dir.ISPs) == 2
	})
	dirJSON, err := json.Marshal(&dir)
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(root, "directory.json"), dirJSON)
	writeTestFile(t, filepath.Join(root, "observation.json"), nodeObservation(t, time.Now().Add(-5*time.Second)))
	mustDocket(t, root, "assert", "build", "--key", "claimant/keys/claimant.key", "--credential", "claimant/claimant.cred.json",
		"--observation", "observation.json", "--directory", "directory.json", "--out", "assertion.json")
	bundle, err := os.ReadFile(filepath.Join(root, "assertion.json"))
	if err != nil {
		t.Fatal(err)
	}
	sa, err := protocol.DecodeAssertion(bundle)
	if err != nil {
		t.Fatal(err)
	}
	// Publish it through the claimant's watch directory.
	writeTestFile(t, filepath.Join(dirs["claimant"], "outbox", "assertion.json"), bundle)
	waitFor(t, 30*time.Second, "the assertion to be published", func() bool {
		_, err := os.Stat(filepath.Join(dirs["claimant"], "outbox", "done", "assertion.json"))
		return err == nil
	})

	wantPairs := map[string]int{"isp-a": 5, "isp-b": 3}
	ispKeys := map[string]*sign.PublicKey{}
	for name, n := range isps {
		waitFor(t, 30*time.Second, name+" to apply the assertion", func() bool { return n.status(t).ISP.Applied == 1 })
		checkNodePairs(t, name, readDryrun(t, dirs[name]), prefixes[name], wantPairs[name])
		ispKeys[name] = readPub(t, filepath.Join(dirs[name], "keys", "isp.pub"))
	}
	var receipts map[string][]protocol.Receipt
	waitFor(t, 30*time.Second, "both receipts in the log", func() bool {
		receipts = logReceipts(t, reg.info.Log, logKey, witnessKey, ispKeys, sa.ID)
		return len(receipts["isp-a"]) == 1 && len(receipts["isp-b"]) == 1
	})
	for name, rs := range receipts {
		if r := rs[0]; r.Verdict != protocol.VerdictApplied || r.Pairs != wantPairs[name] {
			t.Errorf("%s's receipt: %+v, want applied with %d pairs", name, r, wantPairs[name])
		}
	}

	// Kill isp-a without warning and start it again.
	before := isps["isp-a"].status(t).ISP
	statePairs := readDryrun(t, dirs["isp-a"])
	isps["isp-a"].kill(t)
	isps["isp-a"] = startNode(t, dirs["isp-a"])
	after := isps["isp-a"].status(t).ISP
	if after.Enforcements != 1 || after.Pairs != wantPairs["isp-a"] || after.PendingReceipts != 0 {
		t.Errorf("isp-a's store after the restart: %+v", after)
	}
	if after.Checkpoints["docket.test/log"] != before.Checkpoints["docket.test/log"] || after.Checkpoints["docket.test/log"] == 0 {
		t.Errorf("isp-a's view of the log: %v before the restart, %v after", before.Checkpoints, after.Checkpoints)
	}
	if got := readDryrun(t, dirs["isp-a"]); fmt.Sprint(got) != fmt.Sprint(statePairs) {
		t.Errorf("isp-a's enforced state after the restart:\n%v\nbefore:\n%v", got, statePairs)
	}

	// The assertion again: isp-a refuses it as a replay, without a
	// receipt. Its mesh may take a heartbeat to re-form: each retry first
	// grows the log, so that the message is new.
	for attempt := 1; ; attempt++ {
		waitFor(t, 30*time.Second, "isp-a to reconnect", func() bool { return len(isps["isp-a"].status(t).Peers) > 0 })
		resp, err := http.Post(cl.info.Admin+"/publish", "application/json", bytes.NewReader(bundle))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /publish: %s\n%s", resp.Status, body)
		}
		if waitUntil(10*time.Second, func() bool { return isps["isp-a"].status(t).ISP.Rejected["REPLAYED"] >= 1 }) {
			break
		}
		if attempt == 3 {
			t.Fatal("isp-a never received the republished assertion")
		}
		name := fmt.Sprintf("filler%d.json", attempt)
		writeTestFile(t, filepath.Join(root, name), testCredential(t, mustKey(t), name))
		mustDocket(t, root, "log", "submit", "--url", reg.info.Log, name)
	}
	if st := isps["isp-a"].status(t).ISP; st.Applied != 0 || st.Enforcements != 1 {
		t.Errorf("isp-a after the replay: %+v", st)
	}
	receipts = logReceipts(t, reg.info.Log, logKey, witnessKey, ispKeys, sa.ID)
	if n := len(receipts["isp-a"]); n != 1 {
		t.Errorf("isp-a has %d receipts for the assertion in the log, want 1", n)
	}
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !waitUntil(timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

// waitUntil polls cond every 100 ms for at most timeout.
func waitUntil(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

func writeTestFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	// Written under another name and renamed, so that a watcher never
	// reads half of it.
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func mustKey(t *testing.T) *sign.PrivateKey {
	t.Helper()
	k, err := sign.Generate(sign.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func readPub(t *testing.T, path string) *sign.PublicKey {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k, err := sign.ParsePublicKeyPEM(data)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// nodeObservation is an observation ending at end of a swarm with two
// verified-transfer subscribers of isp-a, one of isp-b and one address no
// ISP serves.
func nodeObservation(t *testing.T, end time.Time) []byte {
	t.Helper()
	end = end.UTC().Truncate(time.Second)
	obs := protocol.Observation{
		Content: "btih:c9e15763f722f23e98a29decdfae341b98d53056", Swarm: "btih:c9e15763f722f23e98a29decdfae341b98d53056",
		PieceCount: 1000, Observed: protocol.Window{Start: end.Add(-10 * time.Minute), End: end},
	}
	for i, addr := range []string{"198.51.100.10", "198.51.100.20", "198.51.100.200", "203.0.113.9"} {
		obs.Peers = append(obs.Peers, protocol.ObservedPeer{Addr: netip.MustParseAddr(addr), Evidence: protocol.Evidence{
			Grade: protocol.GradeVerifiedTransfer, Port: uint16(6881 + i), Source: "tracker", Transport: "tcp",
			FirstSeen: end.Add(-9 * time.Minute), LastSeen: end.Add(-5 * time.Minute),
			PeerID: fmt.Sprintf("%040x", i+1), Client: "Transmission 3.00", Bytes: 16384,
			Pieces: []protocol.PieceProof{{Index: i, Hash: fmt.Sprintf("%040x", i+7), At: end.Add(-8 * time.Minute)}},
		}})
	}
	data, err := json.Marshal(&obs)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// readDryrun reads an ISP node's dry-run state.
func readDryrun(t *testing.T, dir string) []enforce.Pair {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "data", "dryrun.json"))
	if err != nil {
		t.Fatal(err)
	}
	pairs, err := dryrun.Unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	return pairs
}

// checkNodePairs checks that an ISP enforces want pairs, each with its
// local end in the ISP's prefixes.
func checkNodePairs(t *testing.T, isp string, pairs []enforce.Pair, prefixes []string, want int) {
	t.Helper()
	if len(pairs) != want {
		t.Errorf("%s enforces %d pairs, want %d: %v", isp, len(pairs), want, pairs)
	}
	for _, p := range pairs {
		own := false
		for _, s := range prefixes {
			own = own || netip.MustParsePrefix(s).Contains(p.Local)
		}
		if !own {
			t.Errorf("%s enforces %v, whose local end is not its own", isp, p)
		}
	}
}

// logReceipts reads the log at url, its checkpoint cosigned by the
// witness, and returns the receipts about assertion by ISP, each verified
// with the key of the ISP it names.
func logReceipts(t *testing.T, url, logKey, witnessKey string, keys map[string]*sign.PublicKey, assertion protocol.ID) map[string][]protocol.Receipt {
	t.Helper()
	src, err := logclient.NewHTTPSource(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	v, err := logclient.NewVerifier(logKey, []string{witnessKey}, 1)
	if err != nil {
		t.Fatal(err)
	}
	c, err := logclient.NewClient(src, v, "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	cp, err := c.Update(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]protocol.Receipt{}
	for i := uint64(0); i < cp.Size; i++ {
		e, err := c.Entry(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		sr, err := protocol.DecodeReceipt(e)
		if err == nil && sr.Receipt.Assertion == assertion {
			key, ok := keys[sr.Receipt.ISP]
			if !ok {
				t.Fatalf("entry %d: a receipt of unknown ISP %q", i, sr.Receipt.ISP)
			}
			if _, err := protocol.VerifyReceipt(e, key); err != nil {
				t.Fatalf("entry %d: %v", i, err)
			}
			out[sr.Receipt.ISP] = append(out[sr.Receipt.ISP], sr.Receipt)
		}
	}
	return out
}

// TestNodeConfigErrors checks that "docket node run" names the key of
// every problem in a configuration, and changes nothing.
func TestNodeConfigErrors(t *testing.T) {
	dir := t.TempDir()
	mustDocket(t, dir, "node", "init", "isp", "--dir", "isp", "--isp-name", "isp-a")
	path := filepath.Join(dir, "isp", daemon.StarterConfigFile)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		old, new string
		want     []string
	}{
		{`prefixes = ["192.0.2.0/24"]`, `prefixes = ["192.0.2.0/24", "10.0.0.300/8"]`,
			[]string{`isp.prefixes[1]: "10.0.0.300/8" is not a prefix`, `trust.registrars: role "isp" needs at least one trusted registrar`}},
		{`enforcer = "dryrun"`, `enforcer = "iptables"`, []string{`isp.enforcer: "iptables" is not dryrun, nft or flowspec`}},
		{`name = "isp-a"`, `nmae = "isp-a"`, []string{`isp.nmae: unknown key (line `}},
		{`roles = ["isp"]`, `roles = ["isp", "ips"]`, []string{`roles[1]: "ips" is not a role`}},
		{`[admin]`, "[admin]\nlisten = 9790\n[ignored]", []string{`docket: error: `, `admin.listen`}},
	}
	for _, tt := range tests {
		bad := strings.Replace(string(good), tt.old, tt.new, 1)
		if bad == string(good) {
			t.Fatalf("starter configuration lacks %q", tt.old)
		}
		writeTestFile(t, path, []byte(bad))
		_, stderr, status := docket(t, dir, "node", "run", "-c", path, "--check")
		if status != 1 {
			t.Errorf("%s: status %d, want 1\n%s", tt.new, status, stderr)
		}
		for _, w := range tt.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s: stderr lacks %q:\n%s", tt.new, w, stderr)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "isp", "data", "isp.db")); err == nil {
		t.Error("a configuration that does not validate started the node")
	}
}
