package main

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/docket-project/docket/crypto/dsse"
	"github.com/docket-project/docket/crypto/seal"
	"github.com/docket-project/docket/protocol"
	"github.com/docket-project/docket/spec"
)

const pieceCount = 64

var (
	observedStart = now.Add(-12 * time.Minute)
	observedEnd   = now.Add(-2 * time.Minute)
)

func pieceHash(swarm protocol.ContentID, index int) string {
	data := []byte(fmt.Sprintf("%s piece %d", swarm, index))
	if swarm.Kind() == protocol.KindV1Infohash {
		sum := sha1.Sum(data)
		return hex.EncodeToString(sum[:])
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func verified(swarm protocol.ContentID, port uint16, transport, client string, pieces ...int) protocol.Evidence {
	first := observedStart.Add(time.Minute)
	e := protocol.Evidence{
		Grade: protocol.GradeVerifiedTransfer, Port: port, Transport: transport, Source: "tracker",
		FirstSeen: first, LastSeen: first.Add(5 * time.Minute),
		PeerID: hex.EncodeToString([]byte(fmt.Sprintf("-TR3000-%012d", port))), Client: client,
	}
	for i, p := range pieces {
		e.Pieces = append(e.Pieces, protocol.PieceProof{Index: p, Hash: pieceHash(swarm, p), At: first.Add(time.Duration(i+1) * 30 * time.Second)})
		e.Bytes += 262144
	}
	return e
}

func (w *world) observation(content, swarm protocol.ContentID, extra ...protocol.ObservedPeer) protocol.Observation {
	peer := func(addr string, e protocol.Evidence) protocol.ObservedPeer {
		return protocol.ObservedPeer{Addr: netip.MustParseAddr(addr), Evidence: e}
	}
	handshake := verified(swarm, 6881, "tcp", "qBittorrent 4.5.2")
	handshake.Grade, handshake.Pieces, handshake.Bytes = protocol.GradeHandshake, nil, 0
	announced := protocol.Evidence{Grade: protocol.GradeAnnounced, Port: 6999, Source: "pex",
		FirstSeen: observedStart.Add(2 * time.Minute), LastSeen: observedStart.Add(2 * time.Minute)}
	obs := protocol.Observation{
		Content: content, Swarm: swarm, PieceCount: pieceCount,
		Observed: protocol.Window{Start: observedStart, End: observedEnd},
		Peers: []protocol.ObservedPeer{
			peer("198.51.100.10", verified(swarm, 51413, "tcp", "Transmission 3.00", 0, 7)),
			peer("198.51.100.20", verified(swarm, 6882, "utp", "qBittorrent 4.5.2", 12)),
			peer("198.51.100.30", handshake),
			peer("198.51.100.40", announced),
			peer("198.51.100.200", verified(swarm, 40000, "tcp", "Deluge 2.1.1", 3, 4, 5)),
			peer("2001:db8::7", verified(swarm, 40001, "tcp", "rtorrent 0.9.8", 63)),
			peer("203.0.113.9", verified(swarm, 40002, "utp", "", 1)),
		},
	}
	obs.Peers = append(obs.Peers, extra...)
	return obs
}

func (w *world) build(key signer, credID protocol.ID, obs protocol.Observation, life time.Duration) []byte {
	env, _, err := protocol.BuildAssertion(key, obs, w.dir, protocol.BuildOptions{
		Credential: credID, NotBefore: observedEnd, Life: life,
	})
	if err != nil {
		panic(err)
	}
	return env
}

// editAssertion decodes a bundle, applies edit to its payload and sealed
// sections, re-signs the payload and bundles it again.
func editAssertion(bundle []byte, key signer, edit func(a *protocol.Assertion, sealed map[string][]byte)) []byte {
	sa := must(protocol.DecodeAssertion(bundle))
	a := sa.Assertion
	a.Sections = slices.Clone(a.Sections)
	edit(&a, sa.Sealed)
	return rebundle(signRaw(key, protocol.AssertionType, marshal(&a)), a.Sections, sa.Sealed)
}

// rebundle bundles env with the sealed sections the sections name.
func rebundle(env []byte, sections []protocol.Section, sealed map[string][]byte) []byte {
	var out []protocol.SealedSection
	for _, s := range sections {
		if data, ok := sealed[s.ISP]; ok {
			out = append(out, protocol.SealedSection{ISP: s.ISP, Data: data})
		}
	}
	return must(protocol.EncodeBundle(env, out))
}

// replaceSealed puts data as who's sealed section and signs its digest.
func replaceSealed(a *protocol.Assertion, sealed map[string][]byte, isp string, data []byte) {
	for i := range a.Sections {
		if a.Sections[i].ISP == isp {
			sum := sha256.Sum256(data)
			a.Sections[i].SHA256, a.Sections[i].Size = sum[:], len(data)
			sealed[isp] = data
		}
	}
}

// editSectionBytes opens who's section, applies edit to its plaintext,
// reseals it to who and re-signs.
func editSectionBytes(bundle []byte, key signer, who *isp, edit func([]byte) []byte) []byte {
	return editAssertion(bundle, key, func(a *protocol.Assertion, sealed map[string][]byte) {
		pt := must(seal.Open(sealed[who.name], who.id, protocol.MaxSectionPlaintext))
		replaceSealed(a, sealed, who.name, must(seal.Seal(edit(pt), who.id.Recipient())))
	})
}

// editSection is editSectionBytes on the decoded section.
func editSection(bundle []byte, key signer, who *isp, edit func(sc *protocol.SectionContent)) []byte {
	return editSectionBytes(bundle, key, who, func(pt []byte) []byte {
		sc := must(protocol.DecodeSection(pt))
		edit(sc)
		return marshal(sc)
	})
}

// editPayload edits the signed payload's JSON text and re-signs it.
func editPayload(bundle []byte, key signer, edit func(string) string) []byte {
	sa := must(protocol.DecodeAssertion(bundle))
	env := signRaw(key, protocol.AssertionType, []byte(edit(string(sa.Envelope.Payload))))
	return rebundle(env, sa.Assertion.Sections, sa.Sealed)
}

// editBundle edits the bundle's JSON text, keeping the signed envelope.
func editBundle(bundle []byte, edit func(string) string) []byte {
	return []byte(edit(string(bundle)))
}

func (w *world) assertionVectors() {
	kind := spec.KindAssertion
	obs := w.observation(contentV1, contentV1)
	good := w.build(w.holder, w.credID, obs, 0)
	av := func(env []byte, who *isp, expect protocol.Code, description string) spec.Vector {
		e := spec.ExpectAccept
		if expect != "" {
			e = string(expect)
		}
		v := w.base(kind, e, description)
		v.Assertion = string(env)
		if who != nil {
			v.ISP = ispOf(who)
		}
		return v
	}
	w.add("assertion-valid", av(good, w.ispA, "", "A rights holder's assertion, verified and opened by isp-a: two verified-transfer peers, one handshake, one announced."))
	w.add("assertion-valid-isp-b", av(good, w.ispB, "", "The same assertion opened by isp-b, which serves an IPv4 and an IPv6 peer."))
	w.add("assertion-valid-isp-c-by-region", av(good, w.ispC, "", "The same assertion opened by isp-c, in scope through its region IT."))
	w.add("assertion-valid-public", av(good, nil, "", "The same assertion checked publicly (no ISP): signature, chain, time."))

	v2 := w.build(w.holder, w.credID, w.observation(fileV2, swarmV2), 0)
	w.add("assertion-valid-v2-file", av(v2, w.ispA, "", "An assertion naming a BEP 52 file root, observed in a v2 swarm with SHA-256 piece hashes."))

	delegated := w.build(w.agent, w.delegID, obs, 0)
	v := av(delegated, w.ispA, "", "An agent's assertion under its delegation.")
	v.Chain = []string{string(w.cred), string(w.deleg)}
	w.add("assertion-valid-delegated", v)

	v = av(delegated, w.ispB, protocol.CodeOutOfScope, "An agent's assertion opened by isp-b, which its delegation does not cover.")
	v.Chain = []string{string(w.cred), string(w.deleg)}
	w.add("assertion-out-of-scope", v)

	goodSA := must(protocol.DecodeAssertion(good))
	e := must(dsse.Decode(goodSA.RawEnvelope, protocol.MaxAssertionEnvelope))
	e.Sig = must(protocol.DecodeAssertion(w.build(w.holder, w.credID, obs, 0))).Envelope.Sig
	w.add("assertion-forged-signature", av(rebundle(must(dsse.Encode(e)), goodSA.Assertion.Sections, goodSA.Sealed), w.ispA, protocol.CodeBadSignature,
		"The holder's key id with a signature made over another assertion."))

	w.add("assertion-own-section-only", av(must(goodSA.Bundle(w.ispA.name)), w.ispA, "",
		"The bundle as sent to isp-a: the signed envelope and isp-a's sealed section only."))
	w.add("assertion-bundle-lacks-own-section", av(must(goodSA.Bundle(w.ispB.name)), w.ispA, protocol.CodeNoSection,
		"A bundle carrying only isp-b's sealed section, given to isp-a."))
	w.add("assertion-section-mismatch", av(editBundle(good, func(b string) string {
		return replaceOnce(b, `"data":"YWdl`, `"data":"Ywdl`)
	}), w.ispA, protocol.CodeSectionMismatch, "A sealed section whose bytes differ from the digest the signed assertion gives for it."))
	w.add("assertion-bundle-unknown-field", av(editBundle(good, func(b string) string {
		return replaceOnce(b, `{"envelope"`, `{"route":"fast","envelope"`)
	}), w.ispA, protocol.CodeUnknownField, "A bundle with a member the spec does not define."))
	w.add("assertion-bundle-section-not-addressed", av(editBundle(good, func(b string) string {
		return replaceOnce(b, `"sealed":[`, `"sealed":[{"isp":"isp-z","data":"AAAA"},`)
	}), w.ispA, protocol.CodeInvalidField, "A bundle carrying a sealed section for an ISP the assertion does not address."))

	w.add("assertion-wrong-key", av(editAssertion(good, w.agent, func(*protocol.Assertion, map[string][]byte) {}), w.ispA, protocol.CodeWrongKey,
		"An assertion naming the holder as claimant, signed by another key."))

	v = av(good, w.ispA, protocol.CodeExpired, "Verified 20 minutes after not_after.")
	v.Now = now.Add(28 * time.Minute)
	w.add("assertion-expired", v)

	v = av(good, w.ispA, protocol.CodeNotYetValid, "Verified 10 minutes before not_before.")
	v.Now = now.Add(-12 * time.Minute)
	w.add("assertion-not-yet-valid", v)

	w.add("assertion-lifetime-too-long", av(w.build(w.holder, w.credID, obs, 2*time.Hour), w.ispA, protocol.CodeLifetimeTooLong,
		"An assertion valid for two hours; the verifier's maximum is 30 minutes."))

	v = av(w.build(w.holder, w.credID, obs, 2*time.Hour), w.ispA, "", "The same two-hour assertion accepted by a verifier whose policy allows three hours.")
	v.MaxLife = "3h"
	w.add("assertion-lifetime-allowed-by-policy", v)

	v = av(good, w.ispA, protocol.CodeCredentialExpired, "An assertion verified after its credential expired.")
	v.Now = now.AddDate(1, 0, 0)
	w.add("assertion-credential-expired", v)

	rev, _ := must2(protocol.SignRevocation(w.registrar, protocol.Revocation{
		Credential: w.credID, Reason: "ownership disputed in court", RevokedAt: now.Add(-time.Hour),
	}))
	v = av(good, w.ispA, protocol.CodeCredentialRevoked, "An assertion under a revoked credential.")
	v.Revocations = []string{string(rev)}
	w.add("assertion-credential-revoked", v)

	w.add("assertion-work-not-covered", av(w.build(w.holder, w.credID, w.observation(otherV1, otherV1), 0), w.ispA, protocol.CodeWorkNotCovered,
		"An assertion about content the credential does not list: someone else's work."))

	w.add("assertion-names-other-credential", av(editAssertion(good, w.holder, func(a *protocol.Assertion, _ map[string][]byte) { a.Credential = w.delegID }),
		w.ispA, protocol.CodeChainBroken, "An assertion naming a credential other than the chain's leaf."))

	v = av(good, w.ispA, protocol.CodeReplayed, "An assertion whose id the ISP has already accepted.")
	v.Seen = []string{string(goodSA.ID)}
	w.add("assertion-replayed", v)

	ispD := newISP("isp-d", "IT")
	w.add("assertion-no-section", av(good, ispD, protocol.CodeNoSection, "Opened by an in-scope ISP that the assertion does not address."))

	w.add("assertion-section-sealed-to-other-isp", av(editAssertion(good, w.holder, func(a *protocol.Assertion, sealed map[string][]byte) {
		replaceSealed(a, sealed, w.ispA.name, must(seal.Seal([]byte(`{"isp":"isp-a","peers":[]}`), w.ispB.id.Recipient())))
	}), w.ispA, protocol.CodeSectionUnreadable, "The section labelled isp-a is sealed to isp-b's key."))

	w.add("assertion-section-mislabelled", av(editAssertion(good, w.holder, func(a *protocol.Assertion, sealed map[string][]byte) {
		forB := must(seal.Open(sealed[w.ispB.name], w.ispB.id, protocol.MaxSectionPlaintext))
		replaceSealed(a, sealed, w.ispA.name, must(seal.Seal(forB, w.ispA.id.Recipient())))
	}), w.ispA, protocol.CodeSectionUnreadable, "isp-a's section holds the contents written for isp-b."))

	private := w.observation(contentV1, contentV1, protocol.ObservedPeer{Addr: netip.MustParseAddr("10.1.2.3"), Evidence: verified(contentV1, 6881, "tcp", "x", 2)})
	w.add("assertion-address-private", av(w.build(w.holder, w.credID, private, 0), w.ispA, protocol.CodeAddressNotGlobal,
		"A verified-transfer peer at a private address (10.1.2.3)."))

	loop := w.observation(contentV1, contentV1, protocol.ObservedPeer{Addr: netip.MustParseAddr("127.0.0.1"), Evidence: protocol.Evidence{
		Grade: protocol.GradeAnnounced, Port: 1, Source: "tracker", FirstSeen: observedStart, LastSeen: observedStart}})
	w.add("assertion-address-loopback", av(w.build(w.holder, w.credID, loop, 0), w.ispA, protocol.CodeAddressNotGlobal,
		"A bare remote address 127.0.0.1 announced by a tracker, listed in isp-a's section."))

	w.add("assertion-evidence-outside-window", av(editSection(good, w.holder, w.ispA, func(sc *protocol.SectionContent) {
		sc.Peers[0].Evidence.LastSeen = now.Add(5 * time.Minute)
	}), w.ispA, protocol.CodeEvidenceOutsideWindow, "Evidence last seen after the observation window closed."))

	w.add("assertion-evidence-piece-time", av(editSection(good, w.holder, w.ispA, func(sc *protocol.SectionContent) {
		sc.Peers[0].Evidence.Pieces[0].At = sc.Peers[0].Evidence.FirstSeen.Add(-time.Second)
	}), w.ispA, protocol.CodeEvidenceOutsideWindow, "A piece completed before the peer was first seen."))

	w.add("assertion-evidence-piece-index", av(editSection(good, w.holder, w.ispA, func(sc *protocol.SectionContent) {
		sc.Peers[0].Evidence.Pieces[0].Index = pieceCount
	}), w.ispA, protocol.CodeEvidenceInvalid, "A verified piece index beyond the torrent's last piece."))

	w.add("assertion-evidence-no-pieces", av(editSection(good, w.holder, w.ispA, func(sc *protocol.SectionContent) {
		sc.Peers[0].Evidence.Pieces = nil
	}), w.ispA, protocol.CodeEvidenceInvalid, "A verified-transfer grade without any verified piece."))

	w.add("assertion-evidence-announced-with-bytes", av(editSection(good, w.holder, w.ispA, func(sc *protocol.SectionContent) {
		sc.Peers[3].Evidence.Bytes = 100
	}), w.ispA, protocol.CodeEvidenceInvalid, "An announced-only peer that claims bytes were transferred."))

	w.add("assertion-commitment-salt", av(editSection(good, w.holder, w.ispA, func(sc *protocol.SectionContent) {
		sc.Peers[0].Salt[0] ^= 1
	}), w.ispA, protocol.CodeCommitmentMismatch, "One peer's salt differs from the one committed to."))

	w.add("assertion-commitment-substituted-address", av(editSection(good, w.holder, w.ispA, func(sc *protocol.SectionContent) {
		last := &sc.Peers[len(sc.Peers)-1]
		last.Addr = last.Addr.Next()
	}), w.ispA, protocol.CodeCommitmentMismatch, "isp-a's copy of the swarm lists a different remote address than the one committed to."))

	w.add("assertion-count-per-isp", av(editAssertion(good, w.holder, func(a *protocol.Assertion, _ map[string][]byte) { a.PeersPerISP["isp-a"]-- }),
		w.ispA, protocol.CodeCountMismatch, "Public statistics claim fewer isp-a peers than its section carries evidence for."))

	w.add("assertion-count-total", av(editAssertion(good, w.holder, func(a *protocol.Assertion, _ map[string][]byte) { a.Peers++ }),
		w.ispA, protocol.CodeCountMismatch, "The public peer count differs from the sealed swarm's size."))

	w.add("assertion-peers-unsorted", av(editSection(good, w.holder, w.ispA, func(sc *protocol.SectionContent) {
		sc.Peers[0], sc.Peers[1] = sc.Peers[1], sc.Peers[0]
	}), w.ispA, protocol.CodeInvalidField, "Sealed peers out of address order."))

	w.add("assertion-section-unknown-field", av(editSectionBytes(good, w.holder, w.ispA, func(pt []byte) []byte {
		return []byte(replaceOnce(string(pt), `{"isp"`, `{"note":"x","isp"`))
	}), w.ispA, protocol.CodeUnknownField, "A sealed section with a member the spec does not define."))

	w.add("assertion-unknown-field", av(editPayload(good, w.holder, func(p string) string {
		return replaceOnce(p, `{"claimant"`, `{"priority":"urgent","claimant"`)
	}), w.ispA, protocol.CodeUnknownField, "A validly signed payload with a member the spec does not define."))

	w.add("assertion-duplicate-key", av(editPayload(good, w.holder, func(p string) string {
		return replaceOnce(p, `"not_after":`, `"not_after":"2099-01-01T00:00:00Z","not_after":`)
	}), w.ispA, protocol.CodeDuplicateKey, "A validly signed payload giving not_after twice, the first far in the future."))

	w.add("assertion-bad-content-id", av(editPayload(good, w.holder, func(p string) string {
		return replaceOnce(p, `"content":"btih:`, `"content":"btih:zz`)
	}), w.ispA, protocol.CodeBadContentID, "A content id with non-hex digits."))

	w.add("assertion-bad-base64", av(editPayload(good, w.holder, func(p string) string {
		return replaceOnce(p, `=","sections"`, `","sections"`)
	}), w.ispA, protocol.CodeMalformed, "A commitment root in unpadded base64."))

	w.add("assertion-is-a-credential", av(must(protocol.EncodeBundle(w.cred, nil)), w.ispA, protocol.CodeUnknownPayloadType, "A bundle whose envelope is a credential, not an assertion."))

	w.add("assertion-truncated", av(good[:len(good)-2], w.ispA, protocol.CodeMalformed, "An assertion bundle missing its last two bytes."))
}
