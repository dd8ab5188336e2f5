// Package logclient is the consumer side of a Docket transparency log
// (package node/tlog): it opens checkpoints, follows a log so that the log
// cannot show it one history and others another, and reads and proves
// entries, from the log's HTTP interface or from the directory the log is
// stored in.
//
// # Checkpoints and cosignatures
//
// A checkpoint is a c2sp.org/tlog-checkpoint signed note: the log's origin,
// its tree size, its RFC 6962 root hash, then the log's signature and any
// witnesses' c2sp.org/tlog-cosignature cosignatures (cosignature/v1: the
// witness signs "cosignature/v1\ntime T\n" followed by the checkpoint's
// body, T being the Unix time in seconds, which the signature carries).
// This checkpoint of a tree of three entries is signed by the log
// docket.example/log and cosigned by two witnesses:
//
//	docket.example/log
//	3
//	G5FYsMjG4zK90Z4fpS0UdRm4VHBAl1UZTu/BV+DEBWE=
//
//	— docket.example/log uTBx75GAmY1rA20Ibd4Pju/c01BbeYcVUtP6iYlLVWVXfwxGRkndWJhOIzUvB5AIiOZE1NtT1h3SnQTd89tHrbSxsAU=
//	— witness1.example nGJYwgAAAABrBZB0oczcnTPoIASNG/BnzBLh4TvOAmesfiv9VZJrxKF4BWA8eUajslBcJAf1vkJ7x5eKogqCv2k0vHpjLgVYcra0DQ==
//	— witness2.example LBk8tgAAAABrBZB0sb4Dtc5jSk9znHBd5sR9AH1a5jMRdRfdWesKN2aSHy+Qm7empRJ9BAahZpWxsuKuES+ikBci0bULCbEt36BFAA==
//
// A Verifier built from the log's verifier key
//
//	docket.example/log+b93071ef+AZDmxfUlt8pQ0jEsDz654d+UHbPB+cjCbYnuQFZA/fE3
//
// and the witnesses' cosignature/v1 verifier keys
//
//	witness1.example+9c6258c2+BFhT+y21KfikhFtHoi8r0EWUrS8z899pZ0Nt4dZe2Mcl
//	witness2.example+2c193cb6+BF8cWbebZ8HYRfTGk7N/YkWHeq9n795Lw7qroKtkFeis
//
// opens it with any requirement from zero to two cosignatures. Each
// signature line names its key and starts (after base64 decoding) with the
// key's 4-byte hash; a witness's then holds the 8-byte big-endian time and
// the Ed25519 signature.
//
// # Following a log
//
// A Client holds the last checkpoint it accepted, in a state file. Update
// reads the log's current checkpoint and accepts it only if it is
// consistent with the one held: the same root at the same size, or a
// larger tree whose consistency proof, built from the log's tiles
// (c2sp.org/tlog-tiles) and authenticated against the new root, leads to
// the old root. Two signed checkpoints that fail this are a split view: the
// log has shown two histories, and the *SplitViewError carrying both notes
// is the evidence.
//
// Entries are read from the entry bundles and checked against leaf hashes
// authenticated against the checkpoint's root; inclusion proofs are the
// node/tlog Proof objects a log returns for a submission, and
// Verifier.VerifyProof checks one offline.
package logclient
