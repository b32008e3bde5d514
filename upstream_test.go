package llmrouter

import (
	"net"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/transport"
)

// Every node of a provider, http:// and https://, goes through the provider's one net/http
// transport; each provider has its own, built from its transport settings.
func TestOneTransportForEveryScheme(t *testing.T) {
	p := provider("p", "http://127.0.0.1:1/v1", nil, "m", "m-up")
	p.BaseURLs = append(p.BaseURLs, "https://api.example.test/v1")
	q := provider("q", "https://api.example.test/v1", nil, "m", "m-q")
	q.Transport = &transport.Config{KeepAliveIdleConnsPerHost: 7}
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{p, q}})
	byProvider := map[string]*http.Transport{}
	for _, tg := range tr.targets {
		ht, ok := tg.transport.(*http.Transport)
		if !ok {
			t.Fatalf("%s: transport %T, want *http.Transport", tg.Node, tg.transport)
		}
		if prev := byProvider[tg.Provider.Name]; prev != nil && prev != ht {
			t.Errorf("provider %s has two transports", tg.Provider.Name)
		}
		byProvider[tg.Provider.Name] = ht
	}
	if len(byProvider) != 2 || byProvider["p"] == byProvider["q"] {
		t.Fatalf("transports: %v", byProvider)
	}
	if n := byProvider["p"].MaxIdleConnsPerHost; n != 256 {
		t.Errorf("default idle per host %d, want 256", n)
	}
	if n := byProvider["q"].MaxIdleConnsPerHost; n != 7 {
		t.Errorf("configured idle per host %d, want 7", n)
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
