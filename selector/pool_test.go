package selector

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
)

var strategies = []Strategy{RoundRobin, Priority, Weighted}

// fixture is a pool's members with their target and key states at hand.
type fixture struct {
	members []Member
	targets []*State
	keys    []*State
}

// newFixture makes n members; member i uses key i%keys (no key when keys is 0) and weight
// weight(i) (nil means 1).
func newFixture(n, keys int, weight func(int) int) *fixture {
	f := &fixture{}
	for range keys {
		f.keys = append(f.keys, new(State))
	}
	for i := range n {
		m := Member{Target: new(State), Weight: 1}
		if keys > 0 {
			m.Key = f.keys[i%keys]
		}
		if weight != nil {
			m.Weight = weight(i)
		}
		f.targets = append(f.targets, m.Target)
		f.members = append(f.members, m)
	}
	return f
}

// wantUsable is the reference: is member i healthy at now and untried?
func (f *fixture) usable(i int, now int64, tried *Tried) bool {
	m := f.members[i]
	return !m.Target.Cooling(now) && (m.Key == nil || !m.Key.Cooling(now)) && !tried.Has(i)
}

func counts(p *Pool, now int64, picks int) []int {
	c := make([]int, p.Len())
	for range picks {
		if i := p.Next(now, nil); i >= 0 {
			c[i]++
		}
	}
	return c
}

func TestRoundRobinConcurrentExact(t *testing.T) {
	p := NewPool(newFixture(3, 1, nil).members, RoundRobin, nil)
	var got [3]atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 300 {
		wg.Go(func() {
			<-start
			got[p.Next(1, nil)].Add(1)
		})
	}
	close(start)
	wg.Wait()
	for i := range got {
		if n := got[i].Load(); n != 100 {
			t.Errorf("member %d got %d picks, want 100", i, n)
		}
	}
}

func TestRoundRobin(t *testing.T) {
	const now = 100
	tests := []struct {
		name   string
		n      int
		cool   []int // targets cooling
		coolK  []int // keys cooling (member i uses key i)
		picks  int
		lo, hi int // every healthy member's share of picks
	}{
		{"all healthy", 4, nil, nil, 400, 100, 100},
		{"one of three cooling: the others share evenly", 3, []int{0}, nil, 600, 300, 300},
		{"cooling key", 3, nil, []int{2}, 600, 300, 300},
		{"one of four cooling", 4, []int{1}, nil, 800, 200, 300},
		{"two of five cooling", 5, []int{1, 2}, nil, 900, 240, 360},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(tt.n, tt.n, nil)
			cooling := map[int]bool{}
			for _, i := range tt.cool {
				f.targets[i].Cool(now, now+10)
				cooling[i] = true
			}
			for _, i := range tt.coolK {
				f.keys[i].Cool(now, now+10)
				cooling[i] = true
			}
			got := counts(NewPool(f.members, RoundRobin, nil), now, tt.picks)
			for i, c := range got {
				if cooling[i] && c != 0 {
					t.Errorf("cooling member %d got %d picks", i, c)
				}
				if !cooling[i] && (c < tt.lo || c > tt.hi) {
					t.Errorf("member %d got %d picks, want %d..%d (all: %v)", i, c, tt.lo, tt.hi, got)
				}
			}
		})
	}
}

// A long run of cooling members (one provider's targets are contiguous) must not hand all its
// turns to the member after it, as a linear probe would.
func TestRoundRobinSpreadsACoolingRun(t *testing.T) {
	const n, cool, picks = 1000, 900, 200000
	f := newFixture(n, 0, nil)
	for i := range cool {
		f.targets[i].Cool(0, 100)
	}
	got := counts(NewPool(f.members, RoundRobin, nil), 1, picks)
	mean := picks / (n - cool)
	for i, c := range got[cool:] {
		if c < mean/2 || c > 2*mean {
			t.Fatalf("member %d got %d picks, want within 2x of %d", cool+i, c, mean)
		}
	}
}

func TestRoundRobinCursor(t *testing.T) {
	var cur atomic.Uint64
	cur.Store(7)
	p := NewPool(newFixture(5, 0, nil).members, RoundRobin, &cur)
	var got []int
	for range 4 {
		got = append(got, p.Next(0, nil))
	}
	if want := []int{2, 3, 4, 0}; !equal(got, want) {
		t.Fatalf("picks from cursor 7 = %v, want %v", got, want)
	}
	if cur.Load() != 11 {
		t.Fatalf("cursor = %d, want 11: the caller's cursor must be the one advanced", cur.Load())
	}
	// A new pool over the same cursor (a config reload) carries on where the old one stopped.
	if i := NewPool(newFixture(5, 0, nil).members, RoundRobin, &cur).Next(0, nil); i != 1 {
		t.Fatalf("after reload Next = %d, want 1", i)
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPriority(t *testing.T) {
	f := newFixture(4, 4, nil)
	p := NewPool(f.members, Priority, nil)
	steps := []struct {
		name string
		now  int64
		act  func()
		want int
	}{
		{"healthy: member 0", 0, nil, 0},
		{"still member 0", 1, nil, 0},
		{"0 cools: member 1", 2, func() { f.targets[0].Cool(2, 100) }, 1},
		{"1's key cools: member 2", 3, func() { f.keys[1].Cool(3, 50) }, 2},
		{"2 cools too: member 3", 4, func() { f.targets[2].Cool(4, 60) }, 3},
		{"1's key recovers: back to 1", 50, nil, 1},
		{"0 recovers: back to 0", 100, nil, 0},
	}
	for _, st := range steps {
		if st.act != nil {
			st.act()
		}
		if got := p.Next(st.now, nil); got != st.want {
			t.Fatalf("%s: Next(%d) = %d, want %d", st.name, st.now, got, st.want)
		}
	}
}

func TestPriorityLongCoolingHead(t *testing.T) {
	const n = 1000
	f := newFixture(n, 0, nil)
	p := NewPool(f.members, Priority, nil)
	// Members 0..699 cool, the later ones recovering first: each recovery must win at once,
	// whatever the prefix hint and block caches remembered.
	for i := range 700 {
		f.targets[i].Cool(0, int64(1000+(n-i)))
	}
	if i, probes := p.next(1, nil); i != 700 || probes > 1+701+700/blockSize+1 {
		t.Fatalf("first scan: Next = %d after %d probes, want 700", i, probes)
	}
	if i, probes := p.next(2, nil); i != 700 || probes != 1 {
		t.Fatalf("steady state: Next = %d after %d probes, want 700 after 1", i, probes)
	}
	for _, j := range []int{699, 650, 600, 130, 64, 63, 1, 0} {
		now := int64(1000 + (n - j))
		if got := p.Next(now, nil); got != j {
			t.Fatalf("at %d: Next = %d, want %d (it just recovered)", now, got, j)
		}
	}
}

func TestWeighted(t *testing.T) {
	tests := []struct {
		name    string
		weights []int
		picks   int
		want    []int
	}{
		{"3:1", []int{3, 1}, 400, []int{300, 100}},
		{"reduced by the GCD", []int{4, 8, 12}, 600, []int{100, 200, 300}},
		{"equal weights are round robin", []int{5, 5, 5}, 300, []int{100, 100, 100}},
		{"non-positive weight counts as 1", []int{0, -3, 2}, 400, []int{100, 100, 200}},
		{"single member", []int{9}, 10, []int{10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(len(tt.weights), 1, func(i int) int { return tt.weights[i] })
			got := counts(NewPool(f.members, Weighted, nil), 0, tt.picks)
			if !equal(got, tt.want) {
				t.Fatalf("picks = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWeightedSkipsCooling(t *testing.T) {
	f := newFixture(3, 0, func(i int) int { return []int{6, 3, 1}[i] })
	f.targets[0].Cool(0, 100)
	got := counts(NewPool(f.members, Weighted, nil), 1, 1000)
	if got[0] != 0 || got[1] < 600 || got[2] < 150 || got[1]+got[2] != 1000 {
		t.Fatalf("picks with member 0 cooling = %v, want about 3:1 between 1 and 2", got)
	}
}

func TestBuildSchedule(t *testing.T) {
	ms := func(ws ...int) []Member {
		out := make([]Member, len(ws))
		for i, w := range ws {
			out[i] = Member{Weight: w}
		}
		return out
	}
	if got := buildSchedule(ms(5, 1, 1)); !equal(ints(got), []int{0, 0, 0, 1, 2, 0, 0}) {
		t.Errorf("5:1:1 schedule = %v", got)
	}
	if got := buildSchedule(ms(2, 2)); got != nil {
		t.Errorf("equal weights: schedule = %v, want nil", got)
	}
	// Huge weights are scaled into the cap and keep their proportions.
	big := buildSchedule(ms(3<<40, 1<<40, 1))
	if len(big) > maxSchedule+3 {
		t.Fatalf("schedule of %d entries, cap %d", len(big), maxSchedule)
	}
	c := make([]int, 3)
	for _, i := range big {
		c[i]++
	}
	if c[2] != 1 || c[0] < 3*c[1]-3 || c[0] > 3*c[1]+3 {
		t.Errorf("scaled 3:1:tiny counts = %v", c)
	}
	if got := buildSchedule(ms(int(^uint(0)>>1), 1)); len(got) == 0 || len(got) > maxSchedule+2 {
		t.Errorf("MaxInt weight: schedule of %d entries", len(got))
	}
}

func ints(s []uint32) []int {
	out := make([]int, len(s))
	for i, v := range s {
		out[i] = int(v)
	}
	return out
}

func TestTriedIsSkipped(t *testing.T) {
	for _, s := range strategies {
		t.Run(s.String(), func(t *testing.T) {
			f := newFixture(3, 0, nil)
			p := NewPool(f.members, s, nil)
			var tr Tried
			seen := map[int]bool{}
			for range 3 {
				i := p.Next(0, &tr)
				if i < 0 || seen[i] {
					t.Fatalf("Next = %d after %v", i, seen)
				}
				seen[i] = true
				tr.Add(i)
			}
			if i := p.Next(0, &tr); i != -1 {
				t.Fatalf("every member tried: Next = %d, want -1", i)
			}
			// Tried members are healthy: the exhausted request must not make the pool look
			// cooling to the next one.
			if i := p.Next(0, nil); i < 0 {
				t.Fatal("a fresh request found no member: tried members were cached as cooling")
			}
			if r := p.Recovery(0); r != 0 {
				t.Fatalf("Recovery = %d, want 0", r)
			}
			// Same with some members really cooling and the rest tried.
			f.targets[0].Cool(0, 50)
			f.targets[1].Cool(0, 50)
			tr = Tried{}
			tr.Add(2)
			if i := p.Next(1, &tr); i != -1 {
				t.Fatalf("Next = %d, want -1", i)
			}
			if i := p.Next(1, nil); i != 2 {
				t.Fatalf("fresh request: Next = %d, want 2", i)
			}
		})
	}
}

func TestAllCooling(t *testing.T) {
	for _, s := range strategies {
		for _, n := range []int{1, 7, 200} {
			f := newFixture(n, 3, func(i int) int { return 1 + i%3 })
			p := NewPool(f.members, s, nil)
			for i, tg := range f.targets {
				tg.Cool(0, int64(1000+i)) // member 0 recovers first
			}
			f.keys[1].Cool(0, 5000) // member 0 does not use key 1
			if i := p.Next(10, nil); i != -1 {
				t.Fatalf("%v/%d: Next = %d, want -1", s, n, i)
			}
			// After one full scan the answer is O(1) until the earliest recovery.
			for _, now := range []int64{11, 500, 999} {
				if i, probes := p.next(now, nil); i != -1 || probes > 1 {
					t.Fatalf("%v/%d: Next(%d) = %d after %d probes, want -1 after 1", s, n, now, i, probes)
				}
			}
			if r := p.Recovery(999); r != 1000 {
				t.Fatalf("%v/%d: Recovery = %d, want 1000", s, n, r)
			}
			if i := p.Next(1000, nil); i != 0 {
				t.Fatalf("%v/%d: Next at the earliest recovery = %d, want 0", s, n, i)
			}
			if r := p.Recovery(1000); r != 0 {
				t.Fatalf("%v/%d: Recovery with a healthy member = %d, want 0", s, n, r)
			}
		}
	}
}

func TestRecoveryScans(t *testing.T) {
	f := newFixture(300, 2, nil)
	p := NewPool(f.members, RoundRobin, nil)
	for _, tg := range f.targets {
		tg.Cool(0, 100)
	}
	f.keys[0].Cool(0, 400) // even members wait for their key
	if r := p.Recovery(1); r != 100 {
		t.Fatalf("Recovery = %d, want 100 (odd members)", r)
	}
	f.keys[1].Cool(0, 300)
	if r := p.Recovery(1); r != 100 {
		t.Fatalf("cached Recovery = %d, want 100", r)
	}
	// Time passes: the cache expires, but nobody can have recovered before 300.
	if r := p.Recovery(100); r != 300 {
		t.Fatalf("Recovery(100) = %d, want 300", r)
	}
	if r := NewPool(nil, RoundRobin, nil).Recovery(0); r != 0 {
		t.Fatalf("empty pool: Recovery = %d, want 0", r)
	}
}

func TestSharedKeyAcrossPools(t *testing.T) {
	key := new(State)
	a := NewPool([]Member{{Target: new(State), Key: key}, {Target: new(State), Key: key}}, RoundRobin, nil)
	b := NewPool([]Member{{Target: new(State), Key: key}}, Priority, nil)
	if a.Next(0, nil) < 0 || b.Next(0, nil) < 0 {
		t.Fatal("healthy pools found no member")
	}
	key.Cool(1, 60) // a KeyRefused seen through pool a
	if i := b.Next(2, nil); i != -1 {
		t.Fatalf("pool b: Next = %d, want -1 while the shared key cools", i)
	}
	if r := b.Recovery(2); r != 60 {
		t.Fatalf("pool b: Recovery = %d, want 60", r)
	}
	if i := a.Next(60, nil); i < 0 {
		t.Fatal("pool a: no member after the key recovered")
	}
}

func TestPoolEdgeCases(t *testing.T) {
	empty := NewPool(nil, Weighted, nil)
	if empty.Len() != 0 || empty.Next(0, nil) != -1 {
		t.Fatal("empty pool handed out a member")
	}
	p := NewPool([]Member{{}}, Strategy(99), nil)
	if p.Strategy() != RoundRobin {
		t.Errorf("unknown strategy became %v, want round_robin", p.Strategy())
	}
	if i := p.Next(0, nil); i != 0 {
		t.Fatalf("member with nil Target: Next = %d, want 0", i)
	}
	// NewPool copies: the caller may reuse its slice.
	ms := newFixture(2, 0, nil).members
	q := NewPool(ms, Priority, nil)
	ms[0].Target = &State{}
	ms[0].Target.Cool(0, 100)
	if i := q.Next(1, nil); i != 0 {
		t.Fatalf("pool followed a change to the caller's slice: Next = %d", i)
	}
}

// TestNextModel drives every strategy through random cooldowns, time steps and tried sets and
// checks each answer against a brute-force scan, so that no cache can ever hide a healthy
// member or hand out a cooling one.
func TestNextModel(t *testing.T) {
	for _, s := range strategies {
		for _, n := range []int{1, 5, 64, 130, 700} {
			rng := rand.New(rand.NewPCG(uint64(n), uint64(s)))
			f := newFixture(n, n/3+1, func(i int) int { return 1 + i%4 })
			p := NewPool(f.members, s, nil)
			now := int64(1)
			for step := range 4000 {
				switch r := rng.IntN(10); {
				case r < 4:
					st := f.targets[rng.IntN(n)]
					if rng.IntN(4) == 0 {
						st = f.keys[rng.IntN(len(f.keys))]
					}
					st.Cool(now, now+1+rng.Int64N(60))
				case r < 6:
					now += rng.Int64N(8)
				case r < 7:
					var want int64
					healthy := false
					for i := range n {
						if f.usable(i, now, nil) {
							healthy = true
						}
						if u := f.members[i].until(); want == 0 || u < want {
							want = u
						}
					}
					if healthy {
						want = 0
					}
					// A key that started cooling after the last scan may push a member's
					// recovery past the cached bound: Recovery may be early, never late.
					got := p.Recovery(now)
					if want == 0 && got != 0 || want != 0 && (got <= now || got > want) {
						t.Fatalf("%v/%d step %d: Recovery(%d) = %d, want %d", s, n, step, now, got, want)
					}
				default:
					var tr Tried
					for range rng.IntN(4) {
						tr.Add(rng.IntN(n))
					}
					got := p.Next(now, &tr)
					want := -1
					for i := range n {
						if f.usable(i, now, &tr) {
							want = i
							break
						}
					}
					switch {
					case got == -1 && want != -1:
						t.Fatalf("%v/%d step %d: Next = -1, but member %d is usable", s, n, step, want)
					case got != -1 && !f.usable(got, now, &tr):
						t.Fatalf("%v/%d step %d: Next = %d, which is cooling or tried", s, n, step, got)
					case s == Priority && got != want:
						t.Fatalf("%v/%d step %d: Next = %d, want the first usable, %d", s, n, step, got, want)
					}
				}
			}
		}
	}
}

// TestNextCost holds selection in a mostly cooling 35,000-member pool to a few probes.
func TestNextCost(t *testing.T) {
	const n = 35000
	layouts := []struct {
		name string
		cool func(i int) bool
	}{
		{"first 90% cooling", func(i int) bool { return i < n*9/10 }},
		{"last 90% cooling", func(i int) bool { return i >= n/10 }},
		{"90% spread", func(i int) bool { return i%10 != 3 }},
		{"90% random", func(i int) bool { return rand.New(rand.NewPCG(uint64(i), 1)).IntN(10) != 0 }},
	}
	for _, s := range strategies {
		for _, l := range layouts {
			f := newFixture(n, 100, func(i int) int { return 1 + i%4 })
			for i, tg := range f.targets {
				if l.cool(i) {
					tg.Cool(0, 1<<40)
				}
			}
			p := NewPool(f.members, s, nil)
			p.Next(1, nil) // Priority's first scan is O(n/64)
			const calls = 20000
			total, worst := 0, 0
			for range calls {
				i, probes := p.next(2, nil)
				if i < 0 || l.cool(i) {
					t.Fatalf("%v/%s: Next = %d", s, l.name, i)
				}
				total += probes
				worst = max(worst, probes)
			}
			if avg := float64(total) / calls; avg > 12 {
				t.Errorf("%v/%s: %.1f probes a call on average (worst %d), want O(1)", s, l.name, avg, worst)
			} else {
				t.Logf("%v/%s: %.2f probes a call on average, worst %d", s, l.name, avg, worst)
			}
		}
	}
}

func TestNextNoAllocs(t *testing.T) {
	for _, s := range strategies {
		for _, cooling := range []float64{0, 0.9, 1} {
			f := newFixture(1000, 10, func(i int) int { return 1 + i%3 })
			for i, tg := range f.targets {
				if float64(i) < cooling*1000 {
					tg.Cool(0, 1<<40)
				}
			}
			p := NewPool(f.members, s, nil)
			p.Next(1, nil) // let the caches settle
			var tr Tried
			tr.Add(999)
			if a := testing.AllocsPerRun(1000, func() { p.Next(2, &tr) }); a != 0 {
				t.Errorf("%v at %.0f%% cooling: %.1f allocs per Next", s, cooling*100, a)
			}
		}
	}
}

// TestConcurrentNextAndCool runs selection against cooldowns from other goroutines (for -race)
// and checks that a member cooled for good before the run is never handed out.
func TestConcurrentNextAndCool(t *testing.T) {
	for _, s := range strategies {
		f := newFixture(300, 30, func(i int) int { return 1 + i%5 })
		for i := 0; i < 300; i += 3 {
			f.targets[i].Cool(0, 1<<62)
		}
		p := NewPool(f.members, s, nil)
		var clock atomic.Int64
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(g), 7))
				for range 2000 {
					now := clock.Add(1)
					if g%2 == 0 {
						f.targets[rng.IntN(300)].Cool(now, now+int64(rng.IntN(500)))
						continue
					}
					var tr Tried
					for k := 0; k < 3; k++ {
						i := p.Next(now, &tr)
						if i < 0 {
							break
						}
						if i%3 == 0 {
							t.Errorf("%v: Next handed out member %d, cooling for good", s, i)
							return
						}
						tr.Add(i)
					}
				}
			})
		}
		wg.Wait()
		// Every temporary cooldown has passed: a healthy member must be found.
		if i := p.Next(clock.Load()+1000, nil); i < 0 || i%3 == 0 {
			t.Fatalf("%v: after all cooldowns passed Next = %d", s, i)
		}
	}
}

func TestParseStrategy(t *testing.T) {
	tests := []struct {
		in      string
		want    Strategy
		wantErr bool
	}{
		{"", RoundRobin, false},
		{"round_robin", RoundRobin, false},
		{"priority", Priority, false},
		{"weighted", Weighted, false},
		{"Weighted", 0, true},
		{"random", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseStrategy(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseStrategy(%q) = %v, %v", tt.in, got, err)
		}
		if err == nil && tt.in != "" && got.String() != tt.in {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), tt.in)
		}
	}
	if got := Strategy(7).String(); got != "strategy(7)" {
		t.Errorf("Strategy(7).String() = %q", got)
	}
}
