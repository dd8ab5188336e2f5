package p2p

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// line starts n nodes on transport, each joined to TopicAssertion with
// rejectJunk, and connects them in a line: 0-1-2-…-(n-1).
func line(t *testing.T, transport string, n int) ([]*Node, []*inbox) {
	t.Helper()
	nodes := make([]*Node, n)
	boxes := make([]*inbox, n)
	for i := range nodes {
		boxes[i] = newInbox()
		nodes[i] = startNode(t, Config{
			ListenAddrs: listenOn(t, transport),
			Topics:      []Topic{{Name: TopicAssertion, Validate: rejectJunk, Deliver: boxes[i].deliver}},
		})
	}
	for i := 1; i < n; i++ {
		connect(t, nodes[i-1], nodes[i])
	}
	return nodes, boxes
}

// TestGossipReachesEveryHost: in a line of six hosts, where most are not
// directly connected, a message published by any host reaches every
// other, over TCP and over QUIC.
func TestGossipReachesEveryHost(t *testing.T) {
	for _, transport := range []string{"tcp", "quic"} {
		t.Run(transport, func(t *testing.T) {
			nodes, boxes := line(t, transport, 6)
			for _, c := range nodes[0].Host().Network().Conns() {
				if got := c.RemoteMultiaddr().String(); !strings.Contains(got, "/"+map[string]string{"tcp": "tcp", "quic": "quic-v1"}[transport]) {
					t.Fatalf("connection over %s, want %s", got, transport)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			publishers := []int{0, 5, 2}
			for _, p := range publishers {
				msg := fmt.Sprintf("assertion from host %d", p)
				if err := nodes[p].Publish(ctx, TopicAssertion, []byte(msg)); err != nil {
					t.Fatal(err)
				}
				for i, b := range boxes {
					if i == p {
						continue
					}
					if _, err := b.wait(ctx, msg); err != nil {
						for j, b := range boxes {
							t.Logf("host %d: %d msgs, peers %d, stats %+v", j, b.count(func(string) bool { return true }), len(nodes[j].Peers()), nodes[j].Stats().Topics[TopicAssertion])
						}
						t.Fatalf("host %d did not receive %q: %v", i, msg, err)
					}
				}
			}
			for i, n := range nodes {
				st := n.Stats().Topics[TopicAssertion]
				own := uint64(0)
				for _, p := range publishers {
					if p == i {
						own++
					}
				}
				if st.Delivered != uint64(len(publishers))-own || st.Published != own || st.Rejected != 0 {
					t.Errorf("host %d: stats %+v, want %d delivered, %d published, none rejected", i, st, uint64(len(publishers))-own, own)
				}
			}
		})
	}
}

// TestGossipEarlyPublish: a message published at once, before any mesh
// has formed, still reaches every host of a line; and a Publish started
// before the node has any peer waits for one instead of dropping the
// message.
func TestGossipEarlyPublish(t *testing.T) {
	t.Run("line", func(t *testing.T) {
		nodes, boxes := line(t, "tcp", 5)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		start := time.Now()
		if err := nodes[0].Publish(ctx, TopicAssertion, []byte("early")); err != nil {
			t.Fatal(err)
		}
		t.Logf("Publish returned after %v", time.Since(start))
		for i, b := range boxes[1:] {
			at, err := b.wait(ctx, "early")
			if err != nil {
				t.Fatalf("host %d did not receive the early message: %v", i+1, err)
			}
			t.Logf("host %d received it after %v", i+1, at.Sub(start))
		}
	})
	t.Run("before-connect", func(t *testing.T) {
		nodes := make([]*Node, 2)
		box := newInbox()
		for i := range nodes {
			nodes[i] = startNode(t, Config{
				ListenAddrs: listenOn(t, "tcp"),
				Topics:      []Topic{{Name: TopicAssertion, Validate: rejectJunk, Deliver: box.deliver}},
			})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- nodes[0].Publish(ctx, TopicAssertion, []byte("lonely")) }()
		time.Sleep(300 * time.Millisecond)
		select {
		case err := <-done:
			t.Fatalf("Publish returned %v before any peer joined", err)
		default:
		}
		connect(t, nodes[0], nodes[1])
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if _, err := box.wait(ctx, "lonely"); err != nil {
			t.Fatalf("the message published before connecting was lost: %v", err)
		}
	})
	t.Run("no-peer", func(t *testing.T) {
		n := startNode(t, Config{
			ListenAddrs: listenOn(t, "tcp"),
			Topics:      []Topic{{Name: TopicAssertion, Validate: rejectJunk}},
		})
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		err := n.Publish(ctx, TopicAssertion, []byte("nobody"))
		if !errors.Is(err, ErrNoPeers) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Publish with no peer: %v, want ErrNoPeers and DeadlineExceeded", err)
		}
	})
}

// TestGossipNewMeshPeerCatchesUp: a message that reaches a node just
// before it grafts a new neighbour into its mesh still reaches that
// neighbour. A and B are meshed; C connects to B just before A publishes,
// so B forwards the message before its heartbeat grafts C, and only the
// offer of recent messages on graft brings it to C.
func TestGossipNewMeshPeerCatchesUp(t *testing.T) {
	nodes := make([]*Node, 3)
	boxes := make([]*inbox, 3)
	for i := range nodes {
		boxes[i] = newInbox()
		nodes[i] = startNode(t, Config{
			ListenAddrs: listenOn(t, "tcp"),
			Topics:      []Topic{{Name: TopicAssertion, Validate: rejectJunk, Deliver: boxes[i].deliver}},
		})
	}
	a, b, c := nodes[0], nodes[1], nodes[2]
	connect(t, a, b)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// The first message waits for A's mesh, so B's mesh has A too.
	if err := a.Publish(ctx, TopicAssertion, []byte("warm-up")); err != nil {
		t.Fatal(err)
	}
	if _, err := boxes[1].wait(ctx, "warm-up"); err != nil {
		t.Fatal(err)
	}
	connect(t, c, b)
	start := time.Now()
	if err := a.Publish(ctx, TopicAssertion, []byte("while C joins")); err != nil {
		t.Fatal(err)
	}
	at, err := boxes[2].wait(ctx, "while C joins")
	if err != nil {
		t.Fatalf("C never received the message B had before grafting C: %v", err)
	}
	t.Logf("C received it %v after publication", at.Sub(start))
}

// TestGossipVerdicts: a Validator's verdict decides a message's fate and
// the sender's score: an ignored message is dropped without blame, a
// rejected one costs the sender its score; identical data is one message;
// Publish refuses what the node's own Validator refuses and what is too
// large.
func TestGossipVerdicts(t *testing.T) {
	box := newInbox()
	// a forwards anything (its validator accepts all); b is honest.
	a := startNode(t, Config{
		ListenAddrs: listenOn(t, "tcp"),
		Topics:      []Topic{{Name: TopicRevocation, Validate: acceptAll}},
	})
	b := startNode(t, Config{
		ListenAddrs:    listenOn(t, "tcp"),
		MaxMessageSize: 1000,
		Topics:         []Topic{{Name: TopicRevocation, Validate: rejectJunk, Deliver: box.deliver}},
	})
	connect(t, a, b)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	stats := func() TopicStats { return b.Stats().Topics[TopicRevocation] }

	for range 2 {
		if err := a.Publish(ctx, TopicRevocation, []byte("good")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := box.wait(ctx, "good"); err != nil {
		t.Fatal(err)
	}
	if err := a.Publish(ctx, TopicRevocation, []byte("stale revocation")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "b to ignore the stale message", func() bool { return stats().Ignored == 1 })
	time.Sleep(1500 * time.Millisecond) // let b's scores refresh
	if s, ok := b.PeerScores()[a.ID()]; !ok || s < 0 {
		t.Fatalf("after an ignored message b scores a %v (known %v), want ≥ 0", s, ok)
	}

	if err := a.Publish(ctx, TopicRevocation, []byte("junk revocation")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "b to reject the junk message", func() bool { return stats().Rejected == 1 })
	waitFor(t, 5*time.Second, "b's score of a to fall", func() bool {
		return b.PeerScores()[a.ID()] <= InvalidMessagePenalty+10
	})
	// A message over b's size limit is rejected by b whatever a's limit.
	if err := a.Publish(ctx, TopicRevocation, make([]byte, 1001)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "b to reject the large message", func() bool { return stats().Rejected == 2 })

	st := stats()
	if st.Validated != 4 || st.Accepted != 1 || st.Delivered != 1 || box.count(func(string) bool { return true }) != 1 {
		t.Errorf("b's stats %+v, want 4 validated, 1 accepted and delivered once", st)
	}

	err := b.Publish(ctx, TopicRevocation, []byte("junk of my own"))
	if err == nil || IsIgnore(err) || !strings.Contains(err.Error(), "junk") {
		t.Errorf("Publish of junk: %v, want the validator's rejection", err)
	}
	err = b.Publish(ctx, TopicRevocation, []byte("stale of my own"))
	if !IsIgnore(err) {
		t.Errorf("Publish of a stale message: %v, want an *IgnoreError", err)
	}
	err = b.Publish(ctx, TopicRevocation, make([]byte, 1001))
	if CodeOf(err) != CodeOversize {
		t.Errorf("Publish of 1001 bytes with a limit of 1000: %v, want OVERSIZE", err)
	}
	if err := b.Publish(ctx, TopicCheckpoint, []byte("x")); err == nil {
		t.Error("Publish on a topic not joined succeeded")
	}
	if got := stats().Published; got != 0 {
		t.Errorf("b published %d messages, want 0", got)
	}
}

// TestConfigRefused: a bad configuration is refused at start with the
// field named.
func TestConfigRefused(t *testing.T) {
	ok := Topic{Name: TopicAssertion, Validate: acceptAll}
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{ListenAddrs: []string{"/ip4/127.0.0.1/udp/0"}}, "ListenAddrs"},
		{Config{ListenAddrs: []string{"127.0.0.1:80"}}, "ListenAddrs"},
		{Config{Peers: []string{"/ip4/127.0.0.1/tcp/1"}}, "Peers"},
		{Config{Topics: []Topic{{Name: "assertions", Validate: acceptAll}}}, "Topics[0]"},
		{Config{Topics: []Topic{{Name: TopicAssertion}}}, "no Validate"},
		{Config{Topics: []Topic{ok, ok}}, "given twice"},
		{Config{MaxMessageSize: -1}, "MaxMessageSize"},
	} {
		c.cfg.DialPrefixes = loopback
		if len(c.cfg.ListenAddrs) == 0 {
			c.cfg.ListenAddrs = listenOn(t, "tcp")
		}
		n, err := New(context.Background(), c.cfg)
		if err == nil {
			n.Close()
			t.Errorf("New(%+v) succeeded, want an error naming %s", c.cfg, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("New: %v, want it to name %s", err, c.want)
		}
	}
}

// TestGossipBurst: a burst of publications faster than the node can send
// them is held back by Publish instead of overflowing its peers' send
// queues: every message goes out to every peer.
func TestGossipBurst(t *testing.T) {
	const peers, burst = 4, 3000
	counts := make([]atomic.Int64, peers)
	pub := startNode(t, Config{
		ListenAddrs: listenOn(t, "tcp"),
		Topics:      []Topic{{Name: TopicAssertion, Validate: acceptAll}},
	})
	receivers := make([]*Node, peers)
	for i := range peers {
		n := startNode(t, Config{
			ListenAddrs: listenOn(t, "tcp"),
			Topics: []Topic{{Name: TopicAssertion, Validate: acceptAll, Deliver: func(Message) {
				counts[i].Add(1)
			}}},
		})
		connect(t, pub, n)
		receivers[i] = n
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	msg := make([]byte, 512)
	start := time.Now()
	for i := range burst {
		binary.BigEndian.PutUint64(msg, uint64(i))
		if err := pub.Publish(ctx, TopicAssertion, msg); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("published %d messages to %d peers in %v", burst, peers, time.Since(start))
	deadline := time.Now().Add(30 * time.Second)
	for i, n := range receivers {
		// A receiver that cannot validate as fast drops messages from its
		// own validation queue (Throttled); that is its business, not the
		// sender's.
		for st := n.Stats().Topics[TopicAssertion]; st.Delivered+st.Throttled < burst; st = n.Stats().Topics[TopicAssertion] {
			if time.Now().After(deadline) {
				t.Fatalf("peer %d did not get every message: %+v; the publisher's stats %+v", i, st, pub.Stats().Topics[TopicAssertion])
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	t.Logf("all received after %v", time.Since(start))
	// Unsent may count a few early messages published before a peer's
	// send queue existed, which reached it through the offer on graft.
	st := pub.Stats().Topics[TopicAssertion]
	if st.Published != burst {
		t.Errorf("publisher's stats %+v, want %d published", st, burst)
	}
	t.Logf("publisher: %d unsent", st.Unsent)
}
