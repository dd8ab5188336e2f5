package tlog_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/docket-project/docket/crypto/seal"
	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/protocol"
)

// objects makes real signed objects of every kind, as protocol/example_test.go does.
type objects struct {
	registrar, holder *sign.PrivateKey
	isp               *sign.PrivateKey // an ISP's signing key
	now               time.Time
	film              protocol.ContentID
}

func newObjects(t testing.TB) *objects {
	t.Helper()
	registrar, err := sign.Generate(sign.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	holder, err := sign.Generate(sign.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	isp, err := sign.Generate(sign.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	return &objects{
		registrar: registrar,
		holder:    holder,
		isp:       isp,
		now:       time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC),
		film:      protocol.ContentID("btih:c9e15763f722f23e98a29decdfae341b98d53056"),
	}
}

// credential issues a credential to the holder; name makes it distinct.
func (o *objects) credential(t testing.TB, name string) ([]byte, protocol.ID) {
	t.Helper()
	cred, id, err := o.issue(name)
	if err != nil {
		t.Fatal(err)
	}
	return cred, id
}

// issue issues a credential to the holder, as credential does, for
// goroutines other than the test's.
func (o *objects) issue(name string) ([]byte, protocol.ID, error) {
	return protocol.IssueCredential(o.registrar, protocol.Credential{
		Subject:   protocol.Subject{Name: name, PublicKey: o.holder.Public().DER()},
		Works:     []protocol.Work{{ID: "film-1", Title: "A Film", Content: []protocol.ContentID{o.film}}},
		Scope:     protocol.Scope{Regions: []string{"DE"}},
		NotBefore: o.now.AddDate(0, -1, 0),
		NotAfter:  o.now.AddDate(1, 0, 0),
	})
}

func (o *objects) revocation(t testing.TB, cred protocol.ID) []byte {
	t.Helper()
	rev, _, err := protocol.SignRevocation(o.registrar, protocol.Revocation{
		Credential: cred, Reason: "rights transferred", RevokedAt: o.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

// delegation delegates the holder's credential parent to agent's key.
func (o *objects) delegation(t testing.TB, parent []byte, agent *sign.PrivateKey) ([]byte, protocol.ID) {
	t.Helper()
	sc, err := protocol.DecodeCredential(parent)
	if err != nil {
		t.Fatal(err)
	}
	child := sc.Credential
	child.Subject = protocol.Subject{Name: "Agent", PublicKey: agent.Public().DER()}
	env, id, err := protocol.Delegate(o.holder, sc, child)
	if err != nil {
		t.Fatal(err)
	}
	return env, id
}

// assertion builds a bundle with one sealed section, for isp-a, signed by
// the holder.
func (o *objects) assertion(t testing.TB, cred protocol.ID) []byte {
	t.Helper()
	return o.assertionBy(t, o.holder, cred)
}

// assertionBy builds a bundle as assertion does, signed by key.
func (o *objects) assertionBy(t testing.TB, key *sign.PrivateKey, cred protocol.ID) []byte {
	t.Helper()
	identity, err := seal.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	lab := netip.MustParsePrefix("198.51.100.0/24")
	seen := o.now.Add(-8 * time.Minute)
	bundle, _, err := protocol.BuildAssertion(key, protocol.Observation{
		Content: o.film, Swarm: o.film, PieceCount: 100,
		Observed: protocol.Window{Start: o.now.Add(-10 * time.Minute), End: o.now},
		Peers: []protocol.ObservedPeer{{
			Addr: netip.MustParseAddr("198.51.100.7"),
			Evidence: protocol.Evidence{
				Grade: protocol.GradeVerifiedTransfer, Port: 51413, Transport: "tcp", Source: "tracker",
				FirstSeen: seen, LastSeen: seen.Add(time.Minute),
				PeerID: "2d5452333030302d313233343536373839616263", Client: "Transmission 3.00", Bytes: 16384,
				Pieces: []protocol.PieceProof{{Index: 3, Hash: "8a4d0f4f0c3e5b1a2f6e7d8c9b0a1f2e3d4c5b6a", At: seen.Add(30 * time.Second)}},
			},
		}},
	}, protocol.Directory{ISPs: []protocol.DirectoryEntry{{
		Name: "isp-a", Region: "DE", Recipient: identity.Recipient().String(), Prefixes: []netip.Prefix{lab},
	}}}, protocol.BuildOptions{Credential: cred, NotBefore: o.now})
	if err != nil {
		t.Fatal(err)
	}
	return bundle
}

// announcement signs an ISP announcement with the ISP's key.
func (o *objects) announcement(t testing.TB) []byte {
	t.Helper()
	return o.announcementBy(t, o.isp)
}

// announcementBy signs an ISP announcement with key.
func (o *objects) announcementBy(t testing.TB, key *sign.PrivateKey) []byte {
	t.Helper()
	identity, err := seal.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	env, _, err := protocol.SignAnnouncement(key, protocol.Announcement{
		ISP: "isp-a", Region: "DE", PeerID: "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
		Recipient: identity.Recipient().String(), Prefixes: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")},
		IssuedAt: o.now, NotAfter: o.now.Add(24 * time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// receipt signs an ISP's receipt of an assertion with the ISP's key.
func (o *objects) receipt(t testing.TB, assertion protocol.ID) []byte {
	t.Helper()
	return o.receiptBy(t, o.isp, assertion)
}

// receiptBy signs a receipt of an assertion with key.
func (o *objects) receiptBy(t testing.TB, key *sign.PrivateKey, assertion protocol.ID) []byte {
	t.Helper()
	env, _, err := protocol.SignReceipt(key, protocol.Receipt{
		ISP: "isp-a", Assertion: assertion, Verdict: protocol.VerdictApplied,
		Pairs: 3, Until: o.now.Add(10 * time.Minute), IssuedAt: o.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// bigCredential issues a credential listing works works, each with a
// long title and 8 content ids.
func (o *objects) bigCredential(t testing.TB, works int) ([]byte, protocol.ID) {
	t.Helper()
	c := protocol.Credential{
		Subject:   protocol.Subject{Name: "Catalogue Holder", PublicKey: o.holder.Public().DER()},
		Scope:     protocol.Scope{Regions: []string{"DE"}},
		NotBefore: o.now.AddDate(0, -1, 0),
		NotAfter:  o.now.AddDate(1, 0, 0),
	}
	for i := range works {
		w := protocol.Work{ID: fmt.Sprintf("work-%06d", i), Title: strings.Repeat("A long title ", 16)}
		for j := range 8 {
			w.Content = append(w.Content, protocol.ContentID(fmt.Sprintf("btih:%040x", i*8+j+1)))
		}
		c.Works = append(c.Works, w)
	}
	cred, id, err := protocol.IssueCredential(o.registrar, c)
	if err != nil {
		t.Fatal(err)
	}
	return cred, id
}

// bigAssertion builds a bundle addressed to isps ISPs that each serve
// perISP peers of the swarm, every peer's evidence carrying pieces piece
// proofs (1 to 16). Every section lists the whole swarm, so sections grow
// with isps×perISP.
func (o *objects) bigAssertion(t testing.TB, cred protocol.ID, isps, perISP, pieces int) []byte {
	t.Helper()
	identity, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	start := o.now.Add(-10 * time.Minute)
	seen := o.now.Add(-8 * time.Minute)
	var dir protocol.Directory
	var peers []protocol.ObservedPeer
	for i := range isps {
		prefix := netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 8), byte(i)}), 48)
		dir.ISPs = append(dir.ISPs, protocol.DirectoryEntry{
			Name: fmt.Sprintf("isp-%03d.access-network.example", i), Region: "DE", Recipient: identity.Recipient().String(),
			Prefixes: []netip.Prefix{prefix},
		})
		for j := range perISP {
			a := prefix.Addr().As16()
			a[14], a[15] = byte((j+1)>>8), byte(j+1)
			ev := protocol.Evidence{
				Grade: protocol.GradeVerifiedTransfer, Port: 51413, Transport: "tcp", Source: "tracker",
				FirstSeen: seen, LastSeen: seen.Add(time.Minute),
				PeerID: "2d5452333030302d313233343536373839616263", Client: "Transmission 3.00", Bytes: 16384,
			}
			for k := range pieces {
				ev.Pieces = append(ev.Pieces, protocol.PieceProof{Index: k, Hash: fmt.Sprintf("%040x", k+1), At: seen.Add(30 * time.Second)})
			}
			peers = append(peers, protocol.ObservedPeer{Addr: netip.AddrFrom16(a), Evidence: ev})
		}
	}
	bundle, _, err := protocol.BuildAssertion(o.holder, protocol.Observation{
		Content: o.film, Swarm: o.film, PieceCount: 100,
		Observed: protocol.Window{Start: start, End: o.now},
		Peers:    peers,
	}, dir, protocol.BuildOptions{Credential: cred, NotBefore: o.now})
	if err != nil {
		t.Fatal(err)
	}
	return bundle
}

// editPayload decodes an envelope's payload, applies edit to its text and
// re-encodes it, leaving the (now wrong) signature alone.
func editPayload(t testing.TB, env []byte, edit func(string) string) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(env, &m); err != nil {
		t.Fatal(err)
	}
	payload, err := base64.StdEncoding.DecodeString(m["payload"].(string))
	if err != nil {
		t.Fatal(err)
	}
	edited := edit(string(payload))
	if edited == string(payload) {
		t.Fatal("edit changed nothing")
	}
	m["payload"] = base64.StdEncoding.EncodeToString([]byte(edited))
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// flipSealed changes one base64 character inside the first sealed
// section's data, keeping the base64 canonical.
func flipSealed(t testing.TB, bundle []byte) []byte {
	t.Helper()
	s := string(bundle)
	i := strings.Index(s, `"data":"`)
	if i < 0 {
		t.Fatal("bundle carries no sealed section")
	}
	i += len(`"data":"`) + 20
	c := byte('A')
	if s[i] == 'A' {
		c = 'B'
	}
	return fmt.Appendf(nil, "%s%c%s", s[:i], c, s[i+1:])
}
