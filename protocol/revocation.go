package protocol

import (
	"time"

	"github.com/docket-project/docket/crypto/dsse"
	"github.com/docket-project/docket/crypto/sign"
)

// Revocation withdraws a credential before its not_after (spec/SPEC.md §7).
// It is signed by the key that issued the credential or, for a delegation,
// by the registrar at the root of its chain.
type Revocation struct {
	// Issuer is the key id of the revoking key.
	Issuer sign.KeyID `json:"issuer"`
	// Credential is the id of the revoked credential.
	Credential ID `json:"credential"`
	// Reason says why, for humans.
	Reason string `json:"reason"`
	// RevokedAt is when the revocation was made.
	RevokedAt time.Time `json:"revoked_at"`
}

// Validate checks the revocation's fields.
func (r *Revocation) Validate() error {
	if !r.Issuer.Valid() {
		return errorf(CodeMalformed, "issuer %q is not a key id", truncate(string(r.Issuer)))
	}
	if !r.Credential.Valid() {
		return errorf(CodeMalformed, "credential is missing")
	}
	if err := checkText("reason", r.Reason, MaxTitleLength, false); err != nil {
		return err
	}
	return checkTime("revoked_at", r.RevokedAt)
}

// SignedRevocation is a decoded revocation envelope whose fields are valid.
type SignedRevocation struct {
	ID         ID
	Revocation Revocation
	Envelope   *dsse.Envelope
}

// DecodeRevocation decodes and validates a revocation envelope without
// checking its signature.
func DecodeRevocation(data []byte) (*SignedRevocation, error) {
	sr := &SignedRevocation{}
	env, err := decodeObject(data, MaxRevocationEnvelope, RevocationType, "revocation", &sr.Revocation)
	if err != nil {
		return nil, err
	}
	sr.ID, sr.Envelope = IDOf(env.Payload), env
	return sr, nil
}

// SignRevocation validates r, sets its Issuer to key's id and signs it.
func SignRevocation(key *sign.PrivateKey, r Revocation) ([]byte, ID, error) {
	r.Issuer = key.Public().ID()
	return signObject(key, RevocationType, &r)
}
