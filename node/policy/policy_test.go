package policy_test

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docket-project/docket/enforce"
	"github.com/docket-project/docket/node/policy"
	"github.com/docket-project/docket/protocol"
)

const (
	vt   = protocol.GradeVerifiedTransfer
	hs   = protocol.GradeHandshake
	anno = protocol.GradeAnnounced
)

func mustNew(t *testing.T, cfg policy.Config) *policy.Policy {
	t.Helper()
	if cfg.OwnPrefixes == nil {
		cfg.OwnPrefixes = ownPrefixes
	}
	p, err := policy.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// wantReject checks that err is a *policy.Rejection with code and that no
// verdict came with it.
func wantReject(t *testing.T, v *policy.Verdict, err error, code policy.Code) *policy.Rejection {
	t.Helper()
	var r *policy.Rejection
	if !errors.As(err, &r) {
		t.Fatalf("got verdict %+v, error %v; want rejection %s", v, err, code)
	}
	if r.Code != code {
		t.Fatalf("got %v, want code %s", r, code)
	}
	if v != nil {
		t.Errorf("rejection %s came with a verdict", code)
	}
	if r.Msg == "" || r.Error() != string(code)+": "+r.Msg {
		t.Errorf("rejection %q: sentence missing or badly formatted", r.Error())
	}
	return r
}

// keys returns the verdict's pairs as "local-remote" strings, checking that
// every pair expires at the verdict's expiry.
func keys(t *testing.T, v *policy.Verdict) []string {
	t.Helper()
	var out []string
	for _, p := range v.Pairs {
		if !p.Expires.Equal(v.Expires) {
			t.Errorf("pair %v expires at %v, the verdict at %v", p.Key, p.Expires, v.Expires)
		}
		out = append(out, p.Local.String()+"-"+p.Remote.String())
	}
	return out
}

func TestAccept(t *testing.T) {
	fx := newFixture(t)
	va := fx.verify(t,
		local("198.51.100.7", vt),
		local("198.51.100.23", hs),
		local("198.51.100.99", anno),
		remote("203.0.113.5"),
		unrouted("192.0.2.9"),
		local("2001:db8:a::1", vt),
		remote("2001:db8:b::2"),
	)
	v, err := mustNew(t, policy.Config{}).Evaluate(va, evalAt, policy.Counters{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"198.51.100.7-192.0.2.9", "198.51.100.7-198.51.100.23", "198.51.100.7-198.51.100.99", "198.51.100.7-203.0.113.5",
		"2001:db8:a::1-2001:db8:b::2",
	}
	if got := keys(t, v); !slices.Equal(got, want) {
		t.Errorf("pairs\n got %v\nwant %v", got, want)
	}
	if !v.Expires.Equal(until) {
		t.Errorf("expires %v, want the assertion's Until %v", v.Expires, until)
	}
	if v.Assertion != va.ID || v.Claimant != va.Assertion.Claimant || v.LocalEnds != 2 {
		t.Errorf("verdict %+v does not describe the assertion", v)
	}
	if want := (policy.Exclusions{GradeNotEnforced: 2}); v.Excluded != want {
		t.Errorf("excluded %+v, want %+v", v.Excluded, want)
	}
}

func TestMaxTTL(t *testing.T) {
	fx := newFixture(t)
	va := fx.verify(t, local("198.51.100.7", vt), remote("203.0.113.5"))
	v, err := mustNew(t, policy.Config{MaxTTL: policy.Duration(2 * time.Minute)}).Evaluate(va, evalAt, policy.Counters{})
	if err != nil {
		t.Fatal(err)
	}
	if want := evalAt.Add(2 * time.Minute); !v.Expires.Equal(want) || !v.Pairs[0].Expires.Equal(want) {
		t.Errorf("expires %v, want now + MaxTTL = %v", v.Expires, want)
	}
}

func TestUntilPassed(t *testing.T) {
	fx := newFixture(t)
	// Within the clock skew after not_after the protocol still accepts,
	// but there is nothing left to enforce.
	at := until.Add(30 * time.Second)
	va := fx.verifyAt(t, at, false, local("198.51.100.7", vt), remote("203.0.113.5"))
	v, err := mustNew(t, policy.Config{}).Evaluate(va, at, policy.Counters{})
	wantReject(t, v, err, policy.CodeUntilPassed)
	v, err = mustNew(t, policy.Config{}).Evaluate(va, until, policy.Counters{})
	wantReject(t, v, err, policy.CodeUntilPassed)
}

// TestJoeJob checks that peers whose evidence a third party could fake or
// provoke are not blocked by default: announced and handshake peers are
// no local ends.
func TestJoeJob(t *testing.T) {
	fx := newFixture(t)
	va := fx.verify(t,
		local("198.51.100.23", hs),
		local("198.51.100.99", anno),
		remote("203.0.113.5"),
		local("2001:db8:a::99", anno),
		remote("2001:db8:b::2"),
	)
	v, err := mustNew(t, policy.Config{}).Evaluate(va, evalAt, policy.Counters{})
	r := wantReject(t, v, err, policy.CodeNothingToEnforce)
	if !strings.Contains(r.Msg, "0 of 3 local peers are local ends") || !strings.Contains(r.Msg, "3 local peers have a grade the ISP does not enforce") {
		t.Errorf("sentence %q does not say why", r.Msg)
	}

	// An ISP that also enforces handshakes blocks the handshake peer, never
	// the announced ones.
	v, err = mustNew(t, policy.Config{LocalGrades: []protocol.Grade{hs, vt}}).Evaluate(va, evalAt, policy.Counters{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"198.51.100.23-198.51.100.99", "198.51.100.23-203.0.113.5"}
	if got := keys(t, v); !slices.Equal(got, want) {
		t.Errorf("pairs %v, want %v", got, want)
	}
	if v.Excluded.GradeNotEnforced != 2 {
		t.Errorf("excluded %+v, want 2 local peers of a grade not enforced", v.Excluded)
	}
}

func TestRootServers(t *testing.T) {
	fx := newFixture(t)
	p := mustNew(t, policy.Config{})

	// Root servers as remote peers: no pair names them.
	va := fx.verify(t,
		local("198.51.100.7", vt),
		remote("198.41.0.4"),
		unrouted("2001:503:ba3e::2:30"),
		remote("203.0.113.5"),
		local("2001:db8:a::1", vt),
		remote("2001:db8:b::2"),
	)
	v, err := p.Evaluate(va, evalAt, policy.Counters{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"198.51.100.7-203.0.113.5", "2001:db8:a::1-2001:db8:b::2"}
	if got := keys(t, v); !slices.Equal(got, want) {
		t.Errorf("pairs %v, want %v", got, want)
	}
	if want := (policy.Exclusions{ProtectedPeers: 2, ProtectedPairs: 2}); v.Excluded != want {
		t.Errorf("excluded %+v, want %+v", v.Excluded, want)
	}

	// A root server as the only local peer, even inside the ISP's own
	// prefixes: nothing to enforce.
	va = fx.verify(t, local("198.41.0.4", vt), remote("203.0.113.5"))
	withRoot := mustNew(t, policy.Config{OwnPrefixes: []netip.Prefix{netip.MustParsePrefix("198.41.0.0/24")}})
	v, err = withRoot.Evaluate(va, evalAt, policy.Counters{})
	r := wantReject(t, v, err, policy.CodeNothingToEnforce)
	if !strings.Contains(r.Msg, "1 swarm addresses are protected") {
		t.Errorf("sentence %q does not name the protected peer", r.Msg)
	}
}

// TestEveryRootServer checks each address of RootServers, in a swarm with
// a local peer of each family.
func TestEveryRootServer(t *testing.T) {
	roots := policy.RootServers()
	if len(roots) < 26 {
		t.Fatalf("%d root server prefixes, want at least the 13 servers' IPv4 and IPv6 addresses", len(roots))
	}
	for _, want := range []string{"198.41.0.4/32", "2001:503:ba3e::2:30/128", "170.247.170.2/32", "2801:1b8:10::b/128", "202.12.27.33/32", "2001:dc3::35/128"} {
		if !slices.Contains(roots, netip.MustParsePrefix(want)) {
			t.Errorf("RootServers lacks %s", want)
		}
	}
	fx := newFixture(t)
	peers := []peer{local("198.51.100.7", vt), local("2001:db8:a::1", vt)}
	for _, r := range roots {
		if !protocol.IsGlobalUnicast(r.Addr()) || !r.IsSingleIP() {
			t.Errorf("root server prefix %s is not a global unicast host", r)
		}
		peers = append(peers, remote(r.Addr().String()))
	}
	v, err := mustNew(t, policy.Config{}).Evaluate(fx.verify(t, peers...), evalAt, policy.Counters{})
	r := wantReject(t, v, err, policy.CodeNothingToEnforce)
	if want := fmt.Sprintf("%d swarm addresses are protected", len(roots)); !strings.Contains(r.Msg, want) {
		t.Errorf("sentence %q lacks %q", r.Msg, want)
	}
}

func TestConfiguredProtection(t *testing.T) {
	fx := newFixture(t)
	va := fx.verify(t,
		local("198.51.100.7", vt),
		local("198.51.100.53", vt), // the ISP's resolver
		remote("203.0.113.5"),
		remote("203.0.113.80"), // a bank
	)
	p := mustNew(t, policy.Config{
		Protected:      []netip.Prefix{netip.MustParsePrefix("203.0.113.64/26")},
		Infrastructure: []netip.Prefix{netip.MustParsePrefix("198.51.100.53/32")},
	})
	v, err := p.Evaluate(va, evalAt, policy.Counters{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := keys(t, v), []string{"198.51.100.7-203.0.113.5"}; !slices.Equal(got, want) {
		t.Errorf("pairs %v, want %v", got, want)
	}
	// Without protection there would be 5 pairs: 1 between the two local
	// ends and 2 from each to the remotes; 4 are dropped.
	if want := (policy.Exclusions{ProtectedPeers: 2, ProtectedPairs: 4}); v.Excluded != want {
		t.Errorf("excluded %+v, want %+v", v.Excluded, want)
	}

	// The infrastructure address as the only local peer.
	va = fx.verify(t, local("198.51.100.53", vt), remote("203.0.113.5"))
	v, err = p.Evaluate(va, evalAt, policy.Counters{})
	wantReject(t, v, err, policy.CodeNothingToEnforce)
}

func TestOutsideOwnPrefixes(t *testing.T) {
	fx := newFixture(t)
	// The claimant routes 203.0.113.7 to this ISP, which does not serve it:
	// it is no local end, but stays a remote end of the real local peer.
	va := fx.verify(t, local("198.51.100.7", vt), local("203.0.113.7", vt), remote("192.0.2.1"))
	v, err := mustNew(t, policy.Config{}).Evaluate(va, evalAt, policy.Counters{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := keys(t, v), []string{"198.51.100.7-192.0.2.1", "198.51.100.7-203.0.113.7"}; !slices.Equal(got, want) {
		t.Errorf("pairs %v, want %v", got, want)
	}
	if want := (policy.Exclusions{OutsideOwnPrefixes: 1}); v.Excluded != want {
		t.Errorf("excluded %+v, want %+v", v.Excluded, want)
	}

	va = fx.verify(t, local("203.0.113.7", vt), remote("192.0.2.1"))
	v, err = mustNew(t, policy.Config{}).Evaluate(va, evalAt, policy.Counters{})
	r := wantReject(t, v, err, policy.CodeNothingToEnforce)
	if !strings.Contains(r.Msg, "1 peers with evidence are outside the ISP's prefixes") {
		t.Errorf("sentence %q does not say why", r.Msg)
	}
}

// TestLoneLocal checks that a local end with no other address of its
// family in the swarm yields nothing to enforce.
func TestLoneLocal(t *testing.T) {
	fx := newFixture(t)
	va := fx.verify(t, local("198.51.100.7", vt), remote("2001:db8:b::2"))
	v, err := mustNew(t, policy.Config{}).Evaluate(va, evalAt, policy.Counters{})
	r := wantReject(t, v, err, policy.CodeNothingToEnforce)
	if !strings.Contains(r.Msg, "1 of 1 local peers are local ends") {
		t.Errorf("sentence %q", r.Msg)
	}
}

func TestNoSection(t *testing.T) {
	fx := newFixture(t)
	va := fx.verify(t, local("198.51.100.7", vt), remote("203.0.113.5"))
	va.Section = nil
	v, err := mustNew(t, policy.Config{}).Evaluate(va, evalAt, policy.Counters{})
	if err == nil || v != nil || policy.CodeOf(err) != "" {
		t.Errorf("Evaluate without a section: %v, %v; want a plain error", v, err)
	}
}

// TestView checks every field of the CEL view with rules that hold.
func TestView(t *testing.T) {
	fx := newFixture(t)
	peers := []peer{local("198.51.100.7", vt), local("198.51.100.8", vt), local("198.51.100.9", hs), remote("203.0.113.5")}
	for _, delegated := range []bool{false, true} {
		va := fx.verifyAt(t, evalAt, delegated, peers...)
		rules := []string{
			fmt.Sprintf("a.claimant == %q", va.Assertion.Claimant),
			fmt.Sprintf("a.registrar == %q", fx.registrar.Public().ID()),
			fmt.Sprintf("a.credential == %q", va.Assertion.Credential),
			`a.works == ["work-1"]`,
			fmt.Sprintf("a.content == %q && a.swarm == a.content", film),
			"a.peers == 4 && a.local_peers == 3",
			`a.grades == {"verified-transfer": 2, "handshake": 1, "announced": 0}`,
			`a.observed_start == timestamp("2026-06-01T11:50:00Z") && a.observed_end == timestamp("2026-06-01T12:00:00Z")`,
			`a.not_before == timestamp("2026-06-01T12:00:00Z") && a.not_after - a.not_before == duration("10m")`,
			"a.life_seconds == 600",
			fmt.Sprintf("a.delegated == %t", delegated),
		}
		v, err := mustNew(t, policy.Config{Rules: rules}).Evaluate(va, evalAt, policy.Counters{})
		if err != nil {
			t.Errorf("delegated %t: %v", delegated, err)
		} else if len(v.Pairs) != 5 {
			t.Errorf("delegated %t: %d pairs, want 5", delegated, len(v.Pairs))
		}
	}
}

func TestPolicyDenied(t *testing.T) {
	fx := newFixture(t)
	va := fx.verifyAt(t, evalAt, true, local("198.51.100.7", vt), remote("203.0.113.5"))
	for _, tt := range []struct {
		rules []string
		msg   string
	}{
		{[]string{"true", "!a.delegated"}, `rules[1] "!a.delegated" does not hold`},
		{[]string{`a.grades["bogus"] > 0`}, `rules[0] "a.grades[\"bogus\"] > 0" failed: no such key: bogus`},
		{[]string{`a.peers / (a.peers - 2) > 0`}, `rules[0] "a.peers / (a.peers - 2) > 0" failed: division by zero`},
	} {
		v, err := mustNew(t, policy.Config{Rules: tt.rules}).Evaluate(va, evalAt, policy.Counters{})
		r := wantReject(t, v, err, policy.CodePolicyDenied)
		if r.Msg != tt.msg {
			t.Errorf("rules %q: sentence %q, want %q", tt.rules, r.Msg, tt.msg)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		name  string
		cfg   policy.Config
		field string
		msg   []string
	}{
		{"no own prefixes", policy.Config{}, "own_prefixes", []string{"required"}},
		{"invalid prefix", policy.Config{OwnPrefixes: []netip.Prefix{ownPrefixes[0], {}}}, "own_prefixes[1]", nil},
		{"invalid protected", policy.Config{OwnPrefixes: ownPrefixes, Protected: []netip.Prefix{{}}}, "protected[0]", nil},
		{"mapped infrastructure", policy.Config{OwnPrefixes: ownPrefixes, Infrastructure: []netip.Prefix{netip.MustParsePrefix("::ffff:198.51.100.0/120")}}, "infrastructure[0]", nil},
		{"announced grade", policy.Config{OwnPrefixes: ownPrefixes, LocalGrades: []protocol.Grade{vt, anno}}, "local_grades[1]", []string{"spoofable"}},
		{"unknown grade", policy.Config{OwnPrefixes: ownPrefixes, LocalGrades: []protocol.Grade{"rumour"}}, "local_grades[0]", []string{`"rumour"`}},
		{"negative ttl", policy.Config{OwnPrefixes: ownPrefixes, MaxTTL: policy.Duration(-time.Second)}, "max_ttl", nil},
		{"negative cap", policy.Config{OwnPrefixes: ownPrefixes, MaxPairsPerAssertion: -1}, "max_pairs_per_assertion", nil},
		{"negative claimant cap", policy.Config{OwnPrefixes: ownPrefixes, MaxPairsPerClaimantPerHour: -1}, "max_pairs_per_claimant_per_hour", nil},
		{"negative total cap", policy.Config{OwnPrefixes: ownPrefixes, MaxPairsTotal: -1}, "max_pairs_total", nil},
		{"syntax error", policy.Config{OwnPrefixes: ownPrefixes, Rules: []string{"true", "a.peers >"}}, "rules[1]",
			[]string{`failed to compile "a.peers >"`, "<input>:1:10: Syntax error"}},
		{"undefined field", policy.Config{OwnPrefixes: ownPrefixes, Rules: []string{"a.peers > 0 &&\n  a.claimnt == 'x'"}}, "rules[0]",
			[]string{`failed to compile "a.peers > 0 &&\n  a.claimnt == 'x'"`, "<input>:2:4: undefined field 'claimnt'"}},
		{"undeclared variable", policy.Config{OwnPrefixes: ownPrefixes, Rules: []string{"b.peers > 0"}}, "rules[0]",
			[]string{"<input>:1:1: undeclared reference to 'b'"}},
		{"type error", policy.Config{OwnPrefixes: ownPrefixes, Rules: []string{"a.peers == 'many'"}}, "rules[0]",
			[]string{"<input>:1:9: found no matching overload for '_==_'"}},
		{"int rule", policy.Config{OwnPrefixes: ownPrefixes, Rules: []string{"a.peers + 1"}}, "rules[0]",
			[]string{`"a.peers + 1" is of type int, not bool`}},
		{"string rule", policy.Config{OwnPrefixes: ownPrefixes, Rules: []string{"a.claimant"}}, "rules[0]",
			[]string{"of type string, not bool"}},
		{"dyn rule", policy.Config{OwnPrefixes: ownPrefixes, Rules: []string{"dyn(true)"}}, "rules[0]",
			[]string{"of type dyn, not bool"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := policy.New(tt.cfg)
			var cerr *policy.ConfigError
			if !errors.As(err, &cerr) {
				t.Fatalf("New: %v, want a *ConfigError", err)
			}
			if cerr.Field != tt.field {
				t.Errorf("field %q, want %q (%v)", cerr.Field, tt.field, err)
			}
			for _, m := range append(tt.msg, "invalid policy: "+tt.field+": ") {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q lacks %q", err, m)
				}
			}
			if verr := tt.cfg.Validate(); verr == nil || verr.Error() != err.Error() {
				t.Errorf("Validate: %v, New: %v", verr, err)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	cfg := policy.Config{OwnPrefixes: ownPrefixes}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("a config with only own prefixes: %v", err)
	}
	// Evaluated a minute before the assertion's validity (Evaluate trusts
	// the verifier on time), now + 10m falls before Until.
	fx := newFixture(t)
	va := fx.verify(t, local("198.51.100.7", vt), remote("203.0.113.5"))
	at := buildAt.Add(-time.Minute)
	v, err := mustNew(t, cfg).Evaluate(va, at, policy.Counters{})
	if err != nil {
		t.Fatal(err)
	}
	if want := at.Add(policy.DefaultMaxTTL); !v.Expires.Equal(want) {
		t.Errorf("expires %v, want now + %v", v.Expires, policy.DefaultMaxTTL)
	}
}

func TestCapAssertion(t *testing.T) {
	fx := newFixture(t)
	va := fx.verify(t, local("198.51.100.7", vt), local("198.51.100.8", vt), remote("203.0.113.5"), remote("203.0.113.6"))
	// Two local ends and two remotes: 1 + 2·2 = 5 pairs.
	v, err := mustNew(t, policy.Config{MaxPairsPerAssertion: 4}).Evaluate(va, evalAt, policy.Counters{})
	r := wantReject(t, v, err, policy.CodeCapAssertion)
	if !strings.Contains(r.Msg, "5 pairs, more than the 4 allowed") {
		t.Errorf("sentence %q", r.Msg)
	}
	v, err = mustNew(t, policy.Config{MaxPairsPerAssertion: 5}).Evaluate(va, evalAt, policy.Counters{})
	if err != nil || len(v.Pairs) != 5 {
		t.Fatalf("at the cap: %v, %v", v, err)
	}
}

func TestCapClaimant(t *testing.T) {
	fx := newFixture(t)
	va := fx.verify(t, local("198.51.100.7", vt), remote("203.0.113.5"), remote("203.0.113.6"))
	claimant := va.Assertion.Claimant
	p := mustNew(t, policy.Config{MaxPairsPerClaimantPerHour: 10})

	var w policy.ClaimantWindow
	w.Record(claimant, 5, evalAt.Add(-59*time.Minute))
	w.Record(claimant, 4, evalAt.Add(-10*time.Minute))
	w.Record("another claimant", 100, evalAt)
	// 9 pairs in the last hour, 2 more exceed 10.
	v, err := p.Evaluate(va, evalAt, policy.Counters{Claimants: &w})
	r := wantReject(t, v, err, policy.CodeCapClaimant)
	if !strings.Contains(r.Msg, "installed 9 pairs in the last hour; 2 more exceed its 10 per hour") {
		t.Errorf("sentence %q", r.Msg)
	}
	// A minute later the first install is an hour old and stops counting.
	later := evalAt.Add(time.Minute)
	v, err = p.Evaluate(va, later, policy.Counters{Claimants: &w})
	if err != nil {
		t.Fatal(err)
	}
	w.Record(v.Claimant, len(v.Pairs), later)
	if n := w.Count(claimant, later); n != 6 {
		t.Errorf("window counts %d pairs, want 6", n)
	}
	// Without a window, the assertion alone is compared with the cap.
	v, err = mustNew(t, policy.Config{MaxPairsPerClaimantPerHour: 1}).Evaluate(va, evalAt, policy.Counters{})
	wantReject(t, v, err, policy.CodeCapClaimant)
}

func TestCapTotal(t *testing.T) {
	fx := newFixture(t)
	va := fx.verify(t, local("198.51.100.7", vt), remote("203.0.113.5"), remote("203.0.113.6"), remote("203.0.113.7"))
	p := mustNew(t, policy.Config{})
	full := policy.Counters{Installed: policy.DefaultMaxPairsTotal - 2}
	v, err := p.Evaluate(va, evalAt, full)
	r := wantReject(t, v, err, policy.CodeCapTotal)
	if !strings.Contains(r.Msg, "3 new ones exceed the total of 5000000") {
		t.Errorf("sentence %q", r.Msg)
	}

	// Pairs installed already do not count twice.
	state := enforce.NewState()
	if err := state.Add(enforce.Compile(
		[]netip.Addr{netip.MustParseAddr("198.51.100.7")},
		[]netip.Addr{netip.MustParseAddr("203.0.113.5"), netip.MustParseAddr("203.0.113.6")},
		evalAt.Add(time.Minute))...); err != nil {
		t.Fatal(err)
	}
	installed := map[enforce.Key]bool{}
	for _, pr := range state.Pairs() {
		installed[pr.Key] = true
	}
	full.IsInstalled = func(k enforce.Key) bool { return installed[k] }
	v, err = p.Evaluate(va, evalAt, full)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Pairs) != 3 {
		t.Errorf("%d pairs, want 3: a verdict lists installed pairs too, to extend them", len(v.Pairs))
	}
}

// TestCodesAreUnique checks that no code is listed twice and none is also
// a protocol code.
func TestCodesAreUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range protocol.Codes {
		seen[string(c)] = true
	}
	for _, c := range policy.Codes {
		if seen[string(c)] {
			t.Errorf("code %s listed twice or also a protocol code", c)
		}
		seen[string(c)] = true
	}
}
