package policy_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/docket-project/docket/crypto/seal"
	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/node/policy"
	"github.com/docket-project/docket/protocol"
)

// An ISP verifies an assertion, then asks its policy which pairs to block:
// its verified-transfer subscriber against every other peer of the swarm
// but a root DNS server; its subscriber seen only in a tracker list is no
// local end.
func Example() {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	registrar, _ := sign.Generate(sign.Ed25519)
	holder, _ := sign.Generate(sign.Ed25519)
	ispIdentity, _ := seal.GenerateIdentity()
	film := protocol.ContentID("btih:c9e15763f722f23e98a29decdfae341b98d53056")
	cred, credID, err := protocol.IssueCredential(registrar, protocol.Credential{
		Subject:   protocol.Subject{Name: "Example Films", PublicKey: holder.Public().DER()},
		Works:     []protocol.Work{{ID: "film-1", Title: "A Film", Content: []protocol.ContentID{film}}},
		Scope:     protocol.Scope{Regions: []string{"DE"}},
		NotBefore: now.AddDate(0, -1, 0),
		NotAfter:  now.AddDate(1, 0, 0),
	})
	if err != nil {
		panic(err)
	}

	// The ISP serves 198.51.100.0/24, a documentation range the verifier
	// is told to permit.
	ours := netip.MustParsePrefix("198.51.100.0/24")
	seen := now.Add(-8 * time.Minute)
	transfer := protocol.Evidence{
		Grade: protocol.GradeVerifiedTransfer, Port: 51413, Transport: "tcp", Source: "tracker",
		FirstSeen: seen, LastSeen: seen.Add(time.Minute),
		PeerID: "2d5452333030302d313233343536373839616263", Bytes: 16384,
		Pieces: []protocol.PieceProof{{Index: 3, Hash: "8a4d0f4f0c3e5b1a2f6e7d8c9b0a1f2e3d4c5b6a", At: seen.Add(30 * time.Second)}},
	}
	announced := protocol.Evidence{Grade: protocol.GradeAnnounced, Port: 6881, Source: "dht", FirstSeen: seen, LastSeen: seen}
	bundle, _, err := protocol.BuildAssertion(holder, protocol.Observation{
		Content: film, Swarm: film, PieceCount: 100,
		Observed: protocol.Window{Start: now.Add(-10 * time.Minute), End: now},
		Peers: []protocol.ObservedPeer{
			{Addr: netip.MustParseAddr("198.51.100.7"), Evidence: transfer},
			{Addr: netip.MustParseAddr("198.51.100.99"), Evidence: announced},
			{Addr: netip.MustParseAddr("198.41.0.4"), Evidence: transfer}, // a.root-servers.net
			{Addr: netip.MustParseAddr("203.0.113.5"), Evidence: transfer},
		},
	}, protocol.Directory{ISPs: []protocol.DirectoryEntry{{
		Name: "isp-a", Region: "DE", Recipient: ispIdentity.Recipient().String(), Prefixes: []netip.Prefix{ours},
	}}}, protocol.BuildOptions{Credential: credID, NotBefore: now})
	if err != nil {
		panic(err)
	}
	v := protocol.NewVerifier([]*sign.PublicKey{registrar.Public()},
		protocol.WithPermittedPrefixes(ours, netip.MustParsePrefix("203.0.113.0/24")))
	chain, err := v.VerifyChain([][]byte{cred}, now)
	if err != nil {
		panic(err)
	}
	at := now.Add(time.Minute)
	va, err := v.Verify(bundle, chain, &protocol.ISP{Name: "isp-a", Region: "DE", Identity: ispIdentity}, at)
	if err != nil {
		panic(err)
	}

	p, err := policy.New(policy.Config{
		OwnPrefixes: []netip.Prefix{ours},
		MaxTTL:      policy.Duration(5 * time.Minute),
		Rules:       []string{`a.grades["verified-transfer"] >= 1`},
	})
	if err != nil {
		panic(err)
	}
	var window policy.ClaimantWindow
	verdict, err := p.Evaluate(va, at, policy.Counters{Claimants: &window})
	if err != nil {
		panic(err)
	}
	for _, pair := range verdict.Pairs {
		fmt.Println("block", pair.Local, "<->", pair.Remote, "until", pair.Expires.Format(time.RFC3339))
	}
	fmt.Printf("excluded: %+v\n", verdict.Excluded)
	// Once the pairs are installed:
	window.Record(verdict.Claimant, len(verdict.Pairs), at)

	// A stricter ISP wants two verified transfers.
	strict, err := policy.New(policy.Config{
		OwnPrefixes: []netip.Prefix{ours},
		Rules:       []string{`a.grades["verified-transfer"] >= 2`},
	})
	if err != nil {
		panic(err)
	}
	_, err = strict.Evaluate(va, at, policy.Counters{Claimants: &window})
	fmt.Println(err)
	// Output:
	// block 198.51.100.7 <-> 198.51.100.99 until 2026-06-01T12:06:00Z
	// block 198.51.100.7 <-> 203.0.113.5 until 2026-06-01T12:06:00Z
	// excluded: {ProtectedPeers:1 ProtectedPairs:1 OutsideOwnPrefixes:0 GradeNotEnforced:1}
	// POLICY_DENIED: rules[0] "a.grades[\"verified-transfer\"] >= 2" does not hold
}
