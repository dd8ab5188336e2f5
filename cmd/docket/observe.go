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
	"syscall"
	"time"

	"github.com/docket-project/docket/node/observe"
	"github.com/docket-project/docket/protocol"
)

func observeCommand() *command {
	c := newCommand("observe")
	c.summary = "join a swarm and record graded evidence for each peer"
	c.synopsis = "--torrent FILE --peer ADDR:PORT... [--listen ADDR:PORT] [--duration DURATION] [--rate BYTES] --out FILE"
	c.description = `
As a claimant, join the swarm of a v1 .torrent without ever uploading, dial
each --peer, download pieces from it and check them against the torrent.
Content is hashed in memory and dropped; nothing is written but --out, a
JSON protocol.Observation for "docket assert build". Each peer is graded
verified-transfer (a piece it supplied checked), handshake (connected, no
checked piece) or announced (never connected).

Stops when every peer is verified-transfer or after --duration, and prints
the number of peers of each grade.`
	c.example = `
docket observe --torrent work.torrent --peer 198.51.100.7:6881 \
  --peer 203.0.113.9:51413 --duration 2m --out observation.json`
	torrentPath := c.flags.String("torrent", "", "v1 .torrent `FILE` of the swarm (required)")
	var peers stringList
	c.flags.Var(&peers, "peer", "peer `ADDR:PORT` to dial (required, repeatable)")
	listen := c.flags.String("listen", "", "`ADDR:PORT` to listen on (default: any address, ephemeral port)")
	duration := c.flags.Duration("duration", time.Minute, "longest observation `DURATION`")
	rate := c.flags.Int("rate", 0, "download cap in `BYTES` per second (0: none); a cap spreads requests over more peers")
	out := c.flags.String("out", "", "`FILE` to write the observation to (required)")
	force := c.flags.Bool("force", false, "replace --out if it exists")
	c.run = func(_ []string, stdout io.Writer) error {
		if *torrentPath == "" || len(peers) == 0 || *out == "" {
			return usagef(c.name, "--torrent, --peer and --out are required")
		}
		if *duration <= 0 {
			return usagef(c.name, "--duration must be positive")
		}
		addrs := make([]netip.AddrPort, len(peers))
		for i, p := range peers {
			a, err := netip.ParseAddrPort(p)
			if err != nil {
				return usagef(c.name, "--peer %q: want ADDR:PORT", p)
			}
			addrs[i] = a
		}
		mi, err := readFile(*torrentPath, maxJSONFile)
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		ctx, cancel := context.WithTimeout(ctx, *duration)
		defer cancel()
		logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		cfg := observe.Config{ListenAddr: *listen, DownloadRate: *rate, Logger: logger}
		obs, err := observeSwarm(ctx, cfg, mi, addrs)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := writeJSON(&buf, obs); err != nil {
			return err
		}
		if err := writeFiles(*force, outFile{path: *out, data: buf.Bytes(), perm: 0o644}); err != nil {
			return err
		}
		grades := map[protocol.Grade]int{}
		for _, p := range obs.Peers {
			grades[p.Evidence.Grade]++
		}
		fmt.Fprintf(stdout, "content:           %s\n", obs.Content)
		for _, g := range []protocol.Grade{protocol.GradeVerifiedTransfer, protocol.GradeHandshake, protocol.GradeAnnounced} {
			fmt.Fprintf(stdout, "%-18s %d\n", string(g)+":", grades[g])
		}
		return nil
	}
	return c
}

// observeSwarm observes the swarm of metainfo until every peer is
// verified-transfer or ctx ends, and returns the observation.
func observeSwarm(ctx context.Context, cfg observe.Config, metainfo []byte, peers []netip.AddrPort) (protocol.Observation, error) {
	o, err := observe.New(cfg, metainfo)
	if err != nil {
		return protocol.Observation{}, err
	}
	defer o.Close()
	if err := o.AddPeers("manual", peers...); err != nil {
		return protocol.Observation{}, err
	}
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
	return o.Observation()
}
