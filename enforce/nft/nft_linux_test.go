package nft_test

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
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/docket-project/docket/enforce"
	"github.com/docket-project/docket/enforce/enforcetest"
	"github.com/docket-project/docket/enforce/nft"
)

// requireRoot skips a test that needs root, or fails it in CI, where the
// tests must really run.
func requireRoot(t *testing.T) {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "this test needs root and CAP_NET_ADMIN to create network namespaces and nftables tables"
	} else if _, err := exec.LookPath("ip"); err != nil {
		why = "this test needs the ip command (iproute2) to create network namespaces"
	}
	if why != "" {
		skipOutsideCI(t, why)
	}
}

// requireNft skips a test that needs the nft command, or fails it in CI.
func requireNft(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		skipOutsideCI(t, "this test needs the nft command (nftables)")
	}
}

// skipOutsideCI skips the test, or fails it in CI, where the tests must
// really run.
func skipOutsideCI(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// netNS is a named network namespace that lives as long as the test.
type netNS struct {
	name string
	file *os.File
}

// newNetNS creates a network namespace named docket-test-<random> and
// removes it when the test ends.
func newNetNS(t *testing.T) *netNS {
	t.Helper()
	requireRoot(t)
	name := "docket-test-" + rand.Text()[:10]
	ip(t, "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns delete %s: %v\n%s", name, err, out)
		}
	})
	f, err := os.Open("/run/netns/" + name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &netNS{name: name, file: f}
}

// ip runs the ip command with fixed arguments.
func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// newBackend returns a backend working in ns, closed when the test ends.
func newBackend(t *testing.T, ns *netNS, opts ...nft.Option) *nft.Backend {
	t.Helper()
	b, err := nft.New(append([]nft.Option{nft.WithNetNS(int(ns.file.Fd()))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func pair(local, remote string, expires time.Time) enforce.Pair {
	return enforce.Pair{Key: enforce.Key{Local: netip.MustParseAddr(local), Remote: netip.MustParseAddr(remote)}, Expires: expires}
}

// installed returns the kernel's pairs by key.
func installed(t *testing.T, b *nft.Backend) map[enforce.Key]time.Time {
	t.Helper()
	pairs, err := b.Installed(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[enforce.Key]time.Time, len(pairs))
	for _, p := range pairs {
		out[p.Key] = p.Expires
	}
	return out
}

func TestBackend(t *testing.T) {
	requireRoot(t)
	enforcetest.TestBackend(t, func(t *testing.T) enforce.Backend {
		return newBackend(t, newNetNS(t))
	}, 5*time.Second)
}

func TestConfig(t *testing.T) {
	for _, opt := range []nft.Option{nft.WithTable(""), nft.WithTable("a\x00b"), nft.WithTable(strings.Repeat("t", 256)), nft.WithNetNS(-1)} {
		if b, err := nft.New(opt); err == nil {
			b.Close()
			t.Errorf("New accepted an invalid option")
		}
	}
}

// TestRuleset checks, with the nft command, that the table reads as the
// package documentation says.
func TestRuleset(t *testing.T) {
	ns := newNetNS(t)
	requireNft(t)
	b := newBackend(t, ns)
	ctx := context.Background()
	if err := b.Add(ctx, []enforce.Pair{pair("198.51.100.1", "203.0.113.1", time.Now().Add(time.Hour))}); err != nil {
		t.Fatal(err)
	}
	// Reconcile rewrites the chain: the rules must not pile up.
	if err := b.Reconcile(ctx, []enforce.Pair{pair("2001:db8::1", "2001:db8:1::1", time.Now().Add(time.Hour))}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ip", "netns", "exec", ns.name, "nft", "list", "table", "inet", "docket").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list table: %v\n%s", err, out)
	}
	for _, want := range []string{
		"set pairs4 {\n\t\ttype ipv4_addr . ipv4_addr\n\t\tflags timeout\n",
		"set pairs6 {\n\t\ttype ipv6_addr . ipv6_addr\n\t\tflags timeout\n",
		"elements = { 2001:db8::1 . 2001:db8:1::1 timeout ",
		"type filter hook forward priority filter - 10; policy accept;\n" +
			"\t\tip saddr . ip daddr @pairs4 drop\n" +
			"\t\tip daddr . ip saddr @pairs4 drop\n" +
			"\t\tip6 saddr . ip6 daddr @pairs6 drop\n" +
			"\t\tip6 daddr . ip6 saddr @pairs6 drop\n\t}",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("nft list table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "198.51.100.1") {
		t.Errorf("Reconcile left an undesired pair:\n%s", out)
	}

	if err := b.Uninstall(ctx); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ip", "netns", "exec", ns.name, "nft", "list", "tables").CombinedOutput(); err != nil || strings.Contains(string(out), "docket") {
		t.Errorf("after Uninstall: %v\n%s", err, out)
	}
	if err := b.Uninstall(ctx); err != nil {
		t.Errorf("Uninstall without a table: %v", err)
	}
	if got := installed(t, b); len(got) != 0 {
		t.Errorf("Installed without a table: %v", got)
	}
	if err := b.Add(ctx, []enforce.Pair{pair("198.51.100.1", "203.0.113.1", time.Now().Add(time.Hour))}); err != nil {
		t.Fatalf("Add after Uninstall: %v", err)
	}
	if got := installed(t, b); len(got) != 1 {
		t.Errorf("Add after Uninstall installed %v", got)
	}
}

// TestKernelExpires checks that the kernel holds each pair's own timeout,
// that adding a pair again with a later expiry moves the kernel's, and
// that the kernel drops the pair on time.
func TestKernelExpires(t *testing.T) {
	ns := newNetNS(t)
	b := newBackend(t, ns, nft.WithTable("docket_expiry"))
	ctx := context.Background()
	p := pair("198.51.100.1", "203.0.113.1", time.Now().Add(2*time.Second))
	if err := b.Add(ctx, []enforce.Pair{p}); err != nil {
		t.Fatal(err)
	}
	first := installed(t, b)[p.Key]
	if d := first.Sub(p.Expires).Abs(); d > 250*time.Millisecond {
		t.Fatalf("kernel expires the pair at %v, %v from the %v asked for", first, d, p.Expires)
	}

	p.Expires = time.Now().Add(3 * time.Second)
	if err := b.Add(ctx, []enforce.Pair{p}); err != nil {
		t.Fatal(err)
	}
	second := installed(t, b)[p.Key]
	if d := second.Sub(p.Expires).Abs(); d > 250*time.Millisecond {
		t.Fatalf("after a refresh the kernel expires the pair at %v, %v from the %v asked for (first expiry %v)", second, d, p.Expires, first)
	}

	for time.Now().Before(p.Expires.Add(-200 * time.Millisecond)) {
		if _, ok := installed(t, b)[p.Key]; !ok {
			t.Fatalf("pair gone at %v, before its expiry %v", time.Now(), p.Expires)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for {
		if _, ok := installed(t, b)[p.Key]; !ok {
			break
		}
		if time.Now().After(p.Expires.Add(2 * time.Second)) {
			t.Fatalf("pair still installed 2 s after its expiry %v", p.Expires)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A fresh backend sees the same kernel state.
	if got := installed(t, newBackend(t, ns, nft.WithTable("docket_expiry"))); len(got) != 0 {
		t.Fatalf("a fresh backend sees %v", got)
	}
}

// TestExpiryBounds checks that a pair with a zero expiry counts as expired
// and that one expiring in centuries is installed for 100 years.
func TestExpiryBounds(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t, newNetNS(t))
	zero := pair("198.51.100.1", "203.0.113.1", time.Time{})
	if err := b.Add(ctx, []enforce.Pair{zero}); err != nil {
		t.Fatal(err)
	}
	if got := installed(t, b); len(got) != 0 {
		t.Fatalf("a pair with a zero expiry was installed: %v", got)
	}
	far := pair("198.51.100.1", "203.0.113.1", time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
	for range 2 {
		if err := b.Add(ctx, []enforce.Pair{far}); err != nil {
			t.Fatal(err)
		}
	}
	want := time.Now().Add(100 * 365 * 24 * time.Hour)
	if got := installed(t, b)[far.Key]; got.Sub(want).Abs() > time.Minute {
		t.Fatalf("pair expiring in 9999 installed until %v, want about %v", got, want)
	}
}

// TestConflictingTable checks that a table of the same name whose set is
// defined otherwise is reported as a configuration error.
func TestConflictingTable(t *testing.T) {
	ns := newNetNS(t)
	requireNft(t)
	if out, err := exec.Command("ip", "netns", "exec", ns.name, "nft", "add table inet docket; add set inet docket pairs4 { type ipv4_addr; }").CombinedOutput(); err != nil {
		t.Fatalf("nft: %v\n%s", err, out)
	}
	err := newBackend(t, ns).Add(context.Background(), []enforce.Pair{pair("198.51.100.1", "203.0.113.1", time.Now().Add(time.Hour))})
	if !errors.Is(err, enforce.ErrConfig) {
		t.Fatalf("Add into a conflicting table: %v, want ErrConfig", err)
	}
}

// TestFreshProcess checks backends that start with a table installed by
// an earlier one: their record is empty, yet they must not shorten a pair
// nor miss one when reconciling, whichever way Reconcile takes.
func TestFreshProcess(t *testing.T) {
	ctx := context.Background()
	ns := newNetNS(t)
	now := time.Now()
	long := pair("198.51.100.1", "203.0.113.1", now.Add(time.Hour))
	stale := pair("198.51.100.2", "203.0.113.1", now.Add(time.Hour))
	if err := newBackend(t, ns).Add(ctx, []enforce.Pair{long, stale}); err != nil {
		t.Fatal(err)
	}

	short := long
	short.Expires = now.Add(time.Minute)
	b := newBackend(t, ns)
	if err := b.Add(ctx, []enforce.Pair{short}); err != nil {
		t.Fatal(err)
	}
	if got := installed(t, b)[long.Key]; got.Sub(long.Expires).Abs() > time.Second {
		t.Fatalf("a fresh backend shortened a pair to %v, want %v", got, long.Expires)
	}

	for _, path := range []struct {
		name       string
		maxReplace int
	}{{"OneTransaction", 100_000}, {"Difference", 0}} {
		t.Run(path.name, func(t *testing.T) {
			defer nft.SetMaxReplace(path.maxReplace)()
			if err := newBackend(t, ns).Add(ctx, []enforce.Pair{long, stale}); err != nil {
				t.Fatal(err)
			}
			desired := []enforce.Pair{short, pair("2001:db8::1", "2001:db8:1::1", now.Add(time.Hour))}
			b := newBackend(t, ns)
			if err := b.Reconcile(ctx, desired); err != nil {
				t.Fatal(err)
			}
			got := installed(t, b)
			if len(got) != len(desired) {
				t.Fatalf("after Reconcile installed %v, want %v", got, desired)
			}
			for _, p := range desired {
				if e, ok := got[p.Key]; !ok || e.Sub(p.Expires).Abs() > time.Second {
					t.Errorf("pair %v installed until %v, want %v", p.Key, e, p.Expires)
				}
			}
		})
	}
}

// TestManyPairs installs more pairs than fit in one netlink message or one
// transaction, and more than the backend reads back, and checks that none
// is lost.
func TestManyPairs(t *testing.T) {
	ctx := context.Background()
	ns := newNetNS(t)
	b := newBackend(t, ns)
	exp := time.Now().Add(time.Hour)
	var pairs []enforce.Pair
	l4, l6 := netip.MustParseAddr("198.18.0.0"), netip.MustParseAddr("2001:db8::")
	for i := range 15000 {
		if i%3 == 0 {
			l6 = l6.Next()
			pairs = append(pairs, enforce.Pair{Key: enforce.Key{Local: l6, Remote: netip.MustParseAddr("2001:db8:1::1")}, Expires: exp})
		} else {
			l4 = l4.Next()
			pairs = append(pairs, enforce.Pair{Key: enforce.Key{Local: l4, Remote: netip.MustParseAddr("203.0.113.1")}, Expires: exp})
		}
	}
	count := func(b *nft.Backend, want int) {
		t.Helper()
		if got := installed(t, b); len(got) != want {
			t.Fatalf("installed %d pairs, want %d", len(got), want)
		}
	}

	if err := b.Add(ctx, pairs[:9000]); err != nil {
		t.Fatal(err)
	}
	count(b, 9000)
	keys := make([]enforce.Key, 0, 4000)
	for _, p := range pairs[:4000] {
		keys = append(keys, p.Key)
	}
	if err := b.Remove(ctx, keys); err != nil {
		t.Fatal(err)
	}
	count(b, 5000)
	if _, ok := installed(t, b)[keys[0]]; ok {
		t.Fatalf("removed pair %v still installed", keys[0])
	}

	// A fresh backend replaces the whole state in one transaction.
	b = newBackend(t, ns)
	if err := b.Reconcile(ctx, pairs); err != nil {
		t.Fatal(err)
	}
	count(b, len(pairs))

	// With one transaction ruled out, it reads the sets and writes the
	// difference.
	defer nft.SetMaxReplace(0)()
	b = newBackend(t, ns)
	if err := b.Reconcile(ctx, pairs[2000:6000]); err != nil {
		t.Fatal(err)
	}
	count(b, 4000)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.Add(cancelled, pairs[:10]); !errors.Is(err, context.Canceled) {
		t.Fatalf("Add with a cancelled context: %v", err)
	}
	count(b, 4000)
}

// TestRemoveMissing checks that Remove tolerates a pair deleted behind
// the backend's back, and still deletes the others.
func TestRemoveMissing(t *testing.T) {
	ctx := context.Background()
	ns := newNetNS(t)
	b := newBackend(t, ns)
	exp := time.Now().Add(time.Hour)
	gone, kept := pair("198.51.100.1", "203.0.113.1", exp), pair("198.51.100.2", "203.0.113.1", exp)
	if err := b.Add(ctx, []enforce.Pair{gone, kept}); err != nil {
		t.Fatal(err)
	}
	// Another backend removes one pair; b's record still has it.
	if err := newBackend(t, ns).Remove(ctx, []enforce.Key{gone.Key}); err != nil {
		t.Fatal(err)
	}
	if err := b.Remove(ctx, []enforce.Key{gone.Key, kept.Key}); err != nil {
		t.Fatalf("Remove with one pair deleted by someone else: %v", err)
	}
	if got := installed(t, b); len(got) != 0 {
		t.Fatalf("after Remove installed %v", got)
	}
}

func TestClassify(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want error
	}{
		{unix.EPERM, enforce.ErrConfig},
		{unix.EOPNOTSUPP, enforce.ErrConfig},
		{unix.ENOBUFS, enforce.ErrTemporary},
		{unix.EAGAIN, enforce.ErrTemporary},
	} {
		err := nft.Classify("add pairs", fmt.Errorf("conn.Receive: %w", tt.err))
		if !errors.Is(err, tt.want) || !errors.Is(err, tt.err) || !strings.HasPrefix(err.Error(), "failed to add pairs: ") {
			t.Errorf("classify(%v) = %v, want it to wrap %v", tt.err, err, tt.want)
		}
	}
	if err := nft.Classify("add pairs", unix.EINVAL); errors.Is(err, enforce.ErrConfig) || errors.Is(err, enforce.ErrTemporary) {
		t.Errorf("classify(EINVAL) = %v, want no class", err)
	}
}

// Environment of the helper process that installs a pair and exits.
const (
	helperEnv    = "DOCKET_NFT_TEST_NETNS" // network namespace file; set only for the helper
	helperLocal  = "DOCKET_NFT_TEST_LOCAL"
	helperRemote = "DOCKET_NFT_TEST_REMOTE"
	helperLife   = "DOCKET_NFT_TEST_LIFE"
)

// TestHelperProcess is not a test: run by TestNamespaceEndToEnd as a
// separate process, it installs one pair in a namespace and exits.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		return
	}
	life, err := time.ParseDuration(os.Getenv(helperLife))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := nft.New(nft.WithNetNS(int(f.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	p := pair(os.Getenv(helperLocal), os.Getenv(helperRemote), time.Now().Add(life))
	if err := b.Add(context.Background(), []enforce.Pair{p}); err != nil {
		t.Fatal(err)
	}
}

// TestNamespaceEndToEnd routes TCP between a subscriber and a remote host
// through a router namespace, has a separate process install a pair in the
// router and exit, and checks that the pair's traffic drops in both
// directions while another pair's flows, until the kernel expires the
// pair.
//
//	sub 198.51.100.2 ── 198.51.100.1 router 203.0.113.1 ── remote 203.0.113.2
//	                                                               203.0.113.3
func TestNamespaceEndToEnd(t *testing.T) {
	sub, router, remote := newNetNS(t), newNetNS(t), newNetNS(t)
	ip(t, "-n", sub.name, "link", "add", "s0", "type", "veth", "peer", "name", "r0", "netns", router.name)
	ip(t, "-n", router.name, "link", "add", "r1", "type", "veth", "peer", "name", "m0", "netns", remote.name)
	for _, args := range [][]string{
		{"-n", sub.name, "addr", "add", "198.51.100.2/24", "dev", "s0"},
		{"-n", sub.name, "link", "set", "s0", "up"},
		{"-n", sub.name, "route", "add", "default", "via", "198.51.100.1"},
		{"-n", router.name, "addr", "add", "198.51.100.1/24", "dev", "r0"},
		{"-n", router.name, "addr", "add", "203.0.113.1/24", "dev", "r1"},
		{"-n", router.name, "link", "set", "r0", "up"},
		{"-n", router.name, "link", "set", "r1", "up"},
		{"-n", remote.name, "addr", "add", "203.0.113.2/24", "dev", "m0"},
		{"-n", remote.name, "addr", "add", "203.0.113.3/24", "dev", "m0"},
		{"-n", remote.name, "link", "set", "m0", "up"},
		{"-n", remote.name, "route", "add", "default", "via", "203.0.113.1"},
	} {
		ip(t, args...)
	}
	inNS(t, router, func() error {
		return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644)
	})
	subPort, remotePort := listen(t, sub), listen(t, remote)

	type flow struct {
		name          string
		from          *netNS
		local, remote string
		port          int
	}
	blockedOut := flow{"sub to blocked remote", sub, "198.51.100.2", "203.0.113.2", remotePort}
	blockedIn := flow{"blocked remote to sub", remote, "203.0.113.2", "198.51.100.2", subPort}
	otherOut := flow{"sub to other remote", sub, "198.51.100.2", "203.0.113.3", remotePort}
	otherIn := flow{"other remote to sub", remote, "203.0.113.3", "198.51.100.2", subPort}
	connects := func(f flow) bool {
		return dial(t, f.from, f.local, f.remote, f.port, time.Second) == nil
	}
	for _, f := range []flow{blockedOut, blockedIn, otherOut, otherIn} {
		if err := dial(t, f.from, f.local, f.remote, f.port, time.Second); err != nil {
			t.Fatalf("before any pair, %s: %v", f.name, err)
		}
	}

	// A separate process installs the pair and exits.
	const life = 5 * time.Second
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.v")
	cmd.Env = append(os.Environ(),
		helperEnv+"="+router.file.Name(),
		helperLocal+"=198.51.100.2", helperRemote+"=203.0.113.2",
		helperLife+"="+life.String())
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helper process: %v\n%s", err, out)
	}
	expires := start.Add(life)
	t.Logf("helper installed the pair and exited after %v", time.Since(start).Round(time.Millisecond))

	for _, f := range []flow{blockedOut, blockedIn} {
		if connects(f) {
			t.Errorf("with the pair installed, %s connects", f.name)
		}
	}
	for _, f := range []flow{otherOut, otherIn} {
		if !connects(f) {
			t.Errorf("with another pair installed, %s does not connect", f.name)
		}
	}
	if time.Now().After(expires) {
		t.Fatalf("checks took longer than the pair's life of %v", life)
	}

	// The kernel expires the pair with no Docket process left.
	for !connects(blockedOut) {
		if time.Now().After(expires.Add(3 * time.Second)) {
			t.Fatalf("%s still fails 3 s after the pair expired", blockedOut.name)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if early := expires.Sub(time.Now()); early > 500*time.Millisecond {
		t.Errorf("%s connects %v before the pair expires", blockedOut.name, early)
	}
	if !connects(blockedIn) {
		t.Errorf("after expiry, %s does not connect", blockedIn.name)
	}
}

// inNS runs fn on a thread switched to ns. Sockets fn creates stay in ns.
func inNS(t *testing.T, ns *netNS, fn func() error) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer orig.Close()
	if err := netns.Set(netns.NsHandle(int(ns.file.Fd()))); err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked: it ends with this goroutine.
		t.Fatalf("failed to restore network namespace: %v", err)
	}
	runtime.UnlockOSThread()
	if ferr != nil {
		t.Fatal(ferr)
	}
}

// listen starts a TCP listener on all addresses of ns that accepts and
// closes connections until the test ends, and returns its port.
func listen(t *testing.T, ns *netNS) int {
	t.Helper()
	var ln net.Listener
	inNS(t, ns, func() (err error) {
		ln, err = net.Listen("tcp4", "0.0.0.0:0")
		return err
	})
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// dial connects from local in ns to remote:port.
func dial(t *testing.T, ns *netNS, local, remote string, port int, timeout time.Duration) error {
	t.Helper()
	var derr error
	inNS(t, ns, func() error {
		d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		c, err := d.Dial("tcp4", net.JoinHostPort(remote, fmt.Sprint(port)))
		if err == nil {
			c.Close()
		}
		derr = err
		return nil
	})
	return derr
}
