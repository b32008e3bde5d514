package llmrouter

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/reqbody"
)

// requestLine is the "llm request" line that the router's log has for rec, without its time.
func requestLine(t *testing.T, tr *testRouter, rec *record) string {
	t.Helper()
	before := len(tr.logs.String())
	tr.finish(rec)
	line := strings.TrimSpace(tr.logs.String()[before:])
	if strings.Count(line, "\n") != 0 || !strings.Contains(line, `"msg":"llm request"`) {
		t.Fatalf("want one request line, got:\n%s", line)
	}
	// The line's ts is the wall clock's: cut it out.
	head, rest, ok := strings.Cut(line, `"ts":`)
	if !ok {
		t.Fatalf("no ts in %s", line)
	}
	_, rest, _ = strings.Cut(rest, ",")
	return head + rest
}

// TestRequestLogLine pins the request line's fields, their names, order and values, for a
// record that has every optional part: the line is what operators grep and parse.
func TestRequestLogLine(t *testing.T) {
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{
		provider("p", "http://p.invalid/v1", []string{"sk-logline-key"}, "m", "m-up")}})
	tgt := tr.targets[0]
	start := tr.clock.Now()
	tr.clock.Advance(1500 * time.Millisecond)

	rec := &record{model: "m", client: "team-a", start: start, target: tgt, outcome: "success", status: 200,
		attempts: []attemptInfo{{Provider: "q", Target: "q#0/k", Status: 429, Class: "rate_limited", Error: "slow down"},
			{Provider: "r", Target: "r#0/k", Class: "upstream_down", Error: "timeout"}},
		usage: tokenUsage{PromptTokens: 12, CompletionTokens: 5}, cost: 0.25, ttfb: 300 * time.Millisecond,
		cooling: "2 key_refused", fitted: "8192 tokens"}
	rec.notes.hedge.target, rec.notes.hedge.won, rec.notes.hedge.failure = "h#0/k", true, "reset"
	rec.notes.resumes = []resumeNote{{target: "s#0/k", event: 7, replayed: 40, dropped: 4}}
	rec.notes.notResumed = "resume is off"
	want := `{"level":"info","msg":"llm request","model":"m","outcome":"success","status":200,"attempts":3,` +
		`"duration":1.5,"provider":"p","upstream_model":"m-up","target":"` + tgt.Label + `","ttfb":0.3,` +
		`"client":"team-a","fitted":"8192 tokens","tokens_in":12,"tokens_out":5,"cost_usd":0.25,` +
		`"failures":[{"provider":"q","target":"q#0/k","status":429,"class":"rate_limited","error":"slow down"},` +
		`{"provider":"r","target":"r#0/k","class":"upstream_down","error":"timeout"}],"cooling":"2 key_refused",` +
		`"hedge":{"target":"h#0/k","won":true,"error":"reset"},` +
		`"resumed":[{"target":"s#0/k","event":7,"chars_replayed":40,"chars_dropped":4}],"not_resumed":"resume is off"}`
	if got := requestLine(t, tr, rec); got != want {
		t.Errorf("line\n%s\nwant\n%s", got, want)
	}

	// The least line: nothing answered, a warning.
	rec = &record{model: "m", start: tr.clock.Now(), outcome: "failed", status: 502}
	want = `{"level":"warn","msg":"llm request","model":"m","outcome":"failed","status":502,"attempts":0,"duration":0}`
	if got := requestLine(t, tr, rec); got != want {
		t.Errorf("line\n%s\nwant\n%s", got, want)
	}
}

// TestRequestLogLineSmart pins a virtual model's part of the request line.
func TestRequestLogLineSmart(t *testing.T) {
	fx := newSmartFixture(t, nil)
	tr := fx.tr
	body := []byte(smartChat("auto", "hello", ""))
	f, err := reqbody.Scan(body)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(""))
	_, _, sc, p, ok := tr.smartRequest(httptest.NewRecorder(), r, route{ep: chatEndpoint}, body, f, nil)
	if !ok || p == nil || sc == nil {
		t.Fatal("no decision")
	}
	d := &sc.d
	tgt := p.targets[0]
	rec := &record{model: "auto", start: tr.clock.Now(), target: tgt, outcome: "success", status: 200, smart: sc}
	want := `{"level":"info","msg":"llm request","model":"auto","outcome":"success","status":200,"attempts":1,` +
		`"duration":0,"provider":"` + tgt.Provider.Name + `","upstream_model":"` + tgt.Upstream + `","target":"` + tgt.Label +
		`","ttfb":0,"selected":"` + d.Selected().Name + `","route_goal":"` + d.Goal.String() + `","route_tier":"` +
		d.Tier.String() + `","route_reason":"` + d.Reason() + `","route_fallbacks":` + strconv.Itoa(d.NFallbacks) + `}`
	if got := requestLine(t, tr, rec); got != want {
		t.Errorf("line\n%s\nwant\n%s", got, want)
	}
}
