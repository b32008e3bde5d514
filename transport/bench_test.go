package transport

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/llmrouter/caddy-llm-router/reqbody"
)

// writeCounter counts the writes (each one a write syscall on a TCP connection) that client
// connections make.
type writeCounter struct{ n atomic.Int64 }

type countingConn struct {
	*countedConn
	w *writeCounter
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.w.n.Add(1)
	return c.countedConn.Write(p)
}

// BenchmarkRoundTrip sends a 1 KB chat POST through the router's transport, with the body as
// the router's pooled, leased reader (which net/http does not know to be in memory, so it
// flushes the head on its own) and as a *bytes.Reader copy (head and body in one write). It
// reports writes per request. b.RunParallel: GOMAXPROCS callers, as a gateway has.
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
	f, err := reqbody.Scan(payload)
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		body func(*http.Request)
	}{
		{"leased_reader", func(req *http.Request) {
			rb := reqbody.Rewrite(payload, f, "m-up", false)
			req.Body, req.ContentLength = rb.Reader(), rb.Len()
		}},
		{"bytes_reader", func(req *http.Request) {
			rb := reqbody.Rewrite(payload, f, "m-up", false)
			buf := rb.Bytes()
			req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(buf)), int64(len(buf))
		}},
	} {
		b.Run("body="+tc.name, func(b *testing.B) {
			tr, err := New(nil, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer tr.CloseIdleConnections()
			var cc connCounter
			var wc writeCounter
			cc.wrap(tr)
			dial := tr.DialContext
			tr.DialContext = func(ctx contextT, network, addr string) (netConn, error) {
				c, err := dial(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return &countingConn{countedConn: c.(*countedConn), w: &wc}, nil
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, err := http.NewRequest(http.MethodPost, url, nil)
					if err != nil {
						b.Error(err)
						return
					}
					req.Header.Set("Content-Type", "application/json")
					tc.body(req)
					resp, err := tr.RoundTrip(req)
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
			b.ReportMetric(float64(wc.n.Load())/float64(b.N), "writes/op")
		})
	}
}
