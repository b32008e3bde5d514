package llmrouter

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// byModel answers by the upstream model id the request names.
func byModel(replies map[string]http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var v struct{ Model string }
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &v)
		if h := replies[v.Model]; h != nil {
			h(w, r)
			return
		}
		status(http.StatusInternalServerError)(w, r)
	}
}

// TestExhaustedSaysWhyNow: a pool is exhausted because its key was refused, long after its one
// target had been rate limited. The client gets 503, not the 429 that the target's latest
// failure class (a rate limit, never cleared by success) used to give, and both the error and
// the log line say that the provider refused the key.
func TestExhaustedSaysWhyNow(t *testing.T) {
	m2 := newHFSwitch(status(http.StatusTooManyRequests, "Retry-After", "1"))
	m1 := newHFSwitch(okChat)
	up := newFakeUpstream(t, byModel(map[string]http.HandlerFunc{"m1-up": m1.serve, "m2-up": m2.serve}))
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{
		provider("ex", up.URL+"/v1", []string{"k-ex"}, "m1", "m1-up", "m2", "m2-up"),
	}})
	if rec := tr.chat(`{"model":"m2"}`); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("m2 first: %d %s", rec.Code, rec.Body)
	}
	tr.clock.Advance(2 * time.Second)
	m2.set(okChat)
	if rec := tr.chat(`{"model":"m2"}`); rec.Code != http.StatusOK {
		t.Fatalf("m2 after its rate limit: %d %s", rec.Code, rec.Body)
	}
	m1.set(status(http.StatusUnauthorized))
	if rec := tr.chat(`{"model":"m1"}`); rec.Code != http.StatusUnauthorized {
		t.Fatalf("m1 refused: %d %s", rec.Code, rec.Body)
	}

	rec := tr.chat(`{"model":"m2"}`)
	e := hfError(t, rec, http.StatusServiceUnavailable, "pool_exhausted")
	if e.Type != errUnavailable || !strings.Contains(e.Message, "the provider refused every key") {
		t.Errorf("error %+v: want 503 saying the provider refused every key", e)
	}
	if rec.Header().Get("Retry-After") != "60" {
		t.Errorf("Retry-After %q", rec.Header().Get("Retry-After"))
	}
	if !strings.Contains(tr.logs.String(), `"outcome":"exhausted"`) || !strings.Contains(tr.logs.String(), `"cooling":"1 key_refused"`) {
		t.Errorf("the log line does not say the key was refused:\n%s", tr.logs)
	}
}

// TestExhaustedMixedCauses: a pool cooling for different reasons is a 503 that lists them.
func TestExhaustedMixedCauses(t *testing.T) {
	ps, _ := hfProviders(t, "mix", "mix-model",
		status(http.StatusTooManyRequests, "Retry-After", "30"),
		status(http.StatusUnauthorized),
		status(http.StatusBadGateway))
	tr := newTestRouter(t, &Handler{Providers: ps})
	tr.chat(`{"model":"mix-model"}`)
	rec := tr.chat(`{"model":"mix-model"}`)
	e := hfError(t, rec, http.StatusServiceUnavailable, "pool_exhausted")
	if !strings.Contains(e.Message, "(1 rate_limited, 1 key_refused, 1 upstream_down)") {
		t.Errorf("message %q", e.Message)
	}
}
