// Package isp is the ISP node's decision pipeline: it takes an assertion
// as bytes (a Submission: the bundle, its credential chain and a log
// inclusion proof), decides whether to enforce it, enforces it, and signs
// a receipt. It does no networking; the daemon hands it what gossip and
// the log deliver, and hands its receipts to the log through a
// ReceiptSink.
//
// # Order
//
// The steps run in the order of DESIGN.md §4 and spec/SPEC.md §6.4,
// cheap and certain first, and the first failure decides:
//
//  1. decode the bundle (size, strict JSON);
//  2. verify the credential chain to a trusted registrar (§6.2), not
//     revoked according to the store; a chain that verified is cached and
//     only re-checked for revocation and time;
//  3. the assertion's signature by the chain's subject, the chain check,
//     work and scope (§6.4 steps 2–3);
//  4. time and replay (step 4; seen ids come from the store);
//  5. log inclusion (step 5, specified in §13.3): the proof's checkpoint
//     is signed by a trusted log, and its inclusion proofs show the
//     assertion's object in the checkpoint's tree;
//  6. unseal the ISP's section, then 7. peers, commitment and evidence
//     (steps 6–7);
//  8. the hard rules, rules and caps of node/policy (§11), which compiles
//     the pairs (enforce.Compile);
//  9. enforce the pairs through the enforce.Backend;
//  10. commit the decision to the store and sign a receipt.
//
// The chain comes before the assertion's signature because the signature
// is checked with the key the chain vouches for, as the runner of the
// spec's vectors does (§9).
//
// An assertion this node already applied is answered with REPLAYED before
// anything else is checked, and without a receipt: nobody can make the
// node receipt a rejection of an assertion it enforces by resubmitting it
// with a broken signature or a wrong chain.
//
// # What the log holds
//
// A log holds an assertion as its object, the bundle of its envelope with
// no section, and beside it the sealed sections of the bundle it was
// given, in part entries (node/tlog.Entries). The object is computed from
// the envelope's bytes, which every bundle of the assertion carries
// unchanged, so the pipeline checks the inclusion of the object's entries
// whatever bundle it received: usually the claimant's bundle for this ISP,
// with its own section only. The object's signed payload gives each
// section's size and digest, so its inclusion commits the log to the very
// section the ISP opens.
//
// # Effects
//
// A rejection changes no enforcement: nothing is installed, the seen ids,
// the desired state and the claimant history stay as they were. It is
// counted, logged, and receipted (verdict rejected, with its code) if the
// assertion's id is known, once per assertion and code; the store then
// records the receipt and that it was issued, and nothing else but a log
// checkpoint newer than the one kept. An acceptance
// installs the pairs through the backend first and then commits, in one
// store transaction, the seen id, the pairs merged into the desired state
// (a refreshed assertion with the same pairs extends their expiry), the
// assertion's Enforcement, the claimant's install and the receipt. If the
// backend or the commit fails, the backend is reconciled to the stored
// desired state and Submit returns an error: nothing was decided, and the
// same submission may be retried. Receipts wait in the store's outbox
// until the ReceiptSink takes them, so a receipt survives a crash.
//
// Pairs lapse at their expiry: backends expire them themselves, and the
// pipeline prunes them from the desired state before each decision and in
// Expire. New reconciles the backend to the stored desired state, so a
// restarted node enforces exactly what it decided before.
//
// A verified revocation (Revoke) is recorded in the store, so that every
// later assertion under the credential fails with CREDENTIAL_REVOKED, and
// ends the enforcement of the assertions made under it: their pairs are
// withdrawn, unless another assertion still enforces a pair, which then
// keeps that assertion's expiry.
package isp

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"filippo.io/age"
	"golang.org/x/mod/sumdb/note"

	"github.com/docket-project/docket/crypto/seal"
	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/enforce"
	"github.com/docket-project/docket/node/policy"
	"github.com/docket-project/docket/node/store"
	"github.com/docket-project/docket/protocol"
)

// RejectionMemory is how long past an assertion's validity (its not_after
// plus the clock skew) the pipeline remembers that it receipted a
// rejection of it, so that a repeated submission with the same fault is
// not receipted again.
const RejectionMemory = time.Hour

// chainCacheSize bounds the cache of verified chains; when it is full it
// starts over.
const chainCacheSize = 4096

// Config is what a Pipeline needs. Every field is required unless its
// comment gives a default.
type Config struct {
	// Name and Region are the ISP's name and region as credential scopes
	// name them (spec/SPEC.md §4.4).
	Name   string
	Region string
	// Identity is the ISP's age identity: its sections are sealed to its
	// recipient.
	Identity *age.X25519Identity
	// Key is the ISP's signing key; it signs receipts.
	Key *sign.PrivateKey
	// Registrars are the trusted registrars' keys.
	Registrars []*sign.PublicKey
	// Logs are the trusted logs' note verifiers; each verifier's name is
	// its log's origin. An assertion is enforced only with a proof from
	// one of them.
	Logs []note.Verifier
	// Policy decides which pairs to block.
	Policy *policy.Policy
	// Store keeps seen ids, the desired state, history and receipts.
	Store *store.Store
	// Backend enforces the pairs.
	Backend enforce.Backend
	// Receipts takes the signed receipts.
	Receipts ReceiptSink
	// MaxLife is the longest assertion life accepted. Default
	// protocol.DefaultMaxAssertionLife.
	MaxLife time.Duration
	// ClockSkew is the tolerance on validity bounds. Default
	// protocol.DefaultClockSkew.
	ClockSkew time.Duration
	// PermittedPrefixes are non-global prefixes accepted as peer
	// addresses: for laboratory networks and tests only (§6.6). Default
	// none.
	PermittedPrefixes []netip.Prefix
	// Now returns the current time. Default time.Now.
	Now func() time.Time
	// Logger receives the pipeline's events. Default: discard them.
	Logger *slog.Logger
}

// Submission is one assertion as the node receives it.
type Submission struct {
	// Bundle is the assertion bundle (spec/SPEC.md §5.7); it must carry
	// this ISP's sealed section.
	Bundle []byte
	// Chain are the credential envelopes of the assertion's chain,
	// registrar's grant first.
	Chain [][]byte
	// Proof is a trusted log's answer to the submission of the assertion,
	// a node/tlog.Proof in JSON. Its entries beyond the assertion's object
	// (the other sections' parts) are not read and may be left out.
	Proof []byte
}

// Decision is the pipeline's answer to a Submission.
type Decision struct {
	// Assertion is the assertion's id; empty if the bundle did not decode.
	Assertion protocol.ID
	// Verdict is applied or rejected.
	Verdict protocol.Verdict
	// Code is the rejection's code: from spec/SPEC.md §8 (protocol), §11.5
	// (policy) or §13.3 (pipeline). Empty when applied.
	Code string
	// Err is the rejection: a *protocol.Error, *policy.Rejection or
	// *Error. Nil when applied.
	Err error
	// Pairs is the number of pairs enforced (applied only).
	Pairs int
	// Until is when enforcement ends (applied only).
	Until time.Time
	// Receipt is the signed receipt, or nil if none was issued: for
	// REPLAYED, for a bundle that did not decode, and for a rejection
	// already receipted with the same code.
	Receipt []byte
}

// Pipeline decides on assertions for one ISP. Its methods are safe for
// concurrent use: verification runs in parallel, decisions that change
// enforcement are made one at a time.
type Pipeline struct {
	name     string
	key      *sign.PrivateKey
	isp      *protocol.ISP
	probe    *protocol.ISP
	verifier *protocol.Verifier
	logs     note.Verifiers
	policy   *policy.Policy
	store    *store.Store
	backend  enforce.Backend
	sink     ReceiptSink
	skew     time.Duration
	now      func() time.Time
	log      *slog.Logger

	chainsMu sync.Mutex
	// chains holds verified chains by the digest of their envelopes.
	// Guarded by chainsMu.
	chains map[[32]byte]*protocol.Chain

	// mu serialises the decisions that change enforcement: acceptances,
	// revocations and expiry.
	mu sync.Mutex
	// window counts each claimant's installs of the last hour. Written
	// under mu.
	window *policy.ClaimantWindow

	flushMu sync.Mutex // one FlushReceipts at a time

	statsMu sync.Mutex
	// stats are the counters Stats returns. Guarded by statsMu.
	stats Stats
}

// New checks cfg, loads the claimant history, prunes what expired and
// reconciles the backend to the stored desired state. The daemon then
// calls FlushReceipts to hand on receipts left from before a restart, and
// Expire from time to time.
func New(ctx context.Context, cfg Config) (*Pipeline, error) {
	switch {
	case cfg.Identity == nil:
		return nil, errors.New("failed to start ISP pipeline: Identity is nil")
	case cfg.Key == nil:
		return nil, errors.New("failed to start ISP pipeline: Key is nil")
	case len(cfg.Registrars) == 0:
		return nil, errors.New("failed to start ISP pipeline: no trusted registrar")
	case len(cfg.Logs) == 0:
		return nil, errors.New("failed to start ISP pipeline: no trusted log")
	case cfg.Policy == nil || cfg.Store == nil || cfg.Backend == nil || cfg.Receipts == nil:
		return nil, errors.New("failed to start ISP pipeline: Policy, Store, Backend and Receipts are required")
	case cfg.MaxLife < 0 || cfg.ClockSkew < 0:
		return nil, errors.New("failed to start ISP pipeline: MaxLife and ClockSkew must not be negative")
	}
	// A receipt names the ISP: check the name as receipts will.
	sample := protocol.Receipt{ISP: cfg.Name, Issuer: cfg.Key.Public().ID(), Assertion: protocol.IDOf(nil),
		Verdict: protocol.VerdictRejected, Code: "SAMPLE", IssuedAt: time.Unix(0, 0).UTC()}
	if err := sample.Validate(); err != nil {
		return nil, fmt.Errorf("failed to start ISP pipeline: Name: %w", err)
	}
	origins := map[string]bool{}
	for _, l := range cfg.Logs {
		if origins[l.Name()] {
			return nil, fmt.Errorf("failed to start ISP pipeline: two trusted logs named %q", l.Name())
		}
		origins[l.Name()] = true
	}
	probe, err := seal.GenerateIdentity()
	if err != nil {
		return nil, fmt.Errorf("failed to start ISP pipeline: %w", err)
	}
	p := &Pipeline{
		name:    cfg.Name,
		key:     cfg.Key,
		isp:     &protocol.ISP{Name: cfg.Name, Region: cfg.Region, Identity: cfg.Identity},
		probe:   &protocol.ISP{Name: cfg.Name, Region: cfg.Region, Identity: probe},
		logs:    note.VerifierList(cfg.Logs...),
		policy:  cfg.Policy,
		store:   cfg.Store,
		backend: cfg.Backend,
		sink:    cfg.Receipts,
		skew:    cfg.ClockSkew,
		now:     cfg.Now,
		log:     cfg.Logger,
		chains:  map[[32]byte]*protocol.Chain{},
		window:  &policy.ClaimantWindow{},
		stats:   Stats{Rejected: map[string]uint64{}},
	}
	if p.skew == 0 {
		p.skew = protocol.DefaultClockSkew
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	opts := []protocol.Option{
		protocol.WithClockSkew(p.skew),
		protocol.WithSeen(p.seen),
		protocol.WithRevoked(p.revoked),
		protocol.WithPermittedPrefixes(cfg.PermittedPrefixes...),
	}
	if cfg.MaxLife > 0 {
		opts = append(opts, protocol.WithMaxLife(cfg.MaxLife))
	}
	p.verifier = protocol.NewVerifier(cfg.Registrars, opts...)

	now := p.now()
	if _, err := p.Expire(ctx); err != nil {
		return nil, fmt.Errorf("failed to start ISP pipeline: %w", err)
	}
	var desired []enforce.Pair
	err = p.store.View(func(tx *store.Tx) error {
		for _, in := range tx.Installs(now.Add(-policy.ClaimantWindowLength)) {
			p.window.Record(in.Claimant, in.Pairs, in.At)
		}
		desired = tx.Pairs()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("failed to start ISP pipeline: %w", err)
	}
	if err := p.backend.Reconcile(ctx, desired); err != nil {
		return nil, fmt.Errorf("failed to start ISP pipeline: failed to reconcile the backend: %w", err)
	}
	p.log.Info("ISP pipeline started", "isp", p.name, "pairs", len(desired))
	return p, nil
}

// seen reports whether the store holds the assertion id as accepted.
func (p *Pipeline) seen(id protocol.ID) bool {
	seen := false
	if err := p.store.View(func(tx *store.Tx) error { seen = tx.Seen(id); return nil }); err != nil {
		p.log.Error("failed to read seen ids", "err", err)
	}
	return seen
}

// revoked reports whether the store holds a revocation of the credential.
func (p *Pipeline) revoked(id protocol.ID) bool {
	revoked := false
	if err := p.store.View(func(tx *store.Tx) error { revoked = tx.Revocation(id) != nil; return nil }); err != nil {
		p.log.Error("failed to read revocations", "err", err)
	}
	return revoked
}

// attempt is one Submit in progress.
type attempt struct {
	sub   Submission
	now   time.Time
	sa    *protocol.SignedAssertion
	chain *protocol.Chain
	// cp is the proof's checkpoint, once verified.
	cp *checkpoint
}

// Submit decides on one assertion. A rejection is a Decision whose Err
// and Code say why; the error is non-nil only when the node failed (the
// store, the backend, signing), in which case nothing was decided and the
// submission may be retried.
func (p *Pipeline) Submit(ctx context.Context, s Submission) (*Decision, error) {
	at := &attempt{sub: s, now: p.now()}
	var err error
	// 1. Decode.
	if at.sa, err = protocol.DecodeAssertion(s.Bundle); err != nil {
		return p.reject(ctx, at, err)
	}
	if p.seen(at.sa.ID) {
		return p.reject(ctx, at, &protocol.Error{Code: protocol.CodeReplayed,
			Msg: fmt.Sprintf("assertion %s was already applied", at.sa.ID)})
	}
	// 2. The credential chain.
	if at.chain, err = p.verifyChain(s.Chain, at.now); err != nil {
		return p.reject(ctx, at, err)
	}
	// 3–4. Signature, chain check, work, scope, time, replay. Verifying as
	// this ISP with a stand-in identity that opens nothing runs these steps
	// in the order of §6.4 and stops at step 6, before any decryption (the
	// section's recipient is compared first): NO_SECTION and
	// SECTION_UNREADABLE, which only step 6 reports, mean steps 1–4 passed.
	if _, err := p.verifier.Verify(s.Bundle, at.chain, p.probe, at.now); !stoppedAtUnseal(err) {
		return p.reject(ctx, at, err)
	}
	// 5. Log inclusion.
	if at.cp, err = p.checkInclusion(at.sa, s); err != nil {
		return p.reject(ctx, at, err)
	}
	// 6–7. Unseal, peers, commitment, evidence.
	va, err := p.verifier.Verify(s.Bundle, at.chain, p.isp, at.now)
	if err != nil {
		return p.reject(ctx, at, err)
	}
	// 8–10. Policy, pairs, enforcement, commit.
	return p.apply(ctx, at, va)
}

// stoppedAtUnseal reports whether a verification with the stand-in
// identity passed steps 1–4: it failed only at step 6, or not at all.
func stoppedAtUnseal(err error) bool {
	switch protocol.CodeOf(err) {
	case protocol.CodeNoSection, protocol.CodeSectionUnreadable:
		return true
	}
	return err == nil
}

// verifyChain verifies a chain, or re-checks a cached one for revocation
// and time.
func (p *Pipeline) verifyChain(envelopes [][]byte, now time.Time) (*protocol.Chain, error) {
	if len(envelopes) == 0 || len(envelopes) > protocol.MaxChainLength {
		return p.verifier.VerifyChain(envelopes, now) // refused before any decoding
	}
	h := sha256.New()
	for _, e := range envelopes {
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(e))))
		h.Write(e)
	}
	key := [32]byte(h.Sum(nil))
	p.chainsMu.Lock()
	c := p.chains[key]
	p.chainsMu.Unlock()
	if c != nil {
		if err := p.verifier.CheckChain(c, now); err != nil {
			return nil, err
		}
		return c, nil
	}
	c, err := p.verifier.VerifyChain(envelopes, now)
	if err != nil {
		return nil, err
	}
	p.chainsMu.Lock()
	if len(p.chains) >= chainCacheSize {
		clear(p.chains)
	}
	p.chains[key] = c
	p.chainsMu.Unlock()
	return c, nil
}

// apply runs the policy and, if it accepts, enforces and commits.
func (p *Pipeline) apply(ctx context.Context, at *attempt, va *protocol.VerifiedAssertion) (*Decision, error) {
	done, err := p.enforce(ctx, at, va)
	if err != nil {
		return p.reject(ctx, at, err) // a failure if it carries no code
	}
	v := done.verdict
	p.count(func(s *Stats) { s.Accepted++ })
	p.log.Info("assertion applied", "assertion", va.ID, "claimant", v.Claimant,
		"pairs", len(v.Pairs), "until", v.Expires, "local_ends", v.LocalEnds)
	p.deliver(ctx, done.receipt) // on failure it stays queued for FlushReceipts
	return &Decision{Assertion: va.ID, Verdict: protocol.VerdictApplied, Pairs: len(v.Pairs),
		Until: v.Expires.UTC(), Receipt: done.receipt.Envelope}, nil
}

// applied is an acceptance enforce committed.
type applied struct {
	verdict *policy.Verdict
	receipt store.PendingReceipt
}

// enforce makes the decision on a verified assertion, holding p.mu: the
// policy's verdict, then the backend, then the store. It returns the
// acceptance, or an error: a rejection (CodeOf gives its code) or the
// node's failure, after which the backend is reconciled to the stored
// state.
func (p *Pipeline) enforce(ctx context.Context, at *attempt, va *protocol.VerifiedAssertion) (*applied, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.expireLocked(at.now); err != nil {
		return nil, err
	}
	// What a decision or revocation made meanwhile may have changed.
	if p.seen(va.ID) {
		return nil, &protocol.Error{Code: protocol.CodeReplayed, Msg: fmt.Sprintf("assertion %s was already applied", va.ID)}
	}
	if err := p.verifier.CheckChain(va.Chain, at.now); err != nil {
		return nil, err
	}
	var v *policy.Verdict
	var rejection error
	err := p.store.View(func(tx *store.Tx) error {
		v, rejection = p.policy.Evaluate(va, at.now, policy.Counters{
			Installed:   tx.PairCount(),
			IsInstalled: func(k enforce.Key) bool { _, ok := tx.Pair(k); return ok },
			Claimants:   p.window,
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if rejection != nil {
		return nil, rejection
	}

	if err := p.backend.Add(ctx, v.Pairs); err != nil {
		return nil, p.recoverBackend(ctx, fmt.Errorf("failed to enforce %d pairs: %w", len(v.Pairs), err))
	}
	envelope, _, err := protocol.SignReceipt(p.key, protocol.Receipt{
		ISP: p.name, Assertion: va.ID, Verdict: protocol.VerdictApplied,
		Pairs: len(v.Pairs), Until: v.Expires.UTC(), IssuedAt: at.now.UTC(),
	})
	if err != nil {
		return nil, p.recoverBackend(ctx, fmt.Errorf("failed to sign receipt: %w", err))
	}
	e := &store.Enforcement{Assertion: va.ID, Claimant: v.Claimant, Expires: v.Expires}
	for _, pr := range v.Pairs {
		e.Pairs = append(e.Pairs, pr.Key)
	}
	for _, sc := range va.Chain.Links {
		e.Chain = append(e.Chain, sc.ID)
	}
	done := &applied{verdict: v, receipt: store.PendingReceipt{Assertion: va.ID, Envelope: envelope}}
	err = p.store.Update(func(tx *store.Tx) error {
		if err := tx.MarkSeen(va.ID, va.Assertion.NotAfter.Add(p.skew)); err != nil {
			return err
		}
		if err := tx.AddPairs(v.Pairs); err != nil {
			return err
		}
		if err := tx.PutEnforcement(e); err != nil {
			return err
		}
		for i, sc := range va.Chain.Links {
			if err := tx.PutCredential(sc.ID, at.sub.Chain[i]); err != nil {
				return err
			}
		}
		if err := tx.RecordInstall(store.Install{Claimant: v.Claimant, Pairs: len(v.Pairs), At: at.now}); err != nil {
			return err
		}
		if err := keepCheckpoint(tx, at.cp); err != nil {
			return err
		}
		done.receipt.Seq, err = tx.QueueReceipt(va.ID, envelope)
		return err
	})
	if err != nil {
		return nil, p.recoverBackend(ctx, fmt.Errorf("failed to commit decision: %w", err))
	}
	p.window.Record(v.Claimant, len(v.Pairs), at.now)
	return done, nil
}

// reject answers a rejection: it counts and logs it and, if the
// assertion's id is known, receipts it once per code. REPLAYED is never
// receipted.
func (p *Pipeline) reject(ctx context.Context, at *attempt, cause error) (*Decision, error) {
	code := CodeOf(cause)
	if code == "" {
		return nil, p.failed(at, cause)
	}
	d := &Decision{Verdict: protocol.VerdictRejected, Code: code, Err: cause}
	p.count(func(s *Stats) { s.Rejected[code]++ })
	if at.sa == nil {
		p.log.Info("submission rejected", "code", code, "reason", cause.Error())
		return d, nil
	}
	d.Assertion = at.sa.ID
	if code == string(protocol.CodeReplayed) {
		p.log.Debug("assertion replayed", "assertion", d.Assertion)
		return d, nil
	}
	p.log.Info("assertion rejected", "assertion", d.Assertion, "code", code, "reason", cause.Error())
	receipt, _, err := protocol.SignReceipt(p.key, protocol.Receipt{
		ISP: p.name, Assertion: d.Assertion, Verdict: protocol.VerdictRejected, Code: code, IssuedAt: at.now.UTC(),
	})
	if err != nil {
		return nil, p.failed(at, fmt.Errorf("failed to sign receipt: %w", err))
	}
	remember := at.sa.Assertion.NotAfter.Add(p.skew)
	if remember.Before(at.now) {
		remember = at.now
	}
	remember = remember.Add(RejectionMemory)
	// A repeated fault costs no write.
	repeated := false
	err = p.store.View(func(tx *store.Tx) error {
		repeated = (tx.Seen(d.Assertion) || tx.RejectionReceipted(d.Assertion, code)) && !newerCheckpoint(tx, at.cp)
		return nil
	})
	if err != nil {
		return nil, p.failed(at, fmt.Errorf("failed to read rejections: %w", err))
	}
	if repeated {
		return d, nil
	}
	var seq uint64
	queued := false
	err = p.store.Update(func(tx *store.Tx) error {
		if err := keepCheckpoint(tx, at.cp); err != nil {
			return err
		}
		if tx.Seen(d.Assertion) || tx.RejectionReceipted(d.Assertion, code) {
			return nil
		}
		if err := tx.MarkRejectionReceipted(d.Assertion, code, remember); err != nil {
			return err
		}
		queued = true
		seq, err = tx.QueueReceipt(d.Assertion, receipt)
		return err
	})
	if err != nil {
		return nil, p.failed(at, fmt.Errorf("failed to record rejection: %w", err))
	}
	if queued {
		d.Receipt = receipt
		p.deliver(ctx, store.PendingReceipt{Seq: seq, Assertion: d.Assertion, Envelope: receipt}) // on failure it stays queued
	}
	return d, nil
}

// failed counts and logs a failure of the node itself and returns err.
func (p *Pipeline) failed(at *attempt, err error) error {
	p.count(func(s *Stats) { s.Failures++ })
	var id protocol.ID
	if at.sa != nil {
		id = at.sa.ID
	}
	p.log.Error("failed to decide on assertion", "assertion", id, "err", err)
	return err
}

// recoverBackend reconciles the backend to the stored desired state after
// a failed change, and returns cause with the reconciliation's error, if
// any, joined.
func (p *Pipeline) recoverBackend(ctx context.Context, cause error) error {
	var desired []enforce.Pair
	err := p.store.View(func(tx *store.Tx) error { desired = tx.Pairs(); return nil })
	if err == nil {
		err = p.backend.Reconcile(ctx, desired)
	}
	if err != nil {
		return errors.Join(cause, fmt.Errorf("failed to reconcile the backend: %w", err))
	}
	return cause
}

// Expire prunes what expired at the pipeline's current time from the
// store: pairs (backends expire them themselves), seen ids, rejection
// records, the Enforcements of lapsed assertions and installs older than
// the claimant window.
func (p *Pipeline) Expire(ctx context.Context) (store.Pruned, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var pruned store.Pruned
	now := p.now()
	err := p.store.Update(func(tx *store.Tx) error {
		var err error
		pruned, err = tx.Prune(now, now.Add(-policy.ClaimantWindowLength))
		return err
	})
	if err != nil {
		return pruned, fmt.Errorf("failed to expire: %w", err)
	}
	if pruned != (store.Pruned{}) {
		p.log.Debug("expired", "pairs", pruned.Pairs, "seen", pruned.Seen, "assertions", pruned.Enforcements)
	}
	return pruned, nil
}

// expireLocked prunes the store if a pair has expired; p.mu is held.
func (p *Pipeline) expireLocked(now time.Time) (store.Pruned, error) {
	var next time.Time
	var any bool
	if err := p.store.View(func(tx *store.Tx) error { next, any = tx.NextPairExpiry(); return nil }); err != nil {
		return store.Pruned{}, err
	}
	if !any || next.After(now) {
		return store.Pruned{}, nil
	}
	var pruned store.Pruned
	err := p.store.Update(func(tx *store.Tx) error {
		var err error
		pruned, err = tx.Prune(now, now.Add(-policy.ClaimantWindowLength))
		return err
	})
	return pruned, err
}
