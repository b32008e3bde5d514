package selector

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestCoolIdempotent(t *testing.T) {
	var s State
	steps := []struct {
		name        string
		now, until  int64
		wantStarted bool
		wantUntil   int64
	}{
		{"first failure starts a cooldown", 100, 200, true, 200},
		{"re-fail while cooling keeps the deadline", 150, 300, false, 200},
		{"re-fail with an earlier deadline changes nothing", 160, 170, false, 200},
		{"a deadline already passed starts nothing", 250, 250, false, 200},
		{"after the deadline a new failure sets a new one", 200, 400, true, 400},
	}
	for _, st := range steps {
		if got := s.Cool(st.now, st.until); got != st.wantStarted {
			t.Errorf("%s: Cool(%d, %d) = %v, want %v", st.name, st.now, st.until, got, st.wantStarted)
		}
		if got := s.CoolUntil(); got != st.wantUntil {
			t.Errorf("%s: CoolUntil() = %d, want %d", st.name, got, st.wantUntil)
		}
	}
}

func TestCooling(t *testing.T) {
	var s State
	if s.Cooling(0) {
		t.Fatal("zero State is cooling")
	}
	s.Cool(10, 20)
	for _, tt := range []struct {
		now  int64
		want bool
	}{{10, true}, {19, true}, {20, false}, {21, false}} {
		if got := s.Cooling(tt.now); got != tt.want {
			t.Errorf("Cooling(%d) = %v, want %v", tt.now, got, tt.want)
		}
	}
}

// A flapping target recovers on time, is picked again, fails again and cools again.
func TestFlappingTarget(t *testing.T) {
	var s State
	const cool = 10
	now := int64(1000)
	for round := range 5 {
		if s.Cooling(now) {
			t.Fatalf("round %d: cooling at %d, want healthy", round, now)
		}
		if !s.Cool(now, now+cool) {
			t.Fatalf("round %d: Cool did not start", round)
		}
		// Failures of requests that were in flight when it first failed must not extend it.
		for k := int64(1); k < cool; k++ {
			if s.Cool(now+k, now+k+cool) {
				t.Fatalf("round %d: a re-fail at +%d started a new cooldown", round, k)
			}
		}
		if !s.Cooling(now + cool - 1) {
			t.Fatalf("round %d: healthy before its deadline", round)
		}
		now += cool
	}
}

func TestCoolConcurrentStartsOnce(t *testing.T) {
	var s State
	const g = 64
	var started atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range g {
		wg.Go(func() {
			<-start
			// Different deadlines, as from requests that failed at slightly different times.
			if s.Cool(100, 200+int64(i)) {
				started.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	if n := started.Load(); n != 1 {
		t.Fatalf("%d goroutines started a cooldown, want 1", n)
	}
	if u := s.CoolUntil(); u < 200 || u >= 200+g {
		t.Fatalf("CoolUntil() = %d, want one of the deadlines asked for", u)
	}
}

func TestRecordSnapshot(t *testing.T) {
	var s State
	s.Cool(0, 77)
	s.Record(Success, 200)
	s.Record(ClientError, 400)
	s.Record(RateLimited, 429)
	s.Record(UpstreamDown, 502)
	s.Record(ClientGone, 499)
	s.Record(Success, 200)
	want := Snapshot{Requests: 5, Failures: 2, LastClass: UpstreamDown, LastStatus: 502, CoolUntil: 77}
	if got := s.Snapshot(); got != want {
		t.Fatalf("Snapshot() = %+v, want %+v", got, want)
	}
	s.Record(UpstreamDown, 0) // connection error: no status
	if got := s.Snapshot(); got.LastStatus != 0 || got.Failures != 3 {
		t.Fatalf("after a connection error Snapshot() = %+v", got)
	}
	var z State
	if got := z.Snapshot(); got != (Snapshot{}) {
		t.Fatalf("zero Snapshot() = %+v", got)
	}
}

func TestRecordConcurrent(t *testing.T) {
	var s State
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				s.Record(KeyRefused, 401)
			}
		})
	}
	wg.Wait()
	got := s.Snapshot()
	if got.Requests != 8000 || got.Failures != 8000 || got.LastClass != KeyRefused || got.LastStatus != 401 {
		t.Fatalf("Snapshot() = %+v", got)
	}
}

func TestStateCoolingCause(t *testing.T) {
	var s State
	if _, ok := s.CoolingCause(0); ok {
		t.Error("a healthy state has a cause")
	}
	if !s.CoolFor(10, 100, RateLimited) {
		t.Fatal("CoolFor started nothing")
	}
	if c, ok := s.CoolingCause(50); !ok || c != RateLimited {
		t.Errorf("cause at 50 = %v, %v", c, ok)
	}
	// A failure of another class while cooling keeps the deadline and its cause.
	if s.CoolFor(60, 500, KeyRefused) {
		t.Error("a cooling state started a second cooldown")
	}
	if c, _ := s.CoolingCause(60); c != RateLimited {
		t.Errorf("cause after a second failure = %v, want the first cooldown's", c)
	}
	if _, ok := s.CoolingCause(100); ok {
		t.Error("a cause outlived its cooldown")
	}
	// A later cooldown has its own cause; one started by Cool has none.
	s.CoolFor(200, 300, UpstreamDown)
	if c, ok := s.CoolingCause(250); !ok || c != UpstreamDown {
		t.Errorf("cause at 250 = %v, %v", c, ok)
	}
	s.Cool(400, 450)
	if _, ok := s.CoolingCause(420); ok {
		t.Error("a cooldown started by Cool has a cause")
	}
}

func TestEndCooldownAndForgetCaches(t *testing.T) {
	var target, key State
	p := NewPool([]Member{{Target: &target, Key: &key}}, Priority, nil)
	if !key.Cool(10, 1000) {
		t.Fatal("no cooldown")
	}
	if p.Next(20, nil) != -1 {
		t.Fatal("a cooling member was picked")
	}
	if !key.EndCooldown(30) || key.Cooling(30) || key.EndCooldown(30) {
		t.Fatal("EndCooldown")
	}
	p.ForgetCaches()
	if p.Next(40, nil) != 0 {
		t.Fatal("the member whose cooldown ended is not picked")
	}
	// A new failure cools it again, at once.
	if !key.Cool(50, 500) || !key.Cooling(60) {
		t.Fatal("no new cooldown after an early end")
	}
}
