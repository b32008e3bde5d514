package llmrouter

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/state"
)

// A reload with whole requests and streams in flight: they finish on the old config after its
// shared state was stopped, and the fleet's usage counts them all the same (the new config's
// backend writes what the old one was handed too late to flush).
func TestIntegrationReloadKeepsInFlightUsage(t *testing.T) {
	rs := startRedis(t)
	t.Setenv("LLMR_IT_RELOAD_REDIS", rs.addr)
	release := make(chan struct{})
	up := newFakeUpstream(t, heldUntil(release))
	free := releaseOnce(t, release)
	it := newIntegration(t)
	port := freePort(t)
	config := func(flush string) string {
		return it.globals(port, `	llm_router_state {
		redis {
			address {env.LLMR_IT_RELOAD_REDIS}
			prefix itr:
			flush_interval `+flush+`
			`+roomyRedisTimeouts+`
		}
	}
`) + fmt.Sprintf(`http://localhost:%d {
	llm_router {
		provider p {
			base_url %s/v1
			keys sk-reload-usage
			model reload-usage-m
		}
	}
}
`, port, up.URL)
	}
	it.load(config("50ms"))
	url := fmt.Sprintf("http://localhost:%d/v1/chat/completions", port)
	const inFlight = 4
	errs := make(chan error, inFlight)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	for i := range inFlight {
		body := `{"model":"reload-usage-m","messages":[{"role":"user","content":"hi"}]}`
		if i%2 == 0 {
			body = `{"model":"reload-usage-m","stream":true,"messages":[{"role":"user","content":"hi"}]}`
		}
		go func() {
			resp, err := client.Post(url, "application/json", strings.NewReader(body))
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %d: %s", resp.StatusCode, b)
			}
			errs <- err
		}()
	}
	pollUntil(t, "every request to reach the upstream", func() bool { return up.calls.Load() == inFlight })

	it.load(config("60ms")) // the old app is stopped: its backend flushed and closed
	free()
	for range inFlight {
		if err := <-errs; err != nil {
			t.Fatalf("an in-flight request failed across the reload: %v", err)
		}
	}
	counted := func() int64 {
		code, body := it.adminDo(http.MethodGet, "/llm_router/usage?days=1", "", "")
		var got fleetUsage
		if err := json.Unmarshal([]byte(body), &got); err != nil || code != http.StatusOK || len(got.Days) != 1 {
			t.Fatalf("usage: %d %s", code, body)
		}
		if c := got.Days[0].Models["reload-usage-m"]; c != nil {
			return c.Requests
		}
		return 0
	}
	deadline := time.Now().Add(5 * time.Second)
	for n := counted(); n != inFlight; n = counted() {
		if time.Now().After(deadline) {
			t.Fatalf("the fleet counted %d of the %d requests in flight at the reload", n, inFlight)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A file upload in flight across a reload: the old config's shared state is stopped before
// the upload's reply comes; the id it records is still in Redis, so the new config (and any
// other instance) finds it.
func TestFleetUploadAcrossReloadIsFound(t *testing.T) {
	rs := startRedis(t)
	fa := newFakeAccounts()
	release := make(chan struct{})
	var held atomic.Bool
	up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/files" && held.CompareAndSwap(false, true) {
			<-release
		}
		fa.ServeHTTP(w, r)
	})
	free := releaseOnce(t, release)
	clock := newFakeClock()
	mk := func() *Handler {
		p := provider("oa", up.URL+"/v1", []string{"sk-acct-A-000001"}, "m", "m-up")
		p.Serves = []string{"chat", "files"}
		return &Handler{Providers: []catalog.ProviderConfig{p}, sticky: newMemorySticky(stickyLimit, time.Now)}
	}
	const ns = "upload-reload/"
	cfg := fleetConfig(rs.addr)
	oldFleet, old := startGeneration(t, cfg, ns, clock, mk)

	uploaded := make(chan *httptest.ResponseRecorder, 1)
	go func() {
		body, ct := form(t, "purpose", "batch", "file", "@{\"custom_id\":\"1\"}\n")
		uploaded <- old.send(http.MethodPost, "/v1/files", ct, body)
	}()
	within(t, 5*time.Second, "the upload to reach the upstream", held.Load)

	// The reload, in Caddy's order: the new config is provisioned and started, then the old
	// one stopped and cleaned up.
	newFleet, cur := startGeneration(t, cfg, ns, clock, mk)
	within(t, 5*time.Second, "the new backend up", newFleet.r.Up)
	if err := oldFleet.close(); err != nil {
		t.Fatal(err)
	}
	free()
	rec := <-uploaded
	if rec.Code != http.StatusOK {
		t.Fatalf("upload across the reload: %d %s", rec.Code, rec.Body)
	}
	id := decodeID(t, rec.Body.Bytes())
	if got := cur.send(http.MethodGet, "/v1/files/"+id, "", nil); got.Code != http.StatusOK {
		t.Errorf("the file uploaded across the reload, through the new config: %d %s", got.Code, got.Body)
	}
	other := newFleetRouters(t, 1, cfg, clock, mk)[0]
	if got := other.send(http.MethodGet, "/v1/files/"+id, "", nil); got.Code != http.StatusOK {
		t.Errorf("the file uploaded across the reload, through another instance: %d %s", got.Code, got.Body)
	}
}

// releaseOnce returns a function that closes release once; the test's cleanup calls it too, so
// that a test that fails early does not leave an upstream handler waiting, and its server's
// Close with it.
func releaseOnce(t *testing.T, release chan struct{}) func() {
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	t.Cleanup(free)
	return free
}

// A request in flight across a reload that is refused with a 429: the cooldown it starts on
// the old config, whose shared state is already stopped, reaches the fleet's other instances
// through the new config's backend.
func TestFleetCooldownAcrossReloadReachesPeers(t *testing.T) {
	rs := startRedis(t)
	release := make(chan struct{})
	var held atomic.Bool
	first := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if held.CompareAndSwap(false, true) {
			<-release
		}
		status(http.StatusTooManyRequests, "Retry-After", "30")(w, r)
	})
	second := newFakeUpstream(t, okChat)
	free := releaseOnce(t, release)
	clock := newFakeClock()
	mk := twoProviders(first.URL, second.URL)
	const ns = "cooldown-reload/"
	cfg := fleetConfig(rs.addr)
	oldFleet, old := startGeneration(t, cfg, ns, clock, mk)
	peer := newFleetRouters(t, 1, cfg, clock, mk)[0]

	answered := make(chan *httptest.ResponseRecorder, 1)
	go func() { answered <- old.chat(`{"model":"m","messages":[]}`) }()
	within(t, 5*time.Second, "the request to reach the upstream", held.Load)

	// The reload, in Caddy's order: the new config is started, then the old one stopped.
	newFleet, cur := startGeneration(t, cfg, ns, clock, mk)
	within(t, 5*time.Second, "the new backend up", newFleet.r.Up)
	if err := oldFleet.close(); err != nil {
		t.Fatal(err)
	}
	free()
	if rec := <-answered; rec.Code != http.StatusOK || rec.Header().Get("X-LLM-Router-Provider") != "second" {
		t.Fatalf("the request across the reload: %d via %q", rec.Code, rec.Header().Get("X-LLM-Router-Provider"))
	}
	if !targetOf(cur.Handler, "first").cooling(clock.Now().UnixNano()) {
		t.Fatal("the 429 did not cool the target locally")
	}
	tp := targetOf(peer.Handler, "first")
	within(t, 3*time.Second, "the peer learns the cooldown started across the reload", func() bool {
		return tp.cooling(clock.Now().UnixNano())
	})
	if got, want := tp.health.CoolUntil(), clock.Now().Add(30*time.Second).UnixNano(); got != want {
		t.Errorf("the peer's deadline %d, want the 429's %d", got, want)
	}
}

// Cooldowns ended through the admin API during a reload, while the old config's handlers
// are still live after its shared state stopped, are ended in Redis too, whichever config's
// handler the admin API finds the target through: else the ended cooldown's key would hold
// back the target's next cooldown from the peers until its old deadline.
func TestFleetCooldownEndedDuringReloadLeavesRedis(t *testing.T) {
	rs := startRedis(t)
	first := newFakeUpstream(t, status(http.StatusTooManyRequests, "Retry-After", "600"))
	second := newFakeUpstream(t, okChat)
	clock := newFakeClock()
	mk := twoProviders(first.URL, second.URL)
	const ns = "end-reload/"
	cfg := fleetConfig(rs.addr)
	oldFleet, _ := startGeneration(t, cfg, ns, clock, mk)
	newFleet, cur := startGeneration(t, cfg, ns, clock, mk)
	within(t, 5*time.Second, "the new backend up", newFleet.r.Up)
	// Its first resynchronisation writes the local cooldowns it read: one that lands after a
	// round's DELETE would bring back the cooldown the round just ended.
	within(t, 5*time.Second, "the new backend's first resynchronisation", func() bool { return newFleet.r.Resyncs() > 0 })
	if err := oldFleet.r.Close(); err != nil { // the old app's Stop; its handlers are still live
		t.Fatal(err)
	}
	inRedis := func() bool {
		for _, k := range allKeys(t, rs.client("")) {
			if strings.HasPrefix(k, "t:cd:") {
				return true
			}
		}
		return false
	}
	// The admin API finds the shared target through either config's handler, as a map
	// gives them: enough rounds that the old one's turn cannot be missed.
	for i := range 16 {
		if rec := cur.chat(`{"model":"m","messages":[]}`); rec.Header().Get("X-LLM-Router-Provider") != "second" {
			t.Fatalf("round %d: served by %q", i, rec.Header().Get("X-LLM-Router-Provider"))
		}
		within(t, 5*time.Second, "the cooldown reaches Redis", inRedis)
		if rec, err := adminDelete("/llm_router/cooldowns?provider=first"); err != nil || rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"cleared":1`) {
			t.Fatalf("round %d: DELETE: %v %d %s", i, err, rec.Code, rec.Body)
		}
		if inRedis() {
			t.Fatalf("round %d: the cooldown ended through the admin API is still in Redis", i)
		}
	}
}

// startGeneration is one config's generation of a router in a fleet: a handler made by mk,
// on its own backend in namespace ns of the reload store (which it shares with the other
// generations of ns, as the configs of a reload do), provisioned and started.
func startGeneration(t *testing.T, cfg state.Config, ns string, clock *fakeClock, mk func() *Handler) (*fleet, *testRouter) {
	t.Helper()
	f := newUnstartedFleet(t, cfg, ns, clock, nil)
	h := mk()
	h.shared = f
	tr := newTestRouterClock(t, h, clock, new(logBuffer))
	f.r.Start()
	return f, tr
}
