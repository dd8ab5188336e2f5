// Package observe joins one BitTorrent swarm as a leecher that never
// uploads, downloads pieces directly from each peer, checks them against
// the torrent, and records per-peer evidence graded as spec/SPEC.md §5.4
// defines:
//
//   - verified-transfer: a direct connection completed the handshake and at
//     least one piece this peer supplied chunks of hashed correctly, and none
//     of its data ever failed a hash check;
//   - handshake: a direct connection completed the handshake, but no piece
//     from this peer was verified (or its data failed a check);
//   - announced: the address was handed to the observer (tracker, DHT, PEX
//     or manually) but no connection to it completed.
//
// Content bytes are never written to disk: a piece is held in memory until
// it is hashed, then dropped; only its completion state is kept.
//
// v1 (BEP 3), v2 and hybrid (BEP 52) torrents are observed. Every piece is
// hashed here, independently of the BitTorrent client, against every hash
// the torrent gives for it: the SHA-1 of a v1 piece, the SHA-256 Merkle
// root of a v2 piece's 16 KiB blocks (checked against the piece layer,
// which is checked against the file's pieces root when the observer
// starts), or both for a hybrid. An observation names the swarm by its
// btih id (v1), its btmh id (v2 and hybrid, by default) or, through
// ObservationFor, any content id the torrent carries, bt2file ids included.
//
// Peers come from AddPeers and from the sources Config.Discovery enables:
// the torrent's trackers, peer exchange (received, never sent) and the
// DHT. Whatever a source lists is only announced until a connection to it
// completes a handshake. Addresses that fail to connect are dialed again
// (Config.RedialInterval), and peers that connect are also accepted.
//
// Getting a verified piece from every peer takes more than downloading the
// content once. The observer keeps few requests outstanding per peer
// (Config.MaxRequestsPerPeer), so the first peers do not take them all; it
// probes a peer that stays connected without supplying a verified piece
// (Config.ProbeAfter: one piece fetched over a connection of its own,
// speaking only handshake, interested and request); and once every piece
// is verified it keeps fetching pieces again, one at a time at a low rate
// (Config.RevisitRate), so it goes on accepting and grading peers that
// come late, probing each as soon as it connects.
package observe

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"
	utHolepunch "github.com/anacrolix/torrent/peer_protocol/ut-holepunch"
	"golang.org/x/time/rate"

	"github.com/docket-project/docket/protocol"
)

// Config configures an Observer. The zero value is usable.
type Config struct {
	// ListenAddr is the host:port the observer listens on (TCP and uTP)
	// and announces from. Empty means an ephemeral port on all
	// interfaces. With a specific host, tracker announces and DHT queries
	// leave from that address too, so trackers list the address peers can
	// reach.
	ListenAddr string
	// DisableUTP turns uTP off; connections then use TCP only.
	DisableUTP bool
	// DownloadRate caps the download in bytes per second; 0 means no cap.
	// A cap spreads requests over more peers before the content is
	// complete, so more peers end with a verified piece.
	DownloadRate int
	// Discovery chooses where peers are learned from besides AddPeers.
	Discovery Discovery
	// MaxRequestsPerPeer caps the block requests outstanding to one
	// peer. A low cap spreads the download over every peer, so each one
	// supplies pieces to verify; otherwise the first peers connected take
	// every request of a small torrent. Zero means 4.
	MaxRequestsPerPeer int
	// RevisitRate caps, in bytes per second, the download that goes on
	// once every piece has been verified: the observer then keeps one
	// piece outstanding, fetching the pieces again in turn, so that it
	// still dials peers (anacrolix stops dialing once it needs no data)
	// and grades the ones that come late. While revisiting, peers that
	// dial the observer are accepted even when every piece happens to be
	// verified. A lower DownloadRate still applies. Zero means 16 KiB/s;
	// negative turns revisiting off, and with it new connections once
	// complete.
	RevisitRate int
	// ProbeAfter is how long a peer may stay connected without supplying
	// a verified piece before the observer probes it: it opens a
	// connection of its own to the peer, asks it for one piece and checks
	// it (at most 3 times a peer). anacrolix hands requests to the peers
	// that answer first, so on a small or fast swarm some connected peers
	// would otherwise never supply a piece. Once every piece has been
	// verified the observer fetches too little for a new peer to be asked
	// for a piece soon: a peer is then probed as soon as it has connected
	// and the observer knows where it listens. Zero means 5 seconds;
	// negative turns probing off.
	ProbeAfter time.Duration
	// RedialInterval is how soon an address that never completed a
	// handshake is dialed again, so that a peer that was briefly
	// unreachable or busy is still observed; each further wait doubles, up
	// to 6 dials in all. Zero means 10 seconds.
	RedialInterval time.Duration
	// Logger receives the observer's and anacrolix's logs; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// maxAnnounced bounds the addresses kept that never connected: sources
// (trackers, the DHT, PEX) can list any number of addresses, and an
// observation carries at most protocol.MaxPeers. Connected peers are
// always recorded.
const maxAnnounced = 4 * protocol.MaxPeers

// maxDials is how many times an address is dialed before the observer
// gives up on it (it stays announced).
const maxDials = 6

// defaultRevisitRate is Config.RevisitRate's zero value: one 16 KiB block
// a second.
const defaultRevisitRate = 16 << 10

// minBurst is the least burst limiterBurst gives.
const minBurst = 64

// limiterBurst returns the burst of the download rate limiter whose
// lowest limit will be lowest: the most bytes one read from a peer takes
// at once, a 64th of a second's worth, from minBurst to a block.
// anacrolix paces every read from every peer with that one limiter,
// handshakes included, and a read waits for the bytes read before it.
// While a piece is being fetched at the limit, each read of a new peer's
// handshake thus waits up to a burst's worth of time: with a burst of a
// block at 16 KiB/s, a second per read, and an encrypted (MSE) handshake,
// which reads its padding 20 bytes at a time, outlasted anacrolix's
// 4-second handshake timeout. The burst is set once: anacrolix panics on a
// read larger than the burst, which lowering it under a read in flight
// would cause.
func limiterBurst(lowest rate.Limit) int {
	return int(min(blockSize, max(minBurst, lowest/64)))
}

// defaultMaxRequestsPerPeer is Config.MaxRequestsPerPeer's zero value.
const defaultMaxRequestsPerPeer = 4

// defaultProbeAfter is Config.ProbeAfter's zero value.
const defaultProbeAfter = 5 * time.Second

// defaultRedialInterval is Config.RedialInterval's zero value.
const defaultRedialInterval = 10 * time.Second

// Observer observes one swarm. It is safe for concurrent use.
type Observer struct {
	cl    *torrent.Client
	t     *torrent.Torrent
	log   *slog.Logger
	now   func() time.Time
	shape *shape
	view  view // how Peers and Observation present evidence
	// listen holds the addresses the observer listens on, peerID its own
	// peer id; both are fixed once the client started.
	listen []netip.AddrPort
	peerID [20]byte
	// maxRequests caps the requests outstanding to one peer.
	maxRequests int
	// redialInterval is the first wait before an address is dialed again.
	redialInterval time.Duration
	// pex is set when peer exchange is received.
	pex bool
	// local is the address connections the observer opens itself leave
	// from: the listen host, or nil for any.
	local net.IP
	// stop ends the goroutines the observer runs (discovery, redial,
	// probes, revisits), which wg counts.
	stop context.CancelFunc
	wg   sync.WaitGroup
	// dial carries peers learned inside anacrolix callbacks, which hold
	// the client's lock, to a goroutine that hands them to anacrolix.
	dial chan []torrent.PeerInfo
	// store holds the pieces in memory; complete is signalled whenever
	// every piece has been verified.
	store    *discardStorage
	complete chan struct{}

	mu    sync.Mutex
	start time.Time
	// byAddr holds every address seen; byPeer the open connections.
	byAddr map[netip.AddrPort]*peerRecord
	byPeer map[*torrent.Peer]*peerRecord
	// announced counts the records without a handshake; dropped the
	// addresses not recorded because maxAnnounced was reached.
	announced int
	dropped   int
	// self holds addresses that turned out to be the observer itself.
	self map[netip.AddrPort]bool
	// touched holds, per piece, the blocks each peer supplied since the
	// piece's last hash check; suspect the blocks of failed checks with
	// several contributors, judged once the piece passes.
	touched map[int]map[*peerRecord][]block
	suspect map[int][]suspectBlock
	// verified marks the pieces verified and not since forgotten;
	// nVerified counts them.
	verified  []bool
	nVerified int
	// allVerified is set once every piece has been verified: from then
	// on peers are probed as soon as they connect.
	allVerified bool
	// probesRunning counts the probes under way.
	probesRunning int
}

// block is one chunk a peer supplied: its offset in the piece and digest.
type block struct {
	begin int
	size  int
	sum   [sha256.Size]byte
}

// suspectBlock is a block of a piece that failed its hash check while
// several peers had contributed to it.
type suspectBlock struct {
	r *peerRecord
	block
}

// peerRecord is what was seen of one remote address.
type peerRecord struct {
	addr      netip.AddrPort
	source    string
	firstSeen time.Time
	lastSeen  time.Time
	// dials counts the times the address was handed to anacrolix to
	// dial; the next redial is due at nextDial.
	dials    int
	nextDial time.Time
	// Set once a handshake completed, at handshakeAt.
	handshake   bool
	handshakeAt time.Time
	// listenPort is the port the peer says it listens on (BEP 10 "p").
	listenPort uint16
	// probing is set while a probe of the peer runs; probes counts them.
	probing   bool
	probes    int
	transport string
	peerID    string
	client    string
	bytes     int64
	pieces    []verifiedPiece
	failed    int
}

// verifiedPiece is a piece a peer contributed to that hashed correctly.
type verifiedPiece struct {
	index int
	at    time.Time
}

// PeerReport is one peer's record as observed so far.
type PeerReport struct {
	Addr netip.AddrPort
	// Evidence is the graded evidence for this address.
	Evidence protocol.Evidence
	// FailedPieces counts pieces this peer contributed to whose hash check
	// failed. A peer with failures is never graded verified-transfer.
	FailedPieces int
}

// New parses v1, v2 or hybrid metainfo (a .torrent file's bytes), starts
// an anacrolix client that never uploads, and begins downloading from the
// peers AddPeers supplies and those the sources of cfg.Discovery find.
// LSD, web seeds and port forwarding are always off. It fails on metainfo
// whose piece hashes cannot be checked (see the package documentation)
// and on a configuration it cannot use.
func New(cfg Config, metainfoBytes []byte) (*Observer, error) {
	mi, err := metainfo.Load(bytes.NewReader(metainfoBytes))
	if err != nil {
		return nil, fmt.Errorf("failed to parse metainfo: %w", err)
	}
	sh, err := parseShape(mi)
	if err != nil {
		return nil, err
	}
	if err := cfg.Discovery.validate(); err != nil {
		return nil, err
	}
	if cfg.MaxRequestsPerPeer < 0 {
		return nil, fmt.Errorf("failed to configure observer: MaxRequestsPerPeer %d is negative", cfg.MaxRequestsPerPeer)
	}
	if cfg.RedialInterval < 0 {
		return nil, fmt.Errorf("failed to configure observer: RedialInterval %v is negative", cfg.RedialInterval)
	}
	probeAfter := cmp.Or(cfg.ProbeAfter, defaultProbeAfter)
	redial := cmp.Or(cfg.RedialInterval, defaultRedialInterval)
	listen := cfg.ListenAddr
	if listen == "" {
		listen = ":0"
	}
	host, portText, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("failed to parse listen address: %w", err)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("failed to parse listen port: %w", err)
	}
	o := &Observer{
		log:            cfg.Logger,
		now:            cfg.Now,
		shape:          sh,
		view:           sh.defaultView(),
		byAddr:         map[netip.AddrPort]*peerRecord{},
		byPeer:         map[*torrent.Peer]*peerRecord{},
		self:           map[netip.AddrPort]bool{},
		dial:           make(chan []torrent.PeerInfo, 64),
		complete:       make(chan struct{}, 1),
		verified:       make([]bool, len(sh.pieces)),
		maxRequests:    cmp.Or(cfg.MaxRequestsPerPeer, defaultMaxRequestsPerPeer),
		redialInterval: redial,
		touched:        map[int]map[*peerRecord][]block{},
		suspect:        map[int][]suspectBlock{},
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if o.now == nil {
		o.now = time.Now
	}
	o.start = o.clock()

	cc := closedSwarmConfig()
	cc.Slogger = o.log
	cc.NoUpload = true
	cc.Seed = false
	cc.DisableUTP = cfg.DisableUTP
	cc.DropMutuallyCompletePeers = false
	o.store = &discardStorage{shape: sh, verdict: o.pieceVerdict}
	cc.DefaultStorage = o.store
	limit := rate.Inf
	if cfg.DownloadRate > 0 {
		limit = rate.Limit(cfg.DownloadRate)
	}
	lowest := limit // the lowest limit the download will have
	revisit := rate.Limit(defaultRevisitRate)
	if cfg.RevisitRate > 0 {
		revisit = rate.Limit(cfg.RevisitRate)
	}
	revisit = min(limit, revisit)
	if cfg.RevisitRate >= 0 {
		lowest = revisit
	}
	cc.DownloadRateLimiter = rate.NewLimiter(limit, limiterBurst(lowest))
	if ip, err := netip.ParseAddr(host); err == nil && !ip.IsUnspecified() {
		o.local = ip.AsSlice()
	}
	cc.ListenHost = func(string) string { return host }
	cc.ListenPort = int(port)
	cc.Callbacks.CompletedHandshake = o.onHandshake
	cc.Callbacks.ReadExtendedHandshake = o.onExtendedHandshake
	cc.Callbacks.ReadMessage = o.onMessage
	cc.Callbacks.PeerConnClosed = o.onClosed
	cc.Callbacks.ReceivedUsefulData = append(cc.Callbacks.ReceivedUsefulData, o.onUsefulData)
	// anacrolix accepts a connection only while it wants one: while it
	// needs data, or seeds. Revisits keep one piece outstanding, but for a
	// moment between a revisited piece's check and the next one's start
	// every piece is verified, and a peer dialing in then would be turned
	// away before its handshake.
	cc.AlwaysWantConns = cfg.RevisitRate >= 0
	o.pex = !cfg.Discovery.NoPEX
	cc.Callbacks.PeerConnAdded = append(cc.Callbacks.PeerConnAdded, o.onConnAdded)
	if o.pex {
		cc.Callbacks.PeerConnReadExtensionMessage = append(cc.Callbacks.PeerConnReadExtensionMessage, o.onExtensionMessage)
	}

	o.cl, err = torrent.NewClient(cc)
	if err != nil {
		return nil, fmt.Errorf("failed to start client: %w", err)
	}
	o.peerID = o.cl.PeerID()
	for _, a := range o.cl.ListenAddrs() {
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			o.listen = append(o.listen, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
		}
	}
	// Joined by its short infohash alone, anacrolix learns a hybrid's or a
	// v2 torrent's v2 infohash from the info and accepts handshakes for
	// both.
	o.t, _ = o.cl.AddTorrentOpt(torrent.AddTorrentOpts{
		InfoHash:  sh.shortHash(),
		InfoBytes: mi.InfoBytes,
	})
	if sh.v2 != nil {
		if errs := o.t.AddPieceLayers(mi.PieceLayers); len(errs) > 0 {
			o.cl.Close()
			return nil, fmt.Errorf("failed to add piece layers: %w", errors.Join(errs...))
		}
	}
	o.t.DownloadAll()
	ctx, stop := context.WithCancel(context.Background())
	o.stop = stop
	o.wg.Go(func() { o.redialLoop(ctx, redial) })
	if probeAfter > 0 {
		o.wg.Go(func() { o.probeLoop(ctx, probeAfter) })
	}
	if cfg.RevisitRate >= 0 {
		o.wg.Go(func() { o.revisitLoop(ctx, cc.DownloadRateLimiter, revisit) })
	}
	if err := o.startDiscovery(ctx, cfg.Discovery, host, mi.UpvertedAnnounceList()); err != nil {
		o.Close()
		return nil, err
	}
	return o, nil
}

// Close stops discovery and the client and drops every connection.
// Records remain readable.
func (o *Observer) Close() error {
	o.stop()
	o.wg.Wait()
	errs := o.cl.Close()
	return errors.Join(errs...)
}

// ListenAddr returns the address the observer accepts peers on, or nil if
// it listens on none.
func (o *Observer) ListenAddr() net.Addr {
	if addrs := o.cl.ListenAddrs(); len(addrs) > 0 {
		return addrs[0]
	}
	return nil
}

// ContentIDs returns every content id an observation of this torrent can
// claim: its btih id (v1 and hybrid), its btmh id (v2 and hybrid) and the
// bt2file id of each of its v2 files.
func (o *Observer) ContentIDs() []protocol.ContentID {
	return o.shape.contentIDs()
}

// Sources accepted by AddPeers, as spec/SPEC.md §5.4 names them.
var peerSources = map[string]torrent.PeerSource{
	"tracker": torrent.PeerSourceTracker,
	"dht":     torrent.PeerSourceDhtGetPeers,
	"pex":     torrent.PeerSourcePex,
	"manual":  torrent.PeerSourceDirect,
}

// AddPeers hands addresses learned from source ("tracker", "dht", "pex"
// or "manual") to the observer, which records them as announced and dials
// them. It fails, adding nothing, on an unknown source or an address that
// cannot be a peer's (zero port, unspecified or multicast IP).
func (o *Observer) AddPeers(source string, addrs ...netip.AddrPort) error {
	if _, ok := peerSources[source]; !ok {
		return fmt.Errorf("failed to add peers: unknown source %q", source)
	}
	for _, a := range addrs {
		if !peerAddr(a) {
			return fmt.Errorf("failed to add peers: %s is not a peer address", a)
		}
	}
	o.addPeers(source, addrs)
	return nil
}

// peerAddr reports whether a can be a peer's address.
func peerAddr(a netip.AddrPort) bool {
	ip := a.Addr()
	return a.IsValid() && a.Port() != 0 && !ip.IsUnspecified() && !ip.IsMulticast() && ip.Zone() == ""
}

// addPeers records addrs, valid peer addresses, as announced by source
// and hands them to anacrolix to dial. It must not be called with the
// client's lock held (from a callback): use recordAnnounced there.
func (o *Observer) addPeers(source string, addrs []netip.AddrPort) {
	if infos := o.recordAnnounced(source, addrs); len(infos) > 0 {
		o.t.AddPeers(infos)
	}
}

// recordAnnounced records addrs, valid peer addresses, as announced by
// source and returns them for anacrolix to dial. Addresses of the observer
// itself are left out, and new addresses beyond maxAnnounced dropped.
func (o *Observer) recordAnnounced(source string, addrs []netip.AddrPort) []torrent.PeerInfo {
	now := o.clock()
	infos := make([]torrent.PeerInfo, 0, len(addrs))
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, a := range addrs {
		a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
		if o.self[a] || o.isListenAddr(a) {
			continue
		}
		if _, ok := o.byAddr[a]; !ok {
			if o.announced >= maxAnnounced {
				if o.dropped++; o.dropped == 1 {
					o.log.Warn("too many announced addresses, dropping the rest", "limit", maxAnnounced, "source", source)
				}
				continue
			}
			o.byAddr[a] = &peerRecord{addr: a, source: source, firstSeen: now, lastSeen: now}
			o.announced++
		}
		if r := o.byAddr[a]; !r.handshake {
			r.dials++
			r.nextDial = now.Add(o.redialInterval << (r.dials - 1))
		}
		infos = append(infos, torrent.PeerInfo{Addr: torrent.PeerRemoteAddr(net.TCPAddrFromAddrPort(a)), Source: peerSources[source]})
	}
	return infos
}

// redialLoop dials again, until ctx ends, the addresses whose redial is
// due: anacrolix forgets an address after one failed attempt.
func (o *Observer) redialLoop(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(min(interval, time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			o.redial(interval, false)
		}
	}
}

// redial hands the addresses that never completed a handshake, were
// dialed fewer than maxDials times and are due (all of them if now), to
// anacrolix again; the wait before the next dial of each doubles.
func (o *Observer) redial(interval time.Duration, now bool) {
	var infos []torrent.PeerInfo
	t := o.clock()
	o.mu.Lock()
	for a, r := range o.byAddr {
		if r.handshake || r.dials >= maxDials || (!now && t.Before(r.nextDial)) {
			continue
		}
		r.dials++
		r.nextDial = t.Add(interval << (r.dials - 1))
		infos = append(infos, torrent.PeerInfo{Addr: torrent.PeerRemoteAddr(net.TCPAddrFromAddrPort(a)), Source: peerSources[r.source]})
	}
	o.mu.Unlock()
	if len(infos) > 0 {
		o.t.AddPeers(infos)
	}
}

// probeLoop starts probes of the peers due for one until ctx ends, and
// waits for them.
func (o *Observer) probeLoop(ctx context.Context, after time.Duration) {
	tick := time.NewTicker(probeTick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		o.mu.Lock()
		targets := o.probeCandidates(o.clock(), after, o.probesRunning)
		o.probesRunning += len(targets)
		o.mu.Unlock()
		for _, pt := range targets {
			o.wg.Go(func() {
				o.runProbe(ctx, pt, o.local)
				o.mu.Lock()
				o.probesRunning--
				o.mu.Unlock()
			})
		}
	}
}

// revisitLoop, each time every piece is verified, lowers the download
// rate to limit and forgets one piece, in turn, so anacrolix fetches it
// again; until ctx ends.
func (o *Observer) revisitLoop(ctx context.Context, lim *rate.Limiter, limit rate.Limit) {
	for next := 0; ; next = (next + 1) % len(o.verified) {
		select {
		case <-ctx.Done():
			return
		case <-o.complete:
		}
		if lim.Limit() > limit {
			lim.SetLimit(limit)
			o.log.Info("every piece verified; revisiting pieces", "rate", float64(limit))
		}
		first := next == 0
		o.mu.Lock()
		if o.verified[next] {
			o.verified[next] = false
			o.nVerified--
		}
		o.mu.Unlock()
		o.store.forget(next)
		o.t.Piece(next).UpdateCompletion()
		if first {
			// anacrolix stopped dialing when it needed no more data:
			// dial the addresses it dropped meanwhile now.
			o.redial(o.redialInterval, true)
		}
	}
}

// isListenAddr reports whether a is an address the observer listens on.
func (o *Observer) isListenAddr(a netip.AddrPort) bool {
	return slices.Contains(o.listen, a)
}

// UploadedBytes returns the payload bytes the observer sent to peers. It
// never uploads, so anything but 0 is a bug.
func (o *Observer) UploadedBytes() int64 {
	s := o.t.Stats()
	return s.BytesWrittenData.Int64()
}

// Peers returns every address seen, strongest evidence first. Evidence is
// presented as Observation presents it.
func (o *Observer) Peers() []PeerReport {
	return o.reports(o.view)
}

func (o *Observer) reports(v view) []PeerReport {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]PeerReport, 0, len(o.byAddr))
	for _, r := range o.byAddr {
		out = append(out, PeerReport{Addr: r.addr, Evidence: o.evidence(r, v), FailedPieces: r.failed})
	}
	slices.SortFunc(out, func(a, b PeerReport) int {
		if c := gradeRank(a.Evidence.Grade) - gradeRank(b.Evidence.Grade); c != 0 {
			return c
		}
		return a.Addr.Compare(b.Addr)
	})
	return out
}

// Observation returns what was observed so far as a protocol.Observation
// for protocol.BuildAssertion, naming the swarm by its btih id for a v1
// torrent and by its btmh id for a v2 or hybrid torrent: one peer per IP
// address (the strongest record when several ports of one IP were seen),
// at most protocol.MaxPeers of them, strongest first; the window running
// from New to now. It fails if no peer was seen.
func (o *Observer) Observation() (protocol.Observation, error) {
	return o.observation(o.view)
}

// ObservationFor is Observation claiming content, one of ContentIDs: a
// hybrid torrent's btih id gives piece proofs with SHA-1 hashes, its btmh
// id with BEP 52 hashes. For a bt2file id the swarm is the torrent's btmh
// id and only pieces of that file count towards verified-transfer.
func (o *Observer) ObservationFor(content protocol.ContentID) (protocol.Observation, error) {
	v, err := o.shape.viewOf(content)
	if err != nil {
		return protocol.Observation{}, err
	}
	return o.observation(v)
}

func (o *Observer) observation(v view) (protocol.Observation, error) {
	reports := o.reports(v)
	best := map[netip.Addr]protocol.Evidence{}
	var order []netip.Addr
	for _, r := range reports { // strongest first: the first per IP wins
		if _, ok := best[r.Addr.Addr()]; ok {
			continue
		}
		if len(order) == protocol.MaxPeers {
			break
		}
		best[r.Addr.Addr()] = r.Evidence
		order = append(order, r.Addr.Addr())
	}
	if len(order) == 0 {
		return protocol.Observation{}, errors.New("failed to build observation: no peer seen")
	}
	o.mu.Lock()
	start := o.start
	end := start
	for _, r := range o.byAddr {
		if r.lastSeen.After(end) {
			end = r.lastSeen
		}
	}
	o.mu.Unlock()
	if now := o.clock(); now.After(end) {
		end = now
	}
	obs := protocol.Observation{
		Content:    v.content,
		Swarm:      v.swarm,
		PieceCount: len(o.shape.pieces),
		Observed:   protocol.Window{Start: start, End: end},
	}
	slices.SortFunc(order, netip.Addr.Compare)
	for _, a := range order {
		obs.Peers = append(obs.Peers, protocol.ObservedPeer{Addr: a, Evidence: best[a]})
	}
	return obs, nil
}

// evidence grades r as v presents it: only pieces in v's range count, and
// their hashes are of v's kind. The caller holds o.mu.
func (o *Observer) evidence(r *peerRecord, v view) protocol.Evidence {
	e := protocol.Evidence{
		Grade:     protocol.GradeAnnounced,
		Port:      r.addr.Port(),
		Source:    r.source,
		FirstSeen: r.firstSeen,
		LastSeen:  r.lastSeen,
	}
	if !r.handshake {
		return e
	}
	e.Grade = protocol.GradeHandshake
	e.Transport = r.transport
	e.PeerID = r.peerID
	e.Client = cleanClient(r.client)
	e.Bytes = r.bytes
	if r.failed > 0 || r.bytes <= 0 {
		return e
	}
	if e.Pieces = o.proofs(r, v, nil); len(e.Pieces) > 0 {
		e.Grade = protocol.GradeVerifiedTransfer
	}
	return e
}

// proofs returns the piece proofs of r's verified pieces as v presents
// them, at most protocol.MaxPiecesPerPeer, keeping only pieces in v's
// range and, if keep is set, those keep accepts. The caller holds o.mu.
func (o *Observer) proofs(r *peerRecord, v view, keep func(verifiedPiece) bool) []protocol.PieceProof {
	var out []protocol.PieceProof
	for _, p := range r.pieces {
		if p.index < v.begin || p.index >= v.end || keep != nil && !keep(p) {
			continue
		}
		if len(out) == protocol.MaxPiecesPerPeer {
			break
		}
		out = append(out, protocol.PieceProof{Index: p.index, Hash: o.shape.pieceHash(v, p.index), At: p.at})
	}
	return out
}

func gradeRank(g protocol.Grade) int {
	switch g {
	case protocol.GradeVerifiedTransfer:
		return 0
	case protocol.GradeHandshake:
		return 1
	}
	return 2
}

// cleanClient makes a peer-reported client name valid spec text: control
// characters and invalid UTF-8 removed, at most protocol.MaxNameLength
// bytes, never splitting a character.
func cleanClient(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	if len(s) > protocol.MaxNameLength {
		s = s[:protocol.MaxNameLength]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}

func (o *Observer) clock() time.Time { return o.now().UTC() }

// connAddr returns a connection's remote address, IPv4 unmapped.
func connAddr(p *torrent.Peer) (netip.AddrPort, bool) {
	ap, err := netip.ParseAddrPort(p.RemoteAddr.String())
	if err != nil {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
}

// record returns the record for a connection, creating it on first sight.
// The caller holds o.mu.
func (o *Observer) record(p *torrent.Peer) *peerRecord {
	if r, ok := o.byPeer[p]; ok {
		return r
	}
	ap, ok := connAddr(p)
	if !ok {
		return nil
	}
	r, ok := o.byAddr[ap]
	if !ok {
		now := o.clock()
		r = &peerRecord{addr: ap, source: sourceName(p.Discovery), firstSeen: now, lastSeen: now}
		o.byAddr[ap] = r
		o.announced++
	}
	o.byPeer[p] = r
	return r
}

func sourceName(s torrent.PeerSource) string {
	switch s {
	case torrent.PeerSourceTracker:
		return "tracker"
	case torrent.PeerSourceDhtGetPeers, torrent.PeerSourceDhtAnnouncePeer:
		return "dht"
	case torrent.PeerSourcePex, torrent.PeerSourceUtHolepunch:
		return "pex"
	case torrent.PeerSourceIncoming:
		return "incoming"
	}
	return "manual"
}

func (o *Observer) onHandshake(pc *torrent.PeerConn, ih metainfo.Hash) {
	if !slices.Contains(o.shape.shortHashes(), [20]byte(ih)) {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if pc.PeerID == o.peerID {
		// A connection to the observer itself, listed by a tracker or a
		// peer: forget the address.
		if ap, ok := connAddr(&pc.Peer); ok {
			o.self[ap] = true
			if r := o.byAddr[ap]; r != nil && !r.handshake {
				delete(o.byAddr, ap)
				o.announced--
			}
		}
		return
	}
	r := o.record(&pc.Peer)
	if r == nil {
		return
	}
	if !r.handshake {
		o.announced--
	}
	r.handshake = true
	r.lastSeen = o.clock()
	if r.handshakeAt.IsZero() {
		r.handshakeAt = r.lastSeen
	}
	r.peerID = hex.EncodeToString(pc.PeerID[:])
	r.transport = "tcp"
	if strings.HasPrefix(pc.Network, "utp") {
		r.transport = "utp"
	}
	o.log.Info("handshake", "peer", r.addr, "transport", r.transport, "peer_id", r.peerID, "source", r.source, "infohash", ih.HexString())
}

// onConnAdded sets up a new connection before it exchanges messages: it
// caps the requests anacrolix keeps outstanding to the peer, and sets the
// extensions the observer advertises (BEP 10): never ut_metadata (it hands
// out nothing, not even the info dictionary) nor ut_holepunch (through
// which a peer could have it dial any address the peer names); ut_pex if
// peer exchange is on, handled by onExtensionMessage so that nothing is
// ever sent. It runs with the client's lock held.
func (o *Observer) onConnAdded(pc *torrent.PeerConn) {
	pc.PeerMaxRequests = min(pc.PeerMaxRequests, o.maxRequests)
	old := pc.LocalLtepProtocolMap
	m := torrent.LocalLtepProtocolMap{}
	for i, name := range old.Index {
		if name == utHolepunch.ExtensionName || name == pp.ExtensionNamePex || name == pp.ExtensionNameMetadata {
			continue
		}
		m.Index = append(m.Index, name)
		if i < old.NumBuiltin {
			m.NumBuiltin++
		}
	}
	if o.pex {
		m.AddUserProtocol(pp.ExtensionNamePex)
	}
	pc.LocalLtepProtocolMap = &m
}

// onExtendedHandshake records the client name a peer reports, and lowers
// the request queue length it offers (reqq) to the observer's cap before
// anacrolix applies it.
func (o *Observer) onExtendedHandshake(pc *torrent.PeerConn, m *pp.ExtendedHandshakeMessage) {
	if m.Reqq > o.maxRequests {
		m.Reqq = o.maxRequests
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	r := o.byPeer[&pc.Peer]
	if r == nil {
		return
	}
	if m.V != "" {
		r.client = m.V
	}
	if m.Port > 0 && m.Port <= math.MaxUint16 {
		r.listenPort = uint16(m.Port)
	}
}

func (o *Observer) onMessage(pc *torrent.PeerConn, _ *pp.Message) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if r := o.byPeer[&pc.Peer]; r != nil {
		r.lastSeen = o.clock()
	}
}

func (o *Observer) onClosed(pc *torrent.PeerConn) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if r := o.byPeer[&pc.Peer]; r != nil {
		r.lastSeen = o.clock()
		delete(o.byPeer, &pc.Peer)
	}
}

func (o *Observer) onUsefulData(ev torrent.ReceivedUsefulDataEvent) {
	o.mu.Lock()
	defer o.mu.Unlock()
	r := o.byPeer[ev.Peer]
	if r == nil {
		return
	}
	r.bytes += int64(len(ev.Message.Piece))
	r.lastSeen = o.clock()
	i := int(ev.Message.Index)
	if o.touched[i] == nil {
		o.touched[i] = map[*peerRecord][]block{}
	}
	b := block{begin: int(ev.Message.Begin), size: len(ev.Message.Piece), sum: sha256.Sum256(ev.Message.Piece)}
	o.touched[i][r] = append(o.touched[i][r], b)
}

// pieceVerdict attributes a hashed piece to the peers that supplied its
// blocks since its previous check. A passing piece counts as verified for
// every contributor (the hash covers each of their blocks) and settles the
// blocks held from earlier failed checks: a peer whose block differs from
// the verified data is recorded as failing. A failing piece with a single
// contributor fails that peer at once.
func (o *Observer) pieceVerdict(index int, data []byte, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.clock()
	contributors := o.touched[index]
	delete(o.touched, index)
	if !ok {
		if len(contributors) == 1 {
			for r := range contributors {
				o.fail(r, index)
			}
			return
		}
		for r, blocks := range contributors {
			for _, b := range blocks {
				o.suspect[index] = append(o.suspect[index], suspectBlock{r: r, block: b})
			}
		}
		return
	}
	for _, s := range o.suspect[index] {
		if s.begin+s.size > len(data) || sha256.Sum256(data[s.begin:s.begin+s.size]) != s.sum {
			o.fail(s.r, index)
		}
	}
	delete(o.suspect, index)
	if !o.verified[index] {
		o.verified[index] = true
		if o.nVerified++; o.nVerified == len(o.verified) {
			o.allVerified = true
			select {
			case o.complete <- struct{}{}:
			default:
			}
		}
	}
	for r := range contributors {
		// A piece supplied again is fresh evidence: its time moves, so a
		// later window sees the peer as verified again.
		if i := slices.IndexFunc(r.pieces, func(p verifiedPiece) bool { return p.index == index }); i >= 0 {
			r.pieces[i].at = now
		} else {
			r.pieces = append(r.pieces, verifiedPiece{index: index, at: now})
		}
		if now.After(r.lastSeen) {
			r.lastSeen = now
		}
	}
}

// fail records that r supplied bad data for a piece. The caller holds o.mu.
func (o *Observer) fail(r *peerRecord, index int) {
	r.failed++
	o.log.Warn("peer supplied data that failed the hash check", "piece", index, "peer", r.addr)
}

// closedSwarmConfig returns a client configuration that finds peers only
// where it is told: no DHT, PEX, trackers, web seeds or port forwarding,
// IPv4 only.
func closedSwarmConfig() *torrent.ClientConfig {
	cc := torrent.NewDefaultClientConfig()
	cc.NoDHT = true
	cc.DisablePEX = true
	cc.DisableTrackers = true
	cc.DisableWebseeds = true
	cc.DisableWebtorrent = true
	cc.NoDefaultPortForwarding = true
	cc.DisableIPv6 = true
	return cc
}
