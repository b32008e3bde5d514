package llmrouter

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	anthropicopt "github.com/anthropics/anthropic-sdk-go/option"

	anthropicsdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// Secrets of the gate tests. Each test uses its own gateway keys, so limiter windows kept in
// the package-level store never leak from one test into another.
const (
	gtAliceSecret   = "gk-alice-7f3c9a1e5b2d4c6f"
	gtBobSecret     = "gk-bob-2a8e6c4f0b1d3e5a"
	gtLiteralSecret = "gk-literal-9d1b3f5a7c2e4b6d"
	gtWrongSecret   = "gk-wrong-0e2c4a6b8d1f3a5c"
	gtProviderKey   = "sk-provider-5c7e9a1b3d2f4e6a"
)

const gtChatA = `{"model":"a","messages":[{"role":"user","content":"hi"}]}`

// readSpy is a request body that records whether the handler read it.
type readSpy struct {
	r    io.Reader
	read atomic.Bool
}

func newReadSpy(body string) *readSpy { return &readSpy{r: strings.NewReader(body)} }

func (s *readSpy) Read(p []byte) (int, error) {
	s.read.Store(true)
	return s.r.Read(p)
}

// serve sends req through the handler the way Caddy's server prepares it, with the given server
// (its trusted proxies decide the client IP) and a replacer the test keeps to read placeholders.
func (tr *testRouter) serve(srv *caddyhttp.Server, req *http.Request) (*httptest.ResponseRecorder, *caddy.Replacer) {
	rec := httptest.NewRecorder()
	repl := caddy.NewReplacer()
	req = caddyhttp.PrepareRequest(req, repl, rec, srv)
	if err := tr.ServeHTTP(rec, req, nextHandler); err != nil {
		panic(err)
	}
	return rec, repl
}

// noSecrets fails when any of the secrets appears in the reply (status line aside: body and
// every header) or in everything the router logged so far.
func noSecrets(t *testing.T, tr *testRouter, label string, rec *httptest.ResponseRecorder, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(rec.Body.String(), s) {
			t.Errorf("%s: response body carries the secret %q: %s", label, s, rec.Body)
		}
		for k, vs := range rec.Header() {
			for _, v := range vs {
				if strings.Contains(v, s) {
					t.Errorf("%s: response header %s carries the secret %q", label, k, s)
				}
			}
		}
		if strings.Contains(tr.logs.String(), s) {
			t.Errorf("%s: logs carry the secret %q", label, s)
		}
	}
}

// wantAPIError checks the OpenAI error shape: {"error":{"message","type","code"}} as JSON.
func wantAPIError(t *testing.T, label string, rec *httptest.ResponseRecorder, status int, typ, code string) {
	t.Helper()
	if rec.Code != status {
		t.Errorf("%s: status %d, want %d: %s", label, rec.Code, status, rec.Body)
		return
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", label, ct)
	}
	e, err := parseAPIError(rec.Body.Bytes())
	if err != nil {
		t.Errorf("%s: not an OpenAI error (%v): %s", label, err, rec.Body)
		return
	}
	if e.Type != typ || e.Code != code {
		t.Errorf("%s: error type %q code %q message %q, want type %q code %q",
			label, e.Type, e.Code, e.Message, typ, code)
	}
}

// gateRouter is a router with gateway keys: alice (from the environment, scoped to a and the
// alias fast), bob (from the environment, every model) and lit (a literal, every model). The
// provider serves a and b; fast is an alias of groq/a.
func gateRouter(t *testing.T, allow ...string) (*testRouter, *fakeUpstream) {
	t.Helper()
	t.Setenv("LLMR_GATE_TEST_ALICE", gtAliceSecret)
	t.Setenv("LLMR_GATE_TEST_BOB", gtBobSecret)
	up := newFakeUpstream(t, okChat)
	tr := newTestRouter(t, &Handler{
		Providers: []catalog.ProviderConfig{
			provider("groq", up.URL+"/v1", []string{gtProviderKey}, "a", "a-up", "b", "b-up"),
		},
		Aliases: []catalog.AliasConfig{{Name: "fast", Targets: []string{"groq/a"}}},
		Auth: &AuthConfig{Keys: []GatewayKey{
			{Name: "alice", Key: "{env.LLMR_GATE_TEST_ALICE}", Models: []string{"a", "fast"}},
			{Name: "bob", Key: "{env.LLMR_GATE_TEST_BOB}"},
			{Name: "lit", Key: gtLiteralSecret},
		}},
		Allow: allow,
	})
	return tr, up
}

var gtSecrets = []string{gtAliceSecret, gtBobSecret, gtLiteralSecret, gtProviderKey}

// noGatewayKeyUpstream fails when a gateway key (or a client credential) reached the upstream.
func noGatewayKeyUpstream(t *testing.T, up *fakeUpstream, secrets ...string) {
	t.Helper()
	for _, r := range up.received() {
		for k, vs := range r.Header {
			for _, v := range vs {
				for _, s := range secrets {
					if strings.Contains(v, s) {
						t.Errorf("upstream got the client credential %q in %s", s, k)
					}
				}
			}
		}
	}
}

func TestGateAuth(t *testing.T) {
	tr, up := gateRouter(t)
	chat := func(model string) string {
		return `{"model":"` + model + `","messages":[{"role":"user","content":"hi"}]}`
	}
	tests := []struct {
		name   string
		method string // default POST
		path   string // default /v1/chat/completions
		body   string // default chat("a")
		header []string
		status int
		code   string // error code, "" for a success
		calls  int64  // upstream calls the request causes
		read   bool   // whether the body may be (and must be) read
	}{
		{name: "no credential", status: 401, code: "invalid_api_key"},
		{name: "basic scheme", header: []string{"Authorization", "Basic " + gtAliceSecret}, status: 401, code: "invalid_api_key"},
		{name: "token scheme", header: []string{"Authorization", "Token " + gtAliceSecret}, status: 401, code: "invalid_api_key"},
		{name: "bare key without scheme", header: []string{"Authorization", gtAliceSecret}, status: 401, code: "invalid_api_key"},
		{name: "empty bearer", header: []string{"Authorization", "Bearer "}, status: 401, code: "invalid_api_key"},
		{name: "wrong bearer", header: []string{"Authorization", "Bearer " + gtWrongSecret}, status: 401, code: "invalid_api_key"},
		{name: "wrong x-api-key", header: []string{"X-Api-Key", gtWrongSecret}, status: 401, code: "invalid_api_key"},
		{name: "wrong api-key", header: []string{"Api-Key", gtWrongSecret}, status: 401, code: "invalid_api_key"},
		{name: "key with a suffix", header: []string{"Authorization", "Bearer " + gtAliceSecret + "x"}, status: 401, code: "invalid_api_key"},
		{name: "key prefix", header: []string{"Authorization", "Bearer " + gtAliceSecret[:len(gtAliceSecret)-1]}, status: 401, code: "invalid_api_key"},
		{name: "bearer from env", header: []string{"Authorization", "Bearer " + gtAliceSecret}, status: 200, calls: 1, read: true},
		{name: "bearer lower-case scheme", header: []string{"Authorization", "bearer " + gtBobSecret}, body: chat("b"), status: 200, calls: 1, read: true},
		{name: "x-api-key", header: []string{"X-Api-Key", gtBobSecret}, body: chat("b"), status: 200, calls: 1, read: true},
		{name: "api-key literal", header: []string{"Api-Key", gtLiteralSecret}, body: chat("b"), status: 200, calls: 1, read: true},
		{name: "basic beside a valid x-api-key", header: []string{"Authorization", "Basic Zm9vOmJhcg==", "X-Api-Key", gtBobSecret}, status: 200, calls: 1, read: true},
		{name: "stale bearer beside a valid x-api-key", header: []string{"Authorization", "Bearer " + gtWrongSecret, "X-Api-Key", gtBobSecret}, status: 200, calls: 1, read: true},
		{name: "wrong bearer and wrong x-api-key", header: []string{"Authorization", "Bearer " + gtWrongSecret, "X-Api-Key", gtWrongSecret + "2"}, status: 401, code: "invalid_api_key"},
		{name: "scoped key, other model", header: []string{"Authorization", "Bearer " + gtAliceSecret}, body: chat("b"), status: 403, code: "model_not_allowed", read: true},
		{name: "scoped key, provider/other model", header: []string{"Authorization", "Bearer " + gtAliceSecret}, body: chat("groq/b"), status: 403, code: "model_not_allowed", read: true},
		{name: "scoped key, upstream id of other model", header: []string{"Authorization", "Bearer " + gtAliceSecret}, body: chat("b-up"), status: 403, code: "model_not_allowed", read: true},
		{name: "scoped key, provider/model", header: []string{"Authorization", "Bearer " + gtAliceSecret}, body: chat("groq/a"), status: 200, calls: 1, read: true},
		{name: "scoped key, alias", header: []string{"Authorization", "Bearer " + gtAliceSecret}, body: chat("fast"), status: 200, calls: 1, read: true},
		{name: "public /v1/models", method: "GET", path: "/v1/models", body: "-", status: 200},
		{name: "public /health", method: "GET", path: "/health", body: "-", status: 200},
		{name: "embeddings without key", path: "/v1/embeddings", status: 401, code: "invalid_api_key"},
		{name: "public /models, the list without /v1", method: "GET", path: "/models", body: "-", status: 200},
		{name: "unclean path through a public one", path: "/health/../v1/chat/completions", status: 401, code: "invalid_api_key"},
		{name: "unknown path without key", method: "GET", path: "/v1/files", body: "-", status: 401, code: "invalid_api_key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method, path, body := tc.method, tc.path, tc.body
			if method == "" {
				method = http.MethodPost
			}
			if path == "" {
				path = "/v1/chat/completions"
			}
			if body == "" {
				body = chat("a")
			}
			var spy *readSpy
			var req *http.Request
			if body == "-" {
				req = httptest.NewRequest(method, path, nil)
			} else {
				spy = newReadSpy(body)
				req = httptest.NewRequest(method, path, spy)
				req.Header.Set("Content-Type", "application/json")
			}
			for i := 0; i+1 < len(tc.header); i += 2 {
				req.Header.Set(tc.header[i], tc.header[i+1])
			}
			before := up.calls.Load()
			rec := tr.do(req)
			if tc.code == "" {
				if rec.Code != tc.status {
					t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
				}
			} else {
				typ := errAuthentication
				if tc.status == http.StatusForbidden {
					typ = errPermission
				}
				wantAPIError(t, tc.name, rec, tc.status, typ, tc.code)
			}
			if got, want := rec.Header().Get("WWW-Authenticate"), tc.status == 401; (got != "") != want {
				t.Errorf("WWW-Authenticate %q on status %d", got, rec.Code)
			} else if want && !strings.HasPrefix(got, "Bearer") {
				t.Errorf("WWW-Authenticate %q does not offer Bearer", got)
			}
			if got := up.calls.Load() - before; got != tc.calls {
				t.Errorf("upstream calls %d, want %d", got, tc.calls)
			}
			if spy != nil && spy.read.Load() != tc.read {
				t.Errorf("body read = %v, want %v", spy.read.Load(), tc.read)
			}
			noSecrets(t, tr, tc.name, rec, append(gtSecrets, gtWrongSecret)...)
		})
	}
	noGatewayKeyUpstream(t, up, gtAliceSecret, gtBobSecret, gtLiteralSecret, gtWrongSecret)
	// The provider key did reach the upstream: the check above is not vacuous.
	if got := up.received(); len(got) == 0 || got[0].Header.Get("Authorization") != "Bearer "+gtProviderKey {
		t.Errorf("upstream did not get the provider key: %d requests", len(got))
	}
}

// modelIDs lists the ids of a /v1/models reply.
func modelIDs(t *testing.T, rec *httptest.ResponseRecorder) []string {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("/v1/models status %d: %s", rec.Code, rec.Body)
	}
	var list struct {
		Object string `json:"object"`
		Data   []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || list.Object != "list" {
		t.Fatalf("/v1/models: not a list (%v): %s", err, rec.Body)
	}
	ids := make([]string, len(list.Data))
	for i, m := range list.Data {
		ids[i] = m.ID
	}
	slices.Sort(ids)
	return ids
}

func TestGateModelsListScoped(t *testing.T) {
	tr, _ := gateRouter(t)
	list := func(header ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/v1/models", nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		return tr.do(req)
	}
	all := []string{"a", "b", "fast"}
	tests := []struct {
		name   string
		header []string
		want   []string
	}{
		{"no key", nil, all},
		{"unscoped key", []string{"Authorization", "Bearer " + gtBobSecret}, all},
		{"scoped key bearer", []string{"Authorization", "Bearer " + gtAliceSecret}, []string{"a", "fast"}},
		{"scoped key x-api-key", []string{"X-Api-Key", gtAliceSecret}, []string{"a", "fast"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := list(tc.header...)
			if got := modelIDs(t, rec); !slices.Equal(got, tc.want) {
				t.Errorf("models %v, want %v", got, tc.want)
			}
			noSecrets(t, tr, tc.name, rec, gtSecrets...)
		})
	}
}

func TestGateAllowlist(t *testing.T) {
	tr, up := gateRouter(t, "10.0.0.0/8", "192.0.2.7", "2001:db8::/32")
	direct := &caddyhttp.Server{}
	// A trusted proxy on a unix socket: the client IP comes from X-Forwarded-For.
	proxied := &caddyhttp.Server{TrustedProxiesUnix: true, ClientIPHeaders: []string{"X-Forwarded-For"}}
	tests := []struct {
		name   string
		srv    *caddyhttp.Server // default: a server without trusted proxies
		none   bool              // prepare the request without a server: no client IP
		remote string
		xff    string
		path   string // default /v1/chat/completions
		key    bool
		status int
		code   string
	}{
		{name: "allowed v4", remote: "10.1.2.3:5000", key: true, status: 200},
		{name: "allowed v4 still needs a key", remote: "10.1.2.3:5000", status: 401, code: "invalid_api_key"},
		{name: "allowed single address", remote: "192.0.2.7:1", key: true, status: 200},
		{name: "neighbour of single address", remote: "192.0.2.8:1", key: true, status: 403, code: "ip_not_allowed"},
		{name: "denied v4 with key", remote: "203.0.113.9:1234", key: true, status: 403, code: "ip_not_allowed"},
		{name: "denied v4 without key is 403 not 401", remote: "203.0.113.9:1234", status: 403, code: "ip_not_allowed"},
		{name: "denied v4 public path", remote: "203.0.113.9:1234", path: "/health", status: 403, code: "ip_not_allowed"},
		{name: "spoofed x-forwarded-for from untrusted peer", remote: "203.0.113.9:1234", xff: "10.0.0.1", key: true, status: 403, code: "ip_not_allowed"},
		{name: "allowed v6", remote: "[2001:db8::5]:443", key: true, status: 200},
		{name: "allowed v6 with zone", remote: "[2001:db8::5%eth0]:443", key: true, status: 200},
		{name: "denied v6", remote: "[2001:db9::1]:443", key: true, status: 403, code: "ip_not_allowed"},
		{name: "denied v6 loopback", remote: "[::1]:443", key: true, status: 403, code: "ip_not_allowed"},
		{name: "v4-mapped v6 of allowed v4", remote: "[::ffff:10.9.9.9]:1", key: true, status: 200},
		{name: "v4-mapped v6 of denied v4", remote: "[::ffff:203.0.113.9]:1", key: true, status: 403, code: "ip_not_allowed"},
		{name: "unparsable remote address fails closed", remote: "nonsense", key: true, status: 403, code: "ip_not_allowed"},
		{name: "no server, no client ip, fails closed", none: true, remote: "10.1.2.3:5000", key: true, status: 403, code: "ip_not_allowed"},
		{name: "trusted proxy, allowed client", srv: proxied, remote: "@", xff: "10.2.3.4", key: true, status: 200},
		{name: "trusted proxy, denied client", srv: proxied, remote: "@", xff: "203.0.113.9, 10.2.3.4", key: true, status: 403, code: "ip_not_allowed"},
		{name: "trusted proxy, allowed v6 client", srv: proxied, remote: "@", xff: "2001:db8::9", key: true, status: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.srv
			if srv == nil && !tc.none {
				srv = direct
			}
			path := tc.path
			if path == "" {
				path = "/v1/chat/completions"
			}
			spy := newReadSpy(gtChatA)
			req := httptest.NewRequest(http.MethodPost, path, spy)
			if path == "/health" {
				req = httptest.NewRequest(http.MethodGet, path, nil)
			}
			req.RemoteAddr = tc.remote
			if tc.xff != "" {
				req.Header.Set("X-Forwarded-For", tc.xff)
			}
			if tc.key {
				req.Header.Set("Authorization", "Bearer "+gtBobSecret)
			}
			before := up.calls.Load()
			var rec *httptest.ResponseRecorder
			if srv == nil {
				rec = httptest.NewRecorder()
				r := caddyhttp.PrepareRequest(req, caddy.NewReplacer(), rec, nil)
				if err := tr.ServeHTTP(rec, r, nextHandler); err != nil {
					t.Fatal(err)
				}
			} else {
				rec, _ = tr.serve(srv, req)
			}
			calls := up.calls.Load() - before
			switch tc.status {
			case 200:
				if rec.Code != 200 || calls != 1 || !spy.read.Load() {
					t.Errorf("status %d, upstream calls %d, body read %v: %s", rec.Code, calls, spy.read.Load(), rec.Body)
				}
			default:
				typ := errPermission
				if tc.status == 401 {
					typ = errAuthentication
				}
				wantAPIError(t, tc.name, rec, tc.status, typ, tc.code)
				if calls != 0 || spy.read.Load() {
					t.Errorf("denied request: upstream calls %d, body read %v", calls, spy.read.Load())
				}
				if tc.status == 403 && rec.Header().Get("WWW-Authenticate") != "" {
					t.Errorf("403 for the address carries WWW-Authenticate: the key was checked first")
				}
			}
			noSecrets(t, tr, tc.name, rec, gtSecrets...)
		})
	}
}

// rpmRouter is a router with one key limited to rpm requests a minute.
func rpmRouter(t *testing.T, up *fakeUpstream, name, secret string, rpm int) *testRouter {
	t.Helper()
	return newTestRouter(t, &Handler{
		Providers: []catalog.ProviderConfig{provider("groq", up.URL+"/v1", []string{gtProviderKey}, "a", "a-up")},
		Auth:      &AuthConfig{Keys: []GatewayKey{{Name: name, Key: secret, RPM: rpm}}},
	})
}

func TestGateRPMConcurrent(t *testing.T) {
	const secret = "gk-rpm-concurrent-4b6d8f0a2c"
	up := newFakeUpstream(t, okChat)
	tr := rpmRouter(t, up, "ratey", secret, 100)

	const n = 1000
	recs := make([]*httptest.ResponseRecorder, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			recs[i] = tr.chat(gtChatA, "Authorization", "Bearer "+secret)
		}()
	}
	close(start)
	wg.Wait()

	ok, limited := 0, 0
	for i, rec := range recs {
		switch rec.Code {
		case http.StatusOK:
			ok++
		case http.StatusTooManyRequests:
			limited++
			if limited == 1 {
				wantAPIError(t, "rpm", rec, http.StatusTooManyRequests, errRateLimit, "rate_limit_exceeded")
			}
			// Every request came at the same instant: the window frees in exactly 60 s.
			if ra := rec.Header().Get("Retry-After"); ra != "60" {
				t.Errorf("request %d: Retry-After %q, want 60", i, ra)
			}
		default:
			t.Errorf("request %d: status %d: %s", i, rec.Code, rec.Body)
		}
		noSecrets(t, tr, "rpm", rec, secret, gtProviderKey)
	}
	if ok != 100 || limited != 900 {
		t.Errorf("%d passed and %d limited, want 100 and 900", ok, limited)
	}
	if c := up.calls.Load(); c != 100 {
		t.Errorf("upstream got %d requests, want 100", c)
	}

	// One second early the window is still full, and the client is told so.
	tr.clock.Advance(59 * time.Second)
	rec := tr.chat(gtChatA, "Authorization", "Bearer "+secret)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("at 59s: status %d Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	// A minute after the burst the key has its full rpm again, and no more.
	tr.clock.Advance(time.Second)
	for i := range 100 {
		if rec := tr.chat(gtChatA, "Authorization", "Bearer "+secret); rec.Code != http.StatusOK {
			t.Fatalf("after 60s, request %d: status %d: %s", i, rec.Code, rec.Body)
		}
	}
	if rec := tr.chat(gtChatA, "Authorization", "Bearer "+secret); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("request 101 of the new window: status %d", rec.Code)
	}
	if c := up.calls.Load(); c != 200 {
		t.Errorf("upstream got %d requests, want 200", c)
	}
	noGatewayKeyUpstream(t, up, secret)
	if strings.Contains(tr.logs.String(), secret) {
		t.Errorf("logs carry the gateway key")
	}
}

func TestGateRPMScopeDeniedDoesNotCount(t *testing.T) {
	const secret = "gk-rpm-scope-8e0a2c4b6d"
	up := newFakeUpstream(t, okChat)
	tr := newTestRouter(t, &Handler{
		Providers: []catalog.ProviderConfig{provider("groq", up.URL+"/v1", []string{gtProviderKey}, "a", "a-up", "b", "b-up")},
		Auth:      &AuthConfig{Keys: []GatewayKey{{Name: "scoped", Key: secret, Models: []string{"a"}, RPM: 2}}},
	})
	for range 5 {
		rec := tr.chat(`{"model":"b"}`, "Authorization", "Bearer "+secret)
		wantAPIError(t, "model b", rec, http.StatusForbidden, errPermission, "model_not_allowed")
	}
	for i := range 2 {
		if rec := tr.chat(gtChatA, "Authorization", "Bearer "+secret); rec.Code != http.StatusOK {
			t.Fatalf("request %d for an allowed model: status %d: %s", i, rec.Code, rec.Body)
		}
	}
	rec := tr.chat(gtChatA, "Authorization", "Bearer "+secret)
	wantAPIError(t, "third", rec, http.StatusTooManyRequests, errRateLimit, "rate_limit_exceeded")
	noSecrets(t, tr, "scope", rec, secret, gtProviderKey)
}

func TestGateLimiterSurvivesReload(t *testing.T) {
	const secret = "gk-rpm-reload-1c3e5a7b9d"
	up := newFakeUpstream(t, okChat)
	send := func(tr *testRouter) int {
		rec := tr.chat(gtChatA, "Authorization", "Bearer "+secret)
		noSecrets(t, tr, "reload", rec, secret, gtProviderKey)
		return rec.Code
	}
	count := func(tr *testRouter, n int) (ok int) {
		for range n {
			if send(tr) == http.StatusOK {
				ok++
			}
		}
		return ok
	}

	old := rpmRouter(t, up, "reloaded", secret, 10)
	if got := count(old, 6); got != 6 {
		t.Fatalf("old config admitted %d of 6", got)
	}
	// Caddy provisions the new config, then cleans up the old one. Both clocks read the same
	// instant, so the old window is still open.
	cur := rpmRouter(t, up, "reloaded", secret, 10)
	if err := old.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if got := count(cur, 10); got != 4 {
		t.Fatalf("after the reload %d more were admitted, want 4 (the window carried 6)", got)
	}

	// A reload that changes the limit starts a new window.
	changed := rpmRouter(t, up, "reloaded", secret, 20)
	if err := cur.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if got := count(changed, 25); got != 20 {
		t.Fatalf("with rpm 20 after a change %d were admitted, want 20", got)
	}

	// Once every config using it is gone, the window is released: a later config starts afresh.
	if err := changed.Cleanup(); err != nil {
		t.Fatal(err)
	}
	fresh := rpmRouter(t, up, "reloaded", secret, 20)
	if got := count(fresh, 25); got != 20 {
		t.Fatalf("a config after a full cleanup admitted %d, want 20 (a stale window was kept)", got)
	}
}

func TestGateClientPlaceholder(t *testing.T) {
	tr, _ := gateRouter(t)
	srv := &caddyhttp.Server{}
	tests := []struct {
		name   string
		method string
		path   string
		header []string
		want   string // "" means unset
	}{
		{"bearer", "POST", "/v1/chat/completions", []string{"Authorization", "Bearer " + gtAliceSecret}, "alice"},
		{"x-api-key", "POST", "/v1/chat/completions", []string{"X-Api-Key", gtBobSecret}, "bob"},
		{"literal api-key", "POST", "/v1/chat/completions", []string{"Api-Key", gtLiteralSecret}, "lit"},
		{"refused key", "POST", "/v1/chat/completions", []string{"Authorization", "Bearer " + gtWrongSecret}, ""},
		{"model not allowed still names the client", "POST", "/v1/chat/completions-b", []string{"Authorization", "Bearer " + gtAliceSecret}, "alice"},
		{"public path without key", "GET", "/health", nil, ""},
		{"public path with key", "GET", "/v1/models", []string{"Authorization", "Bearer " + gtAliceSecret}, "alice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path, body := tc.path, gtChatA
			if p, ok := strings.CutSuffix(path, "-b"); ok {
				path, body = p, `{"model":"b"}`
			}
			var req *http.Request
			if tc.method == "GET" {
				req = httptest.NewRequest(tc.method, path, nil)
			} else {
				req = httptest.NewRequest(tc.method, path, strings.NewReader(body))
			}
			for i := 0; i+1 < len(tc.header); i += 2 {
				req.Header.Set(tc.header[i], tc.header[i+1])
			}
			rec, repl := tr.serve(srv, req)
			v, ok := repl.Get("http.llm_router.client")
			got, _ := v.(string)
			if tc.want == "" && ok {
				t.Errorf("client placeholder set to %v (status %d)", v, rec.Code)
			}
			if tc.want != "" && got != tc.want {
				t.Errorf("client placeholder %q (set %v), want %q (status %d: %s)", got, ok, tc.want, rec.Code, rec.Body)
			}
			for _, s := range append(gtSecrets, gtWrongSecret) {
				if strings.Contains(repl.ReplaceAll("{http.llm_router.client}", ""), s) {
					t.Errorf("placeholder carries a secret")
				}
			}
			noSecrets(t, tr, tc.name, rec, append(gtSecrets, gtWrongSecret)...)
		})
	}
}

func TestGateNoAuthIsOpen(t *testing.T) {
	for _, tc := range []struct {
		name string
		auth *AuthConfig
	}{
		{"nil auth", nil},
		{"auth without keys", &AuthConfig{Public: []string{"/health"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newFakeUpstream(t, okChat)
			tr := newTestRouter(t, &Handler{
				Providers: []catalog.ProviderConfig{provider("groq", up.URL+"/v1", []string{gtProviderKey}, "a", "a-up")},
				Auth:      tc.auth,
			})
			if !strings.Contains(tr.logs.String(), "no auth configured") {
				t.Errorf("no start warning about the open router; logs:\n%s", tr.logs)
			}
			rec, repl := tr.serve(&caddyhttp.Server{}, httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(gtChatA)))
			if rec.Code != http.StatusOK || up.calls.Load() != 1 {
				t.Fatalf("open router: status %d, upstream calls %d: %s", rec.Code, up.calls.Load(), rec.Body)
			}
			if _, ok := repl.Get("http.llm_router.client"); ok {
				t.Errorf("client placeholder set without auth")
			}
			// Whatever a client sends as a credential is not checked, and not passed on.
			rec = tr.chat(gtChatA, "Authorization", "Bearer "+gtWrongSecret)
			if rec.Code != http.StatusOK {
				t.Fatalf("open router with a stray credential: status %d", rec.Code)
			}
			noGatewayKeyUpstream(t, up, gtWrongSecret)
			noSecrets(t, tr, tc.name, rec, gtProviderKey, gtWrongSecret)
		})
	}

	// With keys, the warning is not logged: the check above is not vacuous.
	tr, _ := gateRouter(t)
	if strings.Contains(tr.logs.String(), "no auth configured") {
		t.Errorf("the open-router warning is logged with auth configured")
	}
	noSecrets(t, tr, "provision", httptest.NewRecorder(), gtSecrets...)
}

// TestGatewayKeyNotPassedOn: a request the gateway key admitted to the next handler (a
// reverse_proxy in the same route, say) arrives there without the key, whichever header
// carried it; another credential beside it stays.
func TestGatewayKeyNotPassedOn(t *testing.T) {
	tr, _ := gateRouter(t)
	for _, tc := range []struct {
		header  []string
		kept    string // a header the next handler still gets
		dropped string
	}{
		{[]string{"Authorization", "Bearer " + gtAliceSecret}, "", "Authorization"},
		{[]string{"Authorization", "Basic dXNlcjpwdw==", "X-Api-Key", gtAliceSecret}, "Authorization", "X-Api-Key"},
		{[]string{"Authorization", "Bearer " + gtWrongSecret, "X-Api-Key", gtAliceSecret}, "Authorization", "X-Api-Key"},
		{[]string{"X-Goog-Api-Key", gtAliceSecret}, "", "X-Goog-Api-Key"},
	} {
		req := httptest.NewRequest(http.MethodGet, "/elsewhere", nil)
		for i := 0; i+1 < len(tc.header); i += 2 {
			req.Header.Set(tc.header[i], tc.header[i+1])
		}
		var seen http.Header
		rec := httptest.NewRecorder()
		req = caddyhttp.PrepareRequest(req, caddy.NewReplacer(), rec, &caddyhttp.Server{})
		if err := tr.ServeHTTP(rec, req, caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			seen = r.Header.Clone()
			return nil
		})); err != nil {
			t.Fatal(err)
		}
		if seen == nil {
			t.Fatalf("%v: not passed on (%d %s)", tc.header, rec.Code, rec.Body)
		}
		if seen.Get(tc.dropped) != "" {
			t.Errorf("%v: the next handler got the gateway key in %s", tc.header, tc.dropped)
		}
		if tc.kept != "" && seen.Get(tc.kept) == "" {
			t.Errorf("%v: %s was dropped too", tc.header, tc.kept)
		}
	}
}

// TestAnthropicSDKWithTwoCredentials: the Anthropic SDK given an API key and an auth token
// (one of them a stale ANTHROPIC_AUTH_TOKEN from the environment) sends both, as x-api-key and
// Authorization: Bearer. The gateway key in either admits the call.
func TestAnthropicSDKWithTwoCredentials(t *testing.T) {
	tr, up := gateRouter(t)
	rs := serveRouter(t, tr)
	for _, tc := range []struct{ apiKey, authToken string }{
		{gtBobSecret, "sk-ant-stale-token"},
		{"sk-ant-stale-key", gtBobSecret},
	} {
		c := anthropicsdk.NewClient(
			anthropicopt.WithBaseURL(rs.URL),
			anthropicopt.WithAPIKey(tc.apiKey),
			anthropicopt.WithAuthToken(tc.authToken),
			anthropicopt.WithMaxRetries(0),
			anthropicopt.WithHTTPClient(rs.Client()),
		)
		msg, err := c.Messages.New(context.Background(), anthropicsdk.MessageNewParams{
			Model: "b", MaxTokens: 64,
			Messages: []anthropicsdk.MessageParam{anthropicsdk.NewUserMessage(anthropicsdk.NewTextBlock("Hi"))},
		})
		if err != nil {
			t.Fatalf("x-api-key %q, bearer %q: %v", tc.apiKey, tc.authToken, err)
		}
		if len(msg.Content) == 0 || msg.Content[0].Text == "" {
			t.Errorf("empty reply: %+v", msg)
		}
	}
	noGatewayKeyUpstream(t, up, gtSecrets[:3]...)
}

// TestKeyReferenceTyposAreConfigErrors: a key written as `$NAME`, `env.NAME` or with braces the
// replacer does not know (`{ENV.NAME}`, `{env.NAME` without its brace) resolves to itself.
// As a gateway key, that is a key anyone who reads the Caddyfile can send; as a provider key,
// one the provider refuses. Either is a config error that names the reference. Literal keys
// and placeholders that resolve still load.
func TestKeyReferenceTyposAreConfigErrors(t *testing.T) {
	t.Setenv("LLMR_REF_TEST_KEY", "gw-from-env-4Kq9")
	for _, ref := range []string{"$ALICE_KEY", "env.ALICE_KEY", "{ENV.ALICE_KEY}", "{env.ALICE_KEY", "file./run/secrets/alice"} {
		for where, cfg := range map[string]string{
			"gateway key":  "auth {\n key alice " + ref + "\n }\n provider p {\n base_url http://127.0.0.1:1/v1\n model m\n }",
			"provider key": "provider p {\n base_url http://127.0.0.1:1/v1\n keys " + ref + "\n model m\n }",
		} {
			h, err := parseRouter("llm_router {\n " + cfg + "\n}")
			if err != nil {
				t.Fatalf("%s %s: parse: %v", where, ref, err)
			}
			err = provisionErr(h)
			if err == nil || !strings.Contains(err.Error(), "{env.NAME}") || !strings.Contains(err.Error(), ref) {
				t.Errorf("%s %s: provision error %v, want one that names the reference and the right form", where, ref, err)
			}
		}
	}
	h, err := parseRouter("llm_router {\n auth {\n key alice {env.LLMR_REF_TEST_KEY}\n key bob sk-literal-bob-7Yt3\n }\n provider p {\n base_url http://127.0.0.1:1/v1\n keys {env.LLMR_REF_TEST_KEY} sk-literal-1\n model m\n }\n}")
	if err != nil {
		t.Fatal(err)
	}
	tr := newTestRouter(t, h)
	for key, want := range map[string]int{"gw-from-env-4Kq9": http.StatusOK, "sk-literal-bob-7Yt3": http.StatusOK, "{env.LLMR_REF_TEST_KEY}": http.StatusUnauthorized} {
		req := httptest.NewRequest(http.MethodGet, "/v1/models/m", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		if rec := tr.do(req); rec.Code != want {
			t.Errorf("gateway key %q: %d, want %d", key, rec.Code, want)
		}
	}
}
