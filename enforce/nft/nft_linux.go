package nft

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/docket-project/docket/enforce"
)

// Sizes of netlink writes; see the package documentation.
const (
	// elemsPerMessage bounds the elements of one set-element message: its
	// element list is one netlink attribute, whose 16-bit length overflows
	// (silently) at 64 KiB. 1,000 IPv6 elements take 56,000 bytes.
	elemsPerMessage = 1000
	// elemsPerTx bounds the elements of one transaction in Add, Remove and
	// the difference path of Reconcile.
	elemsPerTx = 4000
	// sendBuffer and receiveBuffer are the socket buffers the backend asks
	// for. A transaction is one write, which must fit in the send buffer;
	// the kernel acknowledges each of its messages, and the
	// acknowledgements must fit in the receive buffer.
	sendBuffer    = 512 << 20
	receiveBuffer = 16 << 20
	// messageOverhead bounds the bytes of a set-element message besides its
	// elements: headers, table and set names.
	messageOverhead = 320
	// txOverhead bounds the bytes of a transaction's begin and end
	// messages and the two messages that empty the sets.
	txOverhead = 1024
	// ackSize bounds the receive buffer one acknowledgement takes.
	ackSize = 2048
)

// maxReplace is the largest desired state that Reconcile installs by
// emptying the sets and refilling them in one transaction (a variable for
// tests).
var maxReplace = 5_000_000

// Thresholds that trade certainty against reading the kernel's sets,
// which takes time quadratic in their size (the kernel restarts its walk
// of the hash table for each 32 KiB of a dump).
const (
	// maxVerify is the largest number of installed pairs for which Add and
	// Reconcile read the sets back to check what they wrote: a few
	// milliseconds (10,000 pairs take about 50).
	maxVerify = 2_000
	// maxWhole is the largest state that Reconcile replaces whole even
	// when its record could say what differs, so as to undo changes made
	// by hand.
	maxWhole = 10_000
)

// maxLife bounds a pair's kernel timeout: a pair expiring later is
// installed until then.
const maxLife = 100 * 365 * 24 * time.Hour

// Slack allowed when comparing expiries.
const (
	// removeSlack: a pair this close to its expiry is left to expire
	// rather than deleted, since the kernel may drop it first and deleting
	// a missing element fails its whole transaction.
	removeSlack = time.Second
	// expirySlack: Reconcile leaves an installed pair alone when its
	// expiry is this close to the desired one, and the read-back accepts
	// an element expiring this much before the expiry asked for (kernel
	// timeouts count jiffies, and dumps take time).
	expirySlack = time.Second
)

// Backend enforces pairs with nftables. It implements enforce.Backend and
// enforce.Lister; its methods are safe for concurrent use. Close releases
// its netlink socket and leaves the table in place; Uninstall removes it.
type Backend struct {
	table      *nftables.Table
	set4, set6 *nftables.Set
	// connOpts configure the netlink connection (namespace, buffers);
	// with nftables.AsLasting they open it, again after an error that may
	// leave replies unread on the socket.
	connOpts []nftables.ConnOption

	mu sync.Mutex
	// conn is the lasting netlink connection; it queues messages until
	// Flush, so only one method uses it at a time.
	conn *nftables.Conn
	// sndbuf and rcvbuf are the socket buffers the kernel granted conn.
	sndbuf, rcvbuf int
	// known is set when the table exists and record holds every pair
	// installed in it.
	known bool
	// record holds each pair installed, as far as the backend knows, and
	// its expiry. Entries past their expiry are gone from the kernel;
	// prune drops them now and then.
	record    record
	lastPrune time.Time
	// pending holds the elements of the transaction being built.
	pending []elem
}

var (
	_ enforce.Backend = (*Backend)(nil)
	_ enforce.Lister  = (*Backend)(nil)
)

// New opens a netlink socket to nftables. It does not touch the ruleset:
// the table is created by the first Add, Remove or Reconcile.
func New(opts ...Option) (*Backend, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	table := &nftables.Table{Name: cfg.table, Family: nftables.TableFamilyINet}
	b := &Backend{
		table: table,
		// Set IDs name sets within one transaction; fixed ones avoid the
		// library's shared counter.
		set4: &nftables.Set{
			Table: table, Name: set4Name, ID: 1,
			KeyType:       nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeIPAddr),
			Concatenation: true, HasTimeout: true,
		},
		set6: &nftables.Set{
			Table: table, Name: set6Name, ID: 2,
			KeyType:       nftables.MustConcatSetType(nftables.TypeIP6Addr, nftables.TypeIP6Addr),
			Concatenation: true, HasTimeout: true,
		},
	}
	b.connOpts = []nftables.ConnOption{
		nftables.WithSockOptions(func(c *netlink.Conn) (err error) {
			b.sndbuf, b.rcvbuf, err = growBuffers(c)
			return err
		}),
	}
	if cfg.netns {
		b.connOpts = append(b.connOpts, nftables.WithNetNSFd(cfg.netnsFD))
	}
	if b.conn, err = nftables.New(append(b.connOpts, nftables.AsLasting())...); err != nil {
		return nil, classify("open netlink socket", err)
	}
	return b, nil
}

// growBuffers raises the socket's buffers to sendBuffer and receiveBuffer,
// past the system's limits (net.core.wmem_max, rmem_max) if the process
// may (CAP_NET_ADMIN in the initial user namespace), and returns the sizes
// the kernel granted.
func growBuffers(c *netlink.Conn) (sndbuf, rcvbuf int, err error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, 0, fmt.Errorf("failed to size socket buffers: %w", err)
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		for _, o := range []struct{ force, plain, size int }{
			{unix.SO_SNDBUFFORCE, unix.SO_SNDBUF, sendBuffer},
			{unix.SO_RCVBUFFORCE, unix.SO_RCVBUF, receiveBuffer},
		} {
			if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o.force, o.size) != nil {
				// Without the capability, take what the limits allow.
				_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, o.plain, o.size)
			}
		}
		if sndbuf, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF); serr == nil {
			rcvbuf, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF)
		}
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return 0, 0, fmt.Errorf("failed to size socket buffers: %w", err)
	}
	return sndbuf, rcvbuf, nil
}

// Close closes the netlink socket. Installed pairs stay in the kernel
// until they expire.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.conn.CloseLasting()
}

// Add installs pairs, each with a kernel timeout that ends at its expiry.
// A pair already installed until later is left as it is.
func (b *Backend) Add(ctx context.Context, pairs []enforce.Pair) error {
	for _, p := range pairs {
		if err := p.Validate(); err != nil {
			return fmt.Errorf("failed to add pairs: %w", err)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.ensure(ctx); err != nil {
		return err
	}
	now := time.Now()
	b.prune(now)
	nowMs := now.UnixMilli()
	// The record and duplicates are checked as elements are queued (see
	// opMerge): a map of the pairs here would double the cost of adding
	// millions.
	elems := make([]elem, 0, len(pairs))
	for _, four := range []bool{true, false} {
		for _, p := range pairs {
			if p.Local.Is4() != four {
				continue
			}
			if exp := expiryMillis(p.Expires, nowMs); exp > nowMs {
				elems = append(elems, elem{key: keyOf(p.Key), exp: exp})
			}
		}
	}
	b.reserve(len(elems))
	if err := b.write(ctx, opMerge, elems); err != nil {
		return fmt.Errorf("failed to add pairs: %w", err)
	}
	return b.verify(elems)
}

// Remove deletes the pairs the backend knows to be installed. A pair that
// expires within a second is left to expire.
func (b *Backend) Remove(ctx context.Context, keys []enforce.Key) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.ensure(ctx); err != nil {
		return err
	}
	del := make(map[elemKey]int64, len(keys))
	for _, k := range keys {
		if k.Validate() == nil {
			ek := keyOf(k)
			if exp, ok := b.record.get(&ek); ok {
				del[ek] = exp
			}
		}
	}
	if err := b.remove(ctx, del); err != nil {
		return fmt.Errorf("failed to remove pairs: %w", err)
	}
	return nil
}

// remove deletes pairs of the record. It leaves pairs that expire within
// removeSlack to the kernel. If a transaction fails because an element is
// missing (deleted by someone else), it deletes the rest one by one,
// skipping missing ones.
func (b *Backend) remove(ctx context.Context, del map[elemKey]int64) error {
	soon := time.Now().Add(removeSlack).UnixMilli()
	for k, exp := range del {
		if exp <= soon {
			delete(del, k)
			b.record.del(&k)
		}
	}
	elems := byFamily(del)
	err := b.write(ctx, opDelete, elems)
	if !errors.Is(err, unix.ENOENT) {
		return err
	}
	if _, err := b.conn.ListTableOfFamily(b.table.Name, b.table.Family); errors.Is(err, unix.ENOENT) {
		// The whole table is gone, and with it every pair.
		b.known, b.record = false, record{}
		return nil
	}
	for _, e := range elems {
		if _, ok := b.record.get(&e.key); !ok {
			continue
		}
		err := b.write(ctx, opDelete, []elem{e})
		if errors.Is(err, unix.ENOENT) {
			b.record.del(&e.key)
		} else if err != nil {
			return err
		}
	}
	// The table exists and the record is right again about every pair
	// deleted.
	b.known = true
	return nil
}

// Reconcile makes the kernel's sets hold exactly the desired pairs, with
// their expiries, and rewrites the table's chain; see the package
// documentation for how.
func (b *Backend) Reconcile(ctx context.Context, desired []enforce.Pair) error {
	for _, p := range desired {
		if err := p.Validate(); err != nil {
			return fmt.Errorf("failed to reconcile: %w", err)
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := b.prepare(); err != nil {
		return err
	}
	now := time.Now()
	nowMs := now.UnixMilli()
	want := make(map[elemKey]int64, len(desired))
	for _, p := range desired {
		k, exp := keyOf(p.Key), expiryMillis(p.Expires, nowMs)
		if exp > nowMs && exp > want[k] {
			want[k] = exp
		}
	}
	elems := byFamily(want)
	// A small state is replaced whole, which also undoes changes made by
	// hand; a large one is replaced whole only if the record cannot say
	// what differs without reading the sets.
	small := len(elems) <= maxWhole && b.record.len() <= maxWhole
	if (small || !b.known) && len(elems) <= maxReplace && b.fitsOneTx(elems) {
		if err := b.replace(elems); err != nil {
			return fmt.Errorf("failed to reconcile: %w", err)
		}
		return b.verify(elems)
	}
	if err := b.load(ctx); err != nil {
		return err
	}
	b.prune(now)
	slack := expirySlack.Milliseconds()
	var write []elem
	for _, e := range elems {
		if exp, ok := b.record.get(&e.key); !ok || exp < e.exp-slack || exp > e.exp+slack {
			write = append(write, e)
		}
	}
	del := map[elemKey]int64{}
	for k, exp := range b.record.all {
		if _, ok := want[k]; !ok {
			del[k] = exp
		}
	}
	if err := b.remove(ctx, del); err != nil {
		return fmt.Errorf("failed to reconcile: %w", err)
	}
	b.reserve(len(write))
	if err := b.write(ctx, opSet, write); err != nil {
		return fmt.Errorf("failed to reconcile: %w", err)
	}
	return b.verify(write)
}

// Installed reads the pairs in the kernel's sets, each with the expiry its
// remaining timeout gives (accurate to a few milliseconds). An element
// added by hand without a timeout has a zero Expires. With no table,
// nothing is installed. Reading takes time quadratic in the number of
// pairs: about a second for 50,000, minutes for millions.
func (b *Backend) Installed(ctx context.Context) ([]enforce.Pair, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, err := b.conn.ListTableOfFamily(b.table.Name, b.table.Family); errors.Is(err, unix.ENOENT) {
		return nil, nil
	} else if err != nil {
		return nil, b.failed("look up table inet "+b.table.Name, err)
	}
	return b.dump()
}

// Uninstall deletes the table, and with it every pair and rule. The
// backend creates it again if used afterwards.
func (b *Backend) Uninstall(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.known, b.record = false, record{}
	b.conn.DelTable(b.table)
	if err := b.conn.Flush(); err != nil && !errors.Is(err, unix.ENOENT) {
		return b.failed("delete table inet "+b.table.Name, err)
	}
	return nil
}

// ensure makes the table exist and the record complete: it creates the
// table if missing, or reads an existing table's sets once.
func (b *Backend) ensure(ctx context.Context) error {
	if b.known {
		return nil
	}
	if err := b.prepare(); err != nil {
		return err
	}
	return b.load(ctx)
}

// load fills the record from the kernel's sets unless it is complete
// already.
func (b *Backend) load(ctx context.Context) error {
	if b.known {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	pairs, err := b.dump()
	if err != nil {
		return err
	}
	b.record = newRecord(len(pairs))
	for _, p := range pairs {
		k := keyOf(p.Key)
		b.record.set(&k, installedMillis(p))
	}
	b.known = true
	return nil
}

// prepare creates the table and sets if missing and rewrites the chain,
// in one transaction. If the table was missing, the record is complete
// (empty) afterwards.
func (b *Backend) prepare() error {
	_, err := b.conn.ListTableOfFamily(b.table.Name, b.table.Family)
	existed := err == nil
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return b.failed("look up table inet "+b.table.Name, err)
	}
	b.conn.AddTable(b.table)
	for _, s := range []*nftables.Set{b.set4, b.set6} {
		if err := b.conn.AddSet(s, nil); err != nil {
			b.reset() // drop the table queued above
			return fmt.Errorf("failed to create set %s: %w", s.Name, err)
		}
	}
	chain := b.conn.AddChain(&nftables.Chain{
		Name:     chainName,
		Table:    b.table,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  nftables.ChainHookForward,
		Priority: nftables.ChainPriorityRef(*nftables.ChainPriorityFilter - 10),
		Policy:   new(nftables.ChainPolicyAccept),
	})
	b.conn.FlushChain(chain)
	for _, r := range b.rules(chain) {
		b.conn.AddRule(r)
	}
	if err := b.conn.Flush(); err != nil {
		return b.failed("create table inet "+b.table.Name, err)
	}
	if !existed {
		b.known, b.record = true, newRecord(0)
	}
	return nil
}

// rules returns the chain's rules: drop a packet whose source and
// destination, in either order, are a pair.
func (b *Backend) rules(chain *nftables.Chain) []*nftables.Rule {
	// Registers: a concatenation's fields sit in consecutive 32-bit
	// registers from register 1 (NFT_REG32_00); an IPv4 address takes one
	// (the second starts at NFT_REG32_01), an IPv6 address four (the
	// second starts at NFT_REG_2, which is NFT_REG32_04).
	drop := func(proto byte, set *nftables.Set, first, second, size, secondReg uint32) *nftables.Rule {
		return &nftables.Rule{Table: b.table, Chain: chain, Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: first, Len: size},
			&expr.Payload{DestRegister: secondReg, Base: expr.PayloadBaseNetworkHeader, Offset: second, Len: size},
			&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID},
			&expr.Verdict{Kind: expr.VerdictDrop},
		}}
	}
	const (
		ip4Src, ip4Dst = 12, 16 // offsets in the IPv4 header
		ip6Src, ip6Dst = 8, 24  // offsets in the IPv6 header
	)
	return []*nftables.Rule{
		drop(unix.NFPROTO_IPV4, b.set4, ip4Src, ip4Dst, 4, unix.NFT_REG32_01),
		drop(unix.NFPROTO_IPV4, b.set4, ip4Dst, ip4Src, 4, unix.NFT_REG32_01),
		drop(unix.NFPROTO_IPV6, b.set6, ip6Src, ip6Dst, 16, unix.NFT_REG_2),
		drop(unix.NFPROTO_IPV6, b.set6, ip6Dst, ip6Src, 16, unix.NFT_REG_2),
	}
}

// fitsOneTx reports whether a transaction emptying the sets and adding
// elems fits in the socket's buffers.
func (b *Backend) fitsOneTx(elems []elem) bool {
	bytes, msgs := txOverhead, 2
	for i := 0; i < len(elems); {
		n := familyRun(elems[i:], elemsPerMessage)
		bytes += messageOverhead + n*elemSize(elems[i].key.is4(), opSet)
		msgs++
		i += n
	}
	return bytes <= b.sndbuf && msgs*ackSize <= b.rcvbuf
}

// replace empties both sets and adds elems, in one transaction, and makes
// the record hold exactly elems.
func (b *Backend) replace(elems []elem) error {
	b.conn.FlushSet(b.set4)
	b.conn.FlushSet(b.set6)
	if _, err := b.queue(opSet, elems, len(elems)); err != nil {
		return err
	}
	if err := b.flush("replace pairs"); err != nil {
		return err
	}
	b.known, b.record = true, newRecord(len(b.pending))
	b.commit(opSet)
	return nil
}

// op is what write does with elements.
type op int

const (
	// opMerge adds elements, each with the later of its expiry and the
	// one in the record: an element the record has until later is
	// skipped.
	opMerge op = iota
	// opSet adds elements with their expiries, which may shorten an
	// installed element's. The elements must be distinct.
	opSet
	// opDelete deletes elements.
	opDelete
)

// write applies o to elems (IPv4 first, see byFamily) in transactions of
// at most elemsPerTx elements, updating the record after each
// transaction the kernel accepts. When it fails, the transactions before
// the failing one stay applied.
func (b *Backend) write(ctx context.Context, o op, elems []elem) error {
	what := "add pairs"
	if o == opDelete {
		what = "delete pairs"
	}
	for len(elems) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := b.queue(o, elems, elemsPerTx)
		if err != nil {
			return err
		}
		if err := b.flush(what); err != nil {
			return err
		}
		b.commit(o)
		elems = elems[n:]
	}
	return nil
}

// commit records the elements of the transaction the kernel just
// accepted.
func (b *Backend) commit(o op) {
	for _, e := range b.pending {
		if o == opDelete {
			b.record.del(&e.key)
		} else {
			b.record.set(&e.key, e.exp)
		}
	}
}

// queue queues messages, at most elemsPerMessage elements each, for a
// prefix of elems of at most limit elements, and returns the prefix's
// length; b.pending holds the elements queued. Adds skip elements that
// have expired by the time they are queued; each added element's timeout
// runs from the moment its message is queued, so that a long install
// does not lengthen the last pairs' lives. With opMerge, the prefix ends
// before an element already queued, which the next transaction merges.
func (b *Backend) queue(o op, elems []elem, limit int) (int, error) {
	elems = elems[:min(limit, len(elems))]
	b.pending = b.pending[:0]
	var seen map[elemKey]bool
	if o == opMerge {
		seen = make(map[elemKey]bool, len(elems))
	}
	set := make([]nftables.SetElement, 0, min(len(elems), elemsPerMessage))
	var renew []nftables.SetElement
	i := 0
	for i < len(elems) {
		n := familyRun(elems[i:], elemsPerMessage)
		now := time.Now()
		set, renew = set[:0], renew[:0]
		for j := i; j < i+n; j++ {
			e := &elems[j]
			if o == opMerge {
				if seen[e.key] {
					n = j - i
					elems = elems[:j]
					break
				}
				exp, _ := b.record.get(&e.key)
				if e.exp <= exp {
					continue
				}
				seen[e.key] = true
				// The kernel keeps an element's timeout when it is added
				// again: a longer life is the element deleted and added
				// in the same transaction, so that it is never missing.
				// One that expires within removeSlack is left to expire
				// first, and merely added.
				if exp > now.Add(removeSlack).UnixMilli() {
					renew = append(renew, nftables.SetElement{Key: e.key.setKey()})
				}
			}
			se := nftables.SetElement{Key: e.key.setKey()}
			if o != opDelete {
				// A zero timeout would mean none: the pair would never
				// expire. Rounding up makes it at least a millisecond.
				left := time.UnixMilli(e.exp).Sub(now)
				if left <= 0 {
					continue
				}
				se.Timeout = (left + time.Millisecond - 1).Truncate(time.Millisecond)
			}
			set = append(set, se)
			b.pending = append(b.pending, *e)
		}
		if len(set) > 0 {
			s := b.set6
			if elems[i].key.is4() {
				s = b.set4
			}
			var err error
			switch {
			case o == opDelete:
				err = b.conn.SetDeleteElements(s, set)
			case len(renew) > 0:
				err = b.conn.SetDeleteElements(s, renew)
				if err == nil {
					err = b.conn.SetAddElements(s, set)
				}
			default:
				err = b.conn.SetAddElements(s, set)
			}
			if err != nil {
				// Drop what this transaction queued so far.
				b.reset()
				return 0, fmt.Errorf("failed to queue elements: %w", err)
			}
		}
		i += n
	}
	return len(elems), nil
}

// familyRun returns the length of the longest prefix of elems, at most
// limit, in one family.
func familyRun(elems []elem, limit int) int {
	n := 1
	for n < len(elems) && n < limit && elems[n].key.is4() == elems[0].key.is4() {
		n++
	}
	return n
}

// elemSize returns the bytes one element takes in a set-element message:
// its attribute header, the key attribute (header, data header, key) and,
// for adds, the timeout attribute.
func elemSize(is4 bool, o op) int {
	key := 32
	if is4 {
		key = 8
	}
	size := 4 + 4 + 4 + key
	if o != opDelete {
		size += 4 + 8
	}
	return size
}

// flush sends the queued transaction. A missing table or set (ENOENT:
// deleted behind the backend's back, or an element already gone) makes
// the record unreliable: the next call checks the table again.
func (b *Backend) flush(what string) error {
	err := b.conn.Flush()
	if err == nil {
		return nil
	}
	if errors.Is(err, unix.ENOENT) {
		b.known = false
		return fmt.Errorf("failed to %s: %w: table, set or element missing: %w", what, enforce.ErrTemporary, err)
	}
	return b.failed(what, err)
}

// failed classifies an error of the connection and replaces the
// connection, since an error may leave replies unread on it. After
// ENOBUFS the kernel may have applied the transaction although it said
// nothing: the record is reloaded before it is trusted again.
func (b *Backend) failed(what string, err error) error {
	if errors.Is(err, unix.ENOBUFS) {
		b.known = false
	}
	b.reset()
	return classify(what, err)
}

// reset replaces the connection with a new one, dropping any messages
// queued on the old one. If a lasting one cannot be opened, the new one
// opens a socket per request.
func (b *Backend) reset() {
	_ = b.conn.CloseLasting()
	conn, err := nftables.New(append(b.connOpts, nftables.AsLasting())...)
	if err != nil {
		// Without AsLasting, New only records the options.
		conn, _ = nftables.New(b.connOpts...)
	}
	b.conn = conn
}

// verify reads the sets back, when they hold at most maxVerify pairs, and
// checks that each written pair is installed and expires no earlier than
// asked: netlink can drop elements silently, and older kernels do not
// refresh the timeout of an element added again.
func (b *Backend) verify(written []elem) error {
	if len(written) == 0 || b.record.len() > maxVerify {
		return nil
	}
	installed, err := b.dump()
	if err != nil {
		return err
	}
	got := make(map[elemKey]int64, len(installed))
	for _, p := range installed {
		got[keyOf(p.Key)] = installedMillis(p)
	}
	soon := time.Now().Add(removeSlack).UnixMilli()
	slack := expirySlack.Milliseconds()
	var missing, short int
	for _, e := range written {
		if e.exp <= soon {
			continue // may have expired since
		}
		exp, ok := got[e.key]
		switch {
		case !ok:
			missing++
			b.record.del(&e.key)
		case exp < e.exp-slack:
			short++
			b.record.set(&e.key, exp)
		}
	}
	switch {
	case missing > 0:
		return fmt.Errorf("failed to verify pairs: %d of %d written are not in the kernel's sets", missing, len(written))
	case short > 0:
		return fmt.Errorf("failed to verify pairs: %w: the kernel kept an earlier timeout for %d of %d pairs written again (it does not refresh elements added again)", enforce.ErrConfig, short, len(written))
	}
	return nil
}

// dump reads both sets, sorted. Expiries are computed from the time the
// read started, so they may be early by the read's duration.
func (b *Backend) dump() ([]enforce.Pair, error) {
	start := time.Now()
	var out []enforce.Pair
	for _, s := range []*nftables.Set{b.set4, b.set6} {
		elems, err := b.conn.GetSetElements(s)
		if err != nil {
			return nil, b.failed("read set "+s.Name, err)
		}
		for _, e := range elems {
			k, ok := parseElemKey(e.Key)
			if !ok {
				return nil, fmt.Errorf("failed to read set %s: element key of %d bytes", s.Name, len(e.Key))
			}
			p := enforce.Pair{Key: k.pair()}
			if e.Timeout != 0 {
				if e.Expires == 0 {
					continue // expired, not yet collected
				}
				p.Expires = start.Add(e.Expires)
			}
			out = append(out, p)
		}
	}
	enforce.SortPairs(out)
	return out, nil
}

// prune drops expired pairs from the record, at most once a minute.
func (b *Backend) prune(now time.Time) {
	if now.Sub(b.lastPrune) < time.Minute {
		return
	}
	b.lastPrune = now
	b.record.expire(now.UnixMilli())
}

// reserve makes room in the record for n more pairs, so that a large
// install does not grow its maps step by step.
func (b *Backend) reserve(n int) {
	if n <= b.record.len() {
		return
	}
	grown := newRecord(b.record.len() + n)
	for k, exp := range b.record.all {
		grown.set(&k, exp)
	}
	b.record = grown
}

// record maps pairs to expiries in Unix milliseconds. IPv4 pairs, the
// bulk, have a map of their own whose entries take 16 bytes: a map of
// millions of pairs is cheaper the fewer cache lines it spans.
type record struct {
	v4 map[[8]byte]int64
	v6 map[[32]byte]int64
}

// newRecord returns an empty record with room for n IPv4 pairs.
func newRecord(n int) record {
	return record{v4: make(map[[8]byte]int64, n), v6: map[[32]byte]int64{}}
}

func (r *record) get(k *elemKey) (int64, bool) {
	if k.is4() {
		exp, ok := r.v4[[8]byte(k[:8])]
		return exp, ok
	}
	exp, ok := r.v6[[32]byte(k[:32])]
	return exp, ok
}

func (r *record) set(k *elemKey, exp int64) {
	if k.is4() {
		r.v4[[8]byte(k[:8])] = exp
	} else {
		r.v6[[32]byte(k[:32])] = exp
	}
}

func (r *record) del(k *elemKey) {
	if k.is4() {
		delete(r.v4, [8]byte(k[:8]))
	} else {
		delete(r.v6, [32]byte(k[:32]))
	}
}

func (r *record) len() int { return len(r.v4) + len(r.v6) }

// all yields every pair and its expiry.
func (r *record) all(yield func(elemKey, int64) bool) {
	for k, exp := range r.v4 {
		if !yield(v4Key(k), exp) {
			return
		}
	}
	for k, exp := range r.v6 {
		if !yield(v6Key(k), exp) {
			return
		}
	}
}

// expire drops the pairs that expire at or before now.
func (r *record) expire(now int64) {
	maps.DeleteFunc(r.v4, func(_ [8]byte, exp int64) bool { return exp <= now })
	maps.DeleteFunc(r.v6, func(_ [32]byte, exp int64) bool { return exp <= now })
}

// elemKey is a pair as its set's key: the local address, then the
// remote one, in the first 8 bytes for IPv4 or 32 for IPv6; the last byte
// is the length of one address. It holds no pointer, so that the record
// of millions of pairs costs the garbage collector nothing.
type elemKey [33]byte

func keyOf(k enforce.Key) elemKey {
	var e elemKey
	if k.Local.Is4() {
		l, r := k.Local.As4(), k.Remote.As4()
		copy(e[:4], l[:])
		copy(e[4:8], r[:])
		e[32] = 4
	} else {
		l, r := k.Local.As16(), k.Remote.As16()
		copy(e[:16], l[:])
		copy(e[16:32], r[:])
		e[32] = 16
	}
	return e
}

func v4Key(b [8]byte) elemKey {
	var e elemKey
	copy(e[:], b[:])
	e[32] = 4
	return e
}

func v6Key(b [32]byte) elemKey {
	var e elemKey
	copy(e[:], b[:])
	e[32] = 16
	return e
}

// parseElemKey decodes a set element's key.
func parseElemKey(b []byte) (elemKey, bool) {
	var e elemKey
	switch len(b) {
	case 8:
		e[32] = 4
	case 32:
		e[32] = 16
	default:
		return e, false
	}
	copy(e[:], b)
	return e, true
}

func (e *elemKey) is4() bool { return e[32] == 4 }

// setKey returns the key's bytes as the set holds them.
func (e *elemKey) setKey() []byte { return e[:2*e[32]] }

func (e *elemKey) pair() enforce.Key {
	if e.is4() {
		return enforce.Key{Local: netip.AddrFrom4([4]byte(e[:4])), Remote: netip.AddrFrom4([4]byte(e[4:8]))}
	}
	return enforce.Key{Local: netip.AddrFrom16([16]byte(e[:16])), Remote: netip.AddrFrom16([16]byte(e[16:32]))}
}

// elem is a pair to write: its key and its expiry in Unix milliseconds.
type elem struct {
	key elemKey
	exp int64
}

// expiryMillis returns t in Unix milliseconds, rounded up, and at most
// maxLife after now.
func expiryMillis(t time.Time, nowMs int64) int64 {
	ms := t.UnixMilli()
	if t.After(time.UnixMilli(ms)) {
		ms++
	}
	return min(ms, nowMs+maxLife.Milliseconds())
}

// installedMillis returns the expiry of a pair read from the kernel in
// Unix milliseconds; a pair without a timeout never expires.
func installedMillis(p enforce.Pair) int64 {
	if p.Expires.IsZero() {
		return math.MaxInt64
	}
	return p.Expires.UnixMilli()
}

// byFamily returns the pairs of m, IPv4 first, so that each message holds
// as many elements of one family as it may.
func byFamily(m map[elemKey]int64) []elem {
	out := make([]elem, 0, len(m))
	for _, four := range []bool{true, false} {
		for k, exp := range m {
			if k.is4() == four {
				out = append(out, elem{key: k, exp: exp})
			}
		}
	}
	return out
}

// classify wraps a netlink error with what failed and, where the errno
// says, enforce.ErrConfig or enforce.ErrTemporary.
func classify(what string, err error) error {
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("failed to %s: %w (needs root or CAP_NET_ADMIN): %w", what, enforce.ErrConfig, err)
	case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.EPROTONOSUPPORT), errors.Is(err, unix.EAFNOSUPPORT):
		return fmt.Errorf("failed to %s: %w (kernel lacks nf_tables support): %w", what, enforce.ErrConfig, err)
	case errors.Is(err, unix.EEXIST):
		return fmt.Errorf("failed to %s: %w (a set or chain of the same name is defined otherwise; delete the table or choose another): %w", what, enforce.ErrConfig, err)
	case errors.Is(err, unix.ENOBUFS), errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EBUSY),
		errors.Is(err, unix.EINTR), errors.Is(err, unix.ENOMEM):
		return fmt.Errorf("failed to %s: %w: %w", what, enforce.ErrTemporary, err)
	}
	return fmt.Errorf("failed to %s: %w", what, err)
}
