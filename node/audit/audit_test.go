package audit_test

import (
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/node/audit"
	"github.com/docket-project/docket/protocol"
)

// mixedLog is a log of credentials, delegations, revocations and
// assertions, with what an audit must count and, if planted, two problems.
type mixedLog struct {
	world *world
	log   *testLog
	// revokedUse is the index of an assertion under a credential whose
	// revocation was logged before it; wrongWork of an assertion about
	// content its credential does not list.
	revokedUse, wrongWork uint64
	want                  *audit.Report
}

// The shape of a mixed log.
const (
	mixedHolders = 40 // rights holders, each with a grant from one of two registrars
	mixedAgents  = 10 // agents, each with a delegation from one holder
	mixedRevoked = 5  // holders whose grants the registrar revokes
	agentRevoked = 2  // agents whose delegations their holder revokes
)

// newMixedLog writes a log through node/tlog with the given number of
// ordinary assertions, submitted concurrently in phases: grants, then
// delegations, then assertions, then revocations (made a day after every
// ordinary assertion), then, if plant is set, an assertion under a revoked
// grant. With plant set, one assertion of the assertion phase is about
// another holder's work.
func newMixedLog(t testing.TB, assertions int, plant bool) *mixedLog {
	t.Helper()
	start := time.Now()
	w := newWorld(t)
	m := &mixedLog{world: w, log: openLog(t, newLogKey(t), t.TempDir())}
	want := &audit.Report{
		Entries:    map[audit.EntryKind]int{},
		Registrars: map[sign.KeyID]*audit.RegistrarCounts{},
		Claimants:  map[sign.KeyID]int{},
		Works:      map[string]int{},
		Contents:   map[protocol.ContentID]int{},
		Findings:   []audit.Finding{},
	}
	m.want = want
	registrar := func(p *party) *audit.RegistrarCounts {
		id := w.registrars[p.registrar].Public().ID()
		if want.Registrars[id] == nil {
			want.Registrars[id] = &audit.RegistrarCounts{}
		}
		return want.Registrars[id]
	}

	var holders, parties []*party
	var creds [][]byte
	for h := range mixedHolders {
		p := w.grant(t, h%2, fmt.Sprintf("holder-%d", h))
		holders = append(holders, p)
		creds = append(creds, p.cred)
		registrar(p).Grants++
	}
	m.log.submitAll(t, creds)
	creds = nil
	parties = append(parties, holders...)
	for k := range mixedAgents {
		a := w.delegate(t, holders[k], fmt.Sprintf("agent-%d", k))
		parties = append(parties, a)
		creds = append(creds, a.cred)
		registrar(a).Delegations++
	}
	m.log.submitAll(t, creds)
	want.Entries[audit.EntryCredential] = mixedHolders + mixedAgents

	count := func(j job) {
		// An assertion is logged as its object and its one section.
		want.Entries[audit.EntryAssertion]++
		want.Entries[audit.EntrySection]++
		want.Parts++
		registrar(j.by).Assertions++
		want.Claimants[j.by.key.Public().ID()]++
		want.Contents[j.content]++
		for _, work := range j.by.works {
			if slices.Contains(work.Content, j.content) {
				want.Works[work.ID]++
			}
		}
	}
	var jobs []job
	for i := range assertions {
		p := parties[i%len(parties)]
		work := p.works[(i/len(parties))%len(p.works)]
		jobs = append(jobs, job{by: p, content: work.Content[(i/len(parties)/len(p.works))%len(work.Content)],
			notBefore: assertAt.Add(time.Duration(i) * time.Second)})
	}
	if plant {
		jobs = append(jobs, job{by: holders[0], content: holders[1].works[0].Content[0],
			notBefore: assertAt.Add(time.Duration(assertions) * time.Second)})
	}
	for _, j := range jobs {
		count(j)
	}
	built := time.Now()
	bundles := w.build(t, jobs)
	t.Logf("built %d assertions in %v", len(bundles), time.Since(built))
	submitted := time.Now()
	indexes := m.log.submitAll(t, bundles)
	t.Logf("submitted %d assertions in %v", len(bundles), time.Since(submitted))
	if plant {
		m.wrongWork = indexes[len(indexes)-1]
	}

	revokedAt := assertAt.Add(24 * time.Hour)
	var revs [][]byte
	for _, p := range holders[mixedHolders-mixedRevoked:] {
		revs = append(revs, revoke(t, w.registrars[p.registrar], p.credID, revokedAt))
		registrar(p).Revocations++
	}
	for k := mixedAgents - agentRevoked; k < mixedAgents; k++ {
		revs = append(revs, revoke(t, holders[k].key, parties[mixedHolders+k].credID, revokedAt))
		registrar(holders[k]).Revocations++
	}
	m.log.submitAll(t, revs)
	want.Entries[audit.EntryRevocation] = len(revs)

	if plant {
		j := job{by: holders[mixedHolders-1], content: holders[mixedHolders-1].works[1].Content[1], notBefore: revokedAt.Add(time.Hour)}
		count(j)
		m.revokedUse = m.log.submit(t, w.assert(t, j.by, j.content, j.notBefore, 0))
	}
	t.Logf("log of %d entries written in %v", logSize(want), time.Since(start))
	return m
}

// logSize is the number of entries a report expects: each section is one
// part entry.
func logSize(r *audit.Report) int {
	n := 0
	for _, c := range r.Entries {
		n += c
	}
	return n
}

// config is an audit of source trusting the world's registrars.
func (m *mixedLog) config(source string) audit.Config {
	return audit.Config{Source: source, LogKey: m.log.key.verifier, Registrars: m.world.trusted()}
}

// checkCounts compares a report's counts with the expected ones.
func checkCounts(t *testing.T, got, want *audit.Report) {
	t.Helper()
	if !maps.Equal(got.Entries, want.Entries) || got.Parts != want.Parts || got.Incomplete != 0 {
		t.Errorf("entries %v, %d parts, %d incomplete; want %v, %d parts, none incomplete",
			got.Entries, got.Parts, got.Incomplete, want.Entries, want.Parts)
	}
	if !maps.EqualFunc(got.Registrars, want.Registrars, func(x, y *audit.RegistrarCounts) bool { return *x == *y }) {
		t.Errorf("registrars:\n%s\nwant\n%s", registrars(got), registrars(want))
	}
	if !maps.Equal(got.Claimants, want.Claimants) {
		t.Errorf("claimants %v, want %v", got.Claimants, want.Claimants)
	}
	if !maps.Equal(got.Works, want.Works) {
		t.Errorf("works %v, want %v", got.Works, want.Works)
	}
	if !maps.Equal(got.Contents, want.Contents) {
		t.Errorf("contents %v, want %v", got.Contents, want.Contents)
	}
	if got.Size != uint64(logSize(want)) {
		t.Errorf("size %d, want %d", got.Size, logSize(want))
	}
}

func registrars(r *audit.Report) string {
	s := ""
	for _, id := range slices.Sorted(maps.Keys(r.Registrars)) {
		s += fmt.Sprintf("  %s %+v\n", id, *r.Registrars[id])
	}
	return s
}

// mixedAssertions is the number of ordinary assertions that makes a mixed
// log with two planted problems at least size entries long: each assertion
// is two entries, its object and its section.
func mixedAssertions(size int) int {
	other := mixedHolders + mixedAgents + mixedRevoked + agentRevoked + 2*2
	return (size - other + 1) / 2
}

// TestMixedLog audits a log of mixed entries with exactly two planted
// problems, from its directory and over HTTP. The log has 10,000 entries
// with DOCKET_AUDIT_LOAD=1, 2,000 otherwise.
func TestMixedLog(t *testing.T) {
	size := 2000
	if os.Getenv("DOCKET_AUDIT_LOAD") != "" {
		size = 10000
	}
	m := newMixedLog(t, mixedAssertions(size), true)
	if n := logSize(m.want); n < size {
		t.Fatalf("log of %d entries, want at least %d", n, size)
	}

	var progress []uint64
	cfg := m.config(m.log.dir)
	cfg.Progress = func(done, total uint64) {
		if total != uint64(logSize(m.want)) {
			t.Errorf("progress total %d, want %d", total, logSize(m.want))
		}
		progress = append(progress, done)
	}
	start := time.Now()
	fromDir, err := audit.Audit(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	t.Logf("audited %d entries from the directory in %v (%.0f entries/s)", fromDir.Size, elapsed, float64(fromDir.Size)/elapsed.Seconds())
	checkCounts(t, fromDir, m.want)
	want := []audit.Finding{
		{Index: m.wrongWork, Kind: audit.FindingNoValidCredential, Code: protocol.CodeWorkNotCovered},
		{Index: m.revokedUse, Kind: audit.FindingRevokedCredentialUsed, Code: protocol.CodeCredentialRevoked},
	}
	checkFindings(t, fromDir.Findings, want)
	if len(progress) == 0 || progress[len(progress)-1] != fromDir.Size || !slices.IsSorted(progress) {
		t.Errorf("progress %v does not rise to %d", progress, fromDir.Size)
	}

	start = time.Now()
	overHTTP, err := audit.Audit(t.Context(), m.config(m.log.url))
	if err != nil {
		t.Fatal(err)
	}
	elapsed = time.Since(start)
	t.Logf("audited %d entries over HTTP in %v (%.0f entries/s)", overHTTP.Size, elapsed, float64(overHTTP.Size)/elapsed.Seconds())
	if !reflect.DeepEqual(overHTTP, fromDir) {
		t.Errorf("the audit over HTTP differs from the audit of the directory")
	}
}

// checkFindings compares findings by index, kind and code, and checks that
// each has a message and names its object.
func checkFindings(t *testing.T, got, want []audit.Finding) {
	t.Helper()
	type key struct {
		Index uint64
		Kind  audit.FindingKind
		Code  protocol.Code
	}
	var g, w []key
	for _, f := range got {
		g = append(g, key{f.Index, f.Kind, f.Code})
		if f.Message == "" {
			t.Errorf("finding %+v has no message", f)
		}
	}
	for _, f := range want {
		w = append(w, key{f.Index, f.Kind, f.Code})
	}
	if !slices.Equal(g, w) {
		t.Errorf("findings:\n%s\nwant\n%+v", describeFindings(got), w)
	}
}

func describeFindings(fs []audit.Finding) string {
	s := ""
	for _, f := range fs {
		s += fmt.Sprintf("  %d %s %s: %s\n", f.Index, f.Kind, f.Code, f.Message)
	}
	return s
}
