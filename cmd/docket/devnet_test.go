package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"

	"github.com/docket-project/docket/node/devnet"
)

// TestDevnet runs "docket devnet" as a newcomer would, with short
// lives: a real swarm observed by the claimant, assertions logged and
// gossiped, two ISPs verifying and enforcing, receipts logged, the blocks
// lapsing once the claimant stops, and the audit of the whole log. As
// root (always under CI) isp-one enforces in the kernel with nftables in
// network namespaces and devnet sends traffic: the verified pairs are
// dropped, the protected address and the joe-job victim are not, and the
// traffic flows again after the lapse. Without root it runs in dry-run
// mode and checks the same decisions in isp-one's state file.
func TestDevnet(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a whole federation")
	}
	backend := "auto"
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI runs as root, but this test does not: the nft mode needs root")
		}
		t.Log("not root: running the dry-run mode (the nft mode needs root)")
		backend = "dryrun"
	}
	dir := t.TempDir()
	work := filepath.Join(dir, "devnet")
	result := filepath.Join(dir, "result.json")
	stdout, stderr, code := docket(t, dir, "devnet", "--dir", work, "--cycles", "3", "--life", "12s", "--interval", "2s",
		"--json", result, "--backend", backend)
	t.Logf("docket devnet:\n%s", stdout)
	if code != 0 {
		for _, name := range []string{"claimant", "isp-one", "isp-two", "registry"} {
			if data, err := os.ReadFile(filepath.Join(work, "logs", name+".log")); err == nil {
				t.Logf("%s's log:\n%s", name, tail(string(data), 40))
			}
		}
		t.Fatalf("docket devnet exited %d:\n%s", code, stderr)
	}
	data, err := os.ReadFile(result)
	if err != nil {
		t.Fatal(err)
	}
	var res devnet.Result
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	plan := devnet.PlanFor(res.Mode)
	if os.Geteuid() == 0 && res.Mode != devnet.ModeNFT {
		t.Fatalf("ran as root in mode %s (%s), want nft", res.Mode, res.Reason)
	}

	// isp-one blocked exactly the verified pairs crossing its network.
	want := map[devnet.Pair]bool{}
	for _, p := range plan.Blockable() {
		want[p] = true
	}
	got := map[devnet.Pair]bool{}
	for _, p := range res.Blocked {
		got[p] = true
		if p.Local == plan.Protected.Addr() || p.Remote == plan.Protected.Addr() {
			t.Errorf("isp-one blocked the protected address: %v", p)
		}
		if p.Local == plan.Joe.Addr() || p.Remote == plan.Joe.Addr() {
			t.Errorf("isp-one blocked the joe-job address: %v", p)
		}
		if !plan.ISPOnePrefix.Contains(p.Local) {
			t.Errorf("pair %v has its local end outside isp-one's network %v", p, plan.ISPOnePrefix)
		}
	}
	for p := range want {
		if !got[p] {
			t.Errorf("isp-one did not block %v", p)
		}
	}
	if res.ISPTwoPairs == 0 {
		t.Error("isp-two installed nothing")
	}
	if res.Mode == devnet.ModeNFT {
		checks := map[string]string{}
		for _, c := range res.Traffic {
			checks[c.What] = c.Got
			if c.Got != c.Want {
				t.Errorf("traffic %v → %v (%s): %s, want %s", c.From, c.To, c.What, c.Got, c.Want)
			}
		}
		for what, wantGot := range map[string]string{"the blocked pair": "dropped", "the protected seeder": "open",
			"the joe-job victim's web server": "open", "the lapsed pair": "open"} {
			if checks[what] != wantGot {
				t.Errorf("traffic check %q: %q, want %q", what, checks[what], wantGot)
			}
		}
	}
	for _, isp := range []string{devnet.ISPOne, devnet.ISPTwo} {
		if res.Receipts[isp]["applied"] == 0 {
			t.Errorf("no 'applied' receipt of %s in the log: %v", isp, res.Receipts)
		}
	}
	if len(res.Latencies) != 3 {
		t.Errorf("%d latencies measured, want 3", len(res.Latencies))
	}
	for _, l := range res.Latencies {
		if l <= 0 {
			t.Errorf("observe-to-drop latency %v ms: the pair cannot be enforced before its assertion is signed", l)
		}
	}
	if !res.Lapsed {
		t.Error("the blocks did not lapse after the claimant stopped")
	}
	if len(res.Findings) != 0 || res.Entries["receipt"] == 0 || res.Entries["assertion"] == 0 {
		t.Errorf("audit: findings %v, entries %v", res.Findings, res.Entries)
	}
	// Nothing is left behind: no namespace of this run, no process.
	if entries, err := os.ReadDir(devnet.NamespaceDir); err == nil {
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), devnet.NamespacePrefix) {
				t.Errorf("namespace %s left behind", e.Name())
			}
		}
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
