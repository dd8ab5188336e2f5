package policy

import (
	"net/netip"
	"slices"
)

// rootServers are the IPv4 and IPv6 addresses of the 13 root DNS servers,
// a.root-servers.net to m.root-servers.net, as IANA's root hints
// (https://www.internic.net/domain/named.root) give them, followed by
// b.root-servers.net's addresses before its renumbering of 2023, which
// kept answering for a transition period.
var rootServers = []netip.Addr{
	netip.MustParseAddr("198.41.0.4"), netip.MustParseAddr("2001:503:ba3e::2:30"), // a, Verisign
	netip.MustParseAddr("170.247.170.2"), netip.MustParseAddr("2801:1b8:10::b"), // b, USC-ISI
	netip.MustParseAddr("192.33.4.12"), netip.MustParseAddr("2001:500:2::c"), // c, Cogent
	netip.MustParseAddr("199.7.91.13"), netip.MustParseAddr("2001:500:2d::d"), // d, University of Maryland
	netip.MustParseAddr("192.203.230.10"), netip.MustParseAddr("2001:500:a8::e"), // e, NASA Ames
	netip.MustParseAddr("192.5.5.241"), netip.MustParseAddr("2001:500:2f::f"), // f, ISC
	netip.MustParseAddr("192.112.36.4"), netip.MustParseAddr("2001:500:12::d0d"), // g, US DoD NIC
	netip.MustParseAddr("198.97.190.53"), netip.MustParseAddr("2001:500:1::53"), // h, US Army Research Lab
	netip.MustParseAddr("192.36.148.17"), netip.MustParseAddr("2001:7fe::53"), // i, Netnod
	netip.MustParseAddr("192.58.128.30"), netip.MustParseAddr("2001:503:c27::2:30"), // j, Verisign
	netip.MustParseAddr("193.0.14.129"), netip.MustParseAddr("2001:7fd::1"), // k, RIPE NCC
	netip.MustParseAddr("199.7.83.42"), netip.MustParseAddr("2001:500:9f::42"), // l, ICANN
	netip.MustParseAddr("202.12.27.33"), netip.MustParseAddr("2001:dc3::35"), // m, WIDE
	netip.MustParseAddr("199.9.14.201"), netip.MustParseAddr("2001:500:200::b"), // b, former addresses
}

// RootServers returns the built-in protected prefixes: one host prefix
// (/32 or /128) for each address of the 13 root DNS servers and for the
// former addresses of b.root-servers.net. Every Policy protects them,
// whatever its Config says.
func RootServers() []netip.Prefix {
	out := make([]netip.Prefix, len(rootServers))
	for i, a := range rootServers {
		out[i] = netip.PrefixFrom(a, a.BitLen())
	}
	return out
}

// prefixSet is a list of prefixes with a membership test.
type prefixSet []netip.Prefix

func (s prefixSet) contains(addr netip.Addr) bool {
	return slices.ContainsFunc(s, func(p netip.Prefix) bool { return p.Contains(addr) })
}
