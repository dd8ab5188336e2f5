package flowspec

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"

	api "github.com/osrg/gobgp/v3/api"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/docket-project/docket/enforce"
)

// Flowspec component types (RFC 8955 §4.2.2, RFC 8956 §3).
const (
	typeDstPrefix = 1
	typeSrcPrefix = 2
)

var (
	family4 = &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_FLOW_SPEC_UNICAST}
	family6 = &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_FLOW_SPEC_UNICAST}
)

// rule is one Flowspec rule: discard packets from src to dst.
type rule struct {
	src, dst netip.Addr
}

// rulesOf returns the two rules that drop a pair's traffic: remote to
// local, then local to remote.
func rulesOf(k enforce.Key) [2]rule {
	return [2]rule{{src: k.Remote, dst: k.Local}, {src: k.Local, dst: k.Remote}}
}

func (r rule) String() string {
	return fmt.Sprintf("flowspec rule %s -> %s discard", r.src, r.dst)
}

func (r rule) family() *api.Family {
	if r.src.Is4() {
		return family4
	}
	return family6
}

// path returns the rule as a GoBGP path: a Flowspec NLRI matching the
// destination and the source host, and the traffic-rate 0 (discard)
// extended community.
func (r rule) path() (*api.Path, error) {
	bits := uint32(r.src.BitLen())
	dst, err := anypb.New(&api.FlowSpecIPPrefix{Type: typeDstPrefix, PrefixLen: bits, Prefix: r.dst.String()})
	if err != nil {
		return nil, fmt.Errorf("failed to encode %s: %w", r, err)
	}
	src, err := anypb.New(&api.FlowSpecIPPrefix{Type: typeSrcPrefix, PrefixLen: bits, Prefix: r.src.String()})
	if err != nil {
		return nil, fmt.Errorf("failed to encode %s: %w", r, err)
	}
	nlri, err := anypb.New(&api.FlowSpecNLRI{Rules: []*anypb.Any{dst, src}})
	if err != nil {
		return nil, fmt.Errorf("failed to encode %s: %w", r, err)
	}
	reach, err := anypb.New(&api.MpReachNLRIAttribute{Family: r.family(), Nlris: []*anypb.Any{nlri}})
	if err != nil {
		return nil, fmt.Errorf("failed to encode %s: %w", r, err)
	}
	return &api.Path{Family: r.family(), Nlri: nlri, Pattrs: []*anypb.Any{originIGP, reach, discardAction}}, nil
}

// The attributes every rule shares: origin IGP and the traffic-rate 0
// extended community (RFC 8955 §7.3), which means discard.
var (
	originIGP     = mustAny(&api.OriginAttribute{Origin: 0})
	discardAction = mustAny(&api.ExtendedCommunitiesAttribute{Communities: []*anypb.Any{
		mustAny(&api.TrafficRateExtended{Asn: 0, Rate: 0}),
	}})
)

// mustAny wraps a constant message at package initialisation, where a
// failure is a bug.
func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(fmt.Sprintf("flowspec: failed to encode %T: %v", m, err))
	}
	return a
}

// parseRule reads back a rule that path produced; ok is false for any
// other route.
func parseRule(p *api.Path) (r rule, ok bool) {
	nlri, err := p.GetNlri().UnmarshalNew()
	if err != nil {
		return rule{}, false
	}
	fs, isFS := nlri.(*api.FlowSpecNLRI)
	if !isFS || len(fs.Rules) != 2 {
		return rule{}, false
	}
	for _, a := range fs.Rules {
		m, err := a.UnmarshalNew()
		if err != nil {
			return rule{}, false
		}
		pfx, isPfx := m.(*api.FlowSpecIPPrefix)
		if !isPfx || pfx.Offset != 0 {
			return rule{}, false
		}
		addr, err := netip.ParseAddr(pfx.Prefix)
		if err != nil || int(pfx.PrefixLen) != addr.BitLen() {
			return rule{}, false
		}
		switch pfx.Type {
		case typeDstPrefix:
			r.dst = addr
		case typeSrcPrefix:
			r.src = addr
		}
	}
	if !r.src.IsValid() || !r.dst.IsValid() || r.src.Is4() != r.dst.Is4() || !discards(p) {
		return rule{}, false
	}
	return r, true
}

// discards reports whether p's only extended community is traffic-rate 0.
func discards(p *api.Path) bool {
	for _, a := range p.GetPattrs() {
		m, err := a.UnmarshalNew()
		if err != nil {
			return false
		}
		ec, isEC := m.(*api.ExtendedCommunitiesAttribute)
		if !isEC {
			continue
		}
		if len(ec.Communities) != 1 {
			return false
		}
		c, err := ec.Communities[0].UnmarshalNew()
		if err != nil {
			return false
		}
		tr, isTR := c.(*api.TrafficRateExtended)
		return isTR && tr.Rate == 0
	}
	return false
}

// rib is what the speaker's global RIB holds of its own Flowspec routes.
type rib struct {
	rules map[rule]bool
	// foreign are local Flowspec routes that are not rules this package
	// writes.
	foreign []*api.Path
}

// readRIB lists the speaker's locally originated Flowspec routes (not
// those received from neighbours). It costs one pass over at most
// MaxRules routes.
func (b *Backend) readRIB(ctx context.Context) (rib, error) {
	out := rib{rules: map[rule]bool{}}
	for _, fam := range []*api.Family{family4, family6} {
		err := b.srv.ListPath(ctx, &api.ListPathRequest{TableType: api.TableType_GLOBAL, Family: fam}, func(d *api.Destination) {
			for _, p := range d.GetPaths() {
				// GoBGP reports the neighbour of a local route as "<nil>".
				if n := p.GetNeighborIp(); n != "" && n != "<nil>" {
					continue
				}
				if r, ok := parseRule(p); ok {
					out.rules[r] = true
				} else {
					out.foreign = append(out.foreign, p)
				}
			}
		})
		if err == nil {
			// ListPath stops calling back, without an error, when ctx
			// is done.
			err = ctx.Err()
		}
		if err != nil {
			return rib{}, fmt.Errorf("failed to read the speaker's RIB: %w: %w", enforce.ErrTemporary, err)
		}
	}
	return out, nil
}

// sortedRules returns the rules in a and not in b, sorted by family,
// destination then source.
func sortedRules(a, b map[rule]bool) []rule {
	var out []rule
	for r := range a {
		if !b[r] {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(x, y rule) int {
		return cmp.Or(x.dst.Compare(y.dst), x.src.Compare(y.src))
	})
	return out
}
