// Package nft enforces pairs with Linux nftables, over netlink.
//
// The backend owns one table, of family inet ("docket" unless WithTable
// says otherwise), which holds
//
//	table inet docket {
//		set pairs4 {
//			type ipv4_addr . ipv4_addr
//			flags timeout
//		}
//		set pairs6 {
//			type ipv6_addr . ipv6_addr
//			flags timeout
//		}
//		chain forward {
//			type filter hook forward priority filter - 10; policy accept;
//			ip saddr . ip daddr @pairs4 drop
//			ip daddr . ip saddr @pairs4 drop
//			ip6 saddr . ip6 daddr @pairs6 drop
//			ip6 daddr . ip6 saddr @pairs6 drop
//		}
//	}
//
// An element is a pair, local address first, and carries its own timeout
// (the time left until the pair expires, rounded up to the millisecond, at
// most 100 years), so the kernel drops it on time even if Docket is no
// longer running. The
// chain drops forwarded packets in both directions; a hash lookup keeps the
// per-packet cost flat from a few pairs to millions.
//
// # Writing elements
//
// Elements are written at most 1,000 per netlink message (larger messages
// overflow a 16-bit attribute length and the kernel silently drops the
// rest) and 4,000 per transaction in Add and Remove. Each transaction is
// atomic: a pair is either installed by it or not at all. The backend
// keeps its own record of what it installed and until when, so that Add
// never shortens a pair (re-adding an element replaces its kernel timeout,
// even with a shorter one) and Remove deletes only elements that exist
// (deleting a missing one fails its whole transaction). After an Add or
// Reconcile that leaves at most 2,000 pairs installed, the backend reads
// the sets back and checks that every pair it wrote is there, expiring no
// earlier than asked.
//
// # Reading the kernel's sets
//
// Reading a set takes time quadratic in its size, because the kernel walks
// its hash table from the start again for each 32 KiB of a dump: 25,000
// pairs take 0.2 s, 200,000 take about 10 s, millions take many minutes.
// The backend therefore reads the sets only when it must:
//
//   - Installed always reads them (it reports the kernel's state, for
//     status and tests);
//   - a new Backend whose table already exists (installed by an earlier
//     process) reads them once, on its first Add or Remove, to fill its
//     record;
//   - Reconcile in such a backend does not: it empties both sets and adds
//     the desired pairs in a single transaction, so packets never see a
//     half-reconciled state and the record is exact afterwards. To fit
//     millions of pairs in one transaction, the backend raises its
//     socket's buffers past the system limits (SO_SNDBUFFORCE and
//     SO_RCVBUFFORCE, which need CAP_NET_ADMIN in the initial user
//     namespace); 2.5 million pairs take 10 to 15 s on a 2-core machine,
//     during which other nftables changes wait. Only a desired state that does not fit (more
//     than 5 million pairs, or smaller socket buffers) is reconciled by
//     reading the sets once and writing the difference;
//   - Reconcile in a backend whose record is complete writes the
//     difference to its record, except that a state of at most 10,000
//     pairs is replaced whole, which also undoes changes made by hand.
//
// Reconcile also rewrites the table's chain, in one transaction that does
// not touch the sets, which repairs rules changed by hand.
package nft

import (
	"fmt"
	"strings"

	"github.com/docket-project/docket/enforce"
)

// DefaultTable is the name of the inet table the backend uses unless
// WithTable names another.
const DefaultTable = "docket"

// Names of the sets and the chain inside the table.
const (
	set4Name  = "pairs4"
	set6Name  = "pairs6"
	chainName = "forward"
)

// ErrUnsupported is returned by New on systems other than Linux. It wraps
// enforce.ErrConfig.
var ErrUnsupported = fmt.Errorf("nftables backend needs Linux: %w", enforce.ErrConfig)

// Option configures a Backend; see New.
type Option func(*config)

// config holds New's options.
type config struct {
	// netns is set when netnsFD, an open network namespace file, names
	// the namespace to work in instead of the calling process's.
	netns   bool
	netnsFD int
	// table is the inet table's name.
	table string
}

// WithNetNS makes the backend manage the nftables of the network namespace
// that fd refers to (an open /run/netns/NAME or /proc/PID/ns/net file)
// instead of the calling process's own. The caller keeps fd open while the
// Backend is in use and closes it afterwards.
func WithNetNS(fd int) Option {
	return func(c *config) { c.netns, c.netnsFD = true, fd }
}

// WithTable names the inet table the backend owns, instead of DefaultTable;
// tests use it to keep out of each other's way.
func WithTable(name string) Option {
	return func(c *config) { c.table = name }
}

// newConfig applies opts to the defaults and validates the result.
func newConfig(opts []Option) (config, error) {
	c := config{table: DefaultTable}
	for _, opt := range opts {
		opt(&c)
	}
	switch {
	case c.netns && c.netnsFD <= 0:
		return c, fmt.Errorf("failed to configure nftables backend: WithNetNS: invalid file descriptor %d", c.netnsFD)
	case c.table == "" || len(c.table) > 255 || strings.ContainsRune(c.table, 0):
		return c, fmt.Errorf("failed to configure nftables backend: WithTable: invalid table name %q", c.table)
	}
	return c, nil
}
