package main

import (
	"strings"
	"time"

	"github.com/docket-project/docket/crypto/dsse"
	"github.com/docket-project/docket/protocol"
	"github.com/docket-project/docket/spec"
)

func (w *world) revocationVectors() {
	kind := spec.KindRevocation
	revoke := func(by *protocol.Revocation, key signer) []byte {
		env, _ := must2(protocol.SignRevocation(key, *by))
		return env
	}
	ofCred := &protocol.Revocation{Credential: w.credID, Reason: "ownership disputed in court", RevokedAt: now.Add(-time.Hour)}
	ofDeleg := &protocol.Revocation{Credential: w.delegID, Reason: "agent contract ended", RevokedAt: now.Add(-time.Hour)}

	v := w.base(kind, spec.ExpectAccept, "The registrar revokes the grant it issued.")
	v.Revocation = string(revoke(ofCred, w.registrar))
	w.add("revocation-valid-registrar", v)

	v = w.base(kind, spec.ExpectAccept, "The rights holder revokes the delegation it made.")
	v.Chain = []string{string(w.cred), string(w.deleg)}
	v.Revocation = string(revoke(ofDeleg, w.holder))
	w.add("revocation-valid-holder", v)

	v = w.base(kind, spec.ExpectAccept, "The registrar revokes a delegation under its grant.")
	v.Chain = []string{string(w.cred), string(w.deleg)}
	v.Revocation = string(revoke(ofDeleg, w.registrar))
	w.add("revocation-valid-registrar-of-delegation", v)

	v = w.base(kind, string(protocol.CodeRevocationUnauthorized), "The agent tries to revoke the grant its delegation hangs from.")
	v.Chain = []string{string(w.cred), string(w.deleg)}
	v.Revocation = string(revoke(ofCred, w.agent))
	w.add("revocation-unauthorized", v)

	v = w.base(kind, string(protocol.CodeRevocationUnauthorized), "A key outside the chain revokes the grant.")
	v.Revocation = string(revoke(ofCred, w.rogue))
	w.add("revocation-outsider", v)

	env := must(dsse.Decode(revoke(ofCred, w.registrar), protocol.MaxRevocationEnvelope))
	env.Sig = must(dsse.Decode(revoke(ofDeleg, w.registrar), protocol.MaxRevocationEnvelope)).Sig
	v = w.base(kind, string(protocol.CodeBadSignature), "The registrar's key id with a signature over another revocation.")
	v.Chain = []string{string(w.cred), string(w.deleg)}
	v.Revocation = string(must(dsse.Encode(env)))
	w.add("revocation-forged-signature", v)

	padded := string(revoke(ofCred, w.registrar))
	padded = replaceOnce(padded, "{", "{"+strings.Repeat(" ", protocol.MaxRevocationEnvelope))
	v = w.base(kind, string(protocol.CodeOversize), "A revocation envelope padded with whitespace past its size limit.")
	v.Revocation = padded
	w.add("revocation-oversize", v)
}
