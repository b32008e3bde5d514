package state

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestParseMessage(t *testing.T) {
	c, origin, end, ok := parseMessage("k 0123abcd 1700000000000000000 2 origin1")
	if !ok || end || !c.Key || c.ID != "0123abcd" || c.Until != 1700000000000000000 || c.Class != 2 || origin != "origin1" {
		t.Fatalf("%+v %q %v %v", c, origin, end, ok)
	}
	c, origin, end, ok = parseMessage("t 0123abcd 1700000000000000000 2 origin1 end")
	if !ok || !end || c.Key || c.ID != "0123abcd" || c.Until != 1700000000000000000 || origin != "origin1" {
		t.Fatalf("an end: %+v %q %v %v", c, origin, end, ok)
	}
	for _, bad := range []string{"", "x 0123 1 2 o", "t ZZZ 1 2 o", "t 0123 -1 2 o", "t 0123 1 300 o", "t 0123 1 2", "t ../x 1 2 o",
		"t 0123 1 2 o stop", "t 0123 1 2 o end end"} {
		if _, _, _, ok := parseMessage(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestMemorySticky(t *testing.T) {
	now := time.Unix(1000, 0)
	m := &Memory{Now: func() time.Time { return now }}
	m.Put("file", "f1", "owner", time.Minute)
	if o, ok := m.Get("file", "f1"); !ok || o != "owner" {
		t.Fatalf("%q %v", o, ok)
	}
	if _, ok := m.Get("batch", "f1"); ok {
		t.Error("kinds mix")
	}
	now = now.Add(time.Minute)
	if _, ok := m.Get("file", "f1"); ok {
		t.Error("outlived its ttl")
	}
	m.Put("file", "f2", "o", time.Minute)
	m.Delete("file", "f2")
	if _, ok := m.Get("file", "f2"); ok {
		t.Error("deleted, still there")
	}
	for i := range MaxMemoryEntries + 10 {
		m.Put("file", strconv.Itoa(i), "o", time.Hour)
	}
	if n := len(m.m); n > MaxMemoryEntries {
		t.Errorf("%d entries, bound %d", n, MaxMemoryEntries)
	}
}

// testRedis starts a redis-server on a free port for one test.
func testRedis(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		msg := "redis-server not found: install it (apt-get install redis-server) to run this test"
		if os.Getenv("CI") == "true" {
			t.Fatal("in CI, where it must run: " + msg)
		}
		t.Skip(msg)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); c.Ping(context.Background()).Err() != nil; {
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not answer")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return addr
}

func newTest(t *testing.T, addr string, now func() time.Time, onCool func(Cooldown)) *Redis {
	t.Helper()
	r, err := New(Config{Addrs: []string{addr}, Prefix: "s:", ReadTimeout: time.Second, WriteTimeout: time.Second}, Options{Now: now, OnCooldown: onCool})
	if err != nil {
		t.Fatal(err)
	}
	r.Start()
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// The first cooldown written sets the deadline: a later, longer one neither replaces it in
// Redis nor reaches the peers.
func TestCooldownFirstWriterWins(t *testing.T) {
	addr := testRedis(t)
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	var mu sync.Mutex
	var got []Cooldown
	a := newTest(t, addr, clock, nil)
	_ = newTest(t, addr, clock, func(c Cooldown) { mu.Lock(); got = append(got, c); mu.Unlock() })
	time.Sleep(100 * time.Millisecond) // let b subscribe (its resync would also deliver it)
	first := Cooldown{ID: "00ff", Until: now.Add(30 * time.Second).UnixNano(), Class: 2}
	a.Cooled(first)
	a.Cooled(Cooldown{ID: "00ff", Until: now.Add(90 * time.Second).UnixNano(), Class: 2})
	deadline := time.Now().Add(2 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for _, c := range got {
		if c != first {
			t.Errorf("peer got %+v, want only %+v", c, first)
		}
	}
	if len(got) == 0 {
		t.Fatal("the peer got nothing")
	}
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
	defer c.Close()
	v, _ := c.Get(context.Background(), "s:cd:t:00ff").Result()
	if !strings.HasPrefix(v, strconv.FormatInt(first.Until, 10)+" ") {
		t.Errorf("stored %q", v)
	}
	if ttl := c.PTTL(context.Background(), "s:cd:t:00ff").Val(); ttl <= 29*time.Second || ttl > 30*time.Second {
		t.Errorf("ttl %s", ttl)
	}
}

// The fleet-wide window behaves as gate.Limiter: rpm admissions in any rolling minute, the
// wait until the oldest leaves it, and a key that pauses a minute gets its rpm back.
func TestAllowSlidingWindow(t *testing.T) {
	addr := testRedis(t)
	now := time.Unix(1_800_000_000, 0)
	r := newTest(t, addr, func() time.Time { return now }, nil)
	id := LimitID("alice", "abcd1234", 3)
	for i := range 3 {
		if ok, _, err := r.Allow(id, 3, now.Add(time.Duration(i)*10*time.Second)); !ok || err != nil {
			t.Fatalf("request %d refused (%v)", i, err)
		}
	}
	ok, wait, err := r.Allow(id, 3, now.Add(25*time.Second))
	if ok || err != nil || wait != 35*time.Second {
		t.Fatalf("fourth: ok %v wait %s err %v; want refused for 35s", ok, wait, err)
	}
	if ok, _, _ := r.Allow(id, 3, now.Add(60*time.Second)); !ok {
		t.Error("the oldest left the window: want admitted")
	}
	if ok, _, _ := r.Allow(id, 3, now.Add(61*time.Second)); ok {
		t.Error("three in the last minute: want refused")
	}
	if ok, _, _ := r.Allow(id, 3, now.Add(200*time.Second)); !ok {
		t.Error("after a pause: want admitted")
	}
}

// With Redis away, Allow answers at once with an error, and Cooled drops without blocking.
func TestAwayAnswersAtOnce(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	_ = l.Close() // nothing listens there
	r := newTest(t, addr, time.Now, nil)
	if r.Up() {
		t.Fatal("up with nothing listening")
	}
	start := time.Now()
	for range 1000 {
		if _, _, err := r.Allow("00", 1, time.Now()); err == nil {
			t.Fatal("no error while away")
		}
		r.Cooled(Cooldown{ID: "00", Until: time.Now().Add(time.Minute).UnixNano()})
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("1000 calls while away took %s", d)
	}
	if r.Dropped() != 1000 {
		t.Errorf("dropped %d", r.Dropped())
	}
}

// BenchmarkAllow is one limited request's round trip to Redis on loopback: the Lua window.
func BenchmarkAllow(b *testing.B) {
	addr := testRedis(b)
	r, err := New(Config{Addrs: []string{addr}, ReadTimeout: time.Second, WriteTimeout: time.Second}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	r.Start()
	defer r.Close()
	id := LimitID("bench", "00000000", MaxBenchRPM)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Millisecond) // the window holds at most 60,000 admissions
		if ok, _, err := r.Allow(id, MaxBenchRPM, now); !ok || err != nil {
			b.Fatalf("refused: %v", err)
		}
	}
}

// MaxBenchRPM is BenchmarkAllow's limit: never reached.
const MaxBenchRPM = 1_000_000

// After Close (a reload replaced the config), calls from handlers still in flight answer from
// local state at once, without a warning.
func TestClosedGoesLocalQuietly(t *testing.T) {
	addr := testRedis(t)
	core, logs := observer.New(zap.WarnLevel)
	r, err := New(Config{Addrs: []string{addr}}, Options{Logger: zap.New(core)})
	if err != nil {
		t.Fatal(err)
	}
	r.Start()
	if !r.Up() {
		t.Fatal("not up")
	}
	_ = r.Close()
	if _, _, err := r.Allow("00", 1, time.Now()); err == nil {
		t.Error("Allow after Close went to Redis")
	}
	r.Sticky().Put("file", "f", "o", time.Minute)
	r.Cooled(Cooldown{ID: "00", Until: time.Now().Add(time.Minute).UnixNano()})
	if logs.Len() != 0 {
		t.Errorf("warnings after Close: %v", logs.All())
	}
}

// Backends that share a sticky store (a reload's old and new config) send its writes through
// the one started last; when that one closes (a new config that failed to start and is rolled
// back), through the one before it again.
func TestSharedStickyFollowsTheStartedBackend(t *testing.T) {
	addr := testRedis(t)
	s := NewSticky(nil)
	mk := func() *Redis {
		r, err := New(Config{Addrs: []string{addr}, Prefix: "s:", ReadTimeout: time.Second, WriteTimeout: time.Second}, Options{Sticky: s})
		if err != nil {
			t.Fatal(err)
		}
		r.Start()
		t.Cleanup(func() { _ = r.Close() })
		return r
	}
	older, newer := mk(), mk()
	if older.Sticky() != s || newer.Sticky() != s || s.cur.Load() != newer {
		t.Fatal("the store is not the one given, or not on the backend started last")
	}
	_ = newer.Close()
	if s.cur.Load() != older {
		t.Fatal("after the newer backend closed, the store is not back on the older one")
	}
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
	defer c.Close()
	s.Put("file", "file-x", "0123", time.Minute)
	if n := c.Exists(context.Background(), "s:"+stickyKeys+Hash("file")+":"+Hash("file", "file-x")).Val(); n != 1 {
		t.Error("the write did not reach Redis through the older backend")
	}
	_ = older.Close()
	if s.cur.Load() != nil {
		t.Error("a closed backend is still the store's")
	}
}

// Ends kept while Redis is away are bounded: one beyond MaxPendingEnds is refused, and ends
// whose deadline has passed (their record has expired in Redis) make room.
func TestPendingEndsAreBounded(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Unix(1000, 0).UnixNano())
	r, err := New(Config{Addrs: []string{"127.0.0.1:1"}}, Options{Now: func() time.Time { return time.Unix(0, now.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	until := now.Load() + int64(time.Minute)
	ends := make([]Cooldown, MaxPendingEnds+1)
	for i := range ends {
		ends[i] = Cooldown{ID: Hash(strconv.Itoa(i)), Until: until}
	}
	if err := r.EndCooldowns(ends[:MaxPendingEnds]); !errors.Is(err, errAway) {
		t.Fatalf("ends while away: %v, want errAway", err)
	}
	if err := r.EndCooldowns(ends[:1]); !errors.Is(err, errAway) || r.PendingEnds() != MaxPendingEnds {
		t.Fatalf("an end held already: %v, %d pending", err, r.PendingEnds())
	}
	if err := r.EndCooldowns(ends[MaxPendingEnds:]); !errors.Is(err, ErrEndsFull) || r.PendingEnds() != MaxPendingEnds {
		t.Fatalf("an end beyond the bound: %v, %d pending", err, r.PendingEnds())
	}
	now.Add(int64(2 * time.Minute))
	fresh := Cooldown{ID: Hash("fresh"), Until: now.Load() + int64(time.Minute)}
	if err := r.EndCooldowns([]Cooldown{fresh}); !errors.Is(err, errAway) || r.PendingEnds() != 1 {
		t.Fatalf("after the deadlines passed: %v, %d pending, want 1", err, r.PendingEnds())
	}
}

// An end that Redis answers with an error (here a record of the wrong type, which no retry
// would fix) is done with: it does not wait for ever, failing every resynchronisation, and the
// other ends sent with it are applied.
func TestEndAnsweredWithAnErrorIsDone(t *testing.T) {
	addr := testRedis(t)
	now := time.Unix(1_800_000_000, 0)
	r := newTest(t, addr, func() time.Time { return now }, nil)
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
	defer c.Close()
	ctx := context.Background()
	until := now.Add(time.Minute).UnixNano()
	if err := c.HSet(ctx, "s:cd:t:00ab", "x", "1").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "s:cd:t:00cd", strconv.FormatInt(until, 10)+" 2", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if !r.Up() {
		t.Fatal("not connected")
	}
	if err := r.EndCooldowns([]Cooldown{{ID: "00ab", Until: until}, {ID: "00cd", Until: until}}); err != nil {
		t.Fatalf("EndCooldowns: %v", err)
	}
	if n := r.PendingEnds(); n != 0 {
		t.Errorf("%d ends still wait", n)
	}
	if n := c.Exists(ctx, "s:cd:t:00cd").Val(); n != 0 {
		t.Error("the end sent with the refused one was not applied")
	}
	if !r.Up() {
		t.Error("an error reply marked Redis away")
	}
}

// An end sent while a resynchronisation reads the shared cooldowns waits for it to finish,
// then deletes the record and is applied locally again (OnEnd): the resynchronisation may
// have read the ended cooldown back into the local state.
func TestEndDuringResyncIsAppliedAgain(t *testing.T) {
	addr := testRedis(t)
	now := time.Unix(1_800_000_000, 0)
	c := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
	defer c.Close()
	ctx := context.Background()
	until := now.Add(time.Minute).UnixNano()
	if err := c.Set(ctx, "s:cd:t:00ab", strconv.FormatInt(until, 10)+" 2", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	inScan, release := make(chan struct{}), make(chan struct{})
	var once, freed sync.Once
	var mu sync.Mutex
	var ended []Cooldown
	r, err := New(Config{Addrs: []string{addr}, Prefix: "s:", ReadTimeout: time.Second, WriteTimeout: time.Second}, Options{
		Now: func() time.Time { return now },
		// The first cooldown the resynchronisation reads holds it there.
		OnCooldown: func(Cooldown) { once.Do(func() { close(inScan); <-release }) },
		OnEnd:      func(c Cooldown) { mu.Lock(); ended = append(ended, c); mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	free := func() { freed.Do(func() { close(release) }) }
	t.Cleanup(free)
	r.Start()
	select {
	case <-inScan:
	case <-time.After(10 * time.Second):
		t.Fatal("no resynchronisation read the cooldown")
	}
	done := make(chan error, 1)
	go func() { done <- r.EndCooldowns([]Cooldown{{ID: "00ab", Until: until}}) }()
	select {
	case err := <-done:
		t.Fatalf("the end did not wait for the resynchronisation under way: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	free()
	if err := <-done; err != nil {
		t.Fatalf("EndCooldowns: %v", err)
	}
	if n := c.Exists(ctx, "s:cd:t:00ab").Val(); n != 0 {
		t.Error("the ended cooldown is still in Redis")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ended) != 1 || ended[0] != (Cooldown{ID: "00ab", Until: until}) {
		t.Errorf("applied locally again: %+v", ended)
	}
}
