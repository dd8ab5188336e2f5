package protocol_test

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/docket-project/docket/crypto/seal"
	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/protocol"
	"github.com/docket-project/docket/spec"
)

func loadVectors(t testing.TB) []spec.Vector {
	t.Helper()
	vectors, err := spec.Vectors()
	if err != nil {
		t.Fatal(err)
	}
	return vectors
}

// verifierOptions returns the options a vector sets, revocations aside.
func verifierOptions(vec spec.Vector) ([]*sign.PublicKey, []protocol.Option, error) {
	var registrars []*sign.PublicKey
	for _, p := range vec.Registrars {
		k, err := sign.ParsePublicKeyPEM([]byte(p))
		if err != nil {
			return nil, nil, err
		}
		registrars = append(registrars, k)
	}
	var opts []protocol.Option
	for _, p := range vec.PermittedPrefixes {
		opts = append(opts, protocol.WithPermittedPrefixes(netip.MustParsePrefix(p)))
	}
	if vec.MaxLife != "" {
		d, err := time.ParseDuration(vec.MaxLife)
		if err != nil {
			return nil, nil, err
		}
		opts = append(opts, protocol.WithMaxLife(d))
	}
	seen := map[protocol.ID]bool{}
	for _, id := range vec.Seen {
		seen[protocol.ID(id)] = true
	}
	opts = append(opts, protocol.WithSeen(func(id protocol.ID) bool { return seen[id] }))
	return registrars, opts, nil
}

// runVector performs the verification a vector describes. A setup failure
// (which is never a *protocol.Error) fails the vector whatever it expects.
func runVector(vec spec.Vector) (*protocol.VerifiedAssertion, error) {
	registrars, opts, err := verifierOptions(vec)
	if err != nil {
		return nil, fmt.Errorf("vector setup: %v", err)
	}
	switch vec.Kind {
	case spec.KindAnnouncement, spec.KindReceipt:
		return nil, runISPVector(vec)
	}
	chainBytes := make([][]byte, len(vec.Chain))
	for i, c := range vec.Chain {
		chainBytes[i] = []byte(c)
	}
	chain, err := protocol.NewVerifier(registrars, opts...).VerifyChain(chainBytes, vec.Now)
	if err != nil {
		return nil, err
	}
	revoked := map[protocol.ID]bool{}
	for _, r := range vec.Revocations {
		sr, err := protocol.NewVerifier(registrars, opts...).VerifyRevocation([]byte(r), chain)
		if err != nil {
			return nil, fmt.Errorf("vector setup: revocation does not verify: %v", err)
		}
		revoked[sr.Revocation.Credential] = true
	}
	opts = append(opts, protocol.WithRevoked(func(id protocol.ID) bool { return revoked[id] }))
	v := protocol.NewVerifier(registrars, opts...)
	switch vec.Kind {
	case spec.KindCredential:
		return nil, v.CheckChain(chain, vec.Now)
	case spec.KindRevocation:
		_, err := v.VerifyRevocation([]byte(vec.Revocation), chain)
		return nil, err
	case spec.KindAssertion:
		var isp *protocol.ISP
		if vec.ISP != nil {
			id, err := seal.ParseIdentityFile([]byte(vec.ISP.Identity))
			if err != nil {
				return nil, fmt.Errorf("vector setup: %v", err)
			}
			isp = &protocol.ISP{Name: vec.ISP.Name, Region: vec.ISP.Region, Identity: id}
		}
		return v.Verify([]byte(vec.Assertion), chain, isp, vec.Now)
	}
	return nil, fmt.Errorf("vector setup: unknown kind %q", vec.Kind)
}

// runISPVector verifies an announcement or a receipt with the vector's ISP
// keys.
func runISPVector(vec spec.Vector) error {
	var keys []*sign.PublicKey
	for _, p := range vec.ISPKeys {
		k, err := sign.ParsePublicKeyPEM([]byte(p))
		if err != nil {
			return fmt.Errorf("vector setup: %v", err)
		}
		keys = append(keys, k)
	}
	if vec.Kind == spec.KindAnnouncement {
		_, err := protocol.VerifyAnnouncement([]byte(vec.Announcement), keys, vec.Now)
		return err
	}
	if len(keys) == 0 {
		return fmt.Errorf("vector setup: a receipt vector needs an ISP key")
	}
	_, err := protocol.VerifyReceipt([]byte(vec.Receipt), keys[0])
	return err
}

func TestVectors(t *testing.T) {
	vectors := loadVectors(t)
	if len(vectors) < 30 {
		t.Fatalf("only %d vectors, want at least 30", len(vectors))
	}
	covered := map[string]bool{}
	for _, vec := range vectors {
		covered[vec.Expect] = true
	}
	for _, c := range protocol.Codes {
		if !covered[string(c)] {
			t.Errorf("no vector expects %s", c)
		}
	}
	if !covered[spec.ExpectAccept] {
		t.Error("no vector expects accept")
	}
	for _, vec := range vectors {
		t.Run(vec.Name, func(t *testing.T) {
			t.Parallel()
			if vec.Expect != spec.ExpectAccept && !slices.Contains(protocol.Codes, protocol.Code(vec.Expect)) {
				t.Fatalf("vector expects %q, which is neither accept nor a known code", vec.Expect)
			}
			va, err := runVector(vec)
			if vec.Expect == spec.ExpectAccept {
				if err != nil {
					t.Fatalf("%s\nwant accept, got %v", vec.Description, err)
				}
				checkAccepted(t, vec, va)
				return
			}
			if got := protocol.CodeOf(err); got != protocol.Code(vec.Expect) {
				t.Fatalf("%s\nwant %s, got %q (%v)", vec.Description, vec.Expect, got, err)
			}
		})
	}
}

// checkAccepted checks what an accepted assertion must offer its ISP.
func checkAccepted(t *testing.T, vec spec.Vector, va *protocol.VerifiedAssertion) {
	t.Helper()
	if vec.Kind != spec.KindAssertion {
		return
	}
	a := va.Assertion
	if va.Until.After(a.NotAfter) || va.Until.IsZero() {
		t.Errorf("until %s is not within the assertion's not_after %s", va.Until, a.NotAfter)
	}
	if vec.ISP == nil {
		if va.Section != nil {
			t.Error("a public verification opened a section")
		}
		return
	}
	if got, want := len(va.Local()), a.PeersPerISP[vec.ISP.Name]; got != want {
		t.Errorf("%d local peers, public count says %d", got, want)
	}
	if len(va.Section.Peers) != a.Peers {
		t.Errorf("section has %d peers, assertion says %d", len(va.Section.Peers), a.Peers)
	}
}

// TestCodesMatchSpec checks that the implementation's codes are exactly
// those of SPEC.md §8, in the same order.
func TestCodesMatchSpec(t *testing.T) {
	var ours []string
	for _, c := range protocol.Codes {
		ours = append(ours, string(c))
	}
	if theirs := spec.Codes(); !slices.Equal(ours, theirs) {
		t.Fatalf("protocol.Codes and SPEC.md §8 differ:\nprotocol: %v\nspec:     %v", ours, theirs)
	}
}

func TestCodesAreUnique(t *testing.T) {
	seen := map[protocol.Code]bool{}
	for _, c := range protocol.Codes {
		if seen[c] {
			t.Errorf("code %s listed twice", c)
		}
		seen[c] = true
	}
}
