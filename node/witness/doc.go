// Package witness is the witness role of a Docket node (DESIGN.md §1, §6):
// it cosigns a transparency log's checkpoints only if each is consistent
// with the last one it cosigned for that log, so that a log showing two
// histories to two parties cannot get both cosigned. It speaks
// c2sp.org/tlog-witness, the protocol Tessera-based logs (node/tlog with
// Config.Witnesses) use, and signs c2sp.org/tlog-cosignature
// cosignature/v1 cosignatures with an Ed25519 key.
//
// # Request
//
// A log submits a checkpoint with POST /add-checkpoint. The body is the
// line "old N", N being the size of the checkpoint the log believes the
// witness holds (0 if none); the RFC 6962 consistency proof from size N to
// the new checkpoint's size, one base64 hash a line (none if N is 0 or
// the sizes are equal); an empty line; and the checkpoint, signed by the
// log. Here the log docket.example/log (verifier key
// docket.example/log+b93071ef+AZDmxfUlt8pQ0jEsDz654d+UHbPB+cjCbYnuQFZA/fE3),
// whose entries are the bytes "entry 0" to "entry 4", asks a witness that
// holds its checkpoint of size 3 (root
// lPvQ3YNvUDAWkubQ6t5yjuGexSv/8WBu2AfIV11aqhk=) to cosign the one of
// size 5:
//
//	old 3
//	V8efTzGuApxdS9MLBzwnyU35NDiytGl+Hh7vW8A5SkE=
//	YcoROfaBWEHVuvLQ0tm9nf7pfImN1ve6DAqpQe5sAes=
//	WkdmL9ijF9lgSaP59HxV3GfKZgUbqjaD27GbL+CaB7A=
//	SFM123z+yWXxX/dF/GJcQdXqJkaTaTAWWCj3PdS2iFQ=
//
//	docket.example/log
//	5
//	fKo0Xb2JKmZFTWxlEuo8PqPw0+whvj/C4jdXBf049nI=
//
//	— docket.example/log uTBx7+k3TXQY80GVA7oubsI8Lk8KotmmAh4aHyY4plMK4Yz8qHqxRZL8C240VIm17QzM6EjkPX3H44IkIFfQfNn/ng0=
//
// The proof's hashes are those of entry 2, entry 3, the subtree of
// entries 0 and 1, and entry 4. The witness witness1.example (verifier key
// witness1.example+9c6258c2+BFhT+y21KfikhFtHoi8r0EWUrS8z899pZ0Nt4dZe2Mcl)
// answers with its cosignature:
//
//	— witness1.example nGJYwgAAAABrBZCSTVIhBmMV1HSYTIrF4kvArnsKvKw7lPDegoSaFJU0l52D3tz0d1Fr+l1tad+mR5FOKNp/vzlbtRxdfSn1uqVBAA==
//
// # Answers
//
//   - 200: the checkpoint is cosigned and recorded; the body is the
//     witness's cosignature line, as above, which the log appends to its
//     checkpoint.
//   - 409 with Content-Type text/x.tlog.size and the size the witness
//     holds as the body ("3\n"): N is not that size; the log retries from it.
//   - 409 without a size: N is the size held and the checkpoint's, but its
//     root differs from the one held. The log equivocates.
//   - 422: the consistency proof does not lead from the root held to the
//     checkpoint's root. The checkpoint forks the log, or the proof is wrong.
//   - 404: the witness does not follow the checkpoint's origin.
//   - 403: the checkpoint has no valid signature by the log's key.
//   - 400: the request is malformed, or N is larger than the checkpoint's size.
//
// Only a 200 changes what the witness holds. The checkpoint cosigned is
// written to a file of the state directory (temporary file, fsync,
// rename, fsync of the directory) before the answer, and checking and
// recording are one step per log, so concurrent requests cannot roll the
// state back; after a restart the witness holds what it held before.
package witness
