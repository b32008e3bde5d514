package gate

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const t0 = int64(1_700_000_000) * int64(time.Second)

func sec(s float64) int64 { return t0 + int64(s*float64(time.Second)) }

// burst runs n goroutines that all call Allow at now and returns how many were admitted and
// the set of Retry-After values the others got.
func burst(l *Limiter, n int, now int64) (int, map[time.Duration]int) {
	var ok atomic.Int64
	var mu sync.Mutex
	retries := map[time.Duration]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			allowed, retry := l.Allow(now)
			if allowed {
				ok.Add(1)
				return
			}
			mu.Lock()
			retries[retry]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	return int(ok.Load()), retries
}

func TestLimiterConcurrent(t *testing.T) {
	l := NewLimiter(100)
	got, retries := burst(l, 1000, sec(0))
	if got != 100 {
		t.Fatalf("admitted %d of 1000, want exactly 100", got)
	}
	if len(retries) != 1 || retries[time.Minute] != 900 {
		t.Fatalf("Retry-After values %v, want 900 x 1m0s", retries)
	}
	if ok, retry := l.Allow(sec(30)); ok || retry != 30*time.Second {
		t.Fatalf("at +30s: Allow = %v, %v; want refused, 30s", ok, retry)
	}
	if ok, retry := l.Allow(sec(60) - 1); ok || retry != time.Second {
		t.Fatalf("1ns before the window ends: Allow = %v, %v; want refused, 1s", ok, retry)
	}
	got, retries = burst(l, 1000, sec(60))
	if got != 100 {
		t.Fatalf("after 60s admitted %d of 1000, want exactly 100", got)
	}
	if retries[time.Minute] != 900 {
		t.Fatalf("Retry-After values %v, want 900 x 1m0s", retries)
	}
}

func TestLimiterSequence(t *testing.T) {
	type step struct {
		at    float64 // seconds after t0
		ok    bool
		retry time.Duration
	}
	tests := []struct {
		name  string
		rpm   int
		steps []step
	}{
		{"spread", 3, []step{
			{0, true, 0}, {10, true, 0}, {20, true, 0},
			{30, false, 30 * time.Second},
			{59.999, false, time.Second}, // rounded up, never 0
			{60, true, 0},                // the request at 0 left the window
			{60, false, 10 * time.Second},
			{69.5, false, time.Second},
			{70, true, 0},
			{200, true, 0}, {200, true, 0}, {200, true, 0},
			{200, false, time.Minute},
		}},
		{"one per minute", 1, []step{
			{0, true, 0}, {0.5, false, 60 * time.Second}, {59, false, time.Second},
			{60, true, 0}, {119.9, false, time.Second}, {1000, true, 0},
		}},
		{"unlimited", 0, []step{{0, true, 0}, {0, true, 0}, {0, true, 0}}},
		{"clock going back counts as the latest time", 2, []step{
			{10, true, 0}, {5, true, 0}, // recorded at 10, not 5
			{65, false, 5 * time.Second},
			{70, true, 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLimiter(tt.rpm)
			for i, s := range tt.steps {
				ok, retry := l.Allow(sec(s.at))
				if ok != s.ok || retry != s.retry {
					t.Fatalf("step %d at %vs: Allow = %v, %v; want %v, %v", i, s.at, ok, retry, s.ok, s.retry)
				}
			}
		})
	}
}

// Against a brute-force reference over random traffic: never more than rpm admitted in any
// [t, t+60s), never a refusal while fewer than rpm were admitted in the minute before, and
// Retry-After is exactly when the oldest admission in that minute expires, rounded up.
func TestLimiterMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, rpm := range []int{1, 2, 7, 50} {
		l := NewLimiter(rpm)
		var admitted []int64
		now := t0
		for range 5000 {
			now += rng.Int64N(int64(3*time.Minute) / int64(rpm) / 2)
			var inWindow []int64
			for _, a := range admitted {
				if a > now-window {
					inWindow = append(inWindow, a)
				}
			}
			ok, retry := l.Allow(now)
			wantOK := len(inWindow) < rpm
			if ok != wantOK {
				t.Fatalf("rpm %d: Allow = %v with %d admitted in the last minute", rpm, ok, len(inWindow))
			}
			if ok {
				admitted = append(admitted, now)
				continue
			}
			want := ceilSecond(inWindow[0] + window - now)
			if retry != want || retry < time.Second || retry > time.Minute {
				t.Fatalf("rpm %d: Retry-After %v, want %v", rpm, retry, want)
			}
		}
		for i, a := range admitted {
			n := 0
			for _, b := range admitted[i:] {
				if b < a+window {
					n++
				}
			}
			if n > rpm {
				t.Fatalf("rpm %d: %d admitted in the minute from %d", rpm, n, a)
			}
		}
	}
}

func TestLimiterUnlimited(t *testing.T) {
	var nilLimiter *Limiter
	for _, l := range []*Limiter{nilLimiter, NewLimiter(0), NewLimiter(-3)} {
		for range 1000 {
			if ok, retry := l.Allow(t0); !ok || retry != 0 {
				t.Fatalf("unlimited limiter refused: %v", retry)
			}
		}
		if l.RPM() != 0 {
			t.Errorf("RPM = %d, want 0", l.RPM())
		}
	}
	if got := NewLimiter(MaxRPM + 1).RPM(); got != MaxRPM {
		t.Errorf("RPM above MaxRPM: got %d, want %d", got, MaxRPM)
	}
}

func TestLimiterDoesNotAllocate(t *testing.T) {
	l := NewLimiter(10)
	now := t0
	if n := testing.AllocsPerRun(1000, func() { now += int64(time.Second); l.Allow(now) }); n != 0 {
		t.Errorf("Allow allocates %v times per call", n)
	}
}
