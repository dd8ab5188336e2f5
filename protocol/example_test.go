package protocol_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/docket-project/docket/crypto/seal"
	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/protocol"
)

// A registrar grants a rights holder a work; the holder turns what it
// observed into an assertion; the ISP verifies the assertion and learns
// which of its subscribers' addresses it concerns.
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

	lab := netip.MustParsePrefix("198.51.100.0/24") // documentation range, permitted below
	seen := now.Add(-8 * time.Minute)
	bundle, _, err := protocol.BuildAssertion(holder, protocol.Observation{
		Content: film, Swarm: film, PieceCount: 100,
		Observed: protocol.Window{Start: now.Add(-10 * time.Minute), End: now},
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
		Name: "isp-a", Region: "DE", Recipient: ispIdentity.Recipient().String(), Prefixes: []netip.Prefix{lab},
	}}}, protocol.BuildOptions{Credential: credID, NotBefore: now})
	if err != nil {
		panic(err)
	}

	v := protocol.NewVerifier([]*sign.PublicKey{registrar.Public()}, protocol.WithPermittedPrefixes(lab))
	chain, err := v.VerifyChain([][]byte{cred}, now)
	if err != nil {
		panic(err)
	}
	isp := &protocol.ISP{Name: "isp-a", Region: "DE", Identity: ispIdentity}
	va, err := v.Verify(bundle, chain, isp, now.Add(time.Minute))
	if err != nil {
		panic(err)
	}
	for _, p := range va.Local() {
		fmt.Println(p.Addr, p.Evidence.Grade, "until", va.Until.Format(time.RFC3339))
	}

	_, err = v.Verify(bundle, chain, isp, now.Add(time.Hour))
	fmt.Println(protocol.CodeOf(err))
	// Output:
	// 198.51.100.7 verified-transfer until 2026-06-01T12:10:00Z
	// EXPIRED
}
