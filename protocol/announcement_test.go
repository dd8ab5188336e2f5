package protocol_test

import (
	"bytes"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/docket-project/docket/crypto/dsse"
	"github.com/docket-project/docket/crypto/seal"
	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/protocol"
)

var annNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func announce(t *testing.T, key *sign.PrivateKey, isp string, issued time.Time, prefixes ...string) *protocol.SignedAnnouncement {
	t.Helper()
	id, err := seal.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	a := protocol.Announcement{
		ISP: isp, Region: "DE", PeerID: "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
		Recipient: id.Recipient().String(), IssuedAt: issued, NotAfter: issued.Add(24 * time.Hour),
	}
	for _, p := range prefixes {
		a.Prefixes = append(a.Prefixes, netip.MustParsePrefix(p))
	}
	a.Prefixes = protocol.SortPrefixes(a.Prefixes)
	env, _, err := protocol.SignAnnouncement(key, a)
	if err != nil {
		t.Fatal(err)
	}
	sa, err := protocol.VerifyAnnouncement(env, []*sign.PublicKey{key.Public()}, annNow)
	if err != nil {
		t.Fatal(err)
	}
	return sa
}

func newKey(t *testing.T) *sign.PrivateKey {
	t.Helper()
	k, err := sign.Generate(sign.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestDirectoryOf(t *testing.T) {
	ka, kb, kc, rogue := newKey(t), newKey(t), newKey(t), newKey(t)
	old := announce(t, ka, "isp-a", annNow.Add(-2*time.Hour), "198.51.0.0/16")
	cur := announce(t, ka, "isp-a", annNow.Add(-time.Hour), "198.51.0.0/16", "203.0.113.0/24")
	b := announce(t, kb, "isp-b", annNow.Add(-time.Hour), "198.51.100.0/24", "203.0.113.0/24")
	c := announce(t, kc, "isp-c", annNow.Add(-time.Hour), "192.0.2.0/24")
	cFake := announce(t, rogue, "isp-c", annNow.Add(-time.Minute), "192.0.2.0/24")

	dir, conflicts := protocol.DirectoryOf([]*protocol.SignedAnnouncement{old, cur, b, c, cFake})
	if len(conflicts) != 2 {
		t.Fatalf("got %d conflicts, want 2 (isp-c named by two keys, 203.0.113.0/24 claimed twice): %+v", len(conflicts), conflicts)
	}
	if conflicts[0].Prefix.IsValid() || !slices.Equal(conflicts[0].ISPs, []string{"isp-c"}) {
		t.Errorf("first conflict %+v, want the isp-c name conflict", conflicts[0])
	}
	if conflicts[1].Prefix != netip.MustParsePrefix("203.0.113.0/24") || !slices.Equal(conflicts[1].ISPs, []string{"isp-a", "isp-b"}) {
		t.Errorf("second conflict %+v, want 203.0.113.0/24 between isp-a and isp-b", conflicts[1])
	}
	if len(dir.ISPs) != 2 {
		t.Fatalf("directory has %d ISPs, want isp-a and isp-b: %+v", len(dir.ISPs), dir.ISPs)
	}
	for addr, want := range map[string]string{
		"198.51.7.7":   "isp-a", // the newest isp-a announcement's /16
		"198.51.100.9": "isp-b", // the longer match wins; no conflict
		"203.0.113.5":  "",      // disputed: routed nowhere
		"192.0.2.1":    "",      // isp-c is disputed by name
	} {
		if got := dir.Route(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Route(%s) = %q, want %q", addr, got, want)
		}
	}
	if err := dir.Validate(); err != nil {
		t.Errorf("directory does not validate: %v", err)
	}
	if dir.ISPs[0].Recipient != cur.Announcement.Recipient {
		t.Error("isp-a's recipient is not the newest announcement's")
	}
}

func TestVerifyAnnouncementRejectsTamperedPrefix(t *testing.T) {
	k := newKey(t)
	sa := announce(t, k, "isp-a", annNow.Add(-time.Hour), "198.51.100.0/24")
	env := *sa.Envelope
	env.Payload = bytes.Replace(env.Payload, []byte("198.51.100.0/24"), []byte("198.51.101.0/24"), 1)
	data, err := dsse.Encode(&env)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := protocol.VerifyAnnouncement(data, []*sign.PublicKey{k.Public()}, annNow); protocol.CodeOf(err) != protocol.CodeBadSignature {
		t.Fatalf("a moved prefix: got %v, want BAD_SIGNATURE", err)
	}
}

func TestReceiptRoundTrip(t *testing.T) {
	k := newKey(t)
	r := protocol.Receipt{
		ISP: "isp-a", Assertion: protocol.IDOf([]byte("x")), Verdict: protocol.VerdictApplied,
		Pairs: 3, Until: annNow.Add(10 * time.Minute), IssuedAt: annNow,
	}
	env, id, err := protocol.SignReceipt(k, r)
	if err != nil {
		t.Fatal(err)
	}
	sr, err := protocol.VerifyReceipt(env, k.Public())
	if err != nil {
		t.Fatal(err)
	}
	if sr.ID != id || sr.Receipt.Pairs != 3 || !sr.Receipt.Until.Equal(r.Until) || sr.Receipt.Issuer != k.Public().ID() {
		t.Errorf("round trip changed the receipt: %+v", sr.Receipt)
	}
	if _, err := protocol.VerifyReceipt(env, newKey(t).Public()); protocol.CodeOf(err) != protocol.CodeWrongKey {
		t.Errorf("another ISP's key: got %v, want WRONG_KEY", err)
	}
	r.Verdict, r.Pairs, r.Until, r.Code = protocol.VerdictRejected, 0, time.Time{}, "CAP_TOTAL"
	if _, _, err := protocol.SignReceipt(k, r); err != nil {
		t.Errorf("a policy code in a rejected receipt: %v", err)
	}
}
