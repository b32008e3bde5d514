package llmrouter

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// chromiumPath is the headless browser's binary; it skips (fails in CI) when there is none.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	skipOrFail(t, "chromium is not installed (apt-get install chromium; .ci/run installs it)")
	return ""
}

// corsReport is what testdata/browser/cors.mjs posts: each step's result or what it threw.
type corsReport struct {
	Role, Origin string
	Results      map[string]struct {
		Text, Provider, Threw string
		Status                *int
		RetryAfter            *string
		Body                  json.RawMessage
	}
}

// TestCORSInChromium: the browser is the client that enforces CORS. A page served from one
// origin calls the router on another with the openai and @anthropic-ai/sdk npm packages
// (dangerouslyAllowBrowser) and with fetch as @google/genai sends it, and reads a 401 and a
// 429 with Retry-After; a page of an origin the router does not list, in an iframe, is refused
// by the browser.
func TestCORSInChromium(t *testing.T) {
	bin := chromiumPath(t)
	nodeReady(t) // the npm packages the page imports

	up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(readBody(r), `"stream":true`) {
			sseReply(cleanStream)(w, r)
			return
		}
		okChat(w, r)
	})
	// The page's server listens first: its origin goes into the router's cors setting.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	pageOrigin := fmt.Sprintf("http://127.0.0.1:%d", port)
	otherOrigin := fmt.Sprintf("http://localhost:%d", port) // another origin, the same server
	t.Setenv("CORS_WEB_KEY", "sk-gw-web-0123456789")
	t.Setenv("CORS_LIMITED_KEY", "sk-gw-limited-0123456789")
	tr := newTestRouter(t, &Handler{
		Providers: []catalog.ProviderConfig{provider("p1", up.URL+"/v1", []string{"sk-upstream-1"}, "m", "m-up")},
		Auth: &AuthConfig{Keys: []GatewayKey{
			{Name: "web", Key: "{env.CORS_WEB_KEY}"},
			{Name: "limited", Key: "{env.CORS_LIMITED_KEY}", RPM: 1},
		}},
		CORS: &CORSConfig{Origins: []string{pageOrigin}},
	})
	router := serveRouter(t, tr)

	reports := make(chan corsReport, 2)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		frame := ""
		if "http://"+r.Host == pageOrigin {
			frame = `<iframe src="` + otherOrigin + `/"></iframe>`
		}
		_, _ = io.WriteString(w, `<!doctype html><meta charset="utf-8"><title>cors</title>
<script type="importmap">{"imports":{"@opentelemetry/api":"/nm/@opentelemetry/api/dist/index.mjs","standardwebhooks":"/standardwebhooks.mjs"}}</script>
<script type="module" src="/cors.mjs"></script>`+frame)
	})
	mux.HandleFunc("GET /config", func(w http.ResponseWriter, r *http.Request) {
		role := "page"
		if "http://"+r.Host != pageOrigin {
			role = "other"
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"role": role, "router": router.URL,
			"key": "sk-gw-web-0123456789", "limitedKey": "sk-gw-limited-0123456789"})
	})
	mux.HandleFunc("GET /cors.mjs", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		http.ServeFile(w, r, filepath.Join("testdata", "browser", "cors.mjs"))
	})
	// @anthropic-ai/sdk imports standardwebhooks, a CommonJS package, for its webhook verifier,
	// which a web app's bundler would wrap; the page never verifies a webhook.
	mux.HandleFunc("GET /standardwebhooks.mjs", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		_, _ = io.WriteString(w, "export class Webhook { constructor() { throw new Error('no webhooks in this page'); } }\n")
	})
	mux.Handle("GET /nm/", http.StripPrefix("/nm/", http.FileServer(http.Dir(filepath.Join(nodeDir, "node_modules")))))
	mux.HandleFunc("POST /report", func(w http.ResponseWriter, r *http.Request) {
		var rep corsReport
		if err := json.NewDecoder(r.Body).Decode(&rep); err != nil {
			t.Errorf("report: %v", err)
		}
		select {
		case reports <- rep:
		default: // a page that reported twice; the first reports count
		}
	})
	page := httptest.NewUnstartedServer(mux)
	page.Listener.Close()
	page.Listener = ln
	page.Start()
	t.Cleanup(page.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--no-first-run", "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
		"--user-data-dir="+filepath.Join(t.TempDir(), "profile"), pageOrigin+"/")
	// Chromium's helpers share its process group, which is ended as a whole.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	got := map[string]corsReport{}
	for len(got) < 2 {
		select {
		case rep := <-reports:
			got[rep.Role] = rep
		case <-ctx.Done():
			cancel()
			_ = cmd.Wait()
			t.Fatalf("the pages reported %d of 2 times in 90s; chromium:\n%s", len(got), lastBytes(stderr.String()))
		}
	}
	cancel()
	_ = cmd.Wait()

	res := got["page"].Results
	raw, _ := json.MarshalIndent(got, "", "  ")
	t.Logf("reports:\n%s", raw)
	if got["page"].Origin != pageOrigin || got["other"].Origin != otherOrigin {
		t.Fatalf("the pages ran at %q and %q", got["page"].Origin, got["other"].Origin)
	}
	want := map[string]string{"openai_chat": "hi", "openai_stream": "Hello world", "anthropic": "hi"}
	for step, text := range want {
		if r := res[step]; r.Threw != "" || r.Text != text {
			t.Errorf("%s: %+v, want the text %q", step, r, text)
		}
	}
	if r := res["openai_chat"]; r.Provider != "p1" {
		t.Errorf("the page could not read X-LLM-Router-Provider: %q", r.Provider)
	}
	if r := res["openai_bad_key"]; r.Status == nil || *r.Status != http.StatusUnauthorized || !strings.Contains(r.Threw, "gateway key") {
		t.Errorf("a bad key: %+v; want the SDK to raise the router's 401 with its message", r)
	}
	for _, step := range []string{"gemini", "responses", "limited_1"} {
		if r := res[step]; r.Threw != "" || r.Status == nil || *r.Status != http.StatusOK {
			t.Errorf("%s: %+v", step, r)
		}
	}
	if r := res["gemini"]; !strings.Contains(string(r.Body), `"text":"hi"`) {
		t.Errorf("gemini body: %s", r.Body)
	}
	if r := res["limited_2"]; r.Status == nil || *r.Status != http.StatusTooManyRequests || r.RetryAfter == nil || *r.RetryAfter == "" ||
		!strings.Contains(string(r.Body), "rate_limit_exceeded") {
		t.Errorf("the limited key's second request: %+v; want a readable 429 with Retry-After", r)
	}
	if r := got["other"].Results["chat"]; !strings.HasPrefix(r.Threw, "TypeError") {
		t.Errorf("a page of an unlisted origin: %+v; want the browser to refuse it (TypeError)", r)
	}
}
