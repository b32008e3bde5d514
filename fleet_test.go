package llmrouter

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/selector"
	"github.com/llmrouter/caddy-llm-router/state"
)

// switchable answers okChat until fail is set, then fail's handler.
type switchable struct {
	fail atomic.Pointer[http.HandlerFunc]
}

func (s *switchable) serve(w http.ResponseWriter, r *http.Request) {
	if f := s.fail.Load(); f != nil {
		(*f)(w, r)
		return
	}
	okChat(w, r)
}

func (s *switchable) set(h http.HandlerFunc) { s.fail.Store(&h) }

// twoProviders is a handler whose model m is served by "first" (tried first: priority) and
// then "second".
func twoProviders(first, second string, firstKeys ...string) func() *Handler {
	if len(firstKeys) == 0 {
		firstKeys = []string{"sk-first-provider-key-0001"}
	}
	return func() *Handler {
		return &Handler{Strategy: "priority", Providers: []catalog.ProviderConfig{
			provider("first", first, firstKeys, "m", "up-m"),
			provider("second", second, []string{"sk-second-provider-key-0002"}, "m", "up-m"),
		}}
	}
}

func targetOf(h *Handler, prov string) *target {
	for _, t := range h.targets {
		if t.Provider.Name == prov {
			return t
		}
	}
	return nil
}

// A 429 with Retry-After seen by A: B stops sending to that target within a second, with the
// same deadline.
func TestFleetRateLimitedTargetCoolsOnPeers(t *testing.T) {
	rs := startRedis(t)
	var sw switchable
	first := newFakeUpstream(t, sw.serve)
	second := newFakeUpstream(t, okChat)
	clock := newFakeClock()
	fl := newFleetRouters(t, 2, fleetConfig(rs.addr), clock, twoProviders(first.URL, second.URL))
	a, b := fl[0], fl[1]

	if rec := b.chat(`{"model":"m","messages":[]}`); rec.Header().Get("X-LLM-Router-Provider") != "first" {
		t.Fatalf("before: B used %q", rec.Header().Get("X-LLM-Router-Provider"))
	}
	sw.set(status(http.StatusTooManyRequests, "Retry-After", "30"))
	if rec := a.chat(`{"model":"m","messages":[]}`); rec.Code != 200 || rec.Header().Get("X-LLM-Router-Provider") != "second" {
		t.Fatalf("A: %d via %q", rec.Code, rec.Header().Get("X-LLM-Router-Provider"))
	}
	ta, tb := targetOf(a.Handler, "first"), targetOf(b.Handler, "first")
	took := within(t, time.Second, "B learns A's cooldown", func() bool { return tb.cooling(clock.Now().UnixNano()) })
	t.Logf("B learnt the cooldown in %s", took)
	if got, want := tb.health.CoolUntil(), ta.health.CoolUntil(); got != want {
		t.Errorf("B's deadline %d, A's %d", got, want)
	}
	if want := clock.Now().Add(30 * time.Second).UnixNano(); ta.health.CoolUntil() != want {
		t.Errorf("deadline %d, want now+30s %d", ta.health.CoolUntil(), want)
	}
	if c, ok := tb.health.CoolingCause(clock.Now().UnixNano()); !ok || c != selector.RateLimited {
		t.Errorf("B's cause %v %v", c, ok)
	}
	before := first.calls.Load()
	for range 5 {
		if rec := b.chat(`{"model":"m","messages":[]}`); rec.Header().Get("X-LLM-Router-Provider") != "second" {
			t.Fatalf("B still sends to %q", rec.Header().Get("X-LLM-Router-Provider"))
		}
	}
	if n := first.calls.Load() - before; n != 0 {
		t.Errorf("B sent %d requests to the cooling target", n)
	}
	// The deadline is the first failure's: a second failure elsewhere does not extend it.
	clock.Advance(10 * time.Second)
	if !tb.cooling(clock.Now().UnixNano()) {
		t.Fatal("B's cooldown ended early")
	}
	clock.Advance(21 * time.Second)
	if tb.cooling(clock.Now().UnixNano()) {
		t.Error("B's cooldown outlived the deadline")
	}
}

// A key refused (401) on A is cooling on B: every target of that key there.
func TestFleetRefusedKeyCoolsOnPeers(t *testing.T) {
	rs := startRedis(t)
	var sw switchable
	first := newFakeUpstream(t, sw.serve)
	second := newFakeUpstream(t, okChat)
	clock := newFakeClock()
	fl := newFleetRouters(t, 2, fleetConfig(rs.addr), clock, twoProviders(first.URL, second.URL))
	a, b := fl[0], fl[1]
	sw.set(status(http.StatusUnauthorized))
	if rec := a.chat(`{"model":"m","messages":[]}`); rec.Code != 200 {
		t.Fatalf("A: %d", rec.Code)
	}
	tb := targetOf(b.Handler, "first")
	within(t, time.Second, "B learns the key refusal", func() bool { return tb.key.Cooling(clock.Now().UnixNano()) })
	if tb.health.Cooling(clock.Now().UnixNano()) {
		t.Error("the key cooled, not the target: B cools the target itself")
	}
	if rec := b.chat(`{"model":"m","messages":[]}`); rec.Header().Get("X-LLM-Router-Provider") != "second" {
		t.Errorf("B used %q", rec.Header().Get("X-LLM-Router-Provider"))
	}
}

// rpm 100 across three instances, 1,000 concurrent requests spread over them: exactly 100
// pass, the others get 429 with Retry-After.
func TestFleetRPMIsExactAcrossInstances(t *testing.T) {
	rs := startRedis(t)
	up := newFakeUpstream(t, okChat)
	clock := newFakeClock()
	t.Setenv("FLEET_GATEWAY_KEY", "gw-fleet-secret-key-123456")
	// 1,000 requests queue for a pool of a few connections, and the pool wait is bounded by
	// the read timeout: under -race on a loaded machine the last ones wait seconds. This test
	// is about exact counting, not timeouts: a request that gave up on Redis would count locally.
	cfg := fleetConfig(rs.addr)
	cfg.DialTimeout, cfg.ReadTimeout, cfg.WriteTimeout = 20*time.Second, 20*time.Second, 20*time.Second
	fl := newFleetRouters(t, 3, cfg, clock, func() *Handler {
		return &Handler{
			Providers: []catalog.ProviderConfig{provider("p", up.URL, []string{"sk-p-key-000000001"}, "m", "up-m")},
			Auth:      &AuthConfig{Keys: []GatewayKey{{Name: "alice", Key: "{env.FLEET_GATEWAY_KEY}", RPM: 100}}},
		}
	})
	fallbacks := counterValue(t, sharedFallbacks)
	var ok, limited, other atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			rec := fl[i%3].chat(`{"model":"m","messages":[]}`, "Authorization", "Bearer gw-fleet-secret-key-123456")
			switch {
			case rec.Code == 200:
				ok.Add(1)
			case rec.Code == 429 && rec.Header().Get("Retry-After") != "":
				limited.Add(1)
			default:
				other.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if d := counterValue(t, sharedFallbacks) - fallbacks; d != 0 {
		t.Fatalf("%v requests counted locally: Redis did not answer in time", d)
	}
	if ok.Load() != 100 || limited.Load() != 900 || other.Load() != 0 {
		t.Fatalf("passed %d, limited %d, other %d; want 100, 900, 0", ok.Load(), limited.Load(), other.Load())
	}
	// The window slides: a minute later the key has its 100 again, fleet-wide.
	clock.Advance(time.Minute)
	if rec := fl[1].chat(`{"model":"m","messages":[]}`, "Authorization", "Bearer gw-fleet-secret-key-123456"); rec.Code != 200 {
		t.Errorf("after a minute: %d", rec.Code)
	}
}

// Redis killed in the middle of a load run: no client request fails, the gauge says so, one
// warning is logged; a cooldown that started while Redis was away reaches the peer once it is
// back.
func TestFleetRedisKilledUnderLoad(t *testing.T) {
	rs := startRedis(t)
	var sw switchable
	first := newFakeUpstream(t, sw.serve)
	second := newFakeUpstream(t, okChat)
	clock := newFakeClock()
	// A killed Redis refuses and resets at once, so the timeouts do not bound the outage here;
	// short ones would only let a late reply under -race on a loaded machine count as a
	// second outage (a second warning) after the reconnect.
	cfg := fleetConfig(rs.addr)
	cfg.DialTimeout, cfg.ReadTimeout, cfg.WriteTimeout = 2*time.Second, 2*time.Second, 2*time.Second
	t.Setenv("FLEET_GATEWAY_KEY", "gw-fleet-secret-key-123456")
	mk := func() *Handler {
		h := twoProviders(first.URL, second.URL)()
		h.Auth = &AuthConfig{Keys: []GatewayKey{{Name: "alice", Key: "{env.FLEET_GATEWAY_KEY}", RPM: 1_000_000}}}
		return h
	}
	fl := newFleetRouters(t, 2, cfg, clock, mk)
	a, b := fl[0], fl[1]

	var stop atomic.Bool
	var sent, failed atomic.Int64
	var slowest atomic.Int64
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				t0 := time.Now()
				rec := fl[i%2].chat(`{"model":"m","messages":[]}`, "Authorization", "Bearer gw-fleet-secret-key-123456")
				if d := time.Since(t0).Nanoseconds(); d > slowest.Load() {
					slowest.Store(d)
				}
				sent.Add(1)
				if rec.Code != 200 {
					failed.Add(1)
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	rs.kill()
	within(t, 5*time.Second, "A notices Redis is away", func() bool { return !a.fleet.r.Up() })
	within(t, 5*time.Second, "B notices Redis is away", func() bool { return !b.fleet.r.Up() })
	// While Redis is away, A's upstream fails: A cools it locally; B cannot learn it yet.
	sw.set(status(http.StatusTooManyRequests, "Retry-After", "120"))
	within(t, 5*time.Second, "A cools first", func() bool { return targetOf(a.Handler, "first").cooling(clock.Now().UnixNano()) })
	time.Sleep(200 * time.Millisecond)
	sw.set(okChat)
	resyncs := b.fleet.r.Resyncs()
	rs.start()
	within(t, 10*time.Second, "A reconnects", a.fleet.r.Up)
	within(t, 10*time.Second, "B reconnects", b.fleet.r.Up)
	tb := targetOf(b.Handler, "first")
	took := within(t, 10*time.Second, "B learns A's cooldown after Redis is back", func() bool { return tb.cooling(clock.Now().UnixNano()) })
	t.Logf("after the reconnect B agreed in %s (resyncs %d -> %d)", took, resyncs, b.fleet.r.Resyncs())
	if got, want := tb.health.CoolUntil(), targetOf(a.Handler, "first").health.CoolUntil(); got != want {
		t.Errorf("B's deadline %d, A's %d", got, want)
	}
	time.Sleep(100 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	t.Logf("%d requests, %d failed, slowest %s", sent.Load(), failed.Load(), time.Duration(slowest.Load()))
	if failed.Load() != 0 {
		t.Errorf("%d of %d client requests failed", failed.Load(), sent.Load())
	}
	for _, r := range fl {
		if n := strings.Count(r.logs.String(), "shared state (redis) unavailable"); n != 1 {
			t.Errorf("%d warnings for one outage, want 1", n)
		}
	}
}

// A sticky id written through A is read through B; deleted through B, it is gone for both
// (once A's local fallback is not asked: Redis knows).
func TestFleetStickyIDs(t *testing.T) {
	rs := startRedis(t)
	clock := newFakeClock()
	a := newTestFleet(t, fleetConfig(rs.addr), "sa/", clock, nil)
	b := newTestFleet(t, fleetConfig(rs.addr), "sb/", clock, nil)
	var s state.Sticky = a.sticky
	if (&Handler{}).sharedSticky() != nil || (&Handler{shared: a}).sharedSticky() != s {
		t.Fatal("sharedSticky")
	}
	s.Put("file", "file-abc123", "0123456789abcdef", time.Hour)
	if owner, ok := b.sticky.Get("file", "file-abc123"); !ok || owner != "0123456789abcdef" {
		t.Fatalf("B reads %q %v", owner, ok)
	}
	if _, ok := b.sticky.Get("batch", "file-abc123"); ok {
		t.Error("kinds are separate")
	}
	b.sticky.Delete("file", "file-abc123")
	if _, ok := b.sticky.Get("file", "file-abc123"); ok {
		t.Error("deleted, still there")
	}
}

// Instances that come and go with fresh ids leave a bounded set of keys, each with a TTL.
func TestFleetKeysAreBoundedAndExpire(t *testing.T) {
	rs := startRedis(t)
	c := rs.client("")
	clock := newFakeClock()
	var sw switchable
	first := newFakeUpstream(t, sw.serve)
	second := newFakeUpstream(t, okChat)
	run := func() {
		t.Helper()
		sw.set(okChat)
		mk := func() *Handler {
			h := twoProviders(first.URL, second.URL)()
			h.Auth = &AuthConfig{Keys: []GatewayKey{{Name: "alice", Key: "gw-literal-key-0000001", RPM: 50}}}
			return h
		}
		// Sub-test scope: the instances are cleaned up (stopped) when it ends.
		t.Run("instances", func(t *testing.T) {
			fl := newFleetRouters(t, 2, fleetConfig(rs.addr), clock, mk)
			for range 20 {
				fl[0].chat(`{"model":"m","messages":[]}`, "Authorization", "Bearer gw-literal-key-0000001")
			}
			sw.set(status(http.StatusTooManyRequests, "Retry-After", "30"))
			fl[1].chat(`{"model":"m","messages":[]}`, "Authorization", "Bearer gw-literal-key-0000001")
			// The publisher writes the cooldown in the background; let it before the clock moves
			// past the deadline (an expired cooldown is not written).
			target := "t:cd:t:" + targetOf(fl[1].Handler, "first").StateID
			within(t, 2*time.Second, "the cooldown written", func() bool { return c.Exists(context.Background(), target).Val() == 1 })
			sw.set(status(http.StatusUnauthorized))
			clock.Advance(31 * time.Second)
			fl[0].chat(`{"model":"m","messages":[]}`, "Authorization", "Bearer gw-literal-key-0000001")
			fl[0].fleet.sticky.Put("file", "file-"+fl[0].fleet.r.String(), "0123", time.Hour)
			fl[0].fleet.r.FlushUsage()
		})
	}
	run()
	after1 := allKeys(t, c)
	for range 4 {
		run()
	}
	after5 := allKeys(t, c)
	t.Logf("keys after 1 run: %d, after 5: %d", len(after1), len(after5))
	if len(after1) == 0 || len(after5) > len(after1) {
		t.Errorf("keys grew from %d to %d: %v", len(after1), len(after5), after5)
	}
	for _, k := range after5 {
		if !strings.HasPrefix(k, "t:") {
			t.Errorf("key %q outside the prefix", k)
		}
		if d, err := c.PTTL(context.Background(), k).Result(); err != nil || d <= 0 {
			t.Errorf("key %q has no TTL (%v, %v)", k, d, err)
		}
	}
}

// A Redis that hangs (DEBUG SLEEP) holds a limited request no longer than the timeouts: it
// counts locally, the instance marks Redis down, and no request fails.
func TestFleetSlowRedisBoundsTheWait(t *testing.T) {
	rs := startRedis(t, "--enable-debug-command", "yes")
	up := newFakeUpstream(t, okChat)
	clock := newFakeClock()
	cfg := fleetConfig(rs.addr)
	cfg.DialTimeout, cfg.ReadTimeout, cfg.WriteTimeout = 250*time.Millisecond, 250*time.Millisecond, 250*time.Millisecond
	tr := newFleetRouters(t, 1, cfg, clock, func() *Handler {
		return &Handler{
			Providers: []catalog.ProviderConfig{provider("p", up.URL, []string{"sk-p-key-000000001"}, "m", "up-m")},
			Auth:      &AuthConfig{Keys: []GatewayKey{{Name: "alice", Key: "gw-literal-key-0000001", RPM: 1000}}},
		}
	})[0]
	within(t, 2*time.Second, "connected", tr.fleet.r.Up)
	auth := []string{"Authorization", "Bearer gw-literal-key-0000001"}
	fallbacks := counterValue(t, sharedFallbacks)
	sleeping := make(chan error, 1)
	go func() { sleeping <- rs.client("").Do(context.Background(), "DEBUG", "SLEEP", "1.5").Err() }()
	time.Sleep(100 * time.Millisecond) // the sleep has begun
	var slowest time.Duration
	for range 20 {
		t0 := time.Now()
		if rec := tr.chat(`{"model":"m","messages":[]}`, auth...); rec.Code != 200 {
			t.Fatalf("status %d while Redis hangs", rec.Code)
		}
		slowest = max(slowest, time.Since(t0))
	}
	t.Logf("slowest request while Redis hangs: %s", slowest)
	// 100 ms of timeouts, and room for a loaded machine running -race.
	if slowest > 600*time.Millisecond {
		t.Errorf("a request waited %s for a hanging Redis", slowest)
	}
	if tr.fleet.r.Up() {
		t.Error("still up while Redis hangs")
	}
	if d := counterValue(t, sharedFallbacks) - fallbacks; d < 19 {
		t.Errorf("%v fallbacks, want about 20", d)
	}
	if err := <-sleeping; err != nil {
		t.Fatalf("DEBUG SLEEP: %v", err)
	}
	within(t, 10*time.Second, "up again", tr.fleet.r.Up)
	before := counterValue(t, sharedFallbacks)
	if rec := tr.chat(`{"model":"m","messages":[]}`, auth...); rec.Code != 200 {
		t.Fatal(rec.Code)
	}
	if counterValue(t, sharedFallbacks) != before {
		t.Error("counted locally once Redis was back")
	}
}

// A file uploaded through A is fetched, read and batched through B: the id's owner (the
// provider key that holds it) is in the fleet's sticky store, so B pins the follow-ups to it.
func TestFleetFileUploadedOnAFetchedOnB(t *testing.T) {
	rs := startRedis(t)
	fa := newFakeAccounts()
	up := newFakeUpstream(t, fa.ServeHTTP)
	fl := newFleetRouters(t, 2, fleetConfig(rs.addr), newFakeClock(), func() *Handler {
		p := provider("oa", up.URL+"/v1", []string{"sk-acct-A-000001", "sk-acct-B-000002"}, "m", "m-up")
		p.Serves = []string{"chat", "files", "batches"}
		// Each instance's own memory, as separate processes have: only the fleet's store joins them.
		return &Handler{Providers: []catalog.ProviderConfig{p}, sticky: newMemorySticky(stickyLimit, time.Now)}
	})
	a, b := fl[0], fl[1]
	content := "{\"custom_id\":\"1\"}\n"
	ids := uploadTwo(t, a, content, "")
	for _, id := range ids {
		if rec := b.send(http.MethodGet, "/v1/files/"+id+"/content", "", nil); rec.Code != 200 || rec.Body.String() != content {
			t.Errorf("content of %s through B: %d %s", id, rec.Code, rec.Body)
		}
		rec := b.send(http.MethodPost, "/v1/batches", "application/json", []byte(`{"input_file_id":"`+id+`","endpoint":"/v1/chat/completions","completion_window":"24h"}`))
		if rec.Code != 200 || decodeID(t, rec.Body.Bytes())[6] != id[5] {
			t.Errorf("batch on %s through B: %d %s", id, rec.Code, rec.Body)
		}
	}
	keys, err := rs.client("").Keys(context.Background(), "t:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if strings.Contains(k, "sk-acct") {
			t.Errorf("a provider key in a Redis key: %q", k)
		}
	}
}

// Cooldowns ended through the admin API on every instance are ended in Redis too: when the
// target fails again, the new cooldown reaches the peer at once, instead of being swallowed by
// the ended one's key (SET NX) until its old deadline.
func TestFleetCooldownEndedByAdminCoolsAgain(t *testing.T) {
	rs := startRedis(t)
	var sw switchable
	first := newFakeUpstream(t, sw.serve)
	second := newFakeUpstream(t, okChat)
	clock := newFakeClock()
	fl := newFleetRouters(t, 2, fleetConfig(rs.addr), clock, twoProviders(first.URL, second.URL))
	a, b := fl[0], fl[1]
	ta, tb := targetOf(a.Handler, "first"), targetOf(b.Handler, "first")

	sw.set(status(http.StatusTooManyRequests, "Retry-After", "600"))
	if rec := a.chat(`{"model":"m","messages":[]}`); rec.Header().Get("X-LLM-Router-Provider") != "second" {
		t.Fatalf("A used %q", rec.Header().Get("X-LLM-Router-Provider"))
	}
	within(t, time.Second, "B learns A's cooldown", func() bool { return tb.cooling(clock.Now().UnixNano()) })

	// The operator fixed the cause and ends the cooldowns (both instances live in this process:
	// one call reaches both, as one call per instance would).
	if rec, err := adminDelete("/llm_router/cooldowns?provider=first"); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("DELETE: %v %d %s", err, rec.Code, rec.Body)
	}
	now := clock.Now().UnixNano()
	if ta.cooling(now) || tb.cooling(now) {
		t.Fatal("a cooldown survived the DELETE")
	}
	within(t, time.Second, "the ended cooldown leaves Redis", func() bool {
		for _, k := range allKeys(t, rs.client("")) {
			if strings.HasPrefix(k, "t:cd:") {
				return false
			}
		}
		return true
	})

	// The cause comes back a minute later: A cools the target again, and B must learn it.
	clock.Advance(time.Minute)
	sw.set(status(http.StatusTooManyRequests, "Retry-After", "30"))
	if rec := a.chat(`{"model":"m","messages":[]}`); rec.Header().Get("X-LLM-Router-Provider") != "second" {
		t.Fatalf("A used %q", rec.Header().Get("X-LLM-Router-Provider"))
	}
	within(t, time.Second, "B learns A's new cooldown", func() bool { return tb.cooling(clock.Now().UnixNano()) })
	if got, want := tb.health.CoolUntil(), clock.Now().Add(30*time.Second).UnixNano(); got != want {
		t.Errorf("B's deadline %d, want the new one %d", got, want)
	}
}

// adminDelete calls the admin API's cooldown handler directly.
func adminDelete(target string) (*httptest.ResponseRecorder, error) {
	rec := httptest.NewRecorder()
	return rec, serveAdminCooldowns(rec, httptest.NewRequest(http.MethodDelete, target, nil))
}

// A file uploaded through A while Redis is away is found through B once Redis is back: A
// writes the ids it made during the outage after the reconnect, as it does its cooldowns.
func TestFleetFileUploadedDuringOutageFoundAfter(t *testing.T) {
	rs := startRedis(t)
	fa := newFakeAccounts()
	up := newFakeUpstream(t, fa.ServeHTTP)
	cfg := fleetConfig(rs.addr)
	cfg.DialTimeout, cfg.ReadTimeout, cfg.WriteTimeout = 250*time.Millisecond, 250*time.Millisecond, 250*time.Millisecond
	fl := newFleetRouters(t, 2, cfg, newFakeClock(), func() *Handler {
		p := provider("oa", up.URL+"/v1", []string{"sk-acct-A-000001", "sk-acct-B-000002"}, "m", "m-up")
		p.Serves = []string{"chat", "files", "batches"}
		return &Handler{Providers: []catalog.ProviderConfig{p}, sticky: newMemorySticky(stickyLimit, time.Now)}
	})
	a, b := fl[0], fl[1]
	rs.kill()
	content := "{\"custom_id\":\"1\"}\n"
	ids := uploadTwo(t, a, content, " while Redis is away")
	resyncs := a.fleet.r.Resyncs()
	rs.start()
	within(t, 10*time.Second, "A reconnects and resynchronises", func() bool { return a.fleet.r.Resyncs() > resyncs })
	within(t, 10*time.Second, "B reconnects", b.fleet.r.Up)
	for _, id := range ids {
		if rec := b.send(http.MethodGet, "/v1/files/"+id+"/content", "", nil); rec.Code != 200 || rec.Body.String() != content {
			t.Errorf("content of %s through B: %d %s", id, rec.Code, rec.Body)
		}
	}
}

// uploadTwo uploads content as a batch file twice through instance a (round robin: one file at
// each of two keys) and returns the files' ids; when says when, for the failure message.
func uploadTwo(t *testing.T, a *fleetRouter, content, when string) []string {
	t.Helper()
	var ids []string
	for range 2 {
		body, ct := form(t, "purpose", "batch", "file", "@"+content)
		rec := a.send(http.MethodPost, "/v1/files", ct, body)
		if rec.Code != 200 {
			t.Fatalf("upload through A%s: %d %s", when, rec.Code, rec.Body)
		}
		ids = append(ids, decodeID(t, rec.Body.Bytes()))
	}
	return ids
}
