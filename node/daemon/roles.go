package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/docket-project/docket/node/audit"
	"github.com/docket-project/docket/node/tlog"
	"github.com/docket-project/docket/node/witness"
)

// server is one HTTP listener of the node.
type server struct {
	name string
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
}

// listen starts serving h on addr.
func listen(name, addr string, h http.Handler, d *Daemon) (*server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("failed to listen for %s on %s: %w", name, addr, err)
	}
	return serve(name, ln, h, d), nil
}

// serve starts serving h on ln.
func serve(name string, ln net.Listener, h http.Handler, d *Daemon) *server {
	s := &server{name: name, ln: ln, done: make(chan struct{}),
		srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("HTTP server failed", "server", name, "err", err)
		}
	}()
	d.log.Info("serving HTTP", "server", name, "addr", ln.Addr().String())
	return s
}

// URL returns the server's base URL.
func (s *server) URL() string { return "http://" + s.ln.Addr().String() }

// shutdown stops the server, waiting up to timeout for requests in
// progress.
func (s *server) shutdown(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	s.srv.Shutdown(ctx)
	<-s.done
}

// startWitness starts the witness role: it cosigns the trusted logs'
// checkpoints and keeps its state in DATA_DIR/witness.
func (d *Daemon) startWitness() error {
	ws := d.set.witness
	var follow []witness.Log
	for _, l := range d.set.logs {
		follow = append(follow, witness.Log{Origin: l.origin, Verifier: l.verifier})
	}
	w, err := witness.New(witness.Config{Signer: ws.signer, Logs: follow, StateDir: ws.dir, Logger: d.log.With("role", RoleWitness)})
	if err != nil {
		return err
	}
	s, err := listen(RoleWitness, ws.listen, w.Handler(), d)
	if err != nil {
		return err
	}
	d.witnessSrv = s
	return nil
}

// startLog starts the log role: the log in DATA_DIR/log, served over HTTP
// and over the log-add protocol, cosigned by the trusted witnesses.
func (d *Daemon) startLog(ctx context.Context) error {
	ls := d.set.log
	// The log verifies signatures with the node's trusted registrars and
	// ISP keys; with no registrar it is an open log.
	cfg := tlog.Config{Dir: ls.dir, Signer: ls.signer, Registrars: d.set.registrars, ISPs: d.set.isps,
		Logger: d.log.With("role", RoleLog)}
	for i, k := range d.set.witnessKeys {
		cfg.Witnesses = append(cfg.Witnesses, tlog.Witness{Key: k, URL: d.set.witnessURLs[i]})
	}
	if len(cfg.Witnesses) > 0 {
		cfg.WitnessesRequired = d.set.witnessesRequired
	}
	// Listen first, so that a port in use fails before the log opens.
	ln, err := net.Listen("tcp", ls.listen)
	if err != nil {
		return fmt.Errorf("failed to listen for %s on %s: %w", RoleLog, ls.listen, err)
	}
	l, err := tlog.Open(ctx, cfg)
	if err != nil {
		ln.Close()
		return err
	}
	if len(cfg.Registrars) == 0 {
		d.log.Warn("the log is open: it verifies no signature, as trust.registrars is empty", "role", RoleLog)
	}
	d.tlog = l
	d.logs.local = l
	d.logSrv = serve(RoleLog, ln, l.Handler(), d)
	return nil
}

// auditLoop audits every readable trusted log each interval.
func (d *Daemon) auditLoop(ctx context.Context) {
	prev := map[string]uint64{}
	for {
		for _, l := range d.set.logs {
			d.audit(ctx, l, prev)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(d.set.auditor.interval):
		}
	}
}

// audit runs one audit of a log and reports it: the findings of the last
// audit as a gauge by kind, and a log line for each finding in the part of
// the log audited for the first time.
func (d *Daemon) audit(ctx context.Context, l *trustedLog, prev map[string]uint64) {
	source := l.url
	if d.set.log != nil && d.set.log.signer.Name() == l.origin {
		source = d.set.log.dir
	}
	if source == "" {
		return
	}
	dir := filepath.Join(d.set.dataDir, "audit")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		d.log.Error("failed to create audit directory", "err", err)
		return
	}
	log := d.log.With("role", RoleAuditor, "log", l.origin)
	rep, err := audit.Audit(ctx, audit.Config{
		Source: source, LogKey: l.verifier,
		Witnesses: d.set.witnessVerifiers, WitnessesRequired: d.set.witnessesRequired,
		Registrars: d.set.registrars, ISPs: d.set.isps,
		StateFile: filepath.Join(dir, fileName(l.origin)+".state"),
	})
	if err != nil {
		if ctx.Err() == nil {
			d.metrics.audits.WithLabelValues(l.origin, "failed").Inc()
			log.Error("audit failed", "err", err)
		}
		return
	}
	d.metrics.audits.WithLabelValues(l.origin, "ok").Inc()
	d.metrics.audited.WithLabelValues(l.origin).Set(float64(rep.Size))
	d.sizes.observe(l.origin, rep.Size)
	d.metrics.findings.DeletePartialMatch(map[string]string{"origin": l.origin})
	kinds := map[audit.FindingKind]int{}
	for _, f := range rep.Findings {
		kinds[f.Kind]++
		if f.Index >= prev[l.origin] {
			log.Warn("audit finding", "index", f.Index, "kind", f.Kind, "code", f.Code, "object", f.Object, "msg", f.Message)
		}
	}
	for k, n := range kinds {
		d.metrics.findings.WithLabelValues(l.origin, string(k)).Set(float64(n))
	}
	log.Info("audit done", "size", rep.Size, "findings", len(rep.Findings), "entries", rep.Entries)
	prev[l.origin] = rep.Size
}

// verifiers returns the note verifiers of the trusted logs.
func verifiers(logs []*trustedLog) []note.Verifier {
	out := make([]note.Verifier, len(logs))
	for i, l := range logs {
		out[i] = l.verifier
	}
	return out
}
