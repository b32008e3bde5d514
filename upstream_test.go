package llmrouter

import (
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/h1"
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

// protocol h1 is an explicit opt-in: it puts the provider's http:// nodes on the h1 client,
// and leaves its https:// nodes on net/http.
func TestH1OptIn(t *testing.T) {
	p := provider("p", "http://127.0.0.1:1/v1", nil, "m", "m-up")
	p.BaseURLs = append(p.BaseURLs, "https://api.example.test/v1")
	p.Transport = &transport.Config{Protocol: "h1", KeepAliveIdleConnsPerHost: 9}
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{p}})
	for _, tg := range tr.targets {
		switch c := tg.transport.(type) {
		case *h1.Transport:
			if !strings.HasPrefix(tg.Node, "http://") || c.MaxIdlePerHost != 9 {
				t.Errorf("%s on h1 (idle per host %d)", tg.Node, c.MaxIdlePerHost)
			}
		case *http.Transport:
			if !strings.HasPrefix(tg.Node, "https://") {
				t.Errorf("%s on net/http with protocol h1", tg.Node)
			}
		default:
			t.Errorf("%s: %T", tg.Node, c)
		}
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
