package llmrouter

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/selector"
	"github.com/llmrouter/caddy-llm-router/transport"
)

// keyGate answers per key: each key's status for /models and chat (200 when unset).
type keyGate struct {
	mu     sync.Mutex
	status map[string]int
}

func (g *keyGate) set(key string, code int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.status[key] = code
}

func (g *keyGate) handler(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	g.mu.Lock()
	code := g.status[key]
	g.mu.Unlock()
	if code != 0 && code != http.StatusOK {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(`{"error":{"message":"Incorrect API key provided: ` + key + `","type":"invalid_request_error"}}`))
		return
	}
	if r.Method == http.MethodGet {
		_, _ = w.Write([]byte(`{"data":[{"id":"m-up"}]}`))
		return
	}
	okChat(w, r)
}

const (
	hcKeyA = "sk-hc-A-9xQ2mW7rT4zL"
	hcKeyB = "sk-hc-B-3vN8kP5sJ1yH"
)

func healthRouter(t *testing.T, g *keyGate, hc *catalog.HealthCheckConfig) (*testRouter, *fakeUpstream) {
	t.Helper()
	up := newFakeUpstream(t, g.handler)
	p := provider("p", up.URL+"/v1", []string{hcKeyA, hcKeyB}, "m", "m-up")
	p.HealthCheck = hc
	h := &Handler{Providers: []catalog.ProviderConfig{p}, Strategy: "priority"}
	h.probeTick = make(chan time.Time) // no ticker: the test runs the probes
	return newTestRouter(t, h), up
}

func keyOf(tr *testRouter, key string) *selector.State {
	for _, t := range tr.targets {
		if t.Key() == key {
			return t.key
		}
	}
	return nil
}

func TestHealthCheckCoolsRefusedKeyAndEndsItWhenAccepted(t *testing.T) {
	g := &keyGate{status: map[string]int{hcKeyA: http.StatusUnauthorized}}
	tr, up := healthRouter(t, g, &catalog.HealthCheckConfig{})
	ctx := context.Background()
	now := func() int64 { return tr.clock.Now().UnixNano() }

	tr.runProbes(ctx, tr.probers[0])
	if !keyOf(tr, hcKeyA).Cooling(now()) || keyOf(tr, hcKeyB).Cooling(now()) {
		t.Fatal("the probe did not cool the refused key alone")
	}
	// Requests go to key B without trying A first.
	before := len(up.received())
	if rec := tr.chat(`{"model":"m","messages":[]}`); rec.Code != http.StatusOK {
		t.Fatalf("chat: %d", rec.Code)
	}
	if got := up.received()[before:]; len(got) != 1 || got[0].Header.Get("Authorization") != "Bearer "+hcKeyB {
		t.Fatalf("the request tried the refused key: %d requests", len(got))
	}
	// The key is fixed upstream: the next probe ends its cooldown, and priority picks A again.
	g.set(hcKeyA, http.StatusOK)
	tr.runProbes(ctx, tr.probers[0])
	if keyOf(tr, hcKeyA).Cooling(now()) {
		t.Fatal("a 200 of an authenticated call did not end the key refusal")
	}
	before = len(up.received())
	tr.chat(`{"model":"m","messages":[]}`)
	if got := up.received()[before:]; len(got) != 1 || got[0].Header.Get("Authorization") != "Bearer "+hcKeyA {
		t.Fatal("the pool still skips the recovered key")
	}
	logs := tr.logs.String()
	if !strings.Contains(logs, "cooldown ended early") {
		t.Fatalf("the early end is not logged:\n%s", logs)
	}
	for _, k := range []string{hcKeyA, hcKeyB} {
		if strings.Contains(logs, k[6:14]) {
			t.Fatalf("a key fragment in the logs:\n%s", logs)
		}
	}
}

func TestHealthCheckLeavesQuotaAndModelCooldowns(t *testing.T) {
	g := &keyGate{status: map[string]int{}}
	tr, _ := healthRouter(t, g, &catalog.HealthCheckConfig{})
	n := tr.clock.Now().UnixNano()
	until := tr.clock.Now().Add(time.Minute).UnixNano()
	// Key A is out of quota (402); key B's target has a model rate limit.
	keyOf(tr, hcKeyA).CoolForStatus(n, until, selector.KeyRefused, http.StatusPaymentRequired)
	var bTarget *target
	for _, tg := range tr.targets {
		if tg.Key() == hcKeyB {
			bTarget = tg
		}
	}
	bTarget.health.CoolForStatus(n, until, selector.RateLimited, http.StatusTooManyRequests)
	tr.runProbes(context.Background(), tr.probers[0])
	if !keyOf(tr, hcKeyA).Cooling(n) || !bTarget.health.Cooling(n) {
		t.Fatal("a 200 from /models ended a quota or rate-limit cooldown it proves nothing about")
	}
}

func TestHealthCheckDownNodeCoolsItsTargets(t *testing.T) {
	g := &keyGate{status: map[string]int{hcKeyA: http.StatusInternalServerError}}
	tr, _ := healthRouter(t, g, &catalog.HealthCheckConfig{})
	tr.runProbes(context.Background(), tr.probers[0])
	n := tr.clock.Now().UnixNano()
	for _, tg := range tr.targets {
		if got, want := tg.health.Cooling(n), tg.Key() == hcKeyA; got != want {
			t.Errorf("%s cooling %v, want %v", tg.Label, got, want)
		}
		if tg.key.Cooling(n) {
			t.Errorf("%s: an outage cooled the key", tg.Label)
		}
	}
}

func TestHealthCheckBoundedConcurrencyAndLoop(t *testing.T) {
	var inflight, peak atomic.Int64
	up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond) // overlap the probes, so a missing bound would show
		_, _ = w.Write([]byte(`{"data":[]}`))
	})
	var keys []string
	for i := range 6 {
		keys = append(keys, "sk-hc-bound-"+strings.Repeat("x", i+1))
	}
	p := provider("p", up.URL+"/v1", keys, "m", "m")
	p.HealthCheck = &catalog.HealthCheckConfig{Concurrency: 2, Timeout: transport.Duration(5 * time.Second)}
	tick := make(chan time.Time)
	h := &Handler{Providers: []catalog.ProviderConfig{p}, probeTick: tick}
	tr := newTestRouter(t, h)
	if len(tr.probers[0].probes) != 6 {
		t.Fatalf("%d probes for 6 keys x 1 node (and 1 model)", len(tr.probers[0].probes))
	}
	tick <- time.Time{} // the loop probes on its tick
	tick <- time.Time{} // taken only after the first round finished
	deadline := time.Now().Add(10 * time.Second)
	for up.calls.Load() < 6 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := up.calls.Load(); got < 6 {
		t.Fatalf("%d probes sent", got)
	}
	if got := peak.Load(); got != 2 {
		t.Fatalf("peak %d probes in flight, want the bound, 2", got)
	}
	for _, r := range up.received() {
		if r.Path != "/v1/models" || !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer sk-hc-bound-") {
			t.Fatalf("probe %s %q", r.Path, r.Header.Get("Authorization"))
		}
	}
}

// TestHealthCheckOpenRouterProbesTheKey: OpenRouter's model list answers any key, so a probe
// of it would take a revoked key for a good one, end its cooldown at every interval and
// never cool it. The openrouter preset probes GET /key, which refuses a bad key; a `path`
// set in the config is what is probed for any provider.
func TestHealthCheckOpenRouterProbesTheKey(t *testing.T) {
	g := &keyGate{status: map[string]int{hcKeyA: http.StatusUnauthorized}}
	var models atomic.Int64
	up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/models") {
			models.Add(1)
			_, _ = w.Write([]byte(`{"data":[{"id":"m-up"}]}`)) // any key, as OpenRouter's
			return
		}
		g.handler(w, r)
	})
	for name, pc := range map[string]catalog.ProviderConfig{
		"the preset": provider("openrouter", up.URL+"/api/v1", []string{hcKeyA, hcKeyB}, "m", "m-up"),
		"a path":     provider("mine", up.URL+"/api/v1", []string{hcKeyA, hcKeyB}, "m", "m-up"),
	} {
		t.Run(name, func(t *testing.T) {
			pc.HealthCheck = &catalog.HealthCheckConfig{}
			if pc.Name == "mine" {
				pc.HealthCheck.Path = "/key"
			}
			h := &Handler{Providers: []catalog.ProviderConfig{pc}, Strategy: "priority"}
			h.probeTick = make(chan time.Time)
			tr := newTestRouter(t, h)
			now := func() int64 { return tr.clock.Now().UnixNano() }
			// A client's request finds the revoked key (401): it cools, and key B answers.
			if rec := tr.chat(`{"model":"m","messages":[]}`); rec.Code != http.StatusOK || !keyOf(tr, hcKeyA).Cooling(now()) {
				t.Fatalf("chat: %d, key A cooling %v", rec.Code, keyOf(tr, hcKeyA).Cooling(now()))
			}
			before := len(up.received())
			tr.clock.Advance(time.Second)
			tr.runProbes(context.Background(), tr.probers[0])
			if !keyOf(tr, hcKeyA).Cooling(now()) || keyOf(tr, hcKeyB).Cooling(now()) {
				t.Fatal("the probe took the revoked key for a good one and ended its cooldown")
			}
			for _, r := range up.received()[before:] {
				if r.Path != "/api/v1/key" {
					t.Errorf("the probe asked %s", r.Path)
				}
			}
			if models.Load() != 0 {
				t.Errorf("the probe asked the model list, which answers any key")
			}
		})
	}
	bad := provider("p", up.URL, []string{hcKeyA}, "m", "m-up")
	bad.HealthCheck = &catalog.HealthCheckConfig{Path: "key?x=1"}
	if err := provisionErr(&Handler{Providers: []catalog.ProviderConfig{bad}}); err == nil ||
		!strings.Contains(err.Error(), "health_check path") {
		t.Errorf("a path without / and with a query: %v", err)
	}
}

// Gemini refuses a bad key with 400 INVALID_ARGUMENT, reason API_KEY_INVALID: a refusal of
// the key itself, as a 401 is elsewhere. Once the key is fixed, a good probe ends its
// cooldown, whether a request or a probe met the refusal. A 400 that refuses the key for its
// quota is left to run out.
func TestHealthCheckEndsGeminiInvalidKeyCooldown(t *testing.T) {
	const badKey = `{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}`
	var broken atomic.Pointer[http.HandlerFunc]
	refuse := func(h http.HandlerFunc) { broken.Store(&h) }
	up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if h := broken.Load(); h != nil {
			(*h)(w, r)
			return
		}
		if r.Method == http.MethodGet {
			_, _ = w.Write([]byte(`{"models":[{"name":"models/gemini-up"}]}`))
			return
		}
		geminiAgentUpstream(w, r)
	})
	p := provider("gem", up.URL+"/v1beta", []string{"sk-gem-hc-key-000001"}, "m", "gemini-up")
	p.API = "gemini"
	p.HealthCheck = &catalog.HealthCheckConfig{}
	h := &Handler{Providers: []catalog.ProviderConfig{p}}
	h.probeTick = make(chan time.Time) // no ticker: the test runs the probes
	tr := newTestRouter(t, h)
	key := tr.pools["m"].targets[0].key
	now := func() int64 { return tr.clock.Now().UnixNano() }
	fixed := func() { broken.Store(nil) }

	// A request meets the refusal.
	refuse(geminiErrorReply(http.StatusBadRequest, "INVALID_ARGUMENT", badKey))
	tr.do(jsonRequest(http.MethodPost, "/v1beta/models/m:generateContent", geminiHi))
	if !key.Cooling(now()) {
		t.Fatal("API_KEY_INVALID did not cool the key")
	}
	fixed()
	tr.runProbes(context.Background(), tr.probers[0])
	if key.Cooling(now()) {
		t.Error("a good probe did not end the cooldown of a key a request found invalid")
	}

	// A probe meets the refusal.
	refuse(geminiErrorReply(http.StatusBadRequest, "INVALID_ARGUMENT", badKey))
	tr.runProbes(context.Background(), tr.probers[0])
	if !key.Cooling(now()) {
		t.Fatal("the probe's API_KEY_INVALID did not cool the key")
	}
	fixed()
	tr.runProbes(context.Background(), tr.probers[0])
	if key.Cooling(now()) {
		t.Error("a good probe did not end the cooldown of a key a probe found invalid")
	}

	// A quota refusal under a 400 stays.
	refuse(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}`))
	})
	tr.do(jsonRequest(http.MethodPost, "/v1beta/models/m:generateContent", geminiHi))
	if !key.Cooling(now()) {
		t.Fatal("a 400 insufficient_quota did not cool the key")
	}
	fixed()
	tr.runProbes(context.Background(), tr.probers[0])
	if !key.Cooling(now()) {
		t.Error("a good probe ended a quota refusal it proves nothing about")
	}
}
