package p2p

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// Peer score thresholds (see the GossipSub v1.1 specification). A peer
// whose score falls below GossipThreshold gets no gossip from this node,
// below PublishThreshold none of its publications, and below
// GraylistThreshold everything it sends is ignored.
const (
	GossipThreshold   = -500
	PublishThreshold  = -1000
	GraylistThreshold = -2500
)

// InvalidMessagePenalty is the weight of the invalid-message counter in a
// peer's score: the counter is squared, so one rejected message costs
// 1,000 and two put the peer below GraylistThreshold. The counter decays
// to nothing over an hour.
const InvalidMessagePenalty = -1000

const (
	// deliverBuffer is how many accepted messages wait for Topic.Deliver
	// before more are dropped for it.
	deliverBuffer = 1024
	// validateQueue is how many received messages wait for validation
	// before more are dropped unvalidated; with MaxMessageSize it bounds
	// the memory a burst can take.
	validateQueue = 256
	// outboundQueue is how many messages wait to be sent to one peer
	// before more are dropped for it.
	outboundQueue = 1024
	// publishHighWater is the queue length at which Publish waits: while
	// a peer of the topic has this many messages waiting, Publish holds
	// back rather than let its queue overflow, unless the peer's queue
	// has not moved for stallAfter, and for publishMaxWait at most.
	publishHighWater = outboundQueue / 2
	stallAfter       = time.Second
	publishMaxWait   = time.Second
	// validateTimeout bounds one call of a Validator.
	validateTimeout = 30 * time.Second
	// rpcOverhead is what framing adds to a message's data in the RPC
	// that carries it.
	rpcOverhead = 4 << 10
	// scoreInspectPeriod is how often PeerScores is refreshed.
	scoreInspectPeriod = time.Second
	// recentWindow is how long a message is offered to peers that join
	// this node's mesh (see tracer.Graft): as long as GossipSub itself
	// gossips a message (3 heartbeats of 1 s), well within the 5
	// heartbeats it keeps the message to answer requests for it.
	recentWindow = 3 * time.Second
	// peerPoll is how often Publish checks whether a peer has joined.
	peerPoll = 20 * time.Millisecond
	// recentMax bounds the messages offered to a new mesh peer: as many
	// as a peer asks for after one IHAVE (GossipSub's MaxIHaveLength).
	recentMax = 5000
)

// ErrNoPeers is returned by Publish when no peer joined the topic before
// the context ended.
var ErrNoPeers = errors.New("no peer joined the topic")

// topicState is one joined topic.
type topicState struct {
	cfg   Topic
	topic *pubsub.Topic
	sub   *pubsub.Subscription
	stats *topicCounters
}

// messageID is a message's id: the SHA-256 of its data, so the same
// object published twice, by anyone, is one message.
func messageID(m *pb.Message) string {
	h := sha256.Sum256(m.Data)
	return string(h[:])
}

// scoreParams is the peer scoring of Docket's topics. Docket's topics carry
// few messages, so a peer that is quiet in the mesh is no sign of trouble
// (P3 and P3b are off); what counts is invalid messages (P4, see
// InvalidMessagePenalty), with a small reward for time in the mesh (P1)
// and first deliveries (P2). Many peers on one IP address are penalised
// (P6), except on loopback.
func scoreParams(topics []Topic) *pubsub.PeerScoreParams {
	p := &pubsub.PeerScoreParams{
		Topics:                      make(map[string]*pubsub.TopicScoreParams, len(topics)),
		TopicScoreCap:               10,
		AppSpecificScore:            func(peer.ID) float64 { return 0 },
		AppSpecificWeight:           1,
		IPColocationFactorWeight:    -100,
		IPColocationFactorThreshold: 5,
		IPColocationFactorWhitelist: []*net.IPNet{
			{IP: net.IPv4(127, 0, 0, 0).To4(), Mask: net.CIDRMask(8, 32)},
			{IP: net.IPv6loopback, Mask: net.CIDRMask(128, 128)},
		},
		BehaviourPenaltyWeight:    -10,
		BehaviourPenaltyThreshold: 6,
		BehaviourPenaltyDecay:     pubsub.ScoreParameterDecay(time.Hour),
		DecayInterval:             pubsub.DefaultDecayInterval,
		DecayToZero:               pubsub.DefaultDecayToZero,
		RetainScore:               time.Hour,
	}
	for _, t := range topics {
		p.Topics[t.Name] = &pubsub.TopicScoreParams{
			TopicWeight:                    1,
			TimeInMeshWeight:               1.0 / 3600,
			TimeInMeshQuantum:              time.Second,
			TimeInMeshCap:                  3600,
			FirstMessageDeliveriesWeight:   0.5,
			FirstMessageDeliveriesDecay:    pubsub.ScoreParameterDecay(time.Hour),
			FirstMessageDeliveriesCap:      10,
			InvalidMessageDeliveriesWeight: InvalidMessagePenalty,
			InvalidMessageDeliveriesDecay:  pubsub.ScoreParameterDecay(time.Hour),
		}
	}
	return p
}

func scoreThresholds() *pubsub.PeerScoreThresholds {
	return &pubsub.PeerScoreThresholds{
		GossipThreshold:             GossipThreshold,
		PublishThreshold:            PublishThreshold,
		GraylistThreshold:           GraylistThreshold,
		AcceptPXThreshold:           1000, // peer exchange is off anyway
		OpportunisticGraftThreshold: 3,
	}
}

// startGossip starts GossipSub and joins the configured topics.
func (n *Node) startGossip() error {
	rt := pubsub.DefaultGossipSubRouter(n.host)
	n.tracer = &tracer{
		n:       n,
		rt:      rt,
		recent:  make(map[string][]recentMessage),
		pending: make(map[*byte]recentMessage),
	}
	ps, err := pubsub.NewGossipSubWithRouter(n.ctx, n.host, rt,
		rt.WithDefaultTagTracer(),
		pubsub.WithRawTracer(n.tracer),
		// Docket's objects are signed themselves; who published a gossip
		// message is irrelevant, and unsigned messages with content ids
		// make identical objects one message.
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(messageID),
		// Send what this node publishes to every peer in the topic, not
		// only to its mesh, which may not have formed yet.
		pubsub.WithFloodPublish(true),
		pubsub.WithPeerExchange(false),
		pubsub.WithMaxMessageSize(n.cfg.maxMessage+rpcOverhead),
		pubsub.WithPeerScore(scoreParams(n.cfg.topics), scoreThresholds()),
		pubsub.WithPeerScoreInspect(pubsub.PeerScoreInspectFn(n.scores.set), scoreInspectPeriod),
		pubsub.WithValidateQueueSize(validateQueue),
		pubsub.WithPeerOutboundQueueSize(outboundQueue),
		pubsub.WithLogger(slog.New(quietHandler{n.logger.Handler()}).With("system", "pubsub")),
	)
	if err != nil {
		return fmt.Errorf("failed to start gossip: %w", err)
	}
	n.ps = ps
	for _, t := range n.cfg.topics {
		ts := &topicState{cfg: t, stats: n.stats.topic(t.Name)}
		err := ps.RegisterTopicValidator(t.Name, n.validator(ts), pubsub.WithValidatorTimeout(validateTimeout))
		if err != nil {
			return fmt.Errorf("failed to register validator of %s: %w", t.Name, err)
		}
		ts.topic, err = ps.Join(t.Name)
		if err != nil {
			return fmt.Errorf("failed to join %s: %w", t.Name, err)
		}
		ts.sub, err = ts.topic.Subscribe(pubsub.WithBufferSize(deliverBuffer))
		if err != nil {
			return fmt.Errorf("failed to subscribe to %s: %w", t.Name, err)
		}
		n.topics[t.Name] = ts
		n.wg.Add(1)
		go n.deliver(ts)
	}
	return nil
}

// validator adapts a topic's Validator to pubsub.
func (n *Node) validator(ts *topicState) pubsub.ValidatorEx {
	self := n.host.ID()
	return func(ctx context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
		if from == self {
			// Publish has run the validator already.
			return pubsub.ValidationAccept
		}
		ts.stats.validated.Add(1)
		var err error
		if len(m.Data) > n.cfg.maxMessage {
			err = fmt.Errorf("message of %d bytes exceeds the limit of %d", len(m.Data), n.cfg.maxMessage)
		} else {
			err = ts.cfg.Validate(ctx, from, m.Data)
		}
		switch {
		case err == nil:
			ts.stats.accepted.Add(1)
			return pubsub.ValidationAccept
		case IsIgnore(err):
			ts.stats.ignored.Add(1)
			n.logger.Debug("gossip message ignored", "topic", ts.cfg.Name, "from", from, "err", err)
			return pubsub.ValidationIgnore
		default:
			ts.stats.rejected.Add(1)
			n.logger.Debug("gossip message rejected", "topic", ts.cfg.Name, "from", from, "err", err)
			return pubsub.ValidationReject
		}
	}
}

// deliver hands a topic's accepted messages to its Deliver until the node
// closes.
func (n *Node) deliver(ts *topicState) {
	defer n.wg.Done()
	self := n.host.ID()
	for {
		m, err := ts.sub.Next(n.ctx)
		if err != nil {
			return
		}
		if m.ReceivedFrom == self || ts.cfg.Deliver == nil {
			continue
		}
		ts.stats.delivered.Add(1)
		ts.cfg.Deliver(Message{
			Topic: ts.cfg.Name,
			From:  m.ReceivedFrom,
			ID:    sha256.Sum256(m.Data),
			Data:  m.Data,
		})
	}
}

// Publish validates data with the topic's Validator and sends it to every
// peer in the topic, mesh or not. If the node knows no peer in the topic
// yet, Publish waits for one, bounded by ctx (ErrNoPeers if none comes),
// so a message published at start is not lost. While a peer of the topic
// has hundreds of messages waiting to be sent to it, Publish waits too,
// up to a second, so that a burst slows down to the pace of the slowest
// peer that is still reading instead of overflowing its queue (a peer
// whose queue overflows misses messages, counted in TopicStats.Unsent). A validation failure is
// returned as the Validator gave it. Data identical to a message seen in
// the last two minutes is not sent again, and Publish returns nil.
func (n *Node) Publish(ctx context.Context, topic string, data []byte) error {
	ts, ok := n.topics[topic]
	if !ok {
		return fmt.Errorf("failed to publish: topic %q is not joined", topic)
	}
	if len(data) > n.cfg.maxMessage {
		return &Error{Code: CodeOversize, Msg: fmt.Sprintf("message of %d bytes exceeds the limit of %d", len(data), n.cfg.maxMessage)}
	}
	if err := ts.cfg.Validate(ctx, n.host.ID(), data); err != nil {
		return fmt.Errorf("failed to publish on %s: %w", topic, err)
	}
	if err := waitPeer(ctx, ts.topic); err != nil {
		return fmt.Errorf("failed to publish on %s: %w", topic, err)
	}
	if err := n.queues.wait(ctx, ts.topic); err != nil {
		return fmt.Errorf("failed to publish on %s: %w", topic, err)
	}
	// pubsub keeps the slice it is given, in queues and caches; a caller
	// reusing its buffer would change messages already sent.
	data = bytes.Clone(data)
	n.tracer.published(topic, data)
	if err := ts.topic.Publish(ctx, data); err != nil {
		n.tracer.unpublished(data)
		return fmt.Errorf("failed to publish on %s: %w", topic, err)
	}
	ts.stats.published.Add(1)
	return nil
}

// queueLengths tracks how many RPCs wait in each peer's outbound queue,
// from pubsub's SendRPC and SendRPCCompleted traces, and when each queue
// last moved. The count is approximate: a completion may be traced
// before its queueing, and the first RPC of a stream is written without
// being queued.
type queueLengths struct {
	mu     sync.Mutex
	length map[peer.ID]int
	moved  map[peer.ID]time.Time // last completed write
}

func newQueueLengths() *queueLengths {
	return &queueLengths{length: make(map[peer.ID]int), moved: make(map[peer.ID]time.Time)}
}

func (q *queueLengths) add(p peer.ID, d int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.length[p] += d
	if d < 0 {
		q.moved[p] = time.Now()
	}
}

func (q *queueLengths) forget(p peer.ID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.length, p)
	delete(q.moved, p)
}

// congested reports whether one of peers has publishHighWater RPCs or
// more waiting and is still taking them: a queue that has not moved for
// stallAfter belongs to a peer that waiting would not help.
func (q *queueLengths) congested(peers []peer.ID, now time.Time) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, p := range peers {
		if q.length[p] >= publishHighWater && now.Sub(q.moved[p]) < stallAfter {
			return true
		}
	}
	return false
}

// wait waits, at most publishMaxWait, until no peer of topic is
// congested.
func (q *queueLengths) wait(ctx context.Context, topic *pubsub.Topic) error {
	deadline := time.Now().Add(publishMaxWait)
	for now := time.Now(); now.Before(deadline) && q.congested(topic.ListPeers(), now); now = time.Now() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("peers' send queues stayed full: %w", ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

// waitPeer waits until a peer has joined topic.
func waitPeer(ctx context.Context, topic *pubsub.Topic) error {
	if len(topic.ListPeers()) > 0 {
		return nil
	}
	t := time.NewTicker(peerPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrNoPeers, ctx.Err())
		case <-t.C:
			if len(topic.ListPeers()) > 0 {
				return nil
			}
		}
	}
}

// quietHandler drops pubsub's warning that it could not bump a peer's
// delivery tag in the connection manager: a best-effort hint whose queue
// fills whenever messages arrive faster than the manager takes them, which
// would otherwise log once per message.
type quietHandler struct {
	slog.Handler
}

func (h quietHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "error bumping delivery tag" {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h quietHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return quietHandler{h.Handler.WithAttrs(attrs)}
}

func (h quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{h.Handler.WithGroup(name)}
}

// PeerScores returns the gossip score of each peer this node keeps a
// score for (connected ones, and for an hour those that left), refreshed
// every second.
func (n *Node) PeerScores() map[peer.ID]float64 {
	return n.scores.get()
}

// scoreBoard holds the latest peer scores.
type scoreBoard struct {
	mu     sync.Mutex
	scores map[peer.ID]float64
}

func (s *scoreBoard) set(m map[peer.ID]float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scores = m
}

func (s *scoreBoard) get() map[peer.ID]float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.scores)
}

var _ pubsub.RawTracer = (*tracer)(nil)

// tracer counts what pubsub reports and offers recent messages to peers
// that join the mesh.
//
// GossipSub forwards a message only to the peers in its mesh at that
// moment, and gossips it only to peers outside the mesh. A message that
// reaches a node before the node has grafted a neighbour into its mesh —
// in the first second after the connection, before the heartbeat — is
// then never sent to that neighbour: when the neighbour is grafted it is
// a mesh peer and gets no gossip. FACTS.md's "message published before
// the mesh forms is lost" holds at every hop, not only the publisher's,
// and flood publishing cures only the first hop. So whenever a peer is
// grafted into a topic's mesh, in either direction, this node sends it an
// IHAVE with the ids of the topic's messages of the last recentWindow;
// the peer asks (IWANT) for those it has not seen and GossipSub answers
// from its message cache, with the usual limits and scoring.
//
// The messages offered are those this node accepted from peers and those
// it published itself. pubsub calls Graft, DeliverMessage, SendRPC and
// DropRPC from its event loop, where the router may be used; the other
// methods may be called from any goroutine.
type tracer struct {
	n  *Node
	rt *pubsub.GossipSubRouter

	mu      sync.Mutex
	recent  map[string][]recentMessage // by topic, oldest first
	pending map[*byte]recentMessage    // own messages not yet sent, by data
}

type recentMessage struct {
	topic string // only in pending
	id    string
	at    time.Time
}

func (t *tracer) stats(topic string) *topicCounters {
	return t.n.stats.topic(topic)
}

// DeliverMessage records a message received from a peer and accepted;
// pubsub does not call it for this node's own messages (see published).
func (t *tracer) DeliverMessage(m *pubsub.Message) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.remember(m.GetTopic(), m.ID, time.Now())
}

// remember records a message to offer; t.mu is held.
func (t *tracer) remember(topic, id string, now time.Time) {
	r := append(t.prune(topic, now), recentMessage{id: id, at: now})
	if len(r) > recentMax {
		r = r[len(r)-recentMax:]
	}
	t.recent[topic] = r
}

// published notes a message this node is about to publish, identified by
// its data's backing array, which Publish owns. It is remembered for
// offering once pubsub sends it the first time (sent): by then it is in
// GossipSub's message cache, so a peer that asks for it gets it.
func (t *tracer) published(topic string, data []byte) {
	if len(data) == 0 {
		return // no backing array of its own to recognise it by
	}
	h := sha256.Sum256(data)
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, m := range t.pending {
		if now.Sub(m.at) > recentWindow {
			delete(t.pending, k) // never sent: no peer was left to send it to
		}
	}
	t.pending[&data[0]] = recentMessage{topic: topic, id: string(h[:]), at: now}
}

// unpublished forgets a message whose publication failed.
func (t *tracer) unpublished(data []byte) {
	if len(data) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.pending, &data[0])
}

// sent remembers this node's own messages in rpc the first time one is
// queued for a peer (or dropped for one: either way, after the router
// cached it).
func (t *tracer) sent(rpc *pubsub.RPC) {
	msgs := rpc.GetPublish()
	if len(msgs) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.pending) == 0 {
		return
	}
	now := time.Now()
	for _, m := range msgs {
		if len(m.GetData()) == 0 {
			continue
		}
		key := &m.GetData()[0]
		if own, ok := t.pending[key]; ok {
			delete(t.pending, key)
			t.remember(own.topic, own.id, now)
		}
	}
}

// prune drops a topic's messages older than recentWindow; t.mu is held.
func (t *tracer) prune(topic string, now time.Time) []recentMessage {
	r := t.recent[topic]
	i := 0
	for i < len(r) && now.Sub(r[i].at) > recentWindow {
		i++
	}
	return r[i:]
}

func (t *tracer) Graft(p peer.ID, topic string) {
	t.mu.Lock()
	r := t.prune(topic, time.Now())
	t.recent[topic] = r
	ids := make([]string, len(r))
	for i, m := range r {
		ids[i] = m.id
	}
	t.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	t.rt.SendControl(p, &pb.ControlMessage{
		Ihave: []*pb.ControlIHave{{TopicID: &topic, MessageIDs: ids}},
	})
}

func (t *tracer) RejectMessage(m *pubsub.Message, reason string) {
	switch reason {
	case pubsub.RejectValidationQueueFull, pubsub.RejectValidationThrottled:
		if c := t.stats(m.GetTopic()); c != nil {
			c.throttled.Add(1)
		}
	}
}

func (t *tracer) RecvRPC(rpc *pubsub.RPC) {
	for _, m := range rpc.GetPublish() {
		if c := t.stats(m.GetTopic()); c != nil {
			c.received.Add(1)
		}
	}
}

func (t *tracer) DuplicateMessage(m *pubsub.Message) {
	if m.ReceivedFrom == t.n.host.ID() {
		return
	}
	if c := t.stats(m.GetTopic()); c != nil {
		c.duplicates.Add(1)
	}
}

func (t *tracer) DropRPC(rpc *pubsub.RPC, _ peer.ID) {
	t.sent(rpc)
	for _, m := range rpc.GetPublish() {
		if c := t.stats(m.GetTopic()); c != nil {
			c.unsent.Add(1)
		}
	}
}

func (t *tracer) SendRPC(rpc *pubsub.RPC, p peer.ID) {
	t.sent(rpc)
	t.n.queues.add(p, 1)
}

func (t *tracer) SendRPCCompleted(_ *pubsub.RPC, p peer.ID, _ time.Duration) {
	t.n.queues.add(p, -1)
}

func (t *tracer) OnClosedOutboundStream(p peer.ID) {
	t.n.queues.forget(p)
}

func (t *tracer) UndeliverableMessage(m *pubsub.Message) {
	if m.ReceivedFrom == t.n.host.ID() {
		return // this node's own message, which is never delivered anyway
	}
	if c := t.stats(m.GetTopic()); c != nil {
		c.dropped.Add(1)
	}
}

func (t *tracer) OnNewOutboundStream(peer.ID, protocol.ID) {}
func (t *tracer) Join(string)                              {}
func (t *tracer) Leave(string)                             {}
func (t *tracer) Prune(peer.ID, string)                    {}
func (t *tracer) ValidateMessage(*pubsub.Message)          {}
func (t *tracer) ThrottlePeer(peer.ID)                     {}
