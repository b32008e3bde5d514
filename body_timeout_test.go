package llmrouter

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// serveReal puts the handler behind a real net/http server on loopback, as Caddy's server
// would call it, so that connection deadlines are real.
func serveReal(t *testing.T, tr *testRouter) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, &caddyhttp.Server{})
		_ = tr.ServeHTTP(w, r, nextHandler)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// TestBodyTimeoutSlowLoris: a client that sends its head and then its body a byte at a time
// never gets to hold the handler beyond body_timeout: it gets 408 and its connection is closed,
// and no upstream is called. A client that sends its body at once is served.
func TestBodyTimeoutSlowLoris(t *testing.T) {
	up := newFakeUpstream(t, okChat)
	tr := newTestRouter(t, &Handler{
		BodyTimeout: caddy.Duration(300 * time.Millisecond),
		Providers:   []catalog.ProviderConfig{provider("p", up.URL+"/v1", []string{"k-loris"}, "m", "m")},
	})
	addr := serveReal(t, tr)

	body := `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("x", 200) + `"}]}`
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	stop := make(chan struct{})
	defer close(stop)
	go func() { // one byte every 50 ms: the body would take 13 s
		for i := 0; i < len(body); i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := conn.Write([]byte{body[i]}); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no reply within 5 s: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(b), "request_timeout") {
		t.Errorf("status %d: %s", resp.StatusCode, b)
	}
	if !resp.Close {
		t.Error("the connection is kept open after a body timeout")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the reply took %v", d)
	}
	if n := up.calls.Load(); n != 0 {
		t.Errorf("the upstream got %d calls", n)
	}

	// A body sent at once is read well within the bound.
	resp, err = http.Post("http://"+addr+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("a prompt body: status %d", resp.StatusCode)
	}
}

func TestCaddyfileBodyTimeout(t *testing.T) {
	var h Handler
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("llm_router {\n body_timeout 90s\n}")); err != nil {
		t.Fatal(err)
	}
	if time.Duration(h.BodyTimeout) != 90*time.Second {
		t.Errorf("body_timeout %v", time.Duration(h.BodyTimeout))
	}
	if err := new(Handler).UnmarshalCaddyfile(caddyfile.NewTestDispenser("llm_router {\n body_timeout\n}")); err == nil {
		t.Error("a body_timeout without a duration parsed")
	}
}

// TestBodyAnnouncedLengthHoldsNoMemory: clients that announce a body of max_body and then
// send nothing more (within body_timeout) hold what their bytes need, not the buffer their
// Content-Length asks for: twenty of them used to hold 16 MiB each.
func TestBodyAnnouncedLengthHoldsNoMemory(t *testing.T) {
	up := newFakeUpstream(t, okChat)
	_, rs := newStreamRouter(t, nil, up)
	const clients = 20
	runtime.GC()
	runtime.GC() // twice: the buffer pools keep what the first collection left them
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	for range clients {
		c, err := net.Dial("tcp", rs.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{\"model\":", defaultMaxBody)
	}
	pollUntil(t, "every client's request to reach the handler", func() bool { return rs.active.Load() == clients })
	const bound = 40 << 20
	deadline := time.Now().Add(200 * time.Millisecond)
	for time.Now().Before(deadline) {
		var now runtime.MemStats
		runtime.ReadMemStats(&now)
		if grew := int64(now.HeapInuse) - int64(before.HeapInuse); grew > bound {
			t.Fatalf("%d clients that sent 9 bytes each grew the heap by %d MiB, want under %d MiB",
				clients, grew>>20, bound>>20)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
