package h1_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/llmrouter/caddy-llm-router/h1"
	"github.com/llmrouter/caddy-llm-router/transport"
)

// BenchmarkRoundTrip compares h1.Transport with net/http's Transport (as it comes, and as the
// router builds it: transport.New) in one run, against the same httptest server: a 1 KB JSON POST answered by a small JSON reply, read to EOF. It uses
// b.RunParallel (GOMAXPROCS callers), as a gateway does; both pools keep up to 64 idle
// connections, so neither churns connections. Allocations include the server's, which are the
// same for both.
func BenchmarkRoundTrip(b *testing.B) {
	payload := []byte(`{"model":"m","messages":[{"role":"user","content":"` + string(bytes.Repeat([]byte("x"), 970)) + `"}]}`)
	answer := []byte(`{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok"}}]}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(answer)))
		_, _ = w.Write(answer)
	}))
	defer srv.Close()
	url := srv.URL + "/v1/chat/completions"

	h1t := &h1.Transport{MaxIdlePerHost: 64}
	nht := &http.Transport{MaxIdleConnsPerHost: 64}
	router, err := transport.New(&transport.Config{KeepAliveIdleConnsPerHost: 64}, transport.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer router.CloseIdleConnections()
	defer h1t.CloseIdleConnections()
	defer nht.CloseIdleConnections()
	for _, tc := range []struct {
		name string
		rt   http.RoundTripper
	}{{"h1", h1t}, {"net_http", nht}, {"net_http_router", router}} {
		b.Run("transport="+tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, err := http.NewRequest("POST", url, bytes.NewReader(payload))
					if err != nil {
						b.Error(err)
						return
					}
					req.Header.Set("Content-Type", "application/json")
					resp, err := tc.rt.RoundTrip(req)
					if err != nil {
						b.Error(err)
						return
					}
					n, err := io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					if err != nil || n != int64(len(answer)) {
						b.Errorf("reply: %d bytes, %v", n, err)
						return
					}
				}
			})
		})
	}
}
