package llmrouter

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/openai/openai-go/v3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/llmrouter/caddy-llm-router/catalog"
	vroute "github.com/llmrouter/caddy-llm-router/route"
)

// smartFixture is a router with three models, each at its own provider and fake upstream:
// tiny (small, 16k context, cheapest, JSON schema only), mini (medium, 128k, tools, vision)
// and big (large, 200k, everything, dearest).
type smartFixture struct {
	tr  *testRouter
	ups map[string]*fakeUpstream
	// fail makes a model's upstream answer 500.
	fail map[string]bool
	// delay is how far a model's upstream moves the clock before it answers.
	delay map[string]time.Duration
}

var smartModels = []catalog.ModelInfo{
	{Name: "tiny", ContextLength: 16000, InputPrice: 0.05, OutputPrice: 0.1, Supports: []string{"json_schema"}, Tier: "small"},
	{Name: "mini", ContextLength: 128000, InputPrice: 0.15, OutputPrice: 0.6, Supports: []string{"tools", "vision", "json_schema"}, Tier: "medium"},
	{Name: "big", ContextLength: 200000, InputPrice: 3, OutputPrice: 15, Supports: []string{"tools", "vision", "json_schema", "reasoning"}, Tier: "large"},
}

func newSmartFixture(t *testing.T, mod func(h *Handler)) *smartFixture {
	t.Helper()
	fx := &smartFixture{ups: map[string]*fakeUpstream{}, fail: map[string]bool{}, delay: map[string]time.Duration{}}
	h := &Handler{Models: smartModels, Smart: &vroute.SmartConfig{},
		Routers: []vroute.Config{{Name: "auto", Optimize: "cost"}}}
	for _, m := range smartModels {
		name := m.Name
		up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
			if d := fx.delay[name]; d > 0 {
				fx.tr.clock.Advance(d)
			}
			if fx.fail[name] {
				status(500)(w, r)
				return
			}
			if bytes.Contains([]byte(readBody(r)), []byte(`"stream":true`)) {
				sseReply(cleanStream)(w, r)
				return
			}
			okChat(w, r)
		})
		fx.ups[name] = up
		h.Providers = append(h.Providers, provider("p-"+name, up.URL+"/v1", []string{"sk-" + name + "-secret-key"}, name, name+"-up"))
	}
	if mod != nil {
		mod(h)
	}
	fx.tr = newTestRouter(t, h)
	return fx
}

// served is which model's upstream got the last n requests, in order.
func (fx *smartFixture) hits() map[string]int64 {
	out := map[string]int64{}
	for n, u := range fx.ups {
		out[n] = u.calls.Load()
	}
	return out
}

type explanation struct {
	Requested    string `json:"requested"`
	Selected     string `json:"selected"`
	Provider     string `json:"provider"`
	Goal         string `json:"goal"`
	Tier         string `json:"tier"`
	Reason       string `json:"reason"`
	Requirements struct {
		PromptTokens int      `json:"prompt_tokens"`
		Needs        []string `json:"needs"`
		Stream       bool     `json:"stream"`
	} `json:"requirements"`
	Candidates []struct {
		Model string  `json:"model"`
		Score float64 `json:"score"`
	} `json:"candidates"`
	Excluded []struct {
		Model, Reason string
	} `json:"excluded"`
	Fallbacks []struct{ From, To, Why string } `json:"fallbacks"`
}

func explanationOf(t *testing.T, body []byte) explanation {
	t.Helper()
	var top struct {
		LLMRouter *explanation `json:"llm_router"`
	}
	if err := json.Unmarshal(body, &top); err != nil {
		t.Fatalf("reply is not JSON: %v\n%s", err, body)
	}
	if top.LLMRouter == nil {
		t.Fatalf("reply has no llm_router object: %s", body)
	}
	return *top.LLMRouter
}

func smartChat(model, content, extra string) string {
	c, _ := json.Marshal(content)
	return `{"model":"` + model + `","messages":[{"role":"user","content":` + string(c) + `}]` + extra + `}`
}

// TestSmartSelectionTable: requests -> expected selection for each goal, through the handler,
// with what the upstream received and what the reply says.
func TestSmartSelectionTable(t *testing.T) {
	long := strings.Repeat("lorem ipsum dolor sit amet ", 9000) // ~60k tokens
	tools := `,"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]`
	cases := []struct {
		model, body string
		header      []string
		want        string
	}{
		{"auto", smartChat("auto", "hi", ""), nil, "tiny"},
		{"smart/cheap", smartChat("smart/cheap", "hi", ""), nil, "tiny"},
		{"smart/best", smartChat("smart/best", "hi", ""), nil, "big"},
		{"smart/balanced", smartChat("smart/balanced", "hi", ""), nil, "tiny"},
		{"auto", smartChat("auto", "hi", tools), nil, "mini"},
		{"auto", `{"model":"auto","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}]}`, nil, "mini"},
		{"auto", smartChat("auto", "hi", `,"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{}}}`), nil, "tiny"},
		{"auto", smartChat("auto", long, ""), nil, "mini"},
		{"smart/best", smartChat("smart/best", long, ""), nil, "big"},
		{"auto", smartChat("auto", "hi", `,"llm_router":{"exclude":["tiny"]}`), nil, "mini"},
		{"auto", smartChat("auto", "hi", `,"llm_router":{"optimize":"quality","max_price_per_mtok":1}`), nil, "mini"},
		{"auto", `{"llm_router":{"tier":"large"},"model":"auto","messages":[{"role":"user","content":"hi"}]}`, nil, "big"},
		{"auto", smartChat("auto", "hi", ""), []string{"X-LLM-Router-Optimize", "quality"}, "big"},
		{"auto", smartChat("auto", "hi", ""), []string{"X-LLM-Router-Models", "mini, big"}, "mini"},
	}
	for i, c := range cases {
		t.Run(fmt.Sprintf("%d_%s_%s", i, strings.ReplaceAll(c.model, "/", "_"), c.want), func(t *testing.T) {
			fx := newSmartFixture(t, nil)
			rec := fx.tr.chat(c.body, c.header...)
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			if got := rec.Header().Get("X-LLM-Router-Route"); got != c.model+" -> "+c.want {
				t.Fatalf("X-LLM-Router-Route %q, want %q (reason %q)", got, c.model+" -> "+c.want, rec.Header().Get("X-LLM-Router-Route-Reason"))
			}
			if rec.Header().Get("X-LLM-Router-Route-Reason") == "" {
				t.Error("no route reason header")
			}
			reqs := fx.ups[c.want].received()
			if len(reqs) != 1 {
				t.Fatalf("%s's upstream got %d requests", c.want, len(reqs))
			}
			up := reqs[0]
			if !bytes.Contains(up.Body, []byte(`"model":"`+c.want+`-up"`)) || bytes.Contains(up.Body, []byte("llm_router")) {
				t.Errorf("upstream body: %.300s", up.Body)
			}
			for k := range up.Header {
				if strings.HasPrefix(k, "X-Llm-Router") {
					t.Errorf("the router's instruction header %s went upstream", k)
				}
			}
			x := explanationOf(t, rec.Body.Bytes())
			if x.Requested != c.model || x.Selected != c.want || x.Provider != "p-"+c.want || len(x.Candidates) == 0 || x.Candidates[0].Model != c.want {
				t.Errorf("explanation %+v", x)
			}
		})
	}
}

// TestSmartReplyBytesKept: the explanation is spliced into the upstream's reply, whose every
// other byte stays as it was; off by the explain setting, headers still there.
func TestSmartReplyBytesKept(t *testing.T) {
	fx := newSmartFixture(t, nil)
	rec := fx.tr.chat(smartChat("auto", "hi", ""))
	var want bytes.Buffer
	okChat(&bodyWriter{&want}, nil)
	got := rec.Body.Bytes()
	prefix := want.Bytes()[:want.Len()-1]
	if !bytes.HasPrefix(got, prefix) || !bytes.HasPrefix(got[len(prefix):], []byte(`,"llm_router":{"requested":"auto"`)) || !bytes.HasSuffix(got, []byte("]}}")) {
		t.Fatalf("reply %s", got)
	}
	if rec.Header().Get("Content-Length") != fmt.Sprint(len(got)) {
		t.Errorf("Content-Length %s for %d bytes", rec.Header().Get("Content-Length"), len(got))
	}
	for _, secret := range []string{"sk-tiny", "secret-key", "lorem"} {
		if bytes.Contains(got, []byte(secret)) {
			t.Errorf("the explanation holds %q", secret)
		}
	}

	off := false
	fx = newSmartFixture(t, func(h *Handler) { h.Routers[0].Explain = &off })
	rec = fx.tr.chat(smartChat("auto", "hi", ""))
	if bytes.Contains(rec.Body.Bytes(), []byte("llm_router")) || rec.Header().Get("X-LLM-Router-Route") != "auto -> tiny" {
		t.Fatalf("explain off: %s %v", rec.Body, rec.Header())
	}
}

type bodyWriter struct{ b *bytes.Buffer }

func (w *bodyWriter) Header() http.Header         { return http.Header{} }
func (w *bodyWriter) Write(p []byte) (int, error) { return w.b.Write(p) }
func (w *bodyWriter) WriteHeader(int)             {}

// TestSmartCoolingSkipped: a model whose every target is cooling is out, and the explanation
// says so.
func TestSmartCoolingSkipped(t *testing.T) {
	fx := newSmartFixture(t, nil)
	for _, tg := range fx.tr.pools["tiny"].targets {
		tg.health.CoolFor(fx.tr.clock.Now().UnixNano(), fx.tr.clock.Now().Add(time.Minute).UnixNano(), 0)
	}
	rec := fx.tr.chat(smartChat("auto", "hi", ""))
	if rec.Header().Get("X-LLM-Router-Route") != "auto -> mini" {
		t.Fatalf("route %q", rec.Header().Get("X-LLM-Router-Route"))
	}
	x := explanationOf(t, rec.Body.Bytes())
	if len(x.Excluded) != 1 || x.Excluded[0].Model != "tiny" || x.Excluded[0].Reason != "cooling" {
		t.Fatalf("excluded %+v", x.Excluded)
	}
	if fx.ups["tiny"].calls.Load() != 0 {
		t.Error("the cooling model was tried")
	}
	// Once it recovers, it is the cheapest again.
	fx.tr.clock.Advance(2 * time.Minute)
	if rec := fx.tr.chat(smartChat("auto", "hi", "")); rec.Header().Get("X-LLM-Router-Route") != "auto -> tiny" {
		t.Fatalf("after the cooldown: %q", rec.Header().Get("X-LLM-Router-Route"))
	}
}

// TestSmartAllCoolingRetryAfter: when every candidate that fits is cooling, the 503's
// Retry-After is when the first of them recovers, as for a plain model's exhausted pool, not
// the configured cooldown: a client told 60s would wait for a model back in 7s, and one told
// 60s about a model out for 5 minutes would come back to another 503.
func TestSmartAllCoolingRetryAfter(t *testing.T) {
	fx := newSmartFixture(t, nil)
	now := fx.tr.clock.Now()
	for name, d := range map[string]time.Duration{"tiny": 7 * time.Second, "mini": 20 * time.Second, "big": 5 * time.Minute} {
		for _, tg := range fx.tr.pools[name].targets {
			tg.health.CoolFor(now.UnixNano(), now.Add(d).UnixNano(), 0)
		}
	}
	for models, want := range map[string]string{`["tiny","mini"]`: "7", `["mini","big"]`: "20", `["big"]`: "300"} {
		rec := fx.tr.chat(smartChat("auto", "hi", `,"llm_router":{"models":`+models+`}`))
		if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "no_candidate_available") {
			t.Fatalf("%s: %d %s", models, rec.Code, rec.Body)
		}
		if got := rec.Header().Get("Retry-After"); got != want {
			t.Errorf("%s: Retry-After %q, want %q (the first candidate's recovery)", models, got, want)
		}
	}
}

// TestSmartFallback: when the chosen model's pool fails, the next-ranked candidate answers and
// the explanation, the headers and the log line say so; when every candidate is out, the client
// is told which and why.
func TestSmartFallback(t *testing.T) {
	fx := newSmartFixture(t, nil)
	fx.fail["tiny"] = true
	rec := fx.tr.chat(smartChat("auto", "hi", ""))
	if rec.Code != 200 || rec.Header().Get("X-LLM-Router-Route") != "auto -> mini" {
		t.Fatalf("status %d route %q: %s", rec.Code, rec.Header().Get("X-LLM-Router-Route"), rec.Body)
	}
	if !strings.HasPrefix(rec.Header().Get("X-LLM-Router-Route-Reason"), "fallback: tiny failed") {
		t.Errorf("reason %q", rec.Header().Get("X-LLM-Router-Route-Reason"))
	}
	if rec.Header().Get("X-LLM-Router-Model") != "mini" || rec.Header().Get("X-LLM-Router-Failures") == "" {
		t.Errorf("headers %v", rec.Header())
	}
	x := explanationOf(t, rec.Body.Bytes())
	if len(x.Fallbacks) != 1 || x.Fallbacks[0].From != "tiny" || x.Fallbacks[0].To != "mini" || x.Fallbacks[0].Why != "failed" {
		t.Fatalf("fallbacks %+v", x.Fallbacks)
	}
	logs := fx.tr.logs.String()
	if !strings.Contains(logs, `"selected":"mini"`) || !strings.Contains(logs, `"route_fallbacks":1`) || !strings.Contains(logs, `"model":"auto"`) {
		t.Errorf("log line lacks the decision: %s", logs)
	}
	if strings.Contains(logs, "secret-key") {
		t.Error("a key in the logs")
	}
	// tiny now cools: the next request skips it without trying it.
	n := fx.ups["tiny"].calls.Load()
	if rec := fx.tr.chat(smartChat("auto", "hi", "")); rec.Header().Get("X-LLM-Router-Route") != "auto -> mini" || fx.ups["tiny"].calls.Load() != n {
		t.Fatalf("second request: %q", rec.Header().Get("X-LLM-Router-Route"))
	}

	// Nothing fits: 400 naming each candidate and why.
	rec = fx.tr.chat(smartChat("auto", "hi", `,"llm_router":{"models":["tiny"]}`))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), "tiny: cooling") || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("all cooling: %d %s", rec.Code, rec.Body)
	}
	rec = fx.tr.chat(smartChat("auto", "hi", `,"llm_router":{"models":["nothing"]}`))
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "no_candidate_fits") {
		t.Fatalf("nothing fits: %d %s", rec.Code, rec.Body)
	}
	rec = fx.tr.chat(smartChat("auto", "hi", `,"llm_router":{"optimize":"fastest"}`))
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "invalid_llm_router") {
		t.Fatalf("bad instructions: %d %s", rec.Code, rec.Body)
	}
}

// TestSmartLatencyFollowsMeasurements: smart/fast follows the router's own measurements,
// moved by upstreams that take the (injected) clock forward.
func TestSmartLatencyFollowsMeasurements(t *testing.T) {
	fx := newSmartFixture(t, func(h *Handler) { h.Smart.Models = []string{"tiny", "mini"} })
	fx.delay["tiny"], fx.delay["mini"] = 100*time.Millisecond, time.Second
	var got []string
	pick := func() {
		rec := fx.tr.chat(smartChat("smart/fast", "hi", ""))
		got = append(got, strings.TrimPrefix(rec.Header().Get("X-LLM-Router-Route"), "smart/fast -> "))
	}
	pick() // tiny: unmeasured, explored
	pick() // mini: unmeasured, explored
	pick() // tiny: 0.1 s < 1 s
	fx.delay["tiny"] = 3 * time.Second
	pick() // tiny, now measured at 3 s: average 0.97 s
	pick() // tiny still under 1 s; average 1.58 s
	pick() // mini
	if s := strings.Join(got, " "); s != "tiny mini tiny tiny tiny mini" {
		t.Fatalf("picks %s", s)
	}
}

// TestSmartSpread: optimize spread round-robins over every candidate.
func TestSmartSpread(t *testing.T) {
	fx := newSmartFixture(t, func(h *Handler) { h.Routers = append(h.Routers, vroute.Config{Name: "free", Optimize: "spread"}) })
	for range 6 {
		fx.tr.chat(smartChat("free", "hi", ""))
	}
	if h := fx.hits(); h["tiny"] != 2 || h["mini"] != 2 || h["big"] != 2 {
		t.Fatalf("hits %v", h)
	}
}

// TestSmartModelsListAndMetrics: the virtual models are in /v1/models with what they do, and
// each routed request counts under its virtual model and the model that answered.
func TestSmartModelsListAndMetrics(t *testing.T) {
	fx := newSmartFixture(t, nil)
	rec := fx.tr.do(jsonRequest(http.MethodGet, "/v1/models", ""))
	var list struct {
		Data []struct {
			ID, Description string
			Router          *struct {
				Optimize, Tier string
				Models         []string
			}
		}
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &list)
	seen := map[string]string{}
	for _, e := range list.Data {
		if e.Router != nil {
			seen[e.ID] = e.Router.Optimize
			if len(e.Router.Models) != 3 || !strings.Contains(e.Description, "Virtual model") {
				t.Errorf("%s: %+v", e.ID, e)
			}
		}
	}
	want := map[string]string{"auto": "cost", "smart/cheap": "cost", "smart/fast": "latency", "smart/best": "quality", "smart/balanced": "balanced"}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("virtual models listed %v, want %v", seen, want)
	}
	before := counterValue(t, routeSelected.WithLabelValues("smart/best", "big"))
	fx.tr.chat(smartChat("smart/best", "hi", ""))
	if d := counterValue(t, routeSelected.WithLabelValues("smart/best", "big")) - before; d != 1 {
		t.Fatalf("route_selected_total moved by %v", d)
	}
}

// TestSmartStreams: the explanation comes in a `choices: []` chunk just before [DONE] on
// OpenAI streams and in message_delta on Anthropic streams (translated from an OpenAI
// upstream); Responses replies carry it as a top-level field.
func TestSmartStreams(t *testing.T) {
	fx := newSmartFixture(t, nil)
	rec := fx.tr.chat(smartChat("auto", "hi", `,"stream":true`))
	body := rec.Body.String()
	i := strings.Index(body, `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m-up","choices":[],"llm_router":{`)
	if i < 0 || !strings.HasSuffix(body, "}\n\ndata: [DONE]\n\n") || strings.Count(body, "llm_router") != 1 {
		t.Fatalf("OpenAI stream:\n%s", body)
	}
	ev := strings.TrimPrefix(body[i:strings.LastIndex(body, "\n\ndata: [DONE]")], "data: ")
	if x := explanationOf(t, []byte(ev)); x.Selected != "tiny" || !x.Requirements.Stream {
		t.Errorf("stream explanation %+v", x)
	}

	rec = fx.tr.do(jsonRequest(http.MethodPost, "/v1/messages",
		`{"model":"auto","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, "anthropic-version", "2023-06-01"))
	body = rec.Body.String()
	j := strings.Index(body, "event: message_delta\ndata: ")
	if rec.Code != 200 || j < 0 || !strings.Contains(body, "message_stop") {
		t.Fatalf("Anthropic stream %d:\n%s", rec.Code, body)
	}
	line := body[j+len("event: message_delta\ndata: "):]
	line = line[:strings.IndexByte(line, '\n')]
	if x := explanationOf(t, []byte(line)); x.Selected != "tiny" || x.Requested != "auto" {
		t.Errorf("message_delta explanation %+v", x)
	}

	rec = fx.tr.do(jsonRequest(http.MethodPost, "/v1/messages", `{"model":"smart/best","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`))
	if x := explanationOf(t, rec.Body.Bytes()); rec.Code != 200 || x.Selected != "big" {
		t.Fatalf("Anthropic whole %d: %s", rec.Code, rec.Body)
	}
	rec = fx.tr.do(jsonRequest(http.MethodPost, "/v1/responses", `{"model":"auto","input":"hi","store":false,"tools":[{"type":"function","name":"f","parameters":{}}]}`))
	if x := explanationOf(t, rec.Body.Bytes()); rec.Code != 200 || x.Selected != "mini" {
		t.Fatalf("Responses whole %d: %s", rec.Code, rec.Body)
	}
}

// TestSmartSDKs: openai-go, whole and streamed, reads a virtual model's replies without error,
// the explanation object ignored; a raw read finds it.
func TestSmartSDKs(t *testing.T) {
	fx := newSmartFixture(t, nil)
	rs := serveRouter(t, fx.tr)
	c := sdkClient(rs)
	params := sdkParams
	params.Model = "smart/cheap"
	res, err := c.Chat.Completions.New(context.Background(), params)
	if err != nil || len(res.Choices) != 1 || res.Choices[0].Message.Content != "hi" {
		t.Fatalf("whole: %v %+v", err, res)
	}
	if raw := res.RawJSON(); !strings.Contains(raw, `"llm_router":{"requested":"smart/cheap","selected":"tiny"`) {
		t.Errorf("raw reply lacks the explanation: %s", raw)
	}
	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	st := c.Chat.Completions.NewStreaming(context.Background(), params)
	var text strings.Builder
	acc := openai.ChatCompletionAccumulator{}
	chunks := 0
	for st.Next() {
		ch := st.Current()
		chunks++
		if !acc.AddChunk(ch) {
			t.Fatalf("the accumulator refused chunk %d: %s", chunks, ch.RawJSON())
		}
		for _, c := range ch.Choices {
			text.WriteString(c.Delta.Content)
		}
	}
	if err := st.Err(); err != nil || text.String() != "Hello world" || chunks != 6 {
		t.Fatalf("stream: err %v text %q chunks %d", err, text.String(), chunks)
	}
	if acc.Choices[0].Message.Content != "Hello world" || acc.Usage.TotalTokens != 8 {
		t.Errorf("accumulated %+v", acc.ChatCompletion)
	}
}

// TestSmartNodeSDK: openai-node, @anthropic-ai/sdk and @google/genai read a virtual model's
// whole and streamed replies (the .stream() helpers' final messages too) without error, and the
// first two hand the explanation object to the app (Gemini's SDK gets the headers only).
func TestSmartNodeSDK(t *testing.T) {
	node := nodeReady(t)
	fx := newSmartFixture(t, nil)
	stdout, stderr := runNodeScript(t, node, "smart.mjs", serveRouter(t, fx.tr).URL+"/v1")
	type result struct {
		Text, Error string
		Router      string `json:"router"`
	}
	var out map[string]result
	if err := json.Unmarshal(stdout, &out); err != nil {
		t.Fatalf("script output: %v\n%s\n%s", err, stdout, stderr)
	}
	want := map[string]result{
		"plain": {Text: "hi", Router: "tiny"}, "stream": {Text: "Hello world", Router: "tiny"},
		"helper": {Text: "Hello world", Router: "tiny"}, "messages": {Text: "hi", Router: "tiny"},
		"messagesStream": {Text: "Hello world", Router: "tiny"}, "gemini": {Text: "hi"}, "geminiStream": {Text: "Hello world"},
	}
	for name, w := range want {
		if got := out[name]; got != w {
			t.Errorf("%s: %+v, want %+v", name, got, w)
		}
	}
}

// TestSmartConfigErrors: a virtual model may not shadow a model, and bad goals, tiers and
// scorecards are config errors.
func TestSmartConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	_ = os.WriteFile(bad, []byte(`{"models":[{"name":"tiny","scores":{"code":300}}]}`), 0o600)
	for name, h := range map[string]*Handler{
		"shadow":    {Routers: []vroute.Config{{Name: "m"}}},
		"goal":      {Routers: []vroute.Config{{Name: "a", Optimize: "fastest"}}},
		"tier":      {Routers: []vroute.Config{{Name: "a", Tier: "huge"}}},
		"twice":     {Routers: []vroute.Config{{Name: "a"}, {Name: "a"}}},
		"scorecard": {Routers: []vroute.Config{{Name: "a"}}, Scorecards: []string{bad}},
		"modeltier": {Routers: []vroute.Config{{Name: "a"}}, Models: []catalog.ModelInfo{{Name: "m", Tier: "xl"}}},
	} {
		h.Providers = []catalog.ProviderConfig{provider("p", "http://127.0.0.1:1/v1", []string{"k"}, "m", "m")}
		if err := provisionErr(h); err == nil {
			t.Errorf("%s: provisioned", name)
		}
	}
}

// TestSmartScorecardQuality: a scorecard's code score sends code to the best coder under
// smart/best.
func TestSmartScorecardQuality(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scores.json")
	_ = os.WriteFile(path, []byte(`{"models":[{"name":"mini","scores":{"code":95}},{"name":"big","scores":{"code":80,"general":90}}]}`), 0o600)
	fx := newSmartFixture(t, func(h *Handler) { h.Scorecards = []string{path} })
	code := fx.tr.chat(smartChat("smart/best", "write a python func that parses dates", ""))
	plain := fx.tr.chat(smartChat("smart/best", "hello", ""))
	if code.Header().Get("X-LLM-Router-Route") != "smart/best -> mini" || plain.Header().Get("X-LLM-Router-Route") != "smart/best -> big" {
		t.Fatalf("code -> %q, plain -> %q", code.Header().Get("X-LLM-Router-Route"), plain.Header().Get("X-LLM-Router-Route"))
	}
}

// TestSmartCaddyfile parses router, smart and scorecard, and refuses bad values with the line.
func TestSmartCaddyfile(t *testing.T) {
	d := caddyfile.NewTestDispenser(`llm_router {
		router auto {
			models a b c
			exclude c
			optimize latency
			tier medium
			max_price_per_mtok 2.5
			explain off
		}
		smart {
			models a b
			tier auto
		}
		scorecard /etc/scores.json
		model a {
			tier large
		}
	}`)
	var h Handler
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	off := false
	want := Handler{
		Routers: []vroute.Config{{Name: "auto", Models: []string{"a", "b", "c"}, Exclude: []string{"c"}, Optimize: "latency",
			Tier: "medium", MaxPricePerMTok: 2.5, Explain: &off}},
		Smart:      &vroute.SmartConfig{Models: []string{"a", "b"}, Tier: "auto"},
		Scorecards: []string{"/etc/scores.json"},
		Models:     []catalog.ModelInfo{{Name: "a", Tier: "large"}},
	}
	got, _ := json.Marshal(h)
	exp, _ := json.Marshal(want)
	if string(got) != string(exp) {
		t.Fatalf("got  %s\nwant %s", got, exp)
	}
	for input, msg := range map[string]string{
		"llm_router {\n router auto {\n optimize fastest\n }\n}": "fastest",
		"llm_router {\n router auto {\n tier huge\n }\n}":        "huge",
		"llm_router {\n router auto {\n colour red\n }\n}":       "colour",
		"llm_router {\n router {\n }\n}":                         "argument",
		"llm_router {\n smart {\n tier xl\n }\n}":                "xl",
	} {
		var h Handler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: error %v, want it to name %q", input, err, msg)
		}
	}
}

// TestSmartResponsesStream: a Responses stream carries the explanation in response.completed.
func TestSmartResponsesStream(t *testing.T) {
	fx := newSmartFixture(t, nil)
	rec := fx.tr.do(jsonRequest(http.MethodPost, "/v1/responses", `{"model":"auto","input":"hi","store":false,"stream":true}`))
	body := rec.Body.String()
	j := strings.Index(body, "event: response.completed\ndata: ")
	if rec.Code != 200 || j < 0 {
		t.Fatalf("Responses stream %d:\n%s", rec.Code, body)
	}
	line := body[j+len("event: response.completed\ndata: "):]
	line = line[:strings.IndexByte(line, '\n')]
	if x := explanationOf(t, []byte(line)); x.Selected != "tiny" || strings.Count(body, "llm_router") != 1 {
		t.Fatalf("response.completed explanation %+v in\n%s", x, body)
	}
}

// TestSmartKeyScope: a gateway key that may use the virtual model but not every candidate gets
// only the candidates it may use; one that may not use the virtual model gets 403.
func TestSmartKeyScope(t *testing.T) {
	fx := newSmartFixture(t, func(h *Handler) {
		h.Auth = &AuthConfig{Keys: []GatewayKey{
			{Name: "scoped", Key: "gw-scoped-key", Models: []string{"auto", "mini", "big"}},
			{Name: "plain", Key: "gw-plain-key", Models: []string{"tiny"}},
		}}
	})
	rec := fx.tr.chat(smartChat("auto", "hi", ""), "Authorization", "Bearer gw-scoped-key")
	if rec.Code != 200 || rec.Header().Get("X-LLM-Router-Route") != "auto -> mini" {
		t.Fatalf("scoped: %d %q %s", rec.Code, rec.Header().Get("X-LLM-Router-Route"), rec.Body)
	}
	if x := explanationOf(t, rec.Body.Bytes()); len(x.Excluded) != 1 || x.Excluded[0].Reason != "not_allowed_for_key" {
		t.Fatalf("excluded %+v", x.Excluded)
	}
	if rec := fx.tr.chat(smartChat("auto", "hi", ""), "Authorization", "Bearer gw-plain-key"); rec.Code != 403 {
		t.Fatalf("a key without auto: %d", rec.Code)
	}
}

// TestSmartInstructionsCut: the llm_router member is cut out of the body wherever it is, with
// one comma, every other byte kept; also from a request to an ordinary model.
func TestSmartInstructionsCut(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{"llm_router":{"exclude":["tiny"]},"model":"MODEL","messages":[{"role":"user","content":"hi"}]}`,
			`{"model":"UP","messages":[{"role":"user","content":"hi"}]}`},
		{`{"model":"MODEL", "llm_router" : {"exclude":["tiny"]} , "messages":[{"role":"user","content":"hi"}]}`,
			`{"model":"UP" , "messages":[{"role":"user","content":"hi"}]}`},
		{"{\"model\":\"MODEL\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\n  \"llm_router\":{\"exclude\":[\"tiny\"]}\n}",
			"{\"model\":\"UP\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]\n}"},
		{`{"model":"MODEL","messages":[{"role":"user","content":"the \"llm_router\" key"}],"llm_router":{"exclude":["tiny"]}}`,
			`{"model":"UP","messages":[{"role":"user","content":"the \"llm_router\" key"}]}`},
	}
	for i, c := range cases {
		for _, model := range []string{"auto", "big"} {
			fx := newSmartFixture(t, nil)
			rec := fx.tr.chat(strings.Replace(c.in, "MODEL", model, 1))
			if rec.Code != 200 {
				t.Fatalf("%d %s: %d %s", i, model, rec.Code, rec.Body)
			}
			reqs := fx.ups["big"].received()
			if model == "auto" {
				reqs = fx.ups["mini"].received() // tiny excluded: the cheapest left
			}
			want := strings.Replace(c.want, "UP", map[string]string{"auto": "mini-up", "big": "big-up"}[model], 1)
			if len(reqs) != 1 || string(reqs[0].Body) != want {
				t.Errorf("%d %s: upstream got\n%s\nwant\n%s", i, model, reqs, want)
			}
		}
	}
}

// TestSmartSeriesForgotten: a virtual model dropped by a reload takes its series with it.
func TestSmartSeriesForgotten(t *testing.T) {
	fx := newSmartFixture(t, func(h *Handler) { h.Routers = []vroute.Config{{Name: "gone-router", Optimize: "cost"}} })
	fx.tr.chat(smartChat("gone-router", "hi", ""))
	reg := prometheus.NewRegistry()
	reg.MustRegister(routeSelected, requestsTotal)
	series := func() int {
		n := 0
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetValue() == "gone-router" {
						n++
					}
				}
			}
		}
		return n
	}
	if n := series(); n != 2 {
		t.Fatalf("%d series before the reload, want 2 (route_selected, requests)", n)
	}
	_ = fx.tr.Cleanup()
	if n := series(); n != 0 {
		t.Fatalf("%d series left after the virtual model went", n)
	}
}

// TestSmartStoredState: a Responses request that needs stored state goes only to a candidate
// whose provider serves the Responses API itself; with none, the client is told why.
func TestSmartStoredState(t *testing.T) {
	fx := newSmartFixture(t, nil)
	rec := fx.tr.do(jsonRequest(http.MethodPost, "/v1/responses", `{"model":"auto","input":"hi","store":true}`))
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "tiny: endpoint_not_served") {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	for n, c := range fx.hits() {
		if c != 0 {
			t.Errorf("%s was tried", n)
		}
	}
}

func TestSmartStoredStateNative(t *testing.T) {
	on := true
	fx := newSmartFixture(t, func(h *Handler) { h.Providers[2].Responses = &on }) // big's provider
	rec := fx.tr.do(jsonRequest(http.MethodPost, "/v1/responses", `{"model":"auto","input":"hi","store":true}`))
	if rec.Code != 200 || rec.Header().Get("X-LLM-Router-Route") != "auto -> big" {
		t.Fatalf("%d %q %s", rec.Code, rec.Header().Get("X-LLM-Router-Route"), rec.Body)
	}
	if reqs := fx.ups["big"].received(); len(reqs) != 1 || reqs[0].Path != "/v1/responses" {
		t.Fatalf("big got %+v", reqs)
	}
}

// TestSmartExcludeNamesKnownModels: a virtual model's exclude that names no model the config
// knows is a typo, and the config fails naming it, as an alias's unknown member does. Names
// the config knows pass: a model, a provider/model name, a model of a provider skipped for
// lack of keys, a wildcard provider's model, and any name while a provider discovers.
func TestSmartExcludeNamesKnownModels(t *testing.T) {
	t.Setenv("LLMR_SMART_EXCLUDE_UNSET", "")
	load := func(routing string, extra ...string) error {
		t.Helper()
		cf := "llm_router {\n provider p {\n base_url http://127.0.0.1:1/v1\n keys sk-smart-exclude-key\n model tiny\n model mini\n }\n" +
			"provider gone {\n base_url http://127.0.0.1:1/v1\n keys {env.LLMR_SMART_EXCLUDE_UNSET}\n model lost\n }\n" +
			strings.Join(extra, "\n") + "\n" + routing + "\n}"
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(cf)); err != nil {
			t.Fatalf("adapt: %v", err)
		}
		return provisionErr(&h)
	}
	for routing, typo := range map[string]string{
		"router auto {\n exclude tiny tnyi\n }": "tnyi",
		"router auto {\n exclude nope/tiny\n }": "nope/tiny",
		"smart {\n exclude mnii\n }":            "mnii",
	} {
		err := load(routing)
		if err == nil || !strings.Contains(err.Error(), `"`+typo+`"`) || !strings.Contains(err.Error(), "exclude") {
			t.Errorf("%q: error %v, want one that names the exclude %q", routing, err, typo)
		}
	}
	for routing, extra := range map[string]string{
		"router auto {\n exclude tiny p/mini lost gone/lost\n }": "",
		"smart {\n exclude mini\n }":                             "",
		"router auto {\n exclude w/anything\n }":                 "provider w {\n base_url http://127.0.0.1:1/v1\n keys sk-smart-wild-key\n model *\n }",
		"router auto {\n exclude vendor/some-model\n }":          "provider d {\n base_url http://127.0.0.1:1/v1\n keys sk-smart-disc-key\n discover\n }",
	} {
		if err := load(routing, extra); err != nil {
			t.Errorf("%q: %v", routing, err)
		}
	}
}
