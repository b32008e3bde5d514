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
	vroute "github.com/llmrouter/caddy-llm-router/route"
	"github.com/llmrouter/caddy-llm-router/transport"
)

// modelsUpstream is a fake provider whose GET /v1/models answers what list holds (or fails
// with failStatus), and whose chat completions answer okChat.
type modelsUpstream struct {
	*fakeUpstream
	mu         sync.Mutex
	list       string
	failStatus int
	block      chan struct{} // when set, /models waits on it
	lists      atomic.Int64
}

func newModelsUpstream(t *testing.T, list string) *modelsUpstream {
	m := &modelsUpstream{list: list}
	m.fakeUpstream = newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/models") {
			m.lists.Add(1)
			m.mu.Lock()
			list, fail, block := m.list, m.failStatus, m.block
			m.mu.Unlock()
			if block != nil {
				select {
				case <-block:
				case <-r.Context().Done():
					return
				}
			}
			if fail != 0 {
				w.WriteHeader(fail)
				// Upstreams quote the key they refused: it must not reach a log.
				_, _ = io.WriteString(w, `{"error":{"message":"Incorrect API key provided: `+r.Header.Get("Authorization")+`"}}`)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, list)
			return
		}
		okChat(w, r)
	})
	return m
}

func (m *modelsUpstream) set(list string, fail int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.list, m.failStatus = list, fail
}

// openRouterList is a model list in OpenRouter's shape: prices per token as strings.
const openRouterList = `{"data":[
 {"id":"meta-llama/llama-3.3-70b-instruct","name":"Llama 3.3 70B","context_length":131072,
  "pricing":{"prompt":"0.00000059","completion":"0.00000079","input_cache_read":"0.0000001"},
  "top_provider":{"context_length":131072,"max_completion_tokens":16384},
  "supported_parameters":["tools","temperature","structured_outputs"],
  "architecture":{"input_modalities":["text"]}},
 {"id":"openai/gpt-4o-mini","context_length":128000,"pricing":{"prompt":"0.00000015","completion":"0.0000006"},
  "architecture":{"input_modalities":["text","image"]}},
 {"id":"vendor/embed-x"}
]}`

const discoverKey = "sk-disc-7Hq2Lm9Zp4Xw8Rt6"

func discoverRouter(t *testing.T, up *modelsUpstream, dc *catalog.DiscoverConfig, tick chan time.Time) *testRouter {
	t.Helper()
	p := provider("or", up.URL+"/v1", []string{discoverKey})
	p.Discover = dc
	h := &Handler{Providers: []catalog.ProviderConfig{p}}
	if tick != nil {
		h.discoverTick = tick
		h.discoverRounds = make(chan struct{})
	}
	return newTestRouter(t, h)
}

// round runs one discovery round and waits for it.
func round(t *testing.T, tr *testRouter, tick chan time.Time) {
	t.Helper()
	select {
	case tick <- time.Time{}:
	case <-time.After(10 * time.Second):
		t.Fatal("the discovery loop does not take a tick")
	}
	select {
	case <-tr.discoverRounds:
	case <-time.After(10 * time.Second):
		t.Fatal("the discovery round did not finish")
	}
}

func listedModels(t *testing.T, tr *testRouter) map[string]modelEntry {
	t.Helper()
	rec := tr.do(httptest.NewRequest(http.MethodGet, "/v1/models", nil))
	var list struct{ Data []modelEntry }
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
		t.Fatalf("models: %v: %s", err, rec.Body)
	}
	out := make(map[string]modelEntry)
	for _, e := range list.Data {
		out[e.ID] = e
	}
	return out
}

func TestDiscoverServesListWithMetadata(t *testing.T) {
	up := newModelsUpstream(t, openRouterList)
	tr := discoverRouter(t, up, &catalog.DiscoverConfig{Exclude: []string{"*embed*"}}, nil)

	ids := listedModels(t, tr)
	e, ok := ids["meta-llama/llama-3.3-70b-instruct"]
	if !ok || len(ids) != 2 {
		t.Fatalf("models listed: %v", ids)
	}
	if e.ContextLength != 131072 || e.MaxOutput != 16384 || e.Pricing == nil ||
		e.Pricing.Input != 0.59 || e.Pricing.Output != 0.79 || e.Pricing.CacheRead != 0.1 {
		t.Fatalf("metadata not taken from the list: %+v %+v", e, e.Pricing)
	}
	if strings.Join(e.Supports, ",") != "tools,json_schema" || strings.Join(ids["openai/gpt-4o-mini"].Supports, ",") != "vision" {
		t.Fatalf("supports: %v / %v", e.Supports, ids["openai/gpt-4o-mini"].Supports)
	}
	for _, name := range []string{"meta-llama/llama-3.3-70b-instruct", "or/openai/gpt-4o-mini"} {
		rec := tr.chat(`{"model":"` + name + `","messages":[{"role":"user","content":"hi"}]}`)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", name, rec.Code, rec.Body)
		}
	}
	got := up.received()
	last := got[len(got)-1]
	if !strings.Contains(string(last.Body), `"model":"openai/gpt-4o-mini"`) || last.Header.Get("Authorization") != "Bearer "+discoverKey {
		t.Fatalf("upstream got %s with %q", last.Body, last.Header.Get("Authorization"))
	}
	if list := got[0]; list.Path != "/v1/models" || list.Header.Get("Authorization") != "Bearer "+discoverKey {
		t.Fatalf("list request %s auth %q", list.Path, list.Header.Get("Authorization"))
	}
	// The excluded id is not a public name, and a name nobody listed is still unknown.
	if rec := tr.chat(`{"model":"vendor/embed-x","messages":[]}`); rec.Code != http.StatusNotFound {
		t.Fatalf("excluded id: %d", rec.Code)
	}
	// The cost header uses the discovered prices: 3 in, 1 out at 0.59/0.79 per million.
	rec := tr.chat(`{"model":"meta-llama/llama-3.3-70b-instruct","messages":[]}`)
	if c := rec.Header().Get("X-LLM-Router-Cost"); c != formatCost((3*0.59+1*0.79)/1e6) {
		t.Fatalf("cost header %q", c)
	}
}

// TestDiscoverListShapesOfRealProviders: Together answers GET /models with a bare JSON array
// of model objects (its SDK's List returns []Model), not OpenAI's {"data":[...]}; and one entry
// whose field has another type than OpenRouter's (a context length as a string, a price that
// is no number) must cost that entry its metadata, not the provider its whole list.
func TestDiscoverListShapesOfRealProviders(t *testing.T) {
	for name, tc := range map[string]struct {
		list string
		want []string
	}{
		"together's bare array": {`[
			{"id":"meta-llama/Llama-3.3-70B-Instruct-Turbo","object":"model","created":1733443200,"type":"chat",
			 "display_name":"Llama 3.3 70B","organization":"Meta","context_length":131072,
			 "pricing":{"hourly":0,"input":0.88,"output":0.88,"base":0,"finetune":0}},
			{"id":"BAAI/bge-large-en-v1.5","object":"model","created":0,"type":"embedding","context_length":512,
			 "pricing":{"hourly":0,"input":0.02,"output":0.02,"base":0,"finetune":0}}]`,
			[]string{"meta-llama/Llama-3.3-70B-Instruct-Turbo", "BAAI/bge-large-en-v1.5"}},
		"an entry with odd field types": {`{"object":"list","data":[
			{"id":"good","context_length":8192},
			{"id":"odd-length","context_length":"32k"},
			{"id":"odd-price","pricing":{"prompt":"varies","completion":""}},
			{"id":42}]}`,
			[]string{"good", "odd-length", "odd-price"}},
	} {
		t.Run(name, func(t *testing.T) {
			up := newModelsUpstream(t, tc.list)
			tr := discoverRouter(t, up, &catalog.DiscoverConfig{}, nil)
			ids := listedModels(t, tr)
			if len(ids) != len(tc.want) {
				t.Fatalf("models listed: %v, want %v", ids, tc.want)
			}
			for _, id := range tc.want {
				if _, ok := ids[id]; !ok {
					t.Fatalf("%s not listed: %v", id, ids)
				}
				if rec := tr.chat(`{"model":"` + id + `","messages":[{"role":"user","content":"hi"}]}`); rec.Code != http.StatusOK {
					t.Errorf("%s: %d %s", id, rec.Code, rec.Body)
				}
			}
			if e := ids[tc.want[0]]; e.ContextLength == 0 {
				t.Errorf("%s lost its context length: %+v", tc.want[0], e)
			}
			if strings.Contains(tr.logs.String(), "model discovery failed") {
				t.Errorf("the list was refused: %s", tr.logs)
			}
		})
	}
}

// TestDiscoverOpenAIListIsOnePage: an OpenAI-shaped list that says has_more (with last_id,
// as Anthropic's does) is fetched once: its URL has no page to ask for, so a second fetch
// would be the same page again.
func TestDiscoverOpenAIListIsOnePage(t *testing.T) {
	up := newModelsUpstream(t, `{"object":"list","data":[{"id":"a"},{"id":"b"}],"has_more":true,"first_id":"a","last_id":"b"}`)
	tr := discoverRouter(t, up, &catalog.DiscoverConfig{}, nil)
	if ids := listedModels(t, tr); len(ids) != 2 {
		t.Fatalf("models listed: %v", ids)
	}
	if n := up.lists.Load(); n != 1 {
		t.Errorf("the list was fetched %d times, want once", n)
	}
}

func TestDiscoverPrefixAndConfiguredNameWins(t *testing.T) {
	up := newModelsUpstream(t, openRouterList)
	p := provider("or", up.URL+"/v1", []string{discoverKey}, "gpt-4o-mini", "openai/gpt-4o-mini")
	p.Discover = &catalog.DiscoverConfig{Prefix: "or-", Include: []string{"openai/*", "meta-llama/*"}}
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{p},
		Models: []catalog.ModelInfo{{Name: "or-meta-llama/llama-3.3-70b-instruct", InputPrice: 9, OutputPrice: 9}}})
	ids := listedModels(t, tr)
	if _, ok := ids["or-openai/gpt-4o-mini"]; ok {
		t.Fatal("an id a configured model already serves got a second public name")
	}
	e, ok := ids["or-meta-llama/llama-3.3-70b-instruct"]
	if !ok || e.Pricing.Input != 9 || e.ContextLength != 131072 {
		t.Fatalf("prefixed name, configured prices first: %+v", e)
	}
}

func TestDiscoverFailureKeepsLastGoodAndLogsOnce(t *testing.T) {
	up := newModelsUpstream(t, openRouterList)
	tick := make(chan time.Time)
	tr := discoverRouter(t, up, &catalog.DiscoverConfig{Interval: transport.Duration(time.Minute)}, tick)
	if _, ok := listedModels(t, tr)["openai/gpt-4o-mini"]; !ok {
		t.Fatal("first list not served")
	}
	up.set(openRouterList, http.StatusUnauthorized)
	for range 3 {
		tr.clock.Advance(2 * time.Minute)
		round(t, tr, tick)
	}
	if n := up.lists.Load(); n != 4 {
		t.Fatalf("%d list fetches, want 4", n)
	}
	if _, ok := listedModels(t, tr)["openai/gpt-4o-mini"]; !ok {
		t.Fatal("the last good list was dropped on failure")
	}
	if rec := tr.chat(`{"model":"openai/gpt-4o-mini","messages":[]}`); rec.Code != http.StatusOK {
		t.Fatalf("kept model: %d", rec.Code)
	}
	logs := tr.logs.String()
	if n := strings.Count(logs, "model discovery failed"); n != 1 {
		t.Fatalf("failure logged %d times:\n%s", n, logs)
	}
	if !strings.Contains(logs, "answered 401") {
		t.Fatalf("the failure does not say why:\n%s", logs)
	}
	if strings.Contains(logs, discoverKey[3:11]) {
		t.Fatalf("the key leaked into the logs:\n%s", logs)
	}
	// Back to normal: logged, and a later failure is logged again.
	up.set(openRouterList, 0)
	tr.clock.Advance(2 * time.Minute)
	round(t, tr, tick)
	if !strings.Contains(tr.logs.String(), "model discovery works again") {
		t.Fatal("recovery not logged")
	}
}

func TestDiscoverReloadUsesKeptListWithoutFetching(t *testing.T) {
	up := newModelsUpstream(t, openRouterList)
	tick := make(chan time.Time)
	discoverRouter(t, up, &catalog.DiscoverConfig{}, tick) // the old config, still live
	up.set("", http.StatusInternalServerError)
	tr2 := discoverRouter(t, up, &catalog.DiscoverConfig{}, make(chan time.Time))
	if n := up.lists.Load(); n != 1 {
		t.Fatalf("the reload fetched the list again (%d fetches)", n)
	}
	if _, ok := listedModels(t, tr2)["meta-llama/llama-3.3-70b-instruct"]; !ok {
		t.Fatal("the reloaded config does not serve the kept list")
	}
}

func TestDiscoverSlowListDoesNotHoldProvision(t *testing.T) {
	up := newModelsUpstream(t, openRouterList)
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	up.block = block
	start := time.Now()
	tr := discoverRouter(t, up, &catalog.DiscoverConfig{Timeout: transport.Duration(150 * time.Millisecond)}, make(chan time.Time))
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("provision waited %s for a list that never came", took)
	}
	if len(listedModels(t, tr)) != 0 {
		t.Fatal("models listed before any list came")
	}
	if !strings.Contains(tr.logs.String(), "timed out") {
		t.Fatalf("the slow fetch is not logged: %s", tr.logs)
	}
}

func TestDiscoverIntervalRefresh(t *testing.T) {
	up := newModelsUpstream(t, `{"data":[{"id":"a-1"}]}`)
	tick := make(chan time.Time)
	tr := discoverRouter(t, up, &catalog.DiscoverConfig{Interval: transport.Duration(10 * time.Minute)}, tick)
	up.set(`{"data":[{"id":"b-2"}]}`, 0)
	// Not due yet: a tick fetches nothing.
	tr.clock.Advance(5 * time.Minute)
	round(t, tr, tick)
	if _, ok := listedModels(t, tr)["a-1"]; !ok || up.lists.Load() != 1 {
		t.Fatalf("refetched before the interval: %d fetches", up.lists.Load())
	}
	tr.clock.Advance(6 * time.Minute)
	round(t, tr, tick)
	ids := listedModels(t, tr)
	if _, ok := ids["b-2"]; !ok || len(ids) != 1 {
		t.Fatalf("after the interval: %v", ids)
	}
	if rec := tr.chat(`{"model":"a-1","messages":[]}`); rec.Code != http.StatusNotFound {
		t.Fatalf("a dropped id still routes: %d", rec.Code)
	}
	if rec := tr.chat(`{"model":"b-2","messages":[]}`); rec.Code != http.StatusOK {
		t.Fatalf("the new id: %d %s", rec.Code, rec.Body)
	}
}

func TestDiscoverGeminiPagesAndAnthropic(t *testing.T) {
	var pages atomic.Int64
	gem := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Goog-Api-Key") != "g-key-123456789" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		pages.Add(1)
		if r.URL.Query().Get("pageToken") == "" {
			_, _ = io.WriteString(w, `{"models":[{"name":"models/gemini-2.5-flash","inputTokenLimit":1048576,"outputTokenLimit":65536,"supportedGenerationMethods":["generateContent","countTokens"],"thinking":true},
				{"name":"models/text-embedding-004","supportedGenerationMethods":["embedContent"]}],"nextPageToken":"p2"}`)
			return
		}
		_, _ = io.WriteString(w, `{"models":[{"name":"models/gemini-2.0-flash","supportedGenerationMethods":["generateContent"]}]}`)
	})
	ant := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != "a-key-123456789" || r.Header.Get("Anthropic-Version") == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Query().Get("after_id") == "" {
			_, _ = io.WriteString(w, `{"data":[{"id":"claude-sonnet-4-5","type":"model"}],"has_more":true,"last_id":"claude-sonnet-4-5"}`)
			return
		}
		_, _ = io.WriteString(w, `{"data":[{"id":"claude-haiku-4-5","type":"model"}],"has_more":false}`)
	})
	g := provider("g", gem.URL+"/v1beta", []string{"g-key-123456789"})
	g.API, g.Discover = "gemini", &catalog.DiscoverConfig{}
	a := provider("a", ant.URL+"/v1", []string{"a-key-123456789"})
	a.API, a.Discover = "anthropic", &catalog.DiscoverConfig{}
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{g, a}})
	ids := listedModels(t, tr)
	for _, want := range []string{"gemini-2.5-flash", "gemini-2.0-flash", "claude-sonnet-4-5", "claude-haiku-4-5"} {
		if _, ok := ids[want]; !ok {
			t.Errorf("%s not discovered: %v", want, ids)
		}
	}
	if _, ok := ids["text-embedding-004"]; ok {
		t.Error("a model that cannot generate was discovered")
	}
	if e := ids["gemini-2.5-flash"]; e.ContextLength != 1048576 || e.MaxOutput != 65536 || strings.Join(e.Supports, ",") != "reasoning" {
		t.Errorf("gemini metadata: %+v", e)
	}
	if pages.Load() != 2 {
		t.Errorf("%d gemini pages fetched", pages.Load())
	}
}

// TestDiscoverPicksUpListFetchedByOtherConfig: during a reload both configs share the kept
// list; one that another config's loop refreshed is served without a fetch of its own.
func TestDiscoverPicksUpListFetchedByOtherConfig(t *testing.T) {
	up := newModelsUpstream(t, `{"data":[{"id":"a-1"}]}`)
	tickA, tickB := make(chan time.Time), make(chan time.Time)
	dc := &catalog.DiscoverConfig{Interval: transport.Duration(time.Hour)}
	a := discoverRouter(t, up, dc, tickA)
	b := discoverRouter(t, up, dc, tickB)
	up.set(`{"data":[{"id":"b-2"}]}`, 0)
	a.clock.Advance(2 * time.Hour)
	round(t, a, tickA)
	round(t, b, tickB) // b's clock has not moved: nothing is due for it
	if n := up.lists.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
	if _, ok := listedModels(t, b)["b-2"]; !ok {
		t.Fatal("b does not serve the list a fetched")
	}
}

// TestAliasOfDiscoveredModels: an alias may name discovered models, bare or as
// `<provider>/<id>`, beside listed ones. Before any list has them, an alias of discovered
// models only says so (503), and one with a listed member serves that; once a list came, the
// alias fails over from its listed member to the discovered ones, /v1/models names their
// provider, and a member no list has is logged.
func TestAliasOfDiscoveredModels(t *testing.T) {
	local := newFakeUpstream(t, status(http.StatusServiceUnavailable))
	lists := newModelsUpstream(t, openRouterList)
	lists.set(openRouterList, http.StatusInternalServerError) // no list at load
	disc := provider("or", lists.URL+"/v1", []string{discoverKey})
	disc.Discover = &catalog.DiscoverConfig{Exclude: []string{"*embed*"}, Interval: transport.Duration(time.Minute)}
	tick := make(chan time.Time)
	h := &Handler{Strategy: "priority",
		Providers: []catalog.ProviderConfig{provider("local", local.URL+"/v1", nil, "qwen", "qwen-up"), disc},
		Aliases: []catalog.AliasConfig{
			{Name: "fast", Targets: []string{"qwen", "meta-llama/llama-3.3-70b-instruct", "vendor/missing"}},
			{Name: "only", Targets: []string{"or/openai/gpt-4o-mini"}},
		}}
	h.discoverTick, h.discoverRounds = tick, make(chan struct{})
	tr := newTestRouter(t, h)

	if rec := tr.chat(`{"model":"only","messages":[]}`); rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "model_not_discovered") {
		t.Fatalf("before any list: %d %s", rec.Code, rec.Body)
	}
	if rec := tr.chat(`{"model":"fast","messages":[]}`); rec.Code != http.StatusServiceUnavailable || local.calls.Load() != 1 {
		t.Fatalf("before any list, the listed member answers: %d %s", rec.Code, rec.Body)
	}

	lists.set(openRouterList, 0)
	tr.clock.Advance(2 * time.Minute) // the next fetch is due; the listed member's cooldown is over
	round(t, tr, tick)
	for alias, want := range map[string]string{"fast": "meta-llama/llama-3.3-70b-instruct", "only": "openai/gpt-4o-mini"} {
		rec := tr.chat(`{"model":"` + alias + `","messages":[]}`)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", alias, rec.Code, rec.Body)
		}
		got := lists.received()
		if m := upstreamModel(t, got[len(got)-1].Body); m != want {
			t.Errorf("%s reached %q, want %q", alias, m, want)
		}
	}
	if local.calls.Load() != 2 {
		t.Errorf("the listed member was called %d times, want 2", local.calls.Load())
	}
	if e := listedModels(t, tr)["fast"]; strings.Join(e.Providers, ",") != "local,or" {
		t.Errorf("/v1/models: fast's providers %v", e.Providers)
	}
	if logs := tr.logs.String(); !strings.Contains(logs, "alias members are in no discovered list") || !strings.Contains(logs, "vendor/missing") {
		t.Errorf("the missing member is not logged:\n%s", logs)
	}
}

// TestVirtualModelOverDiscoveredModels: a router's candidates may be discovered models. The
// config's decision leaves them out until a list has them; each list then builds the virtual
// model again over them, with the list's prices, so `optimize cost` picks the cheapest one,
// and /v1/models lists it among the candidates.
func TestVirtualModelOverDiscoveredModels(t *testing.T) {
	local := newFakeUpstream(t, okChat)
	lists := newModelsUpstream(t, openRouterList)
	lists.set(openRouterList, http.StatusInternalServerError) // no list at load
	disc := provider("or", lists.URL+"/v1", []string{discoverKey})
	disc.Discover = &catalog.DiscoverConfig{Exclude: []string{"*embed*"}, Interval: transport.Duration(time.Minute)}
	tick := make(chan time.Time)
	h := &Handler{
		Providers: []catalog.ProviderConfig{provider("local", local.URL+"/v1", nil, "qwen", "qwen-up"), disc},
		Models:    []catalog.ModelInfo{{Name: "qwen", InputPrice: 1, OutputPrice: 2}},
		Routers: []vroute.Config{{Name: "cheap", Optimize: "cost",
			Models: []string{"qwen", "meta-llama/llama-3.3-70b-instruct", "or/openai/gpt-4o-mini"}}},
	}
	h.discoverTick, h.discoverRounds = tick, make(chan struct{})
	tr := newTestRouter(t, h)
	route := func() string {
		t.Helper()
		rec := tr.chat(`{"model":"cheap","messages":[{"role":"user","content":"hi"}]}`)
		if rec.Code != http.StatusOK {
			t.Fatalf("cheap: %d %s", rec.Code, rec.Body)
		}
		return rec.Header().Get("X-LLM-Router-Route")
	}
	if got := route(); got != "cheap -> qwen" {
		t.Fatalf("before any list: %q", got)
	}

	lists.set(openRouterList, 0)
	tr.clock.Advance(2 * time.Minute)
	round(t, tr, tick)
	if got := route(); got != "cheap -> or/openai/gpt-4o-mini" {
		t.Fatalf("after the list (gpt-4o-mini is the cheapest at 0.15/0.6): %q", got)
	}
	got := lists.received()
	if m := upstreamModel(t, got[len(got)-1].Body); m != "openai/gpt-4o-mini" {
		t.Errorf("the discovered candidate's upstream got %q", m)
	}
	e := listedModels(t, tr)["cheap"]
	if e.Router == nil || strings.Join(e.Router.Models, ",") != "qwen,meta-llama/llama-3.3-70b-instruct,or/openai/gpt-4o-mini" {
		t.Errorf("/v1/models: cheap is %+v", e.Router)
	}
}

// TestVirtualModelOverADiscoveredAlias: a candidate that is an alias with discovered members
// reaches them once a list has them, though the config's build found the alias.
func TestVirtualModelOverADiscoveredAlias(t *testing.T) {
	local := newFakeUpstream(t, okChat)
	lists := newModelsUpstream(t, openRouterList)
	lists.set(openRouterList, http.StatusInternalServerError)
	disc := provider("or", lists.URL+"/v1", []string{discoverKey})
	disc.Discover = &catalog.DiscoverConfig{Exclude: []string{"*embed*"}, Interval: transport.Duration(time.Minute)}
	tick := make(chan time.Time)
	h := &Handler{
		Providers: []catalog.ProviderConfig{provider("local", local.URL+"/v1", nil, "qwen", "qwen-up"), disc},
		Aliases:   []catalog.AliasConfig{{Name: "mix", Targets: []string{"qwen", "or/openai/gpt-4o-mini"}}},
		Routers:   []vroute.Config{{Name: "mixed", Optimize: "spread", Models: []string{"mix"}}},
	}
	h.discoverTick, h.discoverRounds = tick, make(chan struct{})
	tr := newTestRouter(t, h)
	lists.set(openRouterList, 0)
	tr.clock.Advance(2 * time.Minute)
	round(t, tr, tick)
	before := lists.calls.Load()
	for range 4 {
		if rec := tr.chat(`{"model":"mixed","messages":[{"role":"user","content":"hi"}]}`); rec.Code != http.StatusOK {
			t.Fatalf("mixed: %d %s", rec.Code, rec.Body)
		}
	}
	if n := lists.calls.Load() - before; n != 2 || local.calls.Load() != 2 {
		t.Errorf("4 requests: %d to the discovered member, %d to the configured one; want 2 each", n, local.calls.Load())
	}
}

// TestDiscoverDuplicateIDsDoNotCountAgainstTheLimit: a list that names an id twice serves
// `limit` distinct models, not fewer.
func TestDiscoverDuplicateIDsDoNotCountAgainstTheLimit(t *testing.T) {
	up := newModelsUpstream(t, `{"data":[{"id":"a"},{"id":"a"},{"id":"b"},{"id":"b"},{"id":"c"},{"id":"d"}]}`)
	tr := discoverRouter(t, up, &catalog.DiscoverConfig{Limit: 3}, nil)
	ids := listedModels(t, tr)
	for _, id := range []string{"a", "b", "c"} {
		if _, ok := ids[id]; !ok {
			t.Errorf("%s not listed: %v", id, ids)
		}
		if rec := tr.chat(`{"model":"` + id + `","messages":[]}`); rec.Code != http.StatusOK {
			t.Errorf("%s: %d %s", id, rec.Code, rec.Body)
		}
	}
	if _, ok := ids["d"]; ok || len(ids) != 3 {
		t.Errorf("models listed beyond the limit of 3: %v", ids)
	}
	if rec := tr.chat(`{"model":"or/d","messages":[]}`); rec.Code != http.StatusNotFound {
		t.Errorf("or/d, beyond the limit: %d", rec.Code)
	}
}

// TestDiscoverEndlessListIsReadOnlyUpToTheBound: an upstream whose list pages on and on, each
// page thousands of new ids, is read until it has named catalog.MaxDiscoveredIDs distinct ids,
// not for its every page, and the warning says so (the ids beyond were never held).
func TestDiscoverEndlessListIsReadOnlyUpToTheBound(t *testing.T) {
	const perPage = 30000
	var pages atomic.Int64
	ant := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		n := int(pages.Add(1))
		var b strings.Builder
		b.WriteString(`{"data":[`)
		for i := range perPage {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"id":"m-%d-%d"}`, n, i)
		}
		fmt.Fprintf(&b, `],"has_more":true,"last_id":"m-%d-%d"}`, n, perPage-1)
		_, _ = io.WriteString(w, b.String())
	})
	a := provider("a", ant.URL+"/v1", []string{"a-key-123456789"})
	a.API, a.Discover = "anthropic", &catalog.DiscoverConfig{Limit: 5}
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{a}})
	want := (catalog.MaxDiscoveredIDs + perPage - 1) / perPage
	if n := pages.Load(); n != int64(want) {
		t.Fatalf("%d pages fetched, want %d: the reading must stop at %d ids", n, want, catalog.MaxDiscoveredIDs)
	}
	if ids := listedModels(t, tr); len(ids) != 5 {
		t.Errorf("%d models listed, want the limit of 5", len(ids))
	}
	if !strings.Contains(tr.logs.String(), "the rest were left") {
		t.Errorf("no warning that the list was cut:\n%s", tr.logs.String())
	}
}

func TestDiscoverLimitAboveTheBoundIsAConfigError(t *testing.T) {
	p := provider("a", "http://127.0.0.1:9/v1", []string{"a-key-123456789"})
	p.Discover = &catalog.DiscoverConfig{Limit: catalog.MaxDiscoveredIDs + 1}
	err := provisionErr(&Handler{Providers: []catalog.ProviderConfig{p}})
	if err == nil || !strings.Contains(err.Error(), "discover limit") {
		t.Fatalf("limit above the bound: %v", err)
	}
}
