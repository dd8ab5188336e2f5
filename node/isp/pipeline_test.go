package isp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/enforce"
	"github.com/docket-project/docket/enforce/dryrun"
	"github.com/docket-project/docket/node/isp"
	"github.com/docket-project/docket/node/policy"
	"github.com/docket-project/docket/node/store"
	"github.com/docket-project/docket/node/tlog"
	"github.com/docket-project/docket/protocol"
)

func key(local, remote string) enforce.Key {
	return enforce.Key{Local: netip.MustParseAddr(local), Remote: netip.MustParseAddr(remote)}
}

// swarmKeys are the pairs isp-a blocks for the default swarm.
var swarmKeys = []enforce.Key{
	key("198.51.100.10", "198.51.100.20"),
	key("198.51.100.10", "198.51.100.200"),
	key("198.51.100.10", "203.0.113.9"),
	key("198.51.100.20", "198.51.100.200"),
	key("198.51.100.20", "203.0.113.9"),
}

// checkState fails unless the dry-run state holds exactly the swarm's
// pairs, each expiring at until.
func (fx *fixture) checkState(t *testing.T, until time.Time) {
	t.Helper()
	state := fx.state(t)
	if len(state) != len(swarmKeys) {
		t.Errorf("state holds %d pairs, want %d: %v", len(state), len(swarmKeys), state)
	}
	for _, k := range swarmKeys {
		if exp, ok := state[k]; !ok || !exp.Equal(until) {
			t.Errorf("pair %v: installed %v until %v, want until %v", k, ok, exp, until)
		}
	}
}

func counts(t testing.TB, s *store.Store) store.Counts {
	t.Helper()
	var c store.Counts
	if err := s.View(func(tx *store.Tx) error { c = tx.Counts(); return nil }); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestApplied(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	n := fx.start(t)
	full, id := fx.build(t, claim{})
	d := n.applied(t, fx.submission(t, full), swarmPairs)

	// The assertion lives until t0+10m; the policy's 10-minute TTL from
	// now (t0+1m) would allow t0+11m.
	until := fx.t0.Add(assertLife)
	if d.Assertion != id || !d.Until.Equal(until) || d.Err != nil || d.Code != "" {
		t.Errorf("decision %+v; want %s until %v", d, id, until)
	}
	fx.checkState(t, until)
	r := fx.checkReceipt(t, d.Receipt, id, protocol.VerdictApplied, "")
	if r.Pairs != swarmPairs || !r.Until.Equal(until) || !r.IssuedAt.Equal(fx.clock.Now()) {
		t.Errorf("receipt %+v; want %d pairs until %v", r, swarmPairs, until)
	}
	if got := fx.sink.all(); len(got) != 1 || !bytes.Equal(got[0], d.Receipt) {
		t.Errorf("sink got %d receipts, want the decision's", len(got))
	}
	st := n.p.Stats()
	if st.Accepted != 1 || st.ReceiptsDelivered != 1 || st.Store.Seen != 1 || st.Store.Pairs != swarmPairs ||
		st.Store.Enforcements != 1 || st.Store.Installs != 1 || st.Store.PendingReceipts != 0 || st.Store.Checkpoints != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestAppliedThroughDelegation(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	n := fx.start(t)
	full, id := fx.build(t, claim{key: fx.agent, credential: fx.delegID})
	s := fx.submission(t, full, fx.grant, fx.deleg)
	// A relay may trim the proof to the assertion's object: the sections'
	// part entries are not needed.
	var proof tlog.Proof
	if err := json.Unmarshal(s.Proof, &proof); err != nil {
		t.Fatal(err)
	}
	if len(proof.More) != 2 {
		t.Fatalf("the log stored the bundle in %d entries, want 3: its object and two sections", 1+len(proof.More))
	}
	proof.More = nil
	s.Proof = must(json.Marshal(&proof))
	d := n.applied(t, s, swarmPairs)
	fx.checkReceipt(t, d.Receipt, id, protocol.VerdictApplied, "")
	fx.checkState(t, fx.t0.Add(assertLife))
	// Without the delegation the chain ends in the grant, whose subject is
	// not the claimant.
	other, _ := fx.build(t, claim{key: fx.agent, credential: fx.delegID})
	if d := n.submit(t, fx.submission(t, other)); d.Code != string(protocol.CodeChainBroken) {
		t.Errorf("chain without the delegation: %s (%v), want CHAIN_BROKEN", d.Code, d.Err)
	}
}

// TestRejections submits one faulty assertion per rejection class to a
// node that already enforces one, and checks that each is rejected with
// its code and receipted, and that nothing changed: the backend's state
// byte for byte, seen ids, the desired state, the claimant history.
func TestRejections(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	fx.policy.MaxPairsPerAssertion = 20
	n := fx.start(t)
	first, _ := fx.build(t, claim{})
	n.applied(t, fx.submission(t, first), swarmPairs)

	otherRegistrar := must(sign.Generate(sign.Ed25519))
	foreignGrant, foreignID := fx.issue(t, otherRegistrar, fx.holder, []string{ispName})
	elsewhereGrant, elsewhereID := fx.issue(t, fx.registrar, fx.holder, []string{otherISP})

	type tc struct {
		name  string
		claim claim
		chain [][]byte
		// edit changes the submission after the assertion is logged.
		edit    func(*isp.Submission)
		code    string
		receipt bool
	}
	var another []byte // a second logged assertion, for proofs of another entry
	cases := []tc{
		{name: "malformed bundle", edit: func(s *isp.Submission) { s.Bundle = s.Bundle[:len(s.Bundle)/2] },
			code: string(protocol.CodeMalformed)},
		{name: "forged signature", edit: func(s *isp.Submission) { s.Bundle = forgeSignature(t, s.Bundle) },
			code: string(protocol.CodeBadSignature), receipt: true},
		{name: "untrusted registrar", claim: claim{credential: foreignID}, chain: [][]byte{foreignGrant},
			code: string(protocol.CodeUntrustedRegistrar), receipt: true},
		{name: "out of scope", claim: claim{credential: elsewhereID}, chain: [][]byte{elsewhereGrant},
			code: string(protocol.CodeOutOfScope), receipt: true},
		{name: "expired", claim: claim{notBefore: fx.t0.Add(-time.Hour)},
			code: string(protocol.CodeExpired), receipt: true},
		{name: "not logged", edit: func(s *isp.Submission) { s.Proof = nil },
			code: string(isp.CodeNotLogged), receipt: true},
		{name: "proof from an untrusted log", edit: func(s *isp.Submission) { s.Proof = prove(t, fx.untrusted, s.Bundle) },
			code: string(isp.CodeUntrustedLog), receipt: true},
		{name: "proof for another entry", edit: func(s *isp.Submission) { s.Proof = prove(t, fx.log, another) },
			code: string(isp.CodeProofInvalid), receipt: true},
		{name: "truncated proof", edit: func(s *isp.Submission) { s.Proof = s.Proof[:len(s.Proof)-2] },
			code: string(isp.CodeProofInvalid), receipt: true},
		{name: "section for another ISP only", claim: claim{peers: []peer{vt("198.51.100.200"), vt("198.51.100.210")}},
			code: string(protocol.CodeNoSection), receipt: true},
		{name: "protected address", claim: claim{peers: []peer{vt("198.51.100.5"), vt("198.51.100.200")}},
			code: string(policy.CodeNothingToEnforce), receipt: true},
		{name: "announced only", claim: claim{peers: []peer{{"198.51.100.10", protocol.GradeAnnounced}, vt("198.51.100.200")}},
			code: string(policy.CodeNothingToEnforce), receipt: true},
		{name: "cap per assertion", claim: claim{peers: []peer{
			vt("198.51.100.16"), vt("198.51.100.17"), vt("198.51.100.18"), vt("198.51.100.19"),
			vt("198.51.100.21"), vt("198.51.100.22"), vt("198.51.100.200"), vt("203.0.113.9")}}, // 15 + 12 pairs
			code: string(policy.CodeCapAssertion), receipt: true},
	}

	// Build every assertion, then log them all at once.
	fulls := make([][]byte, len(cases))
	ids := make([]protocol.ID, len(cases))
	for i, c := range cases {
		fulls[i], ids[i] = fx.build(t, c.claim)
	}
	another, _ = fx.build(t, claim{})
	proofs := proveAll(t, fx.log, append(fulls, another)...)

	before := fx.stateBytes(t)
	storeBefore := counts(t, n.store)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := isp.Submission{Bundle: ownBundle(t, fulls[i]), Chain: c.chain, Proof: proofs[i]}
			if s.Chain == nil {
				s.Chain = [][]byte{fx.grant}
			}
			if c.edit != nil {
				c.edit(&s)
			}
			receipts := len(fx.sink.all())
			d := n.submit(t, s)
			if d.Verdict != protocol.VerdictRejected || d.Code != c.code || isp.CodeOf(d.Err) != c.code {
				t.Fatalf("decision %s %s (%v), want rejected %s", d.Verdict, d.Code, d.Err, c.code)
			}
			if c.receipt {
				fx.checkReceipt(t, d.Receipt, ids[i], protocol.VerdictRejected, c.code)
				if got := fx.sink.all(); len(got) != receipts+1 || !bytes.Equal(got[len(got)-1], d.Receipt) {
					t.Errorf("sink holds %d receipts, want %d ending with the decision's", len(got), receipts+1)
				}
			} else if d.Receipt != nil || d.Assertion != "" || len(fx.sink.all()) != receipts {
				t.Errorf("a submission that does not decode was receipted")
			}
			if after := fx.stateBytes(t); !bytes.Equal(before, after) {
				t.Errorf("the backend's state changed:\n%s\nbecame\n%s", before, after)
			}
			after := counts(t, n.store)
			if after.Seen != storeBefore.Seen || after.Pairs != storeBefore.Pairs ||
				after.Enforcements != storeBefore.Enforcements || after.Installs != storeBefore.Installs {
				t.Errorf("the store changed: %+v, was %+v", after, storeBefore)
			}

			// The same fault again is answered alike, without a second receipt.
			if c.receipt {
				again := n.submit(t, s)
				if again.Code != c.code || again.Receipt != nil || len(fx.sink.all()) != receipts+1 {
					t.Errorf("repeated rejection: %s, receipt %v; want %s without a receipt", again.Code, again.Receipt != nil, c.code)
				}
			}
		})
	}
	st := n.p.Stats()
	if st.Accepted != 1 || st.Rejected[string(isp.CodeProofInvalid)] != 4 || st.Rejected[string(protocol.CodeMalformed)] != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestReplay(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	n := fx.start(t)
	full, id := fx.build(t, claim{})
	s := fx.submission(t, full)
	n.applied(t, s, swarmPairs)
	before := fx.stateBytes(t)

	// The same submission, the full bundle instead of isp-a's, a broken
	// signature or a wrong chain: all are the applied assertion, answered
	// REPLAYED with no receipt and no change.
	forged := s
	forged.Bundle = forgeSignature(t, s.Bundle)
	wrongChain := s
	wrongChain.Chain = [][]byte{fx.deleg}
	fullBundle := s
	fullBundle.Bundle = full
	for name, sub := range map[string]isp.Submission{"same": s, "forged": forged, "wrong chain": wrongChain, "full bundle": fullBundle} {
		d := n.submit(t, sub)
		if d.Code != string(protocol.CodeReplayed) || d.Assertion != id || d.Receipt != nil {
			t.Errorf("%s: decision %s %s, receipt %v; want REPLAYED without a receipt", name, d.Verdict, d.Code, d.Receipt != nil)
		}
	}
	if got := len(fx.sink.all()); got != 1 {
		t.Errorf("%d receipts, want only the first", got)
	}
	if !bytes.Equal(before, fx.stateBytes(t)) {
		t.Error("a replay changed the backend's state")
	}
	if c := counts(t, n.store); c.Installs != 1 || c.Enforcements != 1 || c.Rejections != 0 {
		t.Errorf("a replay changed the store: %+v", c)
	}
}

func TestRefreshExtends(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	n := fx.start(t)
	first, _ := fx.build(t, claim{})
	n.applied(t, fx.submission(t, first), swarmPairs)
	fx.checkState(t, fx.t0.Add(assertLife))

	// Five minutes later the claimant refreshes: a new assertion, the same
	// swarm, valid five minutes longer.
	fx.clock.Add(5 * time.Minute)
	second, id := fx.build(t, claim{notBefore: fx.t0.Add(5 * time.Minute)})
	d := n.applied(t, fx.submission(t, second), swarmPairs)
	until := fx.t0.Add(5*time.Minute + assertLife)
	if !d.Until.Equal(until) {
		t.Errorf("refresh until %v, want %v", d.Until, until)
	}
	fx.checkReceipt(t, d.Receipt, id, protocol.VerdictApplied, "")
	fx.checkState(t, until)
	c := counts(t, n.store)
	if c.Pairs != swarmPairs || c.Enforcements != 2 || c.Seen != 2 {
		t.Errorf("store %+v; want %d pairs kept once, two assertions", c, swarmPairs)
	}
	var stored []enforce.Pair
	if err := n.store.View(func(tx *store.Tx) error { stored = tx.Pairs(); return nil }); err != nil {
		t.Fatal(err)
	}
	for _, p := range stored {
		if !p.Expires.Equal(until) {
			t.Errorf("stored pair %v expires %v, want %v", p.Key, p.Expires, until)
		}
	}
}

func TestExpiredPairsLapse(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	n := fx.start(t)
	first, _ := fx.build(t, claim{})
	n.applied(t, fx.submission(t, first), swarmPairs)

	// Past the pairs' expiry (t0+10m) but not the replay memory
	// (not_after + skew, t0+11m).
	fx.clock.Add(assertLife - 30*time.Second) // now t0+10m30s
	pruned, err := n.p.Expire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if pruned.Pairs != swarmPairs || pruned.Enforcements != 1 || pruned.Seen != 0 {
		t.Errorf("pruned %+v; want the 5 pairs and their assertion, not yet its seen id", pruned)
	}
	fx.clock.Add(31 * time.Second)
	if pruned, _ := n.p.Expire(t.Context()); pruned.Seen != 1 {
		t.Errorf("pruned %+v; want the seen id past not_after + skew", pruned)
	}
	if c := counts(t, n.store); c.Pairs != 0 || c.Seen != 0 || c.Enforcements != 0 {
		t.Errorf("store after expiry %+v", c)
	}

	// A restarted node reconciles the backend to the pruned state.
	n.stop(t)
	fx.start(t)
	if state := fx.state(t); len(state) != 0 {
		t.Errorf("state after restart %v, want empty", state)
	}
}

func TestExpiryBeforeDecision(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	n := fx.start(t)
	first, _ := fx.build(t, claim{})
	n.applied(t, fx.submission(t, first), swarmPairs)
	// Twenty minutes on, a new assertion over other peers: the lapsed
	// pairs are pruned before it is decided.
	fx.clock.Add(20 * time.Minute)
	peers := []peer{vt("198.51.100.30"), vt("203.0.113.30")}
	second, _ := fx.build(t, claim{notBefore: fx.t0.Add(20 * time.Minute), peers: peers})
	n.applied(t, fx.submission(t, second), 1)
	var stored []enforce.Pair
	if err := n.store.View(func(tx *store.Tx) error { stored = tx.Pairs(); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(stored) != 1 || stored[0].Key != key("198.51.100.30", "203.0.113.30") {
		t.Errorf("stored pairs %v, want only the new one", stored)
	}
}

func revocation(t testing.TB, signer *sign.PrivateKey, credential protocol.ID) []byte {
	t.Helper()
	env, _, err := protocol.SignRevocation(signer, protocol.Revocation{
		Credential: credential, Reason: "rights transferred", RevokedAt: time.Now().UTC().Truncate(time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestRevocationLifts(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	n := fx.start(t)
	ctx := t.Context()

	// The holder's assertion until t0+10m, then the agent's, two minutes
	// later, over the same swarm until t0+12m.
	byHolder, _ := fx.build(t, claim{})
	n.applied(t, fx.submission(t, byHolder), swarmPairs)
	fx.clock.Add(2 * time.Minute)
	byAgent, _ := fx.build(t, claim{key: fx.agent, credential: fx.delegID, notBefore: fx.t0.Add(2 * time.Minute)})
	n.applied(t, fx.submission(t, byAgent, fx.grant, fx.deleg), swarmPairs)
	fx.checkState(t, fx.t0.Add(2*time.Minute+assertLife))

	// Who may not revoke, and what the node does not know.
	if _, err := n.p.Revoke(ctx, revocation(t, fx.agent, fx.delegID), nil); protocol.CodeOf(err) != protocol.CodeRevocationUnauthorized {
		t.Errorf("agent revoking its delegation: %v, want REVOCATION_UNAUTHORIZED", err)
	}
	unknown := protocol.IDOf([]byte("never seen"))
	if _, err := n.p.Revoke(ctx, revocation(t, fx.registrar, unknown), nil); !errors.Is(err, isp.ErrUnknownCredential) {
		t.Errorf("unknown credential: %v, want ErrUnknownCredential", err)
	}
	before := fx.stateBytes(t)
	if !bytes.Equal(before, fx.stateBytes(t)) {
		t.Fatal("refused revocations changed the state")
	}

	// The holder revokes the delegation: the agent's assertion ends; its
	// pairs stay under the holder's assertion, until that one's expiry.
	res, err := n.p.Revoke(ctx, revocation(t, fx.holder, fx.delegID), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Assertions != 1 || res.Withdrawn != 0 || res.Shortened != swarmPairs {
		t.Errorf("revoking the delegation: %+v; want 1 assertion, %d pairs shortened", res, swarmPairs)
	}
	fx.checkState(t, fx.t0.Add(assertLife))
	if res, err := n.p.Revoke(ctx, revocation(t, fx.holder, fx.delegID), nil); err != nil || !res.AlreadyRevoked {
		t.Errorf("revoking again: %+v, %v; want AlreadyRevoked", res, err)
	}
	later, laterID := fx.build(t, claim{key: fx.agent, credential: fx.delegID, notBefore: fx.t0.Add(2 * time.Minute)})
	d := n.submit(t, fx.submission(t, later, fx.grant, fx.deleg))
	if d.Code != string(protocol.CodeCredentialRevoked) {
		t.Fatalf("assertion under the revoked delegation: %s (%v)", d.Code, d.Err)
	}
	fx.checkReceipt(t, d.Receipt, laterID, protocol.VerdictRejected, string(protocol.CodeCredentialRevoked))

	// The registrar revokes the grant: the holder's assertion ends and
	// nothing is enforced any more.
	res, err = n.p.Revoke(ctx, revocation(t, fx.registrar, fx.grantID), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Assertions != 1 || res.Withdrawn != swarmPairs {
		t.Errorf("revoking the grant: %+v; want 1 assertion, %d pairs withdrawn", res, swarmPairs)
	}
	if state := fx.state(t); len(state) != 0 {
		t.Errorf("state after revoking the grant: %v", state)
	}
	if c := counts(t, n.store); c.Pairs != 0 || c.Enforcements != 0 || c.Revocations != 2 {
		t.Errorf("store after revocations %+v", c)
	}

	// A restarted node still refuses the grant's assertions.
	n.stop(t)
	n = fx.start(t)
	next, _ := fx.build(t, claim{notBefore: fx.t0.Add(2 * time.Minute)})
	if d := n.submit(t, fx.submission(t, next)); d.Code != string(protocol.CodeCredentialRevoked) {
		t.Errorf("after restart: %s (%v), want CREDENTIAL_REVOKED", d.Code, d.Err)
	}
	if st := n.p.Stats(); st.Store.Revocations != 2 {
		t.Errorf("stats after restart %+v", st)
	}
}

func TestRevocationWithChain(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	n := fx.start(t)
	// A credential the node never saw is revoked given its chain; its
	// first assertion is then refused.
	res, err := n.p.Revoke(t.Context(), revocation(t, fx.holder, fx.delegID), [][]byte{fx.grant, fx.deleg})
	if err != nil || res.Assertions != 0 {
		t.Fatalf("revoke: %+v, %v", res, err)
	}
	full, _ := fx.build(t, claim{key: fx.agent, credential: fx.delegID})
	if d := n.submit(t, fx.submission(t, full, fx.grant, fx.deleg)); d.Code != string(protocol.CodeCredentialRevoked) {
		t.Errorf("%s (%v), want CREDENTIAL_REVOKED", d.Code, d.Err)
	}
}

func TestRestartKeepsStateAndReconciles(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	fx.policy.MaxPairsPerClaimantPerHour = swarmPairs
	n := fx.start(t)
	full, _ := fx.build(t, claim{})
	s := fx.submission(t, full)
	n.applied(t, s, swarmPairs)
	until := fx.t0.Add(assertLife)
	n.stop(t)

	// While the node is down the backend drifts: a pair nobody decided
	// appears, and most decided ones are gone.
	drift := []enforce.Pair{
		{Key: key("198.51.100.99", "203.0.113.99"), Expires: until},
		{Key: swarmKeys[0], Expires: until.Add(-time.Minute)},
	}
	if err := os.WriteFile(filepath.Join(fx.dir, stateFile), must(dryrun.Marshal(drift)), 0o644); err != nil {
		t.Fatal(err)
	}

	n = fx.start(t)
	fx.checkState(t, until) // exactly the decided pairs, each once
	if d := n.submit(t, s); d.Code != string(protocol.CodeReplayed) {
		t.Errorf("replay after restart: %s, want REPLAYED", d.Code)
	}
	// The claimant used its hourly allowance before the restart.
	other, _ := fx.build(t, claim{peers: []peer{vt("198.51.100.30"), vt("203.0.113.30")}})
	if d := n.submit(t, fx.submission(t, other)); d.Code != string(policy.CodeCapClaimant) {
		t.Errorf("claimant over its hourly cap after restart: %s (%v), want CAP_CLAIMANT", d.Code, d.Err)
	}
	fx.checkState(t, until)
}

func TestPolicyRejectionInstallsNothing(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	n := fx.start(t)
	before := fx.stateBytes(t)
	full, id := fx.build(t, claim{peers: []peer{vt("198.51.100.5"), vt("198.51.100.10"), vt("198.51.100.200")}})
	// 198.51.100.5 is protected; 198.51.100.10 is a local end, but the
	// claimant's rule below denies the assertion.
	fx.policy.Rules = []string{`a.grades["verified-transfer"] >= 3`}
	n.stop(t)
	n = fx.start(t)
	d := n.submit(t, fx.submission(t, full))
	if d.Code != string(policy.CodePolicyDenied) {
		t.Fatalf("decision %s (%v), want POLICY_DENIED", d.Code, d.Err)
	}
	fx.checkReceipt(t, d.Receipt, id, protocol.VerdictRejected, string(policy.CodePolicyDenied))
	if state := fx.state(t); len(state) != 0 || !bytes.Equal(before, fx.stateBytes(t)) {
		t.Errorf("state after a policy rejection: %v", state)
	}
	c := counts(t, n.store)
	if c.Seen != 0 || c.Pairs != 0 || c.Enforcements != 0 || c.Installs != 0 || c.Rejections != 1 || c.PendingReceipts != 0 {
		t.Errorf("store after a policy rejection: %+v", c)
	}
	// Without the rule the same assertion is applied, sparing the
	// protected address: one pair.
	fx.policy.Rules = nil
	n.stop(t)
	n = fx.start(t)
	n.applied(t, fx.submission(t, full), 1)
	if state := fx.state(t); len(state) != 1 {
		t.Errorf("state %v, want the one unprotected pair", state)
	}
}

func TestLogInconsistent(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	// A new log and a fork of it, signed with the same key: the fork's
	// tree of one submission has another root than the tree isp-a saw.
	var signer note.Signer
	fx.log, signer, fx.logVerifier = openLog(t, "fork.example/log", nil)
	fork, _, _ := openLog(t, "fork.example/log", signer)
	n := fx.start(t)
	first, _ := fx.build(t, claim{})
	n.applied(t, fx.submission(t, first), swarmPairs)
	second, id := fx.build(t, claim{notBefore: fx.t0.Add(time.Second)})
	s := isp.Submission{Bundle: ownBundle(t, second), Chain: [][]byte{fx.grant}, Proof: prove(t, fork, second)}
	before := fx.stateBytes(t)
	d := n.submit(t, s)
	if d.Code != string(isp.CodeLogInconsistent) {
		t.Fatalf("proof from a fork: %s (%v), want LOG_INCONSISTENT", d.Code, d.Err)
	}
	fx.checkReceipt(t, d.Receipt, id, protocol.VerdictRejected, string(isp.CodeLogInconsistent))
	if !bytes.Equal(before, fx.stateBytes(t)) {
		t.Error("state changed")
	}
}

func TestReceiptOutboxSurvivesRestart(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	n := fx.start(t)
	fx.sink.setFail(errors.New("log unreachable"))
	full, id := fx.build(t, claim{})
	d := n.applied(t, fx.submission(t, full), swarmPairs)
	if len(fx.sink.all()) != 0 {
		t.Fatal("a failing sink took a receipt")
	}
	if st := n.p.Stats(); st.Store.PendingReceipts != 1 || st.ReceiptFailures != 1 {
		t.Errorf("stats %+v; want one pending receipt", st)
	}
	n.stop(t)
	n = fx.start(t)
	if sent, err := n.p.FlushReceipts(t.Context()); err == nil || sent != 0 {
		t.Errorf("flush into a failing sink: %d, %v", sent, err)
	}
	fx.sink.setFail(nil)
	sent, err := n.p.FlushReceipts(t.Context())
	if err != nil || sent != 1 {
		t.Fatalf("flush: %d, %v", sent, err)
	}
	got := fx.sink.all()
	if len(got) != 1 || !bytes.Equal(got[0], d.Receipt) {
		t.Fatalf("sink got %d receipts", len(got))
	}
	fx.checkReceipt(t, got[0], id, protocol.VerdictApplied, "")
	if sent, err := n.p.FlushReceipts(t.Context()); err != nil || sent != 0 {
		t.Errorf("second flush: %d, %v; want nothing left", sent, err)
	}
}

// faultyBackend is the dry-run backend with Add failing on demand, as a
// router that went away would.
type faultyBackend struct {
	*dryrun.Backend
	mu   sync.Mutex
	fail bool
}

func (b *faultyBackend) Add(ctx context.Context, pairs []enforce.Pair) error {
	b.mu.Lock()
	fail := b.fail
	b.mu.Unlock()
	if fail {
		return errors.Join(enforce.ErrTemporary, errors.New("router unreachable"))
	}
	return b.Backend.Add(ctx, pairs)
}

func TestBackendFailureDecidesNothing(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	st := must(store.Open(filepath.Join(fx.dir, storeFile), store.Options{}))
	defer st.Close()
	backend := &faultyBackend{Backend: must(dryrun.New(filepath.Join(fx.dir, stateFile)))}
	p, err := isp.New(t.Context(), isp.Config{
		Name: ispName, Region: ispRegion, Identity: fx.ours, Key: fx.ispKey,
		Registrars: []*sign.PublicKey{fx.registrar.Public()}, Logs: []note.Verifier{fx.logVerifier},
		Policy: must(policy.New(fx.policy)), Store: st, Backend: backend, Receipts: fx.sink,
		PermittedPrefixes: labPermits, Now: fx.clock.Now, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	full, _ := fx.build(t, claim{})
	s := fx.submission(t, full)
	backend.fail = true
	if d, err := p.Submit(t.Context(), s); err == nil || !errors.Is(err, enforce.ErrTemporary) {
		t.Fatalf("Submit with a failing backend: %+v, %v; want an error wrapping ErrTemporary", d, err)
	}
	if c := counts(t, st); c.Seen != 0 || c.Pairs != 0 || c.PendingReceipts != 0 || len(fx.sink.all()) != 0 {
		t.Errorf("a failed enforcement left %+v", c)
	}
	backend.mu.Lock()
	backend.fail = false
	backend.mu.Unlock()
	d, err := p.Submit(t.Context(), s)
	if err != nil || d.Verdict != protocol.VerdictApplied {
		t.Fatalf("retry: %+v, %v", d, err)
	}
	fx.checkState(t, fx.t0.Add(assertLife))
	if p.Stats().Failures != 1 {
		t.Errorf("stats %+v, want one failure", p.Stats())
	}
}

func TestConcurrentSubmissions(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	n := fx.start(t)
	const copies, distinct = 6, 4
	var fulls [][]byte
	for i := range distinct {
		full, _ := fx.build(t, claim{notBefore: fx.t0.Add(time.Duration(i) * time.Second)})
		fulls = append(fulls, full)
	}
	proofs := proveAll(t, fx.log, fulls...)
	subs := make([]isp.Submission, 0, copies+distinct-1)
	for range copies {
		subs = append(subs, isp.Submission{Bundle: ownBundle(t, fulls[0]), Chain: [][]byte{fx.grant}, Proof: proofs[0]})
	}
	for i := 1; i < distinct; i++ {
		subs = append(subs, isp.Submission{Bundle: ownBundle(t, fulls[i]), Chain: [][]byte{fx.grant}, Proof: proofs[i]})
	}
	decisions := make([]*isp.Decision, len(subs))
	var wg sync.WaitGroup
	for i, s := range subs {
		wg.Go(func() {
			d, err := n.p.Submit(context.Background(), s)
			if err != nil {
				t.Error(err)
			}
			decisions[i] = d
		})
	}
	wg.Wait()
	applied, replayed := 0, 0
	for _, d := range decisions[:copies] {
		switch {
		case d == nil:
		case d.Verdict == protocol.VerdictApplied:
			applied++
		case d.Code == string(protocol.CodeReplayed):
			replayed++
		}
	}
	if applied != 1 || replayed != copies-1 {
		t.Errorf("%d copies: %d applied, %d replayed; want 1 and %d", copies, applied, replayed, copies-1)
	}
	for i, d := range decisions[copies:] {
		if d == nil || d.Verdict != protocol.VerdictApplied {
			t.Errorf("distinct assertion %d: %+v", i+1, d)
		}
	}
	if c := counts(t, n.store); c.Seen != distinct || c.Pairs != swarmPairs || c.Installs != distinct {
		t.Errorf("store %+v", c)
	}
	if got := len(fx.sink.all()); got != distinct {
		t.Errorf("%d receipts, want %d", got, distinct)
	}
}

func TestNewChecksConfig(t *testing.T) {
	t.Parallel()
	fx := newFixture(t)
	st := must(store.Open(filepath.Join(fx.dir, storeFile), store.Options{}))
	defer st.Close()
	good := isp.Config{
		Name: ispName, Region: ispRegion, Identity: fx.ours, Key: fx.ispKey,
		Registrars: []*sign.PublicKey{fx.registrar.Public()}, Logs: []note.Verifier{fx.logVerifier},
		Policy: must(policy.New(fx.policy)), Store: st,
		Backend: must(dryrun.New(filepath.Join(fx.dir, stateFile))), Receipts: fx.sink,
	}
	for name, edit := range map[string]func(*isp.Config){
		"no identity":   func(c *isp.Config) { c.Identity = nil },
		"no key":        func(c *isp.Config) { c.Key = nil },
		"no registrar":  func(c *isp.Config) { c.Registrars = nil },
		"no log":        func(c *isp.Config) { c.Logs = nil },
		"two logs":      func(c *isp.Config) { c.Logs = []note.Verifier{fx.logVerifier, fx.logVerifier} },
		"no sink":       func(c *isp.Config) { c.Receipts = nil },
		"bad name":      func(c *isp.Config) { c.Name = "ISP A" },
		"negative skew": func(c *isp.Config) { c.ClockSkew = -time.Second },
	} {
		c := good
		edit(&c)
		if _, err := isp.New(t.Context(), c); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	if _, err := isp.New(t.Context(), good); err != nil {
		t.Errorf("good config: %v", err)
	}
}
