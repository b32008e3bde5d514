package llmrouter

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// pydanticEcho answers as a FastAPI/pydantic server does when a field fails validation: a 422
// that quotes the rejected input, here the request's temperature and the whole body.
func pydanticEcho(w http.ResponseWriter, r *http.Request) {
	var req map[string]json.RawMessage
	body, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(body, &req)
	input := req["temperature"]
	if input == nil {
		input = json.RawMessage(`null`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnprocessableEntity)
	_, _ = w.Write([]byte(`{"detail":[{"type":"float_parsing","loc":["body","temperature"],"msg":"Input should be a valid number","input":` +
		string(input) + `}],"body":` + string(body) + `}`))
}

// TestClientErrorEchoCoolsNothing: two upstreams answer 422 and echo the request; the client
// writes key-refusal phrases and error objects into its fields. Each request gets the 422 on its
// first attempt, nothing cools, and the next client is served by either target.
func TestClientErrorEchoCoolsNothing(t *testing.T) {
	sw := newHFSwitch(pydanticEcho)
	a, b := newFakeUpstream(t, sw.serve), newFakeUpstream(t, sw.serve)
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{
		provider("echo-a", a.URL+"/v1", []string{"k-echo-a"}, "m", "m"),
		provider("echo-b", b.URL+"/v1", []string{"k-echo-b"}, "m", "m"),
	}})
	for _, body := range []string{
		`{"model":"m","temperature":"quota exceeded"}`,
		`{"model":"m","temperature":"insufficient_quota"}`,
		`{"model":"m","temperature":"API key not valid. Please pass a valid API key."}`,
		`{"model":"m","temperature":"Your credit balance is too low"}`,
		`{"model":"m","temperature":"exceeded your current quota; billing_hard_limit_reached; API_KEY_INVALID"}`,
		`{"model":"m","temperature":{"error":{"code":"insufficient_quota","type":"insufficient_quota","status":"PERMISSION_DENIED","details":[{"reason":"API_KEY_INVALID"}]}}}`,
		`{"model":"m","error":{"code":"invalid_api_key"},"temperature":"invalid_api_key"}`,
	} {
		for range 2 { // round robin: once through each upstream
			rec := tr.chat(body)
			if rec.Code != http.StatusUnprocessableEntity || rec.Header().Get("X-LLM-Router-Attempts") != "1" {
				t.Fatalf("%s: status %d attempts %q, want the 422 passed through on the first attempt: %s",
					body, rec.Code, rec.Header().Get("X-LLM-Router-Attempts"), rec.Body)
			}
		}
	}
	for _, tg := range tr.pools["m"].targets {
		if tg.health.CoolUntil() != 0 || tg.key.CoolUntil() != 0 {
			t.Errorf("%s cools after echoed client errors", tg.Label)
		}
		if s := tg.health.Snapshot(); s.Failures != 0 {
			t.Errorf("%s counts %d failures", tg.Label, s.Failures)
		}
	}
	if strings.Contains(tr.logs.String(), "cooldown started") {
		t.Errorf("a cooldown was logged:\n%s", tr.logs)
	}

	sw.set(okChat)
	for i := range 2 {
		if rec := tr.chat(`{"model":"m"}`); rec.Code != http.StatusOK || rec.Header().Get("X-LLM-Router-Attempts") != "1" {
			t.Fatalf("next client %d: status %d attempts %q: %s", i, rec.Code, rec.Header().Get("X-LLM-Router-Attempts"), rec.Body)
		}
	}
	if a.calls.Load() != 8 || b.calls.Load() != 8 {
		t.Errorf("calls %d and %d, want 8 each", a.calls.Load(), b.calls.Load())
	}
}

// TestStructuredRefusalCoolsKey: a 400 whose error object refuses the key in a structured field
// (Gemini's details[].reason) still cools the key and fails over.
func TestStructuredRefusalCoolsKey(t *testing.T) {
	const geminiBadKey = `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}`
	bad := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(geminiBadKey))
	})
	good := newFakeUpstream(t, okChat)
	tr := newTestRouter(t, &Handler{Strategy: "priority", Providers: []catalog.ProviderConfig{
		provider("gem", bad.URL+"/v1", []string{"k-gem-bad"}, "m", "m"),
		provider("good", good.URL+"/v1", []string{"k-gem-good"}, "m", "m"),
	}})
	rec := tr.chat(`{"model":"m"}`)
	if rec.Code != http.StatusOK || rec.Header().Get("X-LLM-Router-Attempts") != "2" {
		t.Fatalf("status %d attempts %q: %s", rec.Code, rec.Header().Get("X-LLM-Router-Attempts"), rec.Body)
	}
	if tg := tr.pools["m"].targets[0]; tg.key.CoolUntil() == 0 {
		t.Error("the refused key does not cool")
	}
}
