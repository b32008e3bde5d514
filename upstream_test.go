package llmrouter

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/h1"
	"github.com/llmrouter/caddy-llm-router/reqbody"
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

// Each attempt's request is a copy of a template made at load time, found without making its
// URL: it must reach the same URL as parsing the node's base URL joined with the endpoint's
// path would, base path and escapes included, with its own header map and context.
func TestPreparedRequests(t *testing.T) {
	up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Raw-Path", r.URL.EscapedPath())
		if strings.HasSuffix(r.URL.Path, "/embeddings") {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"object":"list","data":[],"model":"m-up","usage":{"prompt_tokens":1,"total_tokens":1}}`))
			return
		}
		okChat(w, r)
	})
	base := up.URL + "/deploy/a%2Fb/v1"
	gem := provider("g", up.URL+"/gem", []string{"sk-g"}, "gm", "gm-up")
	gem.API = "gemini"
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{
		provider("p", base, []string{"sk-1", "sk-2"}, "m", "m-up"), gem,
	}})
	if len(tr.targets) != 3 || tr.targets[0].Node != base {
		t.Fatalf("targets %d, node %q, want %q", len(tr.targets), tr.targets[0].Node, base)
	}
	templates := 0
	for _, tg := range tr.targets {
		for _, ep := range preparedEndpoints {
			if !ep.servedBy(tg.Provider.API) || !tg.Provider.Serves.Has(ep.capability()) {
				continue
			}
			for _, stream := range []bool{false, true} {
				url := endpointURL(ep, tg.Target, stream)
				want, err := http.NewRequest(http.MethodPost, url, nil)
				if err != nil {
					t.Fatal(err)
				}
				tmpl := tg.reqs[templateKey(ep, tg.Target, stream)]
				if tmpl == nil {
					t.Fatalf("%s: no template", url)
				}
				templates++
				for _, other := range tr.targets {
					if other.Node == tg.Node && other.reqs[templateKey(ep, other.Target, stream)] != tmpl {
						t.Errorf("%s: targets on one node do not share its templates", url)
					}
				}
				c := &call{r: httptest.NewRequest(http.MethodPost, "/", nil), ep: ep, f: reqbody.Fields{Stream: stream}}
				ctx := context.WithValue(context.Background(), testCtxKey{}, url)
				a, err := c.newRequest(ctx, tg, 4)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := c.newRequest(context.Background(), tg, 4)
				if a.URL.String() != want.URL.String() || a.Host != want.Host || a.Method != http.MethodPost {
					t.Errorf("%s: request %s %s (host %s), want POST %s (host %s)", url, a.Method, a.URL, a.Host, want.URL, want.Host)
				}
				if a.URL != tmpl.URL {
					t.Errorf("%s: the URL was parsed again", url)
				}
				if a.Context().Value(testCtxKey{}) != url {
					t.Errorf("%s: the attempt's context is not the request's", url)
				}
				a.Header.Set("X-Only-A", "1")
				if b.Header.Get("X-Only-A") != "" || tmpl.Header.Get("X-Only-A") != "" {
					t.Errorf("%s: attempts share a header map", url)
				}
			}
		}
	}
	if templates == 0 {
		t.Fatal("no endpoint has a template")
	}
	// A call whose URL has no template (a stateful call's path, the client's query) makes and
	// parses it.
	pt := tr.targets[0]
	stateful := &call{r: httptest.NewRequest(http.MethodPost, "/", nil), ep: chatEndpoint}
	stateful.path = "/other"
	anthropic := provider("a", base, nil, "am", "am-up")
	anthropic.API = "anthropic"
	atr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{anthropic}})
	withQuery := &call{r: httptest.NewRequest(http.MethodPost, "/v1/messages?beta=true", nil), ep: messagesEndpoint}
	for _, tc := range []struct {
		c    *call
		t    *target
		want string
	}{
		{stateful, pt, base + "/other"},
		{withQuery, atr.targets[0], base + "/messages?beta=true"},
	} {
		req, err := tc.c.newRequest(context.Background(), tc.t, 0)
		if err != nil || req.URL.String() != tc.want {
			t.Errorf("%s: %v, %v", tc.want, req, err)
			continue
		}
		for _, tmpl := range tc.t.reqs {
			if req.URL == tmpl.URL {
				t.Errorf("%s: went to a template's URL", tc.want)
			}
		}
	}

	// Through the handler: the upstream sees the base path with its escape, for both endpoints.
	for _, path := range []string{"/v1/chat/completions", "/v1/embeddings"} {
		rec := tr.do(httptest.NewRequest(http.MethodPost, path, strings.NewReader(`{"model":"m","input":"x","messages":[]}`)))
		want := "/deploy/a%2Fb/v1" + strings.TrimPrefix(path, "/v1")
		if rec.Code != http.StatusOK || rec.Header().Get("X-Raw-Path") != want {
			t.Errorf("%s: status %d, upstream path %q, want %q: %s", path, rec.Code, rec.Header().Get("X-Raw-Path"), want, rec.Body)
		}
	}
}

type testCtxKey struct{}
