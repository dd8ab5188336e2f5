package p2p

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const floodSize = 10_000

// TestHostileFlood: a peer that floods a topic with 10,000 invalid
// messages is graylisted by its neighbours, none of its messages gets
// past them, and honest messages still arrive; their latency with and
// without the flood is logged.
//
// Honest hosts H0…H4 form a line; the flooder F is connected to H0 and H2.
// F's validator accepts everything, so its node publishes the junk that
// honest validators reject.
func TestHostileFlood(t *testing.T) {
	const honest = 5
	nodes := make([]*Node, honest)
	boxes := make([]*inbox, honest)
	for i := range nodes {
		boxes[i] = newInbox()
		nodes[i] = startNode(t, Config{
			ListenAddrs: listenOn(t, "tcp"),
			Topics:      []Topic{{Name: TopicAssertion, Validate: rejectJunk, Deliver: boxes[i].deliver}},
		})
	}
	for i := 1; i < honest; i++ {
		connect(t, nodes[i-1], nodes[i])
	}
	flooder := startNode(t, Config{
		ListenAddrs: listenOn(t, "tcp"),
		Topics:      []Topic{{Name: TopicAssertion, Validate: acceptAll}},
	})
	firstHop := []int{0, 2}
	for _, i := range firstHop {
		connect(t, flooder, nodes[i])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// latency publishes an honest message from H4 and returns how long it
	// took to reach every other honest host.
	seq := 0
	latency := func(label string) time.Duration {
		t.Helper()
		seq++
		msg := fmt.Sprintf("honest %s %d", label, seq)
		start := time.Now()
		if err := nodes[4].Publish(ctx, TopicAssertion, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		var last time.Time
		for i, b := range boxes[:4] {
			at, err := b.wait(ctx, msg)
			if err != nil {
				t.Fatalf("H%d never received %q: %v", i, msg, err)
			}
			if at.After(last) {
				last = at
			}
		}
		return last.Sub(start)
	}
	latency("warm-up") // waits for the mesh
	time.Sleep(1500 * time.Millisecond)
	// F's messages have to be seen to be junk: F is a peer in good
	// standing before the flood.
	for _, i := range firstHop {
		if s := nodes[i].PeerScores()[flooder.ID()]; s < 0 {
			t.Fatalf("H%d scores the flooder %v before the flood", i, s)
		}
	}

	var before []time.Duration
	for range 5 {
		before = append(before, latency("before"))
	}

	var flooding atomic.Bool
	flooding.Store(true)
	floodDone := make(chan time.Duration, 1)
	floodErr := make(chan error, 1)
	go func() {
		defer flooding.Store(false)
		start := time.Now()
		for i := range floodSize {
			if err := flooder.Publish(ctx, TopicAssertion, fmt.Appendf(nil, "junk %d", i)); err != nil {
				floodErr <- err
				return
			}
		}
		floodDone <- time.Since(start)
	}()
	waitFor(t, 10*time.Second, "the flood to reach H0", func() bool {
		return nodes[0].Stats().Topics[TopicAssertion].Rejected > 0
	})
	var during []time.Duration
	duringFlood := 0
	for range 5 {
		running := flooding.Load()
		during = append(during, latency("during"))
		if running {
			duringFlood++
		}
	}
	var floodTook time.Duration
	select {
	case floodTook = <-floodDone:
	case err := <-floodErr:
		t.Fatalf("the flooder failed to publish: %v", err)
	case <-ctx.Done():
		t.Fatal("the flood did not end")
	}
	var after []time.Duration
	for range 5 {
		after = append(after, latency("after"))
	}

	for _, i := range firstHop {
		waitFor(t, 5*time.Second, fmt.Sprintf("H%d to graylist the flooder", i), func() bool {
			s, ok := nodes[i].PeerScores()[flooder.ID()]
			return ok && s < GraylistThreshold
		})
	}
	isJunk := func(d string) bool { return strings.HasPrefix(d, "junk") }
	for i, n := range nodes {
		st := n.Stats().Topics[TopicAssertion]
		if got := boxes[i].count(isJunk); got != 0 {
			t.Errorf("H%d delivered %d junk messages", i, got)
		}
		honestMsgs := uint64(boxes[i].count(func(d string) bool { return !isJunk(d) }))
		if st.Delivered != honestMsgs {
			t.Errorf("H%d: %d delivered, but %d honest messages arrived", i, st.Delivered, honestMsgs)
		}
		if slices.Contains(firstHop, i) {
			if st.Rejected == 0 {
				t.Errorf("H%d, next to the flooder, rejected nothing", i)
			}
			// Graylisting stops validation long before the flood ends.
			if st.Rejected >= floodSize/10 {
				t.Errorf("H%d validated and rejected %d junk messages of %d: the flooder was not graylisted in time", i, st.Rejected, floodSize)
			}
		} else if st.Rejected != 0 {
			t.Errorf("H%d, not next to the flooder, rejected %d messages: junk got past the first hop", i, st.Rejected)
		}
		t.Logf("H%d: %+v", i, st)
	}
	for _, i := range firstHop {
		t.Logf("H%d scores the flooder %.0f (graylist threshold %d)", i, nodes[i].PeerScores()[flooder.ID()], GraylistThreshold)
	}
	t.Logf("flooder published %d junk messages in %v", flooder.Stats().Topics[TopicAssertion].Published, floodTook)
	t.Logf("honest latency H4 → every honest host: before the flood %v, during %v (%d of 5 sent while it ran), after %v",
		summary(before), summary(during), duringFlood, summary(after))
}

// summary gives the median and maximum of durations.
func summary(d []time.Duration) string {
	s := slices.Clone(d)
	slices.Sort(s)
	return fmt.Sprintf("median %v max %v", s[len(s)/2].Round(10*time.Microsecond), s[len(s)-1].Round(10*time.Microsecond))
}
