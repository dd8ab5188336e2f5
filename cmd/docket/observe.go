package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/docket-project/docket/node/claimant"
	"github.com/docket-project/docket/node/observe"
	"github.com/docket-project/docket/protocol"
)

// The flags that only one of observe's modes reads.
var (
	continuousFlags = []string{"credential", "key", "directory", "interval", "window", "life"}
	onceFlags       = []string{"force"}
)

func observeCommand() *command {
	c := newCommand("observe")
	c.summary = "observe a swarm and keep publishing fresh assertions on it"
	c.synopsis = `(--torrent FILE | --magnet URI) --credential CRED --key KEY --directory DIR --out DIR [flags]
       docket observe --once (--torrent FILE | --magnet URI) --peer ADDR:PORT... --out FILE [flags]`
	c.description = `
As a claimant, join the swarm of a .torrent (v1, v2 or hybrid) or of a
magnet link without ever uploading, download pieces from each peer and
check them against the torrent. Content is hashed in memory and dropped.
Peers come from --peer, the torrent's trackers and peer exchange. Each peer
is graded verified-transfer (a piece it supplied checked), handshake
(connected, no checked piece) or announced (never connected).

Every --interval, a round takes the peers seen in the last --window, graded
by what that window holds, and, if one of them is verified-transfer,
builds an assertion valid for --life from the window's end: peers are
routed to ISPs by longest-prefix match over --directory and each ISP's
section is sealed to it. --key must be the subject of --credential. Each
assertion is written to --out as NNNNNN-ID.json. A peer that leaves drops
out of the windows, so what was enforced on it lapses on its own. A round
that fails is reported and the next one tries again.

Progress goes to standard error, redrawn in place on a terminal. Interrupt
(Ctrl-C) or SIGTERM stops after the round under way, as does --duration;
a summary follows: rounds, assertions written, peers of each grade.

With --once, observe until every --peer is verified-transfer or for
--duration (default 1m), and write the observation to --out, a JSON
protocol.Observation for "docket assert build".`
	c.example = `
docket observe --torrent work.torrent --credential holder.cred.json \
  --key keys/holder.key --directory directory.json --out assertions \
  --peer 198.51.100.7:6881 --peer 203.0.113.9:51413
docket observe --once --magnet 'magnet:?xt=urn:btih:...' \
  --peer 198.51.100.7:6881 --duration 2m --out observation.json`
	torrentPath := c.flags.String("torrent", "", ".torrent `FILE` of the swarm")
	magnet := c.flags.String("magnet", "", "magnet `URI` of the swarm, instead of --torrent: the metadata is fetched from its peers")
	credPath := c.flags.String("credential", "", "the claimant's credential `CRED`, the leaf of its chain")
	key := c.flags.String("key", "", "the claimant's signing `KEY`")
	dirPath := c.flags.String("directory", "", "ISP directory JSON `FILE`")
	out := c.flags.String("out", "", "`DIR` to write assertions to (created if missing); with --once, the observation FILE (required)")
	once := c.flags.Bool("once", false, "observe once and write the observation, building no assertion")
	interval := c.flags.Duration("interval", claimant.DefaultInterval, "`DURATION` between two rounds")
	window := c.flags.Duration("window", 0, "how far back a round looks, a `DURATION` of at least --interval (default: 1.5 × --interval)")
	life := c.flags.Duration("life", protocol.DefaultAssertionLife, "validity `DURATION` of each assertion, longer than --interval")
	listen := c.flags.String("listen", "", "`ADDR:PORT` to listen on (default: any address, ephemeral port)")
	var peers stringList
	c.flags.Var(&peers, "peer", "peer `ADDR:PORT` to dial (repeatable; required with --once)")
	rate := c.flags.Int("rate", 0, "download cap in `BYTES` per second (0: none); a cap spreads requests over more peers")
	duration := c.flags.Duration("duration", 0, "stop after `DURATION` (default: when interrupted; with --once, 1m)")
	force := c.flags.Bool("force", false, "with --once, replace --out if it exists")
	c.run = func(_ []string, stdout io.Writer) error {
		if (*torrentPath == "") == (*magnet == "") {
			return usagef(c.name, "give one of --torrent and --magnet")
		}
		if *out == "" {
			return usagef(c.name, "--out is required")
		}
		if *duration < 0 || *rate < 0 {
			return usagef(c.name, "--duration and --rate must not be negative")
		}
		addrs := make([]netip.AddrPort, len(peers))
		for i, p := range peers {
			a, err := netip.ParseAddrPort(p)
			if err != nil {
				return usagef(c.name, "--peer %q: want ADDR:PORT", p)
			}
			addrs[i] = a
		}
		notApplying := continuousFlags
		if !*once {
			notApplying = onceFlags
		}
		for _, name := range notApplying {
			if isSet(c.flags, name) {
				return usagef(c.name, "--%s does not apply %s --once", name, map[bool]string{true: "with", false: "without"}[*once])
			}
		}
		signalled, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		// A second signal ends docket at once.
		go func() {
			<-signalled.Done()
			stop()
		}()
		ctx := signalled
		display := newProgressDisplay(os.Stderr)
		logger := slog.New(slog.NewTextHandler(display, &slog.HandlerOptions{Level: slog.LevelWarn}))
		src := swarmSource{torrent: *torrentPath, magnet: *magnet, peers: addrs}
		if *once {
			if len(addrs) == 0 {
				return usagef(c.name, "--once needs --peer")
			}
			if *duration == 0 {
				*duration = time.Minute
			}
			ctx, cancel := context.WithTimeout(ctx, *duration)
			defer cancel()
			return observeOnce(ctx, stdout, src, observe.Config{ListenAddr: *listen, DownloadRate: *rate, Logger: logger}, *out, *force)
		}
		if *credPath == "" || *key == "" || *dirPath == "" {
			return usagef(c.name, "--credential, --key and --directory are required without --once")
		}
		if *interval <= 0 || *life <= 0 || *window < 0 {
			return usagef(c.name, "--interval and --life must be positive, --window not negative")
		}
		signer, err := readPrivateKey(*key)
		if err != nil {
			return err
		}
		cred, err := readCredential(*credPath)
		if err != nil {
			return err
		}
		if signer.Public().ID() != cred.Subject.ID() {
			return fmt.Errorf("failed to observe: --key %s (key id %s) is not the subject of %s (key id %s)", *key, signer.Public().ID(), *credPath, cred.Subject.ID())
		}
		if now := time.Now(); now.Before(cred.Credential.NotBefore) || now.After(cred.Credential.NotAfter) {
			return fmt.Errorf("failed to observe: %s is valid from %s to %s, not now", *credPath, cred.Credential.NotBefore.Format(time.RFC3339), cred.Credential.NotAfter.Format(time.RFC3339))
		}
		var dir protocol.Directory
		if err := readJSON(*dirPath, &dir); err != nil {
			return err
		}
		files, err := claimant.NewFilePublisher(*out)
		if err != nil {
			return err
		}
		if *duration > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, *duration)
			defer cancel()
		}
		o, err := src.start(ctx, display, observe.Config{ListenAddr: *listen, DownloadRate: *rate, Logger: logger}, logger)
		if err != nil {
			return err
		}
		defer o.Close()
		// The content id observations claim.
		empty, err := o.ObservationWindow(time.Now(), time.Now())
		if err != nil {
			return err
		}
		content := empty.Content
		if !cred.Credential.Covers(content) {
			return fmt.Errorf("failed to observe: %s lists no work with content %s", *credPath, content)
		}
		cl, err := claimant.New(o, claimant.Config{
			Key:        signer,
			Credential: cred.ID,
			Directory:  dir,
			Publisher:  files,
			Interval:   *interval,
			Window:     *window,
			Life:       *life,
			// The display shows every round; the claimant's log would
			// repeat it.
			Events: display.event,
		})
		if err != nil {
			return err
		}
		display.linef("observing %s; a round every %v, assertions to %s", content, *interval, *out)
		summary := cl.Run(ctx)
		display.done()
		fmt.Fprintf(stdout, "content:            %s\n", content)
		fmt.Fprintf(stdout, "rounds:             %d\n", summary.Rounds)
		fmt.Fprintf(stdout, "assertions written: %d\n", summary.Published)
		fmt.Fprintf(stdout, "empty rounds:       %d\n", summary.Empty)
		fmt.Fprintf(stdout, "failed rounds:      %d\n", summary.Failed)
		obs, _ := o.Observation()
		printGrades(stdout, obs, 20)
		return nil
	}
	return c
}

// swarmSource is where the swarm's metainfo and first peers come from.
type swarmSource struct {
	torrent, magnet string
	peers           []netip.AddrPort
}

// start reads or fetches the metainfo, starts an observer on it and gives
// it the peers.
func (s swarmSource) start(ctx context.Context, display *progressDisplay, cfg observe.Config, logger *slog.Logger) (*observe.Observer, error) {
	peers := s.peers
	var mi []byte
	var err error
	if s.torrent != "" {
		mi, err = readFile(s.torrent, maxJSONFile)
	} else {
		display.linef("fetching the torrent's metadata from its peers")
		var listed []netip.AddrPort
		mi, listed, err = claimant.FetchMetainfo(ctx, s.magnet, peers, logger)
		peers = append(peers, listed...)
	}
	if err != nil {
		return nil, err
	}
	o, err := observe.New(cfg, mi)
	if err != nil {
		return nil, err
	}
	if len(peers) > 0 {
		if err := o.AddPeers("manual", peers...); err != nil {
			o.Close()
			return nil, err
		}
	}
	return o, nil
}

// observeOnce observes until every peer is verified-transfer or ctx ends,
// writes the observation to out and prints the number of peers of each
// grade.
func observeOnce(ctx context.Context, stdout io.Writer, src swarmSource, cfg observe.Config, out string, force bool) error {
	o, err := src.start(ctx, nil, cfg, cfg.Logger)
	if err != nil {
		return err
	}
	defer o.Close()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
			done = true
			for _, p := range o.Peers() {
				done = done && p.Evidence.Grade == protocol.GradeVerifiedTransfer
			}
		}
	}
	obs, err := o.Observation()
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, obs); err != nil {
		return err
	}
	if err := writeFiles(force, outFile{path: out, data: buf.Bytes(), perm: 0o644}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "content:           %s\n", obs.Content)
	printGrades(stdout, obs, 19)
	return nil
}

// printGrades prints the number of peers of obs of each grade, the
// numbers in column width.
func printGrades(w io.Writer, obs protocol.Observation, width int) {
	grades := map[protocol.Grade]int{}
	for _, p := range obs.Peers {
		grades[p.Evidence.Grade]++
	}
	for _, g := range []protocol.Grade{protocol.GradeVerifiedTransfer, protocol.GradeHandshake, protocol.GradeAnnounced} {
		fmt.Fprintf(w, "%-*s%d\n", width, string(g)+":", grades[g])
	}
}

// progressDisplay shows a claimant's events on a terminal or a log: on a
// terminal the progress line is redrawn in place, and lines (rounds, logs)
// are written above it; elsewhere progress is a line of its own at each
// round and whenever the peer counts change. It is safe for concurrent
// use.
type progressDisplay struct {
	mu  sync.Mutex
	w   io.Writer
	tty bool
	// status is the progress line drawn last ("" for none), last the
	// counters it showed.
	status string
	last   observe.Progress
}

func newProgressDisplay(f *os.File) *progressDisplay {
	d := &progressDisplay{w: f}
	if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		d.tty = true
	}
	return d
}

// Write writes p, whole lines, above the progress line.
func (d *progressDisplay) Write(p []byte) (int, error) {
	if d == nil {
		return len(p), nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.clear()
	n, err := d.w.Write(p)
	d.redraw()
	return n, err
}

// linef writes a line above the progress line.
func (d *progressDisplay) linef(format string, args ...any) {
	if d != nil {
		fmt.Fprintf(d, format+"\n", args...)
	}
}

// clear erases the progress line. The caller holds d.mu.
func (d *progressDisplay) clear() {
	if d.tty && d.status != "" {
		fmt.Fprint(d.w, "\r\x1b[K")
	}
}

// redraw draws the progress line again. The caller holds d.mu.
func (d *progressDisplay) redraw() {
	if d.tty && d.status != "" {
		fmt.Fprint(d.w, d.status)
	}
}

// done ends the progress line.
func (d *progressDisplay) done() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tty && d.status != "" {
		fmt.Fprintln(d.w)
	}
	d.status = ""
}

// progress shows the counters p; a line of its own, off a terminal, only
// if always is set or the peer counts changed.
func (d *progressDisplay) progress(p observe.Progress, always bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	status := fmt.Sprintf("peers: %d known, %d connected, %d verified; pieces: %d/%d verified", p.Known, p.Connected, p.Verified, p.Pieces, p.PieceCount)
	peersChanged := p.Known != d.last.Known || p.Connected != d.last.Connected || p.Verified != d.last.Verified
	d.last = p
	switch {
	case d.tty:
		d.clear()
		d.status = status
		d.redraw()
	case always || peersChanged:
		fmt.Fprintln(d.w, status)
	}
}

// event shows a claimant event.
func (d *progressDisplay) event(e claimant.Event) {
	d.progress(e.Progress, e.Kind != claimant.EventProgress)
	switch e.Kind {
	case claimant.EventPublished:
		var isps []string
		for name, n := range e.PeersPerISP {
			isps = append(isps, fmt.Sprintf("%s %d", name, n))
		}
		slices.Sort(isps)
		d.linef("round %d: published %s: %s; served by %s; valid until %s", e.Round, e.ID, gradeList(e.Grades), strings.Join(isps, ", "), e.NotAfter.Format(time.RFC3339))
	case claimant.EventEmpty:
		why := ""
		if p := e.Progress; p.PieceCount > 0 && p.Pieces == p.PieceCount {
			why = "; every piece is verified already, so no peer can supply a fresh one"
		}
		d.linef("round %d: no verified-transfer peer in the window (%s), nothing published%s", e.Round, gradeList(e.Grades), why)
	case claimant.EventFailed:
		d.linef("round %d: %v; the next round tries again", e.Round, e.Err)
	}
}

// gradeList says how many peers there are of each grade.
func gradeList(grades map[protocol.Grade]int) string {
	var parts []string
	total := 0
	for _, g := range []protocol.Grade{protocol.GradeVerifiedTransfer, protocol.GradeHandshake, protocol.GradeAnnounced} {
		if n := grades[g]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, g))
			total += n
		}
	}
	if total == 0 {
		return "no peers"
	}
	return fmt.Sprintf("%d peers: %s", total, strings.Join(parts, ", "))
}
