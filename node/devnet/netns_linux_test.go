package devnet

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"
)

// requireNamespaces skips, or under CI fails, unless the test runs as
// root, which creating network namespaces needs.
func requireNamespaces(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI runs as root, but this test does not: it must create network namespaces")
	}
	t.Skip("needs root to create network namespaces")
}

// TestTopology builds the nft-mode network and checks that a remote
// seeder's address in the world reaches a subscriber's address through
// the router, that each namespace sees only its own addresses, and that
// Close removes every namespace.
func TestTopology(t *testing.T) {
	requireNamespaces(t)
	plan := PlanFor(ModeNFT)
	topo, err := NewTopology(fmt.Sprintf("t%d", os.Getpid()), plan)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			topo.Close()
		}
	})

	// A server at a subscriber's address.
	local := plan.Local[0]
	var ln net.Listener
	if err := topo.Subs.Do(func() (err error) {
		ln, err = net.Listen("tcp", local.String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	ctx := context.Background()
	if err := Probe(ctx, topo.World, plan.Remote[0].Addr(), local, 2*time.Second); err != nil {
		t.Fatalf("world %v → subs %v: %v", plan.Remote[0].Addr(), local, err)
	}
	// The machine's own namespace does not get the address (no traffic
	// is sent there: it would leave the machine).
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr() == local.Addr() {
			t.Errorf("%v is an address of the machine's own namespace", local.Addr())
		}
	}
	if err := topo.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true
	for _, ns := range []*NS{topo.World, topo.Router, topo.Subs} {
		if _, err := os.Stat(ns.Path); !os.IsNotExist(err) {
			t.Errorf("%s still exists after Close: %v", ns.Path, err)
		}
	}
}
