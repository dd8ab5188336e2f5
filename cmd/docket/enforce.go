package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/docket-project/docket/enforce"
	"github.com/docket-project/docket/enforce/dryrun"
	"github.com/docket-project/docket/enforce/nft"
)

// maxPairsFile bounds a pairs file: about ten million pairs.
const maxPairsFile = 1 << 30

// backendFlags selects an enforcement backend.
type backendFlags struct {
	backend *string
	state   *string
	netns   *string
}

// enforcer is what the verbs need of a backend.
type enforcer interface {
	enforce.Backend
	enforce.Lister
}

// addBackendFlags defines --backend, --netns and, if withState, --state.
func addBackendFlags(fs *flag.FlagSet, withState bool) *backendFlags {
	f := &backendFlags{
		backend: fs.String("backend", "", "enforcement backend `NAME`: nft or dryrun (required)"),
		state:   new(""),
		netns:   fs.String("netns", "", "network namespace `FILE` the nft backend works in, such as /run/netns/NAME (default: docket's own)"),
	}
	if withState {
		f.state = fs.String("state", "", "state `FILE` of the dryrun backend")
	}
	return f
}

// open returns the selected backend and a function that releases it.
func (f *backendFlags) open(verb string) (enforcer, func(), error) {
	switch *f.backend {
	case "dryrun":
		if *f.state == "" {
			return nil, nil, usagef(verb, "--backend dryrun needs --state FILE")
		}
		if *f.netns != "" {
			return nil, nil, usagef(verb, "--netns is for --backend nft")
		}
		b, err := dryrun.New(*f.state)
		if err != nil {
			return nil, nil, err
		}
		return b, func() {}, nil
	case "nft":
		if *f.state != "" {
			return nil, nil, usagef(verb, "--state is for --backend dryrun")
		}
		var opts []nft.Option
		var ns *os.File
		if *f.netns != "" {
			var err error
			if ns, err = os.Open(*f.netns); err != nil {
				return nil, nil, fmt.Errorf("failed to open network namespace: %w", err)
			}
			opts = append(opts, nft.WithNetNS(int(ns.Fd())))
		}
		b, err := nft.New(opts...)
		if err != nil {
			if ns != nil {
				ns.Close()
			}
			return nil, nil, err
		}
		return b, func() {
			b.Close()
			if ns != nil {
				ns.Close()
			}
		}, nil
	case "":
		return nil, nil, usagef(verb, "--backend is required: nft or dryrun")
	}
	return nil, nil, usagef(verb, "--backend %q: use nft or dryrun", *f.backend)
}

// name describes the backend for status output.
func (f *backendFlags) name() string {
	if *f.backend == "dryrun" {
		return "dryrun, state " + *f.state
	}
	if *f.netns != "" {
		return "nft, table inet " + nft.DefaultTable + " in " + *f.netns
	}
	return "nft, table inet " + nft.DefaultTable
}

func enforceApplyCommand() *command {
	c := newCommand("enforce apply")
	c.summary = "install blocked pairs with an enforcement backend"
	c.synopsis = "--backend nft|dryrun [--state FILE] [--netns FILE] --pairs FILE [--reconcile]"
	c.description = `
Install the pairs in FILE, a JSON array of {"local", "remote", "expires"}
objects (addresses and RFC 3339 times), with an enforcement backend:

  nft     drops forwarded traffic between the two addresses of each pair,
          in both directions, with the table "inet docket" of Linux
          nftables; the kernel removes each pair when it expires, whether
          or not docket still runs. Needs root or CAP_NET_ADMIN.
  dryrun  writes the installed pairs to the state file, in the same
          format, for a person to apply.

A pair already installed keeps the later of its two expiries; pairs already
expired are skipped. With --reconcile, installed pairs that FILE does not
list are withdrawn and expiries are set to FILE's. Nothing is installed if
any pair in FILE is invalid.`
	c.example = `
docket enforce apply --backend dryrun --state blocked.json --pairs pairs.json
docket enforce apply --backend nft --pairs pairs.json --reconcile`
	bf := addBackendFlags(c.flags, true)
	pairsPath := c.flags.String("pairs", "", "`FILE` of pairs to install (required)")
	reconcile := c.flags.Bool("reconcile", false, "make the installed pairs exactly those of the file")
	c.run = func(_ []string, stdout io.Writer) error {
		if *pairsPath == "" {
			return usagef(c.name, "--pairs is required")
		}
		data, err := readFile(*pairsPath, maxPairsFile)
		if err != nil {
			return err
		}
		pairs, err := dryrun.Unmarshal(data)
		if err != nil {
			return fmt.Errorf("failed to load %s: %w", *pairsPath, err)
		}
		b, release, err := bf.open(c.name)
		if err != nil {
			return err
		}
		defer release()
		now := time.Now()
		expired := 0
		for _, p := range pairs {
			if !p.Expires.After(now) {
				expired++
			}
		}
		if *reconcile {
			err = b.Reconcile(context.Background(), pairs)
		} else {
			err = b.Add(context.Background(), pairs)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "applied %d pairs", len(pairs)-expired)
		if expired > 0 {
			fmt.Fprintf(stdout, " (skipped %d expired)", expired)
		}
		fmt.Fprintln(stdout)
		return nil
	}
	return c
}

func enforceStatusCommand() *command {
	c := newCommand("enforce status")
	c.summary = "show the pairs an enforcement backend has installed"
	c.synopsis = "--backend nft|dryrun [--state FILE] [--netns FILE] [--show N]"
	c.description = `
Print how many pairs the backend has installed and the first N, sorted by
local then remote address, each with its expiry. The nft backend reads the
kernel's sets, which takes seconds for a few hundred thousand pairs and
minutes for millions.`
	c.example = `
docket enforce status --backend dryrun --state blocked.json
docket enforce status --backend nft --show 0`
	bf := addBackendFlags(c.flags, true)
	show := c.flags.Int("show", 10, "list the first `N` pairs")
	c.run = func(_ []string, stdout io.Writer) error {
		if *show < 0 {
			return usagef(c.name, "--show %d: must not be negative", *show)
		}
		b, release, err := bf.open(c.name)
		if err != nil {
			return err
		}
		defer release()
		pairs, err := b.Installed(context.Background())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "backend:   %s\n", bf.name())
		fmt.Fprintf(stdout, "installed: %d pairs\n", len(pairs))
		for _, p := range pairs[:min(*show, len(pairs))] {
			until := "no expiry"
			if !p.Expires.IsZero() {
				until = "until " + p.Expires.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(stdout, "  %s - %s %s\n", p.Local, p.Remote, until)
		}
		if more := len(pairs) - *show; more > 0 {
			fmt.Fprintf(stdout, "  and %d more\n", more)
		}
		return nil
	}
	return c
}

func enforceUninstallCommand() *command {
	c := newCommand("enforce uninstall")
	c.summary = "delete the nftables table and every pair in it"
	c.synopsis = "--backend nft [--netns FILE]"
	c.description = `
Delete the table "inet docket" of Linux nftables, with its sets of pairs and
its rules: traffic flows again between every pair. Deleting a table that
does not exist is not an error. The dryrun backend has nothing to
uninstall: remove its state file instead.`
	c.example = `
docket enforce uninstall --backend nft`
	bf := addBackendFlags(c.flags, false)
	c.run = func(_ []string, stdout io.Writer) error {
		if *bf.backend == "dryrun" {
			return usagef(c.name, "--backend dryrun has nothing to uninstall: remove its state file")
		}
		b, release, err := bf.open(c.name)
		if err != nil {
			return err
		}
		defer release()
		u, ok := b.(enforce.Uninstaller)
		if !ok {
			return usagef(c.name, "--backend %s cannot uninstall", *bf.backend)
		}
		if err := u.Uninstall(context.Background()); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted table inet %s\n", nft.DefaultTable)
		return nil
	}
	return c
}
