// Package daemon is the Docket node: one process that runs any set of
// roles (registrar, claimant, isp, log, witness, auditor) from one
// configuration file and talks to its peers over libp2p (package
// node/p2p). It wires the libraries together; the decisions are theirs:
// node/isp decides on assertions, node/tlog keeps the log, node/witness
// cosigns, node/audit audits, node/claimant builds assertions.
//
// # Configuration
//
// A node reads one TOML file (docket.toml), documented field by field by
// Config. Decoding is strict and validation happens once, at start, with
// errors that name the key: isp.prefixes[1]: "10.0.0.300/8" is not a prefix.
// "docket node init" writes a commented starter file (Starter) and the keys
// it names.
//
// # Gossip
//
// Every node joins three GossipSub topics, so that it relays them whatever
// its roles:
//
//   - /docket/announcement/1: ISP announcement envelopes (spec/SPEC.md §12).
//     An ISP signs one at start and again when half its validity has
//     passed, submits it to the log and gossips it. Nodes keep the newest
//     of each ISP and key, and answer the /docket/announcements/1
//     request/response protocol with them, so that a claimant that joins
//     later learns the directory from its first peer.
//   - /docket/assertion/1: AssertionMessage, an assertion bundle with its
//     credential chain and the log's inclusion proof. A claimant submits
//     each bundle to its log, waits for the proof, and gossips the message
//     (several, each with some of the sections, if the whole does not fit
//     the size limit).
//   - /docket/revocation/1: RevocationMessage, a revocation envelope with
//     the chain of the revoked credential if known.
//
// Validators check what every honest node agrees on, cheaply, before a
// message is forwarded: strict decoding and, for an assertion, that the
// chain's last credential is the assertion's and that the claimant's
// signature verifies. A failure rejects the message and costs its sender
// score. An assertion outside its validity, or an announcement by a key the
// node does not trust, is ignored: not forwarded and not blamed. An ISP
// that a message addresses still decides on an expired assertion it
// received, so that the refusal is receipted (EXPIRED). Duplicates are
// dropped by GossipSub (a message's id is the SHA-256 of its data) and a
// repeated assertion is answered by the pipeline with REPLAYED, without a
// receipt.
//
// # Logs
//
// Objects go to the trusted logs, in the order configured, to the first
// that takes them: over HTTP (POST /add), over the /docket/log-add/1
// protocol to a log node, or directly to the log the node runs. Every
// proof is verified (the log's signature, the inclusion of every entry, and
// the required witness cosignatures) before it is used. Every node follows
// each log it can read with a node/logclient Client whose state is kept in
// DATA_DIR/follow, so that a split view is detected across restarts.
//
// A node's log role verifies the signature of every object submitted to it
// with the node's trust.registrars and trust.isps (node/tlog), and takes
// an assertion only under a credential it holds: a claimant therefore
// logs its credential chain before it publishes any assertion. With no
// trusted registrar the log is open and verifies no signature.
//
// An ISP hands up to eight messages at once to its pipeline, which
// verifies them in parallel and decides one at a time; the workers mostly
// wait for the log to take their receipts, which it does in batches.
// The ISP's receipts wait in its store's outbox until a log takes them:
// the pipeline offers each once, and the node offers those left every
// isp.receipt_retry, and once more when it stops.
//
// # Operations
//
// The admin listener serves GET /metrics (Prometheus), /healthz and
// /status (Status, in JSON), and for a claimant GET /directory and POST
// /publish, which logs and gossips the assertion bundle in the body. A
// running node writes RunInfo to DATA_DIR/node.json. Close stops it
// gracefully: it stops taking work, offers the queued receipts to the
// log, and closes the backend, the store and the log.
package daemon
