package tlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/storage/posix"
	"golang.org/x/mod/sumdb/note"

	"github.com/docket-project/docket/crypto/sign"
)

// Defaults of Config, tuned for latency and throughput: a submission waits
// at most BatchMaxAge to be sequenced, in batches of up to BatchMaxSize
// entries, and CheckpointInterval to be published.
const (
	DefaultBatchMaxAge        = 20 * time.Millisecond
	DefaultBatchMaxSize       = 256
	DefaultCheckpointInterval = 100 * time.Millisecond // the POSIX driver's minimum
	DefaultDedupEntries       = tessera.DefaultAntispamInMemorySize
)

// Config configures a Log. Zero values of the optional fields are the
// defaults.
type Config struct {
	// Dir is the directory holding the log in Tessera's POSIX layout, which
	// is the c2sp.org/tlog-tiles layout. It is created if missing. Required.
	Dir string
	// Signer signs checkpoints; its name is the log's origin, the first
	// line of every checkpoint. Required.
	Signer note.Signer
	// BatchMaxAge is the longest an entry waits to be sequenced with
	// others. Default DefaultBatchMaxAge.
	BatchMaxAge time.Duration
	// BatchMaxSize is the most entries sequenced together. Default
	// DefaultBatchMaxSize.
	BatchMaxSize uint
	// CheckpointInterval is how often a new checkpoint is published; at
	// least 100 ms. Default DefaultCheckpointInterval.
	CheckpointInterval time.Duration
	// DedupEntries is how many recent entries the log keeps in memory to
	// answer a repeated submission with the first index. Default
	// DefaultDedupEntries. Behind this memory, every entry of the log is in
	// a persistent index in Dir/.dedup (Tessera's POSIX antispam, a Badger
	// database), filled by a follower that reads the log every second and
	// may lag up to DedupEntries entries behind; when it finds itself
	// further behind, the log refuses submissions with tessera.ErrPushback
	// until it catches up. After a restart, even one after a crash,
	// submissions wait until the index holds every entry of the log. So an
	// entry submitted again is not appended twice as long as DedupEntries
	// exceeds what the log appends in a few seconds, as the default does by
	// far.
	DedupEntries uint
	// Witnesses are asked to cosign every checkpoint before it is
	// published; a checkpoint that not enough of them cosign within
	// WitnessTimeout is not published, and the entries it would cover wait
	// for the next one. A new log publishes its empty checkpoint while
	// opening, so its witnesses must be reachable then. Default: none, and
	// checkpoints carry the log's signature only.
	Witnesses []Witness
	// WitnessesRequired is how many of Witnesses must cosign a checkpoint.
	// Default (0): all of them.
	WitnessesRequired int
	// WitnessTimeout bounds the wait for cosignatures of one checkpoint.
	// Default DefaultWitnessTimeout.
	WitnessTimeout time.Duration
	// Registrars are the public keys of the registrars the log trusts: the
	// signers of root credentials (those with no parent) and, with the
	// subjects of the credentials they grant, of revocations (spec/SPEC.md
	// §7.3). With none, the log is open: it checks each submission's
	// structure only, as Check does, and verifies no signature. With some,
	// it also verifies the signature of every submission before appending
	// it, and refuses one that does not verify, or whose signer it cannot
	// tell from the keys it trusts and the credentials it holds, with the
	// code of spec/SPEC.md §8 (see the package documentation). Default:
	// none, an open log.
	Registrars []*sign.PublicKey
	// ISPs are the public signing keys of the ISPs the log trusts: the
	// signers of announcements and receipts. A log with Registrars refuses
	// an announcement or receipt signed by any other key with
	// UNTRUSTED_ISP, so with Registrars and no ISPs it takes neither. An
	// open log ignores ISPs.
	ISPs []*sign.PublicKey
	// Logger receives the log's events. Default: discard them.
	Logger *slog.Logger
}

// Log is an append-only transparency log of Docket signed objects, stored
// by Tessera's POSIX driver. Its methods are safe for concurrent use.
type Log struct {
	origin     string
	add        tessera.AddFn
	reader     tessera.LogReader
	published  *published
	prover     *prover
	dedup      *dedup
	dedupReady chan struct{} // closed once the dedup index holds every entry present at Open
	trust      *trust        // nil for an open log
	shutdown   func(context.Context) error
	cancel     context.CancelFunc
	logger     *slog.Logger
}

// Open opens the log in cfg.Dir, creating it if needed, and starts
// sequencing and publishing. The log runs until Close; ctx only bounds
// opening.
func Open(ctx context.Context, cfg Config) (*Log, error) {
	if cfg.Dir == "" {
		return nil, errors.New("failed to open log: Dir is empty")
	}
	if cfg.Signer == nil {
		return nil, errors.New("failed to open log: Signer is nil")
	}
	if cfg.BatchMaxAge == 0 {
		cfg.BatchMaxAge = DefaultBatchMaxAge
	}
	if cfg.BatchMaxSize == 0 {
		cfg.BatchMaxSize = DefaultBatchMaxSize
	}
	if cfg.CheckpointInterval == 0 {
		cfg.CheckpointInterval = DefaultCheckpointInterval
	}
	if cfg.DedupEntries == 0 {
		cfg.DedupEntries = DefaultDedupEntries
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	witnesses, witnessOpts, err := witnessPolicy(cfg)
	if err != nil {
		return nil, fmt.Errorf("failed to open log: %w", err)
	}
	// The log's goroutines outlive ctx; Close stops them.
	run, cancel := context.WithCancel(context.WithoutCancel(ctx))
	driver, err := posix.New(run, posix.Config{Path: cfg.Dir})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("failed to open log: %w", err)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		cancel()
		return nil, fmt.Errorf("failed to open log: %w", err)
	}
	dd, err := openDedup(run, filepath.Join(cfg.Dir, dedupDir), cfg.DedupEntries)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("failed to open log: %w", err)
	}
	var tr *trust
	if len(cfg.Registrars) > 0 {
		if tr, err = openTrust(cfg.Dir, cfg); err != nil {
			cancel()
			return nil, fmt.Errorf("failed to open log: %w", errors.Join(err, dd.close()))
		}
	}
	fail := func(err error) (*Log, error) {
		cancel()
		if cerr := dd.close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		if tr != nil {
			err = errors.Join(err, tr.close())
		}
		return nil, fmt.Errorf("failed to open log: %w", err)
	}
	opts := tessera.NewAppendOptions().
		WithCheckpointSigner(cfg.Signer).
		WithBatching(cfg.BatchMaxSize, cfg.BatchMaxAge).
		WithCheckpointInterval(cfg.CheckpointInterval).
		WithAntispam(cfg.DedupEntries, dd)
	if len(cfg.Witnesses) > 0 {
		opts.WithWitnesses(witnesses, witnessOpts)
	}
	appender, shutdown, reader, err := tessera.NewAppender(run, driver, opts)
	if err != nil {
		return fail(err)
	}
	integrated, err := reader.IntegratedSize(ctx)
	if err != nil {
		return fail(err)
	}
	l := &Log{
		origin:     cfg.Signer.Name(),
		add:        appender.Add,
		reader:     reader,
		published:  newPublished(reader.ReadCheckpoint),
		prover:     &prover{tiles: reader.ReadTile},
		dedup:      dd,
		dedupReady: make(chan struct{}),
		trust:      tr,
		shutdown:   shutdown,
		cancel:     cancel,
		logger:     cfg.Logger,
	}
	if _, err := l.published.refresh(ctx); err != nil {
		return fail(err)
	}
	go l.published.run(run)
	go l.awaitDedup(run, integrated)
	l.logger.Info("log opened", "dir", cfg.Dir, "origin", l.origin, "size", integrated,
		"verifies_signatures", tr != nil, "registrars", len(cfg.Registrars), "isps", len(cfg.ISPs))
	return l, nil
}

// awaitDedup closes l.dedupReady once the dedup index holds the first n
// entries of the log. It takes a while only after a crash: Close waits for
// the index to hold every entry.
func (l *Log) awaitDedup(ctx context.Context, n uint64) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	failed := false
	for {
		done, err := l.dedup.processed(ctx)
		if err != nil && !failed {
			l.logger.Error("failed to read dedup index; submissions wait", "err", err)
		}
		failed = err != nil
		if err == nil && done >= n {
			close(l.dedupReady)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Origin returns the log's origin, the first line of its checkpoints.
func (l *Log) Origin() string { return l.origin }

// Close waits, within ctx, for accepted entries to be published and held
// by the dedup index, then stops the log.
func (l *Log) Close(ctx context.Context) error {
	err := l.shutdown(ctx)
	l.cancel()
	if derr := l.dedup.close(); derr != nil {
		err = errors.Join(err, derr)
	}
	if l.trust != nil {
		if terr := l.trust.close(); terr != nil {
			err = errors.Join(err, terr)
		}
	}
	if err != nil {
		return fmt.Errorf("failed to close log: %w", err)
	}
	return nil
}
