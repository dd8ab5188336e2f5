package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/libp2p/go-libp2p/core/peer"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/node/daemon"
	"github.com/docket-project/docket/node/p2p"
)

func nodeInitCommand() *command {
	c := newCommand("node init")
	c.summary = "write a starter node configuration and its keys"
	c.synopsis = "ROLES --dir DIR [--isp-name NAME] [--region REGION] [--log-origin ORIGIN] [--witness-name NAME]"
	c.description = `
Prepare DIR for a node running ROLES, a comma-separated list of registrar,
claimant, isp, log, witness and auditor, and write:

  DIR/docket.toml       a commented starter configuration for those roles
  DIR/keys/NAME.key     a signing key for each of registrar, claimant and isp
                        (with NAME.pub and the age identity NAME.age, as
                        "docket keygen" writes them)
  DIR/keys/log.key      the log's checkpoint key (log role)
  DIR/keys/witness.key  the witness's cosigning key (witness role)
  DIR/data/p2p.key      the node's libp2p identity, which fixes its peer id

Prints the key ids, verifier keys and peer id that other nodes' configurations
name. A node running the log role trusts its own log; one running the
registrar or isp role trusts its own key. The rest (the registrars, ISPs,
logs and peers of the federation) is for the operator to fill in. Existing
files are never overwritten.`
	c.example = `
docket node init isp --dir isp-a --isp-name isp-a --region DE
docket node init registrar,log --dir registry --log-origin registry.example/log`
	c.args = 1
	dir := c.flags.String("dir", "", "`DIR` to prepare (required; created if missing)")
	ispName := c.flags.String("isp-name", "isp", "the ISP's `NAME`, as credential scopes name it (isp role)")
	region := c.flags.String("region", "DE", "the ISP's `REGION` (isp role)")
	origin := c.flags.String("log-origin", "docket.example/log", "the log's `ORIGIN` (log role)")
	witnessName := c.flags.String("witness-name", "docket.example/witness", "the witness's `NAME` (witness role)")
	c.run = func(args []string, stdout io.Writer) error {
		if *dir == "" {
			return usagef(c.name, "--dir is required")
		}
		roles := strings.Split(args[0], ",")
		seen := map[string]bool{}
		for _, r := range roles {
			if !slicesContains(daemon.Roles, r) {
				return usagef(c.name, "%q is not a role: use registrar, claimant, isp, log, witness or auditor, separated by commas", r)
			}
			if seen[r] {
				return usagef(c.name, "role %q is given twice", r)
			}
			seen[r] = true
		}
		return nodeInit(stdout, *dir, &daemon.Starter{Roles: roles, ISPName: *ispName, ISPRegion: *region}, *origin, *witnessName)
	}
	return c
}

// nodeInit writes the keys the starter configuration names, then the
// configuration itself.
func nodeInit(stdout io.Writer, dir string, st *daemon.Starter, origin, witnessName string) error {
	if err := st.Check(); err != nil {
		return fmt.Errorf("failed to prepare %s: %w", dir, err)
	}
	cfgPath := filepath.Join(dir, daemon.StarterConfigFile)
	if _, err := os.Lstat(cfgPath); err == nil {
		return fmt.Errorf("failed to write %s: file exists", cfgPath)
	}
	keys := filepath.Join(dir, daemon.KeysDir)
	data := filepath.Join(dir, "data")
	for _, d := range []string{keys, data} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("failed to create %s: %w", d, err)
		}
	}
	for _, r := range []string{daemon.RoleRegistrar, daemon.RoleClaimant, daemon.RoleISP} {
		if st.Has(r) {
			fmt.Fprintf(stdout, "%s keys in %s:\n", r, filepath.Join(keys, r+".{key,pub,age}"))
			if err := keygen(stdout, keys, r, sign.Ed25519); err != nil {
				return err
			}
		}
	}
	if st.Has(daemon.RoleLog) {
		fmt.Fprintf(stdout, "log %s, key in %s:\n", origin, filepath.Join(keys, "log.key"))
		err := noteKeygen(stdout, origin, filepath.Join(keys, "log.key"), "log origin", func(skey, vkey string) (string, error) {
			_, err := note.NewSigner(skey)
			st.LogVerifierKey = vkey
			return vkey, err
		})
		if err != nil {
			return err
		}
	}
	if st.Has(daemon.RoleWitness) {
		fmt.Fprintf(stdout, "witness %s, key in %s:\n", witnessName, filepath.Join(keys, "witness.key"))
		err := noteKeygen(stdout, witnessName, filepath.Join(keys, "witness.key"), "witness name", func(skey, vkey string) (string, error) {
			if _, err := fnote.NewSignerForCosignatureV1(skey); err != nil {
				return "", err
			}
			v, err := fnote.VKeyToCosignatureV1(vkey)
			st.WitnessVerifierKey = v
			return v, err
		})
		if err != nil {
			return err
		}
	}
	key, err := p2p.LoadIdentity(filepath.Join(data, "p2p.key"))
	if err != nil {
		return err
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return err
	}
	st.PeerID = id.String()
	fmt.Fprintf(stdout, "peer id:       %s\n", id)
	cfg, err := st.Config()
	if err != nil {
		return err
	}
	if err := writeFiles(false, outFile{path: cfgPath, data: cfg, perm: 0o644}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: fill in the trusted keys, logs and peers, then run \"docket node run -c %s\"\n", cfgPath, cfgPath)
	return nil
}

func slicesContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func nodeRunCommand() *command {
	c := newCommand("node run")
	c.summary = "run a Docket node: any set of roles over libp2p"
	c.synopsis = "-c FILE [--check]"
	c.description = `
Run the node configured in FILE (TOML; "docket node init" writes a starter
one, and package node/daemon documents every key) until interrupted: the
roles it lists, gossiping announcements, assertions and revocations with
its peers over libp2p, submitting objects to its trusted logs, and serving
/metrics, /healthz and /status on its admin listener. SIGTERM or SIGINT
stops it gracefully: queued receipts are offered to the log, the store and
the log are closed.

The configuration is checked first, and every problem is reported with the
key it concerns. With --check, docket only checks it and exits.

Logs to standard error, in the format the configuration chooses.`
	c.example = `
docket node run -c docket.toml
docket node run -c docket.toml --check`
	path := c.flags.String("c", "", "the configuration `FILE` (required)")
	check := c.flags.Bool("check", false, "check the configuration and exit")
	c.run = func(_ []string, stdout io.Writer) error {
		if *path == "" {
			return usagef(c.name, "-c FILE is required")
		}
		cfg, err := daemon.LoadConfig(*path)
		if err != nil {
			return configError(*path, err)
		}
		if err := cfg.Validate(); err != nil {
			return configError(*path, err)
		}
		if *check {
			fmt.Fprintf(stdout, "%s: configuration is valid\n", *path)
			return nil
		}
		logger, err := daemon.NewLogger(os.Stderr, cfg.Logging)
		if err != nil {
			return configError(*path, err)
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return daemon.Run(ctx, cfg, logger)
	}
	return c
}

// configError lists the problems of a configuration file, one a line.
func configError(path string, err error) error {
	var lines []string
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		lines = append(lines, e.Error())
	}
	walk(err)
	if len(lines) == 1 {
		return fmt.Errorf("%s: %s", path, strings.TrimPrefix(lines[0], path+": "))
	}
	return errors.New(path + ":\n  " + strings.Join(lines, "\n  "))
}
