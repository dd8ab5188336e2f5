package devnet

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	utHolepunch "github.com/anacrolix/torrent/peer_protocol/ut-holepunch"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	g "github.com/anacrolix/generics"
	alog "github.com/anacrolix/log"
	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
	"github.com/anacrolix/torrent/tracker"
	httpTrackerServer "github.com/anacrolix/torrent/tracker/http/server"
	trackerServer "github.com/anacrolix/torrent/tracker/server"
	"github.com/anacrolix/torrent/tracker/udp"
	infohash_v2 "github.com/anacrolix/torrent/types/infohash-v2"
	"golang.org/x/time/rate"

	"github.com/docket-project/docket/protocol"
)

// DebugEnv names the environment variable that, set to 1, sends the
// logs of the swarm's BitTorrent clients and tracker to standard error
// (they are discarded otherwise).
const DebugEnv = "DOCKET_DEVNET_DEBUG"

// PieceLength is the piece length of the torrents MakeTorrent writes.
const PieceLength = 16 << 10

// MaxTorrentSize bounds the content MakeTorrent writes.
const MaxTorrentSize = 1 << 30

// Torrent is a devnet swarm's content: a .torrent file and its data.
type Torrent struct {
	// File is the path of the .torrent file.
	File string
	// DataDir is the directory holding the content, the file named Name:
	// what SeedOptions.DataDir takes.
	DataDir string
	// InfoHash is the torrent's (v1) infohash.
	InfoHash [20]byte
	// ContentID is the torrent's content id, btih:<InfoHash in hex>.
	ContentID protocol.ContentID
	// Name is the content's file name.
	Name string
	// Pieces is the number of pieces.
	Pieces int
}

// MakeTorrent writes random content of size bytes (piece length 16 KiB,
// v1, single file named name) under dir/data and its metainfo to
// dir/NAME.torrent, announcing to trackerURL (an http, https or udp URL;
// empty for a torrent without trackers). It refuses to overwrite either
// file; on error it leaves no file behind.
func MakeTorrent(dir, name string, size int64, trackerURL string) (_ *Torrent, err error) {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) || !filepath.IsLocal(name) {
		return nil, fmt.Errorf("failed to make torrent: name %q is not a plain file name", name)
	}
	if size <= 0 || size > MaxTorrentSize {
		return nil, fmt.Errorf("failed to make torrent: size %d is not between 1 byte and %d bytes", size, MaxTorrentSize)
	}
	if trackerURL != "" {
		if err := checkTrackerURL(trackerURL); err != nil {
			return nil, fmt.Errorf("failed to make torrent: %w", err)
		}
	}
	dataDir := filepath.Join(dir, "data")
	dataPath := filepath.Join(dataDir, name)
	torrentPath := filepath.Join(dir, name+".torrent")
	if _, err := os.Lstat(torrentPath); err == nil {
		return nil, fmt.Errorf("failed to make torrent: %s already exists", torrentPath)
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("failed to make torrent: %w", err)
	}
	f, err := os.OpenFile(dataPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("failed to make torrent: %w", err)
	}
	defer func() {
		if err != nil {
			os.Remove(dataPath)
			os.Remove(torrentPath)
		}
	}()
	_, err = io.CopyN(f, rand.Reader, size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("failed to write %s: %w", dataPath, err)
	}

	info := metainfo.Info{PieceLength: PieceLength}
	if err := info.BuildFromFilePath(dataPath); err != nil {
		return nil, fmt.Errorf("failed to hash %s: %w", dataPath, err)
	}
	mi := metainfo.MetaInfo{CreatedBy: "docket devnet", CreationDate: time.Now().Unix()}
	if mi.InfoBytes, err = bencode.Marshal(&info); err != nil {
		return nil, fmt.Errorf("failed to encode the torrent's info: %w", err)
	}
	if trackerURL != "" {
		mi.Announce = trackerURL
		mi.AnnounceList = metainfo.AnnounceList{{trackerURL}}
	}
	var buf bytes.Buffer
	if err := mi.Write(&buf); err != nil {
		return nil, fmt.Errorf("failed to encode the torrent: %w", err)
	}
	tf, err := os.OpenFile(torrentPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("failed to make torrent: %w", err)
	}
	_, err = tf.Write(buf.Bytes())
	if cerr := tf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("failed to write %s: %w", torrentPath, err)
	}
	ih := mi.HashInfoBytes()
	return &Torrent{
		File:      torrentPath,
		DataDir:   dataDir,
		InfoHash:  ih,
		ContentID: protocol.V1ContentID(ih),
		Name:      name,
		Pieces:    info.NumPieces(),
	}, nil
}

// checkTrackerURL accepts the tracker URLs anacrolix announces to.
func checkTrackerURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("tracker URL %q does not parse: %w", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "udp") || u.Host == "" {
		return fmt.Errorf("tracker URL %q is not an http, https or udp URL with a host", s)
	}
	return nil
}

// logger returns where the swarm's logs go: standard error if DebugEnv
// is 1, nowhere otherwise.
func logger() *slog.Logger {
	if os.Getenv(DebugEnv) == "1" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

// anacrolixLogger routes an anacrolix/log user's messages to l.
func anacrolixLogger(l *slog.Logger, names ...string) alog.Logger {
	al := alog.NewLogger(names...)
	al.SetHandlers(alog.SlogHandlerAsHandler{SlogHandler: l.Handler()})
	return al
}

// The tracker's limits and timings.
const (
	// trackerInterval is the announce interval the tracker asks for.
	// Seed's seeders follow it; the observer waits the longer of this
	// and its own interval (anacrolix's own announcer waits at least a
	// minute whatever a tracker says).
	trackerInterval = 5 * time.Second
	// trackerPeerTTL is how long an announced address stays listed
	// without a new announce.
	trackerPeerTTL = 3 * time.Minute
	// maxTrackedSwarms and maxTrackedPeers bound the tracker's memory:
	// announces beyond them are refused.
	maxTrackedSwarms = 1024
	maxTrackedPeers  = 4096
)

// Tracker is a BitTorrent HTTP tracker (anacrolix tracker/http/server)
// that keeps peers in memory. An announced address is listed until it
// announces "stopped" or for 3 minutes after its last announce; an
// injected one until Close. Every address is listed to every asker but
// itself.
type Tracker struct {
	srv   *http.Server
	url   string
	done  chan struct{} // closed when the server stopped serving
	store *peerStore

	closeOnce sync.Once
	closeErr  error
}

// StartTracker listens on addr (host:port; port 0 = any) and serves
// /announce until Close.
func StartTracker(addr string) (*Tracker, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("failed to start the tracker on %s: %w", addr, err)
	}
	t := &Tracker{
		url:   "http://" + ln.Addr().String() + "/announce",
		done:  make(chan struct{}),
		store: &peerStore{now: time.Now, swarms: map[[20]byte]map[netip.AddrPort]trackedPeer{}},
	}
	mux := http.NewServeMux()
	mux.Handle("/announce", httpTrackerServer.Handler{
		Announce: &trackerServer.AnnounceHandler{AnnounceTracker: t.store},
	})
	t.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger().Handler(), slog.LevelWarn),
	}
	go func() {
		defer close(t.done)
		t.srv.Serve(ln)
	}()
	return t, nil
}

// URL returns the announce URL, http://host:port/announce.
func (t *Tracker) URL() string { return t.url }

// Inject lists an address for ih as if it had announced, although it
// never did (a joe job): it stays listed until Close, or until an
// announce from that address says "stopped". A tracker already full
// (4096 addresses for ih, or 1024 swarms) lists nothing more.
func (t *Tracker) Inject(ih [20]byte, peer netip.AddrPort) {
	t.store.put(ih, unmapped(peer), false, true)
}

// Peers returns the addresses the tracker lists for ih now, sorted.
func (t *Tracker) Peers(ih [20]byte) []netip.AddrPort {
	return t.store.list(ih)
}

// Close stops serving and closes every connection.
func (t *Tracker) Close() error {
	t.closeOnce.Do(func() {
		t.closeErr = t.srv.Close()
		<-t.done
	})
	return t.closeErr
}

// trackedPeer is a listed address.
type trackedPeer struct {
	// expires is when the address drops out of the list; zero means
	// never (injected).
	expires time.Time
	// seeder is set for an announcer that has nothing left to download.
	seeder bool
}

// peerStore is the tracker's memory, the AnnounceTracker behind
// anacrolix's HTTP tracker server.
type peerStore struct {
	mu     sync.Mutex
	now    func() time.Time // the clock
	swarms map[[20]byte]map[netip.AddrPort]trackedPeer
}

func unmapped(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// put lists addr for ih, for trackerPeerTTL or, if injected, until
// Close, unless the tracker is full.
func (s *peerStore) put(ih [20]byte, addr netip.AddrPort, seeder, injected bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	swarm := s.swarms[ih]
	if swarm == nil {
		if len(s.swarms) >= maxTrackedSwarms {
			return fmt.Errorf("the tracker already tracks %d swarms", maxTrackedSwarms)
		}
		swarm = map[netip.AddrPort]trackedPeer{}
		s.swarms[ih] = swarm
	}
	cur, listed := swarm[addr]
	if !listed && len(swarm) >= maxTrackedPeers {
		s.expire(ih)
		if len(swarm) >= maxTrackedPeers {
			return fmt.Errorf("the tracker already lists %d peers for %x", maxTrackedPeers, ih)
		}
	}
	p := trackedPeer{seeder: seeder}
	if !injected && !(listed && cur.expires.IsZero()) { // injected stays injected
		p.expires = s.now().Add(trackerPeerTTL)
	}
	swarm[addr] = p
	return nil
}

// expire drops the addresses of ih whose listing lapsed. s.mu is held.
func (s *peerStore) expire(ih [20]byte) {
	now := s.now()
	for a, p := range s.swarms[ih] {
		if !p.expires.IsZero() && !now.Before(p.expires) {
			delete(s.swarms[ih], a)
		}
	}
	if len(s.swarms[ih]) == 0 {
		delete(s.swarms, ih)
	}
}

// list returns the addresses listed for ih, sorted.
func (s *peerStore) list(ih [20]byte) []netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(ih)
	out := make([]netip.AddrPort, 0, len(s.swarms[ih]))
	for a := range s.swarms[ih] {
		out = append(out, a)
	}
	slices.SortFunc(out, netip.AddrPort.Compare)
	return out
}

// TrackAnnounce records an announce from addr (the request's source IP
// and announced port).
func (s *peerStore) TrackAnnounce(_ context.Context, req udp.AnnounceRequest, addr netip.AddrPort) error {
	addr = unmapped(addr)
	if addr.Port() == 0 {
		return nil // no port to list
	}
	if req.Event == tracker.Stopped {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.swarms[req.InfoHash], addr)
		if len(s.swarms[req.InfoHash]) == 0 {
			delete(s.swarms, req.InfoHash)
		}
		return nil
	}
	return s.put(req.InfoHash, addr, req.Left == 0, false)
}

// Scrape is not supported: the tracker answers no scrape requests.
func (s *peerStore) Scrape(context.Context, []trackerServer.InfoHash) ([]udp.ScrapeInfohashResult, error) {
	return nil, errors.New("scrape is not supported")
}

// GetPeers returns the addresses listed for ih but remote's, at most
// opts.MaxCount.
func (s *peerStore) GetPeers(_ context.Context, ih [20]byte, opts trackerServer.GetPeersOpts, remote netip.AddrPort) trackerServer.ServerAnnounceResult {
	remote = unmapped(remote)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(ih)
	res := trackerServer.ServerAnnounceResult{Interval: g.Some(int32(trackerInterval / time.Second))}
	var seeders, leechers int32
	for a, p := range s.swarms[ih] {
		if p.seeder {
			seeders++
		} else {
			leechers++
		}
		if a == remote || (opts.MaxCount.Ok && uint(len(res.Peers)) >= opts.MaxCount.Value) {
			continue
		}
		res.Peers = append(res.Peers, trackerServer.PeerInfo{AnnounceAddr: a})
	}
	res.Seeders, res.Leechers = g.Some(seeders), g.Some(leechers)
	return res
}

// SeedOptions configures Seed.
type SeedOptions struct {
	// Torrent is the .torrent file.
	Torrent string
	// DataDir is the directory holding the complete data, laid out as
	// anacrolix stores it: DataDir/NAME for a v1 single-file torrent
	// (what MakeTorrent writes), DataDir/NAME/PATH... for a multi-file
	// one and for any v2 torrent, even of a single file. It is only read.
	DataDir string
	// Listen has one address per anacrolix client: the client listens
	// there (port 0 = any) and dials from there, so trackers and peers see
	// each client at an IP of its own.
	Listen []netip.AddrPort
	// Announce announces to the torrent's trackers from each address:
	// "started" once the client's data is verified, again at the
	// tracker's interval (at least a second, at most 5 minutes), and
	// "stopped" when Seed ends.
	Announce bool
	// Victims are plain TCP servers that are NOT BitTorrent peers: each
	// accepts, writes "victim\n" and closes.
	Victims []netip.AddrPort
	// Ready, if set, is called once every client listens with its data
	// verified and every victim listens, with their addresses, ports
	// resolved: Listen's in order, then Victims'.
	Ready func(listening []netip.AddrPort)
}

// The seeders' timings.
const (
	// announceTimeout bounds one announce.
	announceTimeout = 10 * time.Second
	// stoppedTimeout bounds the "stopped" announce made on the way out.
	stoppedTimeout = 2 * time.Second
	// announceRetry is the wait after a failed announce.
	announceRetry = 5 * time.Second
	// minAnnounceWait and maxAnnounceWait bound the interval a tracker
	// can ask for.
	minAnnounceWait = time.Second
	maxAnnounceWait = 5 * time.Minute
	// verifyRounds bounds the verification passes over a client's data.
	verifyRounds = 3
	// settleTimeout bounds the wait for the last piece checks of a pass
	// to be recorded.
	settleTimeout = 10 * time.Second
)

// validate checks o's fields without touching any file or socket.
func (o *SeedOptions) validate() error {
	if o.Torrent == "" {
		return errors.New("failed to seed: no torrent file given")
	}
	if o.DataDir == "" {
		return errors.New("failed to seed: no data directory given")
	}
	if len(o.Listen) == 0 {
		return errors.New("failed to seed: no listen address given")
	}
	seen := map[netip.AddrPort]string{}
	for _, l := range []struct {
		field string
		addrs []netip.AddrPort
	}{{"Listen", o.Listen}, {"Victims", o.Victims}} {
		for _, a := range l.addrs {
			ip := a.Addr()
			if !a.IsValid() || ip.IsUnspecified() || ip.IsMulticast() || ip.Zone() != "" || ip.Is4In6() {
				return fmt.Errorf("failed to seed: %s: %s is not an address to listen on", l.field, a)
			}
			if prev, ok := seen[a]; ok {
				return fmt.Errorf("failed to seed: %s has %s, which %s has already: each address can serve only once", l.field, a, prev)
			}
			seen[a] = l.field
		}
	}
	return nil
}

// Seed seeds the torrent from every Listen address until ctx is done,
// then closes everything (anacrolix Close) and returns. Each client is
// seeding-only, TCP only, without DHT or PEX and without upload limits;
// its data is verified before it is announced, and a client whose data
// is incomplete is an error naming the file. Errors name the address
// that failed. Seed writes nothing: piece completion is kept in memory.
func Seed(ctx context.Context, o SeedOptions) (err error) {
	if err := o.validate(); err != nil {
		return err
	}
	mi, err := metainfo.LoadFromFile(o.Torrent)
	if err != nil {
		return fmt.Errorf("failed to seed: failed to read torrent %s: %w", o.Torrent, err)
	}
	info, err := mi.UnmarshalInfo()
	if err != nil {
		return fmt.Errorf("failed to seed: failed to read torrent %s: %w", o.Torrent, err)
	}
	var trackers []string
	if o.Announce {
		for _, tier := range mi.UpvertedAnnounceList() {
			for _, u := range tier {
				if checkTrackerURL(u) == nil && !slices.Contains(trackers, u) {
					trackers = append(trackers, u)
				}
			}
		}
		if len(trackers) == 0 {
			return fmt.Errorf("failed to seed: torrent %s lists no http, https or udp tracker to announce to", o.Torrent)
		}
	}
	if err := checkData(o.DataDir, &info); err != nil {
		return fmt.Errorf("failed to seed: %w", err)
	}

	log := logger()
	sw := &swarm{}
	defer func() {
		if cerr := sw.close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("failed to stop seeding: %w", cerr))
		}
	}()
	for _, a := range o.Listen {
		sd, err := startSeeder(a, mi, &info, o.DataDir, log.With("seeder", a))
		if err != nil {
			return fmt.Errorf("failed to seed from %s: %w", a, err)
		}
		sw.seeders = append(sw.seeders, sd)
	}
	for _, a := range o.Victims {
		ln, err := net.Listen("tcp", a.String())
		if err != nil {
			return fmt.Errorf("failed to serve victim at %s: %w", a, err)
		}
		sw.victims = append(sw.victims, ln)
		sw.victimWG.Go(func() { serveVictim(ln) })
	}
	for _, sd := range sw.seeders {
		if err := sd.verify(ctx, o.DataDir); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("failed to seed from %s: %w", sd.addr, err)
		}
	}
	actx, stop := context.WithCancel(ctx)
	sw.stopAnnounce = stop
	for _, sd := range sw.seeders {
		for _, u := range trackers {
			sw.announceWG.Go(func() { sd.announceLoop(actx, u, log.With("seeder", sd.addr, "tracker", u)) })
		}
	}
	if o.Ready != nil {
		var listening []netip.AddrPort
		for _, sd := range sw.seeders {
			listening = append(listening, sd.addr)
		}
		for _, ln := range sw.victims {
			listening = append(listening, unmapped(ln.Addr().(*net.TCPAddr).AddrPort()))
		}
		o.Ready(listening)
	}
	<-ctx.Done()
	return nil
}

// checkData checks that every file of info is in dataDir with its
// length, naming the file that is not.
func checkData(dataDir string, info *metainfo.Info) error {
	for fi := range info.UpvertedFilesIter() {
		rel := filepath.Join(append([]string{info.BestName()}, fi.BestPath()...)...)
		if !filepath.IsLocal(rel) {
			return fmt.Errorf("the torrent names a file outside the data directory: %q", rel)
		}
		path := filepath.Join(dataDir, rel)
		st, err := os.Stat(path)
		if err != nil {
			return fmt.Errorf("data file missing: %w", err)
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("data file %s is not a regular file", path)
		}
		if st.Size() != fi.Length {
			return fmt.Errorf("data file %s has %d bytes, the torrent says %d", path, st.Size(), fi.Length)
		}
	}
	return nil
}

// swarm is what Seed started.
type swarm struct {
	seeders      []*seeder
	victims      []net.Listener
	victimWG     sync.WaitGroup
	stopAnnounce context.CancelFunc
	announceWG   sync.WaitGroup
}

// close announces "stopped", then closes the victims and the clients.
func (sw *swarm) close() error {
	if sw.stopAnnounce != nil {
		sw.stopAnnounce()
	}
	sw.announceWG.Wait()
	for _, ln := range sw.victims {
		ln.Close()
	}
	sw.victimWG.Wait()
	errs := make([]error, len(sw.seeders))
	var wg sync.WaitGroup
	for i, sd := range sw.seeders {
		wg.Go(func() { errs[i] = sd.close() })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// serveVictim answers every connection with "victim\n" until ln is
// closed.
func serveVictim(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		} else if err != nil {
			time.Sleep(10 * time.Millisecond) // e.g. out of file descriptors
			continue
		}
		c.SetWriteDeadline(time.Now().Add(time.Second))
		io.WriteString(c, "victim\n")
		c.Close()
	}
}

// seeder is one anacrolix client seeding from one address.
type seeder struct {
	addr  netip.AddrPort // where it listens, port resolved
	cl    *torrent.Client
	t     *torrent.Torrent
	short [20]byte // the infohash it announces
}

// startSeeder starts a client listening on, and dialing from, a, with
// the torrent added but not yet verified.
func startSeeder(a netip.AddrPort, mi *metainfo.MetaInfo, info *metainfo.Info, dataDir string, log *slog.Logger) (_ *seeder, err error) {
	cc := torrent.NewDefaultClientConfig()
	cc.Slogger = log
	cc.Logger = anacrolixLogger(log, "anacrolix")
	cc.Seed = true
	cc.NoDHT = true
	cc.DisablePEX = true
	cc.DisableTrackers = true // Seed announces itself, from the client's address
	cc.DisableWebseeds = true
	cc.DisableWebtorrent = true
	cc.NoDefaultPortForwarding = true
	cc.DisableUTP = true
	cc.DisableIPv6 = a.Addr().Is4()
	cc.DisableIPv4 = a.Addr().Is6()
	host := a.Addr().String()
	cc.ListenHost = func(string) string { return host }
	cc.ListenPort = int(a.Port())
	// With the default 1 MiB, a download from an anacrolix seeder stalls
	// part-way.
	cc.MaxAllocPeerRequestDataPerConn = 64 << 20
	cc.UploadRateLimiter = rate.NewLimiter(rate.Inf, 0)
	// An observer that verified every piece looks complete: keep it
	// connected.
	cc.DropMutuallyCompletePeers = false
	// No ut_holepunch: anacrolix v1.59.1 panics when it relays a
	// holepunch message to a peer that does not offer the extension (the
	// observer offers none), killing the seeder.
	cc.Callbacks.PeerConnAdded = append(cc.Callbacks.PeerConnAdded, withoutHolepunch)
	// Outgoing connections leave from a, not from whatever address the
	// kernel picks.
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: a.Addr().AsSlice()}}
	cc.DialForPeerConns = false
	cc.TrackerDialContext = dialer.DialContext
	cc.HTTPDialContext = dialer.DialContext
	// The file storage's Close only clears its piece completion, which
	// lives in memory: it is never called, since anacrolix may still be
	// marking a piece (storage.mapPieceCompletion panics when cleared
	// under a piece being marked).
	cc.DefaultStorage = readOnlyStorage{storage.NewFileOpts(storage.NewFileClientOpts{
		ClientBaseDir:   dataDir,
		PieceCompletion: storage.NewMapPieceCompletion(),
		UsePartFiles:    g.Some(false),
		Logger:          log,
	})}
	sd := &seeder{}
	if sd.cl, err = torrent.NewClient(cc); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			sd.close()
		}
	}()
	network := "tcp4"
	if a.Addr().Is6() {
		network = "tcp6"
	}
	sd.cl.AddDialer(torrent.NetworkDialer{Network: network, Dialer: dialer})
	listen := sd.cl.ListenAddrs()
	if len(listen) == 0 {
		return nil, errors.New("the client listens nowhere")
	}
	la, ok := listen[0].(*net.TCPAddr)
	if !ok {
		return nil, fmt.Errorf("the client listens on %s, not TCP", listen[0])
	}
	sd.addr = unmapped(la.AddrPort())

	if info.HasV1() {
		sd.short = mi.HashInfoBytes()
	} else {
		v2 := infohash_v2.HashBytes(mi.InfoBytes)
		sd.short = *v2.ToShort()
	}
	sd.t, _ = sd.cl.AddTorrentOpt(torrent.AddTorrentOpts{
		InfoHash:                 sd.short,
		InfoBytes:                mi.InfoBytes,
		DisableInitialPieceCheck: true, // verify checks every piece
	})
	if info.HasV2() {
		if errs := sd.t.AddPieceLayers(mi.PieceLayers); len(errs) > 0 {
			return nil, fmt.Errorf("failed to add piece layers: %w", errors.Join(errs...))
		}
	}
	return sd, nil
}

// verify hashes every piece of the client's data and fails, naming the
// files, unless all are complete.
func (sd *seeder) verify(ctx context.Context, dataDir string) error {
	// Adding v2 piece layers queues checks of their own, which can
	// overlap a pass: pass again, a bounded number of times.
	for range verifyRounds {
		if err := sd.t.VerifyDataContext(ctx); err != nil {
			return fmt.Errorf("failed to verify the data: %w", err)
		}
		if err := sd.settle(ctx); err != nil {
			return err
		}
		if sd.t.BytesMissing() == 0 {
			return nil
		}
	}
	var bad []string
	for _, f := range sd.t.Files() {
		if f.BytesCompleted() < f.Length() {
			bad = append(bad, filepath.Join(dataDir, filepath.FromSlash(f.Path())))
		}
	}
	return fmt.Errorf("data file %s does not match the torrent: %d of %d bytes fail their piece hashes",
		strings.Join(bad, ", "), sd.t.BytesMissing(), sd.t.Length())
}

// settle waits, at most settleTimeout, until no piece is queued for a
// hash, being hashed or being marked. VerifyDataContext returns once a
// piece is hashed, while its completion is still being recorded.
func (sd *seeder) settle(ctx context.Context) error {
	deadline := time.Now().Add(settleTimeout)
	for {
		busy := false
		for _, r := range sd.t.PieceStateRuns() {
			if r.QueuedForHash || r.Hashing || r.Marking {
				busy = true
				break
			}
		}
		if !busy {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("failed to verify the data: pieces still being checked after %v", settleTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// announceLoop announces the client to one tracker until ctx ends, then
// announces "stopped".
func (sd *seeder) announceLoop(ctx context.Context, trackerURL string, log *slog.Logger) {
	var key [4]byte
	rand.Read(key[:])
	local := sd.addr.Addr()
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: local.AsSlice()}}
	udpNetwork := "udp4"
	if local.Is6() {
		udpNetwork = "udp6"
	}
	ann := tracker.Announce{
		TrackerUrl:  trackerURL,
		DialContext: dialer.DialContext,
		ListenPacket: func(network, _ string) (net.PacketConn, error) {
			return net.ListenPacket(network, net.JoinHostPort(local.String(), "0"))
		},
		UdpNetwork: udpNetwork,
		Logger:     anacrolixLogger(log, "tracker"),
	}
	announce := func(ctx context.Context, event tracker.AnnounceEvent) (tracker.AnnounceResponse, error) {
		st := sd.t.Stats()
		ann.Request = tracker.AnnounceRequest{
			InfoHash: sd.short,
			PeerId:   sd.cl.PeerID(),
			Left:     sd.t.BytesMissing(),
			Uploaded: st.BytesWrittenData.Int64(),
			Event:    event,
			Key:      int32(binary.BigEndian.Uint32(key[:])),
			NumWant:  -1,
			Port:     sd.addr.Port(),
		}
		ann.Context = ctx
		return ann.Do()
	}
	event := tracker.Started
	for {
		actx, cancel := context.WithTimeout(ctx, announceTimeout)
		res, err := announce(actx, event)
		cancel()
		wait := announceRetry
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			log.Warn("announce failed", "err", err)
		} else {
			event = tracker.None
			wait = min(max(time.Duration(res.Interval)*time.Second, minAnnounceWait), maxAnnounceWait)
			// Like any seeder, it offers itself to the peers the tracker
			// lists (complete ones it drops again).
			var infos []torrent.PeerInfo
			for _, p := range res.Peers {
				if ap, ok := p.ToNetipAddrPort(); ok && ap.Port() != 0 && unmapped(ap) != sd.addr {
					infos = append(infos, torrent.PeerInfo{Addr: torrent.PeerRemoteAddr(net.TCPAddrFromAddrPort(ap)), Source: torrent.PeerSourceTracker})
				}
			}
			sd.t.AddPeers(infos)
			log.Info("announced", "peers", len(res.Peers), "next", wait)
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
			continue
		}
		break
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stoppedTimeout)
	defer cancel()
	if _, err := announce(sctx, tracker.Stopped); err != nil {
		log.Warn("announcing stopped failed", "err", err)
	}
}

// close closes the client.
func (sd *seeder) close() error {
	return errors.Join(sd.cl.Close()...)
}

// errReadOnly is what a seeder's storage answers a write with.
var errReadOnly = errors.New("the seeder's data is read-only")

// readOnlyStorage serves a torrent's data from files it never writes.
type readOnlyStorage struct {
	storage.ClientImpl
}

// OpenTorrent opens the torrent's storage with every piece read-only.
func (s readOnlyStorage) OpenTorrent(ctx context.Context, info *metainfo.Info, ih metainfo.Hash) (storage.TorrentImpl, error) {
	ti, err := s.ClientImpl.OpenTorrent(ctx, info, ih)
	if err != nil {
		return ti, err
	}
	if piece := ti.Piece; piece != nil {
		ti.Piece = func(p metainfo.Piece) storage.PieceImpl { return readOnlyPiece{piece(p)} }
	}
	if piece := ti.PieceWithHash; piece != nil {
		ti.PieceWithHash = func(p metainfo.Piece, h g.Option[[]byte]) storage.PieceImpl { return readOnlyPiece{piece(p, h)} }
	}
	return ti, nil
}

// readOnlyPiece is a piece whose data cannot be written.
type readOnlyPiece struct {
	storage.PieceImpl
}

// WriteAt refuses every write.
func (readOnlyPiece) WriteAt([]byte, int64) (int, error) { return 0, errReadOnly }

// withoutHolepunch removes ut_holepunch from the extensions a
// connection offers (BEP 10). It runs with the client's lock held.
func withoutHolepunch(pc *torrent.PeerConn) {
	old := pc.LocalLtepProtocolMap
	m := torrent.LocalLtepProtocolMap{}
	for i, name := range old.Index {
		if name == utHolepunch.ExtensionName {
			continue
		}
		m.Index = append(m.Index, name)
		if i < old.NumBuiltin {
			m.NumBuiltin++
		}
	}
	pc.LocalLtepProtocolMap = &m
}
