package isp

import (
	"context"
	"fmt"

	"github.com/docket-project/docket/node/store"
	"github.com/docket-project/docket/protocol"
)

// ReceiptSink takes the pipeline's signed receipts (spec/SPEC.md §13),
// typically to submit them to the log.
//
// The pipeline keeps every receipt in the store's outbox until Deliver
// returns nil for it. An error leaves the receipt there for FlushReceipts
// to offer again, so a receipt may be delivered more than once (after an
// error, or a crash between Deliver and the outbox update); a log answers
// a repeated entry with the index of the first. Deliver is called without
// the pipeline's locks held, possibly from several goroutines at once.
type ReceiptSink interface {
	Deliver(ctx context.Context, assertion protocol.ID, envelope []byte) error
}

// ReceiptSinkFunc is a function that is a ReceiptSink.
type ReceiptSinkFunc func(ctx context.Context, assertion protocol.ID, envelope []byte) error

// Deliver calls f.
func (f ReceiptSinkFunc) Deliver(ctx context.Context, assertion protocol.ID, envelope []byte) error {
	return f(ctx, assertion, envelope)
}

// deliver offers a queued receipt to the sink and removes it from the
// outbox once taken. A failure leaves it queued.
func (p *Pipeline) deliver(ctx context.Context, r store.PendingReceipt) error {
	if err := p.sink.Deliver(ctx, r.Assertion, r.Envelope); err != nil {
		p.count(func(s *Stats) { s.ReceiptFailures++ })
		p.log.Warn("failed to deliver receipt; it stays queued", "assertion", r.Assertion, "err", err)
		return fmt.Errorf("failed to deliver receipt for %s: %w", r.Assertion, err)
	}
	if err := p.store.Update(func(tx *store.Tx) error { return tx.DeleteReceipt(r.Seq) }); err != nil {
		p.log.Error("failed to remove a delivered receipt from the outbox", "assertion", r.Assertion, "err", err)
		return fmt.Errorf("failed to remove delivered receipt for %s: %w", r.Assertion, err)
	}
	p.count(func(s *Stats) { s.ReceiptsDelivered++ })
	return nil
}

// FlushReceipts offers the receipts waiting in the outbox to the sink, in
// the order they were issued, and stops at the first failure. It returns
// how many were delivered.
func (p *Pipeline) FlushReceipts(ctx context.Context) (int, error) {
	p.flushMu.Lock()
	defer p.flushMu.Unlock()
	var pending []store.PendingReceipt
	if err := p.store.View(func(tx *store.Tx) error { pending = tx.PendingReceipts(); return nil }); err != nil {
		return 0, fmt.Errorf("failed to read the receipt outbox: %w", err)
	}
	for i, r := range pending {
		if err := ctx.Err(); err != nil {
			return i, err
		}
		if err := p.deliver(ctx, r); err != nil {
			return i, err
		}
	}
	return len(pending), nil
}
