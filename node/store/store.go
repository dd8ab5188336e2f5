// Package store is the ISP node's embedded database: one bbolt file that
// keeps what a node must not forget across restarts.
//
//   - Seen assertion ids, each until the assertion's not_after plus the
//     clock skew, so that a replay is refused (spec/SPEC.md §6.5), and the
//     rejection receipts already issued, so that one assertion is not
//     receipted twice for the same reason.
//   - Verified credentials by id and the verified revocations, so that a
//     revocation can be checked against the chain it revokes and honoured
//     for every later assertion.
//   - The desired enforcement state: every pair with its expiry, the state
//     a backend is reconciled to at start (enforce.Backend.Reconcile), and
//     for each accepted assertion its claimant, its chain and its pairs
//     (an Enforcement), so that a revocation can end exactly what the
//     revoked credential's assertions enforce.
//   - Per-claimant install history, what policy.ClaimantWindow counts.
//   - The latest checkpoint seen from each trusted log.
//   - An outbox of signed receipts not yet handed on.
//
// Everything one decision changes is written in one transaction (Update):
// bbolt commits it atomically and durably (fsync), so a node killed at any
// point restarts with all of a decision's effects or none. Open takes an
// exclusive lock on the file; a second process trying to open it gets an
// error wrapping ErrLocked once the timeout passes.
//
// The file carries a schema version (SchemaVersion); Open refuses a file of
// another version, or a bbolt file that is not a store, with ErrSchema.
// Expired entries stay until Tx.Prune removes them; readers that care about
// expiry compare it themselves.
package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the version of the layout Open reads and writes.
const SchemaVersion = 1

// DefaultTimeout is how long Open waits for another process to release
// the file when Options.Timeout is zero.
const DefaultTimeout = time.Second

// Errors Open returns, wrapped.
var (
	// ErrLocked means another process (or another Store in this process)
	// has the file open.
	ErrLocked = errors.New("store is in use by another process")
	// ErrSchema means the file is not a store of SchemaVersion.
	ErrSchema = errors.New("store has an unknown schema")
)

// Options configures Open. The zero value is usable.
type Options struct {
	// Timeout is how long to wait for the file's lock. Default
	// DefaultTimeout.
	Timeout time.Duration
}

// Buckets of the file. Keys and values are described beside each.
var (
	// meta: "schema" -> decimal SchemaVersion.
	bucketMeta = []byte("meta")
	// seen: assertion id -> expiry.
	bucketSeen = []byte("seen")
	// rejections: assertion id "/" code -> expiry.
	bucketRejections = []byte("rejections")
	// credentials: credential id -> envelope.
	bucketCredentials = []byte("credentials")
	// revoked: credential id -> revocation envelope.
	bucketRevoked = []byte("revoked")
	// pairs: pair key -> expiry. The bucket's sequence is the pair count.
	bucketPairs = []byte("pairs")
	// pair_expiry: expiry || pair key -> empty, in expiry order.
	bucketPairExpiry = []byte("pair_expiry")
	// enforcements: assertion id -> Enforcement, without its pairs.
	bucketEnforcements = []byte("enforcements")
	// enforcement_pairs: assertion id -> pair keys, concatenated.
	bucketEnforcementPairs = []byte("enforcement_pairs")
	// by_credential: credential id || assertion id -> empty.
	bucketByCredential = []byte("by_credential")
	// installs: time || sequence -> claimant's pairs and key id.
	bucketInstalls = []byte("installs")
	// checkpoints: log origin -> signed note.
	bucketCheckpoints = []byte("checkpoints")
	// receipts: sequence -> assertion id || receipt envelope.
	bucketReceipts = []byte("receipts")

	allBuckets = [][]byte{
		bucketMeta, bucketSeen, bucketRejections, bucketCredentials,
		bucketRevoked, bucketPairs, bucketPairExpiry, bucketEnforcements,
		bucketEnforcementPairs, bucketByCredential, bucketInstalls,
		bucketCheckpoints, bucketReceipts,
	}
	keySchema = []byte("schema")
)

// Store is an open store file. Its methods are safe for concurrent use:
// bbolt runs one Update at a time and any number of Views beside it.
type Store struct {
	db *bolt.DB
}

// Open opens the store at path, creating it (mode 0600) if it does not
// exist. It fails with an error wrapping ErrLocked if another process
// holds the file for longer than opts.Timeout, and with one wrapping
// ErrSchema if the file is not a store of SchemaVersion.
func Open(path string, opts Options) (*Store, error) {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("failed to open store %s: %w (waited %s for its lock)", path, ErrLocked, timeout)
	} else if err != nil {
		return nil, fmt.Errorf("failed to open store %s: %w", path, err)
	}
	if err := db.Update(initialize); err != nil {
		db.Close()
		return nil, fmt.Errorf("failed to open store %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// initialize creates the buckets of a new file, or checks the schema of an
// existing one.
func initialize(tx *bolt.Tx) error {
	if meta := tx.Bucket(bucketMeta); meta != nil {
		v := meta.Get(keySchema)
		if string(v) != strconv.Itoa(SchemaVersion) {
			return fmt.Errorf("%w: version %q, this program reads version %d", ErrSchema, v, SchemaVersion)
		}
		for _, name := range allBuckets {
			if tx.Bucket(name) == nil {
				return fmt.Errorf("%w: bucket %s is missing", ErrSchema, name)
			}
		}
		return nil
	}
	empty := true
	_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
	if !empty {
		return fmt.Errorf("%w: a bbolt file without a schema version", ErrSchema)
	}
	for _, name := range allBuckets {
		if _, err := tx.CreateBucket(name); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketMeta).Put(keySchema, []byte(strconv.Itoa(SchemaVersion)))
}

// Close closes the file and releases its lock.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("failed to close store: %w", err)
	}
	return nil
}

// Path returns the file's path.
func (s *Store) Path() string { return s.db.Path() }

// Update runs fn in a read-write transaction and commits it if fn returns
// nil; otherwise nothing fn did is kept and fn's error is returned.
func (s *Store) Update(fn func(*Tx) error) error {
	return s.db.Update(func(tx *bolt.Tx) error { return fn(&Tx{tx: tx}) })
}

// View runs fn in a read-only transaction. Writing methods of its Tx fail.
func (s *Store) View(fn func(*Tx) error) error {
	return s.db.View(func(tx *bolt.Tx) error { return fn(&Tx{tx: tx}) })
}

// Check verifies the file's internal consistency (bbolt's page checks) and
// returns the first problem found.
func (s *Store) Check() error {
	return s.db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return fmt.Errorf("store %s is inconsistent: %w", s.db.Path(), err)
		}
		return nil
	})
}

// Tx is a transaction, valid only inside the function given to Update or
// View. Byte slices it returns are copies, usable after the transaction.
type Tx struct {
	tx *bolt.Tx
}

func (t *Tx) bucket(name []byte) *bolt.Bucket { return t.tx.Bucket(name) }

// get returns a copy of the value of key in bucket name, or nil.
func (t *Tx) get(name, key []byte) []byte {
	v := t.bucket(name).Get(key)
	if v == nil {
		return nil
	}
	return append([]byte{}, v...)
}

// timeKey encodes t as 8 bytes whose byte order is the time order, also
// before 1970.
func timeKey(t time.Time) []byte {
	return binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano())^(1<<63))
}

// parseTime decodes a timeKey.
func parseTime(b []byte) time.Time {
	return time.Unix(0, int64(binary.BigEndian.Uint64(b)^(1<<63))).UTC()
}

// expired reports whether an 8-byte expiry value is at or before now.
func expired(v []byte, now time.Time) bool {
	return len(v) == 8 && !parseTime(v).After(now)
}

// pruneExpired deletes the keys of bucket name whose 8-byte expiry value is
// at or before now, and returns how many it deleted.
func (t *Tx) pruneExpired(name []byte, now time.Time) (int, error) {
	b := t.bucket(name)
	var dead [][]byte
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if expired(v, now) {
			dead = append(dead, append([]byte{}, k...))
		}
	}
	for _, k := range dead {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(dead), nil
}

// writeErr wraps a bbolt write error, naming a read-only transaction
// plainly.
func writeErr(what string, err error) error {
	if errors.Is(err, bolterrors.ErrTxNotWritable) {
		return fmt.Errorf("failed to %s: the transaction is read-only: %w", what, err)
	}
	return fmt.Errorf("failed to %s: %w", what, err)
}
