// Package p2p is the libp2p layer of a Docket node: the host, the gossip
// of signed objects between rights holders, ISPs, logs and witnesses, and
// small request/response protocols.
//
// # Host
//
// A Node listens on TCP and QUIC v1, secures connections with Noise and
// multiplexes them with Yamux. Its identity is an Ed25519 key kept in a
// file (LoadIdentity), so its peer id survives restarts. It has no
// discovery of its own — no mDNS, DHT, relay, hole punching or NAT port
// mapping: its peers are the static peers of its configuration, which it
// keeps dialling, and those that dial it. Config.DialPrefixes can confine
// its dialling to given address ranges.
//
// # Gossip
//
// Each kind of object has its own GossipSub topic, named
// /docket/<kind>/<version>: TopicAssertion, TopicRevocation,
// TopicCheckpoint and TopicAnnouncement. A message's data is the object's
// bytes and nothing else; the object is signed itself, so gossip messages
// are unsigned and carry no author, sequence number or key (GossipSub's
// StrictNoSign), and a message's id is the SHA-256 of its data: the same
// object published twice, by anyone, is one message, forwarded once and
// delivered once. A message is at most Config.MaxMessageSize bytes.
//
// Every message a node receives goes through its topic's Validator before
// it is delivered or forwarded. A nil error accepts it. An error wrapping
// an *IgnoreError (Ignore) drops it without blame — an expired or already
// seen object, one signed by a key this node does not trust but others
// may. Any other error rejects it and counts against the peer that sent
// it: its score drops by InvalidMessagePenalty times the square of its
// invalid messages (decaying over an hour), so after two it is below
// GraylistThreshold and everything it sends is dropped unread. The scoring
// also rewards time in the mesh and first deliveries a little, and
// penalises more than five peers on one IP address (not on loopback);
// quiet mesh peers are not penalised, since Docket's topics carry few
// messages. Peer exchange is off.
//
// Two things keep a message from being lost while meshes form. Publish
// sends to every peer in the topic, mesh or not (flood publishing), and
// waits for a first peer if there is none. And when a node grafts a peer
// into a topic's mesh, or is grafted by one, it offers that peer (IHAVE)
// the ids of the topic's messages it accepted or published in the last
// three seconds; the peer asks for those it lacks. Without this, a
// message that reaches a node in the second before its first heartbeat is
// never sent on to a neighbour that joins its mesh at that heartbeat.
// Publish also holds back, up to a second, while a peer's send queue is
// half full, so a burst slows down instead of overflowing it.
//
// # Request/response
//
// A Protocol named N has the libp2p protocol id /docket/N/1. The
// requester opens a stream, writes one request frame and closes its side
// for writing; the responder writes one response and closes the stream.
// A frame is an unsigned varint (the multiformats unsigned-varint: at
// most 9 bytes, minimally encoded) giving the length, then that many
// bytes. A response is a status byte then frames: status 0 and one frame,
// the response; or status 1 and two frames, an error code (at most 64
// bytes) and a message (at most 1,024). Each side compares a length with
// its Protocol's limit before reading what follows. For example, on
// /docket/echo/1 the request "hello" is
//
//	05 68 65 6c 6c 6f
//
// its answer "echo:hello" is
//
//	00 0a 65 63 68 6f 3a 68 65 6c 6c 6f
//
// and a responder with a 16-byte limit refuses a request of 100,000 bytes
// with
//
//	01 08 "OVERSIZE" 2f "request of 100000 bytes exceeds the limit of 16"
//
// Error codes are those of spec/SPEC.md §8 that a handler returns (a
// *protocol.Error), or the transport's own: TIMEOUT, UNSUPPORTED_PROTOCOL,
// UNREACHABLE, FAILED. Both sides keep a deadline (Protocol.Timeout).
//
// # Metrics
//
// Node.Stats returns the counters a metrics exporter needs: per topic,
// messages published, received, duplicate, validated and the validator's
// verdicts, throttled, delivered, dropped and unsent; per protocol,
// requests sent and served and how many failed. Node.PeerScores gives the
// peers' scores.
package p2p
