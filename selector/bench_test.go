package selector

import (
	"strconv"
	"testing"
	"time"
)

// benchPool builds an n-member pool with 100 shared keys and weights 1..4, and cools the first
// cooling*n members: contiguous, as one provider's targets are, which is the hard case for a
// scan.
func benchPool(s Strategy, n int, cooling float64) *Pool {
	f := newFixture(n, min(n, 100), func(i int) int { return 1 + i%4 })
	for i, tg := range f.targets {
		if float64(i) < cooling*float64(n) {
			tg.Cool(0, 1<<62)
		}
	}
	return NewPool(f.members, s, nil)
}

var benchStates = []struct {
	name    string
	cooling float64
}{{"healthy", 0}, {"90pct_cooling", 0.9}, {"all_cooling", 1}}

func BenchmarkNext(b *testing.B) {
	for _, s := range strategies {
		name := map[Strategy]string{RoundRobin: "RoundRobin", Priority: "Priority", Weighted: "Weighted"}[s]
		b.Run(name, func(b *testing.B) {
			for _, n := range []int{10, 35000} {
				b.Run(strconv.Itoa(n), func(b *testing.B) {
					for _, st := range benchStates {
						b.Run(st.name, func(b *testing.B) {
							p := benchPool(s, n, st.cooling)
							var tr Tried
							b.ReportAllocs()
							for b.Loop() {
								p.Next(1, &tr)
							}
						})
					}
				})
			}
		})
	}
}

func BenchmarkNextParallel(b *testing.B) {
	p := benchPool(RoundRobin, 35000, 0)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		var tr Tried
		for pb.Next() {
			p.Next(1, &tr)
		}
	})
}

func BenchmarkClassify(b *testing.B) {
	body := []byte(groqRate)
	b.ReportAllocs()
	for b.Loop() {
		Classify(429, body, false)
	}
}

func BenchmarkRetryAfter(b *testing.B) {
	body := []byte(geminiRate)
	now := time.Unix(1740830400, 0)
	b.ReportAllocs()
	for b.Loop() {
		RetryAfter("", body, now)
	}
}
