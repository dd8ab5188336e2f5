package main

import (
	"net/netip"
	"strings"
	"time"

	"github.com/docket-project/docket/crypto/dsse"
	"github.com/docket-project/docket/protocol"
	"github.com/docket-project/docket/spec"
)

// ispKey returns the signing key of the vectors' ISP isp-a.
func ispKey() signer { return edKey("isp-a") }

// peerID is a well-formed libp2p peer id (an Ed25519 identity's base58 form).
const peerID = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"

func (w *world) ispVector(kind, expect, description string) spec.Vector {
	return spec.Vector{
		Description: description,
		Kind:        kind,
		Expect:      expect,
		Now:         now,
		Registrars:  []string{},
		Chain:       []string{},
		ISPKeys:     []string{pem(ispKey())},
	}
}

func (w *world) baseAnnouncement() protocol.Announcement {
	return protocol.Announcement{
		ISP:       w.ispA.name,
		Region:    w.ispA.region,
		PeerID:    peerID,
		Recipient: w.ispA.id.Recipient().String(),
		Prefixes:  protocol.SortPrefixes(append([]netip.Prefix(nil), w.ispA.prefixes...)),
		IssuedAt:  now.Add(-time.Hour),
		NotAfter:  now.Add(7 * 24 * time.Hour),
	}
}

// signAnnouncement signs a without validating it, with Issuer set to key.
func signAnnouncement(key signer, a protocol.Announcement) []byte {
	a.Issuer = key.Public().ID()
	return signRaw(key, protocol.AnnouncementType, marshal(&a))
}

// signReceipt signs r without validating it, with Issuer set to key.
func signReceipt(key signer, r protocol.Receipt) []byte {
	r.Issuer = key.Public().ID()
	return signRaw(key, protocol.ReceiptType, marshal(&r))
}

func (w *world) announcementVectors() {
	kind := spec.KindAnnouncement
	add := func(name, expect, description string, env []byte) {
		v := w.ispVector(kind, expect, description)
		v.Announcement = string(env)
		w.add(name, v)
	}
	a := w.baseAnnouncement()
	add("announcement-valid", spec.ExpectAccept, "An ISP announces its peer id, recipient and prefixes, signed with its trusted key.",
		signed(protocol.SignAnnouncement(ispKey(), a)))
	add("announcement-untrusted", string(protocol.CodeUntrustedISP), "A key nobody trusts announces the ISP's prefixes to attract its sections.",
		signed(protocol.SignAnnouncement(w.rogue, a)))

	env := must(dsse.Decode(signed(protocol.SignAnnouncement(ispKey(), a)), protocol.MaxAnnouncementEnvelope))
	other := a
	other.Prefixes = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}
	env.Sig = must(dsse.Decode(signed(protocol.SignAnnouncement(ispKey(), other)), protocol.MaxAnnouncementEnvelope)).Sig
	add("announcement-forged-signature", string(protocol.CodeBadSignature), "The ISP's key id with its signature over another announcement.",
		must(dsse.Encode(env)))

	old := a
	old.IssuedAt, old.NotAfter = now.Add(-30*24*time.Hour), now.Add(-2*time.Hour)
	add("announcement-expired", string(protocol.CodeExpired), "An announcement past its not_after, replayed to route to a recipient the ISP retired.",
		signed(protocol.SignAnnouncement(ispKey(), old)))

	future := a
	future.IssuedAt, future.NotAfter = now.Add(time.Hour), now.Add(48*time.Hour)
	add("announcement-not-yet-valid", string(protocol.CodeNotYetValid), "An announcement issued an hour in the future.",
		signed(protocol.SignAnnouncement(ispKey(), future)))

	hostBits := a
	hostBits.Prefixes = []netip.Prefix{netip.MustParsePrefix("198.51.100.7/24")}
	add("announcement-prefix-host-bits", string(protocol.CodeInvalidField), "A prefix with host bits set, which two implementations could read differently.",
		signAnnouncement(ispKey(), hostBits))

	wide := a
	wide.Prefixes = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
	add("announcement-prefix-too-wide", string(protocol.CodeInvalidField), "An ISP announcing the whole IPv4 space to receive every section.",
		signAnnouncement(ispKey(), wide))

	unordered := a
	unordered.Prefixes = []netip.Prefix{netip.MustParsePrefix("198.51.100.0/25"), netip.MustParsePrefix("10.0.0.0/8")}
	add("announcement-prefixes-unordered", string(protocol.CodeInvalidField), "Prefixes out of canonical order.",
		signAnnouncement(ispKey(), unordered))

	badPeer := a
	badPeer.PeerID = "12D3KooW0OIl"
	add("announcement-bad-peer-id", string(protocol.CodeInvalidField), "A peer id with characters outside base58.",
		signAnnouncement(ispKey(), badPeer))

	a.Issuer = ispKey().Public().ID()
	extra := replaceOnce(string(marshal(&a)), `{"isp"`, `{"asn":64500,"isp"`)
	add("announcement-unknown-field", string(protocol.CodeUnknownField), "An announcement with a member the specification does not define.",
		signRaw(ispKey(), protocol.AnnouncementType, []byte(extra)))
}

func (w *world) receiptVectors() {
	kind := spec.KindReceipt
	add := func(name, expect, description string, env []byte) {
		v := w.ispVector(kind, expect, description)
		v.Receipt = string(env)
		w.add(name, v)
	}
	assertion := protocol.IDOf([]byte("an assertion payload"))
	applied := protocol.Receipt{
		ISP: w.ispA.name, Assertion: assertion, Verdict: protocol.VerdictApplied,
		Pairs: 12, Until: now.Add(10 * time.Minute), IssuedAt: now,
	}
	rejected := protocol.Receipt{
		ISP: w.ispA.name, Assertion: assertion, Verdict: protocol.VerdictRejected,
		Code: string(protocol.CodeCredentialRevoked), IssuedAt: now,
	}
	add("receipt-valid-applied", spec.ExpectAccept, "The ISP reports 12 pairs enforced until the assertion's end.",
		signed(protocol.SignReceipt(ispKey(), applied)))
	add("receipt-valid-rejected", spec.ExpectAccept, "The ISP reports that it rejected the assertion because its credential is revoked.",
		signed(protocol.SignReceipt(ispKey(), rejected)))
	add("receipt-wrong-key", string(protocol.CodeWrongKey), "Someone else signs a receipt in the ISP's name.",
		signed(protocol.SignReceipt(w.rogue, applied)))

	bad := applied
	bad.Code = string(protocol.CodeExpired)
	add("receipt-applied-with-code", string(protocol.CodeInvalidField), "An applied receipt that also carries a rejection code.",
		signReceipt(ispKey(), bad))

	bad = rejected
	bad.Code = "rm -rf /"
	add("receipt-bad-code", string(protocol.CodeInvalidField), "A rejection code that is not a code name.",
		signReceipt(ispKey(), bad))

	bad = applied
	bad.Verdict = "partially"
	add("receipt-unknown-verdict", string(protocol.CodeInvalidField), "A verdict that is neither applied nor rejected.",
		signReceipt(ispKey(), bad))

	padded := replaceOnce(string(signed(protocol.SignReceipt(ispKey(), applied))), "{", "{"+strings.Repeat(" ", protocol.MaxReceiptEnvelope))
	add("receipt-oversize", string(protocol.CodeOversize), "A receipt envelope padded past its size limit.", []byte(padded))
}

// signed returns the envelope of a Sign function's results.
func signed(env []byte, _ protocol.ID, err error) []byte { return must(env, err) }
