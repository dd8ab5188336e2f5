package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/docket-project/docket/enforce"
	"github.com/docket-project/docket/enforce/dryrun"
	"github.com/docket-project/docket/enforce/flowspec"
	"github.com/docket-project/docket/enforce/nft"
	"github.com/docket-project/docket/internal/atomicfile"
	"github.com/docket-project/docket/node/isp"
	"github.com/docket-project/docket/node/logclient"
	"github.com/docket-project/docket/node/p2p"
	"github.com/docket-project/docket/node/store"
	"github.com/docket-project/docket/node/tlog"
	"github.com/docket-project/docket/protocol"
)

// Sizes and times of the ISP role.
const (
	// queueSize is how many assertion and revocation messages wait for the
	// pipeline; more are dropped (counted) until it catches up.
	queueSize = 256
	// workers is how many messages the pipeline is given at once. It
	// verifies them in parallel and decides one at a time; the workers
	// mostly wait for the log to take their receipts, which it does in
	// batches.
	workers = 8
	// submitAttempts bounds the tries of a submission the pipeline failed
	// to decide (store, backend, signing).
	submitAttempts = 3
	// expireInterval is how often expired state is pruned.
	expireInterval = time.Minute
	// maxPendingRevocations bounds the revocations an ISP keeps until an
	// assertion brings the chain they need.
	maxPendingRevocations = 10000
)

// job is one message for the ISP's pipeline.
type job struct {
	assertion  *AssertionMessage
	sa         *protocol.SignedAssertion
	revocation *RevocationMessage
	sr         *protocol.SignedRevocation
}

// ispRole runs the ISP's pipeline over its store and backend, fed by
// gossip, and publishes the ISP's announcements.
type ispRole struct {
	d        *Daemon
	s        *ispSettings
	store    *store.Store
	backend  enforce.Backend
	closeBE  func()
	pipeline *isp.Pipeline
	log      *slog.Logger
	queue    chan job

	pendingDir string
	mu         sync.Mutex
	// pending are revocations of credentials the store does not hold,
	// by credential id, kept until an assertion brings their chain.
	// Guarded by mu.
	pending map[protocol.ID][]pendingRevocation
}

type pendingRevocation struct {
	id   protocol.ID
	path string
	msg  *RevocationMessage
}

// newISP opens the store and the backend and starts the pipeline, which
// reconciles the backend to the stored desired state.
func newISP(ctx context.Context, d *Daemon) (*ispRole, error) {
	s := d.set.isp
	r := &ispRole{d: d, s: s, log: d.log.With("role", RoleISP), queue: make(chan job, queueSize),
		pendingDir: filepath.Join(d.set.dataDir, "pending-revocations"), pending: map[protocol.ID][]pendingRevocation{}}
	var err error
	if r.store, err = store.Open(filepath.Join(d.set.dataDir, "isp.db"), store.Options{}); err != nil {
		return nil, fmt.Errorf("failed to open the ISP store: %w", err)
	}
	if r.backend, r.closeBE, err = openBackend(ctx, s, r.log); err != nil {
		r.store.Close()
		return nil, fmt.Errorf("isp.enforcer: %w", err)
	}
	r.pipeline, err = isp.New(ctx, isp.Config{
		Name: s.name, Region: s.region, Identity: s.identity, Key: s.key,
		Registrars:        d.set.registrars,
		Logs:              verifiers(d.set.logs),
		Policy:            s.policy,
		Store:             r.store,
		Backend:           r.backend,
		Receipts:          isp.ReceiptSinkFunc(r.deliverReceipt),
		MaxLife:           s.maxLife,
		PermittedPrefixes: s.permitted,
		Logger:            r.log,
	})
	if err != nil {
		r.closeBE()
		r.store.Close()
		return nil, err
	}
	if err := r.loadPending(); err != nil {
		r.closeBE()
		r.store.Close()
		return nil, err
	}
	return r, nil
}

func openBackend(ctx context.Context, s *ispSettings, logger *slog.Logger) (enforce.Backend, func(), error) {
	switch s.enforcer {
	case "nft":
		var opts []nft.Option
		var ns *os.File
		if s.nftNetNS != "" {
			var err error
			if ns, err = os.Open(s.nftNetNS); err != nil {
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
	case "flowspec":
		b, err := flowspec.New(ctx, s.flowspec, flowspec.WithLogger(logger))
		if err != nil {
			return nil, nil, err
		}
		return b, func() { b.Close() }, nil
	}
	b, err := dryrun.New(s.dryrunState)
	if err != nil {
		return nil, nil, err
	}
	return b, func() {}, nil
}

// deliverReceipt is the pipeline's ReceiptSink: it submits a receipt to
// the trusted logs.
func (r *ispRole) deliverReceipt(ctx context.Context, id protocol.ID, envelope []byte) error {
	_, _, err := r.d.logs.submit(ctx, tlog.KindReceipt, envelope)
	if err != nil {
		return err
	}
	r.log.Debug("receipt logged", "assertion", id)
	return nil
}

// offer queues a message for the pipeline, or drops it if the queue is
// full.
func (r *ispRole) offer(j job) {
	select {
	case r.queue <- j:
	default:
		r.d.metrics.messages.WithLabelValues("dropped").Inc()
		r.log.Warn("pipeline queue full: message dropped")
	}
}

// run hands queued messages to the pipeline, from several workers, until
// ctx ends.
func (r *ispRole) run(ctx context.Context) {
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() { r.work(ctx) })
	}
	wg.Wait()
}

func (r *ispRole) work(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-r.queue:
			if j.assertion != nil {
				r.handleAssertion(ctx, j.assertion, j.sa)
			} else {
				r.handleRevocation(ctx, j.revocation, j.sr)
			}
		}
	}
}

// handleAssertion decides on an assertion message addressed to this ISP.
func (r *ispRole) handleAssertion(ctx context.Context, m *AssertionMessage, sa *protocol.SignedAssertion) {
	if _, ok := sa.Assertion.Section(r.s.name); !ok {
		r.d.metrics.messages.WithLabelValues("not_addressed").Inc()
		return
	}
	if _, ok := sa.Sealed[r.s.name]; !ok {
		// Another message of the assertion carries this ISP's section.
		r.d.metrics.messages.WithLabelValues("other_sections").Inc()
		return
	}
	if err := r.d.logs.checkQuorum(m.Proof.Checkpoint); err != nil {
		r.d.metrics.messages.WithLabelValues("no_quorum").Inc()
		r.log.Warn("assertion refused: its log checkpoint lacks the required witness cosignatures", "assertion", sa.ID, "err", err)
		return
	}
	r.applyPending(ctx, m.Chain)
	proof, err := json.Marshal(&m.Proof)
	if err != nil {
		r.log.Error("failed to encode proof", "err", err)
		return
	}
	sub := isp.Submission{Bundle: m.Bundle, Chain: m.Chain, Proof: proof}
	for attempt := 1; ; attempt++ {
		dec, err := r.pipeline.Submit(ctx, sub)
		if err == nil {
			// The pipeline logs its decisions.
			r.d.metrics.messages.WithLabelValues("decided").Inc()
			r.log.Debug("assertion decided", "assertion", dec.Assertion, "verdict", dec.Verdict, "code", dec.Code, "receipted", dec.Receipt != nil)
			return
		}
		r.log.Error("failed to decide on assertion", "assertion", sa.ID, "attempt", attempt, "err", err)
		if attempt == submitAttempts {
			r.d.metrics.messages.WithLabelValues("failed").Inc()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(attempt) * time.Second):
		}
	}
}

// handleRevocation applies a revocation, or keeps it until an assertion
// brings the chain of a credential the store does not hold.
func (r *ispRole) handleRevocation(ctx context.Context, m *RevocationMessage, sr *protocol.SignedRevocation) {
	rev, err := r.pipeline.Revoke(ctx, m.Revocation, m.Chain)
	switch {
	case errors.Is(err, isp.ErrUnknownCredential), err != nil && protocol.CodeOf(err) == "":
		// The credential is unknown here, or the node failed: keep the
		// revocation, to apply it before the next assertion under it.
		if err := r.keepPending(m, sr); err != nil {
			r.log.Error("failed to keep revocation", "revocation", sr.ID, "err", err)
		}
		r.d.metrics.revocations.WithLabelValues(RoleISP, "pending").Inc()
		r.log.Info("revocation kept until an assertion under its credential comes", "revocation", sr.ID,
			"credential", sr.Revocation.Credential, "reason", err)
	case err != nil:
		r.d.metrics.revocations.WithLabelValues(RoleISP, "rejected").Inc()
		r.log.Warn("revocation refused", "revocation", sr.ID, "code", protocol.CodeOf(err), "err", err)
	default:
		r.d.metrics.revocations.WithLabelValues(RoleISP, "applied").Inc()
		r.log.Info("revocation applied", "revocation", rev.ID, "credential", rev.Credential,
			"already", rev.AlreadyRevoked, "assertions", rev.Assertions, "withdrawn", rev.Withdrawn)
	}
}

// loadPending reads the pending revocations from the data directory.
func (r *ispRole) loadPending() error {
	if err := os.MkdirAll(r.pendingDir, 0o700); err != nil {
		return err
	}
	names, err := filepath.Glob(filepath.Join(r.pendingDir, "*.json"))
	if err != nil {
		return err
	}
	for _, path := range names {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		m, err := DecodeRevocationMessage(data)
		var sr *protocol.SignedRevocation
		if err == nil {
			sr, err = protocol.DecodeRevocation(m.Revocation)
		}
		if err != nil {
			r.log.Warn("unreadable pending revocation removed", "file", path, "err", err)
			os.Remove(path)
			continue
		}
		c := sr.Revocation.Credential
		r.pending[c] = append(r.pending[c], pendingRevocation{id: sr.ID, path: path, msg: m})
	}
	return nil
}

func (r *ispRole) keepPending(m *RevocationMessage, sr *protocol.SignedRevocation) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := sr.Revocation.Credential
	for _, p := range r.pending[c] {
		if p.id == sr.ID {
			return nil
		}
	}
	n := 0
	for _, list := range r.pending {
		n += len(list)
	}
	if n >= maxPendingRevocations {
		return fmt.Errorf("%d revocations are pending already", n)
	}
	data, err := encodeJSON(m)
	if err != nil {
		return err
	}
	path := filepath.Join(r.pendingDir, string(sr.ID)+".json")
	if err := atomicfile.Write(path, data, 0o600); err != nil {
		return err
	}
	r.pending[c] = append(r.pending[c], pendingRevocation{id: sr.ID, path: path, msg: m})
	return nil
}

// applyPending applies the pending revocations of the credentials of
// chain, with chain, before an assertion under it is decided.
func (r *ispRole) applyPending(ctx context.Context, chain [][]byte) {
	r.mu.Lock()
	var todo []pendingRevocation
	for _, c := range chain {
		sc, err := protocol.DecodeCredential(c)
		if err != nil {
			continue
		}
		todo = append(todo, r.pending[sc.ID]...)
	}
	r.mu.Unlock()
	for _, p := range todo {
		rev, err := r.pipeline.Revoke(ctx, p.msg.Revocation, chain)
		if errors.Is(err, isp.ErrUnknownCredential) {
			continue
		}
		if err != nil && protocol.CodeOf(err) == "" {
			r.log.Error("failed to apply pending revocation", "revocation", p.id, "err", err)
			continue // the node failed: try again with the next assertion
		}
		if err != nil {
			r.d.metrics.revocations.WithLabelValues(RoleISP, "rejected").Inc()
			r.log.Warn("pending revocation refused", "revocation", p.id, "code", protocol.CodeOf(err), "err", err)
		} else {
			r.d.metrics.revocations.WithLabelValues(RoleISP, "applied").Inc()
			r.log.Info("pending revocation applied", "revocation", rev.ID, "credential", rev.Credential)
		}
		r.dropPending(p)
	}
}

func (r *ispRole) dropPending(p pendingRevocation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sr, err := protocol.DecodeRevocation(p.msg.Revocation)
	if err != nil {
		return
	}
	c := sr.Revocation.Credential
	list := r.pending[c]
	for i := range list {
		if list[i].id == p.id {
			r.pending[c] = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(r.pending[c]) == 0 {
		delete(r.pending, c)
	}
	os.Remove(p.path)
}

// announce signs a fresh announcement and keeps it, so that peers asking
// for announcements get it.
func (r *ispRole) announce() ([]byte, error) {
	now := time.Now().UTC().Truncate(time.Second)
	a := protocol.Announcement{
		ISP: r.s.name, Region: r.s.region, PeerID: r.d.node.ID().String(),
		Recipient: r.s.identity.Recipient().String(), Prefixes: r.s.prefixes,
		IssuedAt: now, NotAfter: now.Add(r.s.announceValidity),
	}
	raw, id, err := protocol.SignAnnouncement(r.s.key, a)
	if err != nil {
		return nil, fmt.Errorf("failed to sign announcement: %w", err)
	}
	sa, err := protocol.DecodeAnnouncement(raw)
	if err != nil {
		return nil, err
	}
	r.d.anns.add(raw, sa)
	r.log.Info("announcement signed", "announcement", id, "prefixes", len(a.Prefixes), "not_after", a.NotAfter)
	return raw, nil
}

// announceLoop announces at start and whenever half the announcement's
// validity has passed.
func (r *ispRole) announceLoop(ctx context.Context) {
	for {
		raw, err := r.announce()
		if err != nil {
			r.log.Error("failed to announce", "err", err)
			return
		}
		renew := time.Now().Add(r.s.announceValidity / 2)
		r.publishAnnouncement(ctx, raw, renew)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(renew)):
		}
	}
}

// publishAnnouncement submits an announcement to the log and gossips it,
// retrying each every receipt_retry until it succeeds, ctx ends or the
// deadline passes. Peers that miss the gossip fetch it later with the
// announcements protocol.
func (r *ispRole) publishAnnouncement(ctx context.Context, raw []byte, deadline time.Time) {
	logged, gossiped := false, false
	for {
		if !logged {
			if _, _, err := r.d.logs.submit(ctx, tlog.KindAnnouncement, raw); err != nil {
				r.d.metrics.announcements.WithLabelValues("log_failed").Inc()
				r.log.Warn("failed to log announcement; retrying", "err", err)
			} else {
				r.d.metrics.announcements.WithLabelValues("logged").Inc()
				logged = true
			}
		}
		if !gossiped {
			pctx, cancel := context.WithTimeout(ctx, r.s.receiptRetry)
			err := r.d.node.Publish(pctx, p2p.TopicAnnouncement, raw)
			cancel()
			if err != nil {
				r.d.metrics.announcements.WithLabelValues("gossip_failed").Inc()
				r.log.Debug("announcement not gossiped yet", "err", err)
			} else {
				r.d.metrics.announcements.WithLabelValues("gossiped").Inc()
				gossiped = true
			}
		}
		if logged && gossiped || !time.Now().Before(deadline) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(r.s.receiptRetry):
		}
	}
}

// maintain flushes the receipt outbox and prunes expired state until ctx
// ends.
func (r *ispRole) maintain(ctx context.Context) {
	flush := time.NewTicker(r.s.receiptRetry)
	defer flush.Stop()
	expire := time.NewTicker(expireInterval)
	defer expire.Stop()
	r.flush(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-flush.C:
			r.flush(ctx)
		case <-expire.C:
			if pruned, err := r.pipeline.Expire(ctx); err != nil {
				r.log.Error("failed to prune expired state", "err", err)
			} else if pruned.Pairs > 0 || pruned.Seen > 0 {
				r.log.Debug("expired state pruned", "pairs", pruned.Pairs, "seen", pruned.Seen)
			}
		}
	}
}

func (r *ispRole) flush(ctx context.Context) {
	n, err := r.pipeline.FlushReceipts(ctx)
	if n > 0 {
		r.log.Info("queued receipts logged", "receipts", n)
	}
	if err != nil && ctx.Err() == nil {
		r.log.Warn("receipts stay queued for the next try", "err", err)
	}
}

// close flushes what it can and closes the backend and the store.
func (r *ispRole) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.flush(ctx)
	r.closeBE()
	return r.store.Close()
}

// storedCheckpoints reads the sizes of the checkpoints the store keeps.
func (r *ispRole) storedCheckpoints() map[string]uint64 {
	out := map[string]uint64{}
	r.store.View(func(tx *store.Tx) error {
		for _, l := range r.d.set.logs {
			if note := tx.Checkpoint(l.origin); note != nil {
				if size, ok := checkpointSize(note); ok {
					out[l.origin] = size
				}
			}
		}
		return nil
	})
	return out
}

// checkpointSize reads the tree size of a signed checkpoint note, without
// verifying it (the pipeline verified it before keeping it).
func checkpointSize(note []byte) (uint64, bool) {
	body, _, ok := strings.Cut(string(note), "\n\n")
	if !ok {
		return 0, false
	}
	_, size, _, err := logclient.ParseCheckpointText(body + "\n")
	return size, err == nil
}
