package flowspec

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/docket-project/docket/enforce"
)

// TestReconcileRepairsRIB checks that Installed notices a speaker RIB that
// drifted from the record (a rule gone, a route the backend did not
// write) and that Reconcile repairs it.
func TestReconcileRepairsRIB(t *testing.T) {
	ctx := context.Background()
	b, err := New(ctx, Config{AS: 65000, RouterID: netip.MustParseAddr("192.0.2.1"), ListenPort: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	p := enforce.Pair{Key: enforce.Key{Local: netip.MustParseAddr("198.51.100.1"), Remote: netip.MustParseAddr("203.0.113.1")}, Expires: time.Now().Add(time.Minute)}
	if err := b.Add(ctx, []enforce.Pair{p}); err != nil {
		t.Fatal(err)
	}

	gone, err := rulesOf(p.Key)[0].path()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.srv.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Family: gone.Family, Path: gone}); err != nil {
		t.Fatal(err)
	}
	// A /24 match is not a rule this package writes.
	foreign, err := rulesOf(p.Key)[1].path()
	if err != nil {
		t.Fatal(err)
	}
	prefix, err := anypb.New(&api.FlowSpecIPPrefix{Type: typeDstPrefix, PrefixLen: 24, Prefix: "192.0.2.0"})
	if err != nil {
		t.Fatal(err)
	}
	if foreign.Nlri, err = anypb.New(&api.FlowSpecNLRI{Rules: []*anypb.Any{prefix}}); err != nil {
		t.Fatal(err)
	}
	if foreign.Pattrs[1], err = anypb.New(&api.MpReachNLRIAttribute{Family: family4, Nlris: []*anypb.Any{foreign.Nlri}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.srv.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: foreign}); err != nil {
		t.Fatal(err)
	}

	if _, err := b.Installed(ctx); !errors.Is(err, enforce.ErrTemporary) {
		t.Fatalf("Installed with a drifted RIB: %v, want enforce.ErrTemporary", err)
	}
	if err := b.Reconcile(ctx, []enforce.Pair{p}); err != nil {
		t.Fatal(err)
	}
	rib, err := b.readRIB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r := rulesOf(p.Key); len(rib.rules) != 2 || !rib.rules[r[0]] || !rib.rules[r[1]] || len(rib.foreign) != 0 {
		t.Fatalf("after Reconcile the RIB holds %v and %d foreign routes, want the pair's two rules only", rib.rules, len(rib.foreign))
	}
	if got, err := b.Installed(ctx); err != nil || len(got) != 1 || got[0].Key != p.Key {
		t.Fatalf("after Reconcile Installed = %v, %v; want the pair", got, err)
	}
}
