package gate

import (
	"net/netip"
	"strings"
	"testing"
)

func TestAllowlist(t *testing.T) {
	a, err := ParseAllowlist([]string{
		"10.0.0.0/8",
		" 192.168.1.7 ", // bare IPv4: /32
		"2001:db8::/32",
		"2001:db8:ffff::1",      // inside the /32 anyway
		"fd00::1",               // bare IPv6: /128
		"172.16.5.9/12",         // host bits are dropped
		"::ffff:100.64.0.0/106", // mapped prefix, stored as 100.64.0.0/10
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ip   string
		want bool
	}{
		{"10.1.2.3", true},
		{"11.0.0.1", false},
		{"192.168.1.7", true},
		{"192.168.1.8", false},
		{"172.31.255.255", true},
		{"172.32.0.0", false},
		{"2001:db8:1::5", true},
		{"2001:db9::1", false},
		{"fd00::1", true},
		{"fd00::2", false},
		{"::ffff:10.9.9.9", true}, // mapped address matches an IPv4 prefix
		{"::ffff:192.168.1.7", true},
		{"::ffff:11.0.0.1", false},
		{"100.127.0.1", true}, // from the mapped prefix
		{"::ffff:100.64.0.1", true},
		{"::a00:1", false}, // IPv4-compatible (not mapped) is IPv6
		{"fe80::1%eth0", false},
		{"2001:db8::1%eth0", true}, // zone dropped before matching
	}
	for _, tt := range tests {
		if got := a.Allows(netip.MustParseAddr(tt.ip)); got != tt.want {
			t.Errorf("Allows(%s) = %v, want %v", tt.ip, got, tt.want)
		}
	}
	if a.Allows(netip.Addr{}) {
		t.Error("a non-empty allowlist must refuse the invalid address")
	}
}

func TestAllowlistEmptyAllowsAll(t *testing.T) {
	for _, in := range [][]string{nil, {}} {
		a, err := ParseAllowlist(in)
		if err != nil {
			t.Fatal(err)
		}
		for _, ip := range []netip.Addr{netip.MustParseAddr("8.8.8.8"), netip.MustParseAddr("::1"), {}} {
			if !a.Allows(ip) {
				t.Errorf("empty allowlist refused %v", ip)
			}
		}
	}
}

func TestAllowlistZeroPrefix(t *testing.T) {
	a, err := ParseAllowlist([]string{"0.0.0.0/0"})
	if err != nil {
		t.Fatal(err)
	}
	if !a.Allows(netip.MustParseAddr("203.0.113.1")) || !a.Allows(netip.MustParseAddr("::ffff:203.0.113.1")) {
		t.Error("0.0.0.0/0 must allow every IPv4 client, mapped or not")
	}
	if a.Allows(netip.MustParseAddr("2001:db8::1")) {
		t.Error("0.0.0.0/0 must not allow IPv6 clients")
	}
}

func TestParseAllowlistErrors(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"", "empty entry"},
		{"10.0.0.0/33", `prefix length "33" is not 0-32`},
		{"2001:db8::/129", `prefix length "129" is not 0-128`},
		{"10.0.0.0/-1", "prefix length"},
		{"10.0.0.0/", "prefix length"},
		{"10.0.0/8", "not an IP address before the '/'"},
		{"example.com", "not an IP address or CIDR prefix"},
		{"10.0.0.256", "not an IP address or CIDR prefix"},
		{"fe80::1%eth0", "zoned addresses are not supported"},
		{"::ffff:0.0.0.0/95", "IPv4-mapped prefix shorter than /96"},
	}
	for _, tt := range tests {
		_, err := ParseAllowlist([]string{"10.0.0.0/8", tt.in})
		if err == nil {
			t.Errorf("ParseAllowlist(%q): no error", tt.in)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tt.want) || !strings.Contains(msg, "entry 2") {
			t.Errorf("ParseAllowlist(%q) = %q, want it to name entry 2 and say %q", tt.in, msg, tt.want)
		}
	}
}
