package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/docket-project/docket/internal/atomicfile"
	"github.com/docket-project/docket/node/devnet"

	"github.com/go-json-experiment/json"
)

func devnetCommand() *command {
	c := newCommand("devnet")
	c.summary = "run a whole federation on this machine, from a real swarm to a dropped packet"
	c.synopsis = "[--dir DIR] [--keep] [--cycles N] [--life DUR] [--interval DUR] [--json FILE] [--backend auto|nft|dryrun]"
	c.description = `
Start a whole Docket federation on this machine and narrate what it does:
a registrar with the public log, a witness, a claimant, two ISPs (isp-one,
isp-two) and an auditor, each a separate "docket node run" process configured
by "docket node init"; a real BitTorrent swarm (seeders on several addresses,
an HTTP tracker, a joe-job address listed where no peer answers, a seeder on
an address isp-one's policy protects).

The registrar issues the claimant a credential; the claimant observes the
swarm, asserts, logs and gossips; the ISPs verify, enforce and log receipts.
Devnet checks that isp-one blocks exactly the verified pairs crossing its
network, measures observe-to-drop over --cycles new seeders, stops the
claimant and watches every block lapse at its expiry, and has "docket audit"
verify the whole log.

As root with nftables, isp-one enforces with the nft backend in its own
router's network namespace and devnet proves the drop by sending traffic;
the swarm lives in network namespaces with documentation addresses and no
link to the machine's network. Otherwise both ISPs use the dry-run backend on
loopback addresses, and devnet says why.

Exits 0 when every check passed, 1 otherwise. Ctrl-C stops every process and
removes the namespaces and the temporary directory.`
	c.example = `
docket devnet --backend dryrun --cycles 10 --json result.json
docket devnet --keep --dir /tmp/devnet`
	dir := c.flags.String("dir", "", "working `DIR` for keys, configurations, data and logs, kept afterwards (default: a temporary directory, removed)")
	keep := c.flags.Bool("keep", false, "leave the federation running after the checks, until Ctrl-C")
	cycles := c.flags.Int("cycles", devnet.DefaultCycles, "observe-to-drop measurements, `N` new seeders one after the other")
	life := c.flags.Duration("life", devnet.DefaultLife, "each assertion's life, `DUR`")
	interval := c.flags.Duration("interval", devnet.DefaultInterval, "the claimant's round interval, `DUR`")
	jsonOut := c.flags.String("json", "", "also write the result as JSON to `FILE`")
	backend := c.flags.String("backend", "auto", "isp-one's enforcement: auto (nft when root, else dryrun), nft or dryrun")
	c.run = func(args []string, stdout io.Writer) error {
		switch {
		case *cycles < 0 || *cycles > 100:
			return usagef(c.name, "--cycles %d: give 0 to 100", *cycles)
		case *life <= *interval:
			return usagef(c.name, "--life %v must be longer than --interval %v, or blocks lapse between rounds", *life, *interval)
		case *interval < time.Second:
			return usagef(c.name, "--interval %v: give at least 1s", *interval)
		}
		exe, err := selfPath()
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		res, err := devnet.Run(ctx, devnet.Options{
			Dir: *dir, Keep: *keep, Cycles: *cycles, Life: *life, Interval: *interval,
			Backend: *backend, Docket: exe, Out: stdout,
		})
		if *jsonOut != "" && res != nil {
			data, merr := json.Marshal(res)
			if merr == nil {
				merr = atomicfile.Write(*jsonOut, data, 0o644)
			}
			err = errors.Join(err, merr)
		}
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
	return c
}

func devnetSeedCommand() *command {
	c := newCommand("devnet seed")
	c.summary = "seed a torrent from several addresses (the swarm of docket devnet)"
	c.synopsis = "--torrent FILE --data DIR --listen ADDR:PORT... [--victim ADDR:PORT...] [--no-announce] [--ready FILE]"
	c.description = `
Seed the torrent from each --listen address, one BitTorrent client per
address, announcing to the torrent's trackers, and run a plain TCP server
(not a BitTorrent peer) at each --victim address. Writes --ready once
everything listens; runs until SIGTERM or Ctrl-C. "docket devnet" runs it.`
	c.example = `
docket devnet seed --torrent film.torrent --data swarm/data --listen 127.0.1.10:6881 --listen 127.0.1.11:6881`
	torrent := c.flags.String("torrent", "", "the .torrent `FILE` (required)")
	data := c.flags.String("data", "", "the `DIR` holding the complete data (required)")
	var listen, victims addrPortList
	c.flags.Var(&listen, "listen", "an `ADDR:PORT` to seed from (repeatable, at least one)")
	c.flags.Var(&victims, "victim", "an `ADDR:PORT` for a plain TCP server (repeatable)")
	noAnnounce := c.flags.Bool("no-announce", false, "do not announce to the trackers")
	ready := c.flags.String("ready", "", "`FILE` to write once every address listens")
	c.run = func(args []string, stdout io.Writer) error {
		if *torrent == "" || *data == "" || len(listen) == 0 {
			return usagef(c.name, "--torrent, --data and at least one --listen are required")
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return devnet.Seed(ctx, devnet.SeedOptions{
			Torrent: *torrent, DataDir: *data, Listen: listen, Victims: victims, Announce: !*noAnnounce,
			Ready: func(addrs []netip.AddrPort) {
				var b strings.Builder
				for _, a := range addrs {
					fmt.Fprintln(&b, a)
				}
				fmt.Fprint(stdout, b.String())
				if *ready != "" {
					if err := atomicfile.Write(*ready, []byte(b.String()), 0o644); err != nil {
						fmt.Fprintf(os.Stderr, "docket: error: %v\n", err)
						stop()
					}
				}
			},
		})
	}
	return c
}

// selfPath returns the path of this docket executable as it was called:
// the processes devnet starts run it under the same name.
func selfPath() (string, error) {
	exe := os.Args[0]
	if !strings.Contains(exe, string(filepath.Separator)) {
		var err error
		if exe, err = exec.LookPath(exe); err != nil {
			return os.Executable()
		}
	}
	return filepath.Abs(exe)
}

// addrPortList is a repeatable ADDR:PORT flag.
type addrPortList []netip.AddrPort

var _ flag.Value = (*addrPortList)(nil)

func (l *addrPortList) String() string { return fmt.Sprint(*l) }

func (l *addrPortList) Set(s string) error {
	a, err := netip.ParseAddrPort(s)
	if err != nil {
		return fmt.Errorf("%q is not ADDR:PORT", s)
	}
	*l = append(*l, a)
	return nil
}
