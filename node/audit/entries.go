package audit

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"

	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/node/tlog"
	"github.com/docket-project/docket/protocol"
)

// auditor holds the state of one audit while it reads the log in order.
// Its maps are written only between the parallel stages of a bundle.
type auditor struct {
	cfg  *Config
	size uint64
	// chains verifies credentials and revocations: signatures and
	// structure, no revocation.
	chains *protocol.Verifier
	report *Report

	creds  map[protocol.ID]*credential
	revs   map[protocol.ID]*revocation
	passed []passed
	// announcements are the announcements that verified, in log order.
	announcements []*protocol.SignedAnnouncement
	// parts assembles records stored in part entries; sections holds the
	// digests of the sections that assertions logged so far name.
	parts    tlog.Assembler
	sections map[[sha256.Size]byte]bool
	// assertions holds the ids of the assertions logged so far.
	assertions map[protocol.ID]bool

	tree *compact.Range
	// leaves holds the leaf hashes of the entries read so far, 32 bytes
	// each, to find a changed entry if the root does not match.
	leaves []byte
	read   uint64
	// prevSize is the state file's tree size, prefixRoot the root of the
	// first prevSize entries once read.
	prevSize   uint64
	prefixRoot []byte
}

// credential is a logged credential and the result of its verification.
type credential struct {
	index uint64
	raw   []byte
	sc    *protocol.SignedCredential
	// chain is the verified chain ending in the credential; nil if it
	// failed, with err saying why.
	chain *protocol.Chain
	err   error
	// registrar is the issuer of the chain's grant.
	registrar sign.KeyID
}

// revocation sums up the verified revocations of one credential.
type revocation struct {
	// first is the index of the first one logged.
	first uint64
	// earliest is the earliest revoked_at, logged at earliestIndex.
	earliest      time.Time
	earliestIndex uint64
}

// passed is an assertion that verified, kept to check it against
// revocations logged after it.
type passed struct {
	index     uint64
	id        protocol.ID
	chain     *protocol.Chain
	notBefore time.Time
}

// entry is one entry of a bundle on its way through the stages. A part
// entry that completes a record of a signed object becomes that object's
// entry: data is then the record.
type entry struct {
	index uint64
	data  []byte
	leaf  []byte
	kind  EntryKind
	err   error // why it does not decode
	part  *tlog.Part
	cred  *protocol.SignedCredential
	rev   *protocol.SignedRevocation
	sa    *protocol.SignedAssertion
	ann   *protocol.SignedAnnouncement
	rcpt  *protocol.SignedReceipt
	// Results of the assertion's verification.
	finding *Finding
	pass    bool
}

func newAuditor(cfg *Config, size uint64, prev *log.Checkpoint) *auditor {
	a := &auditor{
		cfg:      cfg,
		size:     size,
		chains:   protocol.NewVerifier(cfg.Registrars),
		report:   newReport(),
		creds:    map[protocol.ID]*credential{},
		revs:     map[protocol.ID]*revocation{},
		sections: map[[sha256.Size]byte]bool{},

		assertions: map[protocol.ID]bool{},
		tree:       rangeFactory.NewEmptyRange(0),
	}
	if prev != nil {
		a.prevSize = prev.Size
		if prev.Size == 0 {
			a.prefixRoot = emptyRoot
		}
	}
	return a
}

// run reads every entry of the tree in order and audits it.
func (a *auditor) run(ctx context.Context, src source) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	treeSize := func(context.Context) (uint64, error) { return a.size, nil }
	for b, err := range client.EntryBundles(ctx, fetchWorkers, treeSize, src.ReadEntryBundle, 0, a.size) {
		if err != nil {
			return fmt.Errorf("failed to read the log's entries: %w", err)
		}
		ri := b.RangeInfo
		var bundle api.EntryBundle
		if err := bundle.UnmarshalText(b.Data); err != nil {
			return fmt.Errorf("failed to read entry bundle %d: %w", ri.Index, err)
		}
		end := int(ri.First) + int(ri.N)
		if len(bundle.Entries) < end {
			return fmt.Errorf("failed to read entry bundle %d: it holds %d entries, the checkpoint needs %d", ri.Index, len(bundle.Entries), end)
		}
		first := ri.Index*layout.EntryBundleWidth + uint64(ri.First)
		if first != a.read {
			return fmt.Errorf("failed to read the log's entries: got entry %d, want %d", first, a.read)
		}
		a.bundle(first, bundle.Entries[ri.First:end])
		if a.cfg.Progress != nil {
			a.cfg.Progress(a.read, a.size)
		}
	}
	if a.read != a.size {
		return fmt.Errorf("failed to read the log's entries: read %d of %d", a.read, a.size)
	}
	return nil
}

// bundle audits consecutive entries starting at index first: decoding and
// the verification of assertions run in parallel; the log's tree,
// credentials and revocations are taken in order in between.
func (a *auditor) bundle(first uint64, data [][]byte) {
	es := make([]entry, len(data))
	parallel(len(es), a.cfg.Workers, func(i int) {
		es[i] = decode(first+uint64(i), data[i])
	})
	for i := range es {
		a.record(&es[i])
	}
	parallel(len(es), a.cfg.Workers, func(i int) {
		if es[i].sa != nil {
			a.verifyAssertion(&es[i])
		}
	})
	for i := range es {
		if es[i].sa != nil {
			a.merge(&es[i])
		}
	}
}

// merge takes a verified assertion in log order: its finding or its
// record, and its counts by registrar and work.
func (a *auditor) merge(e *entry) {
	as := &e.sa.Assertion
	c := a.creds[as.Credential]
	if c != nil && c.index < e.index && c.chain != nil {
		a.report.registrar(c.registrar).Assertions++
		for _, w := range c.sc.Credential.Works {
			if slices.Contains(w.Content, as.Content) {
				a.report.Works[w.ID]++
			}
		}
	}
	switch {
	case e.finding != nil:
		a.report.Findings = append(a.report.Findings, *e.finding)
	case e.pass:
		a.passed = append(a.passed, passed{index: e.index, id: e.sa.ID, chain: c.chain, notBefore: as.NotBefore})
	}
}

// parallel calls f(0) … f(n-1) on up to workers goroutines and returns when
// all calls have returned.
func parallel(n, workers int, f func(int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(n, workers) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				f(i)
			}
		})
	}
	wg.Wait()
}

// decode hashes an entry and decodes it: as a part entry, or as an
// object of whichever kind it is.
func decode(index uint64, data []byte) entry {
	e := entry{index: index, data: data, leaf: rfc6962.DefaultHasher.HashLeaf(data)}
	if tlog.IsPart(data) {
		if e.part, e.err = tlog.ParsePart(data); e.err != nil {
			e.kind = EntryUndecodable
		}
		return e
	}
	e.object()
	return e
}

// object decodes e.data as an object of whichever kind it is.
func (e *entry) object() {
	var err error
	if e.sa, err = protocol.DecodeAssertion(e.data); err == nil {
		e.kind = EntryAssertion
		return
	}
	if e.cred, err = protocol.DecodeCredential(e.data); err == nil {
		e.kind = EntryCredential
		return
	}
	if e.rev, err = protocol.DecodeRevocation(e.data); err == nil {
		e.kind = EntryRevocation
		return
	}
	if e.rcpt, err = protocol.DecodeReceipt(e.data); err == nil {
		e.kind = EntryReceipt
		return
	}
	if e.ann, err = protocol.DecodeAnnouncement(e.data); err == nil {
		e.kind = EntryAnnouncement
		return
	}
	// None of the decoders accepts it: the log's own check says which kind
	// it looks like and what is wrong with it.
	_, e.err = tlog.Check(tlog.KindAuto, e.data)
	if e.err == nil {
		e.err = errors.New("object is accepted by the log's check but by no decoder")
	}
	e.kind = EntryUndecodable
	if protocol.CodeOf(e.err) == protocol.CodeUnknownPayloadType {
		e.kind = EntryUnknown
	}
}

// record takes an entry in log order: its leaf hash, its count, and the
// verification of credentials and revocations.
func (a *auditor) record(e *entry) {
	if err := a.tree.Append(e.leaf, nil); err != nil {
		panic(err) // Append fails only for a leaf hash of the wrong size.
	}
	a.leaves = append(a.leaves, e.leaf...)
	a.read++
	if a.prevSize > 0 && a.read == a.prevSize {
		a.prefixRoot = a.root()
	}
	if e.part != nil && !a.assemble(e) {
		return
	}
	r := a.report
	r.Entries[e.kind]++
	switch e.kind {
	case EntryUndecodable:
		a.find(e, FindingUndecodable, "", e.err)
	case EntryUnknown:
		a.find(e, FindingUnknownKind, "", e.err)
	case EntryCredential:
		a.credential(e)
	case EntryRevocation:
		a.revocation(e)
	case EntryAssertion:
		r.Claimants[e.sa.Assertion.Claimant]++
		r.Contents[e.sa.Assertion.Content]++
		for _, s := range e.sa.Assertion.Sections {
			a.sections[[sha256.Size]byte(s.SHA256)] = true
		}
		a.assertions[e.sa.ID] = true
	case EntryAnnouncement:
		a.announcement(e)
	case EntryReceipt:
		a.receipt(e)
	case EntrySection:
		if !a.sections[e.part.Digest] {
			a.find(e, FindingOrphanSection, fmt.Sprintf("section %x is named by no assertion logged before it", e.part.Digest), nil)
		}
	}
}

// assemble adds a part entry to its record. If the part completes a
// record, e becomes the record's entry, the object decoded or the section,
// and assemble returns true.
func (a *auditor) assemble(e *entry) bool {
	a.report.Parts++
	record, err := a.parts.Add(e.part)
	switch {
	case err != nil:
		e.kind, e.err = EntryUndecodable, err
	case record == nil:
		return false
	case e.part.Kind == tlog.RecordSection:
		e.kind = EntrySection
	default:
		e.data = record
		e.object()
	}
	return true
}

// root returns the root of the entries read so far.
func (a *auditor) root() []byte {
	if a.tree.End() == 0 {
		return emptyRoot
	}
	root, err := a.tree.GetRootHash(nil)
	if err != nil {
		panic(err) // GetRootHash fails only for a range not starting at 0.
	}
	return root
}

// find adds a finding for entry e. An error with a protocol code gives the
// code and the sentence; msg, if set, comes first.
func (a *auditor) find(e *entry, kind FindingKind, msg string, err error) {
	f := finding(e, kind, msg, err)
	a.report.Findings = append(a.report.Findings, f)
}

func finding(e *entry, kind FindingKind, msg string, err error) Finding {
	f := Finding{Index: e.index, Kind: kind, Object: e.id()}
	var perr *protocol.Error
	switch {
	case errors.As(err, &perr):
		f.Code = perr.Code
		f.Message = perr.Msg
		if perr.Err != nil {
			f.Message += ": " + perr.Err.Error()
		}
	case err != nil:
		f.Message = err.Error()
	}
	if msg != "" && f.Message != "" {
		f.Message = msg + ": " + f.Message
	} else if msg != "" {
		f.Message = msg
	}
	return f
}

// id returns the id of the entry's object, if it decoded.
func (e *entry) id() protocol.ID {
	switch {
	case e.cred != nil:
		return e.cred.ID
	case e.rev != nil:
		return e.rev.ID
	case e.sa != nil:
		return e.sa.ID
	case e.ann != nil:
		return e.ann.ID
	case e.rcpt != nil:
		return e.rcpt.ID
	}
	return ""
}

// signatureFailure reports whether err is a signature that does not verify
// or is by the wrong key.
func signatureFailure(err error) bool {
	switch protocol.CodeOf(err) {
	case protocol.CodeBadSignature, protocol.CodeWrongKey:
		return true
	}
	return false
}

// credential verifies a credential entry, at its own not_before, and
// records it under its id unless a credential with that id came earlier.
func (a *auditor) credential(e *entry) {
	c := &credential{index: e.index, raw: e.data, sc: e.cred}
	cred := &e.cred.Credential
	envelopes := [][]byte{e.data}
	var parent *credential
	if cred.Parent == "" {
		c.registrar = cred.Issuer
		a.report.registrar(c.registrar).Grants++
	} else {
		parent = a.creds[cred.Parent]
		if parent != nil {
			c.registrar = parent.registrar
			a.report.registrar(c.registrar).Delegations++
			envelopes = [][]byte{parent.raw, e.data}
		}
	}
	switch {
	case parent == nil && cred.Parent != "":
		c.err = fmt.Errorf("it delegates credential %s, which is not logged before it", cred.Parent)
		a.find(e, FindingInvalidCredential, "", c.err)
	case parent != nil && parent.chain == nil:
		c.err = fmt.Errorf("it delegates credential %s (entry %d), which does not verify", cred.Parent, parent.index)
		a.find(e, FindingInvalidCredential, "", c.err)
	default:
		c.chain, c.err = a.chains.VerifyChain(envelopes, cred.NotBefore)
		switch code := protocol.CodeOf(c.err); {
		case c.err == nil:
		case signatureFailure(c.err):
			a.find(e, FindingBadSignature, "", c.err)
		case code == protocol.CodeUntrustedRegistrar:
			a.find(e, FindingUntrustedRegistrar, "", c.err)
		default:
			a.find(e, FindingInvalidCredential, "", c.err)
		}
	}
	if _, dup := a.creds[e.cred.ID]; !dup {
		a.creds[e.cred.ID] = c
	}
}

// revocation verifies a revocation entry against the chain of the
// credential it names and, if it verifies, records it.
func (a *auditor) revocation(e *entry) {
	r := &e.rev.Revocation
	c := a.creds[r.Credential]
	switch {
	case c == nil:
		a.find(e, FindingInvalidRevocation, fmt.Sprintf("it revokes credential %s, which is not logged before it", r.Credential), nil)
		return
	case c.chain == nil:
		a.find(e, FindingInvalidRevocation, fmt.Sprintf("it revokes credential %s (entry %d), which does not verify", r.Credential, c.index), nil)
		return
	}
	if _, err := a.chains.VerifyRevocation(e.data, c.chain); err != nil {
		kind := FindingInvalidRevocation
		if signatureFailure(err) {
			kind = FindingBadSignature
		}
		a.find(e, kind, "", err)
		return
	}
	a.report.registrar(c.registrar).Revocations++
	rev, ok := a.revs[r.Credential]
	if !ok {
		a.revs[r.Credential] = &revocation{first: e.index, earliest: r.RevokedAt, earliestIndex: e.index}
		return
	}
	if r.RevokedAt.Before(rev.earliest) {
		rev.earliest, rev.earliestIndex = r.RevokedAt, e.index
	}
}

// revokedFor reports whether, for an assertion at index logged with the
// given not_before, the credential id counts as revoked: a verified
// revocation of it was logged before the assertion, or was made before the
// assertion's not_before. It returns the entry of that revocation.
func (a *auditor) revokedFor(index uint64, notBefore time.Time, id protocol.ID) (uint64, bool) {
	rev, ok := a.revs[id]
	switch {
	case !ok:
		return 0, false
	case rev.first < index:
		return rev.first, true
	case rev.earliest.Before(notBefore):
		return rev.earliestIndex, true
	}
	return 0, false
}

// verifyAssertion verifies an assertion entry against its credential's
// chain, at its own not_before, and sets e.finding or e.pass. It reads the
// auditor's maps only, so assertions of a bundle are verified in parallel.
func (a *auditor) verifyAssertion(e *entry) {
	as := &e.sa.Assertion
	c := a.creds[as.Credential]
	switch {
	case c == nil || c.index > e.index:
		f := finding(e, FindingNoValidCredential, fmt.Sprintf("its credential %s is not logged before it", as.Credential), nil)
		e.finding = &f
		return
	case c.chain == nil:
		f := finding(e, FindingNoValidCredential, fmt.Sprintf("its credential %s (entry %d) does not verify", as.Credential, c.index), c.err)
		e.finding = &f
		return
	}
	revoked := func(id protocol.ID) bool {
		_, ok := a.revokedFor(e.index, as.NotBefore, id)
		return ok
	}
	v := protocol.NewVerifier(a.cfg.Registrars, protocol.WithRevoked(revoked), protocol.WithMaxLife(a.cfg.MaxAssertionLife))
	_, err := v.Verify(e.data, c.chain, nil, as.NotBefore)
	var f Finding
	switch code := protocol.CodeOf(err); code {
	case "":
		if err == nil {
			e.pass = true
			return
		}
		f = finding(e, FindingInvalidAssertion, "", err)
	case protocol.CodeCredentialRevoked:
		f = a.revokedFinding(e, c.chain, as.NotBefore, err)
	case protocol.CodeBadSignature:
		f = finding(e, FindingBadSignature, "", err)
	case protocol.CodeWrongKey, protocol.CodeChainBroken, protocol.CodeWorkNotCovered,
		protocol.CodeCredentialExpired, protocol.CodeCredentialNotYetValid:
		f = finding(e, FindingNoValidCredential, "", err)
	default:
		f = finding(e, FindingInvalidAssertion, "", err)
	}
	e.finding = &f
}

// revokedFinding says which credential of chain was revoked, by which
// entry, and why that counts for the assertion e; err is the verifier's
// rejection, if any.
func (a *auditor) revokedFinding(e *entry, chain *protocol.Chain, notBefore time.Time, err error) Finding {
	for _, link := range chain.Links {
		at, ok := a.revokedFor(e.index, notBefore, link.ID)
		if !ok {
			continue
		}
		msg := fmt.Sprintf("credential %s was revoked by entry %d, logged before this assertion", link.ID, at)
		if at > e.index {
			msg = fmt.Sprintf("credential %s was revoked by entry %d at %s, before this assertion's not_before %s",
				link.ID, at, a.revs[link.ID].earliest.Format(time.RFC3339), notBefore.Format(time.RFC3339))
		}
		f := finding(e, FindingRevokedCredentialUsed, msg, nil)
		f.Code = protocol.CodeCredentialRevoked
		return f
	}
	// Not reached: Verify consults revokedFor too.
	return finding(e, FindingRevokedCredentialUsed, "", err)
}

// finish checks the assertions that verified against the revocations
// logged after them, and returns the report with its findings in log
// order.
func (a *auditor) finish() *Report {
	for _, p := range a.passed {
		e := &entry{index: p.index, sa: &protocol.SignedAssertion{ID: p.id}}
		for _, link := range p.chain.Links {
			if _, ok := a.revokedFor(p.index, p.notBefore, link.ID); ok {
				a.report.Findings = append(a.report.Findings, a.revokedFinding(e, p.chain, p.notBefore, nil))
				break
			}
		}
	}
	a.passed = nil
	a.report.Incomplete = a.parts.Pending()
	slices.SortStableFunc(a.report.Findings, func(x, y Finding) int { return cmp.Compare(x.Index, y.Index) })
	return a.report
}

// announcement counts an ISP announcement and, if ISP keys are trusted,
// verifies it at its own issued_at.
func (a *auditor) announcement(e *entry) {
	ann := &e.ann.Announcement
	a.report.isp(ann.ISP).Announcements++
	if len(a.cfg.ISPs) == 0 {
		return
	}
	sa, err := protocol.VerifyAnnouncement(e.data, a.cfg.ISPs, ann.IssuedAt)
	switch {
	case err == nil:
		a.conflicts(e, sa)
	case protocol.CodeOf(err) == protocol.CodeUntrustedISP:
		a.find(e, FindingUntrustedISP, "", err)
	case signatureFailure(err):
		a.find(e, FindingBadSignature, "", err)
	default:
		a.find(e, FindingInvalidAnnouncement, "", err)
	}
}

// conflicts reports the conflicts (spec/SPEC.md §12.3) that announcement
// sa, at entry e, makes with the verified announcements logged before it
// that are still valid at its issued_at: a prefix two ISPs announce, or an
// ISP name announced by two keys. The claimants' directories leave such
// prefixes and ISPs out; the finding makes the dispute public.
func (a *auditor) conflicts(e *entry, sa *protocol.SignedAnnouncement) {
	at := sa.Announcement.IssuedAt
	live := []*protocol.SignedAnnouncement{sa}
	for _, prev := range a.announcements {
		if !prev.Announcement.NotAfter.Before(at) {
			live = append(live, prev)
		}
	}
	a.announcements = append(a.announcements, sa)
	_, conflicts := protocol.DirectoryOf(live)
	for _, c := range conflicts {
		if !slices.Contains(c.Announcements, sa.ID) {
			continue
		}
		if c.Prefix.IsValid() {
			a.find(e, FindingAnnouncementConflict, fmt.Sprintf("prefix %s is announced by %s", c.Prefix, strings.Join(c.ISPs, " and ")), nil)
		} else {
			a.find(e, FindingAnnouncementConflict, fmt.Sprintf("ISP %s is announced by %d keys", c.ISPs[0], len(c.Announcements)), nil)
		}
	}
}

// receipt counts an ISP's receipt and, if ISP keys are trusted, verifies
// it. A receipt that applies an assertion not logged before it says the
// ISP enforced what the public log does not show.
func (a *auditor) receipt(e *entry) {
	r := &e.rcpt.Receipt
	c := a.report.isp(r.ISP)
	switch r.Verdict {
	case protocol.VerdictApplied:
		c.Applied++
		c.Pairs += r.Pairs
	case protocol.VerdictRejected:
		c.Rejected++
	}
	if len(a.cfg.ISPs) > 0 {
		i := slices.IndexFunc(a.cfg.ISPs, func(k *sign.PublicKey) bool { return k.ID() == r.Issuer })
		if i < 0 {
			f := finding(e, FindingUntrustedISP, fmt.Sprintf("receipt of %s is signed by %s, not a trusted ISP key", r.ISP, r.Issuer), nil)
			f.Code = protocol.CodeUntrustedISP
			a.report.Findings = append(a.report.Findings, f)
			return
		}
		if _, err := protocol.VerifyReceipt(e.data, a.cfg.ISPs[i]); err != nil {
			a.find(e, FindingBadSignature, "", err)
			return
		}
	}
	if r.Verdict == protocol.VerdictApplied && !a.assertions[r.Assertion] {
		a.find(e, FindingUnloggedEnforcement, fmt.Sprintf("%s applied assertion %s, which is not logged before the receipt", r.ISP, r.Assertion), nil)
	}
}
