package protocol_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/docket-project/docket/crypto/seal"
	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/protocol"
)

// fixture is a registrar, a rights holder with a credential, and one ISP
// serving every peer of an observation.
type fixture struct {
	registrar, holder *sign.PrivateKey
	identity, other   *age.X25519Identity // isp-a's and isp-b's
	isp               *protocol.ISP
	cred              []byte
	credID            protocol.ID
	obs               protocol.Observation
	dir               protocol.Directory
	now               time.Time
}

var labNet = netip.MustParsePrefix("198.51.100.0/24")

// newFixture makes a fixture whose observation has the given number of
// peers; the first local of them are served by isp-a (the verifying ISP),
// the others by isp-b.
func newFixture(tb testing.TB, peers, local int) *fixture {
	tb.Helper()
	must := func(err error) {
		if err != nil {
			tb.Fatal(err)
		}
	}
	fx := &fixture{now: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	var err error
	fx.registrar, err = sign.Generate(sign.Ed25519)
	must(err)
	fx.holder, err = sign.Generate(sign.Ed25519)
	must(err)
	fx.identity, err = seal.GenerateIdentity()
	must(err)
	fx.isp = &protocol.ISP{Name: "isp-a", Region: "DE", Identity: fx.identity}
	content := protocol.ContentID("btih:c9e15763f722f23e98a29decdfae341b98d53056")
	fx.cred, fx.credID, err = protocol.IssueCredential(fx.registrar, protocol.Credential{
		Subject:   protocol.Subject{Name: "Example Records", PublicKey: fx.holder.Public().DER()},
		Works:     []protocol.Work{{ID: "work-1", Title: "Night Trains", Content: []protocol.ContentID{content}}},
		Scope:     protocol.Scope{ISPs: []string{"isp-a"}},
		NotBefore: fx.now.AddDate(0, -1, 0),
		NotAfter:  fx.now.AddDate(1, 0, 0),
	})
	must(err)
	start := fx.now.Add(-10 * time.Minute)
	fx.obs = protocol.Observation{
		Content: content, Swarm: content, PieceCount: 1000,
		Observed: protocol.Window{Start: start, End: fx.now},
	}
	addr := labNet.Addr()
	for i := range peers {
		addr = addr.Next()
		fx.obs.Peers = append(fx.obs.Peers, protocol.ObservedPeer{Addr: addr, Evidence: protocol.Evidence{
			Grade: protocol.GradeVerifiedTransfer, Port: uint16(6881 + i), Transport: "tcp", Source: "tracker",
			FirstSeen: start.Add(time.Minute), LastSeen: start.Add(5 * time.Minute),
			PeerID: fmt.Sprintf("%040x", i), Client: "Transmission 3.00", Bytes: 524288,
			Pieces: []protocol.PieceProof{
				{Index: 2 * i, Hash: fmt.Sprintf("%040x", 2*i), At: start.Add(2 * time.Minute)},
				{Index: 2*i + 1, Hash: fmt.Sprintf("%040x", 2*i+1), At: start.Add(3 * time.Minute)},
			},
		}})
	}
	fx.other, err = seal.GenerateIdentity()
	must(err)
	fx.dir = protocol.Directory{ISPs: []protocol.DirectoryEntry{
		{Name: "isp-a", Region: "DE", Recipient: fx.identity.Recipient().String(), Prefixes: []netip.Prefix{labNet}},
		{Name: "isp-b", Region: "FR", Recipient: fx.other.Recipient().String()},
	}}
	for _, p := range fx.obs.Peers[local:] {
		fx.dir.ISPs[1].Prefixes = append(fx.dir.ISPs[1].Prefixes, netip.PrefixFrom(p.Addr, 32))
	}
	return fx
}

func (fx *fixture) verifier() *protocol.Verifier {
	return protocol.NewVerifier([]*sign.PublicKey{fx.registrar.Public()}, protocol.WithPermittedPrefixes(labNet))
}

func (fx *fixture) assertion(tb testing.TB) []byte {
	tb.Helper()
	env, _, err := protocol.BuildAssertion(fx.holder, fx.obs, fx.dir, protocol.BuildOptions{Credential: fx.credID, NotBefore: fx.now})
	if err != nil {
		tb.Fatal(err)
	}
	return env
}

// BenchmarkVerifyAssertion measures the ISP's verification of an assertion
// (chain cached) for swarms of 50 and 500 peers, of which the verifying
// ISP serves some (their evidence is in its section) and another ISP the
// rest. Its first sub-benchmark measures the
// cryptographic floor any verification of a sealed, signed assertion needs:
// one Ed25519 verification plus one X25519 age unwrap. The others report
// their time as a multiple of it ("x-floor"), measured in the same run.
func BenchmarkVerifyAssertion(b *testing.B) {
	var floorNs float64
	b.Run("floor", func(b *testing.B) {
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		msg := make([]byte, 512)
		sig := ed25519.Sign(priv, msg)
		id, _ := age.GenerateX25519Identity()
		sealed, _ := seal.Seal([]byte("x"), id.Recipient())
		header, err := age.ExtractHeader(bytes.NewReader(sealed))
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if !ed25519.Verify(pub, msg, sig) {
				b.Fatal("verify failed")
			}
			if _, err := age.DecryptHeader(header, id); err != nil {
				b.Fatal(err)
			}
		}
		floorNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	for _, size := range []struct{ peers, local int }{{50, 10}, {50, 50}, {500, 50}} {
		b.Run(fmt.Sprintf("peers=%d/local=%d", size.peers, size.local), func(b *testing.B) {
			fx := newFixture(b, size.peers, size.local)
			// The ISP receives the envelope and its own sealed section.
			sa, err := protocol.DecodeAssertion(fx.assertion(b))
			if err != nil {
				b.Fatal(err)
			}
			env, err := sa.Bundle(fx.isp.Name)
			if err != nil {
				b.Fatal(err)
			}
			v := fx.verifier()
			chain, err := v.VerifyChain([][]byte{fx.cred}, fx.now)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(env)))
			for b.Loop() {
				if _, err := v.Verify(env, chain, fx.isp, fx.now); err != nil {
					b.Fatal(err)
				}
			}
			if floorNs > 0 {
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/floorNs, "x-floor")
			}
		})
	}
}

// BenchmarkVerifyChain measures verifying a one-link credential chain.
func BenchmarkVerifyChain(b *testing.B) {
	fx := newFixture(b, 1, 1)
	v := fx.verifier()
	for b.Loop() {
		if _, err := v.VerifyChain([][]byte{fx.cred}, fx.now); err != nil {
			b.Fatal(err)
		}
	}
}
