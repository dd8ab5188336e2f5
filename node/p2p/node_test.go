package p2p

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// TestNoDiscovery: a node speaks TCP and QUIC only and serves no
// discovery, relay, hole punching or DHT protocol: it finds peers only
// through its static peers and those that dial it.
func TestNoDiscovery(t *testing.T) {
	n := startNode(t, Config{
		ListenAddrs: listenOn(t, "both"),
		Topics:      []Topic{{Name: TopicAssertion, Validate: acceptAll}},
	})
	if err := n.Handle(echo, echoHandler); err != nil {
		t.Fatal(err)
	}
	allowed := []string{"/ipfs/ping/", "/ipfs/id/", "/meshsub/", "/floodsub/", "/docket/"}
	for _, p := range n.Host().Mux().Protocols() {
		if !slices.ContainsFunc(allowed, func(a string) bool { return strings.HasPrefix(string(p), a) }) {
			t.Errorf("the node serves %s", p)
		}
	}
	addrs := n.Host().Addrs()
	if len(addrs) != 2 {
		t.Fatalf("listening on %v, want one TCP and one QUIC address", addrs)
	}
	for _, a := range addrs {
		if !isTCP(a) && !isQUIC(a) {
			t.Errorf("listening on %s, neither TCP nor QUIC v1", a)
		}
	}
}

// TestStaticPeers: a node dials its static peers at start, protects their
// connections and dials them again when they drop.
func TestStaticPeers(t *testing.T) {
	a := startNode(t, Config{ListenAddrs: listenOn(t, "tcp")})
	b := startNode(t, Config{
		ListenAddrs:       listenOn(t, "quic"),
		Peers:             a.Addrs(),
		ReconnectInterval: 100 * time.Millisecond,
	})
	connected := func() bool { return slices.Contains(b.Peers(), a.ID()) }
	waitFor(t, 5*time.Second, "b to dial its static peer", connected)
	if !b.Host().ConnManager().IsProtected(a.ID(), staticTag) {
		t.Error("the static peer's connection is not protected")
	}
	if err := a.Host().Network().ClosePeer(b.ID()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the connection to drop", func() bool { return !connected() })
	waitFor(t, 5*time.Second, "b to dial its static peer again", connected)
}

// TestDialPrefixes: with DialPrefixes set, only addresses inside them are
// dialled; a DNS name, whose address cannot be checked, is refused too.
func TestDialPrefixes(t *testing.T) {
	g := &prefixGater{allow: loopback}
	for addr, want := range map[string]bool{
		"/ip4/127.0.0.1/tcp/4790":          true,
		"/ip4/127.8.9.10/udp/1/quic-v1":    true,
		"/ip4/192.0.2.1/tcp/4790":          false,
		"/ip6/::1/tcp/4790":                false,
		"/ip6/::ffff:192.0.2.1/tcp/4790":   false,
		"/dns4/localhost/tcp/4790":         false,
		"/ip4/10.0.0.1/udp/4790/quic-v1":   false,
		"/ip6/2001:db8::1/udp/1/quic-v1":   false,
		"/ip6/::ffff:127.0.0.1/tcp/4790":   true,
		"/ip4/127.0.0.1/tcp/1/p2p-circuit": true,
	} {
		a, err := ma.NewMultiaddr(addr)
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		if got := g.InterceptAddrDial(peer.ID(""), a); got != want {
			t.Errorf("dial %s allowed %v, want %v", addr, got, want)
		}
	}
}
