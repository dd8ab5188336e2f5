package isp

import (
	"maps"

	"github.com/docket-project/docket/node/store"
)

// Stats are the pipeline's counters since it started, for metrics.
type Stats struct {
	// Accepted is the number of assertions applied.
	Accepted uint64
	// Rejected counts rejections by code (spec/SPEC.md §8, §11.5, §13.3),
	// REPLAYED included.
	Rejected map[string]uint64
	// Failures is the number of submissions and revocations the node
	// failed to decide (store, backend or signing errors).
	Failures uint64
	// Revocations is the number of revocations recorded.
	Revocations uint64
	// PairsWithdrawn is the number of pairs withdrawn by revocations.
	PairsWithdrawn uint64
	// ReceiptsDelivered and ReceiptFailures count ReceiptSink calls that
	// succeeded and failed.
	ReceiptsDelivered uint64
	ReceiptFailures   uint64
	// Store is the number of entries of each kind in the store, read when
	// Stats was called.
	Store store.Counts
}

// Stats returns a snapshot of the counters.
func (p *Pipeline) Stats() Stats {
	p.statsMu.Lock()
	s := p.stats
	s.Rejected = maps.Clone(p.stats.Rejected)
	p.statsMu.Unlock()
	if err := p.store.View(func(tx *store.Tx) error { s.Store = tx.Counts(); return nil }); err != nil {
		p.log.Error("failed to count store entries", "err", err)
	}
	return s
}

// count changes the counters under their lock.
func (p *Pipeline) count(change func(*Stats)) {
	p.statsMu.Lock()
	change(&p.stats)
	p.statsMu.Unlock()
}
