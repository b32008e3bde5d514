package llmrouter

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// skipOrFail skips a test that needs a tool this machine lacks (Node, a CLI, a server), and
// fails it in CI (CI=true), where .ci/run installs every such tool: a skip there would hide a
// missing install step behind a green run.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("in CI, where it must run: "+format, args...)
	}
	t.Skipf(format, args...)
}

// fakeClock is an injectable clock: tests move time instead of sleeping.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := new(fakeClock)
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// logBuffer captures everything the handler logs, at every level, for assertions and for the
// secrets checks.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) Sync() error { return nil }

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *zap.Logger {
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	return zap.New(zapcore.NewCore(enc, l, zapcore.DebugLevel))
}

// testRouter is a provisioned handler with a fake clock and captured logs.
type testRouter struct {
	*Handler
	clock *fakeClock
	logs  *logBuffer
}

// newTestRouter provisions h as Caddy would, with a fake clock and a log capture, and cleans
// it up when the test ends.
func newTestRouter(t testing.TB, h *Handler) *testRouter {
	t.Helper()
	tr := &testRouter{Handler: h, clock: newFakeClock(), logs: new(logBuffer)}
	h.now = tr.clock.Now
	h.logger = tr.logs.logger()
	if h.sticky == nil {
		h.sticky = newMemorySticky(stickyLimit, tr.clock.Now) // each test's ids are its own
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := h.Provision(ctx); err != nil {
		t.Fatalf("provision: %v", err)
	}
	t.Cleanup(func() { _ = h.Cleanup() })
	return tr
}

// nextHandler marks requests the router passed on.
var nextHandler = caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("X-Next", "1")
	w.WriteHeader(http.StatusTeapot)
	return nil
})

// do sends req through the handler as Caddy's server would prepare it.
func (tr *testRouter) do(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	req = caddyhttp.PrepareRequest(req, caddy.NewReplacer(), rec, &caddyhttp.Server{})
	if err := tr.ServeHTTP(rec, req, nextHandler); err != nil {
		panic(err)
	}
	return rec
}

// chat posts a chat completion body with an optional gateway key.
func (tr *testRouter) chat(body string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return tr.do(req)
}

// recorded is one request an upstream received.
type recorded struct {
	Header http.Header
	Body   []byte
	Path   string
}

// fakeUpstream is an httptest server that records what it received and answers with reply.
type fakeUpstream struct {
	*httptest.Server
	mu       sync.Mutex
	requests []recorded
	calls    atomic.Int64
}

func newFakeUpstream(t testing.TB, reply http.HandlerFunc) *fakeUpstream {
	t.Helper()
	u := newUnstartedFakeUpstream(t, reply)
	u.Start()
	return u
}

// newUnstartedFakeUpstream is newFakeUpstream for tests that set the server up before Start.
func newUnstartedFakeUpstream(t testing.TB, reply http.HandlerFunc) *fakeUpstream {
	t.Helper()
	u := new(fakeUpstream)
	u.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		u.mu.Lock()
		u.requests = append(u.requests, recorded{Header: r.Header.Clone(), Body: body, Path: r.URL.Path})
		u.mu.Unlock()
		u.calls.Add(1)
		r.Body = io.NopCloser(bytes.NewReader(body))
		reply(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *fakeUpstream) received() []recorded {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]recorded(nil), u.requests...)
}

// okChat answers a non-streamed chat completion naming the model it was asked for.
func okChat(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"id":"c1","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`)
}

// status answers code with an OpenAI-shaped error and optional headers (name, value, ...).
func status(code int, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, `{"error":{"message":"upstream says `+http.StatusText(code)+`","type":"test_error"}}`)
	}
}

// provider is a shorthand for a provider config in tests.
func provider(name, baseURL string, keys []string, models ...string) catalog.ProviderConfig {
	p := catalog.ProviderConfig{Name: name, BaseURLs: []string{baseURL}, Keys: keys}
	for i := 0; i+1 < len(models); i += 2 {
		p.Models = append(p.Models, catalog.ModelRoute{Name: models[i], Upstream: models[i+1]})
	}
	return p
}

// parseAPIError decodes body as the OpenAI error shape: exactly one top-level "error" object
// with a message and a type (the router's attempts extension included).
func parseAPIError(body []byte) (apiError, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(bytes.TrimSpace(body), &top); err != nil {
		return apiError{}, fmt.Errorf("not a JSON object: %w", err)
	}
	if len(top) != 1 || top["error"] == nil {
		return apiError{}, errors.New(`want exactly one top-level key "error"`)
	}
	var e apiError
	if err := json.Unmarshal(top["error"], &e); err != nil {
		return apiError{}, fmt.Errorf("error object: %w", err)
	}
	if e.Message == "" || e.Type == "" {
		return e, errors.New("error lacks a message or a type")
	}
	return e, nil
}

// pemCert encodes a DER certificate as PEM.
func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

type urlURL = url.URL

var urlParse = url.Parse

// provisionErr provisions h and returns the error, cleaning up what a failed Provision left.
func provisionErr(h *Handler) error {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	err := h.Provision(ctx)
	_ = h.Cleanup()
	return err
}

// isInMemoryBody reports whether body is what net/http's transfer code treats as in memory
// (and so does not flush the request head before it): io.NopCloser over a *bytes.Reader.
func isInMemoryBody(body io.ReadCloser) bool {
	return reflect.TypeOf(body) == reflect.TypeOf(io.NopCloser(new(bytes.Reader))) &&
		reflect.ValueOf(body).Field(0).Elem().Type() == reflect.TypeOf(new(bytes.Reader))
}

// requestLog records, one line per request, what a coding agent's requests became upstream.
type requestLog struct {
	mu   sync.Mutex
	seen []string
}

func (l *requestLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen = append(l.seen, s)
}

func (l *requestLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.seen...)
}

// agentRequest is what a fake upstream reads of a coding agent's request, in any upstream
// dialect: chat tools name their function, Anthropic tools themselves, Gemini's declare them.
type agentRequest struct {
	// Contents are Gemini's turns (whose stream flag is in the URL, not the body).
	Contents []struct {
		Parts []json.RawMessage `json:"parts"`
	} `json:"contents"`
	Stream   bool `json:"stream"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Tools []struct {
		Name     string `json:"name"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
		FunctionDeclarations []struct {
			Name string `json:"name"`
		} `json:"functionDeclarations"`
	} `json:"tools"`
}

// toolNames are the request's tools' names, in either dialect.
func (r *agentRequest) toolNames() []string {
	var names []string
	for _, t := range r.Tools {
		for _, d := range t.FunctionDeclarations {
			names = append(names, d.Name)
		}
		n := t.Function.Name
		if n == "" {
			n = t.Name
		}
		if n != "" {
			names = append(names, n)
		}
	}
	return names
}

// answered reports whether the request carries a tool result (a chat tool message, an
// Anthropic tool_result block or a Gemini functionResponse part).
func (r *agentRequest) answered() bool {
	for _, c := range r.Contents {
		for _, p := range c.Parts {
			if bytes.Contains(p, []byte(`"functionResponse"`)) {
				return true
			}
		}
	}
	for _, m := range r.Messages {
		if m.Role == "tool" || bytes.Contains(m.Content, []byte(`"tool_result"`)) {
			return true
		}
	}
	return false
}

// streamFlag renders a request's stream flag for a requestLog line.
func streamFlag(stream bool) string {
	if stream {
		return "stream=1"
	}
	return "stream=0"
}

// readBody returns a request's body (a fake upstream's: newUnstartedFakeUpstream buffered it).
func readBody(r *http.Request) string {
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

// jsonRequest is a request with a JSON body and optional headers (name, value, ...).
func jsonRequest(method, target, body string, header ...string) *http.Request {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return req
}
