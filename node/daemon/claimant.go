package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/docket-project/docket/node/claimant"
	"github.com/docket-project/docket/node/observe"
	"github.com/docket-project/docket/node/p2p"
	"github.com/docket-project/docket/node/tlog"
	"github.com/docket-project/docket/protocol"
)

// Times of the claimant role.
const (
	// syncInterval is how often a claimant asks its peers again for the
	// announcements they know; a peer is asked as soon as it connects.
	syncInterval = time.Minute
	// directoryRefresh is how often the directory is rebuilt, dropping
	// expired announcements.
	directoryRefresh = time.Minute
	// publishTimeout bounds the publication of one assertion: its log
	// submission and its gossip.
	publishTimeout = time.Minute
	// retryInterval is how often a claimant retries logging its chain.
	retryInterval = 10 * time.Second
)

// claimantRole publishes the claimant's assertions: each is logged, then
// gossiped with its inclusion proof. Its routing directory is built from
// the ISP announcements it trusts.
type claimantRole struct {
	d   *Daemon
	s   *claimantSettings
	log *slog.Logger

	mu sync.Mutex
	// dir is the routing directory, conflicts the announcements'
	// conflicts, changed closed (and replaced) when dir changes. Guarded
	// by mu.
	dir       protocol.Directory
	conflicts []protocol.Conflict
	changed   chan struct{}

	// chainLogged is closed once logChain has logged the credentials: a
	// log that verifies signatures takes an assertion only under a
	// credential it holds.
	chainLogged chan struct{}
}

func newClaimant(d *Daemon) *claimantRole {
	return &claimantRole{d: d, s: d.set.claimant, log: d.log.With("role", RoleClaimant), changed: make(chan struct{}),
		chainLogged: make(chan struct{})}
}

// rebuild builds the directory again from the announcements the node
// keeps that verify with the trusted ISP keys (spec/SPEC.md §12.3).
// Conflicts are counted and logged, never resolved.
func (c *claimantRole) rebuild() {
	now := time.Now()
	var anns []*protocol.SignedAnnouncement
	for _, a := range c.d.anns.valid(now) {
		if sa, err := protocol.VerifyAnnouncement(a.raw, c.d.set.isps, now); err == nil {
			anns = append(anns, sa)
		}
	}
	dir, conflicts := protocol.DirectoryOf(anns)
	c.mu.Lock()
	defer c.mu.Unlock()
	if !reflect.DeepEqual(dir, c.dir) {
		c.dir = dir
		close(c.changed)
		c.changed = make(chan struct{})
		names := make([]string, len(dir.ISPs))
		for i, e := range dir.ISPs {
			names[i] = e.Name
		}
		c.log.Info("routing directory changed", "isps", names)
	}
	if !reflect.DeepEqual(conflicts, c.conflicts) {
		for _, cf := range conflicts {
			if cf.Prefix.IsValid() {
				c.log.Warn("announcements conflict: a prefix claimed by several ISPs is routed to none",
					"prefix", cf.Prefix, "isps", cf.ISPs, "announcements", cf.Announcements)
			} else {
				c.log.Warn("announcements conflict: an ISP name announced by several keys is left out",
					"isps", cf.ISPs, "announcements", cf.Announcements)
			}
		}
		c.conflicts = conflicts
	}
	c.d.metrics.conflicts.Set(float64(len(conflicts)))
	c.d.metrics.directoryISPs.Set(float64(len(dir.ISPs)))
}

// directory returns the current directory and a channel closed when it
// changes.
func (c *claimantRole) directory() (protocol.Directory, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dir, c.changed
}

// Published is what publishing an assertion did.
type Published struct {
	// ID is the assertion's id.
	ID protocol.ID `json:"id"`
	// Log is the origin of the log that holds it, Index the index of its
	// first entry and CheckpointSize the size of the checkpoint proving it.
	Log            string `json:"log"`
	Index          uint64 `json:"index"`
	CheckpointSize uint64 `json:"checkpoint_size"`
	// Messages is the number of gossip messages that carried it.
	Messages int `json:"messages"`
}

// publishError is a bundle that cannot be published, whatever the retry.
type publishError struct{ err error }

func (e *publishError) Error() string { return e.err.Error() }
func (e *publishError) Unwrap() error { return e.err }

// publish logs a bundle of this claimant and gossips it with its proof.
// It does not judge the assertion's time: an ISP answers an expired one
// with a receipt EXPIRED. An error wrapping *publishError means the bundle
// will never be published (it is not this claimant's, or the log rejects
// it); any other may be retried.
func (c *claimantRole) publish(ctx context.Context, bundle []byte) (*Published, error) {
	sa, err := protocol.DecodeAssertion(bundle)
	if err != nil {
		return nil, &publishError{err}
	}
	switch {
	case sa.Assertion.Credential != c.s.leaf.ID:
		return nil, &publishError{fmt.Errorf("assertion %s is made under credential %s, not this claimant's %s", sa.ID, sa.Assertion.Credential, c.s.leaf.ID)}
	case sa.Envelope.Verify(c.s.key.Public()) != nil:
		return nil, &publishError{fmt.Errorf("assertion %s is not signed by this claimant's key %s", sa.ID, c.s.key.Public().ID())}
	}
	select {
	case <-c.chainLogged:
	case <-ctx.Done():
		return nil, fmt.Errorf("assertion %s is not published: the claimant's credentials are not logged yet: %w", sa.ID, ctx.Err())
	}
	proof, l, err := c.d.logs.submit(ctx, tlog.KindAssertion, bundle)
	if err != nil {
		c.d.metrics.published.WithLabelValues("log_failed").Inc()
		var perr *protocol.Error
		if errors.As(err, &perr) {
			return nil, &publishError{err}
		}
		return nil, err
	}
	msgs, err := assertionMessages(bundle, c.s.chain, proof, c.d.set.maxMessage)
	if err != nil {
		c.d.metrics.published.WithLabelValues("too_large").Inc()
		return nil, &publishError{err}
	}
	for _, m := range msgs {
		if err := c.d.node.Publish(ctx, p2p.TopicAssertion, m); err != nil {
			c.d.metrics.published.WithLabelValues("gossip_failed").Inc()
			return nil, fmt.Errorf("assertion %s is logged but not gossiped: %w", sa.ID, err)
		}
	}
	c.d.metrics.published.WithLabelValues("ok").Inc()
	size, _ := checkpointSize([]byte(proof.Checkpoint))
	c.log.Info("assertion published", "assertion", sa.ID, "log", l.origin, "index", proof.Index, "messages", len(msgs), "isps", len(sa.Assertion.Sections))
	return &Published{ID: sa.ID, Log: l.origin, Index: proof.Index, CheckpointSize: size, Messages: len(msgs)}, nil
}

// Publish implements claimant.Publisher: it publishes the assertions the
// continuous observation builds.
func (c *claimantRole) Publish(ctx context.Context, bundle []byte, _ protocol.ID) error {
	_, err := c.publish(ctx, bundle)
	return err
}

// logChain submits the claimant's credentials to the log, retrying until
// it takes them, so that auditors can check its assertions.
func (c *claimantRole) logChain(ctx context.Context) {
	for i := 0; i < len(c.s.chain); {
		_, _, err := c.d.logs.submit(ctx, tlog.KindCredential, c.s.chain[i])
		if err == nil {
			i++
			continue
		}
		c.log.Warn("failed to log the claimant's credential; retrying", "credential", i, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(retryInterval):
		}
	}
	close(c.chainLogged)
	c.log.Info("credential chain logged", "credentials", len(c.s.chain))
}

// syncLoop fetches announcements from each peer as soon as it connects
// and again every syncInterval, and rebuilds the directory from time to
// time so that expired announcements drop out.
func (c *claimantRole) syncLoop(ctx context.Context) {
	sub, err := c.d.node.Host().EventBus().Subscribe(new(event.EvtPeerConnectednessChanged))
	if err != nil {
		c.log.Error("failed to watch peer connections", "err", err)
		return
	}
	defer sub.Close()
	fetch := func(p peer.ID) {
		rctx, cancel := context.WithTimeout(ctx, announcementsProtocol.Timeout)
		defer cancel()
		if err := c.d.fetchAnnouncements(rctx, p); err != nil {
			c.log.Debug("failed to fetch announcements", "peer", p, "err", err)
		}
	}
	all := func() {
		for _, p := range c.d.node.Peers() {
			fetch(p)
		}
	}
	all()
	resync := time.NewTicker(syncInterval)
	defer resync.Stop()
	refresh := time.NewTicker(directoryRefresh)
	defer refresh.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-sub.Out():
			if ev, ok := e.(event.EvtPeerConnectednessChanged); ok && ev.Connectedness == network.Connected {
				fetch(ev.Peer)
			}
		case <-resync.C:
			all()
		case <-refresh.C:
			c.rebuild()
		}
	}
}

// observeLoop observes one swarm and runs node/claimant over it, started
// again with the new directory whenever the directory changes. It waits
// for a directory with at least one ISP before the first round.
func (c *claimantRole) observeLoop(ctx context.Context, t torrentSettings) {
	log := c.log.With("torrent", t.file)
	obs, err := observe.New(observe.Config{ListenAddr: t.listen, Logger: log}, t.metainfo)
	if err != nil {
		log.Error("failed to observe the swarm", "err", err)
		return
	}
	defer obs.Close()
	if len(t.peers) > 0 {
		if err := obs.AddPeers("manual", t.peers...); err != nil {
			log.Warn("failed to add peers", "err", err)
		}
	}
	if empty, err := obs.ObservationWindow(time.Now(), time.Now()); err == nil && !c.s.leaf.Credential.Covers(empty.Content) {
		log.Error("the claimant's credential lists no work with this content", "content", empty.Content)
		return
	}
	for {
		dir, changed := c.directory()
		if len(dir.ISPs) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-changed:
				continue
			}
		}
		cl, err := claimant.New(obs, claimant.Config{
			Key: c.s.key, Credential: c.s.leaf.ID, Directory: dir, Publisher: c,
			Interval: c.s.interval, Life: c.s.life, Logger: log,
		})
		if err != nil {
			log.Error("failed to start the claimant", "err", err)
			return
		}
		run, cancel := context.WithCancel(ctx)
		done := make(chan claimant.Summary, 1)
		go func() { done <- cl.Run(run) }()
		select {
		case <-ctx.Done():
		case <-changed:
		}
		cancel()
		sum := <-done
		log.Debug("claimant stopped", "rounds", sum.Rounds, "published", sum.Published)
		if ctx.Err() != nil {
			return
		}
	}
}
