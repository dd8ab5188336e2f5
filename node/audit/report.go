package audit

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/protocol"
)

// EntryKind is what a record of the log holds: a signed object or a
// sealed section, stored in one entry or in several part entries (see
// node/tlog's Part).
type EntryKind string

// The kinds of entry an audit counts.
const (
	EntryCredential   EntryKind = "credential"
	EntryRevocation   EntryKind = "revocation"
	EntryAssertion    EntryKind = "assertion"
	EntrySection      EntryKind = "section" // the sealed bytes of one section of an assertion
	EntryAnnouncement EntryKind = "announcement"
	EntryReceipt      EntryKind = "receipt"
	EntryUnknown      EntryKind = "unknown"     // well-formed JSON of a kind the log does not define
	EntryUndecodable  EntryKind = "undecodable" // not a valid object of any kind
)

// FindingKind names a problem with one entry. The kinds are stable: tools
// may match on them.
type FindingKind string

// The kinds of finding.
const (
	// FindingUndecodable: the entry is not a valid credential, revocation
	// or assertion bundle (its code says why).
	FindingUndecodable FindingKind = "undecodable-entry"
	// FindingUnknownKind: the entry is an object of a kind or payload type
	// the log does not define.
	FindingUnknownKind FindingKind = "unknown-kind"
	// FindingBadSignature: a signature of the entry does not verify, or is
	// by another key than the one that must sign.
	FindingBadSignature FindingKind = "bad-signature"
	// FindingUntrustedRegistrar: a registrar's grant issued by a key that
	// is not a trusted registrar.
	FindingUntrustedRegistrar FindingKind = "untrusted-registrar"
	// FindingInvalidCredential: a delegation whose parent is not logged
	// before it or does not verify, or that breaks the delegation rules.
	FindingInvalidCredential FindingKind = "invalid-credential"
	// FindingInvalidRevocation: a revocation of a credential not logged
	// before it or that does not verify, or signed by a key that may not
	// revoke it.
	FindingInvalidRevocation FindingKind = "invalid-revocation"
	// FindingRevokedCredentialUsed: an assertion under a credential whose
	// revocation was logged before it, or whose not_before is after the
	// revocation's revoked_at.
	FindingRevokedCredentialUsed FindingKind = "revoked-credential-used"
	// FindingNoValidCredential: an assertion whose credential is not logged
	// before it, does not verify, was not valid at the assertion's
	// not_before, is not the claimant's, or does not cover the asserted
	// content.
	FindingNoValidCredential FindingKind = "assertion-without-valid-credential"
	// FindingInvalidAssertion: an assertion that fails verification for
	// another reason, such as a life longer than the auditor's maximum.
	FindingInvalidAssertion FindingKind = "invalid-assertion"
	// FindingOrphanSection: a sealed section that no assertion logged
	// before it names by its digest.
	FindingOrphanSection FindingKind = "orphan-section"
	// FindingUntrustedISP: an announcement or receipt signed by a key that
	// is not a trusted ISP key (only when ISP keys are configured).
	FindingUntrustedISP FindingKind = "untrusted-isp"
	// FindingInvalidAnnouncement: an announcement by a trusted ISP key
	// that fails verification for another reason.
	FindingInvalidAnnouncement FindingKind = "invalid-announcement"
	// FindingAnnouncementConflict: a verified announcement that claims a
	// prefix another ISP's live announcement claims, or announces an ISP
	// name another key announces (spec/SPEC.md §12.3).
	FindingAnnouncementConflict FindingKind = "announcement-conflict"
	// FindingUnloggedEnforcement: a receipt by which an ISP applied an
	// assertion that is not logged before the receipt.
	FindingUnloggedEnforcement FindingKind = "unlogged-enforcement"
)

// Finding is one problem with one record of the log.
type Finding struct {
	// Index is the position in the log, from 0, of the record's entry: of
	// its last part for a record stored in parts.
	Index uint64 `json:"index"`
	// Kind says what is wrong.
	Kind FindingKind `json:"kind"`
	// Code is the spec/SPEC.md §8 code of the failed check, if one applies.
	Code protocol.Code `json:"code,omitzero"`
	// Object is the id of the entry's object, if it could be decoded.
	Object protocol.ID `json:"object,omitzero"`
	// Message says what is wrong, for humans.
	Message string `json:"message"`
}

// RegistrarCounts counts what the log holds under one registrar key: the
// issuer of a grant, and of the grant at the root of a delegation or of an
// assertion's chain.
type RegistrarCounts struct {
	// Grants is the number of credentials the registrar issued.
	Grants int `json:"grants"`
	// Delegations is the number of delegations of its grants.
	Delegations int `json:"delegations"`
	// Revocations is the number of verified revocations of credentials of
	// its chains.
	Revocations int `json:"revocations"`
	// Assertions is the number of assertions under its chains.
	Assertions int `json:"assertions"`
}

// ISPCounts counts what the log holds from one ISP, by the name its
// announcements and receipts give.
type ISPCounts struct {
	// Announcements is the number of its announcements.
	Announcements int `json:"announcements"`
	// Applied and Rejected are the numbers of its receipts with each
	// verdict; Pairs sums the pairs its applied receipts enforced.
	Applied  int `json:"applied"`
	Rejected int `json:"rejected"`
	Pairs    int `json:"pairs"`
}

// TreeHead is a verified checkpoint's tree: its size and root hash.
type TreeHead struct {
	Size uint64 `json:"size"`
	Root []byte `json:"root"`
}

// Report is the result of an audit.
type Report struct {
	// Origin is the log's origin, the first line of its checkpoints.
	Origin string `json:"origin"`
	// Size and Root are the audited tree's: the checkpoint's, recomputed
	// from the entries.
	Size uint64 `json:"size"`
	Root []byte `json:"root"`
	// Checkpoint is the audited checkpoint as the log served it.
	Checkpoint string `json:"checkpoint"`
	// Witnesses names the configured witnesses whose cosignatures on the
	// checkpoint verified, sorted.
	Witnesses []string `json:"witnesses,omitzero"`
	// Previous is the tree of the state file's checkpoint, found to be a
	// prefix of the audited one; nil on a first audit.
	Previous *TreeHead `json:"previous,omitzero"`
	// Entries counts the records by kind; a record stored in parts counts
	// once.
	Entries map[EntryKind]int `json:"entries"`
	// Parts is the number of part entries.
	Parts int `json:"parts"`
	// Incomplete is the number of records of which the tree holds some
	// parts, not all: a submission the checkpoint covers in part.
	Incomplete int `json:"incomplete"`
	// Registrars counts credentials, revocations and assertions by the
	// registrar key id at the root of their chains.
	Registrars map[sign.KeyID]*RegistrarCounts `json:"registrars"`
	// Claimants counts assertions by claimant key id.
	Claimants map[sign.KeyID]int `json:"claimants"`
	// Works counts assertions by work id, for assertions whose credential
	// verifies: each work of the credential that lists the content.
	Works map[string]int `json:"works"`
	// Contents counts assertions by content id.
	Contents map[protocol.ContentID]int `json:"contents"`
	// ISPs counts announcements and receipts by ISP name.
	ISPs map[string]*ISPCounts `json:"isps"`
	// Findings lists the problems found, by entry index.
	Findings []Finding `json:"findings"`
}

func newReport() *Report {
	return &Report{
		Entries:    map[EntryKind]int{},
		Registrars: map[sign.KeyID]*RegistrarCounts{},
		Claimants:  map[sign.KeyID]int{},
		Works:      map[string]int{},
		Contents:   map[protocol.ContentID]int{},
		ISPs:       map[string]*ISPCounts{},
		Findings:   []Finding{},
	}
}

// isp returns the counts of an ISP, creating them.
func (r *Report) isp(name string) *ISPCounts {
	c, ok := r.ISPs[name]
	if !ok {
		c = &ISPCounts{}
		r.ISPs[name] = c
	}
	return c
}

// registrar returns the counts of a registrar key, creating them.
func (r *Report) registrar(id sign.KeyID) *RegistrarCounts {
	c, ok := r.Registrars[id]
	if !ok {
		c = &RegistrarCounts{}
		r.Registrars[id] = c
	}
	return c
}

// WriteText writes the report for humans: the tree, the counts (for
// claimants, works and contents the top most asserted) and every finding.
func (r *Report) WriteText(w io.Writer, top int) error {
	var b strings.Builder
	fmt.Fprintf(&b, "log %s: %d entries, root %s\n", r.Origin, r.Size, base64.StdEncoding.EncodeToString(r.Root))
	if len(r.Witnesses) > 0 {
		fmt.Fprintf(&b, "cosigned by %d witnesses: %s\n", len(r.Witnesses), strings.Join(r.Witnesses, ", "))
	}
	if r.Previous != nil {
		fmt.Fprintf(&b, "consistent with the previous audit at %d entries, root %s\n",
			r.Previous.Size, base64.StdEncoding.EncodeToString(r.Previous.Root))
	}
	fmt.Fprintf(&b, "\nrecords:\n")
	for _, k := range []EntryKind{EntryCredential, EntryRevocation, EntryAssertion, EntrySection, EntryAnnouncement, EntryReceipt, EntryUnknown, EntryUndecodable} {
		if n := r.Entries[k]; n > 0 || k == EntryCredential || k == EntryRevocation || k == EntryAssertion {
			fmt.Fprintf(&b, "  %-12s %d\n", k, n)
		}
	}
	fmt.Fprintf(&b, "  (%d part entries", r.Parts)
	if r.Incomplete > 0 {
		fmt.Fprintf(&b, "; %d records incomplete", r.Incomplete)
	}
	fmt.Fprintf(&b, ")\n")
	fmt.Fprintf(&b, "\nregistrars: %d\n", len(r.Registrars))
	for _, id := range slices.Sorted(maps.Keys(r.Registrars)) {
		c := r.Registrars[id]
		fmt.Fprintf(&b, "  %s  %d grants, %d delegations, %d revocations, %d assertions\n",
			id, c.Grants, c.Delegations, c.Revocations, c.Assertions)
	}
	writeTop(&b, "claimants", r.Claimants, top)
	writeTop(&b, "works", r.Works, top)
	writeTop(&b, "contents", r.Contents, top)
	if len(r.ISPs) > 0 {
		fmt.Fprintf(&b, "\nisps: %d\n", len(r.ISPs))
		for _, name := range slices.Sorted(maps.Keys(r.ISPs)) {
			c := r.ISPs[name]
			fmt.Fprintf(&b, "  %s  %d announcements, %d applied (%d pairs), %d rejected\n",
				name, c.Announcements, c.Applied, c.Pairs, c.Rejected)
		}
	}
	fmt.Fprintf(&b, "\nfindings: %d\n", len(r.Findings))
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "  entry %d: %s", f.Index, f.Kind)
		if f.Code != "" {
			fmt.Fprintf(&b, " (%s)", f.Code)
		}
		fmt.Fprintf(&b, ": %s\n", f.Message)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeTop writes the number of keys of counts and the top of them by
// count, most first, ties by key.
func writeTop[K ~string](b *strings.Builder, title string, counts map[K]int, top int) {
	keys := slices.SortedFunc(maps.Keys(counts), func(x, y K) int {
		return cmp.Or(cmp.Compare(counts[y], counts[x]), cmp.Compare(x, y))
	})
	fmt.Fprintf(b, "\n%s: %d", title, len(keys))
	if len(keys) > top {
		fmt.Fprintf(b, " (top %d by assertions)", top)
		keys = keys[:top]
	}
	fmt.Fprintf(b, "\n")
	for _, k := range keys {
		fmt.Fprintf(b, "  %s  %d assertions\n", k, counts[k])
	}
}
