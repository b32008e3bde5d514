package llmrouter

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// litellmSample is a price file in LiteLLM's model_prices_and_context_window.json format.
const litellmSample = `{
  "sample_spec": {"max_tokens": "LEGACY", "input_cost_per_token": 0.0, "litellm_provider": "one of https://docs.litellm.ai/docs/providers"},
  "groq/llama-3.3-70b-versatile": {"max_tokens": 32768, "max_input_tokens": 128000, "max_output_tokens": 32768,
    "input_cost_per_token": 5.9e-07, "output_cost_per_token": 7.9e-07, "litellm_provider": "groq", "mode": "chat",
    "supports_function_calling": true, "supports_response_schema": true},
  "claude-sonnet-4-5": {"max_input_tokens": 200000, "max_output_tokens": 64000, "input_cost_per_token": 3e-06,
    "output_cost_per_token": 1.5e-05, "cache_read_input_token_cost": 3e-07, "cache_creation_input_token_cost": 3.75e-06,
    "supports_vision": true, "supports_reasoning": true, "supports_function_calling": true},
  "broken": "not an object"
}`

func writePriceFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "model_prices_and_context_window.json")
	if err := os.WriteFile(path, []byte(litellmSample), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPriceFileFillsMetadata(t *testing.T) {
	up := newFakeUpstream(t, okChat)
	groq := provider("groq", up.URL+"/v1", nil, "llama-3.3-70b", "llama-3.3-70b-versatile")
	ant := provider("ant", up.URL+"/v1", nil, "sonnet", "claude-sonnet-4-5")
	tr := newTestRouter(t, &Handler{
		PriceFiles: []string{writePriceFile(t)},
		Providers:  []catalog.ProviderConfig{groq, ant},
		// Explicit metadata wins over the file's.
		Models: []catalog.ModelInfo{{Name: "llama-3.3-70b", ContextLength: 8192}},
	})
	ids := listedModels(t, tr)
	l := ids["llama-3.3-70b"]
	if l.ContextLength != 8192 || l.MaxOutput != 32768 || l.Pricing == nil || l.Pricing.Input != 0.59 || l.Pricing.Output != 0.79 {
		t.Fatalf("llama: %+v %+v", l, l.Pricing)
	}
	if got := l.Supports; len(got) != 2 || got[0] != "tools" || got[1] != "json_schema" {
		t.Fatalf("llama supports %v", got)
	}
	s := ids["sonnet"]
	if s.ContextLength != 200000 || s.Pricing.CacheRead != 0.3 || s.Pricing.CacheWrite != 3.75 || len(s.Supports) != 3 {
		t.Fatalf("sonnet (by bare upstream id): %+v %+v", s, s.Pricing)
	}
}

func TestPriceFileErrors(t *testing.T) {
	if err := provisionErr(&Handler{PriceFiles: []string{filepath.Join(t.TempDir(), "missing.json")}}); err == nil {
		t.Fatal("a missing price file is no error")
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	_ = os.WriteFile(bad, []byte(`[1,2]`), 0o600)
	if err := provisionErr(&Handler{PriceFiles: []string{bad}}); err == nil {
		t.Fatal("a price file that is not an object is no error")
	}
}

// TestCostUsesCachePrices: cached prompt tokens are charged at the cache read price, in
// OpenAI's usage shape (cached tokens inside prompt_tokens) and Anthropic's (on top).
func TestCostUsesCachePrices(t *testing.T) {
	up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"c1","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],
			"usage":{"prompt_tokens":1000,"completion_tokens":10,"prompt_tokens_details":{"cached_tokens":800}}}`)
	})
	tr := newTestRouter(t, &Handler{
		Providers: []catalog.ProviderConfig{provider("p", up.URL+"/v1", nil, "m", "m-up")},
		Models:    []catalog.ModelInfo{{Name: "m", InputPrice: 3, OutputPrice: 15, CacheReadPrice: 0.3}},
	})
	rec := tr.chat(`{"model":"m","messages":[]}`)
	want := formatCost((200*3 + 800*0.3 + 10*15) / 1e6)
	if got := rec.Header().Get("X-LLM-Router-Cost"); got != want {
		t.Fatalf("cost %s, want %s", got, want)
	}

	u := parseUsage([]byte(`{"input_tokens":50,"cache_read_input_tokens":1000,"cache_creation_input_tokens":200,"output_tokens":20}`))
	mi := &catalog.ModelInfo{InputPrice: 3, OutputPrice: 15, CacheReadPrice: 0.3, CacheWritePrice: 3.75}
	if got, want := usageCost(mi, u), (50*3+1000*0.3+200*3.75+20*15)/1e6; formatCost(got) != formatCost(want) {
		t.Fatalf("anthropic cache cost %v, want %v", got, want)
	}
	// No cache prices known: cached tokens cost the input price.
	if got := usageCost(&catalog.ModelInfo{InputPrice: 3, OutputPrice: 15}, u); formatCost(got) != formatCost((1250*3+20*15)/1e6) {
		t.Fatalf("cost without cache prices %v", got)
	}
}

// TestCachedTokensChargedInEveryDialect: cached prompt tokens are charged at the cache
// prices whichever wire reports them: Gemini's cachedContentTokenCount (a whole reply, whose
// cost header the client reads) and Anthropic's cache counts, passed through to an Anthropic
// client and translated for an OpenAI one (streams, whose cost the log line has). Every
// cached token counts in tokens_in, as OpenAI's prompt_tokens have them.
func TestCachedTokensChargedInEveryDialect(t *testing.T) {
	prices := []catalog.ModelInfo{{Name: "m", InputPrice: 3, OutputPrice: 15, CacheReadPrice: 0.3, CacheWritePrice: 3.75}}
	anthropicCached := func(w http.ResponseWriter, r *http.Request) {
		ev := func(name, data string) string { return "event: " + name + "\ndata: " + data + "\n\n" }
		sseReply(ev("message_start", `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m-up","content":[],"stop_reason":null,"usage":{"input_tokens":50,"cache_read_input_tokens":1000,"cache_creation_input_tokens":200,"output_tokens":1}}}`),
			ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)+
				ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}`)+
				ev("content_block_stop", `{"type":"content_block_stop","index":0}`)+
				ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":20}}`)+
				ev("message_stop", `{"type":"message_stop"}`))(w, r)
	}
	anthropicCost := formatCost((50*3 + 1000*0.3 + 200*3.75 + 20*15) / 1e6)
	for _, tc := range []struct {
		name, api, path, body string
		reply                 http.HandlerFunc
		header                string // the cost header, for a whole reply
		logged                []string
	}{
		{name: "gemini, whole", api: "gemini", path: "/v1/chat/completions", body: `{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
			reply: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"candidates":[{"content":{"role":"model","parts":[{"text":"hi"}]},"finishReason":"STOP","index":0}],
					"usageMetadata":{"promptTokenCount":1000,"cachedContentTokenCount":800,"candidatesTokenCount":10,"totalTokenCount":1010},"modelVersion":"m-up"}`)
			},
			header: formatCost((200*3 + 800*0.3 + 10*15) / 1e6), logged: []string{`"tokens_in":1000`, `"tokens_out":10`}},
		{name: "anthropic, passed through", api: "anthropic", path: "/v1/messages",
			body:  `{"model":"m","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			reply: anthropicCached, logged: []string{`"tokens_in":1250`, `"tokens_out":20`, `"cost_usd":` + strings.TrimRight(anthropicCost, "0")}},
		{name: "anthropic, translated", api: "anthropic", path: "/v1/chat/completions",
			body:  `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			reply: anthropicCached, logged: []string{`"tokens_in":1250`, `"tokens_out":20`, `"cost_usd":` + strings.TrimRight(anthropicCost, "0")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newFakeUpstream(t, tc.reply)
			base := up.URL + "/v1"
			if tc.api == "gemini" {
				base = up.URL + "/v1beta"
			}
			pc := provider("p1", base, []string{"sk-upstream-key-0001"}, "m", "m-up")
			pc.API = tc.api
			tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{pc}, Models: prices})
			rec := tr.do(jsonRequest(http.MethodPost, tc.path, tc.body))
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			if got := rec.Header().Get("X-LLM-Router-Cost"); got != tc.header {
				t.Errorf("cost header %q, want %q", got, tc.header)
			}
			logs := tr.logs.String()
			for _, want := range tc.logged {
				if !strings.Contains(logs, want) {
					t.Errorf("the log line lacks %s:\n%s", want, logs)
				}
			}
		})
	}
}
