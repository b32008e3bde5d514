package llmrouter

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// anthropicLikeUpstream answers as api.anthropic.com does: a request that carries an Origin
// header (a browser's) without anthropic-dangerous-direct-browser-access is refused with 401.
func anthropicLikeUpstream(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("Origin") != "" && r.Header.Get("Anthropic-Dangerous-Direct-Browser-Access") != "true" {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"type":"error","error":{"type":"authentication_error","message":"CORS requests must set 'anthropic-dangerous-direct-browser-access' header"}}`)
		return
	}
	_, _ = io.WriteString(w, `{"id":"msg_1","type":"message","role":"assistant","model":"claude-up","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":1}}`)
}

// TestBrowserOriginNotForwarded: a page's Origin describes the browser's request to the router,
// not the router's request to a provider. Forwarded, it made Anthropic refuse an OpenAI-dialect
// browser client's request as a CORS call, and the router then cooled the Anthropic key as
// refused, for every client.
func TestBrowserOriginNotForwarded(t *testing.T) {
	up := newFakeUpstream(t, anthropicLikeUpstream)
	pc := provider("ant", up.URL+"/v1", []string{"sk-ant-upstream-01"}, "m", "claude-up")
	pc.API = "anthropic"
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{pc}})

	rec := tr.chat(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`, "Origin", "https://chat.example.com")
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"content":"hi"`) {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	for _, got := range up.received() {
		if v := got.Header.Get("Origin"); v != "" {
			t.Errorf("the upstream received Origin %q", v)
		}
	}
	if tr.pools["m"].targets[0].health.Cooling(tr.clock.Now().UnixNano()) {
		t.Error("the Anthropic target is cooling after a browser's request")
	}
}
