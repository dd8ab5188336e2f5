package devnet

import (
	"fmt"
	"net/netip"
)

// Mode is how a devnet enforces isp-one's blocks.
type Mode string

// The modes.
const (
	// ModeNFT runs the swarm in network namespaces and has isp-one install
	// its pairs as nftables set elements in its router's namespace, where
	// devnet proves the drop by sending traffic.
	ModeNFT Mode = "nft"
	// ModeDryRun runs everything on loopback addresses, and both ISPs
	// write the pairs they would install to a JSON file.
	ModeDryRun Mode = "dryrun"
)

// The ISPs of a devnet.
const (
	ISPOne = "isp-one"
	ISPTwo = "isp-two"
)

// Plan is a devnet's address plan: who sits where. The BitTorrent peers
// of the swarm are of four kinds: seeders at isp-one's subscribers (the
// pairs isp-one must block), one seeder at an address isp-one's policy
// protects, seeders in other networks (the remote ends of the pairs, one
// of them an isp-two subscriber) and a joe-job address, which the tracker
// lists although no BitTorrent peer answers there: a victim's web server.
type Plan struct {
	Mode Mode
	// ISPOnePrefix and ISPTwoPrefix are the ISPs' announced prefixes.
	ISPOnePrefix, ISPTwoPrefix netip.Prefix
	// Permitted are the non-global prefixes the ISPs accept as peer
	// addresses: the devnet's addresses are all documentation or loopback
	// ones.
	Permitted []netip.Prefix
	// Tracker is the HTTP tracker's address, Observer the address the
	// claimant's observer listens on.
	Tracker, Observer netip.AddrPort
	// Local are the seeders at isp-one's subscribers.
	Local []netip.AddrPort
	// Protected is a seeder at an address isp-one's policy protects.
	Protected netip.AddrPort
	// Remote are the seeders outside isp-one; RemoteISPTwo is the one of
	// them that isp-two serves.
	Remote       []netip.AddrPort
	RemoteISPTwo netip.AddrPort
	// Joe is the joe-job address the tracker lists, JoeVictim the server
	// that really lives at that address (not a BitTorrent peer).
	Joe, JoeVictim netip.AddrPort
	// Cycle returns the address of the seeder that joins at isp-one's
	// subscribers in measurement cycle i (from 0).
	Cycle func(i int) netip.AddrPort
	// MaxCycles is the most cycles the plan has addresses for.
	MaxCycles int
}

// SeederPort is the port every seeder listens on: each has its own
// address.
const SeederPort = 6881

// VictimPort is the port of the joe-job victim's server.
const VictimPort = 8080

func ap(s string, port uint16) netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr(s), port)
}

// PlanFor returns the address plan of a mode. In ModeNFT the addresses
// are documentation ones (RFC 5737) inside the devnet's own network
// namespaces; in ModeDryRun they are loopback addresses.
func PlanFor(m Mode) *Plan {
	switch m {
	case ModeNFT:
		return &Plan{
			Mode:         m,
			ISPOnePrefix: netip.MustParsePrefix("198.51.100.0/24"),
			ISPTwoPrefix: netip.MustParsePrefix("192.0.2.0/24"),
			Permitted: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("192.0.2.0/24"),
				netip.MustParsePrefix("203.0.113.0/24")},
			Tracker:      ap("203.0.113.1", 6969),
			Observer:     ap("203.0.113.2", SeederPort),
			Local:        []netip.AddrPort{ap("198.51.100.10", SeederPort), ap("198.51.100.11", SeederPort)},
			Protected:    ap("198.51.100.53", SeederPort),
			Remote:       []netip.AddrPort{ap("203.0.113.10", SeederPort), ap("203.0.113.11", SeederPort), ap("192.0.2.10", SeederPort)},
			RemoteISPTwo: ap("192.0.2.10", SeederPort),
			Joe:          ap("198.51.100.66", SeederPort),
			JoeVictim:    ap("198.51.100.66", VictimPort),
			Cycle: func(i int) netip.AddrPort {
				return ap(fmt.Sprintf("198.51.100.%d", 100+i), SeederPort)
			},
			MaxCycles: 100,
		}
	default:
		return &Plan{
			Mode:         ModeDryRun,
			ISPOnePrefix: netip.MustParsePrefix("127.0.1.0/24"),
			ISPTwoPrefix: netip.MustParsePrefix("127.0.3.0/24"),
			Permitted:    []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
			Tracker:      ap("127.0.0.1", 0),
			Observer:     ap("127.0.0.2", 0),
			Local:        []netip.AddrPort{ap("127.0.1.10", SeederPort), ap("127.0.1.11", SeederPort)},
			Protected:    ap("127.0.1.53", SeederPort),
			Remote:       []netip.AddrPort{ap("127.0.2.10", SeederPort), ap("127.0.2.11", SeederPort), ap("127.0.3.10", SeederPort)},
			RemoteISPTwo: ap("127.0.3.10", SeederPort),
			Joe:          ap("127.0.1.66", SeederPort),
			JoeVictim:    ap("127.0.1.66", VictimPort),
			Cycle: func(i int) netip.AddrPort {
				return ap(fmt.Sprintf("127.0.1.%d", 100+i), SeederPort)
			},
			MaxCycles: 100,
		}
	}
}

// Blockable are the pairs isp-one must block with the plan's swarm
// before any cycle: every local seeder with every remote one.
func (p *Plan) Blockable() []Pair {
	var out []Pair
	for _, l := range p.Local {
		for _, r := range p.Remote {
			out = append(out, Pair{Local: l.Addr(), Remote: r.Addr()})
		}
	}
	return out
}

// Pair is a pair of addresses an ISP blocks.
type Pair struct {
	Local  netip.Addr `json:"local"`
	Remote netip.Addr `json:"remote"`
}

func (p Pair) String() string { return p.Local.String() + " ↔ " + p.Remote.String() }
