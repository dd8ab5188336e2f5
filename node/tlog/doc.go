// Package tlog is the log role of a Docket node: a public, append-only
// transparency log of Docket signed objects (DESIGN.md §6), stored by
// Tessera's POSIX driver and served in the c2sp.org/tlog-tiles layout.
//
// # Entries
//
// An entry is the exact bytes of one signed object as submitted: a
// credential envelope, a revocation envelope or an assertion bundle
// (spec/SPEC.md §3.1, §5.7), the bundle whole, its sealed sections as
// ciphertext. The log never sees a plaintext address. Before appending,
// the log decodes the object (Check): structure and signature-independent
// validity only, never trust or policy. A rejected object is not appended;
// the rejection carries the code of spec/SPEC.md §8. An entry is at most
// MaxEntrySize (65 535) bytes, the limit of a tlog-tiles entry bundle.
//
// Leaf hashes are RFC 6962's, SHA-256(0x00 || entry), the same as
// golang.org/x/mod/sumdb/tlog's RecordHash; the tree is RFC 6962's.
// Identical submissions are answered with the index of the first (see
// Config.DedupEntries).
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
// POST /add takes one object as its body; ?kind=credential, revocation or
// assertion names its kind, otherwise it is detected (a bundle has
// "envelope", an envelope has "payloadType"). The answer comes once a
// published checkpoint covers the entry; it is a Proof in JSON:
//
//	{"index":2,
//	 "checkpoint":"docket.example/log\n3\nG5FYsMjG4zK90Z4fpS0UdRm4VHBAl1UZTu/BV+DEBWE=\n\n— docket.example/log M2obW69F…WgE=\n",
//	 "inclusion":["mZ/F00JCzslda0DKhRvRge28zoFBhWH3bIVT0N8Oboo="]}
//
// This is the answer for the third credential submitted to the log above;
// its one proof hash is the hash of the subtree of entries 0 and 1.
//
// index is the entry's position from 0; checkpoint is the signed note text;
// inclusion is the RFC 6962 inclusion proof of the leaf at index in the
// checkpoint's tree, sibling hashes from the leaf up, each 32 bytes in
// standard base64. To verify a proof of an entry E: open the checkpoint
// with the log's note verifier key, read its size N and root hash R, and
// check that the proof leads from SHA-256(0x00 || E) at index to R in a
// tree of size N (x/mod/sumdb/tlog.CheckRecord, or
// transparency-dev/merkle/proof.VerifyInclusion).
//
// A rejection is HTTP 400 with an ErrorResponse, {"code":"MALFORMED",
// "message":"…"}; the code is one of spec/SPEC.md §8, UNKNOWN_PAYLOAD_TYPE
// for an unknown kind, OVERSIZE for a body over MaxEntrySize.
package tlog
