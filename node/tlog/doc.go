// Package tlog is the log role of a Docket node: a public, append-only
// transparency log of Docket signed objects (DESIGN.md §6), stored by
// Tessera's POSIX driver and served in the c2sp.org/tlog-tiles layout. Its
// entries are specified in spec/SPEC.md §14; this documentation repeats the
// essentials.
//
// # Entries
//
// A submission is one signed object, exactly as its signer wrote it: a
// credential, revocation, announcement or receipt envelope, or an
// assertion bundle (spec/SPEC.md §5.7), the bundle carrying sealed sections
// as ciphertext. The log never sees a plaintext address. Before appending,
// the log decodes the object (Check): structure and signature-independent
// validity. A rejected object is not appended; the rejection carries the
// code of spec/SPEC.md §8.
//
// # Signatures
//
// A log that trusts registrars (Config.Registrars) also verifies each
// object's signature, and who signed it, with protocol's own functions,
// before appending it:
//
//   - a root credential (no parent) must be issued and signed by a trusted
//     registrar: UNTRUSTED_REGISTRAR, WRONG_KEY, BAD_SIGNATURE
//     (protocol.Verifier.VerifyChainSignatures);
//   - a delegation's parent must be in the log, and the delegation signed
//     by the parent's subject and no wider than the parent: CHAIN_BROKEN
//     ("parent credential ID is not in the log; submit it first"),
//     CHAIN_TOO_DEEP, WRONG_KEY, BAD_SIGNATURE, DELEGATION_WIDER;
//   - an assertion's credential must be in the log, and the assertion
//     signed by its subject: CHAIN_BROKEN ("credential ID is not in the
//     log; submit it first"), WRONG_KEY, BAD_SIGNATURE
//     (protocol.VerifyAssertionSignature); its sealed sections are checked
//     as by Check;
//   - a revocation's credential must be in the log, and the revocation
//     signed by a key that may revoke it (spec/SPEC.md §7.3): CHAIN_BROKEN,
//     REVOCATION_UNAUTHORIZED, WRONG_KEY, BAD_SIGNATURE
//     (protocol.Verifier.VerifyRevocation);
//   - an announcement or receipt must be signed by a trusted ISP key
//     (Config.ISPs): UNTRUSTED_ISP, WRONG_KEY, BAD_SIGNATURE.
//
// An envelope without exactly one signature is MALFORMED, in any log. The
// log judges no policy: not time (an expired credential, or an assertion
// under one, is logged), scope, revocation status (an assertion under a
// revoked credential is logged) or replay. Readers judge those (spec/SPEC.md
// §6); an auditor reports them. The credentials the log verified are kept
// by id in Dir/.credentials, a bbolt file written once the credential is
// published, so they are known after a restart; a credential appended
// while the log was open, or just before a crash, is known once it is
// submitted again (the log answers with its first index). A log with no
// registrar is open: it verifies no signature.
//
// The log keeps records. A submission's first record is its object: the
// envelope, or for an assertion the bundle that carries its envelope, byte
// for byte, and no section, {"envelope":ENVELOPE,"sealed":[]}. Each sealed
// section the bundle carries is a record of its own, in the order of the
// assertion's sections. Entries returns a submission's entries:
//
//   - an object of at most MaxEntrySize (65 535) bytes, the most a
//     tlog-tiles entry can hold, is one entry, its bytes as they are;
//   - a longer object, and every section, is stored in part entries of at
//     most PartSize (64 512) record bytes each behind a 54-byte header that
//     names the record's kind, SHA-256 digest and size and the part's
//     number (see Part). A section's digest is the one the assertion's
//     signed payload gives it.
//
// The spec's limits make parts necessary: a credential or assertion
// envelope may have 256 KiB (an assertion addressing 256 ISPs with long
// names has one of about 80 KiB), a sealed section 2 162 688 bytes (34
// parts), and a bundle 8 MiB, whose sections, under 6.3 MB of sealed bytes
// together, take at most about 100 parts plus one per section. Because an
// assertion's object leaves the sections out, every bundle of one
// assertion (the full one, or the one sent to an ISP with its own section)
// maps to the same object and to entries already in the log: an ISP can
// prove the assertion it holds is logged, and submitting a bundle again
// appends nothing.
//
// Leaf hashes are RFC 6962's, SHA-256(0x00 || entry), the same as
// golang.org/x/mod/sumdb/tlog's RecordHash; the tree is RFC 6962's. An
// entry that is already in the log is not appended again: the log answers
// with the index of the first, also after a restart.
//
// # Duplicates, restarts and crashes
//
// Every entry of the log is in a persistent index from its SHA-256 to its
// index, in Dir/.dedup: Tessera's POSIX antispam, a Badger database that a
// follower fills by reading the log. The most recent Config.DedupEntries
// entries are also held in memory, so the follower may lag without letting
// a duplicate through; if it lags further, submissions are refused with
// tessera.ErrPushback (HTTP 503) until it catches up. After a restart,
// submissions wait until the index holds every entry of the log.
//
// Tessera's POSIX driver writes each file with O_SYNC under a temporary
// name, renames it into place and syncs its directory, and the tree state
// before the checkpoint. A proof is returned only once a published
// checkpoint covers every entry of the submission, so a submission that was
// answered with a proof survives a crash of the process (TestCrash kills
// docket log serve under load and verifies the log from scratch after every
// restart). Tiles and entry bundles are served only within the published
// checkpoint's tree: the driver writes them before it publishes, and what
// lies beyond may be rewritten after a crash.
//
// # Performance
//
// On a 2-core machine with local disk (go run
// ./node/tlog/internal/tlogbench, which signs its credentials before the
// clock starts): about 6 000 entries/s appended and proven through Submit
// by 1 000 concurrent submitters when the machine is otherwise idle (p50
// 160 ms, p99 280 ms to the proof), half of that over HTTP with the clients
// in the same process; one submission at a time, p50 140 ms from POST /add
// to the proof, bounded below by the POSIX driver's 100 ms minimum
// checkpoint interval; a proof of an object already logged, under 1 ms.
// Throughput is the number of waiting submitters divided by that latency
// until the CPU is saturated. Verifying signatures (a log with
// Config.Registrars) costs one Ed25519 verification, a second decoding of
// the credential and, for a credential, a bbolt write shared by concurrent
// submissions: BenchmarkAppendVerified measured 2 800–5 300 credentials or
// assertions/s through Submit, 0.6–1.2 times an open log's rate in the same
// run, on a 2-core machine shared with other work. Inclusion proofs are built from the log's
// tiles, keeping every node of the tiles read: Tessera's
// client.ProofBuilder recomputes the inner nodes of a tile for each proof,
// which held throughput to about 3 400 entries/s.
//
// # Checkpoints
//
// The log publishes c2sp.org/tlog-checkpoint signed notes, signed with a
// golang.org/x/mod/sumdb/note key whose name is the log's origin. A log
// with the verifier key
//
//	docket.example/log+336a1b5b+AbTMQ6eX4PIiXX01+iyqvZqwjSCtV6zFo201XYDNjjrg
//
// published this checkpoint of a tree of three entries:
//
//	docket.example/log
//	3
//	G5FYsMjG4zK90Z4fpS0UdRm4VHBAl1UZTu/BV+DEBWE=
//
//	— docket.example/log M2obW69Fj7ax9F6XjuSC9eXvjbtw0JpXvrte3JO4imxErKdKLdoCX9tx0OY0jWJUhVQmb5Q+3uP/Ty4s+PbOLJq+WgE=
//
// # Submission and proof
//
// POST /add takes one object as its body; ?kind=credential, revocation,
// assertion, announcement or receipt names its kind, otherwise it is
// detected (a bundle has "envelope", an envelope has "payloadType"). The
// answer comes once a published checkpoint covers every entry of the
// submission; it is a Proof in JSON:
//
//	{"index":2,
//	 "checkpoint":"docket.example/log\n3\nG5FYsMjG4zK90Z4fpS0UdRm4VHBAl1UZTu/BV+DEBWE=\n\n— docket.example/log M2obW69F…WgE=\n",
//	 "inclusion":["mZ/F00JCzslda0DKhRvRge28zoFBhWH3bIVT0N8Oboo="]}
//
// This is the answer for the third credential submitted to the log above;
// its one proof hash is the hash of the subtree of entries 0 and 1.
//
// index is the position of the submission's first entry from 0;
// checkpoint is the signed note text; inclusion is the RFC 6962 inclusion
// proof of that entry in the checkpoint's tree, sibling hashes from the
// leaf up, each 32 bytes in standard base64. A submission of several
// entries adds "more", the index and inclusion proof of each further
// entry in the order of Entries:
//
//	"more":[{"index":3,"inclusion":["…","…"]}]
//
// To verify a proof of an object: compute its entries with Entries; open
// the checkpoint with the log's note verifier key and read its size N and
// root hash R; and check that each entry E's proof leads from
// SHA-256(0x00 || E) at its index to R in a tree of size N
// (x/mod/sumdb/tlog.CheckRecord, or transparency-dev/merkle/proof.VerifyInclusion).
// Proof.Verify does all of this.
//
// With ?format=tlog-proof the answer is instead the proof of the
// submission's first entry in the c2sp.org/tlog-proof text format: for an
// object that fits one entry, the object itself (for an assertion, its
// object, which binds the sections by their digests). An object stored in
// parts cannot be proven by one tlog-proof: the log answers HTTP 406 and
// appends nothing.
//
// A rejection is HTTP 400 with an ErrorResponse, {"code":"MALFORMED",
// "message":"…"}; the code is one of spec/SPEC.md §8, UNKNOWN_PAYLOAD_TYPE
// for an unknown kind, OVERSIZE for an object over its kind's limit or a
// body over MaxSubmissionSize, or a code of the signature checks above.
package tlog
