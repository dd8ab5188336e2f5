// Package policy decides which pairs an ISP blocks on an assertion that
// passed protocol verification (spec/SPEC.md §11): the hard rules no
// configuration can lift, the ISP's CEL rules, and its caps.
//
// A Policy is compiled once from a Config with New. Its Evaluate is pure:
// it takes the verified assertion (opened for this ISP), the time and the
// ISP's running counters, and returns either a Verdict, the pairs to
// install with their expiry, or a *Rejection with a stable code. It reads
// no clock, does no I/O and logs nothing; the caller installs the pairs
// and then records them in its ClaimantWindow.
//
// The hard rules, in order:
//
//   - A peer in a protected prefix — a root DNS server (RootServers), a
//     configured Protected prefix or one of the ISP's Infrastructure
//     prefixes — is in no pair, as a local end or as a remote end.
//   - A local end is a peer that carries evidence in the ISP's section,
//     lies inside the ISP's OwnPrefixes and has an evidence grade the
//     ISP enforces (LocalGrades; by default verified-transfer only, and
//     never announced). Other peers with evidence are counted and are not
//     local ends.
//   - The remote ends of a local end are all other addresses of the swarm
//     of its family: the protocol verifier has already checked that each
//     is global unicast (or in a prefix it was told to permit).
//
// Pairs expire at the earlier of the assertion's Until and now + MaxTTL.
package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/enforce"
	"github.com/docket-project/docket/protocol"
)

// Defaults of the Config fields left zero.
const (
	DefaultMaxTTL                     = 10 * time.Minute
	DefaultMaxPairsPerAssertion       = 25_000
	DefaultMaxPairsPerClaimantPerHour = 100_000
	DefaultMaxPairsTotal              = 5_000_000
)

// DefaultLocalGrades are the grades enforced when Config.LocalGrades is
// empty.
var DefaultLocalGrades = []protocol.Grade{protocol.GradeVerifiedTransfer}

// Config is an ISP's policy, as written in the node's configuration file.
// Apart from OwnPrefixes, which is required, every field's zero value
// selects its default.
type Config struct {
	// OwnPrefixes are the networks the ISP serves. Only an address inside
	// them can be a local end of a pair. Required.
	OwnPrefixes []netip.Prefix `yaml:"own_prefixes" json:"own_prefixes"`
	// Protected are prefixes never blocked, in addition to the root DNS
	// servers, which always are: critical hosts, banks, emergency
	// services, other resolvers.
	Protected []netip.Prefix `yaml:"protected" json:"protected,omitzero"`
	// Infrastructure are the prefixes of the ISP's own servers (resolvers,
	// mail, portals, the node itself). Like Protected, they are never
	// blocked.
	Infrastructure []netip.Prefix `yaml:"infrastructure" json:"infrastructure,omitzero"`
	// LocalGrades are the evidence grades that make a local peer a local
	// end: "verified-transfer" (the default) and optionally "handshake".
	// "announced" is refused: anyone can inject an address into a
	// tracker or the DHT (spec/SPEC.md §5.4).
	LocalGrades []protocol.Grade `yaml:"local_grades" json:"local_grades,omitzero"`
	// MaxTTL is the longest a pair stays installed: pairs expire at the
	// earlier of the assertion's Until and now + MaxTTL. Default 10m;
	// written as a Go duration ("10m", "90s").
	MaxTTL Duration `yaml:"max_ttl" json:"max_ttl,omitzero"`
	// Rules are CEL expressions over the assertion's View, the variable
	// a, that must all hold for the assertion to be enforced, for
	// example `!a.delegated` or `a.grades["verified-transfer"] >= 2`.
	// Each must be of type bool.
	Rules []string `yaml:"rules" json:"rules,omitzero"`
	// MaxPairsPerAssertion is the most pairs one assertion may install; an
	// assertion that would install more is rejected whole, never
	// truncated. Default 25000.
	MaxPairsPerAssertion int `yaml:"max_pairs_per_assertion" json:"max_pairs_per_assertion,omitzero"`
	// MaxPairsPerClaimantPerHour is the most pairs one claimant's
	// assertions may install in a sliding hour. Default 100000.
	MaxPairsPerClaimantPerHour int `yaml:"max_pairs_per_claimant_per_hour" json:"max_pairs_per_claimant_per_hour,omitzero"`
	// MaxPairsTotal is the most pairs installed at once. Default 5000000.
	MaxPairsTotal int `yaml:"max_pairs_total" json:"max_pairs_total,omitzero"`
}

// Validate checks the configuration as New does: an error is a
// *ConfigError naming the field.
func (c *Config) Validate() error {
	_, err := New(*c)
	return err
}

// Duration is a time.Duration that configuration files write as a Go
// duration string, such as "10m" or "1h30m".
type Duration time.Duration

// MarshalText returns the duration as time.Duration.String writes it.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText parses a duration string such as "10m".
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("failed to parse duration: %w", err)
	}
	*d = Duration(v)
	return nil
}

// UnmarshalYAML parses a YAML scalar as a duration string, so that a bare
// number is an error rather than a count of nanoseconds.
func (d *Duration) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err != nil {
		return err
	}
	return d.UnmarshalText([]byte(s))
}

// Policy is a compiled Config. It is immutable and safe for concurrent
// use.
type Policy struct {
	own       prefixSet
	protected prefixSet
	grades    []protocol.Grade
	maxTTL    time.Duration
	rules     []rule

	maxPerAssertion, maxPerClaimant, maxTotal int
}

// New validates cfg, compiles its rules and returns the Policy. An error
// is a *ConfigError naming the field at fault.
func New(cfg Config) (*Policy, error) {
	p := &Policy{
		protected:       RootServers(),
		grades:          slices.Clone(DefaultLocalGrades),
		maxTTL:          withDefault(time.Duration(cfg.MaxTTL), DefaultMaxTTL),
		maxPerAssertion: withDefault(cfg.MaxPairsPerAssertion, DefaultMaxPairsPerAssertion),
		maxPerClaimant:  withDefault(cfg.MaxPairsPerClaimantPerHour, DefaultMaxPairsPerClaimantPerHour),
		maxTotal:        withDefault(cfg.MaxPairsTotal, DefaultMaxPairsTotal),
	}
	if len(cfg.OwnPrefixes) == 0 {
		return nil, configErrorf("own_prefixes", "required: the networks the ISP serves")
	}
	var err error
	if p.own, err = checkPrefixes("own_prefixes", cfg.OwnPrefixes); err != nil {
		return nil, err
	}
	for _, field := range []struct {
		name     string
		prefixes []netip.Prefix
	}{{"protected", cfg.Protected}, {"infrastructure", cfg.Infrastructure}} {
		set, err := checkPrefixes(field.name, field.prefixes)
		if err != nil {
			return nil, err
		}
		p.protected = append(p.protected, set...)
	}
	if len(cfg.LocalGrades) > 0 {
		p.grades = nil
		for i, g := range cfg.LocalGrades {
			field := fmt.Sprintf("local_grades[%d]", i)
			switch g {
			case protocol.GradeVerifiedTransfer, protocol.GradeHandshake:
			case protocol.GradeAnnounced:
				return nil, configErrorf(field, "announced peers are never blocked: their addresses are spoofable")
			default:
				return nil, configErrorf(field, "unknown grade %q", g)
			}
			if !slices.Contains(p.grades, g) {
				p.grades = append(p.grades, g)
			}
		}
	}
	for _, f := range []struct {
		name  string
		value int64
	}{
		{"max_ttl", int64(cfg.MaxTTL)},
		{"max_pairs_per_assertion", int64(cfg.MaxPairsPerAssertion)},
		{"max_pairs_per_claimant_per_hour", int64(cfg.MaxPairsPerClaimantPerHour)},
		{"max_pairs_total", int64(cfg.MaxPairsTotal)},
	} {
		if f.value < 0 {
			return nil, configErrorf(f.name, "must not be negative")
		}
	}
	if p.rules, err = compileRules(cfg.Rules); err != nil {
		return nil, err
	}
	return p, nil
}

func withDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// checkPrefixes checks that every prefix is valid and returns them masked.
func checkPrefixes(field string, prefixes []netip.Prefix) (prefixSet, error) {
	out := make(prefixSet, len(prefixes))
	for i, p := range prefixes {
		if !p.IsValid() || p.Addr().Zone() != "" || p.Addr().Is4In6() {
			return nil, configErrorf(fmt.Sprintf("%s[%d]", field, i), "%q is not a plain IPv4 or IPv6 prefix", p)
		}
		out[i] = p.Masked()
	}
	return out, nil
}

// Counters are the ISP's running totals the caps compare with. The zero
// value means nothing is installed and nothing was installed in the last
// hour.
type Counters struct {
	// Installed is the number of pairs installed now (enforce.State.Len).
	Installed int
	// IsInstalled reports whether a pair is installed now, so that
	// re-asserted pairs do not count against MaxPairsTotal twice. If nil,
	// every pair of the verdict counts as new.
	IsInstalled func(enforce.Key) bool
	// Claimants is the window of pairs installed per claimant in the last
	// hour. If nil, the claimant has installed none.
	Claimants *ClaimantWindow
}

// Verdict is an accepted assertion: the pairs to install.
type Verdict struct {
	// Assertion is the id of the assertion.
	Assertion protocol.ID
	// Claimant is the assertion's claimant, for ClaimantWindow.Record.
	Claimant sign.KeyID
	// Expires is when every pair expires: the earlier of the assertion's
	// Until and now + MaxTTL.
	Expires time.Time
	// Pairs are the pairs to install, each until Expires, sorted as
	// enforce.State.Pairs sorts them. There is at least one.
	Pairs []enforce.Pair
	// LocalEnds is the number of local peers that are local ends.
	LocalEnds int
	// Excluded counts what the hard rules left out.
	Excluded Exclusions
}

// Exclusions counts the peers and pairs the hard rules left out, by
// reason. A peer may count under several reasons.
type Exclusions struct {
	// ProtectedPeers is the number of swarm addresses in a protected
	// prefix: they are in no pair.
	ProtectedPeers int `json:"protected_peers"`
	// ProtectedPairs is the number of pairs dropped because an end is
	// protected: the pairs the other hard rules allow minus those kept.
	ProtectedPairs int `json:"protected_pairs"`
	// OutsideOwnPrefixes is the number of peers that carry evidence for
	// this ISP but lie outside its own prefixes: they are not local ends
	// (they may still be remote ends).
	OutsideOwnPrefixes int `json:"outside_own_prefixes"`
	// GradeNotEnforced is the number of local peers whose evidence grade
	// the ISP does not enforce: they are not local ends (they may still be
	// remote ends of other local peers).
	GradeNotEnforced int `json:"grade_not_enforced"`
}

// Evaluate applies the policy to an assertion verified for this ISP
// (va.Section is open) at time now, in this order: the Until check
// (UNTIL_PASSED), the hard rules (NOTHING_TO_ENFORCE if no pair
// survives), the rules (POLICY_DENIED), then the caps (CAP_ASSERTION,
// CAP_CLAIMANT, CAP_TOTAL). A rejection is a *Rejection; any other error
// means va was verified without an ISP. Evaluate changes nothing: the
// caller installs the verdict's pairs, then records them in
// c.Claimants.
func (p *Policy) Evaluate(va *protocol.VerifiedAssertion, now time.Time, c Counters) (*Verdict, error) {
	if va.Section == nil {
		return nil, errors.New("failed to evaluate policy: the assertion was verified without an ISP, its section is not open")
	}
	expires := va.Until
	if limit := now.Add(p.maxTTL); limit.Before(expires) {
		expires = limit
	}
	if !expires.After(now) {
		return nil, reject(CodeUntilPassed, "enforcement of assertion %s had to end at %s", va.ID, expires.Format(time.RFC3339))
	}

	// Hard rules. all counts, per family, the swarm's addresses and the
	// local ends there would be without protection; kept, those that
	// survive it.
	var locals, remotes []netip.Addr
	var ex Exclusions
	var all, kept [2]familyCount
	for _, peer := range va.Section.Peers {
		fam := family(peer.Addr)
		protected := p.protected.contains(peer.Addr)
		eligible := false
		if peer.Evidence != nil {
			switch {
			case !p.own.contains(peer.Addr):
				ex.OutsideOwnPrefixes++
			case !slices.Contains(p.grades, peer.Evidence.Grade):
				ex.GradeNotEnforced++
			default:
				eligible = true
			}
		}
		all[fam].add(eligible)
		if protected {
			ex.ProtectedPeers++
			continue
		}
		kept[fam].add(eligible)
		remotes = append(remotes, peer.Addr)
		if eligible {
			locals = append(locals, peer.Addr)
		}
	}
	n := kept[0].pairs() + kept[1].pairs()
	ex.ProtectedPairs = all[0].pairs() + all[1].pairs() - n
	if n == 0 {
		return nil, reject(CodeNothingToEnforce, "no pair survives the hard rules: %s", ex.describe(len(va.Local()), len(locals)))
	}

	if len(p.rules) > 0 {
		view := viewOf(va)
		for i := range p.rules {
			if r := p.rules[i].check(view); r != nil {
				return nil, r
			}
		}
	}

	a := &va.Assertion
	if n > p.maxPerAssertion {
		return nil, reject(CodeCapAssertion, "the assertion would install %d pairs, more than the %d allowed per assertion", n, p.maxPerAssertion)
	}
	if c.Claimants != nil {
		if recent := c.Claimants.Count(a.Claimant, now); recent+n > p.maxPerClaimant {
			return nil, reject(CodeCapClaimant, "claimant %s installed %d pairs in the last hour; %d more exceed its %d per hour", a.Claimant, recent, n, p.maxPerClaimant)
		}
	} else if n > p.maxPerClaimant {
		return nil, reject(CodeCapClaimant, "the assertion's %d pairs exceed the claimant's %d per hour", n, p.maxPerClaimant)
	}
	pairs := enforce.Compile(locals, remotes, expires)
	fresh := len(pairs)
	if c.IsInstalled != nil {
		fresh = 0
		for _, pr := range pairs {
			if !c.IsInstalled(pr.Key) {
				fresh++
			}
		}
	}
	if c.Installed+fresh > p.maxTotal {
		return nil, reject(CodeCapTotal, "%d pairs are installed; %d new ones exceed the total of %d", c.Installed, fresh, p.maxTotal)
	}
	return &Verdict{
		Assertion: va.ID,
		Claimant:  a.Claimant,
		Expires:   expires,
		Pairs:     pairs,
		LocalEnds: len(locals),
		Excluded:  ex,
	}, nil
}

// familyCount counts the addresses of one family and the local ends among
// them.
type familyCount struct{ addrs, locals int }

func (f *familyCount) add(local bool) {
	f.addrs++
	if local {
		f.locals++
	}
}

// pairs returns the number of pairs enforce.Compile makes from these
// addresses: the unordered couples of distinct addresses with at least
// one local end.
func (f familyCount) pairs() int {
	k, rest := f.locals, f.addrs-f.locals
	return k*(k-1)/2 + k*rest
}

// family returns 0 for IPv4 and 1 for IPv6.
func family(a netip.Addr) int {
	if a.Is4() {
		return 0
	}
	return 1
}

// describe says why few or no pairs remain, for a NOTHING_TO_ENFORCE
// sentence.
func (ex Exclusions) describe(localPeers, localEnds int) string {
	parts := []string{fmt.Sprintf("%d of %d local peers are local ends", localEnds, localPeers)}
	for _, c := range []struct {
		n    int
		what string
	}{
		{ex.ProtectedPeers, "swarm addresses are protected"},
		{ex.OutsideOwnPrefixes, "peers with evidence are outside the ISP's prefixes"},
		{ex.GradeNotEnforced, "local peers have a grade the ISP does not enforce"},
		{ex.ProtectedPairs, "pairs are dropped as protected"},
	} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	return strings.Join(parts, "; ")
}
