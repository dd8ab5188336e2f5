package flowspec_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/docket-project/docket/enforce"
	"github.com/docket-project/docket/enforce/flowspec"
)

// Addresses of the test's two BGP speakers, on loopback.
const (
	routerAddr  = "127.0.0.2" // gobgpd, playing the ISP's router
	speakerAddr = "127.0.0.3" // the Backend's embedded speaker
	routerAS    = 65001
	speakerAS   = 65000
)

// routerConfig is gobgpd's configuration: one eBGP neighbour, the
// Backend's speaker, followed by its families. gobgpd waits for the
// speaker to connect (passive mode), from its own address.
const routerConfig = `[global.config]
  as = %[1]d
  router-id = %[2]q
  port = %[3]d
  local-address-list = [%[2]q]

[[neighbors]]
  [neighbors.config]
    neighbor-address = %[4]q
    peer-as = %[5]d
  [neighbors.transport.config]
    local-address = %[2]q
    remote-port = %[6]d
    passive-mode = true
`

// routerFamily enables one family on the neighbour of routerConfig.
const routerFamily = `  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = %q
`

// TestAgainstGobgpd peers the Backend with Debian's gobgpd and reads
// gobgpd's RIB through its gRPC API: after Add it must hold exactly the
// pair's two discard rules, and nothing once the pair has expired; a
// rejected Add must announce nothing.
func TestAgainstGobgpd(t *testing.T) {
	ctx := context.Background()
	router, b := peerWithGobgpd(t, "ipv4-flowspec", "ipv6-flowspec")

	// A rejected Add announces nothing, not even its valid pair. BGP
	// delivers updates in order, so once the next Add's rules are in
	// gobgpd's RIB, anything this Add had sent would be there too.
	exp := time.Now().Add(3 * time.Second)
	rejected := pair("198.51.100.7", "203.0.113.7", exp)
	if err := b.Add(ctx, []enforce.Pair{rejected, pair("198.51.100.8", "2001:db8::8", exp)}); !errors.Is(err, enforce.ErrInvalidPair) {
		t.Fatalf("Add with a mixed-family pair: %v, want ErrInvalidPair", err)
	}

	if err := b.Add(ctx, []enforce.Pair{
		pair("198.51.100.1", "203.0.113.1", exp),
		pair("2001:db8::1", "2001:db8:1::1", exp),
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"ipv4 dst 198.51.100.1/32 src 203.0.113.1/32 discard",
		"ipv4 dst 203.0.113.1/32 src 198.51.100.1/32 discard",
		"ipv6 dst 2001:db8:1::1/128 src 2001:db8::1/128 discard",
		"ipv6 dst 2001:db8::1/128 src 2001:db8:1::1/128 discard",
	}
	waitFor(t, 5*time.Second, "gobgpd to hold the rules", func() error {
		got, err := routerRules(ctx, router)
		if err != nil {
			return err
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("gobgpd holds %q, want %q", got, want)
		}
		return nil
	})

	waitFor(t, time.Until(exp)+5*time.Second, "gobgpd to drop the expired rules", func() error {
		got, err := routerRules(ctx, router)
		if err != nil {
			return err
		}
		if len(got) != 0 {
			return fmt.Errorf("gobgpd still holds %q", got)
		}
		return nil
	})
	if d := time.Since(exp); d < 0 {
		t.Fatalf("rules withdrawn %v before the pairs' expiry", -d)
	}
	if got := installed(t, b); len(got) != 0 {
		t.Fatalf("after expiry the backend reports %s installed", keys(got))
	}
}

// TestGobgpdWithoutIPv6Flowspec checks that a router whose session lacks
// a family the backend announces rules in is reported as misconfigured.
func TestGobgpdWithoutIPv6Flowspec(t *testing.T) {
	ctx := context.Background()
	_, b := peerWithGobgpd(t, "ipv4-flowspec")
	exp := time.Now().Add(time.Minute)
	if err := b.Add(ctx, []enforce.Pair{pair("198.51.100.1", "203.0.113.1", exp)}); err != nil {
		t.Fatalf("Add of an IPv4 pair: %v", err)
	}
	err := b.Add(ctx, []enforce.Pair{pair("2001:db8::1", "2001:db8:1::1", exp)})
	if !errors.Is(err, enforce.ErrConfig) || !strings.Contains(err.Error(), "ipv6-flowspec") || !strings.Contains(err.Error(), routerAddr) {
		t.Fatalf("Add of an IPv6 pair: %v, want enforce.ErrConfig naming the router and ipv6-flowspec", err)
	}
}

// peerWithGobgpd starts Debian's gobgpd as a router with the given
// Flowspec families, and a Backend peered with it; it returns once the
// session is established, with a gRPC client of gobgpd's API. It skips
// the test if gobgpd is not installed, or fails it when $CI is true.
func peerWithGobgpd(t *testing.T, families ...string) (api.GobgpApiClient, *flowspec.Backend) {
	t.Helper()
	gobgpd, err := exec.LookPath("gobgpd")
	if err != nil {
		const msg = "gobgpd not installed: apt-get install gobgpd"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	ctx := context.Background()
	routerPort, apiPort, speakerPort := freePort(t, routerAddr), freePort(t, routerAddr), freePort(t, speakerAddr)

	conf := fmt.Appendf(nil, routerConfig, routerAS, routerAddr, routerPort, speakerAddr, speakerAS, speakerPort)
	for _, f := range families {
		conf = fmt.Appendf(conf, routerFamily, f)
	}
	confFile := filepath.Join(t.TempDir(), "gobgpd.toml")
	if err := os.WriteFile(confFile, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(gobgpd, "-f", confFile, "-p", "--pprof-disable", "--api-hosts", net.JoinHostPort(routerAddr, strconv.Itoa(apiPort)))
	logw := &tWriter{t: t}
	cmd.Stdout, cmd.Stderr = logw, logw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logw.mu.Lock()
		logw.done = true
		logw.mu.Unlock()
	})
	conn, err := grpc.NewClient(net.JoinHostPort(routerAddr, strconv.Itoa(apiPort)), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	router := api.NewGobgpApiClient(conn)
	waitFor(t, 10*time.Second, "gobgpd's API", func() error {
		_, err := router.GetBgp(ctx, &api.GetBgpRequest{})
		return err
	})

	b := newBackend(t, flowspec.Config{
		AS:            speakerAS,
		RouterID:      netip.MustParseAddr(speakerAddr),
		ListenAddress: netip.MustParseAddr(speakerAddr),
		ListenPort:    int32(speakerPort),
		Neighbors: []flowspec.Neighbor{{
			Address:      netip.MustParseAddr(routerAddr),
			AS:           routerAS,
			Port:         uint16(routerPort),
			ConnectRetry: time.Second,
		}},
	})
	// Both ends must see the session up: gobgpd, and the backend, whose
	// Add (of nothing) fails while it does not.
	waitFor(t, 15*time.Second, "the BGP session", func() error {
		if err := sessionUp(ctx, router, speakerAddr); err != nil {
			return err
		}
		return b.Add(ctx, nil)
	})
	return router, b
}

// freePort returns a TCP port free on addr a moment ago.
func freePort(t *testing.T, addr string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitFor polls check every 50 ms until it returns nil, and fails the test
// with its last error after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s: %v", timeout, what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func sessionUp(ctx context.Context, router api.GobgpApiClient, neighbor string) error {
	stream, err := router.ListPeer(ctx, &api.ListPeerRequest{Address: neighbor})
	if err != nil {
		return err
	}
	for {
		r, err := stream.Recv()
		if err == io.EOF {
			return fmt.Errorf("no session with %s", neighbor)
		}
		if err != nil {
			return err
		}
		if s := r.GetPeer().GetState().GetSessionState(); s != api.PeerState_ESTABLISHED {
			return fmt.Errorf("session with %s is %v", neighbor, s)
		}
		return nil
	}
}

// routerRules lists the Flowspec routes in gobgpd's global RIB, each as
// "family dst PREFIX src PREFIX action", sorted.
func routerRules(ctx context.Context, router api.GobgpApiClient) ([]string, error) {
	var out []string
	for _, fam := range []struct {
		name string
		afi  api.Family_Afi
	}{{"ipv4", api.Family_AFI_IP}, {"ipv6", api.Family_AFI_IP6}} {
		stream, err := router.ListPath(ctx, &api.ListPathRequest{
			TableType: api.TableType_GLOBAL,
			Family:    &api.Family{Afi: fam.afi, Safi: api.Family_SAFI_FLOW_SPEC_UNICAST},
		})
		if err != nil {
			return nil, err
		}
		for {
			r, err := stream.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, err
			}
			for _, p := range r.GetDestination().GetPaths() {
				s, err := describe(p)
				if err != nil {
					return nil, err
				}
				out = append(out, fam.name+" "+s)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// describe renders a Flowspec path's match components and action.
func describe(p *api.Path) (string, error) {
	var parts []string
	m, err := p.GetNlri().UnmarshalNew()
	if err != nil {
		return "", err
	}
	nlri, ok := m.(*api.FlowSpecNLRI)
	if !ok {
		return "", fmt.Errorf("NLRI %T, want FlowSpecNLRI", m)
	}
	for _, a := range nlri.GetRules() {
		c, err := a.UnmarshalNew()
		if err != nil {
			return "", err
		}
		switch c := c.(type) {
		case *api.FlowSpecIPPrefix:
			name := map[uint32]string{1: "dst", 2: "src"}[c.Type]
			if name == "" || c.Offset != 0 {
				return "", fmt.Errorf("unexpected prefix component %v", c)
			}
			parts = append(parts, fmt.Sprintf("%s %s/%d", name, c.Prefix, c.PrefixLen))
		default:
			return "", fmt.Errorf("unexpected component %T %v", c, c)
		}
	}
	for _, a := range p.GetPattrs() {
		m, err := a.UnmarshalNew()
		if err != nil {
			return "", err
		}
		ec, ok := m.(*api.ExtendedCommunitiesAttribute)
		if !ok {
			continue
		}
		for _, a := range ec.GetCommunities() {
			c, err := a.UnmarshalNew()
			if err != nil {
				return "", err
			}
			if tr, ok := c.(*api.TrafficRateExtended); ok && tr.Rate == 0 {
				parts = append(parts, "discard")
			} else {
				parts = append(parts, fmt.Sprintf("%T %v", c, c))
			}
		}
	}
	return strings.Join(parts, " "), nil
}
