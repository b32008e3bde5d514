package llmrouter

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// wildProvider is a `model *` provider on url with keys.
func wildProvider(name, url string, keys ...string) catalog.ProviderConfig {
	return catalog.ProviderConfig{Name: name, BaseURLs: []string{url}, Keys: keys,
		Models: []catalog.ModelRoute{{Name: "listed", Upstream: "listed-up"}, {Name: "*"}}}
}

func upstreamModel(t *testing.T, body []byte) string {
	t.Helper()
	var v struct{ Model string }
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("upstream body %s: %v", body, err)
	}
	return v.Model
}

func TestWildcardReachesUpstreamID(t *testing.T) {
	up := newFakeUpstream(t, okChat)
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{wildProvider("or", up.URL, "k-one")}})
	for _, id := range []string{"meta-llama/llama-3.3-70b-instruct", "qwen2.5:7b", "listed-up"} {
		rec := tr.chat(`{"model":"or/` + id + `","messages":[]}`)
		if rec.Code != 200 {
			t.Fatalf("%s: status %d %s", id, rec.Code, rec.Body)
		}
		got := up.received()
		if m := upstreamModel(t, got[len(got)-1].Body); m != id {
			t.Errorf("upstream got model %q, want %q", m, id)
		}
		if got[len(got)-1].Header.Get("Authorization") != "Bearer k-one" {
			t.Errorf("%s: no key sent", id)
		}
		if h := rec.Header().Get("X-Llm-Router-Upstream-Model"); h != id {
			t.Errorf("upstream model header %q", h)
		}
	}
	if !strings.Contains(tr.logs.String(), `"upstream_model":"qwen2.5:7b"`) {
		t.Error("the request log does not name the upstream id")
	}
	// A bare name never matches the wildcard, nor does an unknown provider.
	for _, name := range []string{"qwen2.5:7b", "meta-llama/llama-3.3-70b-instruct", "nope/qwen2.5:7b"} {
		if rec := tr.chat(`{"model":"` + name + `","messages":[]}`); rec.Code != 404 {
			t.Errorf("%s: status %d, want 404", name, rec.Code)
		}
	}
	// /v1/models lists the listed model only and says the provider takes any id.
	rec := tr.do(httptest.NewRequest(http.MethodGet, "/v1/models", nil))
	var list struct {
		Data              []struct{ ID string }
		WildcardProviders []string `json:"wildcard_providers"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Data) != 1 || list.Data[0].ID != "listed" || len(list.WildcardProviders) != 1 || list.WildcardProviders[0] != "or" {
		t.Errorf("models %s", rec.Body)
	}
}

func TestWildcardFailsOverAcrossKeys(t *testing.T) {
	up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer k-bad" {
			status(401)(w, r)
			return
		}
		okChat(w, r)
	})
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{wildProvider("or", up.URL, "k-bad", "k-good")}})
	for i := 0; i < 4; i++ {
		if rec := tr.chat(`{"model":"or/some/model","messages":[]}`); rec.Code != 200 {
			t.Fatalf("request %d: status %d %s", i, rec.Code, rec.Body)
		}
	}
	bad := 0
	for _, r := range up.received() {
		if r.Header.Get("Authorization") == "Bearer k-bad" {
			bad++
		}
	}
	if bad != 1 {
		t.Errorf("the refused key was tried %d times, want once: it cools", bad)
	}
	// The key's cooldown is the key's, shared with the listed model's targets.
	before := up.calls.Load()
	if rec := tr.chat(`{"model":"listed","messages":[]}`); rec.Code != 200 || up.calls.Load() != before+1 {
		t.Errorf("listed model: status %d, %d calls: the cooling key was tried again", rec.Code, up.calls.Load()-before)
	}
}

func TestWildcardRejectsInvalidIDs(t *testing.T) {
	up := newFakeUpstream(t, okChat)
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{wildProvider("or", up.URL, "k")}})
	long := "or/" + strings.Repeat("x", 5000)
	for _, name := range []string{"or/", "or//x", `or/a b`, `or/a\"b`, "or/é", long} {
		body, _ := json.Marshal(map[string]any{"model": name, "messages": []any{}})
		rec := tr.chat(string(body))
		if rec.Code != 400 {
			t.Errorf("%q: status %d, want 400", clipEcho(name), rec.Code)
		}
		if rec.Body.Len() > 1024 {
			t.Errorf("%q: the error echoes too much (%d bytes)", clipEcho(name), rec.Body.Len())
		}
	}
	if up.calls.Load() != 0 {
		t.Errorf("an invalid id reached the upstream")
	}
}

func TestWildcardLimit(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() && strings.Contains(upstreamModelString(r), "cool") {
			status(503)(w, r)
			return
		}
		okChat(w, r)
	})
	p := wildProvider("or", up.URL, "k")
	p.WildcardLimit = 2
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{p}})
	wp := tr.wild["or"]
	send := func(id string) int { return tr.chat(`{"model":"or/` + id + `","messages":[]}`).Code }

	// Healthy ids are evicted least recently used first: memory stays bounded.
	for i, id := range []string{"a", "b", "a", "c", "d", "e"} {
		tr.clock.Advance(time.Second)
		if code := send(id); code != 200 {
			t.Fatalf("%s: %d", id, code)
		}
		if n := len(wp.ids); n > 2 {
			t.Fatalf("after %d ids, %d kept", i+1, n)
		}
	}
	if wp.ids["e"] == nil || wp.ids["d"] == nil {
		t.Errorf("the most recent ids are not the ones kept: %v", keysOf(wp.ids))
	}
	// Cooling ids are not evicted: with every kept id cooling, a new id is refused.
	tr.clock.Advance(time.Second)
	if send("cool-1") != 503 || send("cool-2") != 503 {
		t.Fatal("the failing ids did not fail")
	}
	rec := tr.chat(`{"model":"or/fresh","messages":[]}`)
	if rec.Code != 429 || !strings.Contains(rec.Body.String(), "too_many_model_ids") || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("full of cooling ids: status %d %s", rec.Code, rec.Body)
	}
	// Once a cooldown is over, its id makes room again.
	failing.Store(false)
	tr.clock.Advance(2 * time.Minute)
	if code := send("fresh"); code != 200 {
		t.Errorf("after the cooldowns: %d", code)
	}
}

// TestWildcardCooldownSurvivesReload: a reload provisions the new config before the old one
// is cleaned up; the wildcard ids the old one kept, and their cooldowns, carry over.
func TestWildcardCooldownSurvivesReload(t *testing.T) {
	up := newFakeUpstream(t, status(503))
	cfg := func() *Handler {
		return &Handler{Providers: []catalog.ProviderConfig{wildProvider("or", up.URL, "k")}}
	}
	old := newTestRouter(t, cfg())
	if rec := old.chat(`{"model":"or/vendor/model-x","messages":[]}`); rec.Code != 503 {
		t.Fatalf("status %d", rec.Code)
	}
	calls := up.calls.Load()

	fresh := newTestRouter(t, cfg())
	if err := old.Cleanup(); err != nil {
		t.Fatal(err)
	}
	rec := fresh.chat(`{"model":"or/vendor/model-x","messages":[]}`)
	if rec.Code != 503 || up.calls.Load() != calls {
		t.Errorf("after the reload: status %d, %d more upstream calls: the cooldown was lost", rec.Code, up.calls.Load()-calls)
	}
	// An id the old config never saw is tried.
	if fresh.chat(`{"model":"or/other","messages":[]}`); up.calls.Load() == calls {
		t.Error("a new id was not tried")
	}
}

func upstreamModelString(r *http.Request) string {
	var v struct{ Model string }
	_ = json.NewDecoder(r.Body).Decode(&v)
	return v.Model
}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestWildcardScopedKey: a gateway key scoped to `or/*` reaches any id of the wildcard
// provider, and a key scoped to a listed model does not reach the wildcard.
func TestWildcardScopedKey(t *testing.T) {
	t.Setenv("LLMR_TEST_GW_WILD", "gw-wild-secret-1")
	t.Setenv("LLMR_TEST_GW_LISTED", "gw-listed-secret-2")
	up := newFakeUpstream(t, okChat)
	tr := newTestRouter(t, &Handler{
		Providers: []catalog.ProviderConfig{wildProvider("or", up.URL, "k")},
		Auth: &AuthConfig{Keys: []GatewayKey{
			{Name: "wild", Key: "{env.LLMR_TEST_GW_WILD}", Models: []string{"or/*"}},
			{Name: "listed", Key: "{env.LLMR_TEST_GW_LISTED}", Models: []string{"listed"}},
		}},
	})
	body := `{"model":"or/vendor/any-1","messages":[]}`
	if rec := tr.chat(body, "Authorization", "Bearer gw-wild-secret-1"); rec.Code != 200 {
		t.Errorf("or/* key: %d %s", rec.Code, rec.Body)
	}
	if rec := tr.chat(body, "Authorization", "Bearer gw-listed-secret-2"); rec.Code != 403 {
		t.Errorf("listed-only key: %d, want 403", rec.Code)
	}
	models := tr.do(withHeader(httptest.NewRequest(http.MethodGet, "/v1/models", nil), "Authorization", "Bearer gw-listed-secret-2"))
	if strings.Contains(models.Body.String(), "wildcard_providers") {
		t.Errorf("a key without or/* is told of the wildcard: %s", models.Body)
	}
}

func withHeader(r *http.Request, k, v string) *http.Request {
	r.Header.Set(k, v)
	return r
}

// TestWildcardAfterCleanup: a request that reaches a config already cleaned up (a reload in
// flight) is served with state of its own, and nothing is kept or left in the store.
func TestWildcardAfterCleanup(t *testing.T) {
	up := newFakeUpstream(t, okChat)
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{wildProvider("or", up.URL, "k")}})
	if rec := tr.chat(`{"model":"or/a","messages":[]}`); rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	if err := tr.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if rec := tr.chat(`{"model":"or/b","messages":[]}`); rec.Code != 200 {
		t.Fatalf("after cleanup: status %d", rec.Code)
	}
	if n := len(tr.wild["or"].ids); n != 0 {
		t.Errorf("%d ids kept after cleanup", n)
	}
	for _, ct := range tr.cat.Providers[0].WildcardTargets("a") {
		if _, ok := reloadStore.References("llm_router/target/" + ct.StateID); ok {
			t.Errorf("the store still holds %s", ct.StateID)
		}
	}
}

func TestWildcardOnModelsPage(t *testing.T) {
	up := newFakeUpstream(t, okChat)
	tr := newTestRouter(t, &Handler{ModelsPage: "/models.html",
		Providers: []catalog.ProviderConfig{wildProvider("or", up.URL, "k")}})
	rec := tr.do(httptest.NewRequest(http.MethodGet, "/models.html", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "<code>or/&lt;id&gt;</code>") {
		t.Errorf("models page: %d %s", rec.Code, rec.Body)
	}
}

// TestStatusShowsWildcardAndDiscoveredTargets: the status page, the admin API's targets and
// the cooling gauge count the targets of wildcard ids in use and of discovered models, not
// only the listed ones: a cooling wildcard id is where an operator looks first.
func TestStatusShowsWildcardAndDiscoveredTargets(t *testing.T) {
	refusing := newFakeUpstream(t, status(http.StatusTooManyRequests))
	lists := newModelsUpstream(t, openRouterList)
	disc := provider("or", lists.URL+"/v1", []string{discoverKey})
	disc.Discover = &catalog.DiscoverConfig{Exclude: []string{"*embed*"}}
	tr := newTestRouter(t, &Handler{StatusPage: "/status", Providers: []catalog.ProviderConfig{
		wildProvider("w", refusing.URL, "sk-wild-9Xq2"), disc,
	}})
	if rec := tr.chat(`{"model":"w/vendor/busy-model","messages":[]}`); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}

	body := strings.ReplaceAll(tr.do(httptest.NewRequest(http.MethodGet, "/status", nil)).Body.String(), "\n", "")
	for _, want := range []string{
		// w: the listed model and the id in use, one cooling; or: its two discovered models.
		`<td>w</td><td class="n">1</td><td class="n">1</td><td class="n">2</td><td class="n ok">1</td><td class="n bad">1</td>`,
		`<td>or</td><td class="n">1</td><td class="n">1</td><td class="n">2</td><td class="n ok">2</td>`,
		"<td>w/vendor/busy-model</td>", "rate_limited (429)",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("status page lacks %s:\n%s", want, body)
		}
	}

	rec := httptest.NewRecorder()
	if err := serveAdminTargets(rec, httptest.NewRequest(http.MethodGet, "/llm_router/targets", nil)); err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	var out struct{ Targets []targetStatus }
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	for _, ts := range out.Targets {
		states[ts.UpstreamModel] = ts.State
	}
	for model, want := range map[string]string{"vendor/busy-model": "cooling", "listed-up": "healthy", "openai/gpt-4o-mini": "healthy"} {
		if states[model] != want {
			t.Errorf("admin targets: %s is %q, want %q (all: %v)", model, states[model], want, states)
		}
	}
	if strings.Contains(rec.Body.String(), "sk-wild") || strings.Contains(body, "sk-wild") {
		t.Error("a key reached the status page or the admin API")
	}
}

// TestAliasOfAWildcardID: an alias may name `<provider>/<id>` of a `model *` provider. It
// reaches the id there, fails over to its next member, and the id's target cools for a
// client that sends the id itself too: one state.
func TestAliasOfAWildcardID(t *testing.T) {
	wild := newFakeUpstream(t, status(http.StatusTooManyRequests, "Retry-After", "30"))
	local := newFakeUpstream(t, okChat)
	tr := newTestRouter(t, &Handler{Strategy: "priority",
		Providers: []catalog.ProviderConfig{wildProvider("or", wild.URL, "sk-wild-7Tq1"), provider("local", local.URL+"/v1", nil, "qwen", "qwen-up")},
		Aliases:   []catalog.AliasConfig{{Name: "fast", Targets: []string{"or/vendor/busy-model", "qwen"}}},
	})
	rec := tr.chat(`{"model":"fast","messages":[]}`)
	if rec.Code != http.StatusOK || rec.Header().Get("X-LLM-Router-Provider") != "local" {
		t.Fatalf("fast: %d from %q: %s", rec.Code, rec.Header().Get("X-LLM-Router-Provider"), rec.Body)
	}
	if got := wild.received(); len(got) != 1 || upstreamModel(t, got[0].Body) != "vendor/busy-model" {
		t.Fatalf("the wildcard provider got %d requests", len(got))
	}
	if rec := tr.chat(`{"model":"or/vendor/busy-model","messages":[]}`); rec.Code == http.StatusOK || wild.calls.Load() != 1 {
		t.Errorf("the id sent as a wildcard: %d, %d upstream calls; its target should be cooling", rec.Code, wild.calls.Load())
	}
}
