package gate

import (
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

func BenchmarkAuthenticate(b *testing.B) {
	for _, n := range []int{1, 100} {
		keys := manyKeys(n)
		k := mustKeys(b, keys)
		last := keys[n-1].Secret // any position costs the same; the last one proves it
		cases := []struct {
			name string
			h    http.Header
		}{
			{"hit", header("Authorization", "Bearer "+last)},
			{"miss", header("Authorization", "Bearer sk-gw-not-a-key")},
			{"x-api-key", header("X-Api-Key", last)},
		}
		for _, c := range cases {
			b.Run(c.name+"/keys="+strconv.Itoa(n), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					k.Authenticate(c.h)
				}
			})
		}
	}
}

func BenchmarkLimiterAllow(b *testing.B) {
	l := NewLimiter(1000)
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now += int64(30 * time.Millisecond) // a mix of admissions and refusals
		l.Allow(now)
	}
}

func BenchmarkLimiterAllowParallel(b *testing.B) {
	l := NewLimiter(1000)
	var clock atomic.Int64
	clock.Store(t0)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Allow(clock.Add(int64(30 * time.Millisecond)))
		}
	})
}

func BenchmarkAllowlist(b *testing.B) {
	a, err := ParseAllowlist([]string{"10.0.0.0/8", "192.168.0.0/16", "2001:db8::/32", "fd00::/8"})
	if err != nil {
		b.Fatal(err)
	}
	ip := netip.MustParseAddr("::ffff:192.168.3.4")
	b.ReportAllocs()
	for b.Loop() {
		a.Allows(ip)
	}
}
