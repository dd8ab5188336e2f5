package p2p

import (
	"maps"
	"sync"
	"sync/atomic"
)

// Stats is a snapshot of a node's counters, for metrics. Counters only
// grow while the node runs.
type Stats struct {
	// Topics has one entry per joined topic, by name.
	Topics map[string]TopicStats
	// Requests has one entry per request/response protocol used or
	// served, by protocol id (/docket/<name>/1).
	Requests map[string]RequestStats
}

// TopicStats counts the messages of one topic.
type TopicStats struct {
	// Published counts messages this node published.
	Published uint64
	// Received counts messages as peers sent them, before any check: a
	// graylisted peer's messages are counted here and dropped unread.
	Received uint64
	// Duplicates counts received messages dropped as already seen.
	Duplicates uint64
	// Validated counts messages from peers handed to the validator.
	Validated uint64
	// Accepted, Rejected and Ignored split Validated by the validator's
	// verdict.
	Accepted, Rejected, Ignored uint64
	// Throttled counts messages from peers dropped unvalidated because
	// the validation queue was full.
	Throttled uint64
	// Delivered counts messages handed to Topic.Deliver.
	Delivered uint64
	// Dropped counts accepted messages not delivered because Deliver lagged.
	Dropped uint64
	// Unsent counts messages not sent to a peer, published or forwarded,
	// because too many were waiting to be sent to it already.
	Unsent uint64
}

// RequestStats counts the requests of one request/response protocol.
type RequestStats struct {
	// Sent counts requests this node sent; SendFailed those that ended in
	// an error, the peer's or a local one.
	Sent, SendFailed uint64
	// Served counts requests this node's handler received; ServeFailed
	// those answered with an error, or not answered.
	Served, ServeFailed uint64
}

type topicCounters struct {
	published, received, duplicates        atomic.Uint64
	validated, accepted, rejected, ignored atomic.Uint64
	throttled, delivered, dropped, unsent  atomic.Uint64
}

func (c *topicCounters) snapshot() TopicStats {
	return TopicStats{
		Published:  c.published.Load(),
		Received:   c.received.Load(),
		Duplicates: c.duplicates.Load(),
		Validated:  c.validated.Load(),
		Accepted:   c.accepted.Load(),
		Rejected:   c.rejected.Load(),
		Ignored:    c.ignored.Load(),
		Throttled:  c.throttled.Load(),
		Delivered:  c.delivered.Load(),
		Dropped:    c.dropped.Load(),
		Unsent:     c.unsent.Load(),
	}
}

type requestCounters struct {
	sent, sendFailed, served, serveFailed atomic.Uint64
}

// counters are a node's counters. The topic map is fixed at start; the
// request map grows under mu.
type counters struct {
	topics map[string]*topicCounters

	mu       sync.Mutex
	requests map[string]*requestCounters
}

func newCounters(topics []Topic) *counters {
	c := &counters{
		topics:   make(map[string]*topicCounters, len(topics)),
		requests: make(map[string]*requestCounters),
	}
	for _, t := range topics {
		c.topics[t.Name] = new(topicCounters)
	}
	return c
}

// topic returns the counters of a joined topic, or nil.
func (c *counters) topic(name string) *topicCounters {
	return c.topics[name]
}

func (c *counters) request(id string) *requestCounters {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.requests[id]
	if !ok {
		r = new(requestCounters)
		c.requests[id] = r
	}
	return r
}

func (c *counters) snapshot() Stats {
	s := Stats{
		Topics:   make(map[string]TopicStats, len(c.topics)),
		Requests: make(map[string]RequestStats),
	}
	for name, t := range c.topics {
		s.Topics[name] = t.snapshot()
	}
	c.mu.Lock()
	requests := maps.Clone(c.requests)
	c.mu.Unlock()
	for id, r := range requests {
		s.Requests[id] = RequestStats{
			Sent:        r.sent.Load(),
			SendFailed:  r.sendFailed.Load(),
			Served:      r.served.Load(),
			ServeFailed: r.serveFailed.Load(),
		}
	}
	return s
}
