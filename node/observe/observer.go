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
// it is hashed, then dropped; only its completion state is kept. Only v1
// (btih) swarms are observed.
package observe

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
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
	"golang.org/x/time/rate"

	"github.com/docket-project/docket/protocol"
)

// Config configures an Observer. The zero value is usable.
type Config struct {
	// ListenAddr is the host:port the observer listens on (TCP and uTP).
	// Empty means an ephemeral port on all interfaces.
	ListenAddr string
	// DisableUTP turns uTP off; connections then use TCP only.
	DisableUTP bool
	// DownloadRate caps the download in bytes per second; 0 means no cap.
	// A cap spreads requests over more peers before the content is
	// complete, so more peers end with a verified piece.
	DownloadRate int
	// Logger receives the observer's and anacrolix's logs; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Observer observes one swarm. It is safe for concurrent use.
type Observer struct {
	cl       *torrent.Client
	t        *torrent.Torrent
	log      *slog.Logger
	now      func() time.Time
	infoHash metainfo.Hash
	pieces   int

	mu     sync.Mutex
	start  time.Time
	byAddr map[netip.AddrPort]*peerRecord
	byPeer map[*torrent.Peer]*peerRecord
	// touched holds, per piece, the blocks each peer supplied since the
	// piece's last hash check; suspect the blocks of failed checks with
	// several contributors, judged once the piece passes.
	touched map[int]map[*peerRecord][]block
	suspect map[int][]suspectBlock
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
	// Set once a handshake completed.
	handshake bool
	transport string
	peerID    string
	client    string
	bytes     int64
	pieces    []protocol.PieceProof
	failed    int
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

// New parses v1 metainfo (a .torrent file's bytes), starts an anacrolix
// client that never uploads, and begins downloading from whatever peers
// AddPeers supplies. DHT, PEX, trackers, LSD and port forwarding are off.
func New(cfg Config, metainfoBytes []byte) (*Observer, error) {
	mi, err := metainfo.Load(bytes.NewReader(metainfoBytes))
	if err != nil {
		return nil, fmt.Errorf("failed to parse metainfo: %w", err)
	}
	info, err := mi.UnmarshalInfo()
	if err != nil {
		return nil, fmt.Errorf("failed to parse info: %w", err)
	}
	if info.NumPieces() == 0 || len(info.Pieces) != 20*info.NumPieces() {
		return nil, errors.New("failed to parse info: not a v1 torrent (no v1 piece hashes)")
	}
	o := &Observer{
		log:      cfg.Logger,
		now:      cfg.Now,
		infoHash: mi.HashInfoBytes(),
		pieces:   info.NumPieces(),
		byAddr:   map[netip.AddrPort]*peerRecord{},
		byPeer:   map[*torrent.Peer]*peerRecord{},
		touched:  map[int]map[*peerRecord][]block{},
		suspect:  map[int][]suspectBlock{},
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
	cc.DefaultStorage = &discardStorage{verdict: o.pieceVerdict}
	if cfg.DownloadRate > 0 {
		cc.DownloadRateLimiter = rate.NewLimiter(rate.Limit(cfg.DownloadRate), 1<<14)
	}
	listen := cfg.ListenAddr
	if listen == "" {
		listen = ":0"
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("failed to parse listen address: %w", err)
	}
	cc.ListenHost = func(string) string { return host }
	if cc.ListenPort, err = strconv.Atoi(port); err != nil {
		return nil, fmt.Errorf("failed to parse listen port: %w", err)
	}
	cc.Callbacks.CompletedHandshake = o.onHandshake
	cc.Callbacks.ReadExtendedHandshake = o.onExtendedHandshake
	cc.Callbacks.ReadMessage = o.onMessage
	cc.Callbacks.PeerConnClosed = o.onClosed
	cc.Callbacks.ReceivedUsefulData = append(cc.Callbacks.ReceivedUsefulData, o.onUsefulData)

	o.cl, err = torrent.NewClient(cc)
	if err != nil {
		return nil, fmt.Errorf("failed to start client: %w", err)
	}
	o.t, _ = o.cl.AddTorrentOpt(torrent.AddTorrentOpts{
		InfoHash:  o.infoHash,
		InfoBytes: mi.InfoBytes,
	})
	o.t.DownloadAll()
	return o, nil
}

// Close stops the client and drops every connection. Records remain
// readable.
func (o *Observer) Close() error {
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

// Sources accepted by AddPeers, as spec/SPEC.md §5.4 names them.
var peerSources = map[string]torrent.PeerSource{
	"tracker": torrent.PeerSourceTracker,
	"dht":     torrent.PeerSourceDhtGetPeers,
	"pex":     torrent.PeerSourcePex,
	"manual":  torrent.PeerSourceDirect,
}

// AddPeers hands addresses learned from source ("tracker", "dht", "pex"
// or "manual") to the observer, which records them as announced and dials
// them.
func (o *Observer) AddPeers(source string, addrs ...netip.AddrPort) error {
	ps, ok := peerSources[source]
	if !ok {
		return fmt.Errorf("failed to add peers: unknown source %q", source)
	}
	now := o.clock()
	infos := make([]torrent.PeerInfo, 0, len(addrs))
	o.mu.Lock()
	for _, a := range addrs {
		a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
		if _, ok := o.byAddr[a]; !ok {
			o.byAddr[a] = &peerRecord{addr: a, source: source, firstSeen: now, lastSeen: now}
		}
		infos = append(infos, torrent.PeerInfo{Addr: torrent.PeerRemoteAddr(net.TCPAddrFromAddrPort(a)), Source: ps})
	}
	o.mu.Unlock()
	o.t.AddPeers(infos)
	return nil
}

// UploadedBytes returns the payload bytes the observer sent to peers. It
// never uploads, so anything but 0 is a bug.
func (o *Observer) UploadedBytes() int64 {
	s := o.t.Stats()
	return s.BytesWrittenData.Int64()
}

// Peers returns every address seen, strongest evidence first.
func (o *Observer) Peers() []PeerReport {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]PeerReport, 0, len(o.byAddr))
	for _, r := range o.byAddr {
		out = append(out, PeerReport{Addr: r.addr, Evidence: r.evidence(), FailedPieces: r.failed})
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
// for protocol.BuildAssertion: one peer per IP address (the strongest
// record when several ports of one IP were seen), the window running from
// New to now. It fails if no peer was seen.
func (o *Observer) Observation() (protocol.Observation, error) {
	reports := o.Peers()
	best := map[netip.Addr]protocol.Evidence{}
	var order []netip.Addr
	for _, r := range reports { // strongest first: the first per IP wins
		if _, ok := best[r.Addr.Addr()]; ok {
			continue
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
	id := protocol.V1ContentID(o.infoHash)
	obs := protocol.Observation{
		Content:    id,
		Swarm:      id,
		PieceCount: o.pieces,
		Observed:   protocol.Window{Start: start, End: end},
	}
	slices.SortFunc(order, netip.Addr.Compare)
	for _, a := range order {
		obs.Peers = append(obs.Peers, protocol.ObservedPeer{Addr: a, Evidence: best[a]})
	}
	return obs, nil
}

// evidence grades r. The caller holds the Observer's mutex.
func (r *peerRecord) evidence() protocol.Evidence {
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
	if len(r.pieces) > 0 && r.failed == 0 && r.bytes > 0 {
		e.Grade = protocol.GradeVerifiedTransfer
		e.Pieces = slices.Clone(r.pieces[:min(len(r.pieces), protocol.MaxPiecesPerPeer)])
	}
	return e
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

// record returns the record for a connection, creating it on first sight.
// The caller holds o.mu.
func (o *Observer) record(p *torrent.Peer) *peerRecord {
	if r, ok := o.byPeer[p]; ok {
		return r
	}
	ap, err := netip.ParseAddrPort(p.RemoteAddr.String())
	if err != nil {
		return nil
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	r, ok := o.byAddr[ap]
	if !ok {
		now := o.clock()
		r = &peerRecord{addr: ap, source: sourceName(p.Discovery), firstSeen: now, lastSeen: now}
		o.byAddr[ap] = r
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
	case torrent.PeerSourcePex:
		return "pex"
	case torrent.PeerSourceIncoming:
		return "incoming"
	}
	return "manual"
}

func (o *Observer) onHandshake(pc *torrent.PeerConn, ih metainfo.Hash) {
	if ih != o.infoHash {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	r := o.record(&pc.Peer)
	if r == nil {
		return
	}
	r.handshake = true
	r.lastSeen = o.clock()
	r.peerID = hex.EncodeToString(pc.PeerID[:])
	r.transport = "tcp"
	if strings.HasPrefix(pc.Network, "utp") {
		r.transport = "utp"
	}
	o.log.Info("handshake", "peer", r.addr, "transport", r.transport, "peer_id", r.peerID)
}

func (o *Observer) onExtendedHandshake(pc *torrent.PeerConn, m *pp.ExtendedHandshakeMessage) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if r := o.record(&pc.Peer); r != nil && m.V != "" {
		r.client = m.V
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
func (o *Observer) pieceVerdict(index int, hash string, data []byte, ok bool) {
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
	for r := range contributors {
		if !slices.ContainsFunc(r.pieces, func(p protocol.PieceProof) bool { return p.Index == index }) {
			r.pieces = append(r.pieces, protocol.PieceProof{Index: index, Hash: hash, At: now})
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
