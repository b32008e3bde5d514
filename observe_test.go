package llmrouter

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// observedRouter is a router over two providers: "obsbad" answers 429 with Retry-After 30 and
// "obsgood" answers 200; both serve "m", and the catalog has prices for it.
func observedRouter(t *testing.T) (*testRouter, *fakeUpstream, *fakeUpstream) {
	t.Helper()
	bad := newFakeUpstream(t, status(http.StatusTooManyRequests, "Retry-After", "30"))
	good := newFakeUpstream(t, okChat)
	tr := newTestRouter(t, &Handler{
		Strategy: "priority",
		Providers: []catalog.ProviderConfig{
			provider("obsbad", bad.URL, []string{"sk-observe-bad"}, "m", "m-up"),
			provider("obsgood", good.URL, []string{"sk-observe-good"}, "m", "m-up"),
		},
		Models:     []catalog.ModelInfo{{Name: "m", Description: `<script>alert("x")</script>`, ContextLength: 128000, InputPrice: 2, OutputPrice: 10}},
		Aliases:    []catalog.AliasConfig{{Name: "a&b", Targets: []string{"m"}}},
		StatusPage: "/status",
		ModelsPage: "/models.html",
	})
	return tr, bad, good
}

func TestObserveHeadersPlaceholdersAndCost(t *testing.T) {
	tr, _, _ := observedRouter(t)
	repl := caddy.NewReplacer()
	req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(`{"model":"m","messages":[]}`))
	rec := httptest.NewRecorder()
	req = caddyhttp.PrepareRequest(req, repl, rec, &caddyhttp.Server{})
	if err := tr.ServeHTTP(rec, req, nextHandler); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	want := map[string]string{
		"X-LLM-Router-Model":          "m",
		"X-LLM-Router-Provider":       "obsgood",
		"X-LLM-Router-Upstream-Model": "m-up",
		"X-LLM-Router-Attempts":       "2",
		// okChat reports 3 input and 1 output tokens: (3*2 + 1*10) / 1e6 USD.
		"X-LLM-Router-Cost": "0.000016",
	}
	for k, v := range want {
		if got := rec.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if got := rec.Header().Get("X-LLM-Router-Target"); !strings.HasPrefix(got, "obsgood#0/") {
		t.Errorf("target header %q", got)
	}
	for k, v := range map[string]string{"model": "m", "provider": "obsgood", "upstream_model": "m-up", "attempts": "2"} {
		if got, _ := repl.GetString("http.llm_router." + k); got != v {
			t.Errorf("placeholder %s = %q, want %q", k, got, v)
		}
	}

	// One info line for the request, with what a newcomer needs to see why it took two tries.
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(tr.logs.String()), "\n") {
		if strings.Contains(l, `"msg":"llm request"`) {
			if line != nil {
				t.Fatalf("more than one request line:\n%s", tr.logs)
			}
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	if line == nil {
		t.Fatalf("no request line in logs:\n%s", tr.logs)
	}
	for k, v := range map[string]any{"model": "m", "provider": "obsgood", "outcome": "success", "attempts": 2.0, "tokens_in": 3.0, "tokens_out": 1.0} {
		if line[k] != v {
			t.Errorf("log %s = %v, want %v", k, line[k], v)
		}
	}
	fails, _ := line["failures"].([]any)
	if len(fails) != 1 || fails[0].(map[string]any)["class"] != "rate_limited" {
		t.Errorf("log failures = %v", line["failures"])
	}
	if !strings.Contains(tr.logs.String(), `"msg":"cooldown started"`) {
		t.Errorf("no cooldown line in logs")
	}
}

func TestObserveAdminTargetsAfter429(t *testing.T) {
	tr, _, _ := observedRouter(t)
	start := tr.clock.Now()
	if rec := tr.chat(`{"model":"m"}`); rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	rec := httptest.NewRecorder()
	if err := serveAdminTargets(rec, httptest.NewRequest(http.MethodGet, "/llm_router/targets", nil)); err != nil {
		t.Fatal(err)
	}
	var out struct{ Targets []targetStatus }
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	byProvider := map[string]targetStatus{}
	for _, ts := range out.Targets {
		byProvider[ts.Provider] = ts
	}
	bad := byProvider["obsbad"]
	if bad.State != "cooling" || bad.CoolingUntil == nil || !bad.CoolingUntil.Equal(start.Add(30*time.Second)) {
		t.Errorf("bad target = %+v, want cooling until %v", bad, start.Add(30*time.Second))
	}
	if bad.LastFailure != "rate_limited" || bad.LastStatus != 429 || bad.Requests != 1 || bad.Failures != 1 {
		t.Errorf("bad target counters = %+v", bad)
	}
	if good := byProvider["obsgood"]; good.State != "healthy" || good.Requests != 1 {
		t.Errorf("good target = %+v", good)
	}
	if bytes.Contains(rec.Body.Bytes(), []byte("sk-observe")) {
		t.Errorf("admin targets leak a key: %s", rec.Body)
	}
}

// TestAdminCooldownsEnd: DELETE /llm_router/cooldowns ends cooldowns early, filtered by
// provider or target: the target is tried again at once, not after its Retry-After.
func TestAdminCooldownsEnd(t *testing.T) {
	tr, bad, _ := observedRouter(t)
	if rec := tr.chat(`{"model":"m"}`); rec.Code != http.StatusOK { // cools obsbad for 30 s
		t.Fatalf("status %d", rec.Code)
	}
	clear := func(method, query string) (*httptest.ResponseRecorder, error) {
		rec := httptest.NewRecorder()
		return rec, serveAdminCooldowns(rec, httptest.NewRequest(method, "/llm_router/cooldowns"+query, nil))
	}
	if _, err := clear(http.MethodGet, ""); err == nil {
		t.Error("GET ended cooldowns")
	}
	if rec, err := clear(http.MethodDelete, "?provider=obsgood"); err != nil || strings.TrimSpace(rec.Body.String()) != `{"cleared":0}` {
		t.Fatalf("another provider's: %v %s", err, rec.Body)
	}
	if !tr.pools["m"].targets[0].cooling(tr.clock.Now().UnixNano()) {
		t.Fatal("the cooldown ended for a filter that does not name it")
	}
	rec, err := clear(http.MethodDelete, "?provider=obsbad")
	if err != nil || strings.TrimSpace(rec.Body.String()) != `{"cleared":1}` {
		t.Fatalf("obsbad's: %v %s", err, rec.Body)
	}
	before := bad.calls.Load()
	tr.chat(`{"model":"m"}`)
	if bad.calls.Load() != before+1 {
		t.Error("the target whose cooldown was ended is not tried first again")
	}
	if !strings.Contains(tr.logs.String(), "cooldowns ended early through the admin API") {
		t.Error("not logged")
	}
}

func TestObservePagesRenderAndEscape(t *testing.T) {
	tr, _, _ := observedRouter(t)
	tr.chat(`{"model":"m"}`) // cools "bad"

	rec := tr.do(httptest.NewRequest(http.MethodGet, "/status", nil))
	body := rec.Body.String()
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("status page: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	for _, want := range []string{"<td>obsbad</td>", "<td>obsgood</td>", "rate_limited (429)", "30 seconds from now"} {
		if !strings.Contains(body, want) {
			t.Errorf("status page lacks %q:\n%s", want, body)
		}
	}

	rec = tr.do(httptest.NewRequest(http.MethodGet, "/models.html", nil))
	body = rec.Body.String()
	if rec.Code != http.StatusOK {
		t.Fatalf("models page: %d", rec.Code)
	}
	for _, want := range []string{"<code>m</code>", "obsbad, obsgood", "128,000", "$2", "$10", "&lt;script&gt;", "<code>a&amp;b</code>"} {
		if !strings.Contains(body, want) {
			t.Errorf("models page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "<script>") {
		t.Errorf("models page does not escape the description")
	}
	if strings.Contains(body+tr.logs.String(), "sk-observe") {
		t.Errorf("a key leaked into a page or the log")
	}
}

func TestObserveMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	if err := registerMetrics(reg); err != nil {
		t.Fatal(err)
	}
	// Registering again, as every reload does, is not an error.
	if err := registerMetrics(reg); err != nil {
		t.Fatal(err)
	}
	tr, _, _ := observedRouter(t)
	before := counterValue(t, requestsTotal.WithLabelValues("m", "obsgood", "success"))
	rl := counterValue(t, attemptsTotal.WithLabelValues("obsbad", "rate_limited"))
	tokensIn := counterValue(t, tokensTotal.WithLabelValues("m", "obsgood", "input"))

	tr.chat(`{"model":"m"}`)

	if d := counterValue(t, requestsTotal.WithLabelValues("m", "obsgood", "success")) - before; d != 1 {
		t.Errorf("requests_total moved by %v, want 1", d)
	}
	if d := counterValue(t, attemptsTotal.WithLabelValues("obsbad", "rate_limited")) - rl; d != 1 {
		t.Errorf("attempts_total{rate_limited} moved by %v, want 1", d)
	}
	if d := counterValue(t, tokensTotal.WithLabelValues("m", "obsgood", "input")) - tokensIn; d != 3 {
		t.Errorf("tokens_total{input} moved by %v, want 3", d)
	}

	// A target keeps its success series after the first: later requests count in the same ones.
	tr.chat(`{"model":"m"}`)
	if d := counterValue(t, requestsTotal.WithLabelValues("m", "obsgood", "success")) - before; d != 2 {
		t.Errorf("requests_total moved by %v after a second request, want 2", d)
	}
	if d := counterValue(t, tokensTotal.WithLabelValues("m", "obsgood", "input")) - tokensIn; d != 6 {
		t.Errorf("tokens_total{input} moved by %v after a second request, want 6", d)
	}

	text := gatherText(t, reg)
	if !strings.Contains(text, `caddy_llm_router_targets_cooling{provider="obsbad"} 1`) {
		t.Errorf("cooling gauge missing or wrong:\n%s", grepLines(text, "targets_cooling"))
	}
	if strings.Contains(text, "sk-observe") {
		t.Errorf("a key appears in the metrics")
	}
}

func gatherText(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	srv := httptest.NewServer(promHandler(reg))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grepLines(text, word string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func promHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func TestObserveCooldownEndLoggedOnce(t *testing.T) {
	tr, bad, _ := observedRouter(t)
	tr.chat(`{"model":"m"}`) // obsbad answers 429 and cools for 30 s
	bad.Config.Handler = http.HandlerFunc(okChat)
	tr.clock.Advance(31 * time.Second)
	for range 3 {
		if rec := tr.chat(`{"model":"m"}`); rec.Header().Get("X-LLM-Router-Provider") != "obsbad" {
			t.Fatalf("priority did not return to the recovered target: %v", rec.Header())
		}
	}
	if n := strings.Count(tr.logs.String(), `"msg":"cooldown ended"`); n != 1 {
		t.Errorf("cooldown ended logged %d times, want once:\n%s", n, tr.logs)
	}
	if n := strings.Count(tr.logs.String(), `"msg":"cooldown started"`); n != 1 {
		t.Errorf("cooldown started logged %d times, want once", n)
	}
}
