package audit_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/node/audit"
	"github.com/docket-project/docket/node/tlog"
	"github.com/docket-project/docket/protocol"
)

// flipSignature changes one bit of the first signature of an envelope.
func flipSignature(t testing.TB, env []byte) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(env, &m); err != nil {
		t.Fatal(err)
	}
	sig := m["signatures"].([]any)[0].(map[string]any)
	raw, err := base64.StdEncoding.DecodeString(sig["sig"].(string))
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)/2] ^= 1
	sig["sig"] = base64.StdEncoding.EncodeToString(raw)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// editAssertion replaces old by new in the signed payload of an assertion
// bundle, keeping the now wrong signature.
func editAssertion(t testing.TB, bundle []byte, old, new string) []byte {
	t.Helper()
	var b map[string]json.RawMessage
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	var env map[string]any
	if err := json.Unmarshal(b["envelope"], &env); err != nil {
		t.Fatal(err)
	}
	payload, err := base64.StdEncoding.DecodeString(env["payload"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(payload), old) {
		t.Fatalf("payload lacks %q", old)
	}
	env["payload"] = base64.StdEncoding.EncodeToString([]byte(strings.Replace(string(payload), old, new, 1)))
	if b["envelope"], err = json.Marshal(env); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// logEntries returns the entries node/tlog stores for an object.
func logEntries(t testing.TB, object []byte) [][]byte {
	t.Helper()
	entries, err := tlog.Entries(tlog.KindAuto, object)
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

// bigGrant issues a grant too large for one entry: node/tlog stores it in
// part entries.
func (w *world) bigGrant(t testing.TB, r int, name string) *party {
	t.Helper()
	p := &party{key: newKey(t, sign.Ed25519), registrar: r}
	for i := range 150 {
		work := fmt.Sprintf("%s-work-%d", name, i)
		var content []protocol.ContentID
		for j := range 8 {
			content = append(content, contentID(fmt.Sprintf("%s/%d", work, j)))
		}
		p.works = append(p.works, protocol.Work{ID: work, Title: "Work " + work, Content: content})
	}
	return w.issue(t, p, name, w.registrars[r])
}

// TestFindings audits a log that holds one example of every kind of
// finding, among entries that verify, each in the log order the finding
// depends on. The log is written by Tessera directly, in order, since
// node/tlog refuses some of these entries.
func TestFindings(t *testing.T) {
	w := newWorld(t)
	p := w.grant(t, 0, "holder-p")
	s := w.grant(t, 1, "holder-s")
	big := w.bigGrant(t, 0, "holder-big")
	u := w.issue(t, &party{key: newKey(t, sign.Ed25519), works: p.works}, "holder-u", newKey(t, sign.Ed25519))
	q := w.grant(t, 0, "holder-q")
	r := w.grant(t, 0, "holder-r") // never logged
	revokedAt := assertAt.Add(24 * time.Hour)

	var entries [][]byte
	var want []audit.Finding
	add := func(es ...[]byte) uint64 {
		entries = append(entries, es...)
		return uint64(len(entries) - 1)
	}
	expect := func(index uint64, kind audit.FindingKind, code protocol.Code) {
		want = append(want, audit.Finding{Index: index, Kind: kind, Code: code})
	}
	at := func(seconds int) time.Time { return assertAt.Add(time.Duration(seconds) * time.Second) }

	add(p.cred)
	add(s.cred)
	if parts := logEntries(t, big.cred); len(parts) < 2 || !tlog.IsPart(parts[0]) {
		t.Fatalf("the big credential is %d entries, want parts", len(parts))
	} else {
		add(parts...)
	}
	expect(add(u.cred), audit.FindingUntrustedRegistrar, protocol.CodeUntrustedRegistrar)
	expect(add(flipSignature(t, q.cred)), audit.FindingBadSignature, protocol.CodeBadSignature)
	expect(add(w.delegate(t, r, "agent-r").cred), audit.FindingInvalidCredential, "")
	expect(add(w.delegate(t, u, "agent-u").cred), audit.FindingInvalidCredential, "")
	pa := w.delegate(t, p, "agent-p")
	add(pa.cred)
	expect(add(revoke(t, w.registrars[0], r.credID, revokedAt)), audit.FindingInvalidRevocation, "")
	expect(add(revoke(t, p.key, p.credID, revokedAt)), audit.FindingInvalidRevocation, protocol.CodeRevocationUnauthorized)

	add(w.assert(t, p, p.works[0].Content[0], at(1), 0))
	add(w.assert(t, big, big.works[149].Content[7], at(2), 0))
	add(logEntries(t, w.assert(t, p, p.works[1].Content[0], at(3), 0))...)
	expect(add(w.assert(t, r, r.works[0].Content[0], at(4), 0)), audit.FindingNoValidCredential, "")
	expect(add(w.assert(t, u, u.works[0].Content[0], at(5), 0)), audit.FindingNoValidCredential, protocol.CodeUntrustedRegistrar)
	expect(add(editAssertion(t, w.assert(t, p, p.works[0].Content[1], at(6), 0), `"piece_count":100`, `"piece_count":101`)),
		audit.FindingBadSignature, protocol.CodeBadSignature)
	impostor := &party{key: p.key, credID: s.credID}
	expect(add(w.assert(t, impostor, s.works[0].Content[0], at(7), 0)), audit.FindingNoValidCredential, protocol.CodeWrongKey)
	expect(add(w.assert(t, p, p.works[0].Content[0], at(8), 2*time.Hour)), audit.FindingInvalidAssertion, protocol.CodeLifetimeTooLong)
	expect(add(w.assert(t, p, s.works[0].Content[0], at(9), 0)), audit.FindingNoValidCredential, protocol.CodeWorkNotCovered)
	expect(add(w.assert(t, s, s.works[0].Content[0], credUntil.Add(time.Hour), 0)), audit.FindingNoValidCredential, protocol.CodeCredentialExpired)
	expect(add([]byte("not json")), audit.FindingUndecodable, protocol.CodeMalformed)
	expect(add([]byte(`{"payloadType":"application/vnd.docket.credential.v9+json","payload":"e30=","signatures":[]}`)),
		audit.FindingUnknownKind, protocol.CodeUnknownPayloadType)
	// Logged before the revocation, but made after it.
	expect(add(w.assert(t, p, p.works[0].Content[0], revokedAt.Add(time.Hour), 0)), audit.FindingRevokedCredentialUsed, protocol.CodeCredentialRevoked)
	add(revoke(t, w.registrars[0], p.credID, revokedAt))
	// Made before the revocation, but logged after it; the agent's chain
	// holds the revoked grant.
	expect(add(w.assert(t, p, p.works[0].Content[1], at(10), 0)), audit.FindingRevokedCredentialUsed, protocol.CodeCredentialRevoked)
	expect(add(w.assert(t, pa, pa.works[0].Content[1], at(11), 0)), audit.FindingRevokedCredentialUsed, protocol.CodeCredentialRevoked)
	// A section whose bytes do not match the digest its part names, and a
	// section no logged assertion names.
	flipped := logEntries(t, w.assert(t, s, s.works[1].Content[0], at(12), 0))[1]
	flipped[len(flipped)-1] ^= 1
	expect(add(flipped), audit.FindingUndecodable, "")
	expect(add(logEntries(t, w.assert(t, s, s.works[1].Content[0], at(13), 0))[1]), audit.FindingOrphanSection, "")
	applied := w.assert(t, s, s.works[1].Content[1], at(14), 0)
	add(applied)

	// ISPs announce themselves and account for what they did: the receipt
	// of an assertion the log does not hold is enforcement it does not show.
	ispKey, stranger := newKey(t, sign.Ed25519), newKey(t, sign.Ed25519)
	add(announcement(t, ispKey, w, at(20)))
	expect(add(announcement(t, stranger, w, at(21))), audit.FindingUntrustedISP, protocol.CodeUntrustedISP)
	// Another trusted ISP claims isp-a's prefix while isp-a's announcement
	// is live: a dispute no claimant resolves, made public.
	otherISP := newKey(t, sign.Ed25519)
	expect(add(announcementFor(t, otherISP, w, "isp-b", at(22))), audit.FindingAnnouncementConflict, "")
	add(receipt(t, ispKey, protocol.Receipt{Assertion: assertionID(t, applied), Verdict: protocol.VerdictApplied, Pairs: 3, Until: at(600)}, at(30)))
	add(receipt(t, ispKey, protocol.Receipt{Assertion: protocol.IDOf([]byte("elsewhere")), Verdict: protocol.VerdictRejected, Code: "NOT_LOGGED"}, at(31)))
	expect(add(receipt(t, ispKey, protocol.Receipt{Assertion: protocol.IDOf([]byte("secret")), Verdict: protocol.VerdictApplied, Pairs: 1, Until: at(600)}, at(32))),
		audit.FindingUnloggedEnforcement, "")
	expect(add(flipSignature(t, receipt(t, ispKey, protocol.Receipt{Assertion: assertionID(t, applied), Verdict: protocol.VerdictRejected, Code: "CAP"}, at(33)))),
		audit.FindingBadSignature, protocol.CodeBadSignature)

	key := newLogKey(t)
	dir := t.TempDir()
	rawLog(t, key, dir, entries)
	report, err := audit.Audit(t.Context(), audit.Config{Source: dir, LogKey: key.verifier, Registrars: w.trusted(),
		ISPs: []*sign.PublicKey{ispKey.Public(), otherISP.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	checkFindings(t, report.Findings, want)
	if report.Size != uint64(len(entries)) {
		t.Errorf("size %d, want %d", report.Size, len(entries))
	}
	wantEntries := map[audit.EntryKind]int{
		audit.EntryCredential: 8, audit.EntryRevocation: 3, audit.EntryAssertion: 14,
		audit.EntrySection: 2, audit.EntryUndecodable: 2, audit.EntryUnknown: 1,
		audit.EntryAnnouncement: 3, audit.EntryReceipt: 4,
	}
	for k, n := range wantEntries {
		if report.Entries[k] != n {
			t.Errorf("%d %s records, want %d (all: %v)", report.Entries[k], k, n, report.Entries)
		}
	}
	if c := report.ISPs["isp-a"]; c == nil || *c != (audit.ISPCounts{Announcements: 2, Applied: 2, Rejected: 2, Pairs: 4}) {
		t.Errorf("isp-a counts %+v", c)
	}
	if report.Parts != 5 || report.Incomplete != 0 {
		t.Errorf("%d parts, %d incomplete; want 5 and 0", report.Parts, report.Incomplete)
	}
	for _, f := range report.Findings {
		t.Logf("%d %s %s: %s", f.Index, f.Kind, f.Code, f.Message)
	}
}

// announcement signs an announcement of isp-a by key, issued at the given
// time.
func announcement(t testing.TB, key *sign.PrivateKey, w *world, issued time.Time) []byte {
	t.Helper()
	return announcementFor(t, key, w, "isp-a", issued)
}

// announcementFor signs an announcement of isp by key, for 192.0.0.0/8,
// issued at the given time.
func announcementFor(t testing.TB, key *sign.PrivateKey, w *world, isp string, issued time.Time) []byte {
	t.Helper()
	env, _, err := protocol.SignAnnouncement(key, protocol.Announcement{
		ISP: isp, Region: "DE", PeerID: "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
		Recipient: w.directory.ISPs[0].Recipient, Prefixes: []netip.Prefix{netip.MustParsePrefix("192.0.0.0/8")},
		IssuedAt: issued, NotAfter: issued.Add(24 * time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// receipt signs isp-a's receipt r by key, issued at the given time.
func receipt(t testing.TB, key *sign.PrivateKey, r protocol.Receipt, issued time.Time) []byte {
	t.Helper()
	r.ISP, r.IssuedAt = "isp-a", issued
	env, _, err := protocol.SignReceipt(key, r)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// assertionID returns the id of an assertion bundle.
func assertionID(t testing.TB, bundle []byte) protocol.ID {
	t.Helper()
	sa, err := protocol.DecodeAssertion(bundle)
	if err != nil {
		t.Fatal(err)
	}
	return sa.ID
}
