package protocol_test

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/docket-project/docket/crypto/seal"
	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/protocol"
)

func TestParseContentID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"btih:c9e15763f722f23e98a29decdfae341b98d53056", true},
		{"btmh:1220d8f0c1b2a39485766758493a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c", true},
		{"bt2file:5f4dcc3b5aa765d61d8327deb882cf99e1b4b3e0c7d1a3f2a9e8d7c6b5a49382", true},
		{"btih:C9E15763F722F23E98A29DECDFAE341B98D53056", false},
		{"btih:c9e15763f722f23e98a29decdfae341b98d5305", false},
		{"btmh:1114d8f0c1b2a39485766758493a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c", false},
		{"urn:btih:c9e15763f722f23e98a29decdfae341b98d53056", false},
		{"c9e15763f722f23e98a29decdfae341b98d53056", false},
		{"", false},
	} {
		_, err := protocol.ParseContentID(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseContentID(%q) = %v, want ok=%v", tc.in, err, tc.ok)
		}
		if err != nil && protocol.CodeOf(err) != protocol.CodeBadContentID {
			t.Errorf("ParseContentID(%q): code %q, want BAD_CONTENT_ID", tc.in, protocol.CodeOf(err))
		}
	}
}

func TestIsGlobalUnicast(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"81.2.69.160": true, "2a00:1450:4001:800::200e": true,
		"10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false, "127.0.0.1": false,
		"100.64.0.1": false, "169.254.1.1": false, "192.0.2.1": false, "198.51.100.7": false,
		"203.0.113.9": false, "198.18.0.1": false, "240.0.0.1": false, "255.255.255.255": false,
		"0.1.2.3": false, "224.0.0.1": false, "192.88.99.1": false,
		"::1": false, "fe80::1": false, "fc00::1": false, "2001:db8::1": false, "2002:c000:0201::1": false,
		"64:ff9b::808:808": false, "::1.2.3.4": false, "4000::1": false, "ff02::1": false, "3fff::1": false,
	} {
		if got := protocol.IsGlobalUnicast(netip.MustParseAddr(addr)); got != want {
			t.Errorf("IsGlobalUnicast(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestScopeCovers(t *testing.T) {
	t.Parallel()
	s := protocol.Scope{ISPs: []string{"isp-a"}, Regions: []string{"DE", "FR-IDF"}}
	for _, tc := range []struct {
		isp, region string
		want        bool
	}{
		{"isp-a", "IT", true},
		{"isp-b", "DE", true},
		{"isp-b", "DE-BY", true},
		{"isp-b", "FR-IDF", true},
		{"isp-b", "FR", false},
		{"isp-b", "FR-ARA", false},
		{"isp-b", "DEU", false},
	} {
		if got := s.Covers(tc.isp, tc.region); got != tc.want {
			t.Errorf("Covers(%s, %s) = %v, want %v", tc.isp, tc.region, got, tc.want)
		}
	}
}

func TestDirectoryRouteLongestPrefix(t *testing.T) {
	t.Parallel()
	d := protocol.Directory{ISPs: []protocol.DirectoryEntry{
		{Name: "wholesale", Prefixes: []netip.Prefix{netip.MustParsePrefix("81.0.0.0/8")}},
		{Name: "retail", Prefixes: []netip.Prefix{netip.MustParsePrefix("81.2.0.0/16")}},
	}}
	for addr, want := range map[string]string{"81.2.69.160": "retail", "81.3.0.1": "wholesale", "82.1.1.1": ""} {
		if got := d.Route(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Route(%s) = %q, want %q", addr, got, want)
		}
	}
}

// TestBuildAssertionSealsEvidenceToOwner checks that each ISP's section
// carries the whole swarm but evidence only for its own peers, and that the
// public part names no address.
func TestBuildAssertionSealsEvidenceToOwner(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, 6, 3)
	env := fx.assertion(t)
	sa, err := protocol.DecodeAssertion(env)
	if err != nil {
		t.Fatal(err)
	}
	if got := sa.Assertion.PeersPerISP; got["isp-a"] != 3 || got["isp-b"] != 3 {
		t.Fatalf("peers_per_isp = %v, want 3 and 3", got)
	}
	for _, p := range fx.obs.Peers {
		if bytes.Contains(sa.Envelope.Payload, []byte(p.Addr.String())) {
			t.Errorf("public payload names address %s", p.Addr)
		}
	}
	v := fx.verifier()
	chain, err := v.VerifyChain([][]byte{fx.cred}, fx.now)
	if err != nil {
		t.Fatal(err)
	}
	// isp-b is outside the fixture credential's scope: open its section directly.
	for _, isp := range []*protocol.ISP{fx.isp, {Name: "isp-b", Region: "FR", Identity: fx.other}} {
		sealed, ok := sa.Sealed[isp.Name]
		if !ok {
			t.Fatalf("no section for %s", isp.Name)
		}
		pt, err := seal.Open(sealed, isp.Identity, protocol.MaxSectionPlaintext)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := protocol.DecodeSection(pt)
		if err != nil {
			t.Fatal(err)
		}
		if len(sc.Peers) != 6 {
			t.Errorf("%s sees %d peers, want the whole swarm of 6", isp.Name, len(sc.Peers))
		}
		for _, p := range sc.Peers {
			own := fx.dir.Route(p.Addr) == isp.Name
			if (p.Evidence != nil) != own {
				t.Errorf("%s: peer %s evidence present=%v, own=%v", isp.Name, p.Addr, p.Evidence != nil, own)
			}
		}
	}
	va, err := v.Verify(env, chain, fx.isp, fx.now)
	if err != nil {
		t.Fatal(err)
	}
	if len(va.Local()) != 3 {
		t.Errorf("isp-a acts on %d peers, want 3", len(va.Local()))
	}
}

func TestDelegate(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, 1, 1)
	parent, err := protocol.DecodeCredential(fx.cred)
	if err != nil {
		t.Fatal(err)
	}
	agent, err := sign.Generate(sign.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	child := parent.Credential
	child.Subject = protocol.Subject{Name: "Agent", PublicKey: agent.Public().DER()}
	child.NotAfter = child.NotAfter.Add(-time.Hour)

	if _, _, err := protocol.Delegate(agent, parent, child); protocol.CodeOf(err) != protocol.CodeWrongKey {
		t.Errorf("delegation by a non-subject: got %v, want WRONG_KEY", err)
	}
	wider := child
	wider.Scope.ISPs = append([]string{"isp-z"}, wider.Scope.ISPs...)
	if _, _, err := protocol.Delegate(fx.holder, parent, wider); protocol.CodeOf(err) != protocol.CodeDelegationWider {
		t.Errorf("wider delegation: got %v, want DELEGATION_WIDER", err)
	}
	env, _, err := protocol.Delegate(fx.holder, parent, child)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := fx.verifier().VerifyChain([][]byte{fx.cred, env}, fx.now)
	if err != nil {
		t.Fatalf("delegated chain does not verify: %v", err)
	}
	if !chain.Leaf().Subject.Equal(agent.Public()) {
		t.Error("chain leaf is not the agent")
	}
	child2 := child
	child2.Subject.PublicKey = fx.holder.Public().DER()
	if _, _, err := protocol.Delegate(agent, chain.Leaf(), child2); protocol.CodeOf(err) != protocol.CodeChainTooDeep {
		t.Errorf("re-delegation: got %v, want CHAIN_TOO_DEEP", err)
	}
}
