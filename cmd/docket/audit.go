package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	fnote "github.com/transparency-dev/formats/note"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/mod/sumdb/note"

	"github.com/docket-project/docket/node/audit"
)

// auditTop is how many claimants, works and contents the text report
// lists; --json lists all.
const auditTop = 10

func auditCommand() *command {
	c := newCommand("audit")
	c.summary = "replay and verify a transparency log"
	c.synopsis = "URL|DIR --log-key VKEY [--registrar PUB ...] [--isp PUB ...] [--witness VKEY ...] [--witnesses-required K] [--state FILE] [--json] [--progress]"
	c.description = `
Audit the transparency log served at URL (its c2sp.org/tlog-tiles read
endpoints) or stored in DIR: verify its checkpoint with the log's verifier
key VKEY (and the cosignatures of at least K of the --witness keys),
download every entry, check that they hash to the checkpoint's root, and
verify every credential, revocation and assertion in it against the
trusted --registrar keys, each assertion at its own not_before, and ISP
announcements and receipts against the --isp keys, if given. Prints a
report: counts by kind, registrar, claimant, work, content and ISP, and
every finding with its entry index (package node/audit lists the kinds).

With --state, FILE holds the checkpoint of the last audit: the log must
extend it, or the audit fails with a split view; a successful audit
replaces it. A progress bar goes to standard error when it is a terminal.

Exit status: 0 if the log is consistent and every entry verifies; 1 if
the audit found problems with entries (the report lists them) or failed
(the log cannot be read, its checkpoint or cosignatures do not verify, its
entries do not match its checkpoint, or it does not extend --state); 2 for
a usage error.`
	c.example = `
docket audit http://127.0.0.1:8080 --log-key docket.example/log+336a1b5b+AbTMQ6eX4PIiXX01+iyqvZqwjSCtV6zFo201XYDNjjrg \
  --registrar keys/registrar.pub --state audit.state`
	c.args = 1
	logKey := c.flags.String("log-key", "", "the log's note verifier key, `VKEY` or a FILE holding it (required)")
	var registrars, witnesses stringList
	c.flags.Var(&registrars, "registrar", "a trusted registrar's public key `FILE` (repeatable)")
	var isps stringList
	c.flags.Var(&isps, "isp", "a trusted ISP's public key `FILE`, to verify announcements and receipts (repeatable)")
	c.flags.Var(&witnesses, "witness", "a witness's cosignature verifier key, `VKEY` or a FILE holding it (repeatable)")
	required := c.flags.Int("witnesses-required", 0, "how many witnesses must cosign, `K` (default: all --witness keys)")
	state := c.flags.String("state", "", "the `FILE` holding the last audited checkpoint")
	asJSON := c.flags.Bool("json", false, "print the report as JSON")
	progress := c.flags.Bool("progress", false, "show the progress bar even if standard error is not a terminal")
	c.run = func(args []string, stdout io.Writer) error {
		if *logKey == "" {
			return usagef(c.name, "--log-key is required")
		}
		cfg := audit.Config{Source: args[0], StateFile: *state, WitnessesRequired: *required}
		var err error
		if cfg.LogKey, err = readVerifierKey(*logKey, note.NewVerifier); err != nil {
			return usagef(c.name, "--log-key: %v", err)
		}
		for _, w := range witnesses {
			v, err := readVerifierKey(w, fnote.NewVerifierForCosignatureV1)
			if err != nil {
				return usagef(c.name, "--witness: %v", err)
			}
			cfg.Witnesses = append(cfg.Witnesses, v)
		}
		if *required < 0 || *required > len(witnesses) {
			return usagef(c.name, "--witnesses-required %d: give a number from 0 to the %d --witness keys", *required, len(witnesses))
		}
		if cfg.Registrars, err = readPublicKeys(registrars); err != nil {
			return err
		}
		if cfg.ISPs, err = readPublicKeys(isps); err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return runAudit(ctx, stdout, os.Stderr, cfg, *asJSON, *progress || isTerminal(os.Stderr))
	}
	return c
}

// readVerifierKey parses a note verifier key given as itself or as a file
// holding it, bare or as "docket log keygen" prints it ("verifier key:
// VKEY").
func readVerifierKey(s string, parse func(string) (note.Verifier, error)) (note.Verifier, error) {
	v, err := parse(s)
	if err == nil {
		return v, nil
	}
	if _, serr := os.Stat(s); serr != nil {
		return nil, fmt.Errorf("%q is neither a verifier key nor a file holding one: %w", s, err)
	}
	data, err := readFile(s, maxKeyFile)
	if err != nil {
		return nil, err
	}
	key := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(data)), "verifier key:"))
	if v, err = parse(key); err != nil {
		return nil, fmt.Errorf("%s does not hold a verifier key: %w", s, err)
	}
	return v, nil
}

// errFindings is returned when an audit found problems with entries, so
// that docket exits with status 1 after printing the report.
type errFindings int

func (n errFindings) Error() string {
	if n == 1 {
		return "the audit found a problem with an entry of the log (see the report)"
	}
	return fmt.Sprintf("the audit found problems with %d entries of the log (see the report)", int(n))
}

// runAudit audits the log, drawing a progress bar on stderr if bar is set,
// and prints the report.
func runAudit(ctx context.Context, stdout, stderr io.Writer, cfg audit.Config, asJSON, bar bool) error {
	var p *progressBar
	if bar {
		p = &progressBar{out: stderr}
		cfg.Progress = p.update
	}
	report, err := audit.Audit(ctx, cfg)
	p.finish(err == nil)
	if err != nil {
		return explainAudit(err, cfg)
	}
	if asJSON {
		err = writeJSON(stdout, report)
	} else {
		err = report.WriteText(stdout, auditTop)
	}
	if err != nil {
		return fmt.Errorf("failed to write report: %w", err)
	}
	if len(report.Findings) > 0 {
		return errFindings(len(report.Findings))
	}
	return nil
}

// explainAudit adds what to check to an audit's failure.
func explainAudit(err error, cfg audit.Config) error {
	var (
		cperr *audit.CheckpointError
		split *audit.SplitViewError
	)
	switch {
	case errors.As(err, &cperr):
		return fmt.Errorf("%w (is --log-key the key of this log?)", err)
	case errors.As(err, &split) && cfg.StateFile != "":
		return fmt.Errorf("%w; keep %s as evidence: it holds the other signed checkpoint", err, cfg.StateFile)
	}
	return err
}

// isTerminal reports whether f is a character device, such as a terminal.
func isTerminal(f *os.File) bool {
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// progressBar shows an audit's progress, created at the first update,
// when the number of entries is known. Its methods do nothing on nil.
type progressBar struct {
	out       io.Writer
	container *mpb.Progress
	bar       *mpb.Bar
}

func (p *progressBar) update(done, total uint64) {
	if p.bar == nil {
		p.container = mpb.New(mpb.WithOutput(p.out), mpb.WithWidth(40), mpb.ForceAutoRefresh())
		p.bar = p.container.AddBar(int64(total),
			mpb.PrependDecorators(decor.Name("audit "), decor.CountersNoUnit("%d / %d entries")),
			mpb.AppendDecorators(decor.Percentage(), decor.Name(" "), decor.AverageSpeed(nil, "%.0f entries/s")))
	}
	p.bar.SetCurrent(int64(done))
}

// finish completes the bar, or removes it if the audit failed, and waits
// for it to be drawn.
func (p *progressBar) finish(ok bool) {
	if p == nil || p.bar == nil {
		return
	}
	if !ok || !p.bar.Completed() {
		p.bar.Abort(!ok)
	}
	p.container.Wait()
}
