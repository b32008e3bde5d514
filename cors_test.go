package llmrouter

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

const appOrigin = "https://chat.example.com"

// What the SDKs ask for in a preflight (Chromium's lists, lowercased and sorted as browsers
// send them): the openai package, @anthropic-ai/sdk with dangerouslyAllowBrowser, and
// @google/genai.
const (
	openaiAsks    = "authorization,content-type,x-stainless-arch,x-stainless-lang,x-stainless-os,x-stainless-package-version,x-stainless-retry-count,x-stainless-runtime,x-stainless-runtime-version,x-stainless-timeout"
	anthropicAsks = "anthropic-dangerous-direct-browser-access,anthropic-version,content-type,x-api-key,x-stainless-arch,x-stainless-lang,x-stainless-os,x-stainless-package-version,x-stainless-retry-count,x-stainless-runtime,x-stainless-runtime-version,x-stainless-timeout"
	genaiAsks     = "content-type,x-goog-api-client,x-goog-api-key"
)

// noBodyRead fails the test if a preflight's body is read: preflights are answered before it.
type noBodyRead struct{ t *testing.T }

func (b noBodyRead) Read([]byte) (int, error) {
	b.t.Error("the router read a preflight's body")
	return 0, io.EOF
}

func preflight(t *testing.T, path, origin, method, headers string) *http.Request {
	req := httptest.NewRequest(http.MethodOptions, path, noBodyRead{t})
	req.Header.Set("Origin", origin)
	req.Header.Set("Access-Control-Request-Method", method)
	if headers != "" {
		req.Header.Set("Access-Control-Request-Headers", headers)
	}
	return req
}

// corsRouter serves model "m" from up behind a gateway key limited to rpm requests a minute,
// with cors set to origins.
func corsRouter(t *testing.T, up *fakeUpstream, rpm int, origins ...string) *testRouter {
	t.Helper()
	t.Setenv("CORS_TEST_GATEWAY_KEY", "sk-gw-cors-0123456789")
	h := &Handler{
		Providers: []catalog.ProviderConfig{provider("p1", up.URL+"/v1", []string{"sk-upstream-1"}, "m", "m-up")},
		Auth:      &AuthConfig{Keys: []GatewayKey{{Name: "web", Key: "{env.CORS_TEST_GATEWAY_KEY}", RPM: rpm}}},
	}
	if len(origins) > 0 {
		h.CORS = &CORSConfig{Origins: origins}
	}
	return newTestRouter(t, h)
}

func headerList(h http.Header, name string) []string {
	var out []string
	for _, v := range h.Values(name) {
		for _, s := range strings.Split(v, ",") {
			out = append(out, strings.TrimSpace(s))
		}
	}
	return out
}

// TestCORSPreflight: an allowed origin's preflight to each dialect's endpoint is answered 204
// before the gate (no key in it), the rate limit and the body, with the headers each SDK asks
// for echoed; the key's one request a minute is still there for the real request.
func TestCORSPreflight(t *testing.T) {
	up := newFakeUpstream(t, okChat)
	tr := corsRouter(t, up, 1, "http://localhost:5173", appOrigin)
	cases := []struct{ path, method, asks string }{
		{"/v1/chat/completions", "POST", openaiAsks},
		{"/v1/chat/completions", "POST", openaiAsks + ",user-agent"}, // Firefox lets the SDK set User-Agent
		{"/v1/responses", "POST", openaiAsks},
		{"/v1/messages", "POST", anthropicAsks},
		{"/v1beta/models/m:generateContent", "POST", genaiAsks},
		{"/v1beta/models/m:streamGenerateContent?alt=sse", "POST", genaiAsks},
		{"/v1/models", "GET", "authorization"},
		{"/v1/files/file-1", "DELETE", "authorization"},
	}
	for _, c := range cases {
		rec := tr.do(preflight(t, c.path, appOrigin, c.method, c.asks))
		h := rec.Header()
		if rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
			t.Fatalf("%s: status %d, body %q; want 204 and no body", c.path, rec.Code, rec.Body)
		}
		if got := h.Values("Access-Control-Allow-Origin"); !slices.Equal(got, []string{appOrigin}) {
			t.Errorf("%s: Access-Control-Allow-Origin %q", c.path, got)
		}
		if !slices.Contains(headerList(h, "Access-Control-Allow-Methods"), c.method) {
			t.Errorf("%s: Access-Control-Allow-Methods %q lacks %s", c.path, h.Get("Access-Control-Allow-Methods"), c.method)
		}
		allowed := headerList(h, "Access-Control-Allow-Headers")
		for _, name := range strings.Split(c.asks, ",") {
			if !slices.Contains(allowed, name) {
				t.Errorf("%s: %s is not in Access-Control-Allow-Headers %q", c.path, name, allowed)
			}
		}
		if got := h.Get("Access-Control-Max-Age"); got != "7200" {
			t.Errorf("%s: Access-Control-Max-Age %q, want 7200", c.path, got)
		}
		if !slices.Contains(headerList(h, "Vary"), "Origin") {
			t.Errorf("%s: Vary %q lacks Origin", c.path, h.Values("Vary"))
		}
		if h.Get("Access-Control-Allow-Credentials") != "" || h.Get("WWW-Authenticate") != "" {
			t.Errorf("%s: credentials allowed or a challenge sent: %v", c.path, h)
		}
	}
	if n := up.calls.Load(); n != 0 {
		t.Fatalf("preflights reached the upstream %d times", n)
	}
	// The preflights took nothing from the key's one request a minute.
	rec := tr.chat(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		"Authorization", "Bearer sk-gw-cors-0123456789", "Origin", appOrigin)
	if rec.Code != http.StatusOK {
		t.Fatalf("the request after the preflights: %d %s", rec.Code, rec.Body)
	}
}

// TestCORSPreflightHeadersFiltered: a requested header the router does not know is left out of
// the echo (the browser then refuses, naming it) until allow_headers lists it.
func TestCORSPreflightHeadersFiltered(t *testing.T) {
	up := newFakeUpstream(t, okChat)
	tr := corsRouter(t, up, 0, appOrigin)
	rec := tr.do(preflight(t, "/v1/chat/completions", appOrigin, "POST", "Authorization, X-Session-Id,openai-beta, x-stainless-helper-method, bad header"))
	got := headerList(rec.Header(), "Access-Control-Allow-Headers")
	if want := []string{"authorization", "openai-beta", "x-stainless-helper-method"}; rec.Code != http.StatusNoContent || !slices.Equal(got, want) {
		t.Fatalf("status %d, Access-Control-Allow-Headers %q; want %q", rec.Code, got, want)
	}

	tr = newTestRouter(t, &Handler{CORS: &CORSConfig{Origins: []string{appOrigin}, AllowHeaders: []string{"X-Session-Id"}, MaxAge: caddy.Duration(10 * time.Minute)}})
	rec = tr.do(preflight(t, "/v1/chat/completions", appOrigin, "POST", "authorization,x-session-id"))
	if got := headerList(rec.Header(), "Access-Control-Allow-Headers"); !slices.Equal(got, []string{"authorization", "x-session-id"}) {
		t.Fatalf("with allow_headers X-Session-Id: %q", got)
	}
	if got := rec.Header().Get("Access-Control-Max-Age"); got != "600" {
		t.Fatalf("max_age 10m: Access-Control-Max-Age %q", got)
	}
}

// TestCORSDisallowedOrigin: another origin's preflight gets a 403 that says why, in the
// endpoint's dialect, and no CORS header; its actual requests are served (a browser does not
// let the page read them) without CORS headers.
func TestCORSDisallowedOrigin(t *testing.T) {
	up := newFakeUpstream(t, okChat)
	tr := corsRouter(t, up, 0, appOrigin)
	for path, shape := range map[string]string{
		"/v1/chat/completions":             `{"error":{"message":"pages of the origin \"https://evil.example\" may not call this router`,
		"/v1/messages":                     `{"type":"error","error":{"message":"pages of the origin`,
		"/v1beta/models/m:generateContent": `{"error":{"code":403,"message":"pages of the origin`,
	} {
		rec := tr.do(preflight(t, path, "https://evil.example", "POST", "authorization"))
		if rec.Code != http.StatusForbidden || !strings.HasPrefix(rec.Body.String(), shape) || !strings.Contains(rec.Body.String(), "cors_origin_not_allowed") {
			t.Errorf("%s: %d %s", path, rec.Code, rec.Body)
		}
		for k := range rec.Header() {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Errorf("%s: the refusal carries %s", path, k)
			}
		}
	}
	// Origins compare exactly: another scheme or port is another origin.
	for _, o := range []string{"http://chat.example.com", "https://chat.example.com:8443", "null"} {
		if rec := tr.do(preflight(t, "/v1/chat/completions", o, "POST", "")); rec.Code != http.StatusForbidden {
			t.Errorf("origin %s: status %d", o, rec.Code)
		}
	}
	rec := tr.chat(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		"Authorization", "Bearer sk-gw-cors-0123456789", "Origin", "https://evil.example")
	if rec.Code != http.StatusOK || rec.Header().Get("Access-Control-Allow-Origin") != "" || rec.Header().Get("Access-Control-Expose-Headers") != "" {
		t.Fatalf("a disallowed origin's request: %d %v", rec.Code, rec.Header())
	}
}

// checkCORSReply asserts a reply a page of appOrigin may read, with its router headers.
func checkCORSReply(t *testing.T, what string, h http.Header, origin string) {
	t.Helper()
	if got := h.Values("Access-Control-Allow-Origin"); !slices.Equal(got, []string{origin}) {
		t.Errorf("%s: Access-Control-Allow-Origin %q, want exactly %q", what, got, origin)
	}
	exposed := headerList(h, "Access-Control-Expose-Headers")
	for _, name := range []string{"*", "X-LLM-Router-Model", "X-LLM-Router-Failures", "Retry-After", "X-Request-Id", "Request-Id"} {
		if !slices.Contains(exposed, name) {
			t.Errorf("%s: Access-Control-Expose-Headers %q lacks %s", what, exposed, name)
		}
	}
	if !slices.Contains(headerList(h, "Vary"), "Origin") {
		t.Errorf("%s: Vary %q lacks Origin", what, h.Values("Vary"))
	}
	if h.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("%s: Access-Control-Allow-Credentials %q", what, h.Get("Access-Control-Allow-Credentials"))
	}
}

// TestCORSOnEveryReply: success, stream and each kind of error a page must be able to read
// (401, 429 with Retry-After, 404, 503 with Retry-After) carry the CORS headers; the
// upstream's own CORS headers never reach the client, and its Vary is kept beside Origin.
func TestCORSOnEveryReply(t *testing.T) {
	var fail bool
	up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Access-Control-Expose-Headers", "X-Upstream")
		w.Header().Set("Vary", "Accept-Encoding")
		w.Header().Set("X-Request-Id", "req_123")
		switch {
		case fail:
			status(http.StatusServiceUnavailable)(w, r)
		case strings.Contains(readBody(r), `"stream":true`):
			sseReply(cleanStream)(w, r)
		default:
			okChat(w, r)
		}
	})
	tr := corsRouter(t, up, 2, appOrigin)
	rs := serveRouter(t, tr)
	key := "Bearer sk-gw-cors-0123456789"
	whole := `{"model":"m","messages":[{"role":"user","content":"hi"}]}`

	rec := tr.chat(whole, "Authorization", key, "Origin", appOrigin)
	if rec.Code != http.StatusOK {
		t.Fatalf("whole: %d %s", rec.Code, rec.Body)
	}
	checkCORSReply(t, "whole reply", rec.Header(), appOrigin)
	if v := headerList(rec.Header(), "Vary"); !slices.Contains(v, "Accept-Encoding") {
		t.Errorf("the upstream's Vary was lost: %q", v)
	}
	if rec.Header().Get("X-Request-Id") != "req_123" {
		t.Errorf("X-Request-Id %q", rec.Header().Get("X-Request-Id"))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp := rs.post(t, ctx, streamReq, "Authorization", key, "Origin", appOrigin)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || streamedText(t, string(body)) != "Hello world" {
		t.Fatalf("stream: %d %s", resp.StatusCode, body)
	}
	checkCORSReply(t, "stream", resp.Header, appOrigin)

	rec = tr.chat(whole, "Origin", appOrigin)
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("no key: %d", rec.Code)
	}
	checkCORSReply(t, "401", rec.Header(), appOrigin)

	rec = tr.chat(whole, "Authorization", key, "Origin", appOrigin)
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("third request of a 2 rpm key: %d %v", rec.Code, rec.Header())
	}
	checkCORSReply(t, "429", rec.Header(), appOrigin)

	tr.clock.Advance(time.Minute)
	rec = tr.chat(`{"model":"nope","messages":[]}`, "Authorization", key, "Origin", appOrigin)
	if rec.Code != http.StatusNotFound {
		t.Fatalf("unknown model: %d", rec.Code)
	}
	checkCORSReply(t, "404", rec.Header(), appOrigin)

	fail = true
	rec = tr.chat(whole, "Authorization", key, "Origin", appOrigin)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("every target down: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	checkCORSReply(t, "503", rec.Header(), appOrigin)
	if got := rec.Header().Values("Access-Control-Expose-Headers"); len(got) != 1 || strings.Contains(got[0], "X-Upstream") {
		t.Errorf("the upstream's Expose-Headers reached the client: %q", got)
	}
}

// TestCORSAnyOrigin: `*` answers every origin with `*`, never with credentials, and a request
// without Origin (curl, an SDK outside a browser) gets no CORS header but Vary.
func TestCORSAnyOrigin(t *testing.T) {
	up := newFakeUpstream(t, okChat)
	tr := corsRouter(t, up, 0, "*")
	rec := tr.do(preflight(t, "/v1/messages", "https://anywhere.example", "POST", anthropicAsks))
	if rec.Code != http.StatusNoContent || rec.Header().Get("Access-Control-Allow-Origin") != "*" || rec.Header().Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("preflight: %d %v", rec.Code, rec.Header())
	}
	rec = tr.chat(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		"Authorization", "Bearer sk-gw-cors-0123456789", "Origin", "null")
	checkCORSReply(t, "any origin", rec.Header(), "*")
	rec = tr.chat(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`, "Authorization", "Bearer sk-gw-cors-0123456789")
	if rec.Code != http.StatusOK || rec.Header().Get("Access-Control-Allow-Origin") != "" || rec.Header().Get("Vary") != "Origin" {
		t.Fatalf("without Origin: %d %v", rec.Code, rec.Header())
	}
	// An OPTIONS that is no preflight (no Access-Control-Request-Method) goes through the gate.
	req := httptest.NewRequest(http.MethodOptions, "/v1/chat/completions", nil)
	req.Header.Set("Origin", appOrigin)
	if rec := tr.do(req); rec.Code != http.StatusUnauthorized {
		t.Fatalf("a plain OPTIONS: %d", rec.Code)
	}
}

// TestCORSOff: without cors nothing changes: a preflight meets the gate, and an upstream's
// CORS headers do not reach the client.
func TestCORSOff(t *testing.T) {
	up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		okChat(w, r)
	})
	tr := corsRouter(t, up, 0)
	if rec := tr.do(preflight(t, "/v1/chat/completions", appOrigin, "POST", "authorization")); rec.Code != http.StatusUnauthorized {
		t.Fatalf("preflight with cors off: %d", rec.Code)
	}
	rec := tr.chat(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		"Authorization", "Bearer sk-gw-cors-0123456789", "Origin", appOrigin)
	for k := range rec.Header() {
		if strings.HasPrefix(k, "Access-Control-") || k == "Vary" {
			t.Errorf("cors off, yet the reply has %s: %v", k, rec.Header())
		}
	}
}

// TestCORSHedgedStream: a hedged stream's head is copied from the winning racer; the
// router's Vary: Origin and CORS headers stay.
func TestCORSHedgedStream(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	a := newFakeUpstream(t, slowFirstEvent(release, make(chan struct{})))
	b := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Accept-Encoding")
		sseReply(cleanStream)(w, r)
	})
	_, rs := newStreamRouter(t, func(h *Handler) {
		h.HedgeAfter = caddy.Duration(50 * time.Millisecond)
		h.CORS = &CORSConfig{Origins: []string{appOrigin}}
	}, a, b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp := rs.post(t, ctx, streamReq, "Origin", appOrigin)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.Header.Get("X-Llm-Router-Provider") != "p2" || streamedText(t, string(body)) != "Hello world" {
		t.Fatalf("not the hedge's stream: %v %s", resp.Header, body)
	}
	checkCORSReply(t, "hedged stream", resp.Header, appOrigin)
	if v := headerList(resp.Header, "Vary"); !slices.Contains(v, "Accept-Encoding") {
		t.Errorf("Vary %q", v)
	}
}

// TestCORSConfigErrors: origins that a browser never sends are config errors that say how to
// write them.
func TestCORSConfigErrors(t *testing.T) {
	for origin, want := range map[string]string{
		"https://chat.example.com/": "an origin has no path, query or user: write https://chat.example.com",
		"https://a.example/app":     "an origin has no path",
		"chat.example.com":          "write it as scheme://host[:port]",
		"null":                      "the null origin",
	} {
		err := provisionErr(&Handler{CORS: &CORSConfig{Origins: []string{origin}}})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("origin %q: %v, want %q", origin, err, want)
		}
	}
	for _, c := range []CORSConfig{{}, {Origins: []string{"*", appOrigin}}, {Origins: []string{"*"}, AllowHeaders: []string{"bad header"}}} {
		if err := provisionErr(&Handler{CORS: &c}); err == nil || !strings.HasPrefix(err.Error(), "cors: ") {
			t.Errorf("%+v: %v", c, err)
		}
	}
	// Upper case in the config matches the lowercase origin browsers send.
	tr := newTestRouter(t, &Handler{CORS: &CORSConfig{Origins: []string{"HTTPS://Chat.Example.com"}}})
	if rec := tr.do(preflight(t, "/v1/chat/completions", appOrigin, "POST", "")); rec.Code != http.StatusNoContent {
		t.Fatalf("case-insensitive config: %d", rec.Code)
	}
}

// TestIntegrationCORS: the Caddyfile's cors, in a whole Caddy: a preflight is answered before
// the gate, and the 401 and the reply that follow are readable by the page.
func TestIntegrationCORS(t *testing.T) {
	up := newFakeUpstream(t, okChat)
	it := newIntegration(t)
	port := freePort(t)
	t.Setenv("LLMR_IT_CORS_KEY", "sk-gw-it-cors-0123456789")
	it.load(it.globals(port, "") + fmt.Sprintf(`http://localhost:%d {
	llm_router {
		provider p {
			base_url %s/v1
			model m
		}
		auth {
			key web {env.LLMR_IT_CORS_KEY}
		}
		cors %s
	}
}
`, port, up.URL, appOrigin))
	url := fmt.Sprintf("http://localhost:%d/v1/chat/completions", port)
	req, err := http.NewRequest(http.MethodOptions, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", appOrigin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", openaiAsks)
	r := it.do(req)
	if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != appOrigin ||
		!strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "x-stainless-os") {
		t.Fatalf("preflight through Caddy: %d %v %s", r.status, r.header, r.body)
	}
	body := `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
	r = it.post(url, body, "Origin", appOrigin)
	if r.status != http.StatusUnauthorized {
		t.Fatalf("no key: %d %s", r.status, r.body)
	}
	checkCORSReply(t, "401 through Caddy", r.header, appOrigin)
	r = it.post(url, body, "Origin", appOrigin, "Authorization", "Bearer sk-gw-it-cors-0123456789")
	if r.status != http.StatusOK {
		t.Fatalf("with the key: %d %s", r.status, r.body)
	}
	checkCORSReply(t, "200 through Caddy", r.header, appOrigin)
}
