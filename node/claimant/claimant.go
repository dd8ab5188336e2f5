// Package claimant runs a claimant's continuous mode: it keeps observing
// one swarm and, every round, turns what the last window held into a
// fresh, short-lived assertion and publishes it.
//
// A round runs every Config.Interval (2 minutes by default). It takes the
// observation of the window ending now and reaching Config.Window back
// (the interval and half of it again by default, so consecutive windows
// overlap): every peer seen in the window, graded by what the window holds
// (observe.Observer.ObservationWindow). If no peer of the window is
// verified-transfer the round publishes nothing. Otherwise it builds an
// assertion valid from the end of the window for Config.Life (10 minutes
// by default): peers are routed to ISPs by longest-prefix match over
// Config.Directory and each addressed ISP's section is sealed to it
// (protocol.BuildAssertion); then it hands the bundle to the Publisher.
//
// A peer that leaves the swarm stops being seen, drops out of the windows
// and so out of the assertions, and whatever an ISP enforced on it lapses
// with the last assertion that named it: nothing has to be withdrawn.
//
// A round that fails, to build or to publish, is reported in an Event and
// the loop goes on: the next round builds and publishes its own, fresher
// assertion.
package claimant

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/node/observe"
	"github.com/docket-project/docket/protocol"
)

// Defaults for the zero values of Config.
const (
	// DefaultInterval is the time between two rounds.
	DefaultInterval = 2 * time.Minute
	// DefaultProgressInterval is the time between two progress events.
	DefaultProgressInterval = time.Second
)

// Source is the observer a Claimant reads: *observe.Observer.
type Source interface {
	// ObservationWindow returns what was seen of the swarm from from to
	// to; no peers and no error if nothing was.
	ObservationWindow(from, to time.Time) (protocol.Observation, error)
	// Progress returns the observer's counters.
	Progress() observe.Progress
}

// Clock tells the time and waits. The Observer read by a Claimant must use
// the same clock (observe.Config.Now), or windows miss what it saw.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Config configures a Claimant. Key, Credential, Directory and Publisher
// are required; the zero value of every other field is a usable default.
type Config struct {
	// Key signs the assertions: the subject key of Credential.
	Key *sign.PrivateKey
	// Credential is the id of the claimant's credential, the leaf of its
	// chain.
	Credential protocol.ID
	// Directory maps ISPs to their prefixes and age recipients.
	Directory protocol.Directory
	// Publisher receives every assertion built.
	Publisher Publisher
	// Interval is the time between two rounds; zero means
	// DefaultInterval.
	Interval time.Duration
	// Window is how far back from its end a round's observation reaches;
	// zero means Interval plus half of it. It must be at least Interval,
	// or what happens between two windows would go unobserved.
	Window time.Duration
	// Life is each assertion's validity; zero means
	// protocol.DefaultAssertionLife. It must be longer than Interval, or
	// enforcement would lapse between two rounds.
	Life time.Duration
	// ProgressInterval is the time between two progress events; zero
	// means DefaultProgressInterval.
	ProgressInterval time.Duration
	// Events, if set, receives every event, on the goroutine running Run:
	// it must return quickly.
	Events func(Event)
	// Logger receives a line per round; nil discards.
	Logger *slog.Logger
	// Clock is the clock; nil means the system clock.
	Clock Clock
}

// EventKind says what an Event reports.
type EventKind int

// The kinds of events.
const (
	// EventProgress carries the observer's counters; it comes every
	// Config.ProgressInterval.
	EventProgress EventKind = iota
	// EventPublished: a round built an assertion and published it.
	EventPublished
	// EventEmpty: the round's window held no verified-transfer peer, so
	// nothing was built.
	EventEmpty
	// EventFailed: the round failed to observe, build or publish; Err
	// says why. The next round tries again with its own assertion.
	EventFailed
)

func (k EventKind) String() string {
	switch k {
	case EventProgress:
		return "progress"
	case EventPublished:
		return "published"
	case EventEmpty:
		return "empty"
	case EventFailed:
		return "failed"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is something a Claimant reports.
type Event struct {
	Kind EventKind
	// At is the clock's time of the event: for a round, the end of its
	// window.
	At time.Time
	// Progress is the observer's counters at the event.
	Progress observe.Progress
	// Round numbers the rounds from 1; 0 for progress events.
	Round int
	// Window is the round's observation window.
	Window protocol.Window
	// Grades counts the round's peers per evidence grade.
	Grades map[protocol.Grade]int
	// ID, NotAfter and PeersPerISP describe the assertion published.
	ID          protocol.ID
	NotAfter    time.Time
	PeersPerISP map[string]int
	// Err is why a round failed.
	Err error
}

// Summary counts a Claimant's rounds.
type Summary struct {
	// Rounds counts the rounds run; Published, Empty and Failed split
	// them by outcome.
	Rounds, Published, Empty, Failed int
	// Last is the id of the last assertion published.
	Last protocol.ID
}

// Claimant turns an observer's windows into published assertions.
type Claimant struct {
	src      Source
	key      *sign.PrivateKey
	cred     protocol.ID
	dir      protocol.Directory
	pub      Publisher
	interval time.Duration
	window   time.Duration
	life     time.Duration
	progress time.Duration
	events   func(Event)
	log      *slog.Logger
	clock    Clock

	// summary is owned by the goroutine running Run.
	summary Summary
}

// New returns a Claimant reading src. It fails, naming the field, on a
// configuration it cannot use.
func New(src Source, cfg Config) (*Claimant, error) {
	c := &Claimant{
		src:      src,
		key:      cfg.Key,
		cred:     cfg.Credential,
		dir:      cfg.Directory,
		pub:      cfg.Publisher,
		interval: cfg.Interval,
		window:   cfg.Window,
		life:     cfg.Life,
		progress: cfg.ProgressInterval,
		events:   cfg.Events,
		log:      cfg.Logger,
		clock:    cfg.Clock,
	}
	if c.interval == 0 {
		c.interval = DefaultInterval
	}
	if c.window == 0 {
		c.window = c.interval + c.interval/2
	}
	if c.life == 0 {
		c.life = protocol.DefaultAssertionLife
	}
	if c.progress == 0 {
		c.progress = DefaultProgressInterval
	}
	if c.events == nil {
		c.events = func(Event) {}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.clock == nil {
		c.clock = realClock{}
	}
	switch {
	case src == nil:
		return nil, errors.New("failed to configure claimant: no source to observe")
	case c.key == nil:
		return nil, errors.New("failed to configure claimant: Key is missing")
	case !c.cred.Valid():
		return nil, fmt.Errorf("failed to configure claimant: Credential %q is not an id", c.cred)
	case c.pub == nil:
		return nil, errors.New("failed to configure claimant: Publisher is missing")
	case c.interval < 0:
		return nil, fmt.Errorf("failed to configure claimant: Interval %v is negative", c.interval)
	case c.progress < 0:
		return nil, fmt.Errorf("failed to configure claimant: ProgressInterval %v is negative", c.progress)
	case c.window < c.interval:
		return nil, fmt.Errorf("failed to configure claimant: Window %v is shorter than Interval %v", c.window, c.interval)
	case c.life <= c.interval:
		return nil, fmt.Errorf("failed to configure claimant: Life %v is not longer than Interval %v, so enforcement would lapse between rounds", c.life, c.interval)
	}
	if len(c.dir.ISPs) == 0 {
		return nil, errors.New("failed to configure claimant: Directory lists no ISP")
	}
	if err := c.dir.Validate(); err != nil {
		return nil, fmt.Errorf("failed to configure claimant: Directory: %w", err)
	}
	return c, nil
}

// Run runs a round every interval, and reports progress in between, until
// ctx is done; a round under way when it is done is finished first, its
// publication bounded by one interval. It returns the counts of the rounds
// run by this and earlier calls. It must not be called concurrently.
func (c *Claimant) Run(ctx context.Context) Summary {
	next := c.clock.Now().Add(c.interval)
	roundC := c.clock.After(c.interval)
	progressC := c.clock.After(c.progress)
	for {
		select {
		case <-ctx.Done():
			return c.summary
		case <-progressC:
			c.events(Event{Kind: EventProgress, At: c.clock.Now().UTC(), Progress: c.src.Progress()})
			progressC = c.clock.After(c.progress)
		case <-roundC:
			c.round(ctx)
			// Keep to the schedule; a round that overran its interval
			// moves it.
			now := c.clock.Now()
			next = next.Add(c.interval)
			if !next.After(now) {
				next = now.Add(c.interval)
			}
			roundC = c.clock.After(next.Sub(now))
		}
	}
}

// round runs one round now and reports it.
func (c *Claimant) round(ctx context.Context) {
	c.summary.Rounds++
	to := c.clock.Now().UTC()
	ev := Event{Round: c.summary.Rounds, At: to, Progress: c.src.Progress()}
	ev = c.build(ctx, ev, to.Add(-c.window), to)
	switch ev.Kind {
	case EventPublished:
		c.summary.Published++
		c.summary.Last = ev.ID
		c.log.Info("assertion published", "round", ev.Round, "id", ev.ID, "peers", total(ev.Grades), "verified", ev.Grades[protocol.GradeVerifiedTransfer], "not_after", ev.NotAfter)
	case EventEmpty:
		c.summary.Empty++
		c.log.Info("no verified-transfer peer in the window, nothing published", "round", ev.Round, "peers", total(ev.Grades))
	case EventFailed:
		c.summary.Failed++
		c.log.Warn("round failed, the next one tries again", "round", ev.Round, "err", ev.Err)
	}
	c.events(ev)
}

// build observes the window from..to and, if it holds a verified peer,
// builds and publishes an assertion; it returns ev completed.
func (c *Claimant) build(ctx context.Context, ev Event, from, to time.Time) Event {
	obs, err := c.src.ObservationWindow(from, to)
	if err != nil {
		ev.Kind, ev.Err = EventFailed, err
		return ev
	}
	ev.Window = obs.Observed
	ev.Grades = map[protocol.Grade]int{}
	for _, p := range obs.Peers {
		ev.Grades[p.Evidence.Grade]++
	}
	if ev.Grades[protocol.GradeVerifiedTransfer] == 0 {
		ev.Kind = EventEmpty
		return ev
	}
	// A peer only a tracker, the DHT or peer exchange listed is no
	// evidence that anyone there takes part: anyone can list any address
	// (a joe job). It is left out of the assertion, so that no ISP makes
	// it an end of a pair, local or remote.
	obs.Peers = slices.DeleteFunc(slices.Clone(obs.Peers), func(p protocol.ObservedPeer) bool {
		return p.Evidence.Grade == protocol.GradeAnnounced
	})
	bundle, id, err := protocol.BuildAssertion(c.key, obs, c.dir, protocol.BuildOptions{Credential: c.cred, NotBefore: to, Life: c.life})
	if err != nil {
		ev.Kind, ev.Err = EventFailed, fmt.Errorf("failed to build assertion: %w", err)
		return ev
	}
	sa, err := protocol.DecodeAssertion(bundle)
	if err != nil {
		ev.Kind, ev.Err = EventFailed, fmt.Errorf("failed to decode the assertion just built: %w", err)
		return ev
	}
	ev.ID, ev.NotAfter, ev.PeersPerISP = id, sa.Assertion.NotAfter, sa.Assertion.PeersPerISP
	// A round under way when ctx ends still publishes, within an interval.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.interval)
	defer cancel()
	if err := c.pub.Publish(pctx, bundle, id); err != nil {
		ev.Kind, ev.Err = EventFailed, fmt.Errorf("failed to publish assertion %s: %w", id, err)
		return ev
	}
	ev.Kind = EventPublished
	return ev
}

func total(grades map[protocol.Grade]int) int {
	n := 0
	for _, c := range grades {
		n += c
	}
	return n
}
