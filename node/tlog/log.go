package tlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/client"
	"github.com/transparency-dev/tessera/storage/posix"
	"golang.org/x/mod/sumdb/note"
)

// Defaults of Config, tuned for latency: a submission waits at most
// BatchMaxAge to be sequenced and CheckpointInterval to be published.
const (
	DefaultBatchMaxAge        = 20 * time.Millisecond
	DefaultCheckpointInterval = 100 * time.Millisecond // the POSIX driver's minimum
	DefaultDedupEntries       = tessera.DefaultAntispamInMemorySize
)

// awaitPoll is how often a waiting Submit reads the published checkpoint.
const awaitPoll = 10 * time.Millisecond

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
	// CheckpointInterval is how often a new checkpoint is published; at
	// least 100 ms. Default DefaultCheckpointInterval.
	CheckpointInterval time.Duration
	// DedupEntries is how many recent entries the log remembers to answer
	// a repeated submission with its first index. Default
	// DefaultDedupEntries. The memory is not persisted: after a restart an
	// entry submitted before it is appended again.
	DedupEntries uint
	// Logger receives the log's events. Default: discard them.
	Logger *slog.Logger
}

// Log is an append-only transparency log of Docket signed objects, stored
// by Tessera's POSIX driver. Its methods are safe for concurrent use.
type Log struct {
	origin   string
	add      tessera.AddFn
	reader   tessera.LogReader
	awaiter  *tessera.PublicationAwaiter
	shutdown func(context.Context) error
	cancel   context.CancelFunc
	logger   *slog.Logger
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
	if cfg.CheckpointInterval == 0 {
		cfg.CheckpointInterval = DefaultCheckpointInterval
	}
	if cfg.DedupEntries == 0 {
		cfg.DedupEntries = DefaultDedupEntries
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	// The log's goroutines outlive ctx; Close stops them.
	run, cancel := context.WithCancel(context.WithoutCancel(ctx))
	driver, err := posix.New(run, posix.Config{Path: cfg.Dir})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("failed to open log: %w", err)
	}
	opts := tessera.NewAppendOptions().
		WithCheckpointSigner(cfg.Signer).
		WithBatching(tessera.DefaultBatchMaxSize, cfg.BatchMaxAge).
		WithCheckpointInterval(cfg.CheckpointInterval).
		WithAntispam(cfg.DedupEntries, nil)
	appender, shutdown, reader, err := tessera.NewAppender(run, driver, opts)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("failed to open log: %w", err)
	}
	l := &Log{
		origin:   cfg.Signer.Name(),
		add:      appender.Add,
		reader:   reader,
		awaiter:  tessera.NewPublicationAwaiter(run, reader.ReadCheckpoint, awaitPoll),
		shutdown: shutdown,
		cancel:   cancel,
		logger:   cfg.Logger,
	}
	l.logger.Info("log opened", "dir", cfg.Dir, "origin", l.origin)
	return l, nil
}

// Origin returns the log's origin, the first line of its checkpoints.
func (l *Log) Origin() string { return l.origin }

// Close waits, within ctx, for accepted entries to be published, then stops
// the log.
func (l *Log) Close(ctx context.Context) error {
	defer l.cancel()
	if err := l.shutdown(ctx); err != nil {
		return fmt.Errorf("failed to close log: %w", err)
	}
	return nil
}

// Submit appends data, one signed object of the given kind (KindAuto to
// detect it), and returns its Proof once a published checkpoint covers it.
// An entry identical to one submitted earlier is not appended again: Submit
// returns a proof for the earlier index (see Config.DedupEntries).
//
// If the log rejects data, as Check does, the error is a *protocol.Error
// whose code protocol.CodeOf returns, and nothing is appended. Any other
// error is a failure of the log or ctx; the entry may then still be
// appended.
func (l *Log) Submit(ctx context.Context, kind Kind, data []byte) (*Proof, error) {
	kind, err := Check(kind, data)
	if err != nil {
		return nil, err
	}
	idx, cp, err := l.awaiter.Await(ctx, l.add(ctx, tessera.NewEntry(data)))
	if err != nil {
		return nil, fmt.Errorf("failed to append entry: %w", err)
	}
	var c log.Checkpoint
	if _, err := c.Unmarshal(cp); err != nil {
		return nil, fmt.Errorf("failed to parse checkpoint: %w", err)
	}
	pb, err := client.NewProofBuilder(ctx, c.Size, l.reader.ReadTile)
	if err != nil {
		return nil, fmt.Errorf("failed to build inclusion proof: %w", err)
	}
	hashes, err := pb.InclusionProof(ctx, idx.Index)
	if err != nil {
		return nil, fmt.Errorf("failed to build inclusion proof: %w", err)
	}
	if hashes == nil {
		hashes = [][]byte{} // [] in JSON, not null
	}
	l.logger.Debug("entry published", "kind", kind, "index", idx.Index, "size", c.Size, "dup", idx.IsDup)
	return &Proof{Index: idx.Index, Checkpoint: string(cp), Inclusion: hashes}, nil
}

// Proof shows that an entry is in the log: the JSON object the log
// returns for an accepted submission. See the package documentation.
type Proof struct {
	// Index is the entry's position in the log, from 0.
	Index uint64 `json:"index"`
	// Checkpoint is a c2sp.org/tlog-checkpoint signed note whose tree
	// contains the entry.
	Checkpoint string `json:"checkpoint"`
	// Inclusion is the RFC 6962 inclusion proof of the entry in the
	// checkpoint's tree, leaf to root; each hash is 32 bytes, base64 in JSON.
	Inclusion [][]byte `json:"inclusion"`
}
