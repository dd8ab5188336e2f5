package protocol

import (
	"bytes"
	"crypto/sha256"
	"net/netip"
	"slices"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/docket-project/docket/crypto/commit"
	"github.com/docket-project/docket/crypto/dsse"
	"github.com/docket-project/docket/crypto/sign"
)

// Assertion is a claimant's signed, expiring statement that the peers it
// seals to each ISP were sharing a work it may claim (spec/SPEC.md §5). Its
// public part names no address: peers are visible only as counts and a
// commitment root; each ISP's sealed section opens only with that ISP's age
// identity.
type Assertion struct {
	// Claimant is the key id that signs the assertion: the subject of the
	// credential named by Credential.
	Claimant sign.KeyID `json:"claimant"`
	// Credential is the id of the claimant's credential (the leaf of its
	// chain).
	Credential ID `json:"credential"`
	// Content is the content id the credential covers.
	Content ContentID `json:"content"`
	// Swarm is the infohash (btih or btmh) of the swarm observed. It equals
	// Content unless Content is a bt2file id.
	Swarm ContentID `json:"swarm"`
	// PieceCount is the number of pieces of the observed torrent; evidence
	// piece indices must be below it.
	PieceCount int `json:"piece_count"`
	// Observed is the window in which the evidence was gathered.
	Observed Window `json:"observed"`
	// NotBefore and NotAfter bound the assertion's validity.
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	// Peers is the number of peers sealed in every section.
	Peers int `json:"peers"`
	// PeersPerISP counts, for each addressed ISP, the peers it serves.
	PeersPerISP map[string]int `json:"peers_per_isp"`
	// CommitmentRoot is the RFC 6962 root over the peers' salted
	// commitments, in section order.
	CommitmentRoot Bytes `json:"commitment_root"`
	// Sections names one age-sealed section per addressed ISP, sorted by
	// ISP name. The sealed bytes travel beside the envelope, in a Bundle;
	// the signature covers them through their digests.
	Sections []Section `json:"sections"`
}

// Section is the signed reference to one ISP's sealed part of an
// assertion.
type Section struct {
	// ISP is the addressed ISP's name.
	ISP string `json:"isp"`
	// Recipient is the age X25519 recipient the section is sealed to.
	Recipient string `json:"recipient"`
	// SHA256 is the SHA-256 digest of the sealed bytes.
	SHA256 Bytes `json:"sha256"`
	// Size is the length of the sealed bytes.
	Size int `json:"size"`
}

// SectionContent is what a sealed section holds once opened.
type SectionContent struct {
	// ISP is the ISP the section is for; it must match the section's label.
	ISP string `json:"isp"`
	// Peers is the whole swarm, sorted by address. Peers served by this ISP
	// carry evidence; the others are bare addresses.
	Peers []Peer `json:"peers"`
}

// Peer is one swarm participant.
type Peer struct {
	// Addr is the peer's IP address.
	Addr netip.Addr `json:"addr"`
	// Salt is the peer's 16-byte commitment salt.
	Salt Bytes `json:"salt"`
	// Evidence is present for the section's own ISP's peers only.
	Evidence *Evidence `json:"evidence,omitzero"`
}

// Grade is how strongly the claimant observed a peer.
type Grade string

// The evidence grades, strongest first.
const (
	// GradeVerifiedTransfer: the claimant connected directly and downloaded
	// at least one piece from this peer whose hash checked.
	GradeVerifiedTransfer Grade = "verified-transfer"
	// GradeHandshake: a direct connection completed the BitTorrent
	// handshake for the swarm's infohash.
	GradeHandshake Grade = "handshake"
	// GradeAnnounced: the address was only listed by a tracker, DHT or PEX.
	// Spoofable; never blockable.
	GradeAnnounced Grade = "announced"
)

// Evidence is how the claimant observed one peer.
type Evidence struct {
	Grade Grade `json:"grade"`
	// Port is the peer's port.
	Port uint16 `json:"port"`
	// Transport is "tcp" or "utp" for direct grades; empty for announced.
	Transport string `json:"transport,omitzero"`
	// Source is how the address was learned: "tracker", "dht", "pex",
	// "incoming" or "manual".
	Source string `json:"source"`
	// FirstSeen and LastSeen bound the observation of this peer.
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// PeerID is the 20-byte BitTorrent peer id, hex, for direct grades.
	PeerID string `json:"peer_id,omitzero"`
	// Client is the client name the peer reported, if any.
	Client string `json:"client,omitzero"`
	// Bytes is the payload bytes received from the peer.
	Bytes int64 `json:"bytes,omitzero"`
	// Pieces are the pieces downloaded from this peer and verified.
	Pieces []PieceProof `json:"pieces,omitzero"`
}

// PieceProof records one verified piece.
type PieceProof struct {
	Index int `json:"index"`
	// Hash is the piece hash that checked, lowercase hex: SHA-1 for v1
	// swarms, SHA-256 (BEP 52 piece-layer hash) for v2 swarms.
	Hash string `json:"hash"`
	// At is when the piece completed.
	At time.Time `json:"at"`
}

var sources = []string{"tracker", "dht", "pex", "incoming", "manual"}

// Validate checks the assertion's public fields against the spec's domains
// and limits. It does not check signatures, time or sealed contents.
func (a *Assertion) Validate() error {
	if !a.Claimant.Valid() {
		return errorf(CodeMalformed, "claimant %q is not a key id", truncate(string(a.Claimant)))
	}
	if !a.Credential.Valid() {
		return errorf(CodeMalformed, "credential is missing")
	}
	if a.Content == "" || a.Swarm == "" {
		return errorf(CodeMalformed, "content and swarm are required")
	}
	for _, id := range []ContentID{a.Content, a.Swarm} {
		if _, err := ParseContentID(string(id)); err != nil {
			return err
		}
	}
	switch a.Swarm.Kind() {
	case KindV1Infohash, KindV2Infohash:
	default:
		return errorf(CodeBadContentID, "swarm %q must be a btih or btmh infohash", a.Swarm)
	}
	if a.Content.Kind() != KindV2File && a.Content != a.Swarm {
		return errorf(CodeInvalidField, "swarm %s differs from content %s", a.Swarm, a.Content)
	}
	if a.Content.Kind() == KindV2File && a.Swarm.Kind() == KindV1Infohash {
		return errorf(CodeInvalidField, "a bt2file content id needs a v2 (btmh) swarm")
	}
	if a.PieceCount <= 0 {
		return errorf(CodeMalformed, "piece_count must be positive")
	}
	if err := checkTime("observed.start", a.Observed.Start); err != nil {
		return err
	}
	if err := checkTime("observed.end", a.Observed.End); err != nil {
		return err
	}
	if a.Observed.End.Before(a.Observed.Start) {
		return errorf(CodeInvalidField, "observed.end is before observed.start")
	}
	if err := checkValidity(a.NotBefore, a.NotAfter); err != nil {
		return err
	}
	if a.Observed.End.After(a.NotBefore) {
		return errorf(CodeInvalidField, "observation ends after not_before")
	}
	if a.Peers <= 0 {
		return errorf(CodeMalformed, "peers must be positive")
	}
	if a.Peers > MaxPeers {
		return errorf(CodeOversize, "%d peers, limit %d", a.Peers, MaxPeers)
	}
	if len(a.CommitmentRoot) != 32 {
		return errorf(CodeMalformed, "commitment_root must be 32 bytes")
	}
	if len(a.Sections) == 0 {
		return errorf(CodeMalformed, "no sealed sections")
	}
	if len(a.Sections) > MaxSections {
		return errorf(CodeOversize, "%d sections, limit %d", len(a.Sections), MaxSections)
	}
	if len(a.PeersPerISP) != len(a.Sections) {
		return errorf(CodeCountMismatch, "peers_per_isp has %d entries for %d sections", len(a.PeersPerISP), len(a.Sections))
	}
	sum := 0
	for i, s := range a.Sections {
		if err := checkName("section isp", s.ISP); err != nil {
			return err
		}
		if i > 0 && a.Sections[i-1].ISP >= s.ISP {
			return errorf(CodeInvalidField, "sections are not sorted by ISP name without repeats")
		}
		if err := checkText("section recipient", s.Recipient, MaxNameLength, false); err != nil {
			return err
		}
		if len(s.SHA256) != sha256.Size {
			return errorf(CodeMalformed, "section for %s: sha256 must be 32 bytes", s.ISP)
		}
		if s.Size <= 0 || s.Size > MaxSectionSealed {
			return errorf(CodeOversize, "section for %s: size %d outside 1..%d", s.ISP, s.Size, MaxSectionSealed)
		}
		n, ok := a.PeersPerISP[s.ISP]
		if !ok || n <= 0 {
			return errorf(CodeCountMismatch, "peers_per_isp has no positive count for %s", s.ISP)
		}
		sum += n
	}
	if sum > a.Peers {
		return errorf(CodeCountMismatch, "peers_per_isp adds up to %d, more than the %d peers", sum, a.Peers)
	}
	return nil
}

// Section returns the section addressed to isp, if any.
func (a *Assertion) Section(isp string) (Section, bool) {
	i, ok := slices.BinarySearchFunc(a.Sections, isp, func(s Section, name string) int {
		switch {
		case s.ISP < name:
			return -1
		case s.ISP > name:
			return 1
		}
		return 0
	})
	if !ok {
		return Section{}, false
	}
	return a.Sections[i], true
}

// SealedSection is the sealed bytes of one ISP's section, as a Bundle
// carries them.
type SealedSection struct {
	ISP  string `json:"isp"`
	Data Bytes  `json:"data"`
}

// wireBundle is the JSON form of a bundle (spec/SPEC.md §5.7).
type wireBundle struct {
	Envelope jsontext.Value  `json:"envelope"`
	Sealed   []SealedSection `json:"sealed"`
}

// EncodeBundle returns the bundle carrying an assertion envelope and sealed
// sections. A bundle may carry all of the assertion's sections (as built
// and as logged) or only some (as sent to one ISP).
func EncodeBundle(envelope []byte, sealed []SealedSection) ([]byte, error) {
	if sealed == nil {
		sealed = []SealedSection{}
	}
	return marshal(&wireBundle{Envelope: jsontext.Value(envelope), Sealed: sealed})
}

// SignedAssertion is a decoded assertion bundle whose public fields are
// valid and whose sealed sections match their signed digests. Its
// signature is not yet verified.
type SignedAssertion struct {
	ID        ID
	Assertion Assertion
	Envelope  *dsse.Envelope
	// RawEnvelope is the envelope as received.
	RawEnvelope []byte
	// Sealed holds the sealed sections the bundle carried, by ISP name.
	Sealed map[string][]byte
}

// DecodeAssertion decodes and validates an assertion bundle without
// checking its signature or opening any section. Every sealed section it
// carries must be one the assertion names, once, with the signed size and
// digest.
func DecodeAssertion(data []byte) (*SignedAssertion, error) {
	if len(data) > MaxAssertionBundle {
		return nil, errorf(CodeOversize, "assertion bundle is %d bytes, limit %d", len(data), MaxAssertionBundle)
	}
	var w wireBundle
	if err := decodeStrict(data, &w, "assertion bundle"); err != nil {
		return nil, err
	}
	if len(w.Envelope) == 0 {
		return nil, errorf(CodeMalformed, "assertion bundle has no envelope")
	}
	env, err := openEnvelope(w.Envelope, MaxAssertionEnvelope, AssertionType, "assertion")
	if err != nil {
		return nil, err
	}
	sa := &SignedAssertion{ID: IDOf(env.Payload), Envelope: env, RawEnvelope: w.Envelope, Sealed: map[string][]byte{}}
	if err := decodeStrict(env.Payload, &sa.Assertion, "assertion"); err != nil {
		return nil, err
	}
	a := &sa.Assertion
	if err := a.Validate(); err != nil {
		return nil, err
	}
	for _, s := range w.Sealed {
		ref, ok := a.Section(s.ISP)
		if !ok {
			return nil, errorf(CodeInvalidField, "bundle carries a sealed section for %q, which the assertion does not address", truncate(s.ISP))
		}
		if _, dup := sa.Sealed[s.ISP]; dup {
			return nil, errorf(CodeInvalidField, "bundle carries two sealed sections for %s", s.ISP)
		}
		sum := sha256.Sum256(s.Data)
		if len(s.Data) != ref.Size || !bytes.Equal(sum[:], ref.SHA256) {
			return nil, errorf(CodeSectionMismatch, "sealed section for %s does not match the size and digest the assertion signs", s.ISP)
		}
		sa.Sealed[s.ISP] = s.Data
	}
	return sa, nil
}

// Bundle re-encodes the assertion as a bundle carrying the sealed sections
// of the given ISPs that it holds, or all it holds if none are given.
func (sa *SignedAssertion) Bundle(isps ...string) ([]byte, error) {
	var sealed []SealedSection
	for _, s := range sa.Assertion.Sections {
		data, ok := sa.Sealed[s.ISP]
		if ok && (len(isps) == 0 || slices.Contains(isps, s.ISP)) {
			sealed = append(sealed, SealedSection{ISP: s.ISP, Data: data})
		}
	}
	return EncodeBundle(sa.RawEnvelope, sealed)
}

// DecodeSection decodes an opened section's plaintext and checks its
// structure: peers present, plain addresses in ascending order, salts of
// the right size. Verifier.Verify checks the contents against the
// assertion.
func DecodeSection(plaintext []byte) (*SectionContent, error) {
	if len(plaintext) > MaxSectionPlaintext {
		return nil, errorf(CodeOversize, "section is %d bytes, limit %d", len(plaintext), MaxSectionPlaintext)
	}
	var sc SectionContent
	if err := decodeStrict(plaintext, &sc, "section"); err != nil {
		return nil, err
	}
	if err := checkName("section isp", sc.ISP); err != nil {
		return nil, err
	}
	if len(sc.Peers) == 0 {
		return nil, errorf(CodeMalformed, "section lists no peers")
	}
	if len(sc.Peers) > MaxPeers {
		return nil, errorf(CodeOversize, "section lists %d peers, limit %d", len(sc.Peers), MaxPeers)
	}
	for i, p := range sc.Peers {
		if !p.Addr.IsValid() || p.Addr.Zone() != "" || p.Addr.Is4In6() {
			return nil, errorf(CodeInvalidField, "peer address %q is not a plain IPv4 or IPv6 address", p.Addr)
		}
		if i > 0 && sc.Peers[i-1].Addr.Compare(p.Addr) >= 0 {
			return nil, errorf(CodeInvalidField, "peers are not sorted by address without repeats at %s", p.Addr)
		}
		if len(p.Salt) != commit.SaltSize {
			return nil, errorf(CodeMalformed, "peer %s: salt must be %d bytes", p.Addr, commit.SaltSize)
		}
	}
	return &sc, nil
}
