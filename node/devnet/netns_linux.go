package devnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// NamespaceDir is where named network namespaces live (as "ip netns"
// keeps them).
const NamespaceDir = "/run/netns"

// NS is a named network namespace of a devnet.
type NS struct {
	// Name is the namespace's name, Path its file in NamespaceDir.
	Name, Path string
	handle     netns.NsHandle
}

// Do runs fn on an OS thread that is in the namespace, so that the
// sockets fn creates and the processes it starts belong to it.
func (ns *NS) Do(fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("failed to read the current network namespace: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(ns.handle); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("failed to enter network namespace %s: %w", ns.Name, err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		// The thread stays locked and ends with the goroutine: it must
		// never run anything else in the wrong namespace.
		return errors.Join(ferr, fmt.Errorf("failed to leave network namespace %s: %w", ns.Name, err))
	}
	runtime.UnlockOSThread()
	return ferr
}

// Start starts cmd inside the namespace.
func (ns *NS) Start(cmd *exec.Cmd) error {
	return ns.Do(cmd.Start)
}

// DialContext dials from inside the namespace; it fits
// http.Transport.DialContext.
func (ns *NS) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return ns.DialFrom(ctx, netip.Addr{}, network, addr)
}

// DialFrom dials addr from the local address from (any if invalid)
// inside the namespace.
func (ns *NS) DialFrom(ctx context.Context, from netip.Addr, network, addr string) (net.Conn, error) {
	var d net.Dialer
	if from.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: from.AsSlice()}
	}
	var c net.Conn
	err := ns.Do(func() (err error) {
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// Topology is the network of an nft-mode devnet: three namespaces in a
// line, none connected to the machine's own network.
//
//	world (every docket process, the tracker, remote seeders, isp-two)
//	  └ w0 10.99.0.1/30 ── r0 10.99.0.2/30  router (isp-one's nftables)
//	                        r1 10.99.1.1/30 ── s0 10.99.1.2/30  subs (isp-one's subscribers)
type Topology struct {
	World, Router, Subs *NS
}

// NamespacePrefix starts the name of every namespace a devnet creates.
const NamespacePrefix = "docket-devnet-"

// NewTopology creates the namespaces, named NamespacePrefix + tag + a
// role, and the links, addresses and routes of plan. On error it removes
// what it created.
func NewTopology(tag string, plan *Plan) (t *Topology, err error) {
	t = &Topology{}
	defer func() {
		if err != nil {
			err = errors.Join(err, t.Close())
		}
	}()
	for _, n := range []struct {
		ns   **NS
		role string
	}{{&t.World, "world"}, {&t.Router, "router"}, {&t.Subs, "subs"}} {
		if *n.ns, err = newNS(NamespacePrefix + tag + "-" + n.role); err != nil {
			return t, err
		}
	}
	if err := t.wire(plan); err != nil {
		return t, err
	}
	return t, nil
}

// newNS creates a named namespace and returns to the caller's.
func newNS(name string) (*NS, error) {
	ns := &NS{Name: name, Path: filepath.Join(NamespaceDir, name)}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("failed to read the current network namespace: %w", err)
	}
	defer orig.Close()
	h, err := netns.NewNamed(name)
	if serr := netns.Set(orig); serr != nil {
		panic(fmt.Sprintf("devnet: cannot return to the original network namespace: %v", serr))
	}
	if err != nil {
		return nil, fmt.Errorf("failed to create network namespace %s: %w", name, err)
	}
	ns.handle = h
	return ns, nil
}

// wire creates the veth links and sets addresses, routes and forwarding.
func (t *Topology) wire(plan *Plan) error {
	world, err := netlink.NewHandleAt(t.World.handle)
	if err != nil {
		return fmt.Errorf("failed to open netlink in %s: %w", t.World.Name, err)
	}
	defer world.Close()
	router, err := netlink.NewHandleAt(t.Router.handle)
	if err != nil {
		return fmt.Errorf("failed to open netlink in %s: %w", t.Router.Name, err)
	}
	defer router.Close()
	subs, err := netlink.NewHandleAt(t.Subs.handle)
	if err != nil {
		return fmt.Errorf("failed to open netlink in %s: %w", t.Subs.Name, err)
	}
	defer subs.Close()

	if err := world.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "w0"}, PeerName: "r0", PeerNamespace: netlink.NsFd(int(t.Router.handle))}); err != nil {
		return fmt.Errorf("failed to create the veth pair world-router: %w", err)
	}
	if err := router.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "r1"}, PeerName: "s0", PeerNamespace: netlink.NsFd(int(t.Subs.handle))}); err != nil {
		return fmt.Errorf("failed to create the veth pair router-subs: %w", err)
	}
	// Addresses: each namespace's own, and on lo the peers it hosts.
	var worldAddrs, subsAddrs []netip.Addr
	add := func(list *[]netip.Addr, a netip.Addr) {
		for _, x := range *list {
			if x == a {
				return
			}
		}
		*list = append(*list, a)
	}
	for _, a := range append([]netip.AddrPort{plan.Tracker, plan.Observer}, plan.Remote...) {
		add(&worldAddrs, a.Addr())
	}
	for _, a := range append([]netip.AddrPort{plan.Protected, plan.Joe}, plan.Local...) {
		add(&subsAddrs, a.Addr())
	}
	for i := 0; i < plan.MaxCycles; i++ {
		add(&subsAddrs, plan.Cycle(i).Addr())
	}
	steps := []struct {
		h     *netlink.Handle
		where string
		link  string
		addrs []string
	}{
		{world, t.World.Name, "lo", hostPrefixes(worldAddrs)},
		{world, t.World.Name, "w0", []string{"10.99.0.1/30"}},
		{router, t.Router.Name, "lo", nil},
		{router, t.Router.Name, "r0", []string{"10.99.0.2/30"}},
		{router, t.Router.Name, "r1", []string{"10.99.1.1/30"}},
		{subs, t.Subs.Name, "lo", hostPrefixes(subsAddrs)},
		{subs, t.Subs.Name, "s0", []string{"10.99.1.2/30"}},
	}
	for _, s := range steps {
		link, err := s.h.LinkByName(s.link)
		if err != nil {
			return fmt.Errorf("failed to find %s in %s: %w", s.link, s.where, err)
		}
		for _, a := range s.addrs {
			addr, err := netlink.ParseAddr(a)
			if err != nil {
				return err
			}
			if err := s.h.AddrAdd(link, addr); err != nil {
				return fmt.Errorf("failed to add %s to %s in %s: %w", a, s.link, s.where, err)
			}
		}
		if err := s.h.LinkSetUp(link); err != nil {
			return fmt.Errorf("failed to bring %s up in %s: %w", s.link, s.where, err)
		}
	}
	routes := []struct {
		h     *netlink.Handle
		where string
		dst   string
		gw    string
	}{
		{world, t.World.Name, plan.ISPOnePrefix.String(), "10.99.0.2"},
		{world, t.World.Name, "10.99.1.0/30", "10.99.0.2"},
		{router, t.Router.Name, plan.ISPOnePrefix.String(), "10.99.1.2"},
		{router, t.Router.Name, "0.0.0.0/0", "10.99.0.1"},
		{subs, t.Subs.Name, "0.0.0.0/0", "10.99.1.1"},
	}
	for _, r := range routes {
		_, dst, err := net.ParseCIDR(r.dst)
		if err != nil {
			return err
		}
		if err := r.h.RouteAdd(&netlink.Route{Dst: dst, Gw: net.ParseIP(r.gw)}); err != nil {
			return fmt.Errorf("failed to route %s via %s in %s: %w", r.dst, r.gw, r.where, err)
		}
	}
	// The router forwards; /proc/sys/net shows the namespace of the
	// thread that opens it.
	return t.Router.Do(func() error {
		if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644); err != nil {
			return fmt.Errorf("failed to enable forwarding in %s: %w", t.Router.Name, err)
		}
		return nil
	})
}

func hostPrefixes(addrs []netip.Addr) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = netip.PrefixFrom(a, a.BitLen()).String()
	}
	return out
}

// Close deletes the namespaces, and with them their links, addresses,
// routes and nftables. Processes still inside keep a namespace alive
// until they exit: stop them first.
func (t *Topology) Close() error {
	var errs []error
	for _, ns := range []*NS{t.World, t.Router, t.Subs} {
		if ns == nil {
			continue
		}
		ns.handle.Close()
		if err := netns.DeleteNamed(ns.Name); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("failed to delete network namespace %s: %w", ns.Name, err))
		}
	}
	return errors.Join(errs...)
}

// RemoveStale deletes the namespaces a devnet that did not clean up left
// behind (it was killed), if their tag's process is gone. It returns the
// names it removed.
func RemoveStale(alive func(tag string) bool) ([]string, error) {
	entries, err := os.ReadDir(NamespaceDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		name, ok := strings.CutPrefix(e.Name(), NamespacePrefix)
		if !ok {
			continue
		}
		tag, _, _ := strings.Cut(name, "-")
		if alive(tag) {
			continue
		}
		if err := netns.DeleteNamed(e.Name()); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, e.Name())
	}
	return removed, errors.Join(errs...)
}

// Probe reports whether a TCP connection from one address to another
// opens within timeout, from inside ns.
func Probe(ctx context.Context, ns *NS, from netip.Addr, to netip.AddrPort, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var c net.Conn
	var err error
	if ns == nil {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: from.AsSlice()}}
		c, err = d.DialContext(ctx, "tcp", to.String())
	} else {
		c, err = ns.DialFrom(ctx, from, "tcp", to.String())
	}
	if err != nil {
		return err
	}
	return c.Close()
}
