package interop

import (
	"bytes"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docket-project/docket/internal/labdata"
	"github.com/docket-project/docket/protocol"
)

// TestAgeOpensSection builds an assertion with the docket binary, extracts
// ISP A's sealed section, and decrypts it with the age CLI and the identity
// file docket keygen wrote.
func TestAgeOpensSection(t *testing.T) {
	ageCLI, err := exec.LookPath("age")
	if err != nil {
		const msg = "age CLI not installed (apt-get install age)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	docket := filepath.Join(dir, "docket")
	if out, err := exec.Command("go", "build", "-o", docket, "github.com/docket-project/docket/cmd/docket").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	writeFile(t, dir, "observation.json", labdata.Observation())

	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, &stderr)
		}
		return string(out)
	}
	for _, name := range []string{"registrar", "holder", "isp-a"} {
		run(docket, "keygen", "--out", ".", "--name", name)
	}
	run(docket, "credential", "issue", "--key", "registrar.key", "--subject", "holder.pub",
		"--name", "Example Films", "--work-id", "film-1", "--title", "A Film",
		"--content", "btih:18f694606783538859b06e8fc2c8bcdbd1a24ec0", "--isp", "isp-a",
		"--not-before", "2030-01-01T00:00:00Z", "--out", "holder.cred.json")
	identity, err := os.ReadFile(filepath.Join(dir, "isp-a.age"))
	if err != nil {
		t.Fatal(err)
	}
	_, recipient, ok := strings.Cut(string(identity), "# public key: ")
	if !ok {
		t.Fatalf("isp-a.age has no public key comment:\n%s", identity)
	}
	recipient, _, _ = strings.Cut(recipient, "\n")
	writeFile(t, dir, "directory.json", `{"isps": [{"name": "isp-a", "region": "DE", "recipient": "`+recipient+
		`", "prefixes": ["198.51.100.0/24", "2001:db8:a::/48"]}]}`)
	run(docket, "assert", "build", "--key", "holder.key", "--credential", "holder.cred.json",
		"--observation", "observation.json", "--directory", "directory.json",
		"--not-before", "2030-06-01T10:00:00Z", "--out", "assertion.json")
	run(docket, "assert", "inspect", "assertion.json", "--extract-section", "isp-a", "--out", "section.age")

	plaintext := run(ageCLI, "-d", "-i", "isp-a.age", "section.age")
	if !strings.Contains(plaintext, `"isp":"isp-a"`) {
		t.Errorf("section does not name isp-a:\n%s", plaintext)
	}
	section, err := protocol.DecodeSection([]byte(plaintext))
	if err != nil {
		t.Fatalf("age decrypted a section docket cannot decode: %v", err)
	}
	local := map[string]bool{"198.51.100.7": true, "198.51.100.23": true, "198.51.100.99": true, "2001:db8:a::17": true}
	want := []string{"198.51.100.7", "198.51.100.23", "198.51.100.99", "203.0.113.5", "2001:db8:a::17"}
	if len(section.Peers) != len(want) {
		t.Fatalf("section has %d peers, want %d:\n%s", len(section.Peers), len(want), plaintext)
	}
	for i, p := range section.Peers {
		if p.Addr != netip.MustParseAddr(want[i]) {
			t.Errorf("peer %d is %s, want %s", i, p.Addr, want[i])
		}
		if hasEvidence := p.Evidence != nil; hasEvidence != local[want[i]] {
			t.Errorf("peer %s: evidence present %t, want %t", p.Addr, hasEvidence, local[want[i]])
		}
	}
}

func writeFile(t *testing.T, dir, name, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
