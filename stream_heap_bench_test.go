package llmrouter

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// BenchmarkStreamHeap1000 measures the heap that 1,000 concurrent open streams hold through the
// router. The client, the router and the upstream share this process, so the same 1,000
// streams are first opened straight to the upstream as a baseline; the difference is the
// router's share: its relay state, its goroutines' heap objects and its upstream connections.
// Run it with -benchtime=1x; it reports router-KiB/stream and router-MB.
func BenchmarkStreamHeap1000(b *testing.B) {
	const streams = 1000
	var release chan struct{}
	up := newFakeUpstream(b, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
		_, _ = io.WriteString(w, "data: [DONE]\n\n")
	})
	tr := newTestRouter(b, &Handler{Providers: []catalog.ProviderConfig{provider("p", up.URL+"/v1", nil, "m", "m")}})
	rs := serveRouter(b, tr)

	// heldBy opens the streams at url, waits until each has its first event, and returns the
	// heap in use then, after a collection.
	heldBy := func(url string) uint64 {
		release = make(chan struct{})
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: streams}}
		defer client.CloseIdleConnections()
		var opened, done sync.WaitGroup
		opened.Add(streams)
		done.Add(streams)
		for range streams {
			go func() {
				defer done.Done()
				req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, url,
					strings.NewReader(`{"model":"m","stream":true}`))
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					opened.Done()
					return
				}
				defer resp.Body.Close()
				br := bufio.NewReader(resp.Body)
				_, _ = br.ReadString('\n') // the first event's data line
				opened.Done()
				_, _ = io.Copy(io.Discard, br)
			}()
		}
		opened.Wait()
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		close(release)
		done.Wait()
		return m.HeapInuse
	}
	var base runtime.MemStats
	for b.Loop() {
		runtime.GC()
		runtime.ReadMemStats(&base)
		direct := heldBy(up.URL + "/v1/chat/completions")
		routed := heldBy(rs.URL + "/v1/chat/completions")
		router := int64(routed) - int64(direct)
		b.ReportMetric(float64(router)/streams/1024, "router-KiB/stream")
		b.ReportMetric(float64(router)/(1<<20), "router-MB")
		b.ReportMetric(float64(direct-base.HeapInuse)/(1<<20), "baseline-MB")
	}
}
