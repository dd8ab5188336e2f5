package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docket-project/docket/internal/atomicfile"
	"github.com/docket-project/docket/node/p2p"
	"github.com/docket-project/docket/node/tlog"
)

// RunFile is the name of the file, in the data directory, where a running
// node writes its RunInfo; it is removed when the node stops.
const RunFile = "node.json"

// Daemon is a running node: the roles of its configuration wired
// together over one libp2p host. Its methods are safe for concurrent use.
type Daemon struct {
	set     *settings
	log     *slog.Logger
	metrics *metrics
	sizes   checkpointSizes
	anns    announcementCache
	logs    *logSet
	node    *p2p.Node

	isp        *ispRole
	claimant   *claimantRole
	tlog       *tlog.Log
	logSrv     *server
	witnessSrv *server
	adminSrv   *server
	followers  []*follower

	gossipMu sync.Mutex
	// gossipCounts counts the validators' verdicts by topic, then by
	// "accept", "ignore CODE" or "reject CODE". Guarded by gossipMu.
	gossipCounts map[string]map[string]uint64

	healthy   atomic.Bool
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// RunInfo is what a running node writes to DATA_DIR/node.json: where to
// reach it.
type RunInfo struct {
	PID    int    `json:"pid"`
	PeerID string `json:"peer_id"`
	// P2P are the node's libp2p addresses, ending in /p2p/<peer id>.
	P2P []string `json:"p2p"`
	// Admin, Log and Witness are the base URLs of the node's HTTP
	// listeners; empty when not running.
	Admin   string `json:"admin,omitempty"`
	Log     string `json:"log,omitempty"`
	Witness string `json:"witness,omitempty"`
}

// NewLogger returns a logger writing to w in the configured format and
// at the configured level.
func NewLogger(w io.Writer, c LoggingConfig) (*slog.Logger, error) {
	cfg := Config{Logging: c}
	ck := &checker{cfg: &cfg}
	s := &settings{}
	ck.logging(s)
	if len(ck.errs) > 0 {
		return nil, errors.Join(ck.errs...)
	}
	opts := &slog.HandlerOptions{Level: s.logLevel}
	if s.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return slog.New(slog.NewTextHandler(w, opts)), nil
}

// New validates cfg and starts the node: the witness and log roles first
// (a log asks its witnesses to cosign as it opens), then the ISP's
// pipeline (which reconciles its backend to the stored state), the
// libp2p host, the admin listener and the roles' loops. logger receives
// the node's events; nil means a logger built from cfg.Logging writing to
// standard error. ctx bounds the start only: the node runs until Close.
func New(ctx context.Context, cfg *Config, logger *slog.Logger) (_ *Daemon, err error) {
	s, err := cfg.check()
	if err != nil {
		return nil, err
	}
	if logger == nil {
		if logger, err = NewLogger(os.Stderr, cfg.Logging); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(s.dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create data directory: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(s.identity), 0o700); err != nil {
		return nil, fmt.Errorf("failed to create the identity's directory: %w", err)
	}
	d := &Daemon{set: s, log: logger, metrics: newMetrics(), gossipCounts: map[string]map[string]uint64{}}
	if d.logs, err = newLogSet(s, logger, d.metrics, &d.sizes); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	if s.witness != nil {
		if err := d.startWitness(); err != nil {
			return nil, fmt.Errorf("failed to start the witness role: %w", err)
		}
	}
	if s.log != nil {
		if err := d.startLog(ctx); err != nil {
			return nil, fmt.Errorf("failed to start the log role: %w", err)
		}
	}
	if s.isp != nil {
		if d.isp, err = newISP(ctx, d); err != nil {
			return nil, fmt.Errorf("failed to start the isp role: %w", err)
		}
	}
	if s.claimant != nil {
		d.claimant = newClaimant(d)
	}
	peers := append([]string(nil), s.peers...)
	for _, l := range s.logs {
		if l.peerAddr != "" {
			peers = append(peers, l.peerAddr)
		}
	}
	node, err := p2p.New(ctx, p2p.Config{
		ListenAddrs: s.listen, IdentityFile: s.identity, Peers: peers, DialPrefixes: s.dialPrefixes,
		Topics: d.topics(), MaxMessageSize: s.maxMessage, Logger: logger.With("part", "p2p"),
	})
	if err != nil {
		return nil, err
	}
	d.node = node
	d.logs.node = node
	if err := node.Handle(announcementsProtocol, d.serveAnnouncements); err != nil {
		return nil, err
	}
	if d.tlog != nil {
		if err := node.Handle(logAddProtocol, serveLogAdd(d.tlog)); err != nil {
			return nil, err
		}
	}
	if d.followers, err = newFollowers(s, d.logs); err != nil {
		return nil, err
	}
	d.metrics.reg.MustRegister(nodeCollector{d})
	if s.admin != "" {
		if d.adminSrv, err = listen("admin", s.admin, d.adminHandler(), d); err != nil {
			return nil, err
		}
	}
	d.start()
	if err := d.writeRunInfo(); err != nil {
		return nil, err
	}
	d.healthy.Store(true)
	d.log.Info("node started", "peer_id", node.ID(), "roles", s.roleList, "addrs", node.Addrs())
	return d, nil
}

// start starts the roles' loops, each stopped by Close.
func (d *Daemon) start() {
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	goLoop := func(f func(context.Context)) {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			f(ctx)
		}()
	}
	for _, f := range d.followers {
		goLoop(func(ctx context.Context) {
			for {
				f.update(ctx, d.logs)
				select {
				case <-ctx.Done():
					return
				case <-time.After(followInterval):
				}
			}
		})
	}
	if d.isp != nil {
		goLoop(d.isp.run)
		goLoop(d.isp.maintain)
		goLoop(d.isp.announceLoop)
	}
	if c := d.claimant; c != nil {
		goLoop(c.logChain)
		goLoop(c.syncLoop)
		for _, t := range c.s.torrents {
			goLoop(func(ctx context.Context) { c.observeLoop(ctx, t) })
		}
		if c.s.watch != "" {
			w := &watcher{role: RoleClaimant, dir: c.s.watch, interval: c.s.watchInterval, log: c.log, metrics: d.metrics,
				handle: func(ctx context.Context, data []byte) error {
					pctx, cancel := context.WithTimeout(ctx, publishTimeout)
					defer cancel()
					_, err := c.publish(pctx, data)
					return err
				}}
			goLoop(w.run)
		}
	}
	if r := d.set.registrar; r != nil {
		w := &watcher{role: RoleRegistrar, dir: r.watch, interval: r.watchInterval, log: d.log.With("role", RoleRegistrar),
			metrics: d.metrics, handle: d.publishRevocation}
		goLoop(w.run)
	}
	if d.set.auditor != nil {
		goLoop(d.auditLoop)
	}
}

// ID returns the node's libp2p peer id.
func (d *Daemon) ID() string { return d.node.ID().String() }

// Addrs returns the node's libp2p addresses, ending in /p2p/<peer id>.
func (d *Daemon) Addrs() []string { return d.node.Addrs() }

// Node returns the node's libp2p host.
func (d *Daemon) Node() *p2p.Node { return d.node }

// RunInfo returns where to reach the node.
func (d *Daemon) RunInfo() RunInfo {
	ri := RunInfo{PID: os.Getpid(), PeerID: d.ID(), P2P: d.Addrs()}
	if d.adminSrv != nil {
		ri.Admin = d.adminSrv.URL()
	}
	if d.logSrv != nil {
		ri.Log = d.logSrv.URL()
	}
	if d.witnessSrv != nil {
		ri.Witness = d.witnessSrv.URL()
	}
	return ri
}

func (d *Daemon) writeRunInfo() error {
	data, err := encodeJSON(d.RunInfo())
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(d.set.dataDir, RunFile), append(data, '\n'), 0o644)
}

// Publish logs an assertion bundle of the node's claimant and gossips it
// with its inclusion proof. It fails if the node runs no claimant role,
// or if the bundle is not the claimant's: made under another credential
// or signed by another key.
func (d *Daemon) Publish(ctx context.Context, bundle []byte) (*Published, error) {
	if d.claimant == nil {
		return nil, errors.New("failed to publish: the node runs no claimant role")
	}
	return d.claimant.publish(ctx, bundle)
}

// checkpoints returns the largest checkpoint size the node verified from
// each log.
func (d *Daemon) checkpoints() map[string]uint64 {
	if d.isp != nil {
		for origin, size := range d.isp.storedCheckpoints() {
			d.sizes.observe(origin, size)
		}
	}
	return d.sizes.snapshot()
}

// Close stops the node gracefully: it stops accepting work (the admin
// listener, the roles' loops, gossip), offers the receipts still queued to
// the log, closes the backend and the store, and closes the log after
// publishing what it accepted. It is safe to call more than once.
func (d *Daemon) Close() error {
	d.closeOnce.Do(func() {
		d.healthy.Store(false)
		var errs []error
		if d.adminSrv != nil {
			d.adminSrv.shutdown(2 * time.Second)
		}
		if d.cancel != nil {
			d.cancel()
		}
		d.wg.Wait()
		if d.node != nil {
			errs = append(errs, d.node.Close())
		}
		if d.isp != nil {
			errs = append(errs, d.isp.close())
		}
		if d.logSrv != nil {
			d.logSrv.shutdown(5 * time.Second)
		}
		if d.tlog != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			errs = append(errs, d.tlog.Close(ctx))
			cancel()
		}
		if d.witnessSrv != nil {
			d.witnessSrv.shutdown(5 * time.Second)
		}
		os.Remove(filepath.Join(d.set.dataDir, RunFile))
		d.closeErr = errors.Join(errs...)
		d.log.Info("node stopped", "err", d.closeErr)
	})
	return d.closeErr
}

// Run starts a node with cfg and runs it until ctx ends, then stops it.
func Run(ctx context.Context, cfg *Config, logger *slog.Logger) error {
	d, err := New(ctx, cfg, logger)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return d.Close()
}
