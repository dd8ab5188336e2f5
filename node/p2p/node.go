package p2p

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// staticTag protects static peers' connections from the connection
// manager.
const staticTag = "docket-static"

// Node is a Docket libp2p node: a host speaking TCP and QUIC v1, secured
// by Noise and multiplexed by Yamux, with GossipSub on the configured
// topics and request/response protocols. It finds peers only through its
// static peers and those that dial it: no mDNS, no DHT, no relay, no NAT
// port mapping. Its methods are safe for concurrent use.
type Node struct {
	host   host.Host
	ps     *pubsub.PubSub
	cfg    *config
	logger *slog.Logger
	stats  *counters
	topics map[string]*topicState // fixed at start
	scores *scoreBoard
	queues *queueLengths
	tracer *tracer

	ctx    context.Context // ends at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // goroutines started by New and Handle

	closeOnce sync.Once
	closeErr  error
}

// New starts a node: it loads or creates its identity, listens, joins
// cfg.Topics and starts dialling cfg.Peers. ctx bounds only the start;
// the node runs until Close.
func New(ctx context.Context, cfg Config) (*Node, error) {
	c, err := cfg.check()
	if err != nil {
		return nil, fmt.Errorf("failed to start p2p node: %w", err)
	}
	var key crypto.PrivKey
	if c.identityFile != "" {
		key, err = LoadIdentity(c.identityFile)
	} else {
		key, _, err = crypto.GenerateEd25519Key(rand.Reader)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to start p2p node: %w", err)
	}
	opts := []libp2p.Option{
		libp2p.Identity(key),
		libp2p.ListenAddrs(c.listen...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
		libp2p.UserAgent("docket"),
	}
	if len(c.dialPrefixes) > 0 {
		opts = append(opts, libp2p.ConnectionGater(&prefixGater{allow: c.dialPrefixes}))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("failed to start p2p node: %w", err)
	}
	nctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		host:   h,
		cfg:    c,
		logger: c.logger,
		stats:  newCounters(c.topics),
		topics: make(map[string]*topicState, len(c.topics)),
		scores: new(scoreBoard),
		queues: newQueueLengths(),
		ctx:    nctx,
		cancel: cancel,
	}
	if err := n.startGossip(); err != nil {
		cancel()
		h.Close()
		return nil, fmt.Errorf("failed to start p2p node: %w", err)
	}
	for _, ai := range c.peers {
		h.ConnManager().Protect(ai.ID, staticTag)
	}
	if len(c.peers) > 0 {
		n.wg.Add(1)
		go n.keepStaticPeers()
	}
	n.logger.Info("p2p node started", "peer_id", h.ID(), "addrs", h.Addrs())
	if err := ctx.Err(); err != nil {
		n.Close()
		return nil, fmt.Errorf("failed to start p2p node: %w", err)
	}
	return n, nil
}

// ID returns the node's peer id.
func (n *Node) ID() peer.ID { return n.host.ID() }

// Host returns the node's libp2p host.
func (n *Node) Host() host.Host { return n.host }

// AddrInfo returns the node's peer id and listen addresses, as another
// node needs them to Connect.
func (n *Node) AddrInfo() peer.AddrInfo {
	return peer.AddrInfo{ID: n.host.ID(), Addrs: n.host.Addrs()}
}

// Addrs returns the node's listen addresses with /p2p/<peer id>
// appended, in the form Config.Peers takes.
func (n *Node) Addrs() []string {
	full, err := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: n.host.ID(), Addrs: n.host.Addrs()})
	if err != nil {
		return nil
	}
	out := make([]string, len(full))
	for i, a := range full {
		out[i] = a.String()
	}
	return out
}

// Connect dials a peer and waits until connected or ctx ends.
func (n *Node) Connect(ctx context.Context, ai peer.AddrInfo) error {
	if err := n.host.Connect(ctx, ai); err != nil {
		return fmt.Errorf("failed to connect to %s: %w", ai.ID, err)
	}
	return nil
}

// Peers returns the peers the node is connected to.
func (n *Node) Peers() []peer.ID {
	return n.host.Network().Peers()
}

// Stats returns a snapshot of the node's counters.
func (n *Node) Stats() Stats {
	return n.stats.snapshot()
}

// Close stops the node: it leaves the topics, stops serving requests and
// closes every connection. It is safe to call more than once.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.cancel()
		n.closeErr = n.host.Close()
		n.wg.Wait()
		if n.closeErr != nil {
			n.closeErr = fmt.Errorf("failed to close p2p node: %w", n.closeErr)
		}
	})
	return n.closeErr
}

// keepStaticPeers dials every static peer the node is not connected to,
// at start and then every ReconnectInterval, until the node closes.
func (n *Node) keepStaticPeers() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.reconnect)
	defer t.Stop()
	for {
		for _, ai := range n.cfg.peers {
			if n.host.Network().Connectedness(ai.ID) == network.Connected {
				continue
			}
			ctx, cancel := context.WithTimeout(n.ctx, n.cfg.reconnect)
			err := n.host.Connect(ctx, ai)
			cancel()
			if err != nil && n.ctx.Err() == nil {
				n.logger.Warn("failed to connect to static peer", "peer", ai.ID, "err", err)
			}
		}
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// prefixGater refuses to dial any IP address outside its prefixes.
type prefixGater struct {
	allow []netip.Prefix
}

func (g *prefixGater) allowed(a ma.Multiaddr) bool {
	ip, err := manet.ToIP(a)
	if err != nil {
		// Not an IP address (a DNS name, say): refuse, since where it
		// leads cannot be checked here.
		return false
	}
	addr, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	addr = addr.Unmap()
	for _, p := range g.allow {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

func (g *prefixGater) InterceptPeerDial(peer.ID) bool { return true }

func (g *prefixGater) InterceptAddrDial(_ peer.ID, a ma.Multiaddr) bool { return g.allowed(a) }

func (g *prefixGater) InterceptAccept(network.ConnMultiaddrs) bool { return true }

func (g *prefixGater) InterceptSecured(network.Direction, peer.ID, network.ConnMultiaddrs) bool {
	return true
}

func (g *prefixGater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) {
	return true, 0
}
