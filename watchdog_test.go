package llmrouter

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/transport"
)

// TestWholeReplyStallFailsOver: a whole (not streamed) reply whose body stops mid-way is ended
// by stream_idle_timeout, its connection or stream is closed (the upstream sees it go), and
// the next target answers. Through net/http (HTTP/1.1, and HTTP/2 over TLS) the watchdog
// closes the body; through h1 it cancels the call.
func TestWholeReplyStallFailsOver(t *testing.T) {
	for _, tc := range []struct{ name, protocol string }{{"http1", ""}, {"h2", ""}, {"h1", "h1"}} {
		t.Run(tc.name, func(t *testing.T) {
			released := make(chan struct{})
			stall := func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Content-Length", "200")
				_, _ = io.WriteString(w, `{"id":"stalled","choices":[{"index":0,"message":{"role":"assistant","content":"hal`)
				http.NewResponseController(w).Flush()
				select {
				case <-r.Context().Done(): // the router closed the connection or the stream
					close(released)
				case <-time.After(10 * time.Second): // then the reply ends short: not a stall
				}
			}
			bad := newUnstartedFakeUpstream(t, stall)
			pb := provider("bad", "", nil, "m", "m-bad")
			pb.Transport = &transport.Config{Protocol: tc.protocol}
			if tc.name == "h2" {
				bad.EnableHTTP2 = true
				bad.StartTLS()
				pb.Transport.TLSTrustedCACerts = []string{writePEM(t, "ca.pem", pemCert(bad.Certificate().Raw))}
			} else {
				bad.Start()
			}
			pb.BaseURLs = []string{bad.URL + "/v1"}
			good := newFakeUpstream(t, okChat)
			tr := newTestRouter(t, &Handler{
				Strategy:          "priority",
				StreamIdleTimeout: caddy.Duration(50 * time.Millisecond),
				Providers:         []catalog.ProviderConfig{pb, provider("good", good.URL+"/v1", nil, "m", "m-good")},
			})
			rec := tr.chat(`{"model":"m","messages":[]}`)
			if rec.Code != http.StatusOK || rec.Header().Get("X-LLM-Router-Provider") != "good" {
				t.Fatalf("status %d from %q: %s", rec.Code, rec.Header().Get("X-LLM-Router-Provider"), rec.Body)
			}
			if f := rec.Header().Get("X-LLM-Router-Failures"); !strings.Contains(f, "bad#0 200 upstream_down") {
				t.Errorf("failures %q do not name the stalled target", f)
			}
			if logs := tr.logs.String(); !strings.Contains(logs, "reply stalled beyond stream_idle_timeout") {
				t.Errorf("no attempt was logged as stalled:\n%s", logs)
			}
			select {
			case <-released:
			case <-time.After(5 * time.Second):
				t.Fatal("the stalled upstream's connection was never closed")
			}
		})
	}
}
