package llmrouter

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

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
