package daemon_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/node/tlog"
	"github.com/docket-project/docket/protocol"
)

// TestLogRoleVerifies checks that the log role verifies signatures with
// the node's trust.registrars and trust.isps: the federation's grant is
// logged, a credential from another registrar and a receipt by a key that
// is no trusted ISP's are refused with their codes. A log node that trusts
// no registrar logs the stranger's credential.
func TestLogRoleVerifies(t *testing.T) {
	w := newWorld(t)
	stranger, err := sign.Generate(sign.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	rogue, _, err := protocol.IssueCredential(stranger, protocol.Credential{
		Subject:   protocol.Subject{Name: "Rogue Records", PublicKey: w.holder.Public().DER()},
		Works:     []protocol.Work{{ID: "work-1", Title: "Night Trains", Content: []protocol.ContentID{film}}},
		Scope:     protocol.Scope{ISPs: []string{"isp-a"}},
		NotBefore: now, NotAfter: now.Add(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	receipt, _, err := protocol.SignReceipt(w.holder, protocol.Receipt{
		ISP: "isp-a", Assertion: w.grantID, Verdict: protocol.VerdictApplied, Pairs: 1, Until: now.Add(time.Minute), IssuedAt: now,
	})
	if err != nil {
		t.Fatal(err)
	}

	logURL := start(t, "log", w.logConfig(t)).RunInfo().Log
	for _, c := range []struct {
		name   string
		object []byte
		code   protocol.Code // "" for accepted
	}{
		{"grant", w.grant, ""},
		{"credential of another registrar", rogue, protocol.CodeUntrustedRegistrar},
		{"receipt by the holder", receipt, protocol.CodeUntrustedISP},
	} {
		if code := postObject(t, logURL, c.object); code != c.code {
			t.Errorf("%s: got %q, want %q", c.name, code, c.code)
		}
	}

	open := w.logConfig(t)
	open.Trust.Registrars, open.Trust.ISPs = nil, nil
	openURL := start(t, "open-log", open).RunInfo().Log
	if code := postObject(t, openURL, rogue); code != "" {
		t.Errorf("an open log refused a well-formed credential: %s", code)
	}
}

// postObject submits an object to a log's POST /add and returns the code
// of its refusal, or "" if it is logged.
func postObject(t *testing.T, logURL string, object []byte) protocol.Code {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Post(logURL+"/add", "application/octet-stream", bytes.NewReader(object))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK {
		return ""
	}
	var e tlog.ErrorResponse
	if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != http.StatusBadRequest || e.Code == "" {
		t.Fatalf("POST /add: %s %s", resp.Status, body)
	}
	return e.Code
}
