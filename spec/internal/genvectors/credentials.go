package main

import (
	"time"

	"github.com/docket-project/docket/crypto/dsse"
	"strings"

	"github.com/docket-project/docket/protocol"
	"github.com/docket-project/docket/spec"
)

func (w *world) credentialVectors() {
	kind := spec.KindCredential
	w.add("credential-valid", w.base(kind, spec.ExpectAccept,
		"A registrar's grant to a rights holder (ECDSA P-256 subject), verified at a time inside its validity."))

	v := w.base(kind, spec.ExpectAccept, "A grant plus one narrower delegation to an agent.")
	v.Chain = []string{string(w.cred), string(w.deleg)}
	w.add("credential-delegated-valid", v)

	untrusted, _ := w.issue(w.rogue, w.baseCredential())
	v = w.base(kind, string(protocol.CodeUntrustedRegistrar), "A grant issued by a key that is not a trusted registrar.")
	v.Chain = []string{string(untrusted)}
	w.add("credential-untrusted-registrar", v)

	// The payload names the trusted registrar as issuer but the rogue key signs.
	c := w.baseCredential()
	c.Issuer = w.registrar.Public().ID()
	wrongKey := signRaw(w.rogue, protocol.CredentialType, marshal(&c))
	v = w.base(kind, string(protocol.CodeWrongKey), "The payload names the registrar as issuer, but another key signed the envelope.")
	v.Chain = []string{string(wrongKey)}
	w.add("credential-wrong-key", v)

	// A forged signature: the registrar's key id, a signature over other bytes.
	env := must(dsse.Decode(w.cred, protocol.MaxCredentialEnvelope))
	other := must(dsse.Decode(signCredential(w.registrar, w.baseDelegationAsGrant()), protocol.MaxCredentialEnvelope))
	env.Sig = other.Sig
	v = w.base(kind, string(protocol.CodeBadSignature), "The registrar's key id with a signature that was made over another credential.")
	v.Chain = []string{string(must(dsse.Encode(env)))}
	w.add("credential-forged-signature", v)

	v = w.base(kind, string(protocol.CodeCredentialExpired), "Verified after the grant's not_after (plus clock skew).")
	v.Now = now.AddDate(1, 0, 0)
	w.add("credential-expired", v)

	v = w.base(kind, string(protocol.CodeCredentialNotYetValid), "Verified before the grant's not_before (minus clock skew).")
	v.Now = now.AddDate(0, -2, 0)
	w.add("credential-not-yet-valid", v)

	// A delegation of the delegation: three links.
	d2 := w.baseDelegation()
	d2.Parent = w.delegID
	d2.Subject.PublicKey = w.rogue.Public().DER()
	third, _ := w.issue(w.agent, d2)
	v = w.base(kind, string(protocol.CodeChainTooDeep), "An agent re-delegates: a chain of three credentials.")
	v.Chain = []string{string(w.cred), string(w.deleg), string(third)}
	w.add("credential-chain-too-deep", v)

	// A grant that claims to be a delegation but is presented as the root.
	v = w.base(kind, string(protocol.CodeChainTooDeep), "A delegation presented alone, without its parent.")
	v.Chain = []string{string(w.deleg)}
	w.add("credential-delegation-alone", v)

	wider := w.baseDelegation()
	wider.Works[0].Content = append(wider.Works[0].Content, protocol.ContentID("btih:1111111111111111111111111111111111111111"))
	widerWork, _ := w.issue(w.holder, wider)
	v = w.base(kind, string(protocol.CodeDelegationWider), "A delegation naming content its parent does not hold.")
	v.Chain = []string{string(w.cred), string(widerWork)}
	w.add("credential-delegation-wider-work", v)

	wider = w.baseDelegation()
	wider.Scope = protocol.Scope{ISPs: []string{"isp-a", "isp-z"}}
	widerScope, _ := w.issue(w.holder, wider)
	v = w.base(kind, string(protocol.CodeDelegationWider), "A delegation addressing an ISP its parent may not address.")
	v.Chain = []string{string(w.cred), string(widerScope)}
	w.add("credential-delegation-wider-scope", v)

	wider = w.baseDelegation()
	wider.NotAfter = now.AddDate(2, 0, 0)
	widerTime, _ := w.issue(w.holder, wider)
	v = w.base(kind, string(protocol.CodeDelegationWider), "A delegation valid longer than its parent.")
	v.Chain = []string{string(w.cred), string(widerTime)}
	w.add("credential-delegation-wider-time", v)

	broken := w.baseDelegation()
	broken.Parent = protocol.IDOf([]byte("some other credential"))
	brokenEnv, _ := w.issue(w.holder, broken)
	v = w.base(kind, string(protocol.CodeChainBroken), "A delegation whose parent field names another credential.")
	v.Chain = []string{string(w.cred), string(brokenEnv)}
	w.add("credential-chain-broken", v)

	payload := string(marshal(withIssuer(w.baseCredential(), w)))
	unknown := replaceOnce(payload, `{"issuer"`, `{"admin":true,"issuer"`)
	v = w.base(kind, string(protocol.CodeUnknownField), "A validly signed payload with a member the spec does not define.")
	v.Chain = []string{string(signRaw(w.registrar, protocol.CredentialType, []byte(unknown)))}
	w.add("credential-unknown-field", v)

	dup := replaceOnce(payload, `"not_after":`, `"not_after":"2099-01-01T00:00:00Z","not_after":`)
	v = w.base(kind, string(protocol.CodeDuplicateKey), "A validly signed payload giving not_after twice.")
	v.Chain = []string{string(signRaw(w.registrar, protocol.CredentialType, []byte(dup)))}
	w.add("credential-duplicate-key", v)

	v = w.base(kind, string(protocol.CodeUnknownPayloadType), "A credential signed under a payload type version that does not exist.")
	v.Chain = []string{string(signRaw(w.registrar, "application/vnd.docket.credential.v2+json", []byte(payload)))}
	w.add("credential-unknown-payload-type", v)

	v = w.base(kind, string(protocol.CodeMalformed), "A credential envelope cut off in the middle.")
	v.Chain = []string{string(w.cred[:len(w.cred)/2])}
	w.add("credential-truncated", v)

	bad := replaceOnce(payload, string(contentV1), strings.ToUpper(string(contentV1)))
	v = w.base(kind, string(protocol.CodeBadContentID), "A content id in upper case: not canonical.")
	v.Chain = []string{string(signRaw(w.registrar, protocol.CredentialType, []byte(bad)))}
	w.add("credential-bad-content-id", v)

	long := w.baseCredential()
	long.Works[0].Title = strings.Repeat("x", protocol.MaxTitleLength+1)
	v = w.base(kind, string(protocol.CodeOversize), "A work title one byte over the limit.")
	v.Chain = []string{string(signCredential(w.registrar, long))}
	w.add("credential-title-too-long", v)

	region := w.baseCredential()
	region.Scope.Regions = []string{"Germany"}
	v = w.base(kind, string(protocol.CodeInvalidField), "A scope region that is not an ISO 3166 code.")
	v.Chain = []string{string(signCredential(w.registrar, region))}
	w.add("credential-invalid-region", v)

	v = w.base(kind, string(protocol.CodeUnknownField), "An envelope with a member DSSE does not define.")
	v.Chain = []string{replaceOnce(string(w.cred), `{"payloadType"`, `{"comment":"hi","payloadType"`)}
	w.add("credential-envelope-unknown-field", v)

	rev, _ := must2(protocol.SignRevocation(w.registrar, protocol.Revocation{
		Credential: w.credID, Reason: "ownership disputed in court", RevokedAt: now.Add(-time.Hour),
	}))
	v = w.base(kind, string(protocol.CodeCredentialRevoked), "A grant its registrar has revoked.")
	v.Revocations = []string{string(rev)}
	w.add("credential-revoked", v)
}

// baseDelegationAsGrant is a different valid grant, used as a source of a
// signature over other bytes.
func (w *world) baseDelegationAsGrant() protocol.Credential {
	c := w.baseCredential()
	c.Subject.Name = "Someone Else"
	return c
}

func withIssuer(c protocol.Credential, w *world) *protocol.Credential {
	c.Issuer = w.registrar.Public().ID()
	return &c
}

func must2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(err)
	}
	return a, b
}
