package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/docket-project/docket/enforce"
	"github.com/docket-project/docket/enforce/nft"
)

// The measured flow, between documentation addresses that exist only in
// the namespaces the program creates:
//
//	sub 198.51.100.2 ── 198.51.100.1 router 203.0.113.1 ── remote 203.0.113.2
//	    s0                  r0                r1                  m0
const (
	subAddr    = "198.51.100.2"
	subGW      = "198.51.100.1"
	remoteAddr = "203.0.113.2"
	remoteGW   = "203.0.113.1"
)

// Timing of the forwarding measurement, besides its duration.
const (
	// warmUp passes between connecting and the start of the counted
	// interval, so that slow start is not measured.
	warmUp = time.Second
	// settle passes after the sets change before a measurement, for the
	// kernel's deferred work (resizing the hash table, freeing elements)
	// to end.
	settle = 2 * time.Second
	// connectTimeout bounds connecting and accepting.
	connectTimeout = 3 * time.Second
	// drainSlack bounds, past the counted interval, how long the sender
	// and the receiver may still block.
	drainSlack = 5 * time.Second
)

// forwardConfig holds the flags of the forwarding measurement.
type forwardConfig struct {
	n        int           // pairs installed for the "full" measurements
	duration time.Duration // counted interval of each measurement
	runs     int           // measurements of each kind
	gsoSegs  int           // if positive, gso_max_segs of the sender's link
}

// topology is the three namespaces of the measurement.
type topology struct {
	sub, router, remote *namespace
}

// namespace is a named network namespace the program created.
type namespace struct {
	name string
	file *os.File
}

// flowResult is one measurement.
type flowResult struct {
	bytes    int64
	interval time.Duration
	mss      int
	// packets is the number of packets the router forwarded, both
	// directions (data and acknowledgements): each went through the
	// forward chain's lookups once.
	packets uint64
}

func (r flowResult) gbps() float64 { return float64(r.bytes) * 8 / r.interval.Seconds() / 1e9 }

// segmentsPerSecond estimates the data packets per second on a wire whose
// packets carry one MSS each.
func (r flowResult) segmentsPerSecond() float64 {
	return float64(r.bytes) / float64(r.mss) / r.interval.Seconds()
}

func (r flowResult) packetsPerSecond() float64 { return float64(r.packets) / r.interval.Seconds() }

func (r flowResult) String() string {
	return fmt.Sprintf("%6.2f Gbit/s  (%.0f segments/s of %d B; router forwarded %.0f packets/s, both directions)",
		r.gbps(), r.segmentsPerSecond(), r.mss, r.packetsPerSecond())
}

// runForward measures TCP throughput through a router namespace whose
// forward chain holds the backend's table, with empty sets and with cfg.n
// pairs, none of them the measured flow's, alternating the two.
func runForward(ctx context.Context, cfg forwardConfig) (err error) {
	if cfg.n < 1 || cfg.runs < 1 || cfg.duration <= 0 {
		return fmt.Errorf("-n, -runs and -duration must be positive")
	}
	top, cleanup, err := newTopology(cfg.gsoSegs)
	defer func() {
		if cerr := cleanup(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if err != nil {
		return err
	}

	pairs := forwardPairs(cfg.n, time.Now().Add(24*time.Hour))
	flow := enforce.Key{Local: netip.MustParseAddr(subAddr), Remote: netip.MustParseAddr(remoteAddr)}
	for _, p := range pairs {
		if p.Key == flow || p.Key == (enforce.Key{Local: flow.Remote, Remote: flow.Local}) {
			return fmt.Errorf("internal error: pair %v matches the measured flow", p.Key)
		}
	}
	gso := "veth default GSO"
	if cfg.gsoSegs > 0 {
		gso = fmt.Sprintf("gso_max_segs %d on s0", cfg.gsoSegs)
	}
	fmt.Printf("forwarding: sub %s -> router (table inet %s in the forward hook) -> remote %s\n", subAddr, nft.DefaultTable, remoteAddr)
	fmt.Printf("            1 TCP stream, %v counted after %v warm-up, %d runs each, %s, %d CPUs\n",
		cfg.duration, warmUp, cfg.runs, gso, runtime.NumCPU())
	fmt.Printf("pairs:      %d IPv4 (none of them %s . %s either way)\n", len(pairs), subAddr, remoteAddr)
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("load:       %s (before; other processes may share the CPUs)\n", strings.Join(strings.Fields(string(load))[:3], " "))
	}

	// The table with empty sets.
	if _, err := reconcile(ctx, top.router, nil); err != nil {
		return err
	}
	var empty, full []flowResult
	var last *nft.Backend // the backend that installed the pairs last
	defer func() {
		if last != nil {
			last.Close()
		}
	}()
	for run := 1; run <= cfg.runs; run++ {
		if run > 1 { // empty the sets again
			start := time.Now()
			if _, err := reconcile(ctx, top.router, nil); err != nil {
				return err
			}
			fmt.Printf("emptied the sets in %v\n", time.Since(start).Round(time.Millisecond))
		}
		r, err := measureAfterSettling(ctx, top, cfg.duration)
		if err != nil {
			return fmt.Errorf("run %d, empty sets: %w", run, err)
		}
		fmt.Printf("run %d empty: %v\n", run, r)
		empty = append(empty, r)

		if last != nil {
			last.Close()
			last = nil
		}
		start := time.Now()
		if last, err = reconcile(ctx, top.router, pairs); err != nil {
			return err
		}
		fmt.Printf("installed %d pairs in %v (fresh backend's Reconcile)\n", len(pairs), time.Since(start).Round(time.Millisecond))
		if r, err = measureAfterSettling(ctx, top, cfg.duration); err != nil {
			return fmt.Errorf("run %d, %d pairs: %w", run, len(pairs), err)
		}
		fmt.Printf("run %d full:  %v\n", run, r)
		full = append(full, r)
	}

	// The chain does look the flow up: installing its pair stops it.
	if err := last.Add(ctx, []enforce.Pair{{Key: flow, Expires: time.Now().Add(time.Minute)}}); err != nil {
		return err
	}
	if err := tryConnect(ctx, top, time.Second); err == nil {
		return fmt.Errorf("the flow still connects with its pair installed: the forward chain is not in its path")
	}
	fmt.Printf("check:      with %s . %s added, the flow no longer connects\n", subAddr, remoteAddr)

	e, f := median(empty), median(full)
	fmt.Printf("empty sets:  median %6.2f Gbit/s, %.0f segments/s\n", e.gbps(), e.segmentsPerSecond())
	fmt.Printf("%d pairs: median %6.2f Gbit/s, %.0f segments/s\n", len(pairs), f.gbps(), f.segmentsPerSecond())
	fmt.Printf("full / empty: %.3fx (target >= 0.9x)\n", f.gbps()/e.gbps())
	return nil
}

// median returns the measurement of median throughput.
func median(rs []flowResult) flowResult {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b flowResult) int {
		switch {
		case a.gbps() < b.gbps():
			return -1
		case a.gbps() > b.gbps():
			return 1
		}
		return 0
	})
	return s[len(s)/2]
}

// forwardPairs returns n distinct IPv4 pairs, none of them the measured
// flow in either order. The first ones share one address with the flow
// (the subscriber with every other remote of 203.0.113.0/24, every other
// subscriber of 198.51.100.0/24 with the remote); the rest are
// makePairs's, from the benchmarking range.
func forwardPairs(n int, expires time.Time) []enforce.Pair {
	sub, remote := netip.MustParseAddr(subAddr).As4(), netip.MustParseAddr(remoteAddr).As4()
	var near []enforce.Pair
	for host := 3; host <= 254; host++ {
		other := remote
		other[3] = byte(host)
		near = append(near, enforce.Pair{Key: enforce.Key{Local: netip.AddrFrom4(sub), Remote: netip.AddrFrom4(other)}, Expires: expires})
		other = sub
		other[3] = byte(host)
		near = append(near, enforce.Pair{Key: enforce.Key{Local: netip.AddrFrom4(other), Remote: netip.AddrFrom4(remote)}, Expires: expires})
	}
	near = near[:min(n, len(near))]
	return append(near, makePairs(n-len(near), expires)...)
}

// reconcile makes the router's sets hold exactly pairs, with a new
// backend (which, the table existing, empties and refills the sets in one
// transaction without reading them). It returns the backend, which knows
// what it installed, or closes it if pairs is empty.
func reconcile(ctx context.Context, ns *namespace, pairs []enforce.Pair) (*nft.Backend, error) {
	b, err := nft.New(nft.WithNetNS(int(ns.file.Fd())))
	if err != nil {
		return nil, err
	}
	if err := b.Reconcile(ctx, pairs); err != nil {
		b.Close()
		return nil, err
	}
	if len(pairs) == 0 {
		return nil, b.Close()
	}
	return b, nil
}

// newTopology creates the three namespaces and the links between them.
// cleanup deletes the namespaces that were created; it must be called
// even when newTopology fails.
func newTopology(gsoSegs int) (top *topology, cleanup func() error, err error) {
	var created []*namespace
	cleanup = func() error {
		var errs []error
		for _, ns := range slices.Backward(created) {
			ns.file.Close()
			if out, err := exec.Command("ip", "netns", "delete", ns.name).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("ip netns delete %s: %v: %s", ns.name, err, out))
			}
		}
		created = nil
		return errors.Join(errs...)
	}
	prefix := "docket-bench-" + rand.Text()[:8] + "-"
	newNS := func(role string) (*namespace, error) {
		name := prefix + role
		if err := ipCmd("netns", "add", name); err != nil {
			return nil, err
		}
		f, err := os.Open("/run/netns/" + name)
		if err != nil {
			exec.Command("ip", "netns", "delete", name).Run()
			return nil, err
		}
		ns := &namespace{name: name, file: f}
		created = append(created, ns)
		return ns, nil
	}
	top = &topology{}
	for _, p := range []struct {
		ns   **namespace
		role string
	}{{&top.sub, "sub"}, {&top.router, "router"}, {&top.remote, "remote"}} {
		if *p.ns, err = newNS(p.role); err != nil {
			return nil, cleanup, err
		}
	}
	sub, router, remote := top.sub.name, top.router.name, top.remote.name
	cmds := [][]string{
		{"-n", sub, "link", "add", "s0", "type", "veth", "peer", "name", "r0", "netns", router},
		{"-n", router, "link", "add", "r1", "type", "veth", "peer", "name", "m0", "netns", remote},
		{"-n", sub, "addr", "add", subAddr + "/24", "dev", "s0"},
		{"-n", sub, "link", "set", "s0", "up"},
		{"-n", sub, "route", "add", "default", "via", subGW},
		{"-n", router, "addr", "add", subGW + "/24", "dev", "r0"},
		{"-n", router, "addr", "add", remoteGW + "/24", "dev", "r1"},
		{"-n", router, "link", "set", "r0", "up"},
		{"-n", router, "link", "set", "r1", "up"},
		{"-n", remote, "addr", "add", remoteAddr + "/24", "dev", "m0"},
		{"-n", remote, "link", "set", "m0", "up"},
		{"-n", remote, "route", "add", "default", "via", remoteGW},
	}
	if gsoSegs > 0 {
		cmds = append(cmds, []string{"-n", sub, "link", "set", "s0", "gso_max_segs", strconv.Itoa(gsoSegs)})
	}
	for _, args := range cmds {
		if err := ipCmd(args...); err != nil {
			return nil, cleanup, err
		}
	}
	if err := inNS(top.router, func() error {
		return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644)
	}); err != nil {
		return nil, cleanup, fmt.Errorf("failed to enable forwarding: %w", err)
	}
	return top, cleanup, nil
}

// ipCmd runs the ip command with fixed arguments.
func ipCmd(args ...string) error {
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// inNS runs fn on a thread of its own switched to ns. Sockets fn creates
// stay in ns when used from other threads.
func inNS(ns *namespace, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(netns.NsHandle(int(ns.file.Fd()))); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("failed to enter network namespace %s: %w", ns.name, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// Leave the thread locked: it ends with this goroutine.
			errc <- fmt.Errorf("failed to restore network namespace: %w", err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func measureAfterSettling(ctx context.Context, top *topology, d time.Duration) (flowResult, error) {
	if err := sleep(ctx, settle); err != nil {
		return flowResult{}, err
	}
	return measure(ctx, top, d)
}

// connect opens a TCP connection from the subscriber to the remote host
// and returns both ends, sender first.
func connect(ctx context.Context, top *topology, timeout time.Duration) (send, recv *net.TCPConn, err error) {
	var ln *net.TCPListener
	if err := inNS(top.remote, func() (err error) {
		ln, err = net.ListenTCP("tcp4", &net.TCPAddr{IP: net.ParseIP(remoteAddr)})
		return err
	}); err != nil {
		return nil, nil, err
	}
	defer ln.Close()
	var c net.Conn
	if err := inNS(top.sub, func() (err error) {
		d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(subAddr)}}
		c, err = d.DialContext(ctx, "tcp4", ln.Addr().String())
		return err
	}); err != nil {
		return nil, nil, err
	}
	if err := ln.SetDeadline(time.Now().Add(timeout)); err != nil {
		c.Close()
		return nil, nil, err
	}
	rc, err := ln.AcceptTCP()
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return c.(*net.TCPConn), rc, nil
}

// tryConnect reports whether the subscriber can connect to the remote
// host within timeout.
func tryConnect(ctx context.Context, top *topology, timeout time.Duration) error {
	send, recv, err := connect(ctx, top, timeout)
	if err == nil {
		send.Close()
		recv.Close()
	}
	return err
}

// measure sends as fast as it can from the subscriber to the remote host
// for warmUp and then d, and counts the bytes received and the packets
// the router forwarded during d.
func measure(ctx context.Context, top *topology, d time.Duration) (flowResult, error) {
	send, recv, err := connect(ctx, top, connectTimeout)
	if err != nil {
		return flowResult{}, fmt.Errorf("failed to connect: %w", err)
	}
	defer send.Close()
	defer recv.Close()
	mss, err := maxSegment(send)
	if err != nil {
		return flowResult{}, err
	}
	hardEnd := time.Now().Add(warmUp + d + drainSlack)
	if err := send.SetWriteDeadline(hardEnd); err != nil {
		return flowResult{}, err
	}
	if err := recv.SetReadDeadline(hardEnd.Add(drainSlack)); err != nil {
		return flowResult{}, err
	}

	var received atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	var sendErr, recvErr error
	wg.Add(2)
	go func() { // sender, bounded by stop and the write deadline
		defer wg.Done()
		buf := make([]byte, 4<<20)
		for !stop.Load() {
			if _, err := send.Write(buf); err != nil {
				if !stop.Load() {
					sendErr = err
				}
				return
			}
		}
	}()
	go func() { // receiver, bounded by the read deadline
		defer wg.Done()
		buf := make([]byte, 1<<20)
		for {
			n, err := recv.Read(buf)
			received.Add(int64(n))
			if err != nil {
				if !stop.Load() {
					recvErr = err
				}
				return
			}
		}
	}()
	finish := func() {
		stop.Store(true)
		send.SetWriteDeadline(time.Now()) // interrupt a blocked write
		recv.SetReadDeadline(time.Now())
		wg.Wait()
	}

	if err := sleep(ctx, warmUp); err != nil {
		finish()
		return flowResult{}, err
	}
	p0, err := forwardedPackets(top.router)
	if err != nil {
		finish()
		return flowResult{}, err
	}
	b0, t0 := received.Load(), time.Now()
	serr := sleep(ctx, d)
	b1, t1 := received.Load(), time.Now()
	p1, perr := forwardedPackets(top.router)
	finish()
	switch {
	case serr != nil:
		return flowResult{}, serr
	case perr != nil:
		return flowResult{}, perr
	case sendErr != nil:
		return flowResult{}, fmt.Errorf("sender: %w", sendErr)
	case recvErr != nil:
		return flowResult{}, fmt.Errorf("receiver: %w", recvErr)
	case b1 == b0:
		return flowResult{}, fmt.Errorf("no byte received in %v", d)
	}
	return flowResult{bytes: b1 - b0, interval: t1.Sub(t0), mss: mss, packets: p1 - p0}, nil
}

// maxSegment returns the connection's maximum segment size.
func maxSegment(c *net.TCPConn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var mss int
	var serr error
	if err := rc.Control(func(fd uintptr) {
		mss, serr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_MAXSEG)
	}); err != nil {
		return 0, err
	}
	if serr == nil && mss <= 0 {
		serr = fmt.Errorf("MSS %d", mss)
	}
	return mss, serr
}

// forwardedPackets returns the packets the router's two links have
// transmitted: the ones it forwarded, in both directions.
func forwardedPackets(router *namespace) (uint64, error) {
	var data []byte
	if err := inNS(router, func() (err error) {
		// /proc/thread-self/net shows the thread's network namespace.
		data, err = os.ReadFile("/proc/thread-self/net/dev")
		return err
	}); err != nil {
		return 0, err
	}
	var total uint64
	found := 0
	for _, line := range strings.Split(string(data), "\n") {
		name, stats, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		if name = strings.TrimSpace(name); name != "r0" && name != "r1" {
			continue
		}
		fields := strings.Fields(stats)
		if len(fields) < 10 {
			return 0, fmt.Errorf("unexpected line in /proc/net/dev: %q", line)
		}
		tx, err := strconv.ParseUint(fields[9], 10, 64) // transmit packets
		if err != nil {
			return 0, fmt.Errorf("unexpected line in /proc/net/dev: %q", line)
		}
		total += tx
		found++
	}
	if found != 2 {
		return 0, fmt.Errorf("router links r0 and r1 not found in /proc/net/dev")
	}
	return total, nil
}
