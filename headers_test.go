package llmrouter

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// TestConnectionTokensDropped: a header named by the Connection header is for one hop only. The
// client's X-Foo never reaches the upstream and the upstream's X-Bar never reaches the client,
// whole or streamed; other end-to-end headers still pass.
func TestConnectionTokensDropped(t *testing.T) {
	up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "X-Bar, keep-alive")
		w.Header().Set("X-Bar", "hop")
		w.Header().Set("X-Kept", "end-to-end")
		if strings.Contains(r.Header.Get("X-Want"), "stream") {
			hfSSE(w, r)
			return
		}
		okChat(w, r)
	})
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{
		provider("p", up.URL+"/v1", []string{"k-conn"}, "m", "m"),
	}})
	for _, tc := range []struct{ body, want string }{
		{`{"model":"m"}`, "whole"},
		{`{"model":"m","stream":true}`, "stream"},
	} {
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(tc.body))
		req.Header.Set("Connection", "keep-alive, x-foo")
		req.Header.Set("X-Foo", "hop")
		req.Header.Set("Keep-Alive", "timeout=5")
		req.Header.Set("X-Want", tc.want)
		rec := tr.do(req)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: status %d: %s", tc.want, rec.Code, rec.Body)
		}
		for _, k := range []string{"X-Bar", "Connection"} {
			if v := rec.Header().Get(k); v != "" {
				t.Errorf("%s: the client got %s: %q", tc.want, k, v)
			}
		}
		if rec.Header().Get("X-Kept") != "end-to-end" {
			t.Errorf("%s: an end-to-end reply header was dropped: %v", tc.want, rec.Header())
		}
	}
	for _, r := range up.received() {
		for _, k := range []string{"X-Foo", "Keep-Alive"} {
			if v := r.Header.Get(k); v != "" {
				t.Errorf("the upstream got %s: %q", k, v)
			}
		}
		if r.Header.Get("X-Want") == "" {
			t.Errorf("an end-to-end request header was dropped: %v", r.Header)
		}
	}
	if len(up.received()) != 2 {
		t.Fatalf("upstream got %d requests", len(up.received()))
	}
}

func TestConnectionNamed(t *testing.T) {
	conn := []string{"keep-alive, X-Foo ,x-bar", "Upgrade"}
	for k, want := range map[string]bool{"X-Foo": true, "X-Bar": true, "Upgrade": true, "X-Fo": false, "Foo": false, "Keep-Alive": true} {
		if got := connectionNamed(conn, k); got != want {
			t.Errorf("connectionNamed(%q) = %v, want %v", k, got, want)
		}
	}
	if connectionNamed(nil, "X-Foo") || connectionNamed([]string{""}, "X-Foo") || connectionNamed([]string{" , ,"}, "X-Foo") {
		t.Error("an empty Connection header names something")
	}
}

// TestChainedRouterHeadersDescribeThisHop: an upstream that is itself a router sends its own
// X-LLM-Router-* headers (its failures, its cost, its provider). The client of the outer
// router must see only the outer hop's: no failures it did not have, no cost it did not
// charge, and its own provider on a passed-through client error too.
func TestChainedRouterHeadersDescribeThisHop(t *testing.T) {
	down := newFakeUpstream(t, status(http.StatusServiceUnavailable))
	good := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		body := readBody(r)
		if strings.Contains(body, `"bad"`) {
			status(http.StatusBadRequest)(w, r)
			return
		}
		if strings.Contains(body, `"stream":true`) {
			hfSSE(w, r)
			return
		}
		okChat(w, r)
	})
	inner := newTestRouter(t, &Handler{Strategy: "priority", Providers: []catalog.ProviderConfig{
		provider("down", down.URL+"/v1", []string{"k-down"}, "m", "m", "bad", "bad"),
		provider("good", good.URL+"/v1", []string{"k-good"}, "m", "m", "bad", "bad"),
	}, Models: []catalog.ModelInfo{{Name: "m", InputPrice: 1000, OutputPrice: 1000}}})
	innerSrv := serveRouter(t, inner)
	outer := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{
		provider("edge", innerSrv.URL+"/v1", nil, "m", "m", "bad", "bad"),
	}})
	for _, body := range []string{`{"model":"m","messages":[]}`, `{"model":"m","stream":true,"messages":[]}`, `{"model":"bad","messages":[]}`} {
		inner.clock.Advance(time.Hour) // the inner router's failed target is back: it fails over each time
		rec := outer.chat(body)
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
			t.Fatalf("%s: status %d: %s", body, rec.Code, rec.Body)
		}
		hdr := rec.Header()
		for _, k := range []string{"X-Llm-Router-Failures", "X-Llm-Router-Cost"} {
			if v := hdr.Get(k); v != "" {
				t.Errorf("%s: the outer router had no %s, the client got %q", body, k, v)
			}
		}
		if p, n := hdr.Get("X-Llm-Router-Provider"), hdr.Get("X-Llm-Router-Attempts"); p != "edge" || n != "1" {
			t.Errorf("%s: provider %q after %q attempts, want edge after 1", body, p, n)
		}
	}
	if down.calls.Load() != 3 {
		t.Fatalf("the inner router failed over %d times, want 3: it sent no failures to hide", down.calls.Load())
	}
}
