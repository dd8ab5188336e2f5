package protocol

import (
	"bytes"
	"errors"
	"net/netip"
	"slices"
	"time"

	"filippo.io/age"

	"github.com/docket-project/docket/crypto/commit"
	"github.com/docket-project/docket/crypto/dsse"
	"github.com/docket-project/docket/crypto/seal"
	"github.com/docket-project/docket/crypto/sign"
)

// Verifier runs the verification algorithm of spec/SPEC.md §6. It holds
// trust anchors and settings only: time, envelopes and the ISP's identity
// are arguments, so a Verifier does no I/O and reads no clock. It is safe
// for concurrent use if the functions given to its options are.
type Verifier struct {
	registrars map[sign.KeyID]*sign.PublicKey
	revoked    func(ID) bool
	seen       func(ID) bool
	maxLife    time.Duration
	skew       time.Duration
	permit     []netip.Prefix
}

// Option configures a Verifier.
type Option func(*Verifier)

// WithRevoked sets the revocation check: revoked(id) reports whether the
// credential id has a verified revocation (see Verifier.VerifyRevocation).
func WithRevoked(revoked func(ID) bool) Option { return func(v *Verifier) { v.revoked = revoked } }

// WithSeen sets the replay check: seen(id) reports whether the assertion id
// was already accepted.
func WithSeen(seen func(ID) bool) Option { return func(v *Verifier) { v.seen = seen } }

// WithMaxLife sets the longest assertion life accepted
// (DefaultMaxAssertionLife by default).
func WithMaxLife(d time.Duration) Option { return func(v *Verifier) { v.maxLife = d } }

// WithClockSkew sets the tolerance on validity bounds (DefaultClockSkew by
// default).
func WithClockSkew(d time.Duration) Option { return func(v *Verifier) { v.skew = d } }

// WithPermittedPrefixes accepts peer addresses in these prefixes although
// they are not global unicast: for laboratory networks and tests only.
func WithPermittedPrefixes(p ...netip.Prefix) Option {
	return func(v *Verifier) { v.permit = append(v.permit, p...) }
}

// NewVerifier returns a Verifier trusting the given registrar keys.
func NewVerifier(registrars []*sign.PublicKey, opts ...Option) *Verifier {
	v := &Verifier{
		registrars: make(map[sign.KeyID]*sign.PublicKey, len(registrars)),
		revoked:    func(ID) bool { return false },
		seen:       func(ID) bool { return false },
		maxLife:    DefaultMaxAssertionLife,
		skew:       DefaultClockSkew,
	}
	for _, k := range registrars {
		v.registrars[k.ID()] = k
	}
	for _, o := range opts {
		o(v)
	}
	return v
}

// Chain is a verified credential chain, registrar's grant first.
type Chain struct {
	Links []*SignedCredential
}

// Leaf returns the last credential of the chain: the claimant's.
func (c *Chain) Leaf() *SignedCredential { return c.Links[len(c.Links)-1] }

// verifySignature maps envelope verification failures to codes.
func verifySignature(env *dsse.Envelope, key *sign.PublicKey, what string) error {
	err := env.Verify(key)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, dsse.ErrKeyMismatch):
		return wrapf(CodeWrongKey, err, "%s is not signed by the key that must sign it", what)
	default:
		return wrapf(CodeBadSignature, err, "%s signature does not verify", what)
	}
}

// VerifyChain decodes and verifies a credential chain given root first:
// signatures up to a trusted registrar, links naming each other, each
// delegation no wider than its parent (VerifyChainSignatures), then
// CheckChain at now.
func (v *Verifier) VerifyChain(envelopes [][]byte, now time.Time) (*Chain, error) {
	c, err := v.VerifyChainSignatures(envelopes)
	if err != nil {
		return nil, err
	}
	if err := v.CheckChain(c, now); err != nil {
		return nil, err
	}
	return c, nil
}

// VerifyChainSignatures decodes and verifies a credential chain given root
// first as VerifyChain does, without CheckChain: the root is issued and
// signed by a trusted registrar (UNTRUSTED_REGISTRAR, WRONG_KEY,
// BAD_SIGNATURE), a delegation names its parent and is signed by the
// parent's subject (CHAIN_BROKEN, WRONG_KEY, BAD_SIGNATURE) and is no
// wider than its parent (DELEGATION_WIDER). It judges neither time nor
// revocation, so its answer does not change with the clock: a log, which
// records credentials whatever their validity, uses it. A verifier deciding
// on an assertion uses VerifyChain.
func (v *Verifier) VerifyChainSignatures(envelopes [][]byte) (*Chain, error) {
	if len(envelopes) == 0 {
		return nil, errorf(CodeMalformed, "empty credential chain")
	}
	if len(envelopes) > MaxChainLength {
		return nil, errorf(CodeChainTooDeep, "chain of %d credentials, at most %d (one delegation) allowed", len(envelopes), MaxChainLength)
	}
	c := &Chain{}
	for i, raw := range envelopes {
		sc, err := DecodeCredential(raw)
		if err != nil {
			return nil, err
		}
		cred := &sc.Credential
		if i == 0 {
			if cred.Parent != "" {
				return nil, errorf(CodeChainTooDeep, "chain's first credential is itself a delegation of %s", cred.Parent)
			}
			reg, ok := v.registrars[cred.Issuer]
			if !ok {
				return nil, errorf(CodeUntrustedRegistrar, "credential %s is issued by %s, not a trusted registrar", sc.ID, cred.Issuer)
			}
			if err := verifySignature(sc.Envelope, reg, "credential"); err != nil {
				return nil, err
			}
		} else {
			parent := c.Links[i-1]
			if cred.Parent != parent.ID || cred.Issuer != parent.Subject.ID() {
				return nil, errorf(CodeChainBroken, "delegation %s does not name its parent %s and its subject key as issuer", sc.ID, parent.ID)
			}
			if err := verifySignature(sc.Envelope, parent.Subject, "delegation"); err != nil {
				return nil, err
			}
			if err := checkNarrower(&parent.Credential, cred); err != nil {
				return nil, err
			}
		}
		c.Links = append(c.Links, sc)
	}
	return c, nil
}

// checkNarrower checks that a delegation grants nothing its parent lacks.
func checkNarrower(parent, child *Credential) error {
	for _, w := range child.Works {
		i := slices.IndexFunc(parent.Works, func(p Work) bool { return p.ID == w.ID })
		if i < 0 {
			return errorf(CodeDelegationWider, "delegation names work %q its parent does not hold", w.ID)
		}
		for _, id := range w.Content {
			if !slices.Contains(parent.Works[i].Content, id) {
				return errorf(CodeDelegationWider, "delegation names content %s its parent does not hold", id)
			}
		}
	}
	if !parent.Scope.contains(child.Scope) {
		return errorf(CodeDelegationWider, "delegation's scope is wider than its parent's")
	}
	if child.NotBefore.Before(parent.NotBefore) || child.NotAfter.After(parent.NotAfter) {
		return errorf(CodeDelegationWider, "delegation is valid outside its parent's validity")
	}
	return nil
}

// CheckChain re-checks revocation and time for an already verified chain,
// so that a cached chain needs no signature verification.
func (v *Verifier) CheckChain(c *Chain, now time.Time) error {
	for _, sc := range c.Links {
		cred := &sc.Credential
		if v.revoked(sc.ID) {
			return errorf(CodeCredentialRevoked, "credential %s is revoked", sc.ID)
		}
		if now.Before(cred.NotBefore.Add(-v.skew)) {
			return errorf(CodeCredentialNotYetValid, "credential %s is valid from %s", sc.ID, cred.NotBefore.Format(time.RFC3339))
		}
		if now.After(cred.NotAfter.Add(v.skew)) {
			return errorf(CodeCredentialExpired, "credential %s expired at %s", sc.ID, cred.NotAfter.Format(time.RFC3339))
		}
	}
	return nil
}

// VerifyRevocation checks a revocation of a credential of chain: it must be
// signed by the key that issued that credential or by the chain's
// registrar.
func (v *Verifier) VerifyRevocation(envelope []byte, chain *Chain) (*SignedRevocation, error) {
	sr, err := DecodeRevocation(envelope)
	if err != nil {
		return nil, err
	}
	r := &sr.Revocation
	i := slices.IndexFunc(chain.Links, func(sc *SignedCredential) bool { return sc.ID == r.Credential })
	if i < 0 {
		return nil, errorf(CodeChainBroken, "revocation names credential %s, not part of the chain", r.Credential)
	}
	registrar := v.registrars[chain.Links[0].Credential.Issuer]
	allowed := []*sign.PublicKey{registrar}
	if i > 0 {
		allowed = append(allowed, chain.Links[i-1].Subject)
	}
	for _, k := range allowed {
		if k != nil && k.ID() == r.Issuer {
			if err := verifySignature(sr.Envelope, k, "revocation"); err != nil {
				return nil, err
			}
			return sr, nil
		}
	}
	return nil, errorf(CodeRevocationUnauthorized, "key %s may not revoke credential %s", r.Issuer, r.Credential)
}

// ISP is the verifying ISP: its name and region as its credential scope
// knows them, and the age identity its sections are sealed to.
type ISP struct {
	Name     string
	Region   string
	Identity *age.X25519Identity
}

// VerifiedAssertion is an assertion that passed verification.
type VerifiedAssertion struct {
	*SignedAssertion
	Chain *Chain
	// Until is when enforcement must end: the earliest of the assertion's
	// not_after and its credentials' not_after.
	Until time.Time
	// Section is the opened section; nil when verified without an ISP.
	Section *SectionContent
}

// Local returns the section's peers served by the verifying ISP: those
// carrying evidence.
func (va *VerifiedAssertion) Local() []Peer {
	if va.Section == nil {
		return nil
	}
	var out []Peer
	for _, p := range va.Section.Peers {
		if p.Evidence != nil {
			out = append(out, p)
		}
	}
	return out
}

// Verify runs the verification algorithm on an assertion bundle whose
// credential chain was verified with VerifyChain (and may be cached). With
// isp nil it stops after the public checks (steps 1–4), as an auditor
// would; otherwise it also checks scope for isp, opens its section and
// checks the peers and evidence (steps 6–7). Any failure is an *Error.
func (v *Verifier) Verify(bundle []byte, chain *Chain, isp *ISP, now time.Time) (*VerifiedAssertion, error) {
	// 1. Decode.
	sa, err := DecodeAssertion(bundle)
	if err != nil {
		return nil, err
	}
	a := &sa.Assertion
	// 2. Signature by the credential's subject.
	if err := VerifyAssertionSignature(sa, chain.Leaf()); err != nil {
		return nil, err
	}
	// 3. Credential chain: revocation, time, work, scope.
	if err := v.CheckChain(chain, now); err != nil {
		return nil, err
	}
	until := a.NotAfter
	for _, sc := range chain.Links {
		if !sc.Credential.Covers(a.Content) {
			return nil, errorf(CodeWorkNotCovered, "credential %s does not cover %s", sc.ID, a.Content)
		}
		if isp != nil && !sc.Credential.Scope.Covers(isp.Name, isp.Region) {
			return nil, errorf(CodeOutOfScope, "credential %s does not cover ISP %s (region %s)", sc.ID, isp.Name, isp.Region)
		}
		if sc.Credential.NotAfter.Before(until) {
			until = sc.Credential.NotAfter
		}
	}
	// 4. Time and replay.
	if a.NotAfter.Sub(a.NotBefore) > v.maxLife {
		return nil, errorf(CodeLifetimeTooLong, "assertion life %s exceeds the maximum %s", a.NotAfter.Sub(a.NotBefore), v.maxLife)
	}
	if now.Before(a.NotBefore.Add(-v.skew)) {
		return nil, errorf(CodeNotYetValid, "assertion is valid from %s", a.NotBefore.Format(time.RFC3339))
	}
	if now.After(a.NotAfter.Add(v.skew)) {
		return nil, errorf(CodeExpired, "assertion expired at %s", a.NotAfter.Format(time.RFC3339))
	}
	if v.seen(sa.ID) {
		return nil, errorf(CodeReplayed, "assertion %s was already accepted", sa.ID)
	}
	va := &VerifiedAssertion{SignedAssertion: sa, Chain: chain, Until: until}
	if isp == nil {
		return va, nil
	}
	// 6. Unseal.
	sc, err := openSection(sa, isp)
	if err != nil {
		return nil, err
	}
	// 7. Peers, commitment and evidence.
	if err := v.checkPeers(a, isp.Name, sc.Peers); err != nil {
		return nil, err
	}
	va.Section = sc
	return va, nil
}

// VerifyAssertionSignature performs step 2 of the verification algorithm
// (spec/SPEC.md §6.4) alone: the assertion names the credential cred
// (CHAIN_BROKEN), its claimant is cred's subject (WRONG_KEY), and its
// envelope verifies with that subject's key (WRONG_KEY, BAD_SIGNATURE). It
// judges nothing else: neither cred's own chain, nor time, work, scope or
// replay. A log uses it for an assertion under a credential it holds.
func VerifyAssertionSignature(sa *SignedAssertion, cred *SignedCredential) error {
	a := &sa.Assertion
	if a.Credential != cred.ID {
		return errorf(CodeChainBroken, "assertion names credential %s, not %s", a.Credential, cred.ID)
	}
	if a.Claimant != cred.Subject.ID() {
		return errorf(CodeWrongKey, "assertion claimant %s is not the credential's subject %s", a.Claimant, cred.Subject.ID())
	}
	return verifySignature(sa.Envelope, cred.Subject, "assertion")
}

func openSection(sa *SignedAssertion, isp *ISP) (*SectionContent, error) {
	s, ok := sa.Assertion.Section(isp.Name)
	if !ok {
		return nil, errorf(CodeNoSection, "assertion has no section for %s", isp.Name)
	}
	sealed, ok := sa.Sealed[isp.Name]
	if !ok {
		return nil, errorf(CodeNoSection, "the bundle does not carry the sealed section for %s", isp.Name)
	}
	if s.Recipient != isp.Identity.Recipient().String() {
		return nil, errorf(CodeSectionUnreadable, "section for %s is sealed to %s, not to this ISP's recipient", isp.Name, truncate(s.Recipient))
	}
	plaintext, err := seal.Open(sealed, isp.Identity, MaxSectionPlaintext)
	switch {
	case errors.Is(err, seal.ErrTooLarge):
		return nil, wrapf(CodeOversize, err, "section for %s", isp.Name)
	case err != nil:
		return nil, wrapf(CodeSectionUnreadable, err, "section for %s does not open", isp.Name)
	}
	sc, err := DecodeSection(plaintext)
	if err != nil {
		return nil, err
	}
	if sc.ISP != isp.Name {
		return nil, errorf(CodeSectionUnreadable, "section labelled %s holds a section for %s", isp.Name, sc.ISP)
	}
	return sc, nil
}

func (v *Verifier) checkPeers(a *Assertion, isp string, peers []Peer) error {
	if len(peers) != a.Peers {
		return errorf(CodeCountMismatch, "section lists %d peers, the assertion %d", len(peers), a.Peers)
	}
	leaves := make([][]byte, len(peers))
	local := 0
	for i, p := range peers {
		if err := v.checkGlobal(p.Addr); err != nil {
			return err
		}
		leaf, err := commit.Leaf(p.Salt, p.Addr)
		if err != nil {
			return wrapf(CodeMalformed, err, "peer %s", p.Addr)
		}
		leaves[i] = leaf
		if p.Evidence != nil {
			local++
		}
	}
	if local != a.PeersPerISP[isp] {
		return errorf(CodeCountMismatch, "section has evidence for %d peers, peers_per_isp says %d", local, a.PeersPerISP[isp])
	}
	if !bytes.Equal(commit.Root(leaves), a.CommitmentRoot) {
		return errorf(CodeCommitmentMismatch, "sealed peers do not hash to the commitment root")
	}
	for _, p := range peers {
		if p.Evidence == nil {
			continue
		}
		if err := checkEvidence(p.Evidence, a); err != nil {
			return &Error{Code: err.Code, Msg: "peer " + p.Addr.String() + ": " + err.Msg}
		}
	}
	return nil
}

func (v *Verifier) checkGlobal(addr netip.Addr) error {
	for _, p := range v.permit {
		if p.Contains(addr) {
			return nil
		}
	}
	if !IsGlobalUnicast(addr) {
		return errorf(CodeAddressNotGlobal, "peer address %s is not global unicast", addr)
	}
	return nil
}

// globalUnicastV6 is the only IPv6 range IANA allocates for global unicast.
var globalUnicastV6 = netip.MustParsePrefix("2000::/3")

// nonGlobal lists special-purpose ranges (IANA registries) that
// netip.Addr.IsGlobalUnicast and IsPrivate do not exclude.
var nonGlobal = []netip.Prefix{
	netip.MustParsePrefix("192.88.99.0/24"),
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("100::/64"),
	netip.MustParsePrefix("2001::/23"),
	netip.MustParsePrefix("2001:db8::/32"),
	netip.MustParsePrefix("2002::/16"),
	netip.MustParsePrefix("3fff::/20"),
}

// IsGlobalUnicast reports whether addr is a globally routable unicast
// address: not loopback, link-local, private, shared, documentation,
// benchmarking, reserved or a translation range.
func IsGlobalUnicast(addr netip.Addr) bool {
	if !addr.IsGlobalUnicast() || addr.IsPrivate() || (addr.Is6() && !globalUnicastV6.Contains(addr)) {
		return false
	}
	for _, p := range nonGlobal {
		if p.Contains(addr) {
			return false
		}
	}
	return true
}

func checkEvidence(e *Evidence, a *Assertion) *Error {
	switch e.Grade {
	case GradeVerifiedTransfer, GradeHandshake, GradeAnnounced:
	default:
		return errorf(CodeEvidenceInvalid, "unknown grade %q", truncate(string(e.Grade)))
	}
	if e.Port == 0 {
		return errorf(CodeEvidenceInvalid, "port is missing")
	}
	if !slices.Contains(sources, e.Source) {
		return errorf(CodeEvidenceInvalid, "unknown source %q", truncate(e.Source))
	}
	if err := checkTime("first_seen", e.FirstSeen); err != nil {
		return err.(*Error)
	}
	if err := checkTime("last_seen", e.LastSeen); err != nil {
		return err.(*Error)
	}
	if e.LastSeen.Before(e.FirstSeen) {
		return errorf(CodeEvidenceInvalid, "last_seen is before first_seen")
	}
	if !a.Observed.Contains(e.FirstSeen) || !a.Observed.Contains(e.LastSeen) {
		return errorf(CodeEvidenceOutsideWindow, "seen %s..%s, outside the observation window", e.FirstSeen.Format(time.RFC3339), e.LastSeen.Format(time.RFC3339))
	}
	if err := checkText("client", e.Client, MaxNameLength, true); err != nil {
		return err.(*Error)
	}
	if e.Bytes < 0 {
		return errorf(CodeEvidenceInvalid, "negative byte count")
	}
	if e.Grade == GradeAnnounced {
		if e.Source == "incoming" {
			return errorf(CodeEvidenceInvalid, "an incoming peer connected directly: it cannot be announced-only")
		}
		if e.Transport != "" || e.PeerID != "" || len(e.Pieces) > 0 || e.Bytes > 0 {
			return errorf(CodeEvidenceInvalid, "announced peer carries connection evidence")
		}
		return nil
	}
	if e.Transport != "tcp" && e.Transport != "utp" {
		return errorf(CodeEvidenceInvalid, "transport %q is not tcp or utp", truncate(e.Transport))
	}
	if len(e.PeerID) != 40 || !isLowerHex(e.PeerID) {
		return errorf(CodeEvidenceInvalid, "peer_id must be 40 lowercase hex digits")
	}
	if e.Grade == GradeHandshake {
		if len(e.Pieces) > 0 {
			return errorf(CodeEvidenceInvalid, "handshake grade with verified pieces")
		}
		return nil
	}
	if len(e.Pieces) == 0 || e.Bytes == 0 {
		return errorf(CodeEvidenceInvalid, "verified-transfer without pieces or bytes")
	}
	if len(e.Pieces) > MaxPiecesPerPeer {
		return errorf(CodeOversize, "%d piece proofs, limit %d", len(e.Pieces), MaxPiecesPerPeer)
	}
	hashLen := 64
	if a.Swarm.Kind() == KindV1Infohash {
		hashLen = 40
	}
	for i, p := range e.Pieces {
		if p.Index < 0 || p.Index >= a.PieceCount {
			return errorf(CodeEvidenceInvalid, "piece index %d outside 0..%d", p.Index, a.PieceCount-1)
		}
		if slices.ContainsFunc(e.Pieces[:i], func(q PieceProof) bool { return q.Index == p.Index }) {
			return errorf(CodeEvidenceInvalid, "piece %d listed twice", p.Index)
		}
		if len(p.Hash) != hashLen || !isLowerHex(p.Hash) {
			return errorf(CodeEvidenceInvalid, "piece %d hash must be %d lowercase hex digits", p.Index, hashLen)
		}
		if err := checkTime("piece time", p.At); err != nil {
			return err.(*Error)
		}
		if p.At.Before(e.FirstSeen) || p.At.After(e.LastSeen) {
			return errorf(CodeEvidenceOutsideWindow, "piece %d completed at %s, outside first_seen..last_seen", p.Index, p.At.Format(time.RFC3339))
		}
	}
	return nil
}
