//go:build !linux

package nft

import (
	"context"

	"github.com/docket-project/docket/enforce"
)

// Backend enforces pairs with nftables; on this system New always fails.
type Backend struct{}

var (
	_ enforce.Backend = (*Backend)(nil)
	_ enforce.Lister  = (*Backend)(nil)
)

// New returns ErrUnsupported: nftables exists only on Linux.
func New(opts ...Option) (*Backend, error) {
	if _, err := newConfig(opts); err != nil {
		return nil, err
	}
	return nil, ErrUnsupported
}

// Close does nothing.
func (b *Backend) Close() error { return nil }

// Add returns ErrUnsupported.
func (b *Backend) Add(context.Context, []enforce.Pair) error { return ErrUnsupported }

// Remove returns ErrUnsupported.
func (b *Backend) Remove(context.Context, []enforce.Key) error { return ErrUnsupported }

// Reconcile returns ErrUnsupported.
func (b *Backend) Reconcile(context.Context, []enforce.Pair) error { return ErrUnsupported }

// Installed returns ErrUnsupported.
func (b *Backend) Installed(context.Context) ([]enforce.Pair, error) { return nil, ErrUnsupported }

// Uninstall returns ErrUnsupported.
func (b *Backend) Uninstall(context.Context) error { return ErrUnsupported }
