package llmrouter

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/reqbody"
	vroute "github.com/llmrouter/caddy-llm-router/route"
)

// BenchmarkSmartDecision is a virtual model's whole decision through the handler, for 400
// candidate models (two keys each, so 800 targets to ask for health): reading the request's
// requirements, filtering, the health of every pool, ranking. The request is a short chat with
// tools; the explanation is rendered once per reply and benchmarked in package route.
func BenchmarkSmartDecision(b *testing.B) {
	for _, goal := range []string{"cost", "latency", "quality", "balanced", "spread"} {
		b.Run(goal, func(b *testing.B) {
			p := catalog.ProviderConfig{Name: "p", BaseURLs: []string{"http://127.0.0.1:1/v1"}, Keys: []string{"k1 k2"}}
			h := &Handler{Routers: []vroute.Config{{Name: "auto", Optimize: goal}}}
			for i := range 400 {
				name := fmt.Sprintf("m%03d", i)
				p.Models = append(p.Models, catalog.ModelRoute{Name: name, Upstream: name})
				info := catalog.ModelInfo{Name: name, ContextLength: 8192 << (i % 5), InputPrice: float64(i%37) / 10,
					OutputPrice: float64(i%41) / 5, Tier: [...]string{"small", "medium", "large"}[i%3]}
				if i%7 != 0 {
					info.Supports = []string{"tools", "vision"}
				}
				h.Models = append(h.Models, info)
			}
			h.Providers = []catalog.ProviderConfig{p}
			tr := newTestRouter(b, h)
			body := []byte(`{"model":"auto","messages":[{"role":"system","content":"You are helpful."},{"role":"user","content":"Write a python func that parses ISO dates, then test it."}],"tools":[{"type":"function","function":{"name":"run","parameters":{"type":"object"}}}]}`)
			f, _ := reqbody.Scan(body)
			r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(""))
			w := httptest.NewRecorder()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				_, _, sc, p, ok := tr.smartRequest(w, r, route{ep: chatEndpoint}, body, f, nil)
				if !ok || p == nil {
					b.Fatal("no decision")
				}
				tr.smart.put(sc)
			}
		})
	}
}
