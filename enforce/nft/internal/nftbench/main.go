// Command nftbench measures the nftables backend at scale. Run it by hand,
// as root, on a machine with nft and ip installed (it is not part of CI):
//
//	go run ./enforce/nft/internal/nftbench -n 2500000
//
// In a network namespace of its own, it installs n IPv4 pairs through the
// backend's Add and reports pairs per second and the kernel memory they
// take (the growth of Slab and VmallocUsed in /proc/meminfo). It then times
// a new backend's Reconcile of the same pairs, which a restarted node runs
// (one transaction that empties the sets and refills them), and, with
// -read, reading the sets back, which takes time quadratic in their size
// (minutes for millions). Last, it loads the same elements with "nft -f"
// from files of 50,000 elements, the way a shell-script bouncer would, and
// reports the ratio of the two rates. The pairs are made up by the program
// from the benchmarking range 198.18.0.0/15; no packet is sent.
//
// With -forward, it measures instead what the pairs cost forwarded
// traffic:
//
//	go run ./enforce/nft/internal/nftbench -forward -n 2500000
//
// It creates three namespaces, sub, router and remote, joined by veth
// pairs, loads the backend's table into the router and measures the
// throughput of one TCP stream from sub (198.51.100.2) to remote
// (203.0.113.2) for -duration, with empty sets and then with n pairs
// installed, none of them the stream's (so each packet goes through the
// set lookups and is accepted), alternating the two -runs times. It prints
// each run, the medians and their ratio, then checks that adding the
// stream's own pair stops it. The sender and receiver are sockets of this
// program, opened in their namespaces; no traffic leaves the namespaces,
// which are deleted on exit, on error and on interrupt. -gso-segs 1 makes
// every packet one segment, as on a NIC without segmentation offload,
// which multiplies the lookups per byte.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"log"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/docket-project/docket/enforce"
	"github.com/docket-project/docket/enforce/nft"
)

func main() {
	n := flag.Int("n", 2_500_000, "number of pairs to install")
	perFile := flag.Int("file", 50_000, "elements per file loaded with nft -f")
	readBack := flag.Bool("read", false, "time reading the sets back (quadratic: use a small -n)")
	forward := flag.Bool("forward", false, "measure TCP forwarding through the table, empty and with -n pairs, instead")
	duration := flag.Duration("duration", 5*time.Second, "with -forward, counted duration of each measurement")
	runs := flag.Int("runs", 3, "with -forward, measurements with empty sets and with -n pairs, alternating")
	gsoSegs := flag.Int("gso-segs", 0, "with -forward, if positive, gso_max_segs of the sender's link (1: a lookup per segment)")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("nftbench: ")
	var err error
	if *forward {
		// An interrupt ends the measurement, so that the namespaces are
		// deleted; a second one kills the process.
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		go func() { <-ctx.Done(); stop() }()
		err = runForward(ctx, forwardConfig{n: *n, duration: *duration, runs: *runs, gsoSegs: *gsoSegs})
	} else {
		err = run(*n, *perFile, *readBack)
	}
	if err != nil {
		log.Fatalf("error: %v", err)
	}
}

func run(n, perFile int, readBack bool) error {
	if n < 1 || perFile < 1 {
		return fmt.Errorf("-n and -file must be positive")
	}
	ns := "docket-bench-" + rand.Text()[:10]
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		return fmt.Errorf("failed to create network namespace: %v: %s", err, out)
	}
	defer exec.Command("ip", "netns", "delete", ns).Run()
	f, err := os.Open("/run/netns/" + ns)
	if err != nil {
		return err
	}
	defer f.Close()

	pairs := makePairs(n, time.Now().Add(time.Hour))
	fmt.Printf("pairs: %d IPv4\n", n)

	ctx := context.Background()
	b, err := nft.New(nft.WithNetNS(int(f.Fd())))
	if err != nil {
		return err
	}
	defer b.Close()
	if err := b.Reconcile(ctx, nil); err != nil { // create the empty table
		return err
	}
	before, err := kernelMemory()
	if err != nil {
		return err
	}
	start := time.Now()
	if err := b.Add(ctx, pairs); err != nil {
		return err
	}
	backend := time.Since(start)
	after, err := kernelMemory()
	if err != nil {
		return err
	}
	backendRate := float64(n) / backend.Seconds()
	fmt.Printf("backend Add:      %v, %.0f pairs/s\n", backend.Round(time.Millisecond), backendRate)
	slab := float64(after.slab-before.slab) / float64(n)
	vmalloc := float64(after.vmalloc-before.vmalloc) / float64(n)
	fmt.Printf("kernel memory:    %.0f bytes/pair (slab %.0f, vmalloc %.0f)\n", slab+vmalloc, slab, vmalloc)

	b.Close()
	if b, err = nft.New(nft.WithNetNS(int(f.Fd()))); err != nil {
		return err
	}
	defer b.Close()
	start = time.Now()
	if err := b.Reconcile(ctx, pairs); err != nil {
		return err
	}
	fmt.Printf("fresh Reconcile:  %v (one transaction)\n", time.Since(start).Round(time.Millisecond))

	if readBack {
		start = time.Now()
		got, err := b.Installed(ctx)
		if err != nil {
			return err
		}
		fmt.Printf("read back:        %d pairs in %v\n", len(got), time.Since(start).Round(time.Millisecond))
		if len(got) != n {
			return fmt.Errorf("the kernel holds %d pairs, want %d", len(got), n)
		}
	}
	if err := b.Uninstall(ctx); err != nil {
		return err
	}

	files, err := writeNftFiles(pairs, perFile)
	if err != nil {
		return err
	}
	defer os.RemoveAll(filepath.Dir(files[0]))
	start = time.Now()
	for _, file := range files {
		if out, err := exec.Command("ip", "netns", "exec", ns, "nft", "-f", file).CombinedOutput(); err != nil {
			return fmt.Errorf("nft -f %s: %v: %s", file, err, out)
		}
	}
	cli := time.Since(start)
	cliRate := float64(n) / cli.Seconds()
	fmt.Printf("nft -f:           %v, %.0f pairs/s (%d files of %d)\n", cli.Round(time.Millisecond), cliRate, len(files)-1, perFile)
	fmt.Printf("backend / nft -f: %.1fx\n", backendRate/cliRate)
	return nil
}

// makePairs returns n distinct pairs from 198.18.0.0/16 to 198.19.0.0/16.
func makePairs(n int, expires time.Time) []enforce.Pair {
	pairs := make([]enforce.Pair, n)
	for i := range pairs {
		local := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
		remote := netip.AddrFrom4([4]byte{198, 19, byte(i >> 24), byte(i >> 16)})
		pairs[i] = enforce.Pair{Key: enforce.Key{Local: local, Remote: remote}, Expires: expires}
	}
	return pairs
}

// writeNftFiles writes, in a new temporary directory, a file creating a
// table like the backend's and then files adding pairs, perFile each, with
// the same timeouts; it returns their names in loading order.
func writeNftFiles(pairs []enforce.Pair, perFile int) ([]string, error) {
	dir, err := os.MkdirTemp("", "nftbench")
	if err != nil {
		return nil, err
	}
	const table = "inet docket_nftf"
	names := []string{filepath.Join(dir, "0.nft")}
	header := "add table " + table + "\nadd set " + table + " pairs4 { type ipv4_addr . ipv4_addr; flags timeout; }\n"
	if err := os.WriteFile(names[0], []byte(header), 0o600); err != nil {
		return nil, err
	}
	timeout := strconv.Itoa(int(time.Until(pairs[0].Expires).Seconds())) + "s"
	for i := 0; i < len(pairs); i += perFile {
		name := filepath.Join(dir, strconv.Itoa(len(names))+".nft")
		if err := writeElements(name, table, pairs[i:min(i+perFile, len(pairs))], timeout); err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	return names, nil
}

func writeElements(name, table string, pairs []enforce.Pair, timeout string) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	fmt.Fprintf(w, "add element %s pairs4 {\n", table)
	for i, p := range pairs {
		sep := ",\n"
		if i == len(pairs)-1 {
			sep = "\n"
		}
		fmt.Fprintf(w, "%s . %s timeout %s%s", p.Local, p.Remote, timeout, sep)
	}
	fmt.Fprintf(w, "}\n")
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// memory is a reading of /proc/meminfo, in bytes.
type memory struct {
	slab, vmalloc int64
}

func kernelMemory() (memory, error) {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return memory{}, err
	}
	var m memory
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		kb, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			continue
		}
		switch fields[0] {
		case "Slab:":
			m.slab = kb << 10
		case "VmallocUsed:":
			m.vmalloc = kb << 10
		}
	}
	return m, nil
}
