package observe

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/anacrolix/dht/v2"
	"github.com/anacrolix/dht/v2/krpc"
	alog "github.com/anacrolix/log"
	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"
	"github.com/anacrolix/torrent/tracker"
)

// Discovery chooses where the observer learns peers from besides
// AddPeers. The zero value is what a careful observer wants:
//
//   - the torrent's own trackers (announce, announce-list; HTTP and UDP)
//     are asked for peers, announcing the observer as a leecher that has
//     uploaded nothing;
//   - peer exchange (BEP 11) is received from connected peers but never
//     sent: the observer learns the swarm without spreading it;
//   - the DHT (BEP 5) is off: it means joining a public network through
//     its bootstrap nodes, whose listings anyone can add addresses to.
//     When on, the observer's node is passive (it answers nobody) and only
//     looks peers up; it never announces itself.
//
// Every address a source lists is recorded as announced, never
// blockable, until a connection to it completes a handshake.
type Discovery struct {
	// NoTrackers turns tracker announces off.
	NoTrackers bool
	// NoPEX turns receiving peer exchange off.
	NoPEX bool
	// DHT turns DHT lookups on.
	DHT bool
	// DHTNodes are the host:port addresses of the DHT nodes to start
	// from. Empty means the public bootstrap nodes anacrolix/dht knows.
	DHTNodes []string
	// AnnounceInterval is the time between two announces to one tracker
	// (longer if the tracker asks for it, up to an hour) and between two
	// DHT lookups. Zero means 5 minutes.
	AnnounceInterval time.Duration
}

// defaultAnnounceInterval is Discovery.AnnounceInterval's zero value.
const defaultAnnounceInterval = 5 * time.Minute

// maxAnnounceWait bounds the interval a tracker can ask for.
const maxAnnounceWait = time.Hour

// maxPEXAdded is the most addresses read from one PEX message: BEP 11
// allows 50 added peers per message.
const maxPEXAdded = 50

func (d *Discovery) validate() error {
	if d.AnnounceInterval < 0 {
		return fmt.Errorf("failed to configure discovery: AnnounceInterval %v is negative", d.AnnounceInterval)
	}
	for _, n := range d.DHTNodes {
		_, port, err := net.SplitHostPort(n)
		if err != nil {
			return fmt.Errorf("failed to configure discovery: DHTNodes: %w", err)
		}
		if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
			return fmt.Errorf("failed to configure discovery: DHTNodes: %q has no valid port", n)
		}
	}
	return nil
}

func (d *Discovery) interval() time.Duration {
	if d.AnnounceInterval == 0 {
		return defaultAnnounceInterval
	}
	return d.AnnounceInterval
}

// startDiscovery starts one goroutine per tracker URL and infohash and,
// if enabled, one for DHT lookups; all stop when ctx ends. host is the
// listen host that announces and queries leave from ("" for any).
func (o *Observer) startDiscovery(ctx context.Context, d Discovery, host string, trackers metainfo.AnnounceList) error {
	local := o.local
	if !d.NoPEX {
		o.wg.Go(func() { o.dialLoop(ctx) })
	}
	if !d.NoTrackers {
		var urls []string
		for _, tier := range trackers {
			for _, u := range tier {
				if !slices.Contains(urls, u) {
					urls = append(urls, u)
				}
			}
		}
		for _, u := range urls {
			if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https" && p.Scheme != "udp") {
				o.log.Warn("skipping tracker", "url", u, "reason", "not an http, https or udp URL")
				continue
			}
			for _, ih := range o.shape.shortHashes() {
				o.wg.Go(func() { o.announceLoop(ctx, d.interval(), u, ih, local) })
			}
		}
	}
	if d.DHT {
		s, err := o.startDHT(d, host)
		if err != nil {
			return err
		}
		o.wg.Go(func() {
			defer s.Close()
			o.dhtLoop(ctx, d.interval(), s)
		})
	}
	return nil
}

// anacrolixLogger routes an anacrolix/log user's messages to the
// observer's logger.
func (o *Observer) anacrolixLogger(names ...string) alog.Logger {
	l := alog.NewLogger(names...)
	l.SetHandlers(alog.SlogHandlerAsHandler{SlogHandler: o.log.Handler()})
	return l
}

// announceLoop announces the observer to one tracker for one infohash,
// hands the peers listed to addPeers, and repeats after interval, or the
// tracker's own interval if longer, until ctx ends.
func (o *Observer) announceLoop(ctx context.Context, interval time.Duration, trackerURL string, ih [20]byte, local net.IP) {
	var key [4]byte
	rand.Read(key[:])
	var port uint16
	if len(o.listen) > 0 {
		port = o.listen[0].Port()
	}
	dialer := &net.Dialer{}
	if local != nil {
		dialer.LocalAddr = &net.TCPAddr{IP: local}
	}
	ann := tracker.Announce{
		TrackerUrl:  trackerURL,
		DialContext: dialer.DialContext,
		ListenPacket: func(network, _ string) (net.PacketConn, error) {
			return net.ListenPacket(network, net.JoinHostPort(ipString(local), "0"))
		},
		UdpNetwork: "udp4",
		Logger:     o.anacrolixLogger("tracker"),
	}
	event := tracker.Started
	for {
		st := o.t.Stats()
		ann.Request = tracker.AnnounceRequest{
			InfoHash:   ih,
			PeerId:     o.peerID,
			Downloaded: st.BytesReadUsefulData.Int64(),
			Left:       o.t.BytesMissing(),
			Uploaded:   st.BytesWrittenData.Int64(),
			Event:      event,
			Key:        int32(binary.BigEndian.Uint32(key[:])),
			NumWant:    200,
			Port:       port,
		}
		actx, cancel := context.WithTimeout(ctx, tracker.DefaultTrackerAnnounceTimeout)
		ann.Context = actx
		res, err := ann.Do()
		cancel()
		wait := interval
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			o.log.Warn("tracker announce failed", "url", trackerURL, "err", err)
		} else {
			event = tracker.None
			if ti := time.Duration(res.Interval) * time.Second; ti > wait {
				wait = min(ti, maxAnnounceWait)
			}
			var addrs []netip.AddrPort
			for _, p := range res.Peers {
				if a, ok := p.ToNetipAddrPort(); ok && peerAddr(a) {
					addrs = append(addrs, a)
				}
			}
			o.log.Info("tracker announce", "url", trackerURL, "infohash", fmt.Sprintf("%x", ih), "peers", len(addrs), "next", wait)
			o.addPeers("tracker", addrs)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func ipString(ip net.IP) string {
	if ip == nil {
		return ""
	}
	return ip.String()
}

// startDHT starts a passive DHT node on an ephemeral UDP port of host.
func (o *Observer) startDHT(d Discovery, host string) (*dht.Server, error) {
	conn, err := net.ListenPacket("udp4", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, fmt.Errorf("failed to start DHT: %w", err)
	}
	cfg := dht.NewDefaultServerConfig()
	cfg.Conn = conn
	cfg.Passive = true
	cfg.Logger = o.anacrolixLogger("dht")
	if len(d.DHTNodes) > 0 {
		nodes := slices.Clone(d.DHTNodes)
		cfg.StartingNodes = func() ([]dht.Addr, error) { return dht.ResolveHostPorts(nodes) }
	}
	s, err := dht.NewServer(cfg)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("failed to start DHT: %w", err)
	}
	return s, nil
}

// dhtLoop looks the swarm's infohashes up in the DHT (get_peers only, no
// announce_peer), hands the peers found to addPeers, and repeats after
// interval until ctx ends.
func (o *Observer) dhtLoop(ctx context.Context, interval time.Duration, s *dht.Server) {
	for {
		for _, ih := range o.shape.shortHashes() {
			if err := o.dhtLookup(ctx, s, ih); err != nil {
				o.log.Warn("DHT lookup failed", "infohash", fmt.Sprintf("%x", ih), "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

func (o *Observer) dhtLookup(ctx context.Context, s *dht.Server, ih [20]byte) error {
	a, err := s.AnnounceTraversal(ih)
	if err != nil {
		return err
	}
	defer a.Close()
	found := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case pv, ok := <-a.Peers:
			if !ok {
				st := a.TraversalStats()
				o.log.Info("DHT lookup", "infohash", fmt.Sprintf("%x", ih), "peers", found, "nodes_tried", st.NumAddrsTried, "responses", st.NumResponses)
				return nil
			}
			var addrs []netip.AddrPort
			for _, p := range pv.Peers {
				if a, ok := netip.AddrFromSlice(p.IP); ok && p.Port > 0 && p.Port <= math.MaxUint16 {
					if ap := netip.AddrPortFrom(a.Unmap(), uint16(p.Port)); peerAddr(ap) {
						addrs = append(addrs, ap)
					}
				}
			}
			found += len(addrs)
			o.addPeers("dht", addrs)
		}
	}
}

// onExtensionMessage reads the PEX messages peers send, records the added
// addresses, at most maxPEXAdded a message, and queues them for dialing.
// It runs with the client's lock held.
func (o *Observer) onExtensionMessage(ev torrent.PeerConnReadExtensionMessageEvent) {
	name, builtin, err := ev.PeerConn.LocalLtepProtocolMap.LookupId(ev.ExtensionNumber)
	if err != nil || builtin || name != pp.ExtensionNamePex {
		return
	}
	msg, err := pp.LoadPexMsg(ev.Payload)
	if err != nil {
		o.log.Info("ignoring bad PEX message", "peer", ev.PeerConn.RemoteAddr.String(), "err", err)
		return
	}
	var addrs []netip.AddrPort
	for _, list := range [][]krpc.NodeAddr{msg.Added, msg.Added6} {
		for _, na := range list {
			if len(addrs) == maxPEXAdded {
				break
			}
			if a, ok := netip.AddrFromSlice(na.IP); ok && na.Port > 0 && na.Port <= math.MaxUint16 {
				if ap := netip.AddrPortFrom(a.Unmap(), uint16(na.Port)); peerAddr(ap) {
					addrs = append(addrs, ap)
				}
			}
		}
	}
	o.log.Info("PEX message", "peer", ev.PeerConn.RemoteAddr.String(), "added", len(addrs))
	if infos := o.recordAnnounced("pex", addrs); len(infos) > 0 {
		select {
		case o.dial <- infos:
		default:
			o.log.Warn("PEX peers recorded but not dialed: queue full", "peers", len(infos))
		}
	}
}

// dialLoop hands the peers queued on o.dial to anacrolix until ctx ends.
func (o *Observer) dialLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case infos := <-o.dial:
			o.t.AddPeers(infos)
		}
	}
}
