// Package audit is the auditor role of Docket (DESIGN.md §1): it replays a
// transparency log written by node/tlog, checks that the log's entries are
// the ones its signed checkpoint commits to, verifies every signed object
// in it with package protocol, and reports statistics and findings.
//
// # What an audit checks
//
// Audit reads the log in the c2sp.org/tlog-tiles layout, over HTTP or from
// the log's directory, and in this order:
//
//  1. The checkpoint (c2sp.org/tlog-checkpoint) must be signed by the log's
//     note key, whose name is the log's origin, and, if witnesses are
//     configured, cosigned (c2sp.org/tlog-cosignature) by at least the
//     required number of them. Otherwise the audit fails.
//  2. Every entry of the checkpoint's tree is read from the entry bundles;
//     the RFC 6962 tree of their leaf hashes, SHA-256(0x00 || entry), must
//     have the checkpoint's root, or the audit fails with a
//     *RootMismatchError naming, where the log's hash tiles allow it, the
//     first entry that differs.
//  3. If a state file holds the checkpoint of an earlier audit of size m,
//     the tree of the first m entries must have that checkpoint's root (and
//     the log must not have shrunk), or the audit fails with a
//     *SplitViewError: the log showed two histories.
//  4. Every entry is decoded and verified (below). Problems found there are
//     findings of the report, not failures of the audit.
//  5. The checkpoint is written to the state file, replacing the earlier
//     one, unless the audit failed.
//
// # How entries are judged
//
// node/tlog stores each signed object as one entry, except an object
// longer than an entry and the sealed sections of an assertion, which it
// stores in part entries (node/tlog's Part). The auditor puts such records
// back together with node/tlog's Assembler and judges each at the entry of
// its last part; a section must be named, by its digest, by an assertion
// logged before it. A record whose parts the tree holds only in part is
// counted as incomplete: a submission the checkpoint covers in part.
//
// A log must let a reader verify each entry from the entries before it, so
// every object is judged against what was logged before it:
//
//   - A credential is verified with protocol.Verifier.VerifyChain at its own
//     not_before: a registrar's grant against the trusted registrar keys, a
//     delegation together with its parent, which must be logged earlier.
//   - A revocation is verified with protocol.Verifier.VerifyRevocation
//     against the chain of the credential it names, which must be logged
//     earlier and verify. Only verified revocations count.
//   - An assertion is verified with protocol.Verifier.Verify, without an ISP
//     (the public steps), against the chain of its credential, which must be
//     logged earlier and verify. Its time validity is judged at its own
//     not_before, not at the auditor's clock: logged assertions expire
//     normally. A credential of its chain counts as revoked if a verified
//     revocation of it was logged before the assertion, or if the
//     revocation's revoked_at is before the assertion's not_before, wherever
//     the revocation is logged.
//   - An ISP announcement or receipt is verified against the trusted ISP
//     keys, if any are configured: an announcement with
//     protocol.VerifyAnnouncement at its own issued_at, a receipt with
//     protocol.VerifyReceipt. A verified announcement that conflicts
//     (spec/SPEC.md §12.3) with one logged before it and still valid at its
//     issued_at, a prefix two ISPs claim or an ISP name two keys announce,
//     is a finding. Whatever the keys, a receipt by which an ISP applied an
//     assertion not logged before it is a finding: enforcement the log does
//     not show.
//
// Each problem is a Finding with a stable FindingKind and the index of the
// entry, and the spec/SPEC.md §8 code where one applies. A log whose
// entries all verify yields no finding.
//
// # State file
//
// The state file holds the last checkpoint audited, exactly as the log
// served it (a signed note, with any cosignatures). It is read and checked
// with the log's key before the audit and replaced, atomically, after a
// successful one. A missing state file is a first audit. Every audit reads
// and judges the whole log; the state only ties it to the previous one.
package audit
