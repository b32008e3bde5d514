package llmrouter

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// hfMemReply is a canned upstream answer, served without a network.
var hfMemReply = []byte(`{"id":"c1","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`)

// hfMemTransport answers every request with hfMemReply after reading the request body whole,
// as a real upstream would.
type hfMemTransport struct{}

func (hfMemTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		_ = req.Body.Close()
	}
	return &http.Response{
		Status:        "200 OK",
		StatusCode:    http.StatusOK,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(hfMemReply)),
		ContentLength: int64(len(hfMemReply)),
		Request:       req,
	}, nil
}

// hfUseMemTransport answers every target's requests in memory.
func hfUseMemTransport(h *Handler) {
	for _, t := range h.targets {
		t.transport = hfMemTransport{}
	}
}

// hfBenchBody is a 1 KB chat request for model.
func hfBenchBody(model string) []byte {
	head := `{"model":"` + model + `","messages":[{"role":"user","content":"`
	tail := `"}],"temperature":0.2}`
	return []byte(head + strings.Repeat("a", 1024-len(head)-len(tail)) + tail)
}

// hfBenchServe measures one non-streamed request through ServeHTTP, as Caddy's server would
// prepare it, with the client's headers extra.
func hfBenchServe(b *testing.B, tr *testRouter, model string, extra ...[2]string) {
	body := hfBenchBody(model)
	if len(body) != 1024 {
		b.Fatalf("body is %d bytes", len(body))
	}
	rd := bytes.NewReader(body)
	serve := func() *httptest.ResponseRecorder {
		rd.Reset(body)
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", rd)
		req.Header.Set("Content-Type", "application/json")
		for _, h := range extra {
			req.Header.Set(h[0], h[1])
		}
		rec := httptest.NewRecorder()
		req = caddyhttp.PrepareRequest(req, caddy.NewReplacer(), rec, &caddyhttp.Server{})
		if err := tr.ServeHTTP(rec, req, nextHandler); err != nil {
			b.Fatal(err)
		}
		return rec
	}
	if rec := serve(); rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), hfMemReply) {
		b.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if rec := serve(); rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkServeHTTP compares a 10-target catalog with the 35,000-target scale catalog: the
// cost of a request must not depend on the catalog's size.
func BenchmarkServeHTTP(b *testing.B) {
	b.Run("targets=10", func(b *testing.B) {
		var keys []string
		for i := range 5 {
			keys = append(keys, "sk-bench-"+strconv.Itoa(i))
		}
		tr := newTestRouter(b, &Handler{Providers: []catalog.ProviderConfig{
			provider("bench-a", "http://bench-a.invalid/v1", keys, "bench-model", "bench-model-a"),
			provider("bench-b", "https://bench-b.invalid/v1", keys, "bench-model", "bench-model-b"),
		}})
		if n := len(tr.cat.Targets); n != 10 {
			b.Fatalf("%d targets", n)
		}
		hfUseMemTransport(tr.Handler)
		hfBenchServe(b, tr, "bench-model")
	})
	b.Run("auth", func(b *testing.B) {
		// targets=10 behind a gateway key with a rate limit.
		var keys []string
		for i := range 5 {
			keys = append(keys, "sk-bench-"+strconv.Itoa(i))
		}
		tr := newTestRouter(b, &Handler{
			Providers: []catalog.ProviderConfig{
				provider("bench-a", "http://bench-a.invalid/v1", keys, "bench-model", "bench-model-a"),
				provider("bench-b", "https://bench-b.invalid/v1", keys, "bench-model", "bench-model-b"),
			},
			Auth: &AuthConfig{Keys: []GatewayKey{{Name: "team", Key: "gw-bench-team-key", RPM: 1000000}}},
		})
		hfUseMemTransport(tr.Handler)
		hfBenchServe(b, tr, "bench-model", [2]string{"Authorization", "Bearer gw-bench-team-key"})
	})
	b.Run("loopback", func(b *testing.B) {
		// A real upstream over loopback: the router's own HTTP/1.1 transport, syscalls included.
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(hfMemReply)
		}))
		b.Cleanup(up.Close)
		tr := newTestRouter(b, &Handler{Providers: []catalog.ProviderConfig{
			provider("bench", up.URL+"/v1", nil, "bench-model", "bench-model-up"),
		}})
		hfBenchServe(b, tr, "bench-model")
	})
	b.Run("wildcard", func(b *testing.B) {
		// provider/<any-id> on a `model *` provider, once the id's pool exists.
		var keys []string
		for i := range 5 {
			keys = append(keys, "sk-bench-"+strconv.Itoa(i))
		}
		p := provider("bench-w", "http://bench-w.invalid/v1", keys)
		p.Models = []catalog.ModelRoute{{Name: "*"}}
		tr := newTestRouter(b, &Handler{Providers: []catalog.ProviderConfig{p}})
		pl, err := tr.wildcardPool("bench-w/vendor/bench-model")
		if err != nil || pl == nil {
			b.Fatalf("wildcard pool: %v", err)
		}
		for _, t := range pl.targets {
			t.transport = hfMemTransport{}
		}
		hfBenchServe(b, tr, "bench-w/vendor/bench-model")
	})
	b.Run("discovered", func(b *testing.B) {
		// A discovered model of the 36,000-target catalog from presets, wildcards and
		// discovery: found with one atomic load and a map lookup. Unpriced, like the others
		// here (a priced model adds the cost header's two allocations, listed or not).
		tr := newTestRouter(b, scaleHandler(scaleUpstream(b, false)))
		pl := tr.namedPool("groq/model-042")
		if pl == nil {
			b.Fatal("no discovered pool")
		}
		for _, t := range pl.targets {
			t.transport = hfMemTransport{}
		}
		hfBenchServe(b, tr, "groq/model-042")
	})
	b.Run("targets=35k", func(b *testing.B) {
		tr := newTestRouter(b, &Handler{Catalogs: []string{"catalog/testdata/scale-35k.json"}})
		if n := len(tr.cat.Targets); n < 30000 {
			b.Fatalf("%d targets", n)
		}
		hfUseMemTransport(tr.Handler)
		hfBenchServe(b, tr, "model-000")
	})
}
