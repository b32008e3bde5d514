package llmrouter

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cooldownValue is the value of a cooldown's key in Redis ("<until> <class>"), "" when it has
// none.
func cooldownValue(t *testing.T, rs *redisServer, key string) string {
	t.Helper()
	v, err := rs.client("").Get(context.Background(), key).Result()
	if err != nil {
		return ""
	}
	return v
}

// Cooldowns ended through the admin API while Redis is unreachable stay ended once it is back:
// the resynchronisation after the reconnect must not read them back from Redis, which still
// holds them, on this instance or any other; and Redis forgets them.
func TestFleetCooldownEndedWhileRedisAwayStaysEnded(t *testing.T) {
	rs := startRedis(t)
	px := startRedisProxy(t, rs.addr)
	first := newFakeUpstream(t, status(http.StatusTooManyRequests, "Retry-After", "600"))
	second := newFakeUpstream(t, okChat)
	clock := newFakeClock()
	fl := newFleetRouters(t, 2, fleetConfig(px.addr()), clock, twoProviders(first.URL, second.URL))
	a, b := fl[0], fl[1]
	ta, tb := targetOf(a.Handler, "first"), targetOf(b.Handler, "first")
	key := "t:cd:t:" + ta.StateID

	if rec := a.chat(`{"model":"m","messages":[]}`); rec.Header().Get("X-LLM-Router-Provider") != "second" {
		t.Fatalf("A used %q", rec.Header().Get("X-LLM-Router-Provider"))
	}
	within(t, 5*time.Second, "B learns A's cooldown", func() bool { return tb.cooling(clock.Now().UnixNano()) })
	if cooldownValue(t, rs, key) == "" {
		t.Fatal("the cooldown is not in Redis")
	}

	px.cut()
	within(t, 5*time.Second, "A notices Redis is away", func() bool { return !a.fleet.r.Up() })
	within(t, 5*time.Second, "B notices Redis is away", func() bool { return !b.fleet.r.Up() })
	if rec, err := adminDelete("/llm_router/cooldowns?provider=first"); err != nil || !strings.Contains(rec.Body.String(), `"cleared":2`) {
		t.Fatalf("DELETE: %v %d %s", err, rec.Code, rec.Body)
	}
	resyncsA, resyncsB := a.fleet.r.Resyncs(), b.fleet.r.Resyncs()
	px.restore()
	within(t, 10*time.Second, "A resynchronises", func() bool { return a.fleet.r.Resyncs() > resyncsA })
	within(t, 10*time.Second, "B resynchronises", func() bool { return b.fleet.r.Resyncs() > resyncsB })

	now := clock.Now().UnixNano()
	if ta.cooling(now) || tb.cooling(now) {
		t.Fatalf("the resynchronisation brought back the ended cooldown (A %v, B %v)", ta.cooling(now), tb.cooling(now))
	}
	if v := cooldownValue(t, rs, key); v != "" {
		t.Fatalf("the ended cooldown is still in Redis: %q", v)
	}
	if rec := b.chat(`{"model":"m","messages":[]}`); rec.Header().Get("X-LLM-Router-Provider") != "second" {
		t.Fatalf("B used %q", rec.Header().Get("X-LLM-Router-Provider"))
	}
	if n := first.calls.Load(); n != 2 {
		t.Errorf("the ended target had %d calls, want 2 (A's failure and B's retry)", n)
	}
}

// A cooldown ended through the admin API during a reload, while the new config's backend
// cannot reach Redis yet, stays ended after that backend's first resynchronisation.
func TestFleetCooldownEndedBeforeFirstResyncStaysEnded(t *testing.T) {
	rs := startRedis(t)
	px := startRedisProxy(t, rs.addr)
	px.cut()
	first := newFakeUpstream(t, status(http.StatusTooManyRequests, "Retry-After", "600"))
	second := newFakeUpstream(t, okChat)
	clock := newFakeClock()
	mk := twoProviders(first.URL, second.URL)
	const ns = "end-connecting/"
	oldFleet, old := startGeneration(t, fleetConfig(rs.addr), ns, clock, mk)
	if rec := old.chat(`{"model":"m","messages":[]}`); rec.Header().Get("X-LLM-Router-Provider") != "second" {
		t.Fatalf("served by %q", rec.Header().Get("X-LLM-Router-Provider"))
	}
	key := "t:cd:t:" + targetOf(old.Handler, "first").StateID
	within(t, 5*time.Second, "the cooldown reaches Redis", func() bool { return cooldownValue(t, rs, key) != "" })

	// The reload: the new config's backend starts while Redis is out of its reach.
	newFleet, cur := startGeneration(t, fleetConfig(px.addr()), ns, clock, mk)
	if newFleet.r.Up() {
		t.Fatal("the new backend reached Redis through the cut proxy")
	}
	if err := oldFleet.r.Close(); err != nil { // the old app's Stop
		t.Fatal(err)
	}
	if rec, err := adminDelete("/llm_router/cooldowns?provider=first"); err != nil || !strings.Contains(rec.Body.String(), `"cleared":1`) {
		t.Fatalf("DELETE: %v %d %s", err, rec.Code, rec.Body)
	}
	px.restore()
	within(t, 10*time.Second, "the new backend's first resynchronisation", func() bool { return newFleet.r.Resyncs() > 0 })
	if tc := targetOf(cur.Handler, "first"); tc.cooling(clock.Now().UnixNano()) {
		t.Fatal("the first resynchronisation brought back the ended cooldown")
	}
	if v := cooldownValue(t, rs, key); v != "" {
		t.Fatalf("the ended cooldown is still in Redis: %q", v)
	}
}

// An end that waits for Redis does not delete a cooldown started after it: here B, which
// reached Redis all along, ended the cooldown at once and then saw the target fail again. A,
// cut off at the end, learns B's new cooldown after the reconnect; Redis keeps it.
func TestFleetCooldownStartedAfterPendingEndWins(t *testing.T) {
	rs := startRedis(t)
	px := startRedisProxy(t, rs.addr)
	var sw switchable
	sw.set(status(http.StatusTooManyRequests, "Retry-After", "600"))
	first := newFakeUpstream(t, sw.serve)
	second := newFakeUpstream(t, okChat)
	clock := newFakeClock()
	mk := twoProviders(first.URL, second.URL)
	a := newFleetRouters(t, 1, fleetConfig(px.addr()), clock, mk)[0]
	b := newFleetRouters(t, 1, fleetConfig(rs.addr), clock, mk)[0]
	ta, tb := targetOf(a.Handler, "first"), targetOf(b.Handler, "first")
	key := "t:cd:t:" + ta.StateID

	if rec := a.chat(`{"model":"m","messages":[]}`); rec.Header().Get("X-LLM-Router-Provider") != "second" {
		t.Fatalf("A used %q", rec.Header().Get("X-LLM-Router-Provider"))
	}
	within(t, 5*time.Second, "B learns A's cooldown", func() bool { return tb.cooling(clock.Now().UnixNano()) })
	px.cut()
	within(t, 5*time.Second, "A notices Redis is away", func() bool { return !a.fleet.r.Up() })
	if rec, err := adminDelete("/llm_router/cooldowns?provider=first"); err != nil || !strings.Contains(rec.Body.String(), `"cleared":2`) {
		t.Fatalf("DELETE: %v %d %s", err, rec.Code, rec.Body)
	}
	if v := cooldownValue(t, rs, key); v != "" {
		t.Fatalf("B's end did not reach Redis: %q", v)
	}

	// The cause comes back a minute later, on B: a new cooldown, shorter than the ended one.
	clock.Advance(time.Minute)
	sw.set(status(http.StatusTooManyRequests, "Retry-After", "30"))
	if rec := b.chat(`{"model":"m","messages":[]}`); rec.Header().Get("X-LLM-Router-Provider") != "second" {
		t.Fatalf("B used %q", rec.Header().Get("X-LLM-Router-Provider"))
	}
	want := clock.Now().Add(30 * time.Second).UnixNano()
	within(t, 5*time.Second, "B's new cooldown reaches Redis", func() bool { return cooldownValue(t, rs, key) != "" })

	resyncs := a.fleet.r.Resyncs()
	px.restore()
	within(t, 10*time.Second, "A resynchronises", func() bool { return a.fleet.r.Resyncs() > resyncs })
	if got := ta.health.CoolUntil(); got != want {
		t.Errorf("A's deadline %d, want B's new one %d", got, want)
	}
	if v := cooldownValue(t, rs, key); !strings.HasPrefix(v, strconv.FormatInt(want, 10)+" ") {
		t.Errorf("Redis holds %q, want B's new cooldown (%d)", v, want)
	}
}
