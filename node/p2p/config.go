package p2p

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"regexp"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// The gossip topics of Docket version 1, one per kind of object.
const (
	TopicAssertion    = "/docket/assertion/1"    // assertion bundles (spec/SPEC.md §5.7)
	TopicRevocation   = "/docket/revocation/1"   // revocation envelopes (§7)
	TopicCheckpoint   = "/docket/checkpoint/1"   // signed log checkpoints
	TopicAnnouncement = "/docket/announcement/1" // ISP announcements (§12)
)

// Defaults of Config.
const (
	// DefaultMaxMessageSize bounds the data of one gossip message.
	DefaultMaxMessageSize = 1 << 20
	// DefaultReconnectInterval is how often the node redials static
	// peers it is not connected to.
	DefaultReconnectInterval = 10 * time.Second
	// DefaultPort is the TCP and UDP port of DefaultListenAddrs.
	DefaultPort = 4790
)

// DefaultListenAddrs are the addresses a node listens on when
// Config.ListenAddrs is empty: TCP and QUIC v1 on every interface.
var DefaultListenAddrs = []string{
	fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", DefaultPort),
	fmt.Sprintf("/ip4/0.0.0.0/udp/%d/quic-v1", DefaultPort),
	fmt.Sprintf("/ip6/::/tcp/%d", DefaultPort),
	fmt.Sprintf("/ip6/::/udp/%d/quic-v1", DefaultPort),
}

// Config configures a Node. The zero value is usable: a node with a new
// identity, listening on DefaultListenAddrs, with no topics and no peers.
type Config struct {
	// ListenAddrs are the multiaddrs to listen on, TCP
	// (/ip4/…/tcp/PORT) or QUIC v1 (/ip4/…/udp/PORT/quic-v1), IPv4 or
	// IPv6; port 0 picks a free port. Default DefaultListenAddrs.
	ListenAddrs []string
	// IdentityFile holds the node's Ed25519 libp2p key, which fixes its
	// peer id. It is created (mode 0600) if missing; see LoadIdentity.
	// Empty: a new key at every start, so a new peer id.
	IdentityFile string
	// Peers are static peers, multiaddrs ending in /p2p/<peer id>
	// (e.g. /ip4/192.0.2.7/tcp/4790/p2p/12D3KooW…). The node dials them at
	// start and again every ReconnectInterval while not connected, and the
	// connection manager never trims them. They are ordinary gossip peers:
	// scored and graylisted like any other.
	Peers []string
	// DialPrefixes, when not empty, are the only IP prefixes the node
	// dials; addresses elsewhere (learnt from peers, say) are refused
	// before any packet is sent. Inbound connections are not affected.
	DialPrefixes []netip.Prefix
	// Topics are the gossip topics the node joins at start.
	Topics []Topic
	// MaxMessageSize bounds the data of one gossip message, published or
	// received. Default DefaultMaxMessageSize.
	MaxMessageSize int
	// ReconnectInterval is how often static peers that are not connected
	// are dialled again. Default DefaultReconnectInterval.
	ReconnectInterval time.Duration
	// Logger receives the node's events. Default: discard them.
	Logger *slog.Logger
}

// Topic is a gossip topic the node joins, with the caller's validation
// and delivery.
type Topic struct {
	// Name is the topic's name, /docket/<kind>/<version> (e.g.
	// TopicAssertion).
	Name string
	// Validate decides the fate of every message of the topic, received or
	// about to be published. Required. It is called concurrently.
	Validate Validator
	// Deliver receives every message of the topic that another node sent
	// and Validate accepted, once per distinct data. It is called from one
	// goroutine per topic, so a slow Deliver delays its topic's later
	// messages; while it lags more than a buffer's worth behind, messages
	// are dropped for it (counted in TopicStats.Dropped) though still
	// forwarded to peers. Optional.
	Deliver func(Message)
}

// Validator checks one gossip message. from is the peer that sent it to
// this node (for a message this node publishes, the node itself); data is
// the message's bytes, at most Config.MaxMessageSize.
//
// A nil error accepts the message: it is delivered and forwarded. An
// error wrapping an *IgnoreError (see Ignore) drops it without blame:
// for what an honest peer may well forward, such as an object that has
// expired, one already seen, or one signed by a key this node does not
// trust but others may. Any other error rejects it: the message is
// dropped and the peer that sent it loses score, enough rejections and it
// is graylisted. Reject only what every honest node rejects (malformed
// data, a bad signature), or honest peers will be punished.
type Validator func(ctx context.Context, from peer.ID, data []byte) error

// IgnoreError marks a validation failure that is no fault of the sender.
type IgnoreError struct {
	Err error
}

func (e *IgnoreError) Error() string {
	if e.Err == nil {
		return "message ignored"
	}
	return "message ignored: " + e.Err.Error()
}

func (e *IgnoreError) Unwrap() error { return e.Err }

// Ignore wraps err so that a Validator returning it drops the message
// without penalising the sender.
func Ignore(err error) error {
	return &IgnoreError{Err: err}
}

// IsIgnore reports whether err is or wraps an *IgnoreError.
func IsIgnore(err error) bool {
	var ie *IgnoreError
	return errors.As(err, &ie)
}

// Message is a gossip message delivered to Topic.Deliver.
type Message struct {
	// Topic is the topic's name.
	Topic string
	// From is the peer that sent the message to this node, which is not
	// necessarily the one that published it.
	From peer.ID
	// ID is the message's id, the SHA-256 of Data.
	ID [32]byte
	// Data is the message's bytes.
	Data []byte
}

var topicName = regexp.MustCompile(`^/docket/[a-z0-9][a-z0-9-]{0,31}/[1-9][0-9]{0,3}$`)

// config is a validated Config with defaults applied.
type config struct {
	listen       []ma.Multiaddr
	identityFile string
	peers        []peer.AddrInfo
	dialPrefixes []netip.Prefix
	topics       []Topic
	maxMessage   int
	reconnect    time.Duration
	logger       *slog.Logger
}

func (c Config) check() (*config, error) {
	out := &config{
		identityFile: c.IdentityFile,
		dialPrefixes: c.DialPrefixes,
		maxMessage:   c.MaxMessageSize,
		reconnect:    c.ReconnectInterval,
		logger:       c.Logger,
	}
	listen := c.ListenAddrs
	if len(listen) == 0 {
		listen = DefaultListenAddrs
	}
	for _, s := range listen {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("ListenAddrs: %q is not a multiaddr: %w", s, err)
		}
		if !isTCP(a) && !isQUIC(a) {
			return nil, fmt.Errorf("ListenAddrs: %q is neither TCP (/ip4/…/tcp/PORT) nor QUIC v1 (/ip4/…/udp/PORT/quic-v1)", s)
		}
		out.listen = append(out.listen, a)
	}
	for _, s := range c.Peers {
		ai, err := peer.AddrInfoFromString(s)
		if err != nil {
			return nil, fmt.Errorf("Peers: %q is not a multiaddr ending in /p2p/<peer id>: %w", s, err)
		}
		out.peers = append(out.peers, *ai)
	}
	for _, p := range c.DialPrefixes {
		if !p.IsValid() {
			return nil, fmt.Errorf("DialPrefixes: %v is not a valid prefix", p)
		}
	}
	seen := make(map[string]bool)
	for i, t := range c.Topics {
		if !topicName.MatchString(t.Name) {
			return nil, fmt.Errorf("Topics[%d]: name %q is not /docket/<kind>/<version>", i, t.Name)
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("Topics[%d]: topic %s is given twice", i, t.Name)
		}
		seen[t.Name] = true
		if t.Validate == nil {
			return nil, fmt.Errorf("Topics[%d]: topic %s has no Validate", i, t.Name)
		}
		out.topics = append(out.topics, t)
	}
	if out.maxMessage < 0 {
		return nil, fmt.Errorf("MaxMessageSize: %d is negative", out.maxMessage)
	}
	if out.maxMessage == 0 {
		out.maxMessage = DefaultMaxMessageSize
	}
	if out.reconnect < 0 {
		return nil, fmt.Errorf("ReconnectInterval: %v is negative", out.reconnect)
	}
	if out.reconnect == 0 {
		out.reconnect = DefaultReconnectInterval
	}
	if out.logger == nil {
		out.logger = slog.New(slog.DiscardHandler)
	}
	return out, nil
}

func isTCP(a ma.Multiaddr) bool {
	return matchProtocols(a, ma.P_TCP)
}

func isQUIC(a ma.Multiaddr) bool {
	return matchProtocols(a, ma.P_UDP, ma.P_QUIC_V1)
}

// matchProtocols reports whether a is /ip4 or /ip6 followed by exactly the
// given protocols.
func matchProtocols(a ma.Multiaddr, codes ...int) bool {
	if len(a) != len(codes)+1 {
		return false
	}
	if c := a[0].Protocol().Code; c != ma.P_IP4 && c != ma.P_IP6 {
		return false
	}
	for i, code := range codes {
		if a[i+1].Protocol().Code != code {
			return false
		}
	}
	return true
}
