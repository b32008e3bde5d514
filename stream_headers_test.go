package llmrouter

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/headers"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// TestStreamHeadRewrittenPerReply: Caddy's header directive rewrites a reply's header values
// in place (`header >Cache-Control no-cache "no-cache, no-transform"`, a common line in front
// of an SSE server). Each stream's head must be its own: a rewrite of one reply must not
// reach the next reply, nor a stream of a site without the directive.
func TestStreamHeadRewrittenPerReply(t *testing.T) {
	up := newFakeUpstream(t, sseReply(cleanStream))
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{provider("p", up.URL+"/v1", nil, "m", "m-up")}})
	rewrite := headers.Handler{Response: &headers.RespHeaderOps{Deferred: true, HeaderOps: &headers.HeaderOps{
		Replace: map[string][]headers.Replacement{
			"Cache-Control":     {{Search: "no-cache", Replace: "no-cache, no-transform"}},
			"Content-Type":      {{Search: "text/event-stream", Replace: "text/event-stream; charset=utf-8"}},
			"X-Accel-Buffering": {{Search: "no", Replace: "no-really"}},
		},
	}}}
	stream := func(rewritten bool) http.Header {
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(`{"model":"m","stream":true}`))
		rec := httptest.NewRecorder()
		req = caddyhttp.PrepareRequest(req, caddy.NewReplacer(), rec, &caddyhttp.Server{})
		router := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { return tr.ServeHTTP(w, r, nextHandler) })
		var err error
		if rewritten {
			err = rewrite.ServeHTTP(rec, req, router)
		} else {
			err = router.ServeHTTP(rec, req)
		}
		if err != nil || rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "[DONE]") {
			t.Fatalf("status %d, %v: %s", rec.Code, err, rec.Body)
		}
		return rec.Result().Header
	}
	for i := range 3 {
		h := stream(true)
		if got := h.Get("Cache-Control"); got != "no-cache, no-transform" {
			t.Errorf("rewritten stream %d: Cache-Control %q, want %q", i, got, "no-cache, no-transform")
		}
		if got := h.Get("Content-Type"); got != "text/event-stream; charset=utf-8" {
			t.Errorf("rewritten stream %d: Content-Type %q", i, got)
		}
		if got := h.Get("X-Accel-Buffering"); got != "no-really" {
			t.Errorf("rewritten stream %d: X-Accel-Buffering %q", i, got)
		}
	}
	h := stream(false)
	if h.Get("Cache-Control") != "no-cache" || h.Get("Content-Type") != "text/event-stream" || h.Get("X-Accel-Buffering") != "no" {
		t.Errorf("a stream without the directive got another reply's rewrite: %v", h)
	}
}
