// Package flowspec enforces pairs by announcing BGP Flow Specification
// rules (RFC 8955 for IPv4, RFC 8956 for IPv6) from an embedded GoBGP
// speaker to the ISP's routers, which drop the matching traffic.
//
// # Rule encoding
//
// A pair (local L, remote R) becomes two rules, one per direction, each
// matching a single source and a single destination address (/32 for
// IPv4, /128 with offset 0 for IPv6) with the traffic-rate extended
// community at rate 0, which means discard (RFC 8955 §7.3):
//
//	pair 198.51.100.1 - 203.0.113.7, expiring 12:00:00
//
//	ipv4-flowspec  destination 198.51.100.1/32 source 203.0.113.7/32   traffic-rate 0:0 (discard)
//	ipv4-flowspec  destination 203.0.113.7/32  source 198.51.100.1/32   traffic-rate 0:0 (discard)
//
// A rule carries only its match and action: BGP has no expiry, so the
// Backend keeps each pair's expiry itself and withdraws both rules when it
// passes (one timer goroutine, woken by the earliest expiry). The two keys
// (A, B) and (B, A) are different pairs that need the same two rules; the
// rules are announced once and withdrawn when neither pair wants them.
//
// Every neighbour receives every rule: the speaker announces from its
// global RIB over sessions that negotiate only ipv4-flowspec and
// ipv6-flowspec. When Close stops the speaker its sessions close and the
// routers drop all of its rules (BGP withdraws a closed session's routes);
// a node that starts again brings them back with Reconcile.
//
// # Cap and shedding
//
// Routers hold a few thousand Flowspec rules, so the Backend announces at
// most Config.MaxRules rules (IPv4 and IPv6 together, default
// DefaultMaxRules), the same set to every neighbour. A pair is announced
// whole (both rules) or not at all. When the desired pairs need more rules
// than that, pairs are kept in this order, and the rest are shed:
//
//  1. the later expiry first;
//  2. on equal expiries, the lower local address (netip.Addr order: all
//     IPv4 addresses before IPv6, then numeric);
//  3. then the lower remote address.
//
// Walking the pairs in that order, a pair is kept if the rules it needs and
// that are not already kept still fit. Shed pairs stay desired: they are
// announced as soon as room frees up (a kept pair expires or is removed),
// and a new pair with a later expiry displaces the last kept one. Shedding
// is not an error: Stats counts it, and the Backend logs a warning
// when it sheds a pair that was not shed before.
//
// # Errors
//
// New returns errors wrapping enforce.ErrConfig for a bad Config (a
// missing AS, a bad or foreign address...), naming the field, and
// enforce.ErrTemporary when the listen port is in use. Add and Reconcile
// return enforce.ErrInvalidPair, having changed nothing, if any pair is
// invalid. Once the rules are in the speaker's RIB, Add, Remove and
// Reconcile return an error wrapping enforce.ErrTemporary if a configured
// neighbour's session is not established: the speaker sends the rules when
// the session comes up, but until then that router does not enforce them.
// The same class covers a speaker that fails to take a route. An
// established session that did not negotiate the Flowspec family of an
// announced rule (a router configured without ipv6-flowspec, say) is a
// configuration problem: enforce.ErrConfig, naming the neighbour.
package flowspec

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"

	"github.com/docket-project/docket/enforce"
)

// DefaultMaxRules is the number of rules a Backend announces at most when
// Config.MaxRules is 0.
const DefaultMaxRules = 2000

// DefaultConnectRetry is how long the speaker waits between attempts to
// open a session with a neighbour when Neighbor.ConnectRetry is 0 (the
// customary BGP ConnectRetry time).
const DefaultConnectRetry = 120 * time.Second

// ErrClosed is returned by calls on a Backend after Close.
var ErrClosed = errors.New("flowspec backend closed")

// Config configures the embedded BGP speaker. The field comments are the
// documentation of the flowspec section of a node's configuration file.
type Config struct {
	// AS is the speaker's autonomous system number. Required.
	AS uint32 `yaml:"as" json:"as"`
	// RouterID is the speaker's BGP identifier, an IPv4 address. Required.
	RouterID netip.Addr `yaml:"router_id" json:"router_id"`
	// ListenAddress is the address the speaker accepts sessions on. Unset,
	// it listens on all addresses.
	ListenAddress netip.Addr `yaml:"listen_address" json:"listen_address,omitzero"`
	// ListenPort is the TCP port it accepts sessions on: 0 means 179, -1
	// means it does not listen and only opens sessions itself.
	ListenPort int32 `yaml:"listen_port" json:"listen_port,omitzero"`
	// Neighbors are the routers that receive the rules.
	Neighbors []Neighbor `yaml:"neighbors" json:"neighbors,omitzero"`
	// MaxRules caps the number of rules announced to each router (two per
	// pair); 0 means DefaultMaxRules. Pairs beyond it are shed.
	MaxRules int `yaml:"max_rules" json:"max_rules,omitzero"`
}

// Neighbor is a router that receives the rules.
type Neighbor struct {
	// Address is the router's address. Required.
	Address netip.Addr `yaml:"address" json:"address"`
	// AS is the router's autonomous system number. Required; equal to
	// Config.AS for an iBGP session.
	AS uint32 `yaml:"as" json:"as"`
	// Port is the router's BGP port; 0 means 179.
	Port uint16 `yaml:"port" json:"port,omitzero"`
	// LocalAddress is the source address of sessions the speaker opens.
	// Unset, it is Config.ListenAddress when that is set, not unspecified
	// and of the same family, and the system's choice otherwise (which, towards another
	// loopback address, is 127.0.0.1 or ::1).
	LocalAddress netip.Addr `yaml:"local_address" json:"local_address,omitzero"`
	// ConnectRetry is the time between attempts to open the session; 0
	// means DefaultConnectRetry. GoBGP counts whole seconds, at least one.
	ConnectRetry time.Duration `yaml:"connect_retry" json:"connect_retry,omitzero,format:units"`
}

// Option configures a Backend beyond its Config; see New.
type Option func(*options)

type options struct {
	logger *slog.Logger
	now    func() time.Time
}

// WithLogger makes the Backend and its BGP speaker log to l instead of
// discarding their logs.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// WithClock makes the Backend read the time from now instead of time.Now,
// to decide which pairs are expired; its timer still sleeps in real time
// until the earliest expiry as now reports it.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// Stats counts what the Backend announces and sheds.
type Stats struct {
	// Desired is the number of pairs the Backend was asked to enforce
	// that have neither expired nor been removed, announced or shed.
	Desired int
	// Announced is the number of pairs whose rules are announced.
	Announced int
	// Rules is the number of rules announced, at most Config.MaxRules.
	Rules int
	// Shedding is the number of desired pairs not announced now for lack
	// of room.
	Shedding int
	// Shed counts, since New, each time a desired pair was left out or
	// withdrawn for lack of room; a pair shed, announced again and shed
	// again counts twice.
	Shed uint64
}

// Backend announces pairs as Flowspec rules from an embedded BGP speaker.
// It implements enforce.Backend and enforce.Lister. Its methods are safe
// for concurrent use; they are serialised.
type Backend struct {
	srv       *server.BgpServer
	maxRules  int
	neighbors []netip.Addr
	now       func() time.Time
	log       *slog.Logger

	cancel    context.CancelFunc // stops the expiry goroutine
	wake      chan struct{}      // tells the expiry goroutine that next changed
	done      chan struct{}      // closed when the expiry goroutine returns
	closeOnce sync.Once

	mu sync.Mutex
	// closed is set by Close; every call checks it first.
	closed bool
	// desired holds every pair asked for and neither expired nor
	// removed, announced or shed.
	desired record
	// rules are the rules in the speaker's RIB, as far as the Backend
	// knows (Reconcile reads the RIB again).
	rules map[rule]bool
	// announced and shedding count the desired pairs announced and shed
	// (Stats.Announced, Stats.Shedding); shed counts pairs newly shed
	// (Stats.Shed).
	announced, shedding int
	shed                uint64
	// next is the earliest expiry among desired, zero if none.
	next time.Time
}

// New validates cfg and starts a BGP speaker that opens sessions with its
// neighbours; it does not wait for them to be established. ctx bounds the
// start only: the speaker runs until Close.
func New(ctx context.Context, cfg Config, opts ...Option) (*Backend, error) {
	o := options{logger: slog.New(slog.DiscardHandler), now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil || o.now == nil {
		return nil, fmt.Errorf("failed to configure flowspec backend: %w: nil logger or clock option", enforce.ErrConfig)
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("failed to configure flowspec backend: %w", err)
	}
	srv := server.NewBgpServer(server.LoggerOption(newGobgpLogger(o.logger)))
	// Serve has no way to return: after Stop it stays parked on its
	// channels (GoBGP v3 offers nothing else), so it is the one goroutine
	// Close does not end.
	go srv.Serve()

	global := &api.Global{
		Asn:        cfg.AS,
		RouterId:   cfg.RouterID.String(),
		ListenPort: cfg.listenPort(),
	}
	if cfg.ListenAddress.IsValid() {
		global.ListenAddresses = []string{cfg.ListenAddress.String()}
	}
	if err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: global}); err != nil {
		srv.Stop()
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("failed to start BGP speaker: listen_port %d: %w: %w", cfg.listenPort(), enforce.ErrTemporary, err)
		}
		return nil, fmt.Errorf("failed to start BGP speaker: listen_address/listen_port: %w: %w", enforce.ErrConfig, err)
	}
	b := &Backend{
		srv:      srv,
		maxRules: cfg.maxRules(),
		now:      o.now,
		log:      o.logger,
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		desired:  record{},
		rules:    map[rule]bool{},
	}
	for i, n := range cfg.Neighbors {
		if err := srv.AddPeer(ctx, &api.AddPeerRequest{Peer: cfg.peer(n)}); err != nil {
			srv.Stop()
			return nil, fmt.Errorf("failed to add neighbor: neighbors[%d]: %w: %w", i, enforce.ErrConfig, err)
		}
		b.neighbors = append(b.neighbors, n.Address)
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	go b.expireLoop(loopCtx)
	return b, nil
}

func (c *Config) validate() error {
	switch {
	case c.AS == 0:
		return fmt.Errorf("%w: as: missing or 0", enforce.ErrConfig)
	case !c.RouterID.Is4():
		return fmt.Errorf("%w: router_id: %q is not an IPv4 address", enforce.ErrConfig, c.RouterID)
	case c.ListenAddress.IsValid() && !plainAddr(c.ListenAddress):
		return fmt.Errorf("%w: listen_address: %s is zoned or IPv4-mapped", enforce.ErrConfig, c.ListenAddress)
	case c.ListenPort < -1 || c.ListenPort > 65535:
		return fmt.Errorf("%w: listen_port: %d is not a port, 0 (179) or -1 (do not listen)", enforce.ErrConfig, c.ListenPort)
	case c.MaxRules < 0 || c.MaxRules == 1:
		return fmt.Errorf("%w: max_rules: %d leaves no room for a pair's two rules", enforce.ErrConfig, c.MaxRules)
	}
	seen := map[netip.Addr]bool{}
	for i, n := range c.Neighbors {
		switch {
		case !n.Address.IsValid() || !plainAddr(n.Address) || n.Address.IsUnspecified():
			return fmt.Errorf("%w: neighbors[%d].address: %q is not a usable address", enforce.ErrConfig, i, n.Address)
		case seen[n.Address]:
			return fmt.Errorf("%w: neighbors[%d].address: %s is listed twice", enforce.ErrConfig, i, n.Address)
		case n.AS == 0:
			return fmt.Errorf("%w: neighbors[%d].as: missing or 0", enforce.ErrConfig, i)
		case n.LocalAddress.IsValid() && (!plainAddr(n.LocalAddress) || n.LocalAddress.Is4() != n.Address.Is4()):
			return fmt.Errorf("%w: neighbors[%d].local_address: %s is zoned, IPv4-mapped or not of the neighbor's family", enforce.ErrConfig, i, n.LocalAddress)
		case n.ConnectRetry < 0:
			return fmt.Errorf("%w: neighbors[%d].connect_retry: negative", enforce.ErrConfig, i)
		}
		seen[n.Address] = true
	}
	return nil
}

func plainAddr(a netip.Addr) bool { return a.Zone() == "" && !a.Is4In6() }

func (c *Config) listenPort() int32 {
	if c.ListenPort == 0 {
		return 179
	}
	return c.ListenPort
}

func (c *Config) maxRules() int {
	if c.MaxRules == 0 {
		return DefaultMaxRules
	}
	return c.MaxRules
}

// peer returns the GoBGP configuration of a session with n, which
// negotiates only the two Flowspec families.
func (c *Config) peer(n Neighbor) *api.Peer {
	local := n.LocalAddress
	if !local.IsValid() && c.ListenAddress.IsValid() && !c.ListenAddress.IsUnspecified() && c.ListenAddress.Is4() == n.Address.Is4() {
		local = c.ListenAddress
	}
	retry := n.ConnectRetry
	if retry == 0 {
		retry = DefaultConnectRetry
	}
	p := &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: n.Address.String(), PeerAsn: n.AS},
		Transport: &api.Transport{RemotePort: uint32(cmp.Or(n.Port, 179))},
		Timers:    &api.Timers{Config: &api.TimersConfig{ConnectRetry: uint64(max(retry.Round(time.Second), time.Second) / time.Second)}},
		AfiSafis: []*api.AfiSafi{
			{Config: &api.AfiSafiConfig{Family: family4, Enabled: true}},
			{Config: &api.AfiSafiConfig{Family: family6, Enabled: true}},
		},
	}
	if local.IsValid() {
		p.Transport.LocalAddress = local.String()
	}
	return p
}

// Add implements enforce.Backend. It validates every pair before it
// changes anything, records each pair with the later of its recorded and
// new expiries, and announces what fits under the cap.
func (b *Backend) Add(ctx context.Context, pairs []enforce.Pair) error {
	if err := validatePairs(pairs); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	b.desired.addLive(pairs, b.now())
	return b.sync(ctx)
}

// validatePairs returns the error of the first invalid pair, if any.
func validatePairs(pairs []enforce.Pair) error {
	for _, p := range pairs {
		if err := p.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// Remove implements enforce.Backend: it withdraws the pairs' rules (unless
// another pair needs the same rules) and announces shed pairs that now fit.
func (b *Backend) Remove(ctx context.Context, keys []enforce.Key) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	for _, k := range keys {
		delete(b.desired, k)
	}
	return b.sync(ctx)
}

// Reconcile implements enforce.Backend. It replaces the recorded pairs with
// desired and makes the speaker's RIB match, reading the RIB rather than
// trusting the record, so it also repairs a record that drifted after a
// failed call.
func (b *Backend) Reconcile(ctx context.Context, desired []enforce.Pair) error {
	if err := validatePairs(desired); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	b.desired = record{}
	b.desired.addLive(desired, b.now())
	rib, err := b.readRIB(ctx)
	if err != nil {
		return err
	}
	for _, p := range rib.foreign {
		if err := b.srv.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Family: p.Family, Path: p}); err != nil {
			return fmt.Errorf("failed to withdraw a foreign flowspec route: %w: %w", enforce.ErrTemporary, err)
		}
	}
	b.rules = rib.rules
	return b.sync(ctx)
}

// Installed implements enforce.Lister: it returns the announced pairs with
// their expiries, sorted by local then remote address. It first checks
// that the speaker's RIB holds exactly the rules the Backend recorded, and
// returns an error wrapping enforce.ErrTemporary if not (Reconcile
// repairs it).
func (b *Backend) Installed(ctx context.Context) ([]enforce.Pair, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	rib, err := b.readRIB(ctx)
	if err != nil {
		return nil, err
	}
	missing, extra := 0, len(rib.foreign)
	for r := range b.rules {
		if !rib.rules[r] {
			missing++
		}
	}
	for r := range rib.rules {
		if !b.rules[r] {
			extra++
		}
	}
	if missing != 0 || extra != 0 {
		return nil, fmt.Errorf("failed to confirm rules: %w: the speaker's RIB lacks %d recorded rules and holds %d others", enforce.ErrTemporary, missing, extra)
	}
	return b.desired.pairs(func(e *entry) bool { return e.announced }), nil
}

// Stats returns the Backend's counters.
func (b *Backend) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return Stats{
		Desired:   len(b.desired),
		Announced: b.announced,
		Rules:     len(b.rules),
		Shedding:  b.shedding,
		Shed:      b.shed,
	}
}

// Close stops the expiry timer and the BGP speaker, which closes its
// sessions; the routers then drop its rules. Calls after Close return
// ErrClosed. One goroutine stays behind, parked for good: GoBGP v3's
// BgpServer.Serve has no way to return.
func (b *Backend) Close() error {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.closed = true
		b.mu.Unlock()
		b.cancel()
		<-b.done
		b.srv.Stop()
	})
	return nil
}

// sync brings the speaker's RIB to the rules the desired pairs need under
// the cap, then checks the sessions. b.mu is held.
func (b *Backend) sync(ctx context.Context) error {
	if err := b.reshape(ctx); err != nil {
		return err
	}
	return b.checkSessions(ctx)
}

// reshape plans the rules the desired pairs need under the cap and applies
// the plan, withdrawing before announcing so that a router never holds
// more than the cap. b.mu is held.
func (b *Backend) reshape(ctx context.Context) error {
	target, next := b.desired.plan(b.maxRules)
	b.setNext(next)
	err := b.apply(ctx, target)
	before := b.shedding
	newly := 0
	b.announced, b.shedding = 0, 0
	for k, e := range b.desired {
		rs := rulesOf(k)
		e.announced = e.keep && b.rules[rs[0]] && b.rules[rs[1]]
		if e.announced {
			b.announced++
		}
		if !e.keep && !e.shed {
			newly++
		}
		e.shed = !e.keep
		if e.shed {
			b.shedding++
		}
	}
	b.shed += uint64(newly)
	switch {
	case newly > 0:
		b.log.Warn("flowspec rules over the cap: shedding pairs", "shedding", b.shedding, "newly_shed", newly, "max_rules", b.maxRules, "desired", len(b.desired))
	case b.shedding == 0 && before > 0:
		b.log.Info("flowspec rules back under the cap: no pair shed", "max_rules", b.maxRules, "desired", len(b.desired))
	}
	return err
}

// apply withdraws the recorded rules not in target, then announces the
// target rules not recorded, updating b.rules as it goes.
func (b *Backend) apply(ctx context.Context, target map[rule]bool) error {
	for _, r := range sortedRules(b.rules, target) {
		p, err := r.path()
		if err != nil {
			return err
		}
		if err := b.srv.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Family: p.Family, Path: p}); err != nil {
			return fmt.Errorf("failed to withdraw %s: %w: %w", r, enforce.ErrTemporary, err)
		}
		delete(b.rules, r)
	}
	for _, r := range sortedRules(target, b.rules) {
		p, err := r.path()
		if err != nil {
			return err
		}
		if _, err := b.srv.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: p}); err != nil {
			return fmt.Errorf("failed to announce %s: %w: %w", r, enforce.ErrTemporary, err)
		}
		b.rules[r] = true
	}
	return nil
}

// checkSessions returns an error wrapping enforce.ErrTemporary naming the
// neighbours whose sessions are not established, or one wrapping
// enforce.ErrConfig naming those that did not negotiate the Flowspec
// family of a rule announced (such a router never gets those rules).
func (b *Backend) checkSessions(ctx context.Context) error {
	if len(b.neighbors) == 0 {
		return nil
	}
	need := map[api.Family_Afi]bool{}
	for r := range b.rules {
		need[r.family().Afi] = true
	}
	up, lacking := map[string]bool{}, map[string][]string{}
	err := b.srv.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
		if p.GetState().GetSessionState() != api.PeerState_ESTABLISHED {
			return
		}
		addr := p.GetConf().GetNeighborAddress()
		up[addr] = true
		has := map[api.Family_Afi]bool{}
		for _, c := range p.GetState().GetRemoteCap() {
			if m, err := c.UnmarshalNew(); err == nil {
				if mp, ok := m.(*api.MultiProtocolCapability); ok && mp.GetFamily().GetSafi() == api.Family_SAFI_FLOW_SPEC_UNICAST {
					has[mp.GetFamily().GetAfi()] = true
				}
			}
		}
		for _, f := range []struct {
			afi  api.Family_Afi
			name string
		}{{api.Family_AFI_IP, "ipv4-flowspec"}, {api.Family_AFI_IP6, "ipv6-flowspec"}} {
			if need[f.afi] && !has[f.afi] {
				lacking[addr] = append(lacking[addr], f.name)
			}
		}
	})
	if err != nil {
		return fmt.Errorf("failed to list BGP sessions: %w: %w", enforce.ErrTemporary, err)
	}
	var down []netip.Addr
	var missing []string
	for _, n := range b.neighbors {
		if !up[n.String()] {
			down = append(down, n)
		}
		if fams := lacking[n.String()]; len(fams) > 0 {
			missing = append(missing, fmt.Sprintf("%s lacks %v", n, fams))
		}
	}
	switch {
	case len(missing) > 0:
		return fmt.Errorf("failed to enforce on every neighbor: %w: sessions without the families of announced rules: %s", enforce.ErrConfig, strings.Join(missing, ", "))
	case len(down) > 0:
		return fmt.Errorf("failed to reach neighbors %v (rules are sent when their sessions come up): %w", down, enforce.ErrTemporary)
	}
	return nil
}

// setNext records the earliest expiry and wakes the expiry goroutine if
// it changed.
func (b *Backend) setNext(next time.Time) {
	if next.Equal(b.next) {
		return
	}
	b.next = next
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// expireLoop sleeps until the earliest expiry, then drops the expired
// pairs and withdraws their rules, until ctx is done.
func (b *Backend) expireLoop(ctx context.Context) {
	defer close(b.done)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		b.mu.Lock()
		next := b.next
		b.mu.Unlock()
		if next.IsZero() {
			t.Stop()
		} else {
			t.Reset(max(next.Sub(b.now()), 0))
		}
		select {
		case <-ctx.Done():
			return
		case <-b.wake:
		case <-t.C:
			b.expire(ctx)
		}
	}
}

func (b *Backend) expire(ctx context.Context) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	gone := b.desired.expire(b.now())
	if err := b.reshape(ctx); err != nil {
		b.log.Error("failed to withdraw expired pairs", "expired", gone, "err", err)
		return
	}
	if gone > 0 {
		b.log.Debug("withdrew expired pairs", "expired", gone)
	}
}
