package protocol_test

import (
	"testing"
	"time"

	"github.com/docket-project/docket/crypto/dsse"
	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/protocol"
)

// TestSignatureOnlyChecks checks the helpers that verify signatures and
// trust without judging time: each accepts objects long expired (or not yet
// valid) that the full checks refuse on time, and still refuses the wrong
// signer with the same code the full checks give.
func TestSignatureOnlyChecks(t *testing.T) {
	t.Parallel()
	fx := newFixture(t, 1, 1)
	v := fx.verifier()
	longAfter := fx.now.AddDate(5, 0, 0)

	// Chain: valid whatever the time; the full check fails on time.
	if _, err := v.VerifyChain([][]byte{fx.cred}, longAfter); protocol.CodeOf(err) != protocol.CodeCredentialExpired {
		t.Fatalf("VerifyChain years later: %v, want CREDENTIAL_EXPIRED", err)
	}
	chain, err := v.VerifyChainSignatures([][]byte{fx.cred})
	if err != nil {
		t.Fatalf("VerifyChainSignatures of an expired credential: %v", err)
	}
	if chain.Leaf().ID != fx.credID {
		t.Errorf("chain leaf %s, want %s", chain.Leaf().ID, fx.credID)
	}
	if _, err := protocol.NewVerifier(nil).VerifyChainSignatures([][]byte{fx.cred}); protocol.CodeOf(err) != protocol.CodeUntrustedRegistrar {
		t.Errorf("without the registrar: %v, want UNTRUSTED_REGISTRAR", err)
	}
	parent := chain.Leaf()
	agent := newKey(t)
	child := parent.Credential
	child.Subject = protocol.Subject{Name: "Agent", PublicKey: agent.Public().DER()}
	delegation, _, err := protocol.Delegate(fx.holder, parent, child)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyChainSignatures([][]byte{fx.cred, delegation}); err != nil {
		t.Errorf("delegation: %v", err)
	}
	// A delegation signed by someone other than the parent's subject.
	forged, _, err := protocol.IssueCredential(agent, protocol.Credential{Parent: fx.credID,
		Subject: child.Subject, Works: child.Works, Scope: child.Scope, NotBefore: child.NotBefore, NotAfter: child.NotAfter})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyChainSignatures([][]byte{fx.cred, forged}); protocol.CodeOf(err) != protocol.CodeChainBroken {
		t.Errorf("delegation issued by another key: %v, want CHAIN_BROKEN", err)
	}

	// Assertion: the step-2 check alone, years after the assertion expired.
	bundle := fx.assertion(t)
	sa, err := protocol.DecodeAssertion(bundle)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(bundle, chain, nil, longAfter); err == nil {
		t.Fatal("Verify accepted an assertion years after it expired")
	}
	if err := protocol.VerifyAssertionSignature(sa, parent); err != nil {
		t.Errorf("VerifyAssertionSignature: %v", err)
	}
	agentCred, err := protocol.DecodeCredential(delegation)
	if err != nil {
		t.Fatal(err)
	}
	if err := protocol.VerifyAssertionSignature(sa, agentCred); protocol.CodeOf(err) != protocol.CodeChainBroken {
		t.Errorf("another credential: %v, want CHAIN_BROKEN", err)
	}
	env := *sa.Envelope
	env.Sig = append([]byte(nil), env.Sig...)
	env.Sig[0] ^= 1
	raw, err := dsse.Encode(&env)
	if err != nil {
		t.Fatal(err)
	}
	tampered, err := protocol.EncodeBundle(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	tsa, err := protocol.DecodeAssertion(tampered)
	if err != nil {
		t.Fatal(err)
	}
	if err := protocol.VerifyAssertionSignature(tsa, parent); protocol.CodeOf(err) != protocol.CodeBadSignature {
		t.Errorf("a flipped signature bit: %v, want BAD_SIGNATURE", err)
	}

	// Announcement: valid whatever the time; the full check fails on time.
	ispKey := newKey(t)
	ann := announce(t, ispKey, "isp-a", annNow, "198.51.100.0/24")
	data, err := dsse.Encode(ann.Envelope)
	if err != nil {
		t.Fatal(err)
	}
	trusted := []*sign.PublicKey{ispKey.Public()}
	if _, err := protocol.VerifyAnnouncement(data, trusted, annNow.Add(72*time.Hour)); protocol.CodeOf(err) != protocol.CodeExpired {
		t.Fatalf("VerifyAnnouncement days later: %v, want EXPIRED", err)
	}
	if _, err := protocol.VerifyAnnouncementSignature(data, trusted); err != nil {
		t.Errorf("VerifyAnnouncementSignature of an expired announcement: %v", err)
	}
	if _, err := protocol.VerifyAnnouncementSignature(data, []*sign.PublicKey{newKey(t).Public()}); protocol.CodeOf(err) != protocol.CodeUntrustedISP {
		t.Errorf("untrusted ISP key: %v, want UNTRUSTED_ISP", err)
	}
}
