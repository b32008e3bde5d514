package gate

import (
	"fmt"
	"net/netip"
	"strings"
)

// Allowlist is a set of CIDR prefixes, IPv4 and IPv6. IPv4 prefixes also match IPv4-mapped
// IPv6 addresses (::ffff:a.b.c.d), because a dual-stack listener reports IPv4 clients that way.
// The empty Allowlist allows everything.
type Allowlist []netip.Prefix

// ParseAllowlist parses CIDR prefixes and bare addresses (a bare address is a /32 or /128).
// Host bits after the prefix length are ignored. IPv4-mapped IPv6 entries are stored as their
// IPv4 equivalent. Zoned addresses (fe80::1%eth0) are refused: a zone is local to one host.
func ParseAllowlist(cidrs []string) (Allowlist, error) {
	a := make(Allowlist, 0, len(cidrs))
	for i, raw := range cidrs {
		s := strings.TrimSpace(raw)
		p, err := parsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("gate: allowlist entry %d %q: %s", i+1, raw, err)
		}
		a = append(a, p)
	}
	return a, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, fmt.Errorf("empty entry")
	}
	if strings.Contains(s, "%") {
		return netip.Prefix{}, fmt.Errorf("zoned addresses are not supported")
	}
	var p netip.Prefix
	if addr, bits, ok := strings.Cut(s, "/"); ok {
		ip, err := netip.ParseAddr(addr)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("not an IP address before the '/'")
		}
		p, err = netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("prefix length %q is not 0-%d", bits, ip.BitLen())
		}
	} else {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("not an IP address or CIDR prefix")
		}
		p = netip.PrefixFrom(ip, ip.BitLen())
	}
	if ip := p.Addr(); ip.Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, fmt.Errorf("IPv4-mapped prefix shorter than /96 spans non-mapped addresses")
		}
		p = netip.PrefixFrom(ip.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

// Allows reports whether ip is inside one of the prefixes. An invalid address is allowed only
// by the empty Allowlist.
func (a Allowlist) Allows(ip netip.Addr) bool {
	if len(a) == 0 {
		return true
	}
	ip = ip.WithZone("").Unmap()
	for _, p := range a {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
