package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestWalkthrough runs scripts/walkthrough.sh with a freshly built docket,
// so that the walkthrough keeps working as docket changes.
func TestWalkthrough(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not installed, and the walkthrough is a bash script")
	}
	docket := filepath.Join(t.TempDir(), "docket")
	build := exec.Command("go", "build", "-o", docket, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bash, "../../scripts/walkthrough.sh")
	cmd.Env = append(os.Environ(), "DOCKET="+docket)
	out, err := cmd.CombinedOutput()
	t.Logf("walkthrough output:\n%s", out)
	if err != nil {
		t.Fatalf("walkthrough failed: %v", err)
	}
	for _, want := range []string{
		`"verdict": "accept"`,
		`"code": "BAD_SIGNATURE"`,
		"docket: error: BAD_SIGNATURE: ",
		`"code": "CREDENTIAL_REVOKED"`,
		"docket: error: CREDENTIAL_REVOKED: ",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("walkthrough output lacks %q", want)
		}
	}
}
