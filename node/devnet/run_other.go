//go:build !linux

package devnet

import (
	"context"
	"errors"
)

// Run needs Linux: the devnet gives its peers many loopback addresses
// and, as root, network namespaces and nftables.
func Run(ctx context.Context, opts Options) (*Result, error) {
	return nil, errors.New("docket devnet needs Linux: its swarm uses many loopback addresses, and its nft mode network namespaces and nftables")
}
