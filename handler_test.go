package llmrouter

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// hfPost sends body to path with optional header pairs.
func hfPost(tr *testRouter, path, body string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	return tr.do(req)
}

// hfDoRepl is tr.do that keeps the Caddy replacer, so tests can read the placeholders the
// handler set.
func hfDoRepl(tr *testRouter, req *http.Request) (*httptest.ResponseRecorder, *caddy.Replacer) {
	rec := httptest.NewRecorder()
	repl := caddy.NewReplacer()
	req = caddyhttp.PrepareRequest(req, repl, rec, &caddyhttp.Server{})
	if err := tr.ServeHTTP(rec, req, nextHandler); err != nil {
		panic(err)
	}
	return rec, repl
}

// hfError asserts that rec is an error of the given status in the OpenAI shape (a single
// top-level "error" object with message, type and code) and returns it. wantCode "" accepts any
// non-empty code.
func hfError(t *testing.T, rec *httptest.ResponseRecorder, wantStatus int, wantCode string) apiError {
	t.Helper()
	if rec.Code != wantStatus {
		t.Fatalf("status %d, want %d: %s", rec.Code, wantStatus, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("error Content-Type %q", ct)
	}
	e, err := parseAPIError(rec.Body.Bytes())
	if err != nil {
		t.Fatalf("%v: %s", err, rec.Body)
	}
	if e.Code == "" {
		t.Errorf("error lacks a code: %s", rec.Body)
	}
	if wantCode != "" && e.Code != wantCode {
		t.Errorf("error code %q, want %q: %s", e.Code, wantCode, rec.Body)
	}
	if got := rec.Header().Get("Content-Length"); got != "" && got != fmt.Sprint(rec.Body.Len()) {
		t.Errorf("Content-Length %s for a body of %d bytes", got, rec.Body.Len())
	}
	return e
}

// hfNoErrorKey asserts that a success body carries no "error" key at all.
func hfNoErrorKey(t *testing.T, body []byte) {
	t.Helper()
	if bytes.Contains(body, []byte(`"error"`)) {
		t.Errorf("success body carries an \"error\" key: %s", body)
	}
}

// hfModelOf returns the "model" a recorded upstream request named.
func hfModelOf(t *testing.T, r recorded) string {
	t.Helper()
	var v struct {
		Model string `json:"model"`
	}
	if err := json.Unmarshal(r.Body, &v); err != nil {
		t.Fatalf("upstream body is not JSON: %v: %s", err, r.Body)
	}
	return v.Model
}

// TestHandlerSmokeForward is the original smoke test: one provider, one request, through.
func TestHandlerSmokeForward(t *testing.T) {
	up := newFakeUpstream(t, okChat)
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{
		provider("groq", up.URL+"/v1", []string{"sk-test-1"}, "llama", "llama-versatile"),
	}})
	body := `{"model":"llama","messages":[{"role":"user","content":"hi"}],"temperature":0.30000000000000004}`
	rec := tr.chat(body, "Authorization", "Bearer client-secret")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	got := up.received()
	if len(got) != 1 {
		t.Fatalf("upstream got %d requests", len(got))
	}
	want := bytes.Replace([]byte(body), []byte(`"llama"`), []byte(`"llama-versatile"`), 1)
	if !bytes.Equal(got[0].Body, want) {
		t.Errorf("upstream body\n got %s\nwant %s", got[0].Body, want)
	}
	if a := got[0].Header.Get("Authorization"); a != "Bearer sk-test-1" {
		t.Errorf("upstream Authorization = %q", a)
	}
	if got[0].Path != "/v1/chat/completions" {
		t.Errorf("upstream path %q", got[0].Path)
	}
	if rec.Header().Get("X-LLM-Router-Provider") != "groq" {
		t.Errorf("headers %v", rec.Header())
	}
}

// TestHandlerRewriteBody: the upstream gets the client's bytes with only the model value
// swapped, whatever the whitespace, unicode, number sizes or unknown fields.
func TestHandlerRewriteBody(t *testing.T) {
	up := newFakeUpstream(t, okChat)
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{
		provider("groq", up.URL+"/openai/v1", []string{"sk-groq-1"}, "llama", "llama-3.3-70b-versatile"),
	}})
	body := "{ \"messages\" :[ {\"role\":\"user\",\n\t\"content\":\"h\u00e9llo \\u00e9 \U0001F600 say \\\"llama\\\" \\\\ \"}],\r\n" +
		"  \"model\"  :\t\"llama\" , \"n\":123456789012345678901234567890, \"seed\":-0.0,\"big\":1e400," +
		"\"x_unknown_field\":{\"nested\":[null,true,{\"model\":\"not-me\"}]},\"temperature\":0.30000000000000004 }\n"
	rec := tr.chat(body)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	got := up.received()
	if len(got) != 1 {
		t.Fatalf("upstream got %d requests", len(got))
	}
	want := strings.Replace(body, "\"model\"  :\t\"llama\"", "\"model\"  :\t\"llama-3.3-70b-versatile\"", 1)
	if want == body {
		t.Fatal("test body lost its model field")
	}
	if string(got[0].Body) != want {
		t.Errorf("upstream body\n got %q\nwant %q", got[0].Body, want)
	}
	if cl := got[0].Header.Get("Content-Length"); cl != "" && cl != fmt.Sprint(len(want)) {
		t.Errorf("upstream Content-Length %s, body %d bytes", cl, len(want))
	}
}

// TestHandlerUpstreamHeaders: the target's key is injected in its provider's header, and the
// client's credentials never reach an upstream.
func TestHandlerUpstreamHeaders(t *testing.T) {
	up := newFakeUpstream(t, okChat)
	anth := provider("anth", up.URL+"/anthropic/v1", []string{"sk-ant-key-1"}, "claude", "claude-3-7")
	anth.KeyHeader = "x-api-key"
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{
		provider("groq", up.URL+"/groq/v1", []string{"sk-groq-key-1"}, "llama", "llama-v"),
		anth,
	}})
	clientCreds := []string{
		"Authorization", "Bearer client-own-token",
		"X-Api-Key", "client-own-xkey",
		"Api-Key", "client-own-azure",
		"Cookie", "session=client-cookie",
		"Proxy-Authorization", "Basic Y2xpZW50OnB3",
		"X-Client-Trace", "keep-me",
	}
	for _, tc := range []struct {
		model, path, header, value string
	}{
		{"llama", "/groq/v1/chat/completions", "Authorization", "Bearer sk-groq-key-1"},
		{"claude", "/anthropic/v1/chat/completions", "X-Api-Key", "sk-ant-key-1"},
	} {
		t.Run(tc.model, func(t *testing.T) {
			before := len(up.received())
			rec := tr.chat(`{"model":"`+tc.model+`","messages":[]}`, clientCreds...)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			all := up.received()
			if len(all) != before+1 {
				t.Fatalf("upstream got %d requests, want 1", len(all)-before)
			}
			got := all[len(all)-1]
			if got.Path != tc.path {
				t.Errorf("path %q, want %q", got.Path, tc.path)
			}
			if v := got.Header.Values(tc.header); len(v) != 1 || v[0] != tc.value {
				t.Errorf("%s = %q, want [%q]", tc.header, v, tc.value)
			}
			for _, h := range []string{"Authorization", "X-Api-Key", "Api-Key", "Cookie", "Proxy-Authorization"} {
				if h == tc.header {
					continue
				}
				if v := got.Header.Values(h); len(v) > 0 {
					t.Errorf("upstream received the client's %s: %q", h, v)
				}
			}
			for k, vs := range got.Header {
				for _, v := range vs {
					if strings.Contains(v, "client-own") || strings.Contains(v, "client-cookie") {
						t.Errorf("upstream header %s carries a client credential: %q", k, v)
					}
				}
			}
			if v := got.Header.Get("X-Client-Trace"); v != "keep-me" {
				t.Errorf("an ordinary client header was dropped: X-Client-Trace = %q", v)
			}
			if ct := got.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("upstream Content-Type %q", ct)
			}
		})
	}
}

// TestHandlerEndpointPaths: each served path goes to the node path plus the endpoint's path.
func TestHandlerEndpointPaths(t *testing.T) {
	up := newFakeUpstream(t, okChat)
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{
		provider("p", up.URL+"/api/openai/v1", []string{"k-paths"}, "m", "m-up"),
	}})
	for _, tc := range []struct{ client, upstream string }{
		{"/v1/chat/completions", "/api/openai/v1/chat/completions"},
		{"/chat/completions", "/api/openai/v1/chat/completions"},
		{"/v1/completions", "/api/openai/v1/completions"},
		{"/completions", "/api/openai/v1/completions"},
		{"/v1/embeddings", "/api/openai/v1/embeddings"},
		{"/embeddings", "/api/openai/v1/embeddings"},
	} {
		before := len(up.received())
		rec := hfPost(tr, tc.client, `{"model":"m","input":"x"}`)
		if rec.Code != http.StatusOK {
			t.Errorf("%s: status %d: %s", tc.client, rec.Code, rec.Body)
			continue
		}
		all := up.received()
		if len(all) != before+1 {
			t.Errorf("%s: upstream got %d requests", tc.client, len(all)-before)
			continue
		}
		if got := all[len(all)-1]; got.Path != tc.upstream || hfModelOf(t, got) != "m-up" {
			t.Errorf("%s: upstream got path %q model %q, want %q m-up", tc.client, got.Path, hfModelOf(t, got), tc.upstream)
		}
	}
}

// TestHandlerNameResolution: every kind of name a client may send reaches the right upstream
// with the right upstream id.
func TestHandlerNameResolution(t *testing.T) {
	upA := newFakeUpstream(t, okChat)
	upB := newFakeUpstream(t, okChat)
	tr := newTestRouter(t, &Handler{
		Providers: []catalog.ProviderConfig{
			provider("alpha", upA.URL+"/v1", []string{"k-alpha"}, "resolve-llama", "llama-alpha-id"),
			provider("beta", upB.URL+"/v1", []string{"k-beta"}, "resolve-llama", "llama-beta-id"),
		},
		Aliases: []catalog.AliasConfig{{Name: "resolve-fast", Targets: []string{"beta/resolve-llama"}}},
	})
	last := func(u *fakeUpstream) string {
		all := u.received()
		return hfModelOf(t, all[len(all)-1])
	}

	// The bare name spreads over both providers.
	a0, b0 := upA.calls.Load(), upB.calls.Load()
	for range 4 {
		if rec := tr.chat(`{"model":"resolve-llama"}`); rec.Code != http.StatusOK {
			t.Fatalf("bare name: status %d: %s", rec.Code, rec.Body)
		}
	}
	if da, db := upA.calls.Load()-a0, upB.calls.Load()-b0; da != 2 || db != 2 {
		t.Errorf("bare name: alpha got %d, beta %d requests; want 2 and 2", da, db)
	}
	if last(upA) != "llama-alpha-id" || last(upB) != "llama-beta-id" {
		t.Errorf("bare name: upstream ids %q, %q", last(upA), last(upB))
	}

	for _, tc := range []struct {
		name    string
		want    *fakeUpstream
		wantID  string
		display string
	}{
		{"alpha/resolve-llama", upA, "llama-alpha-id", "resolve-llama"},
		{"beta/resolve-llama", upB, "llama-beta-id", "resolve-llama"},
		{"beta/llama-beta-id", upB, "llama-beta-id", "resolve-llama"},
		{"resolve-fast", upB, "llama-beta-id", "resolve-fast"},
		{"llama-alpha-id", upA, "llama-alpha-id", "llama-alpha-id"},
	} {
		for range 3 { // several times: round robin must not leak to the other provider
			a0, b0 := upA.calls.Load(), upB.calls.Load()
			rec := tr.chat(`{"model":"` + tc.name + `"}`)
			if rec.Code != http.StatusOK {
				t.Fatalf("%s: status %d: %s", tc.name, rec.Code, rec.Body)
			}
			da, db := upA.calls.Load()-a0, upB.calls.Load()-b0
			if (tc.want == upA && (da != 1 || db != 0)) || (tc.want == upB && (da != 0 || db != 1)) {
				t.Fatalf("%s: alpha got %d, beta %d requests", tc.name, da, db)
			}
			if got := last(tc.want); got != tc.wantID {
				t.Errorf("%s: upstream got model %q, want %q", tc.name, got, tc.wantID)
			}
			if got := rec.Header().Get("X-LLM-Router-Upstream-Model"); got != tc.wantID {
				t.Errorf("%s: X-LLM-Router-Upstream-Model %q", tc.name, got)
			}
		}
	}

	a0, b0 = upA.calls.Load(), upB.calls.Load()
	rec := tr.chat(`{"model":"no-such-model"}`)
	e := hfError(t, rec, http.StatusNotFound, "model_not_found")
	if e.Type != errInvalidRequest || !strings.Contains(e.Message, "no-such-model") {
		t.Errorf("unknown model error: %+v", e)
	}
	if upA.calls.Load() != a0 || upB.calls.Load() != b0 {
		t.Error("an unknown model reached an upstream")
	}
}

// hfChunked hides a body's length, as a chunked request does.
type hfChunked struct{ io.Reader }

// TestHandlerClientErrors: every malformed request is answered by the router in the OpenAI
// error shape, and no upstream is called.
func TestHandlerClientErrors(t *testing.T) {
	up := newFakeUpstream(t, okChat)
	tr := newTestRouter(t, &Handler{
		MaxBody: 64,
		Providers: []catalog.ProviderConfig{
			provider("p", up.URL+"/v1", []string{"k-client-errors"}, "m", "m"),
		},
	})
	for _, tc := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"bad json", `{"model":"m",`, 400, "invalid_json"},
		{"garbage", `model=m`, 400, "invalid_json"},
		{"empty", ``, 400, "invalid_json"},
		{"not an object", `["m"]`, 400, "invalid_json"},
		{"string", `"m"`, 400, "invalid_json"},
		{"missing model", `{"messages":[]}`, 400, "missing_model"},
		{"empty model", `{"model":""}`, 400, "missing_model"},
		{"model not a string", `{"model":5}`, 400, "invalid_model"},
		{"model null", `{"model":null}`, 400, "invalid_model"},
		{"duplicate model", `{"model":"m","model":"m"}`, 400, "invalid_model"},
		{"stream not bool", `{"model":"m","stream":"yes"}`, 400, "invalid_stream"},
		{"trailing data", `{"model":"m"}{}`, 400, "invalid_json"},
		{"too large", `{"model":"m","pad":"` + strings.Repeat("x", 64) + `"}`, 413, "request_too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := tr.chat(tc.body)
			e := hfError(t, rec, tc.status, tc.code)
			if e.Type != errInvalidRequest {
				t.Errorf("type %q", e.Type)
			}
			if tc.name == "stream not bool" && !strings.Contains(e.Message, "stream") {
				t.Errorf("message does not name the field: %q", e.Message)
			}
		})
	}

	t.Run("too large chunked", func(t *testing.T) {
		big := `{"model":"m","pad":"` + strings.Repeat("x", 1000) + `"}`
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", hfChunked{strings.NewReader(big)})
		req.ContentLength = -1
		hfError(t, tr.do(req), http.StatusRequestEntityTooLarge, "request_too_large")
	})
	t.Run("length lies short", func(t *testing.T) {
		// A Content-Length under the cap does not let a longer body in.
		big := `{"model":"m","pad":"` + strings.Repeat("x", 1000) + `"}`
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", hfChunked{strings.NewReader(big)})
		req.ContentLength = 10
		hfError(t, tr.do(req), http.StatusRequestEntityTooLarge, "request_too_large")
	})
	t.Run("at the limit", func(t *testing.T) {
		body := `{"model":"m","pad":"` + strings.Repeat("x", 64-len(`{"model":"m","pad":""}`)) + `"}`
		if len(body) != 64 {
			t.Fatalf("body is %d bytes", len(body))
		}
		for _, cl := range []int64{64, -1} {
			req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", hfChunked{strings.NewReader(body)})
			req.ContentLength = cl
			if rec := tr.do(req); rec.Code != http.StatusOK {
				t.Errorf("Content-Length %d: a body of exactly max_body got %d: %s", cl, rec.Code, rec.Body)
			}
		}
	})
	if n := up.calls.Load(); n != 2 {
		t.Errorf("upstream got %d requests, want only the 2 at the limit", n)
	}

	t.Run("GET chat", func(t *testing.T) {
		for _, path := range []string{"/v1/chat/completions", "/v1/embeddings", "/completions"} {
			rec := tr.do(httptest.NewRequest(http.MethodGet, path, nil))
			hfError(t, rec, http.StatusMethodNotAllowed, "method_not_allowed")
			if a := rec.Header().Get("Allow"); a != http.MethodPost {
				t.Errorf("%s: Allow %q", path, a)
			}
		}
	})
	t.Run("POST models", func(t *testing.T) {
		rec := hfPost(tr, "/v1/models", `{}`)
		hfError(t, rec, http.StatusMethodNotAllowed, "method_not_allowed")
		if a := rec.Header().Get("Allow"); !strings.Contains(a, "GET") {
			t.Errorf("Allow %q", a)
		}
	})
	t.Run("unknown v1 path", func(t *testing.T) {
		for _, path := range []string{"/v1/foo", "/v1/chat/completions/extra", "/v1/"} {
			rec := hfPost(tr, path, `{"model":"m"}`)
			hfError(t, rec, http.StatusNotFound, "unknown_endpoint")
			if rec.Header().Get("X-Next") != "" {
				t.Errorf("%s went to next", path)
			}
		}
	})
	t.Run("other paths go to next", func(t *testing.T) {
		for _, path := range []string{"/", "/index.html", "/v1", "/v2/chat/completions", "/api/v1/foo"} {
			rec := hfPost(tr, path, `{"model":"m"}`)
			if rec.Code != http.StatusTeapot || rec.Header().Get("X-Next") != "1" {
				t.Errorf("%s: status %d, X-Next %q: not passed to next", path, rec.Code, rec.Header().Get("X-Next"))
			}
		}
	})
	if n := up.calls.Load(); n != 2 {
		t.Errorf("upstream got %d requests, want 2", n)
	}
}

// TestHandlerModels: GET /v1/models lists models, then aliases, in the OpenAI list shape.
func TestHandlerModels(t *testing.T) {
	up := newFakeUpstream(t, okChat)
	tr := newTestRouter(t, &Handler{
		Providers: []catalog.ProviderConfig{
			provider("alpha", up.URL+"/a", []string{"k-models-a"}, "ml-llama", "llama-a", "ml-mistral", "mistral-a"),
			provider("beta", up.URL+"/b", []string{"k-models-b"}, "ml-llama", "llama-b"),
		},
		Models: []catalog.ModelInfo{{Name: "ml-llama", Description: "Meta Llama", ContextLength: 131072, InputPrice: 0.59, OutputPrice: 0.79}},
		Aliases: []catalog.AliasConfig{
			{Name: "ml-fast", Targets: []string{"beta/ml-llama", "ml-mistral"}},
		},
	})
	for _, path := range []string{"/v1/models", "/models"} {
		rec := tr.do(httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: status %d: %s", path, rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		hfNoErrorKey(t, rec.Body.Bytes())
		var list struct {
			Object string `json:"object"`
			Data   []struct {
				ID            string   `json:"id"`
				Object        string   `json:"object"`
				Created       int64    `json:"created"`
				OwnedBy       string   `json:"owned_by"`
				Providers     []string `json:"providers"`
				Description   string   `json:"description"`
				ContextLength int      `json:"context_length"`
				Pricing       *struct {
					Input, Output float64
				} `json:"pricing"`
			} `json:"data"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil {
			t.Fatal(err)
		}
		if list.Object != "list" || len(list.Data) != 3 {
			t.Fatalf("list: %s", rec.Body)
		}
		var ids []string
		for _, m := range list.Data {
			ids = append(ids, m.ID)
			if m.Object != "model" || m.Created != tr.clock.Now().Unix() {
				t.Errorf("%s: object %q created %d", m.ID, m.Object, m.Created)
			}
		}
		if strings.Join(ids, ",") != "ml-llama,ml-mistral,ml-fast" {
			t.Errorf("ids %v: want models in config order, then aliases", ids)
		}
		l, mi, al := list.Data[0], list.Data[1], list.Data[2]
		if l.OwnedBy != "alpha" || strings.Join(l.Providers, ",") != "alpha,beta" {
			t.Errorf("ml-llama: owned_by %q providers %v", l.OwnedBy, l.Providers)
		}
		if l.Description != "Meta Llama" || l.ContextLength != 131072 || l.Pricing == nil || l.Pricing.Input != 0.59 || l.Pricing.Output != 0.79 {
			t.Errorf("ml-llama metadata: %+v", l)
		}
		if mi.OwnedBy != "alpha" || strings.Join(mi.Providers, ",") != "alpha" || mi.Pricing != nil {
			t.Errorf("ml-mistral: %+v", mi)
		}
		if al.OwnedBy != "llm_router" || strings.Join(al.Providers, ",") != "beta,alpha" {
			t.Errorf("ml-fast: owned_by %q providers %v", al.OwnedBy, al.Providers)
		}

		head := tr.do(httptest.NewRequest(http.MethodHead, path, nil))
		if head.Code != http.StatusOK || head.Body.Len() != 0 {
			t.Errorf("HEAD %s: status %d, %d body bytes", path, head.Code, head.Body.Len())
		}
		if cl := head.Header().Get("Content-Length"); cl != fmt.Sprint(rec.Body.Len()) {
			t.Errorf("HEAD %s: Content-Length %q, GET body %d bytes", path, cl, rec.Body.Len())
		}
	}
	if up.calls.Load() != 0 {
		t.Error("listing models called an upstream")
	}
}

// TestHandlerReplyForwarded: a non-streamed reply reaches the client untouched, minus the
// provider account's rate-limit headers, plus the router's own headers and placeholders.
func TestHandlerReplyForwarded(t *testing.T) {
	replyBody := "{\"id\":\"x\",\n  \"choices\":[{\"message\":{\"content\":\"r\u00e9ponse \U0001F680\"}}],\"n\":123456789012345678901234567890 }  \n"
	up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json; charset=utf-8")
		h.Set("X-Request-Id", "req-123")
		h.Set("Openai-Processing-Ms", "42")
		h.Set("X-Ratelimit-Remaining-Requests", "99")
		h.Set("X-Ratelimit-Limit-Tokens", "100000")
		h.Set("Anthropic-Ratelimit-Requests-Remaining", "7")
		h.Set("Set-Cookie", "upstream=1")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, replyBody)
	})
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{
		provider("groq", up.URL+"/v1", []string{"k-reply"}, "fw-llama", "fw-llama-up"),
	}})
	req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(`{"model":"fw-llama"}`))
	rec, repl := hfDoRepl(tr, req)
	if rec.Code != http.StatusCreated {
		t.Fatalf("status %d, want the upstream's 201: %s", rec.Code, rec.Body)
	}
	if rec.Body.String() != replyBody {
		t.Errorf("body\n got %q\nwant %q", rec.Body, replyBody)
	}
	hfNoErrorKey(t, rec.Body.Bytes())
	h := rec.Header()
	for k, want := range map[string]string{
		"Content-Type":                "application/json; charset=utf-8",
		"X-Request-Id":                "req-123",
		"Openai-Processing-Ms":        "42",
		"Content-Length":              fmt.Sprint(len(replyBody)),
		"X-Llm-Router-Model":          "fw-llama",
		"X-Llm-Router-Provider":       "groq",
		"X-Llm-Router-Upstream-Model": "fw-llama-up",
		"X-Llm-Router-Target":         tr.pools["fw-llama"].targets[0].Label,
		"X-Llm-Router-Attempts":       "1",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"X-Ratelimit-Remaining-Requests", "X-Ratelimit-Limit-Tokens", "Anthropic-Ratelimit-Requests-Remaining", "Set-Cookie"} {
		if v := h.Values(k); len(v) > 0 {
			t.Errorf("%s passed to the client: %q", k, v)
		}
	}
	if !strings.HasPrefix(h.Get("X-Llm-Router-Target"), "groq#0/") {
		t.Errorf("target label %q", h.Get("X-Llm-Router-Target"))
	}
	for k, want := range map[string]string{
		"http.llm_router.model":          "fw-llama",
		"http.llm_router.provider":       "groq",
		"http.llm_router.upstream_model": "fw-llama-up",
		"http.llm_router.target":         h.Get("X-Llm-Router-Target"),
		"http.llm_router.attempts":       "1",
	} {
		if got, _ := repl.GetString(k); got != want {
			t.Errorf("placeholder {%s} = %q, want %q", k, got, want)
		}
	}
}

// hfLiar answers with a Content-Length larger than the body it sends, then closes.
func hfLiar(w http.ResponseWriter, r *http.Request) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"id\":\"trunc")
	_ = buf.Flush()
}

// rawReply answers with raw bytes at the TCP level and closes the connection.
func rawReply(raw string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			panic(err)
		}
		defer conn.Close()
		_, _ = buf.WriteString(raw)
		_ = buf.Flush()
	}
}

// TestHandlerUpstreamLies: a truncated, oversized or malformed 2xx reply is a failed attempt,
// and the next target answers.
func TestHandlerUpstreamLies(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply http.HandlerFunc
	}{
		{"truncated", hfLiar},
		{"over max_response", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"id":"big","pad":"`+strings.Repeat("y", 2000)+`"}`)
		}},
		// No length: the close frames the body, so only its content shows the cut.
		{"framed by close, cut mid-JSON", rawReply("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n" +
			`{"id":"cut","choices":[{"index":0,"message":{"role":"assistant","content":"hal`)},
		{"garbage with a 200", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{malformed json: <<<chaos>>>`)
		}},
		{"two JSON values", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"id":"one"}{"id":"two"}`)
		}},
		{"empty 200", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := newFakeUpstream(t, tc.reply)
			good := newFakeUpstream(t, okChat)
			tr := newTestRouter(t, &Handler{
				Strategy:    "priority",
				MaxResponse: 1024,
				Providers: []catalog.ProviderConfig{
					provider("bad", bad.URL+"/v1", []string{"k-lie-bad"}, "lie", "lie"),
					provider("good", good.URL+"/v1", []string{"k-lie-good"}, "lie", "lie"),
				},
			})
			rec := tr.chat(`{"model":"lie"}`)
			if rec.Code != http.StatusOK || rec.Header().Get("X-LLM-Router-Provider") != "good" {
				t.Fatalf("status %d provider %q: %s", rec.Code, rec.Header().Get("X-LLM-Router-Provider"), rec.Body)
			}
			if rec.Header().Get("X-LLM-Router-Attempts") != "2" {
				t.Errorf("attempts %q", rec.Header().Get("X-LLM-Router-Attempts"))
			}
			var reply struct{ ID string }
			if err := json.Unmarshal(rec.Body.Bytes(), &reply); err != nil || reply.ID != "c1" {
				t.Errorf("client got %q, not the good upstream's reply", rec.Body)
			}
			if bad.calls.Load() != 1 || good.calls.Load() != 1 {
				t.Errorf("calls: bad %d good %d", bad.calls.Load(), good.calls.Load())
			}
			badT := tr.pools["lie"].targets[0]
			s := badT.health.Snapshot()
			if s.CoolUntil <= tr.clock.Now().UnixNano() || s.LastClass.String() != "upstream_down" {
				t.Errorf("the lying target is not cooling as upstream_down: %+v", s)
			}
		})
	}
}

// TestHandlerClientCancel: a client that goes away stops the request: the upstream call is
// cancelled, no other target is tried and nothing cools.
func TestHandlerClientCancel(t *testing.T) {
	arrived := make(chan struct{}, 1)
	upstreamDone := make(chan struct{}, 1)
	slow := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
			upstreamDone <- struct{}{}
		case <-time.After(10 * time.Second):
		}
	})
	other := newFakeUpstream(t, okChat)
	tr := newTestRouter(t, &Handler{
		Strategy: "priority",
		Providers: []catalog.ProviderConfig{
			provider("slow", slow.URL+"/v1", []string{"k-cancel-slow"}, "cancel-m", "cancel-m"),
			provider("other", other.URL+"/v1", []string{"k-cancel-other"}, "cancel-m", "cancel-m"),
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-arrived
		cancel()
	}()
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/v1/chat/completions", strings.NewReader(`{"model":"cancel-m"}`))
	start := time.Now()
	rec := tr.do(req)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the handler took %s after the client left", d)
	}
	select {
	case <-upstreamDone:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream call was not cancelled")
	}
	if other.calls.Load() != 0 {
		t.Errorf("a cancelled request was retried on another target (%d calls)", other.calls.Load())
	}
	if rec.Header().Get("X-LLM-Router-Failures") != "" || rec.Header().Get("Retry-After") != "" {
		t.Errorf("a cancelled request was answered as a failure: %d %v", rec.Code, rec.Header())
	}
	now := tr.clock.Now().UnixNano()
	for _, tg := range tr.pools["cancel-m"].targets {
		s := tg.health.Snapshot()
		if s.CoolUntil > now || s.Failures != 0 || s.Requests != 0 {
			t.Errorf("%s: a client's cancellation was counted against the target: %+v", tg.Label, s)
		}
		if tg.key.Cooling(now) {
			t.Errorf("%s: key cooling after a cancellation", tg.Label)
		}
	}
	if strings.Contains(tr.logs.String(), "cooldown started") {
		t.Error("a cooldown started after a client cancellation")
	}
	// The target is still healthy: the next request goes to it.
	if i := tr.pools["cancel-m"].sel.Next(now, nil); i != 0 {
		t.Errorf("selector picks %d after the cancellation, want the slow target 0", i)
	}
}

// hfSSE answers a short OpenAI chat stream, with a keepalive comment the relay drops.
func hfSSE(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	bw := bufio.NewWriter(w)
	_, _ = bw.WriteString(": OPENROUTER PROCESSING\n\n")
	_, _ = bw.WriteString("data: {\"id\":\"s1\",\"choices\":[{\"delta\":{\"content\":\"hel\"}}]}\n\n")
	_, _ = bw.WriteString("data: {\"id\":\"s1\",\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\n")
	_, _ = bw.WriteString("data: [DONE]\n\n")
	_ = bw.Flush()
}

// The openai Node SDK asks embeddings in base64 and reads float arrays as empty vectors, with
// no error. Float arrays from an upstream that ignored encoding_format reach such a client in
// base64; a client that asked for floats gets the upstream's bytes untouched.
func TestEmbeddingsBase64ForClientsThatAskedIt(t *testing.T) {
	const floats = `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.25,-2]}],"model":"e-up","usage":{"prompt_tokens":1,"total_tokens":1}}`
	up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, floats)
	})
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{
		provider("p", up.URL+"/v1", []string{"sk-p"}, "e", "e-up"),
	}})
	embed := func(body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/v1/embeddings", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		return tr.do(req)
	}

	rec := embed(`{"model":"e","input":"hi","encoding_format":"base64"}`)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if got := up.received()[0].Body; !bytes.Contains(got, []byte(`"encoding_format":"base64"`)) {
		t.Errorf("the upstream was not asked for base64: %s", got)
	}
	var reply struct {
		Data []struct {
			Embedding string `json:"embedding"`
		} `json:"data"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &reply); err != nil || len(reply.Data) != 1 {
		t.Fatalf("%v: %s", err, rec.Body)
	}
	raw, err := base64.StdEncoding.DecodeString(reply.Data[0].Embedding)
	if err != nil || len(raw) != 8 {
		t.Fatalf("embedding %q is not two base64 float32s", reply.Data[0].Embedding)
	}
	for i, want := range []float32{0.25, -2} {
		if got := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:])); got != want {
			t.Errorf("value %d: %v, want %v", i, got, want)
		}
	}
	if cl := rec.Header().Get("Content-Length"); cl != strconv.Itoa(rec.Body.Len()) {
		t.Errorf("Content-Length %s for a %d-byte body", cl, rec.Body.Len())
	}

	if rec := embed(`{"model":"e","input":"hi"}`); rec.Code != http.StatusOK || rec.Body.String() != floats {
		t.Errorf("a float request got %d: %s", rec.Code, rec.Body)
	}
}
