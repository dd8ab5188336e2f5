package policy_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/docket-project/docket/crypto/seal"
	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/protocol"
)

// The fixture's clock: assertions become valid at buildAt, after an
// observation of the ten minutes before, and are verified and evaluated at
// evalAt. They live ten minutes, so their Until is buildAt + 10m.
var (
	buildAt = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	evalAt  = buildAt.Add(time.Minute)
	until   = buildAt.Add(protocol.DefaultAssertionLife)
)

// labPrefixes are the documentation ranges the fixture's peers use; the
// verifier permits them although they are not global unicast.
var labPrefixes = []netip.Prefix{
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("2001:db8::/32"),
}

// ownPrefixes are the verifying ISP's networks in most tests.
var ownPrefixes = []netip.Prefix{
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("2001:db8:a::/48"),
}

const film = protocol.ContentID("btih:c9e15763f722f23e98a29decdfae341b98d53056")

// fixture is a registrar, a rights holder with a credential, an agent
// holding a delegation of it, and two ISPs: isp-a, which verifies, and
// isp-b.
type fixture struct {
	registrar, holder, agent *sign.PrivateKey
	ours, theirs             *age.X25519Identity
	cred, deleg              []byte
	credID, delegID          protocol.ID
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	fx := &fixture{}
	var err error
	fx.registrar, err = sign.Generate(sign.Ed25519)
	must(err)
	fx.holder, err = sign.Generate(sign.Ed25519)
	must(err)
	fx.agent, err = sign.Generate(sign.Ed25519)
	must(err)
	fx.ours, err = seal.GenerateIdentity()
	must(err)
	fx.theirs, err = seal.GenerateIdentity()
	must(err)
	grant := protocol.Credential{
		Subject:   protocol.Subject{Name: "Example Records", PublicKey: fx.holder.Public().DER()},
		Works:     []protocol.Work{{ID: "work-1", Title: "Night Trains", Content: []protocol.ContentID{film}}, {ID: "work-2", Title: "Other", Content: []protocol.ContentID{"btih:0000000000000000000000000000000000000001"}}},
		Scope:     protocol.Scope{ISPs: []string{"isp-a", "isp-b"}},
		NotBefore: buildAt.AddDate(0, -1, 0),
		NotAfter:  buildAt.AddDate(1, 0, 0),
	}
	fx.cred, fx.credID, err = protocol.IssueCredential(fx.registrar, grant)
	must(err)
	parent, err := protocol.DecodeCredential(fx.cred)
	must(err)
	fx.deleg, fx.delegID, err = protocol.Delegate(fx.holder, parent, protocol.Credential{
		Subject:   protocol.Subject{Name: "Example Agent", PublicKey: fx.agent.Public().DER()},
		Works:     grant.Works[:1],
		Scope:     protocol.Scope{ISPs: []string{"isp-a"}},
		NotBefore: grant.NotBefore,
		NotAfter:  grant.NotAfter,
	})
	must(err)
	return fx
}

// peer is one peer of a fixture swarm.
type peer struct {
	addr netip.Addr
	// isp is the ISP the claimant routes the peer to: "isp-a" (the
	// verifying ISP: the peer carries evidence in its section), "isp-b",
	// or "" for none.
	isp   string
	grade protocol.Grade
}

// local is a peer the claimant routes to the verifying ISP.
func local(addr string, grade protocol.Grade) peer {
	return peer{addr: netip.MustParseAddr(addr), isp: "isp-a", grade: grade}
}

// remote is a peer of another ISP.
func remote(addr string) peer {
	return peer{addr: netip.MustParseAddr(addr), isp: "isp-b", grade: protocol.GradeVerifiedTransfer}
}

// unrouted is a peer no ISP of the directory serves.
func unrouted(addr string) peer {
	return peer{addr: netip.MustParseAddr(addr), grade: protocol.GradeVerifiedTransfer}
}

// evidence returns valid evidence of a grade for the i-th peer.
func evidence(i int, grade protocol.Grade) protocol.Evidence {
	start := buildAt.Add(-10 * time.Minute)
	e := protocol.Evidence{
		Grade: grade, Port: uint16(6881 + i), Source: "tracker",
		FirstSeen: start.Add(time.Minute), LastSeen: start.Add(5 * time.Minute),
	}
	if grade == protocol.GradeAnnounced {
		return e
	}
	e.Transport, e.PeerID, e.Client = "tcp", fmt.Sprintf("%040x", i), "Transmission 3.00"
	if grade == protocol.GradeVerifiedTransfer {
		e.Bytes = 16384
		e.Pieces = []protocol.PieceProof{{Index: i, Hash: fmt.Sprintf("%040x", i+1), At: start.Add(2 * time.Minute)}}
	}
	return e
}

// bundle builds an assertion over peers, signed by the holder or, if
// delegated, by the agent.
func (fx *fixture) bundle(t testing.TB, delegated bool, peers []peer) []byte {
	t.Helper()
	obs := protocol.Observation{
		Content: film, Swarm: film, PieceCount: 10000,
		Observed: protocol.Window{Start: buildAt.Add(-10 * time.Minute), End: buildAt},
	}
	dir := protocol.Directory{ISPs: []protocol.DirectoryEntry{
		{Name: "isp-a", Region: "DE", Recipient: fx.ours.Recipient().String()},
		{Name: "isp-b", Region: "FR", Recipient: fx.theirs.Recipient().String()},
	}}
	for i, p := range peers {
		obs.Peers = append(obs.Peers, protocol.ObservedPeer{Addr: p.addr, Evidence: evidence(i, p.grade)})
		host := netip.PrefixFrom(p.addr, p.addr.BitLen())
		switch p.isp {
		case "isp-a":
			dir.ISPs[0].Prefixes = append(dir.ISPs[0].Prefixes, host)
		case "isp-b":
			dir.ISPs[1].Prefixes = append(dir.ISPs[1].Prefixes, host)
		}
	}
	key, cred := fx.holder, fx.credID
	if delegated {
		key, cred = fx.agent, fx.delegID
	}
	b, _, err := protocol.BuildAssertion(key, obs, dir, protocol.BuildOptions{Credential: cred, NotBefore: buildAt})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// verifyAt builds an assertion over peers and verifies it as isp-a at
// time at.
func (fx *fixture) verifyAt(t testing.TB, at time.Time, delegated bool, peers ...peer) *protocol.VerifiedAssertion {
	t.Helper()
	v := protocol.NewVerifier([]*sign.PublicKey{fx.registrar.Public()}, protocol.WithPermittedPrefixes(labPrefixes...))
	chain := [][]byte{fx.cred}
	if delegated {
		chain = append(chain, fx.deleg)
	}
	c, err := v.VerifyChain(chain, at)
	if err != nil {
		t.Fatal(err)
	}
	va, err := v.Verify(fx.bundle(t, delegated, peers), c, &protocol.ISP{Name: "isp-a", Region: "DE", Identity: fx.ours}, at)
	if err != nil {
		t.Fatal(err)
	}
	return va
}

// verify builds an assertion of the holder over peers and verifies it as
// isp-a at evalAt.
func (fx *fixture) verify(t testing.TB, peers ...peer) *protocol.VerifiedAssertion {
	t.Helper()
	return fx.verifyAt(t, evalAt, false, peers...)
}
