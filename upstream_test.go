package llmrouter

import (
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/h1"
)

// http:// nodes go through the router's own HTTP/1.1 client; https:// nodes keep net/http,
// which speaks HTTP/2 where the provider offers it.
func TestTransportForScheme(t *testing.T) {
	p := provider("p", "http://127.0.0.1:1/v1", nil, "m", "m-up")
	p.BaseURLs = append(p.BaseURLs, "https://api.example.test/v1")
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{p}})
	seen := map[string]bool{}
	for _, tg := range tr.targets {
		switch tg.transport.(type) {
		case *h1.Transport:
			seen["h1"] = true
			if !strings.HasPrefix(tg.Node, "http://") {
				t.Errorf("%s uses the cleartext client", tg.Node)
			}
		case *http.Transport:
			seen["net/http"] = true
			if !strings.HasPrefix(tg.Node, "https://") {
				t.Errorf("%s uses net/http", tg.Node)
			}
		default:
			t.Errorf("%s: transport %T", tg.Node, tg.transport)
		}
	}
	if !seen["h1"] || !seen["net/http"] {
		t.Errorf("transports used: %v", seen)
	}
}

// countConns counts the connections an upstream accepted.
func countConns(up *fakeUpstream) *atomic.Int64 {
	var n atomic.Int64
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			n.Add(1)
		}
	}
	return &n
}

// Requests, whole or streamed, reuse one upstream connection: a relay that stopped reading
// before the reply's end would dial for every request.
func TestUpstreamConnectionReused(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		reply      http.HandlerFunc
	}{
		{"whole", `{"model":"m","messages":[]}`, okChat},
		{"stream", streamReq, sseReply(cleanStream)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newUnstartedFakeUpstream(t, tc.reply)
			conns := countConns(up)
			up.Start()
			tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{
				provider("p", up.URL+"/v1", []string{"sk-p"}, "m", "m-up"),
			}})
			for i := range 3 {
				if rec := tr.chat(tc.body); rec.Code != http.StatusOK {
					t.Fatalf("request %d: status %d: %s", i, rec.Code, rec.Body)
				}
			}
			if n := conns.Load(); n != 1 {
				t.Errorf("3 requests opened %d upstream connections, want 1", n)
			}
		})
	}
}

// Servers close idle keep-alive connections (uvicorn and Node after 5 s). The next request must
// still reach the upstream at the first attempt, on a new connection, and cool nothing: with a
// single target, a cooldown would turn an idle timeout into an outage.
func TestUpstreamClosedIdleConnection(t *testing.T) {
	up := newUnstartedFakeUpstream(t, okChat)
	conns := countConns(up)
	up.Start()
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{
		provider("p", up.URL+"/v1", []string{"sk-p"}, "m", "m-up"),
	}})
	const body = `{"model":"m","messages":[]}`
	if rec := tr.chat(body); rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	up.CloseClientConnections() // the upstream closes the now idle connection
	rec := tr.chat(body)
	if rec.Code != http.StatusOK || rec.Header().Get("X-LLM-Router-Attempts") != "1" {
		t.Fatalf("status %d after %s attempts: %s", rec.Code, rec.Header().Get("X-LLM-Router-Attempts"), rec.Body)
	}
	if n := up.calls.Load(); n != 2 {
		t.Errorf("upstream got %d requests, want 2", n)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("upstream accepted %d connections, want 2", n)
	}
	if s := tr.targets[0].health.Snapshot(); s.Failures != 0 || tr.targets[0].cooling(tr.clock.Now().UnixNano()) {
		t.Errorf("target state after an idle close: %+v", s)
	}
	if logs := tr.logs.String(); strings.Contains(logs, "cooldown started") {
		t.Errorf("an idle close was logged as a failure:\n%s", logs)
	}
}
