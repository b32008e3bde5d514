package llmrouter

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/selector"
)

// hfByKey answers by the key the upstream received (the Authorization header's bearer token);
// unknown keys get a 500 so a routing mistake shows.
func hfByKey(replies map[string]http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if h := replies[key]; h != nil {
			h(w, r)
			return
		}
		status(http.StatusInternalServerError)(w, r)
	}
}

// hfSwitch is a reply that a test can change between requests.
type hfSwitch struct{ v atomic.Value }

func newHFSwitch(h http.HandlerFunc) *hfSwitch {
	s := new(hfSwitch)
	s.set(h)
	return s
}

func (s *hfSwitch) set(h http.HandlerFunc) { s.v.Store(h) }

func (s *hfSwitch) serve(w http.ResponseWriter, r *http.Request) {
	s.v.Load().(http.HandlerFunc)(w, r)
}

// hfKeyCounter counts upstream requests per key.
type hfKeyCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *hfKeyCounter) wrap(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		if c.n == nil {
			c.n = make(map[string]int)
		}
		c.n[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]++
		c.mu.Unlock()
		h(w, r)
	}
}

func (c *hfKeyCounter) get(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}

// hfProviders builds n providers named prefix0.. serving model, each on its own upstream.
func hfProviders(t *testing.T, prefix, model string, replies ...http.HandlerFunc) ([]catalog.ProviderConfig, []*fakeUpstream) {
	var ps []catalog.ProviderConfig
	var ups []*fakeUpstream
	for i, reply := range replies {
		up := newFakeUpstream(t, reply)
		name := prefix + strconv.Itoa(i)
		ps = append(ps, provider(name, up.URL+"/v1", []string{"k-" + name}, model, model+"-up"))
		ups = append(ups, up)
	}
	return ps, ups
}

func hfCalls(ups []*fakeUpstream) []int64 {
	out := make([]int64, len(ups))
	for i, u := range ups {
		out[i] = u.calls.Load()
	}
	return out
}

// TestFailoverRetryAfterKey: a key that answers 429 Retry-After: 2 gets no traffic for 2 s of
// (fake) time while the other key answers every request; then it is back in rotation.
func TestFailoverRetryAfterKey(t *testing.T) {
	key1 := newHFSwitch(status(http.StatusTooManyRequests, "Retry-After", "2"))
	var count hfKeyCounter
	up := newFakeUpstream(t, count.wrap(hfByKey(map[string]http.HandlerFunc{
		"k-ra-1": key1.serve,
		"k-ra-2": okChat,
	})))
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{
		provider("p", up.URL+"/v1", []string{"k-ra-1", "k-ra-2"}, "ra-model", "ra-model"),
	}})
	t0 := tr.clock.Now()
	for i := range 6 {
		rec := tr.chat(`{"model":"ra-model"}`)
		if rec.Code != http.StatusOK {
			t.Fatalf("request %d: status %d: %s", i, rec.Code, rec.Body)
		}
	}
	if n := count.get("k-ra-1"); n != 1 {
		t.Errorf("key 1 got %d requests while cooling, want only the first", n)
	}
	if n := count.get("k-ra-2"); n != 6 {
		t.Errorf("key 2 got %d requests, want 6", n)
	}
	k1 := tr.pools["ra-model"].targets[0]
	if got, want := k1.health.CoolUntil(), t0.Add(2*time.Second).UnixNano(); got != want {
		t.Errorf("key 1 cools until %v, want Retry-After's %v", time.Unix(0, got), time.Unix(0, want))
	}
	if k1.key.CoolUntil() != 0 {
		t.Error("a rate limit cooled the whole key")
	}

	tr.clock.Advance(2*time.Second - time.Nanosecond)
	for range 4 {
		tr.chat(`{"model":"ra-model"}`)
	}
	if n := count.get("k-ra-1"); n != 1 {
		t.Errorf("key 1 got traffic before its Retry-After passed (%d requests)", n)
	}

	key1.set(okChat)
	tr.clock.Advance(time.Nanosecond)
	for i := range 4 {
		rec := tr.chat(`{"model":"ra-model"}`)
		if rec.Code != http.StatusOK || rec.Header().Get("X-LLM-Router-Attempts") != "1" {
			t.Fatalf("request %d after recovery: status %d attempts %q", i, rec.Code, rec.Header().Get("X-LLM-Router-Attempts"))
		}
	}
	if n := count.get("k-ra-1"); n != 3 {
		t.Errorf("key 1 got %d requests after recovery, want half of 4 (total 3)", n)
	}
}

// TestFailoverKeyRefused: a 401 cools every target of the key, whatever the model.
func TestFailoverKeyRefused(t *testing.T) {
	refuser := newFakeUpstream(t, status(http.StatusUnauthorized))
	good := newFakeUpstream(t, okChat)
	tr := newTestRouter(t, &Handler{
		Strategy: "priority",
		Providers: []catalog.ProviderConfig{
			provider("refuser", refuser.URL+"/v1", []string{"k-refused"}, "kr-a", "kr-a", "kr-b", "kr-b"),
			provider("good", good.URL+"/v1", []string{"k-kr-good"}, "kr-a", "kr-a", "kr-b", "kr-b"),
		},
	})
	rec := tr.chat(`{"model":"kr-a"}`)
	if rec.Code != http.StatusOK || rec.Header().Get("X-LLM-Router-Provider") != "good" || rec.Header().Get("X-LLM-Router-Attempts") != "2" {
		t.Fatalf("kr-a: status %d provider %q attempts %q", rec.Code, rec.Header().Get("X-LLM-Router-Provider"), rec.Header().Get("X-LLM-Router-Attempts"))
	}
	now := tr.clock.Now()
	tb := tr.pools["kr-b"].targets[0]
	if tb.Provider.Name != "refuser" {
		t.Fatalf("kr-b's first target is %s", tb.Label)
	}
	if got, want := tb.key.CoolUntil(), now.Add(defaultCooldown).UnixNano(); got != want {
		t.Errorf("the refused key cools until %v, want %v", time.Unix(0, got), time.Unix(0, want))
	}
	for range 3 {
		rec = tr.chat(`{"model":"kr-b"}`)
		if rec.Code != http.StatusOK || rec.Header().Get("X-LLM-Router-Provider") != "good" || rec.Header().Get("X-LLM-Router-Attempts") != "1" {
			t.Fatalf("kr-b: status %d provider %q attempts %q", rec.Code, rec.Header().Get("X-LLM-Router-Provider"), rec.Header().Get("X-LLM-Router-Attempts"))
		}
	}
	if n := refuser.calls.Load(); n != 1 {
		t.Errorf("the refused key got %d calls, want 1: model kr-b must skip it", n)
	}
	if !strings.Contains(tr.logs.String(), `"scope":"key"`) {
		t.Error("no key-scope cooldown was logged")
	}

	// After the cooldown the key is tried again, for either model.
	tr.clock.Advance(defaultCooldown)
	tr.chat(`{"model":"kr-b"}`)
	if n := refuser.calls.Load(); n != 2 {
		t.Errorf("the key got %d calls after its cooldown, want 2", n)
	}
}

// TestFailoverClientErrorPassThrough: a 400 from the upstream is the request's fault: passed
// through untouched, one upstream call, nothing cools.
func TestFailoverClientErrorPassThrough(t *testing.T) {
	const errBody = `{"error":{"message":"'temperature' must be <= 2","type":"invalid_request_error","param":"temperature","code":null}}`
	bad := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-Id", "req-400")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, errBody)
	})
	other := newFakeUpstream(t, okChat)
	tr := newTestRouter(t, &Handler{
		Strategy: "priority",
		Providers: []catalog.ProviderConfig{
			provider("first", bad.URL+"/v1", []string{"k-400-first"}, "ce-model", "ce-model"),
			provider("second", other.URL+"/v1", []string{"k-400-second"}, "ce-model", "ce-model"),
		},
	})
	rec := tr.chat(`{"model":"ce-model","temperature":7}`)
	if rec.Code != http.StatusBadRequest || rec.Body.String() != errBody {
		t.Fatalf("client got %d %q, want the upstream's 400 untouched", rec.Code, rec.Body)
	}
	if rec.Header().Get("X-Request-Id") != "req-400" || rec.Header().Get("X-LLM-Router-Provider") != "first" {
		t.Errorf("headers %v", rec.Header())
	}
	if bad.calls.Load() != 1 || other.calls.Load() != 0 {
		t.Errorf("calls: first %d second %d, want 1 and 0", bad.calls.Load(), other.calls.Load())
	}
	for _, tg := range tr.pools["ce-model"].targets {
		if tg.health.CoolUntil() != 0 || tg.key.CoolUntil() != 0 {
			t.Errorf("%s cools after a client error", tg.Label)
		}
	}
	if s := tr.pools["ce-model"].targets[0].health.Snapshot(); s.Requests != 1 || s.Failures != 0 {
		t.Errorf("first target counters %+v", s)
	}
}

// TestFailoverAllFail: five upstream errors across five targets: each target is tried once and
// the client gets the last upstream's error, with the attempts listed.
func TestFailoverAllFail(t *testing.T) {
	var replies []http.HandlerFunc
	for i, code := range []int{500, 502, 503, 504, 500} {
		body := `{"error":{"message":"provider ` + strconv.Itoa(i) + ` is down","type":"server_error"}}`
		replies = append(replies, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			_, _ = io.WriteString(w, body)
		})
	}
	ps, ups := hfProviders(t, "down", "af-model", replies...)
	tr := newTestRouter(t, &Handler{Strategy: "priority", Providers: ps})
	rec := tr.chat(`{"model":"af-model"}`)
	if rec.Code != 500 || rec.Body.String() != `{"error":{"message":"provider 4 is down","type":"server_error"}}` {
		t.Fatalf("client got %d %s, want the last upstream's 500", rec.Code, rec.Body)
	}
	for i, n := range hfCalls(ups) {
		if n != 1 {
			t.Errorf("target %d tried %d times", i, n)
		}
	}
	if got := rec.Header().Get("X-LLM-Router-Attempts"); got != "5" {
		t.Errorf("attempts %q", got)
	}
	failures := rec.Header().Get("X-LLM-Router-Failures")
	parts := strings.Split(failures, ", ")
	if len(parts) != 5 {
		t.Fatalf("X-LLM-Router-Failures %q", failures)
	}
	for i, tg := range tr.pools["af-model"].targets {
		if want := tg.Label + " " + strconv.Itoa([]int{500, 502, 503, 504, 500}[i]) + " upstream_down"; parts[i] != want {
			t.Errorf("failure %d: %q, want %q", i, parts[i], want)
		}
	}

	// A body that is not an OpenAI error is wrapped in one, with the attempts listed.
	ps, _ = hfProviders(t, "html", "af-html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, "<html>bad gateway</html>")
	})
	tr = newTestRouter(t, &Handler{Providers: ps})
	e := hfError(t, tr.chat(`{"model":"af-html"}`), http.StatusBadGateway, "upstream_failed")
	if !strings.Contains(e.Message, "<html>bad gateway</html>") || len(e.Attempts) != 1 || e.Attempts[0].Provider != "html0" || e.Attempts[0].Status != 502 {
		t.Errorf("wrapped error: %+v", e)
	}
}

// TestFailoverAttemptsCap: no more upstream calls than attempts, however many targets fail.
func TestFailoverAttemptsCap(t *testing.T) {
	var replies []http.HandlerFunc
	for range 7 {
		replies = append(replies, status(http.StatusInternalServerError))
	}
	ps, ups := hfProviders(t, "cap", "cap-model", replies...)
	tr := newTestRouter(t, &Handler{Attempts: 5, Providers: ps})
	rec := tr.chat(`{"model":"cap-model"}`)
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d", rec.Code)
	}
	var total int64
	for _, n := range hfCalls(ups) {
		if n > 1 {
			t.Errorf("a target was tried %d times", n)
		}
		total += n
	}
	if total != 5 || rec.Header().Get("X-LLM-Router-Attempts") != "5" {
		t.Errorf("%d upstream calls, attempts header %q; want 5", total, rec.Header().Get("X-LLM-Router-Attempts"))
	}
}

// hfRecv receives from ch, or fails the test instead of hanging.
func hfRecv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for a request")
		panic("unreachable")
	}
}

// TestFailoverFlapping: a cooling target that fails again keeps its deadline; after it recovers,
// a new failure sets a new one.
func TestFailoverFlapping(t *testing.T) {
	gates := make(chan chan struct{}, 2)
	var mode atomic.Int32 // 0: block then fail, 1: ok, 2: fail
	up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		switch mode.Load() {
		case 0:
			g := make(chan struct{})
			gates <- g
			<-g
			status(http.StatusInternalServerError)(w, r)
		case 1:
			okChat(w, r)
		default:
			status(http.StatusInternalServerError)(w, r)
		}
	})
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{
		provider("flap", up.URL+"/v1", []string{"k-flap"}, "flap-model", "flap-model"),
	}})
	tg := tr.pools["flap-model"].targets[0]
	t0 := tr.clock.Now()

	results := make(chan int, 2)
	for range 2 {
		go func() { results <- tr.chat(`{"model":"flap-model"}`).Code }()
	}
	// Both requests picked the target before either failed.
	g1, g2 := hfRecv(t, gates), hfRecv(t, gates)
	close(g1)
	if code := hfRecv(t, results); code != http.StatusInternalServerError {
		t.Errorf("first failure: status %d", code)
	}
	d := tg.health.CoolUntil()
	if want := t0.Add(defaultCooldown).UnixNano(); d != want {
		t.Fatalf("deadline %v, want %v", time.Unix(0, d), time.Unix(0, want))
	}
	tr.clock.Advance(20 * time.Second)
	close(g2)
	if code := hfRecv(t, results); code != http.StatusInternalServerError {
		t.Errorf("second failure: status %d", code)
	}
	if got := tg.health.CoolUntil(); got != d {
		t.Errorf("a failure while cooling moved the deadline from %v to %v", time.Unix(0, d), time.Unix(0, got))
	}
	if s := tg.health.Snapshot(); s.Failures != 2 {
		t.Errorf("failures %d, want 2", s.Failures)
	}
	if n := strings.Count(tr.logs.String(), "cooldown started"); n != 1 {
		t.Errorf("%d cooldowns logged, want 1", n)
	}

	// Still cooling just before D: the pool is exhausted.
	tr.clock.Advance(time.Duration(d-tr.clock.Now().UnixNano()) - time.Nanosecond)
	hfError(t, tr.chat(`{"model":"flap-model"}`), http.StatusServiceUnavailable, "pool_exhausted")

	// At D it recovers.
	mode.Store(1)
	tr.clock.Advance(time.Nanosecond)
	if rec := tr.chat(`{"model":"flap-model"}`); rec.Code != http.StatusOK {
		t.Fatalf("after D: status %d: %s", rec.Code, rec.Body)
	}

	// It fails again: a new deadline, counted from now.
	mode.Store(2)
	tr.clock.Advance(5 * time.Second)
	tr.chat(`{"model":"flap-model"}`)
	if got, want := tg.health.CoolUntil(), tr.clock.Now().Add(defaultCooldown).UnixNano(); got != want {
		t.Errorf("new deadline %v, want %v", time.Unix(0, got), time.Unix(0, want))
	}
	if up.calls.Load() != 4 {
		t.Errorf("upstream calls %d, want 4", up.calls.Load())
	}
}

// TestFailoverPriority: traffic stays on the first target until it cools, moves to the second,
// and returns once the cooldown is over.
func TestFailoverPriority(t *testing.T) {
	first := newHFSwitch(okChat)
	ps, ups := hfProviders(t, "prio", "prio-model", first.serve, okChat)
	tr := newTestRouter(t, &Handler{Strategy: "priority", Cooldown: caddy.Duration(30 * time.Second), Providers: ps})
	send := func(n int, wantProvider string) {
		t.Helper()
		for range n {
			rec := tr.chat(`{"model":"prio-model"}`)
			if rec.Code != http.StatusOK || rec.Header().Get("X-LLM-Router-Provider") != wantProvider {
				t.Fatalf("status %d provider %q, want %s", rec.Code, rec.Header().Get("X-LLM-Router-Provider"), wantProvider)
			}
		}
	}
	send(5, "prio0")
	if c := hfCalls(ups); c[0] != 5 || c[1] != 0 {
		t.Fatalf("calls %v", c)
	}
	first.set(status(http.StatusInternalServerError))
	send(1, "prio1") // fails over
	send(4, "prio1") // stays away while cooling
	if c := hfCalls(ups); c[0] != 6 || c[1] != 5 {
		t.Fatalf("calls %v, want [6 5]", c)
	}
	first.set(okChat)
	tr.clock.Advance(29 * time.Second)
	send(1, "prio1")
	tr.clock.Advance(time.Second)
	send(3, "prio0")
	if c := hfCalls(ups); c[0] != 9 || c[1] != 6 {
		t.Errorf("calls %v, want [9 6]", c)
	}
}

// TestFailoverRoundRobinConcurrent: 300 concurrent requests over 3 healthy targets land
// exactly 100 on each.
func TestFailoverRoundRobinConcurrent(t *testing.T) {
	ps, ups := hfProviders(t, "rr", "rr-concurrent", okChat, okChat, okChat)
	tr := newTestRouter(t, &Handler{Providers: ps})
	var wg sync.WaitGroup
	var failed atomic.Int32
	for range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if rec := tr.chat(`{"model":"rr-concurrent"}`); rec.Code != http.StatusOK {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d requests failed", failed.Load())
	}
	if c := hfCalls(ups); c[0] != 100 || c[1] != 100 || c[2] != 100 {
		t.Errorf("distribution %v, want [100 100 100]", c)
	}
}

// TestFailoverPoolExhausted: with every target cooling the client gets 503 (429 when every
// cause was a rate limit), Retry-After at the first recovery, and no upstream call.
func TestFailoverPoolExhausted(t *testing.T) {
	t.Run("mixed", func(t *testing.T) {
		ps, ups := hfProviders(t, "px", "px-model",
			status(http.StatusTooManyRequests, "Retry-After", "30"),
			status(http.StatusInternalServerError))
		tr := newTestRouter(t, &Handler{Strategy: "priority", Providers: ps})
		rec := tr.chat(`{"model":"px-model"}`)
		if rec.Code != http.StatusInternalServerError || rec.Header().Get("Retry-After") != "30" {
			t.Fatalf("first request: status %d Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
		}
		tr.clock.Advance(10*time.Second + 500*time.Millisecond)
		rec = tr.chat(`{"model":"px-model"}`)
		e := hfError(t, rec, http.StatusServiceUnavailable, "pool_exhausted")
		if e.Type != errUnavailable || !strings.Contains(e.Message, "px-model") {
			t.Errorf("error %+v", e)
		}
		if ra := rec.Header().Get("Retry-After"); ra != "20" { // 19.5 s, rounded up
			t.Errorf("Retry-After %q, want 20", ra)
		}
		if c := hfCalls(ups); c[0] != 1 || c[1] != 1 {
			t.Errorf("calls %v: an exhausted pool called upstreams", c)
		}
		// The first target recovers at its Retry-After.
		tr.clock.Advance(19*time.Second + 500*time.Millisecond)
		tr.chat(`{"model":"px-model"}`)
		if c := hfCalls(ups); c[0] != 2 || c[1] != 1 {
			t.Errorf("calls %v after recovery, want [2 1]", c)
		}
	})
	t.Run("all rate limited", func(t *testing.T) {
		ps, _ := hfProviders(t, "pr", "pr-model",
			status(http.StatusTooManyRequests, "Retry-After", "40"),
			status(http.StatusTooManyRequests, "Retry-After", "25"))
		tr := newTestRouter(t, &Handler{Providers: ps})
		if rec := tr.chat(`{"model":"pr-model"}`); rec.Code != http.StatusTooManyRequests {
			t.Fatalf("first request: %d", rec.Code)
		}
		tr.clock.Advance(5 * time.Second)
		rec := tr.chat(`{"model":"pr-model"}`)
		e := hfError(t, rec, http.StatusTooManyRequests, "pool_exhausted")
		if e.Type != errRateLimit {
			t.Errorf("type %q", e.Type)
		}
		if ra := rec.Header().Get("Retry-After"); ra != "20" {
			t.Errorf("Retry-After %q, want 20", ra)
		}
	})
}

// TestFailoverRetryAfterBounds: an upstream's wait is capped by max_cooldown, and a wait given
// only in the body (Gemini's retryDelay) is honoured.
func TestFailoverRetryAfterBounds(t *testing.T) {
	const gemini = `{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED",` +
		`"details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"37s"}]}}`
	ps, _ := hfProviders(t, "rb", "rb-model",
		status(http.StatusTooManyRequests, "Retry-After", "3600"),
		func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, gemini)
		},
		status(http.StatusServiceUnavailable, "Retry-After", "7"),
		okChat)
	tr := newTestRouter(t, &Handler{Strategy: "priority", MaxCooldown: caddy.Duration(5 * time.Minute), Providers: ps})
	now := tr.clock.Now()
	rec := tr.chat(`{"model":"rb-model"}`)
	if rec.Code != http.StatusOK || rec.Header().Get("X-LLM-Router-Attempts") != "4" {
		t.Fatalf("status %d attempts %q", rec.Code, rec.Header().Get("X-LLM-Router-Attempts"))
	}
	ts := tr.pools["rb-model"].targets
	for i, want := range []time.Duration{5 * time.Minute, 37 * time.Second, 7 * time.Second} {
		if got := time.Duration(ts[i].health.CoolUntil() - now.UnixNano()); got != want {
			t.Errorf("target %d cools for %s, want %s", i, got, want)
		}
		if c := ts[i].health.Snapshot().LastClass; c != selector.RateLimited {
			t.Errorf("target %d class %s", i, c)
		}
	}
}

// TestFailoverTryDuration: no new attempt starts once try_duration has passed; within it the
// next target is tried.
func TestFailoverTryDuration(t *testing.T) {
	for _, tc := range []struct {
		spent      time.Duration
		wantStatus int
		wantSecond int64
	}{
		{11 * time.Second, http.StatusInternalServerError, 0},
		{10 * time.Second, http.StatusInternalServerError, 0},
		{9 * time.Second, http.StatusOK, 1},
	} {
		var clock atomic.Pointer[fakeClock]
		ps, ups := hfProviders(t, "td", "td-model",
			func(w http.ResponseWriter, r *http.Request) {
				clock.Load().Advance(tc.spent)
				status(http.StatusInternalServerError)(w, r)
			},
			okChat)
		tr := newTestRouter(t, &Handler{Strategy: "priority", TryDuration: caddy.Duration(10 * time.Second), Providers: ps})
		clock.Store(tr.clock)
		rec := tr.chat(`{"model":"td-model"}`)
		if rec.Code != tc.wantStatus {
			t.Errorf("spent %s: status %d, want %d", tc.spent, rec.Code, tc.wantStatus)
		}
		if c := hfCalls(ups); c[0] != 1 || c[1] != tc.wantSecond {
			t.Errorf("spent %s: calls %v, want [1 %d]", tc.spent, c, tc.wantSecond)
		}
	}
}

// TestFailoverConnectionRefused: an upstream that refuses connections is skipped; when all do,
// the client gets 502 listing the attempts.
func TestFailoverConnectionRefused(t *testing.T) {
	closedURL := func() string {
		s := httptest.NewServer(http.NotFoundHandler())
		u := s.URL
		s.Close()
		return u
	}
	good := newFakeUpstream(t, okChat)
	tr := newTestRouter(t, &Handler{
		Strategy: "priority",
		Providers: []catalog.ProviderConfig{
			provider("gone", closedURL()+"/v1", []string{"k-gone"}, "cr-model", "cr-model"),
			provider("good", good.URL+"/v1", []string{"k-cr-good"}, "cr-model", "cr-model"),
		},
	})
	rec := tr.chat(`{"model":"cr-model"}`)
	if rec.Code != http.StatusOK || rec.Header().Get("X-LLM-Router-Provider") != "good" || rec.Header().Get("X-LLM-Router-Attempts") != "2" {
		t.Fatalf("status %d provider %q attempts %q", rec.Code, rec.Header().Get("X-LLM-Router-Provider"), rec.Header().Get("X-LLM-Router-Attempts"))
	}
	if !tr.pools["cr-model"].targets[0].health.Cooling(tr.clock.Now().UnixNano()) {
		t.Error("the refusing target is not cooling")
	}

	tr = newTestRouter(t, &Handler{
		Strategy: "priority",
		Providers: []catalog.ProviderConfig{
			provider("gone1", closedURL()+"/v1", []string{"k-gone1"}, "cr-all", "cr-all"),
			provider("gone2", closedURL()+"/v1", []string{"k-gone2"}, "cr-all", "cr-all"),
		},
	})
	rec = tr.chat(`{"model":"cr-all"}`)
	e := hfError(t, rec, http.StatusBadGateway, "upstream_failed")
	if len(e.Attempts) != 2 {
		t.Fatalf("attempts %+v", e.Attempts)
	}
	for i, a := range e.Attempts {
		tg := tr.pools["cr-all"].targets[i]
		if a.Provider != tg.Provider.Name || a.Target != tg.Label || a.Class != "upstream_down" || a.Status != 0 || a.Error == "" {
			t.Errorf("attempt %d: %+v", i, a)
		}
	}
	if !strings.Contains(e.Message, "refused") {
		t.Errorf("message %q does not say why", e.Message)
	}
	// The body is valid JSON with attempts; the header says the same.
	if f := rec.Header().Get("X-LLM-Router-Failures"); strings.Count(f, "upstream_down") != 2 {
		t.Errorf("X-LLM-Router-Failures %q", f)
	}
	var raw map[string]map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil || raw["error"]["attempts"] == nil {
		t.Errorf("body %s", rec.Body)
	}
}

// TestFailoverStreamBeforeOpen: a stream request whose first upstream answers 429 fails over
// like a plain one, and the client gets the second upstream's stream.
func TestFailoverStreamBeforeOpen(t *testing.T) {
	ps, ups := hfProviders(t, "st", "st-model",
		status(http.StatusTooManyRequests, "Retry-After", "3"),
		hfSSE)
	tr := newTestRouter(t, &Handler{Strategy: "priority", Providers: ps})
	rec := tr.chat(`{"model":"st-model","stream":true,"messages":[]}`)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	want := "data: {\"id\":\"s1\",\"choices\":[{\"delta\":{\"content\":\"hel\"}}]}\n\n" +
		"data: {\"id\":\"s1\",\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\n" +
		"data: [DONE]\n\n"
	if rec.Body.String() != want {
		t.Errorf("stream\n got %q\nwant %q", rec.Body, want)
	}
	if rec.Header().Get("X-LLM-Router-Provider") != "st1" || rec.Header().Get("X-LLM-Router-Attempts") != "2" {
		t.Errorf("headers %v", rec.Header())
	}
	if c := hfCalls(ups); c[0] != 1 || c[1] != 1 {
		t.Errorf("calls %v", c)
	}
	if got := time.Duration(tr.pools["st-model"].targets[0].health.CoolUntil() - tr.clock.Now().UnixNano()); got != 3*time.Second {
		t.Errorf("the 429 target cools for %s, want 3s", got)
	}
}

// TestFailoverRetryAfterZero: a 429 that says Retry-After: 0 (retry at once) cools its target
// for a second, not for the default cooldown, so the target is not lost for a minute.
func TestFailoverRetryAfterZero(t *testing.T) {
	up := newFakeUpstream(t, hfByKey(map[string]http.HandlerFunc{
		"k-ra0-1": status(http.StatusTooManyRequests, "Retry-After", "0"),
		"k-ra0-2": okChat,
	}))
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{
		provider("p", up.URL+"/v1", []string{"k-ra0-1", "k-ra0-2"}, "ra0-model", "ra0-model"),
	}})
	t0 := tr.clock.Now()
	if rec := tr.chat(`{"model":"ra0-model"}`); rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	k1 := tr.pools["ra0-model"].targets[0]
	if got, want := k1.health.CoolUntil(), t0.Add(time.Second).UnixNano(); got != want {
		t.Errorf("key 1 cools until %v, want one second after the 429 (%v)", time.Unix(0, got), time.Unix(0, want))
	}
}
