package protocol

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"github.com/docket-project/docket/crypto/dsse"
	"github.com/docket-project/docket/crypto/seal"
	"github.com/docket-project/docket/crypto/sign"
)

// Limits of an announcement (spec/SPEC.md §12).
const (
	MaxAnnouncementEnvelope = 64 << 10            // bytes of an announcement envelope
	MaxAnnouncedPrefixes    = 1024                // prefixes per announcement
	MaxAnnouncementLife     = 90 * 24 * time.Hour // longest not_after - issued_at
	MinAnnouncedBitsV4      = 8                   // shortest IPv4 prefix an ISP may announce
	MinAnnouncedBitsV6      = 16                  // shortest IPv6 prefix an ISP may announce
)

// Announcement is an ISP's signed statement of how claimants reach it: its
// libp2p peer id, the age recipient its sections are sealed to and the
// prefixes it serves (spec/SPEC.md §12). Claimants route addresses to ISPs
// by longest-prefix match over the announcements they trust.
type Announcement struct {
	// ISP is the ISP's name, as credential scopes name it.
	ISP string `json:"isp"`
	// Region is the ISP's ISO 3166 region, as credential scopes name it.
	Region string `json:"region"`
	// Issuer is the key id of the ISP's signing key.
	Issuer sign.KeyID `json:"issuer"`
	// PeerID is the ISP node's libp2p peer id, as text.
	PeerID string `json:"peer_id"`
	// Recipient is the age X25519 recipient sections are sealed to.
	Recipient string `json:"recipient"`
	// Prefixes are the address prefixes the ISP serves, canonical, sorted
	// and distinct.
	Prefixes []netip.Prefix `json:"prefixes"`
	// IssuedAt is when the announcement was made; a newer announcement of
	// the same ISP replaces an older one.
	IssuedAt time.Time `json:"issued_at"`
	// NotAfter is when the announcement stops being valid.
	NotAfter time.Time `json:"not_after"`
}

// Validate checks the announcement's fields.
func (a *Announcement) Validate() error {
	if err := checkName("isp", a.ISP); err != nil {
		return err
	}
	if err := checkRegion(a.Region); err != nil {
		return err
	}
	if !a.Issuer.Valid() {
		return errorf(CodeMalformed, "issuer %q is not a key id", truncate(string(a.Issuer)))
	}
	if err := checkPeerID(a.PeerID); err != nil {
		return err
	}
	if _, err := seal.ParseRecipient(a.Recipient); err != nil {
		return wrapf(CodeInvalidField, err, "recipient")
	}
	if len(a.Prefixes) == 0 {
		return errorf(CodeMalformed, "prefixes is empty")
	}
	if len(a.Prefixes) > MaxAnnouncedPrefixes {
		return errorf(CodeOversize, "%d prefixes, limit %d", len(a.Prefixes), MaxAnnouncedPrefixes)
	}
	for i, p := range a.Prefixes {
		if err := checkAnnouncedPrefix(p); err != nil {
			return err
		}
		if i > 0 && comparePrefix(a.Prefixes[i-1], p) >= 0 {
			return errorf(CodeInvalidField, "prefixes out of order or repeated at %s", p)
		}
	}
	if err := checkValidity(a.IssuedAt, a.NotAfter); err != nil {
		return err
	}
	if a.NotAfter.Sub(a.IssuedAt) > MaxAnnouncementLife {
		return errorf(CodeInvalidField, "announcement life %s exceeds %s", a.NotAfter.Sub(a.IssuedAt), MaxAnnouncementLife)
	}
	return nil
}

// checkPeerID checks that s looks like a libp2p peer id in its usual text
// form: 1..MaxNameLength characters of the base58btc alphabet. The protocol
// does not parse it further; the node's transport does.
func checkPeerID(s string) error {
	if s == "" {
		return errorf(CodeMalformed, "peer_id is missing")
	}
	if len(s) > MaxNameLength {
		return errorf(CodeOversize, "peer_id is %d bytes, limit %d", len(s), MaxNameLength)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('1' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') || c == 'I' || c == 'O' || c == 'l' {
			return errorf(CodeInvalidField, "peer_id %q is not base58 text", truncate(s))
		}
	}
	return nil
}

// checkAnnouncedPrefix checks one served prefix: valid, canonical (no
// host bits), no zone or IPv4-mapped form, and not shorter than the
// family's minimum.
func checkAnnouncedPrefix(p netip.Prefix) error {
	if !p.IsValid() {
		return errorf(CodeInvalidField, "prefix %s is not valid", p)
	}
	if p.Masked() != p {
		return errorf(CodeInvalidField, "prefix %s has host bits set; write %s", p, p.Masked())
	}
	if p.Addr().Is4In6() {
		return errorf(CodeInvalidField, "prefix %s is IPv4-mapped; write the IPv4 prefix", p)
	}
	minBits := MinAnnouncedBitsV6
	if p.Addr().Is4() {
		minBits = MinAnnouncedBitsV4
	}
	if p.Bits() < minBits {
		return errorf(CodeInvalidField, "prefix %s is shorter than /%d", p, minBits)
	}
	return nil
}

// comparePrefix orders prefixes by address, then length.
func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}

// SortPrefixes sorts prefixes in the order an announcement lists them and
// removes repeats.
func SortPrefixes(p []netip.Prefix) []netip.Prefix {
	slices.SortFunc(p, comparePrefix)
	return slices.Compact(p)
}

// SignedAnnouncement is a decoded announcement envelope whose fields are
// valid.
type SignedAnnouncement struct {
	ID           ID
	Announcement Announcement
	Envelope     *dsse.Envelope
}

// DecodeAnnouncement decodes and validates an announcement envelope without
// checking its signature.
func DecodeAnnouncement(data []byte) (*SignedAnnouncement, error) {
	sa := &SignedAnnouncement{}
	env, err := decodeObject(data, MaxAnnouncementEnvelope, AnnouncementType, "announcement", &sa.Announcement)
	if err != nil {
		return nil, err
	}
	sa.ID, sa.Envelope = IDOf(env.Payload), env
	return sa, nil
}

// SignAnnouncement validates a, sets its Issuer to key's id and signs it.
func SignAnnouncement(key *sign.PrivateKey, a Announcement) ([]byte, ID, error) {
	a.Issuer = key.Public().ID()
	return signObject(key, AnnouncementType, &a)
}

// VerifyAnnouncement decodes an announcement and checks, in this order,
// that its issuer is one of the trusted ISP keys (UNTRUSTED_ISP), that it
// is signed by that key, and that it is valid at now within the default
// clock skew (NOT_YET_VALID, EXPIRED).
func VerifyAnnouncement(data []byte, trusted []*sign.PublicKey, now time.Time) (*SignedAnnouncement, error) {
	sa, err := VerifyAnnouncementSignature(data, trusted)
	if err != nil {
		return nil, err
	}
	a := &sa.Announcement
	if now.Add(DefaultClockSkew).Before(a.IssuedAt) {
		return nil, errorf(CodeNotYetValid, "announcement of %s is issued at %s, in the future", a.ISP, a.IssuedAt.Format(time.RFC3339))
	}
	if now.Add(-DefaultClockSkew).After(a.NotAfter) {
		return nil, errorf(CodeExpired, "announcement of %s expired at %s", a.ISP, a.NotAfter.Format(time.RFC3339))
	}
	return sa, nil
}

// VerifyAnnouncementSignature performs steps A1 and A2 of spec/SPEC.md
// §12.2 alone: it decodes an announcement and checks that its issuer is one
// of the trusted ISP keys (UNTRUSTED_ISP) and that it is signed by that key.
// It judges no time, so its answer does not change with the clock: a log,
// which records announcements whatever their validity, uses it. A claimant
// building its directory uses VerifyAnnouncement.
func VerifyAnnouncementSignature(data []byte, trusted []*sign.PublicKey) (*SignedAnnouncement, error) {
	sa, err := DecodeAnnouncement(data)
	if err != nil {
		return nil, err
	}
	a := &sa.Announcement
	i := slices.IndexFunc(trusted, func(k *sign.PublicKey) bool { return k.ID() == a.Issuer })
	if i < 0 {
		return nil, errorf(CodeUntrustedISP, "announcement of %s is signed by %s, not a trusted ISP key", a.ISP, a.Issuer)
	}
	if err := verifySignature(sa.Envelope, trusted[i], "announcement"); err != nil {
		return nil, err
	}
	return sa, nil
}

// Conflict is a disagreement between verified announcements that
// DirectoryOf refuses to resolve: two ISPs announcing the same prefix, or
// two keys announcing for the same ISP name.
type Conflict struct {
	// Prefix is the prefix announced by more than one ISP; invalid for a
	// key conflict.
	Prefix netip.Prefix
	// ISPs names the ISPs involved, sorted.
	ISPs []string
	// Announcements are the ids of the announcements involved, sorted.
	Announcements []ID
}

// DirectoryOf builds the routing directory from verified announcements
// (spec/SPEC.md §12.3). Of the announcements of one ISP name by one key,
// the newest counts. An ISP name announced by two keys is a conflict and
// that ISP is left out; a prefix announced by two ISPs is a conflict and
// the prefix is left out of both. Conflicts are returned, never resolved:
// addresses in a conflicting prefix are routed to no ISP, so nothing is
// sealed for, or blocked on, a disputed claim.
func DirectoryOf(anns []*SignedAnnouncement) (Directory, []Conflict) {
	type key struct {
		isp    string
		issuer sign.KeyID
	}
	newest := map[key]*SignedAnnouncement{}
	for _, sa := range anns {
		k := key{sa.Announcement.ISP, sa.Announcement.Issuer}
		if cur := newest[k]; cur == nil || newer(sa, cur) {
			newest[k] = sa
		}
	}
	byISP := map[string][]*SignedAnnouncement{}
	for k, sa := range newest {
		byISP[k.isp] = append(byISP[k.isp], sa)
	}
	var conflicts []Conflict
	chosen := map[string]*SignedAnnouncement{}
	for name, list := range byISP {
		if len(list) > 1 {
			conflicts = append(conflicts, Conflict{ISPs: []string{name}, Announcements: ids(list)})
			continue
		}
		chosen[name] = list[0]
	}
	owners := map[netip.Prefix][]*SignedAnnouncement{}
	for _, sa := range chosen {
		for _, p := range sa.Announcement.Prefixes {
			owners[p] = append(owners[p], sa)
		}
	}
	disputed := map[netip.Prefix]bool{}
	for p, list := range owners {
		if len(list) > 1 {
			disputed[p] = true
			c := Conflict{Prefix: p, Announcements: ids(list)}
			for _, sa := range list {
				c.ISPs = append(c.ISPs, sa.Announcement.ISP)
			}
			slices.Sort(c.ISPs)
			conflicts = append(conflicts, c)
		}
	}
	var dir Directory
	for _, sa := range chosen {
		a := &sa.Announcement
		e := DirectoryEntry{Name: a.ISP, Region: a.Region, Recipient: a.Recipient}
		for _, p := range a.Prefixes {
			if !disputed[p] {
				e.Prefixes = append(e.Prefixes, p)
			}
		}
		dir.ISPs = append(dir.ISPs, e)
	}
	slices.SortFunc(dir.ISPs, func(a, b DirectoryEntry) int { return cmp.Compare(a.Name, b.Name) })
	slices.SortFunc(conflicts, func(a, b Conflict) int {
		if c := comparePrefix(a.Prefix, b.Prefix); c != 0 {
			return c
		}
		return slices.Compare(a.ISPs, b.ISPs)
	})
	return dir, conflicts
}

// newer reports whether a replaces b: later issued_at, ties broken by id.
func newer(a, b *SignedAnnouncement) bool {
	if c := a.Announcement.IssuedAt.Compare(b.Announcement.IssuedAt); c != 0 {
		return c > 0
	}
	return a.ID > b.ID
}

// ids returns the sorted ids of announcements.
func ids(list []*SignedAnnouncement) []ID {
	out := make([]ID, len(list))
	for i, sa := range list {
		out[i] = sa.ID
	}
	slices.Sort(out)
	return out
}
