package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/enforce"
	"github.com/docket-project/docket/protocol"
)

// Seen reports whether the assertion id was recorded with MarkSeen and not
// yet pruned.
func (t *Tx) Seen(id protocol.ID) bool {
	return t.bucket(bucketSeen).Get([]byte(id)) != nil
}

// MarkSeen records an accepted assertion id until until (its not_after
// plus the clock skew), after which Prune forgets it.
func (t *Tx) MarkSeen(id protocol.ID, until time.Time) error {
	if err := t.bucket(bucketSeen).Put([]byte(id), timeKey(until)); err != nil {
		return writeErr("record seen assertion", err)
	}
	return nil
}

func rejectionKey(id protocol.ID, code string) []byte { return []byte(string(id) + "/" + code) }

// RejectionReceipted reports whether a rejection receipt with code was
// issued for the assertion id and not yet pruned.
func (t *Tx) RejectionReceipted(id protocol.ID, code string) bool {
	return t.bucket(bucketRejections).Get(rejectionKey(id, code)) != nil
}

// MarkRejectionReceipted records that a rejection receipt with code was
// issued for the assertion id, until until.
func (t *Tx) MarkRejectionReceipted(id protocol.ID, code string, until time.Time) error {
	if err := t.bucket(bucketRejections).Put(rejectionKey(id, code), timeKey(until)); err != nil {
		return writeErr("record rejection", err)
	}
	return nil
}

// Credential returns the envelope of a verified credential, or nil if the
// store has none with that id.
func (t *Tx) Credential(id protocol.ID) []byte {
	return t.get(bucketCredentials, []byte(id))
}

// PutCredential keeps the envelope of a credential that verified, under
// its id.
func (t *Tx) PutCredential(id protocol.ID, envelope []byte) error {
	if err := t.bucket(bucketCredentials).Put([]byte(id), envelope); err != nil {
		return writeErr("store credential", err)
	}
	return nil
}

// Revocation returns the verified revocation envelope of a credential, or
// nil if it is not revoked.
func (t *Tx) Revocation(credential protocol.ID) []byte {
	return t.get(bucketRevoked, []byte(credential))
}

// PutRevocation records a verified revocation of credential. Revocations
// are permanent: Prune never removes them.
func (t *Tx) PutRevocation(credential protocol.ID, envelope []byte) error {
	if err := t.bucket(bucketRevoked).Put([]byte(credential), envelope); err != nil {
		return writeErr("store revocation", err)
	}
	return nil
}

// pairKeySize is the size of an encoded pair key: both addresses in their
// 16-byte form.
const pairKeySize = 32

// encodeKey encodes a pair key. Valid keys hold no IPv4-mapped address,
// so the 16-byte form of an IPv4 address decodes back to IPv4.
func encodeKey(k enforce.Key) []byte {
	l, r := k.Local.As16(), k.Remote.As16()
	return append(l[:], r[:]...)
}

func decodeKey(b []byte) enforce.Key {
	return enforce.Key{
		Local:  netip.AddrFrom16([16]byte(b[:16])).Unmap(),
		Remote: netip.AddrFrom16([16]byte(b[16:32])).Unmap(),
	}
}

// Pair returns the stored expiry of a pair.
func (t *Tx) Pair(k enforce.Key) (time.Time, bool) {
	v := t.bucket(bucketPairs).Get(encodeKey(k))
	if v == nil {
		return time.Time{}, false
	}
	return parseTime(v), true
}

// PairCount returns the number of pairs of the desired state, expired
// ones not yet pruned included.
func (t *Tx) PairCount() int { return int(t.bucket(bucketPairs).Sequence()) }

// Pairs returns the desired state, expired pairs not yet pruned included,
// sorted by local then remote address.
func (t *Tx) Pairs() []enforce.Pair {
	b := t.bucket(bucketPairs)
	out := make([]enforce.Pair, 0, b.Sequence())
	_ = b.ForEach(func(k, v []byte) error {
		out = append(out, enforce.Pair{Key: decodeKey(k), Expires: parseTime(v)})
		return nil
	})
	enforce.SortPairs(out)
	return out
}

// AddPairs merges pairs into the desired state: a pair already there keeps
// the later of its two expiries. It adds nothing if a pair is invalid.
func (t *Tx) AddPairs(pairs []enforce.Pair) error {
	for _, p := range pairs {
		if err := p.Validate(); err != nil {
			return fmt.Errorf("failed to add pairs: %w", err)
		}
	}
	for _, p := range pairs {
		if old, ok := t.Pair(p.Key); ok && !p.Expires.After(old) {
			continue
		}
		if err := t.setPair(p); err != nil {
			return err
		}
	}
	return nil
}

// SetPair sets a pair's expiry to exactly p.Expires, earlier or later than
// the stored one, adding the pair if it is missing.
func (t *Tx) SetPair(p enforce.Pair) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("failed to set pair: %w", err)
	}
	return t.setPair(p)
}

func (t *Tx) setPair(p enforce.Pair) error {
	pairs, index := t.bucket(bucketPairs), t.bucket(bucketPairExpiry)
	k := encodeKey(p.Key)
	old := pairs.Get(k)
	if old != nil {
		if err := index.Delete(append(append([]byte{}, old...), k...)); err != nil {
			return writeErr("set pair", err)
		}
	}
	exp := timeKey(p.Expires)
	if err := pairs.Put(k, exp); err != nil {
		return writeErr("set pair", err)
	}
	if err := index.Put(append(exp, k...), nil); err != nil {
		return writeErr("set pair", err)
	}
	if old == nil {
		if err := pairs.SetSequence(pairs.Sequence() + 1); err != nil {
			return writeErr("set pair", err)
		}
	}
	return nil
}

// RemovePairs removes pairs from the desired state; a missing pair is not
// an error.
func (t *Tx) RemovePairs(keys []enforce.Key) error {
	pairs, index := t.bucket(bucketPairs), t.bucket(bucketPairExpiry)
	for _, key := range keys {
		k := encodeKey(key)
		old := pairs.Get(k)
		if old == nil {
			continue
		}
		if err := index.Delete(append(append([]byte{}, old...), k...)); err != nil {
			return writeErr("remove pair", err)
		}
		if err := pairs.Delete(k); err != nil {
			return writeErr("remove pair", err)
		}
		if err := pairs.SetSequence(pairs.Sequence() - 1); err != nil {
			return writeErr("remove pair", err)
		}
	}
	return nil
}

// NextPairExpiry returns the earliest expiry of the desired state.
func (t *Tx) NextPairExpiry() (time.Time, bool) {
	k, _ := t.bucket(bucketPairExpiry).Cursor().First()
	if k == nil {
		return time.Time{}, false
	}
	return parseTime(k[:8]), true
}

// ExpirePairs removes the pairs that expire at or before now and returns
// them, sorted. It reads only the expired part of the state.
func (t *Tx) ExpirePairs(now time.Time) ([]enforce.Pair, error) {
	var gone []enforce.Pair
	c := t.bucket(bucketPairExpiry).Cursor()
	for k, _ := c.First(); k != nil && !parseTime(k[:8]).After(now); k, _ = c.Next() {
		gone = append(gone, enforce.Pair{Key: decodeKey(k[8:]), Expires: parseTime(k[:8])})
	}
	keys := make([]enforce.Key, len(gone))
	for i, p := range gone {
		keys[i] = p.Key
	}
	if err := t.RemovePairs(keys); err != nil {
		return nil, err
	}
	enforce.SortPairs(gone)
	return gone, nil
}

// Enforcement is what one accepted assertion enforces. The store keeps it
// until its pairs expire, so that a revocation of any credential of its
// chain can end it.
type Enforcement struct {
	// Assertion is the assertion's id.
	Assertion protocol.ID `json:"-"`
	// Claimant is the assertion's claimant.
	Claimant sign.KeyID `json:"claimant"`
	// Chain are the ids of the credentials of its chain, registrar's grant
	// first.
	Chain []protocol.ID `json:"chain"`
	// Expires is when its pairs expire.
	Expires time.Time `json:"expires"`
	// Pairs are the pairs it installed.
	Pairs []enforce.Key `json:"-"`
}

// PutEnforcement records what an accepted assertion enforces, indexed
// under each credential of its chain.
func (t *Tx) PutEnforcement(e *Enforcement) error {
	meta, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("failed to encode enforcement: %w", err)
	}
	keys := make([]byte, 0, len(e.Pairs)*pairKeySize)
	for _, k := range e.Pairs {
		keys = append(keys, encodeKey(k)...)
	}
	id := []byte(e.Assertion)
	if err := t.bucket(bucketEnforcements).Put(id, meta); err != nil {
		return writeErr("store enforcement", err)
	}
	if err := t.bucket(bucketEnforcementPairs).Put(id, keys); err != nil {
		return writeErr("store enforcement", err)
	}
	for _, c := range e.Chain {
		if err := t.bucket(bucketByCredential).Put(append([]byte(c), id...), nil); err != nil {
			return writeErr("store enforcement", err)
		}
	}
	return nil
}

// Enforcement returns what the assertion id enforces, or nil if the store
// holds nothing for it.
func (t *Tx) Enforcement(id protocol.ID) (*Enforcement, error) {
	meta := t.bucket(bucketEnforcements).Get([]byte(id))
	if meta == nil {
		return nil, nil
	}
	return t.decodeEnforcement([]byte(id), meta)
}

func (t *Tx) decodeEnforcement(id, meta []byte) (*Enforcement, error) {
	e := &Enforcement{Assertion: protocol.ID(id)}
	if err := json.Unmarshal(meta, e); err != nil {
		return nil, fmt.Errorf("failed to decode enforcement %s: %w", id, err)
	}
	keys := t.bucket(bucketEnforcementPairs).Get(id)
	if len(keys)%pairKeySize != 0 {
		return nil, fmt.Errorf("failed to decode enforcement %s: %d bytes of pair keys", id, len(keys))
	}
	e.Pairs = make([]enforce.Key, 0, len(keys)/pairKeySize)
	for i := 0; i < len(keys); i += pairKeySize {
		e.Pairs = append(e.Pairs, decodeKey(keys[i:i+pairKeySize]))
	}
	return e, nil
}

// DeleteEnforcement forgets what the assertion id enforces. It does not
// touch the desired state's pairs.
func (t *Tx) DeleteEnforcement(id protocol.ID) error {
	e, err := t.Enforcement(id)
	if err != nil || e == nil {
		return err
	}
	for _, c := range e.Chain {
		if err := t.bucket(bucketByCredential).Delete(append([]byte(c), id...)); err != nil {
			return writeErr("delete enforcement", err)
		}
	}
	if err := t.bucket(bucketEnforcements).Delete([]byte(id)); err != nil {
		return writeErr("delete enforcement", err)
	}
	if err := t.bucket(bucketEnforcementPairs).Delete([]byte(id)); err != nil {
		return writeErr("delete enforcement", err)
	}
	return nil
}

// EnforcementsUnder returns the ids of the assertions with a stored
// Enforcement whose chain holds the credential, in id order.
func (t *Tx) EnforcementsUnder(credential protocol.ID) []protocol.ID {
	var out []protocol.ID
	prefix := []byte(credential)
	c := t.bucket(bucketByCredential).Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		out = append(out, protocol.ID(k[len(prefix):]))
	}
	return out
}

// ForEachEnforcement calls fn for every stored Enforcement, in assertion
// id order, and stops at fn's first error. fn must not change the store.
func (t *Tx) ForEachEnforcement(fn func(*Enforcement) error) error {
	return t.bucket(bucketEnforcements).ForEach(func(id, meta []byte) error {
		e, err := t.decodeEnforcement(id, meta)
		if err != nil {
			return err
		}
		return fn(e)
	})
}

// Install is one install of pairs on a claimant's assertion, as
// policy.ClaimantWindow counts them.
type Install struct {
	Claimant sign.KeyID
	Pairs    int
	At       time.Time
}

// RecordInstall adds an install to the claimant history.
func (t *Tx) RecordInstall(in Install) error {
	b := t.bucket(bucketInstalls)
	seq, err := b.NextSequence()
	if err != nil {
		return writeErr("record install", err)
	}
	k := binary.BigEndian.AppendUint64(timeKey(in.At), seq)
	v := binary.BigEndian.AppendUint64(nil, uint64(in.Pairs))
	if err := b.Put(k, append(v, in.Claimant...)); err != nil {
		return writeErr("record install", err)
	}
	return nil
}

// Installs returns the installs recorded strictly after since, in time
// order.
func (t *Tx) Installs(since time.Time) []Install {
	var out []Install
	c := t.bucket(bucketInstalls).Cursor()
	for k, v := c.Seek(timeKey(since)); k != nil; k, v = c.Next() {
		at := parseTime(k[:8])
		if !at.After(since) {
			continue
		}
		out = append(out, Install{Claimant: sign.KeyID(v[8:]), Pairs: int(binary.BigEndian.Uint64(v[:8])), At: at})
	}
	return out
}

// Checkpoint returns the latest checkpoint kept for the log with this
// origin (a signed note), or nil.
func (t *Tx) Checkpoint(origin string) []byte {
	return t.get(bucketCheckpoints, []byte(origin))
}

// PutCheckpoint keeps a log's checkpoint, replacing the one kept before.
// The caller decides which checkpoint is the latest.
func (t *Tx) PutCheckpoint(origin string, note []byte) error {
	if err := t.bucket(bucketCheckpoints).Put([]byte(origin), note); err != nil {
		return writeErr("store checkpoint", err)
	}
	return nil
}

// PendingReceipt is a signed receipt waiting in the outbox.
type PendingReceipt struct {
	// Seq orders the outbox; DeleteReceipt takes it.
	Seq uint64
	// Assertion is the id of the assertion the receipt is about.
	Assertion protocol.ID
	// Envelope is the signed receipt.
	Envelope []byte
}

// QueueReceipt puts a signed receipt in the outbox and returns its
// sequence number.
func (t *Tx) QueueReceipt(assertion protocol.ID, envelope []byte) (uint64, error) {
	b := t.bucket(bucketReceipts)
	seq, err := b.NextSequence()
	if err != nil {
		return 0, writeErr("queue receipt", err)
	}
	if err := b.Put(binary.BigEndian.AppendUint64(nil, seq), append([]byte(assertion), envelope...)); err != nil {
		return 0, writeErr("queue receipt", err)
	}
	return seq, nil
}

// PendingReceipts returns the outbox in the order receipts were queued.
func (t *Tx) PendingReceipts() []PendingReceipt {
	var out []PendingReceipt
	_ = t.bucket(bucketReceipts).ForEach(func(k, v []byte) error {
		n := min(len(v), 64) // an id is 64 hex digits
		out = append(out, PendingReceipt{
			Seq:       binary.BigEndian.Uint64(k),
			Assertion: protocol.ID(v[:n]),
			Envelope:  append([]byte{}, v[n:]...),
		})
		return nil
	})
	return out
}

// DeleteReceipt removes a receipt from the outbox once it is handed on.
func (t *Tx) DeleteReceipt(seq uint64) error {
	if err := t.bucket(bucketReceipts).Delete(binary.BigEndian.AppendUint64(nil, seq)); err != nil {
		return writeErr("delete receipt", err)
	}
	return nil
}

// Pruned counts what Prune removed.
type Pruned struct {
	// Seen is the number of seen assertion ids forgotten.
	Seen int
	// Rejections is the number of rejection records forgotten.
	Rejections int
	// Pairs is the number of expired pairs removed from the desired state.
	Pairs int
	// Enforcements is the number of Enforcements whose pairs all expired.
	Enforcements int
	// Installs is the number of installs dropped from the claimant
	// history.
	Installs int
}

// Prune removes what no longer matters at now: seen ids and rejection
// records past their expiry, expired pairs, the Enforcements of assertions
// whose pairs expired, and the installs at or before installsUntil (now
// minus the claimant window). Revocations, credentials, checkpoints and
// the outbox are kept.
func (t *Tx) Prune(now, installsUntil time.Time) (Pruned, error) {
	var p Pruned
	var err error
	if p.Seen, err = t.pruneExpired(bucketSeen, now); err != nil {
		return p, writeErr("prune seen ids", err)
	}
	if p.Rejections, err = t.pruneExpired(bucketRejections, now); err != nil {
		return p, writeErr("prune rejections", err)
	}
	gone, err := t.ExpirePairs(now)
	if err != nil {
		return p, err
	}
	p.Pairs = len(gone)
	var dead []protocol.ID
	err = t.bucket(bucketEnforcements).ForEach(func(id, meta []byte) error {
		var e Enforcement
		if err := json.Unmarshal(meta, &e); err != nil {
			return fmt.Errorf("failed to decode enforcement %s: %w", id, err)
		}
		if !e.Expires.After(now) {
			dead = append(dead, protocol.ID(id))
		}
		return nil
	})
	if err != nil {
		return p, err
	}
	for _, id := range dead {
		if err := t.DeleteEnforcement(id); err != nil {
			return p, err
		}
	}
	p.Enforcements = len(dead)
	b := t.bucket(bucketInstalls)
	var old [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil && !parseTime(k[:8]).After(installsUntil); k, _ = c.Next() {
		old = append(old, append([]byte{}, k...))
	}
	for _, k := range old {
		if err := b.Delete(k); err != nil {
			return p, writeErr("prune installs", err)
		}
	}
	p.Installs = len(old)
	return p, nil
}

// Counts is the number of entries of each kind, for status pages and
// metrics.
type Counts struct {
	Seen, Rejections, Credentials, Revocations int
	Pairs, Enforcements, Installs, Checkpoints int
	PendingReceipts                            int
}

// Counts returns the number of entries of each kind.
func (t *Tx) Counts() Counts {
	n := func(name []byte) int { return t.bucket(name).Stats().KeyN }
	return Counts{
		Seen: n(bucketSeen), Rejections: n(bucketRejections),
		Credentials: n(bucketCredentials), Revocations: n(bucketRevoked),
		Pairs: t.PairCount(), Enforcements: n(bucketEnforcements),
		Installs: n(bucketInstalls), Checkpoints: n(bucketCheckpoints),
		PendingReceipts: n(bucketReceipts),
	}
}
