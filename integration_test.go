package llmrouter

// Whole-Caddy tests: caddytest runs a real Caddy in this process (the module is registered by
// this package's init), loads Caddyfiles through the admin API and sends HTTP requests to it.
// They share the one in-process Caddy, so none of them may call t.Parallel. Ports are picked
// free at run time, the admin port once per process, so two `go test` runs on one machine do
// not load configs into each other's Caddy.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

var integrationAdmin struct {
	once sync.Once
	port int
	err  error
}

// freePort returns a TCP port that was free a moment ago on 127.0.0.1.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func adminPort(t testing.TB) int {
	integrationAdmin.once.Do(func() {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			integrationAdmin.err = err
			return
		}
		integrationAdmin.port = l.Addr().(*net.TCPAddr).Port
		integrationAdmin.err = l.Close()
	})
	if integrationAdmin.err != nil {
		t.Fatalf("admin port: %v", integrationAdmin.err)
	}
	return integrationAdmin.port
}

// integration is one test's handle on the in-process Caddy.
type integration struct {
	t      *testing.T
	tester *caddytest.Tester
	admin  int
}

// newIntegration prepares a tester on this process's admin port. When the test ends, Caddy is
// left with an empty config (admin only), so no handler of this test stays provisioned and
// the state store is back to what it held before.
func newIntegration(t *testing.T) *integration {
	t.Helper()
	if testing.Short() {
		t.Skip("whole-Caddy test skipped in -short mode")
	}
	it := &integration{t: t, admin: adminPort(t)}
	it.tester = caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{
		AdminPort:          it.admin,
		TestRequestTimeout: 10 * time.Second,
		LoadRequestTimeout: 10 * time.Second,
	})
	t.Cleanup(func() {
		empty := fmt.Sprintf(`{"admin":{"listen":"localhost:%d","config":{"persist":false}}}`, it.admin)
		if code, body := it.adminDo(http.MethodPost, "/load", "application/json", empty); code != http.StatusOK {
			t.Errorf("unloading the test config: %d %s", code, body)
		}
	})
	return it
}

// globals is the global options block every test config starts with: this process's admin
// port, nothing written to the user's config dir, nothing bound beyond 127.0.0.1.
func (it *integration) globals(httpPort int, extra string) string {
	return fmt.Sprintf(`{
	admin localhost:%d
	persist_config off
	skip_install_trust
	default_bind 127.0.0.1
	http_port %d
	https_port %d
%s}
`, it.admin, httpPort, freePort(it.t), extra)
}

// load posts a Caddyfile to the admin API (a reload when a config is running) and waits until
// Caddy serves it.
func (it *integration) load(caddyfileText string) {
	it.t.Helper()
	it.tester.InitServer(caddyfileText, "caddyfile")
	if it.t.Failed() {
		it.t.FailNow()
	}
	// A reload closes the old servers' idle connections; a POST sent on one of them as it
	// closes fails with EOF and is not retried. Start afresh on the new servers.
	it.tester.Client.CloseIdleConnections()
}

// serve makes a test's first load: the config mk makes for an HTTP port, on a port that was
// free a moment ago. Another process can bind that port before Caddy does (an outgoing
// connection's ephemeral port is one); the load then fails with "address already in use" and
// is made again on another port. It returns the port Caddy serves on.
func (it *integration) serve(mk func(port int) string) int {
	it.t.Helper()
	if r, err := http.Get(fmt.Sprintf("http://localhost:%d/config/", it.admin)); err == nil {
		r.Body.Close()
	} else { // the in-process Caddy is not started yet: the tester starts it
		it.tester.InitServer(fmt.Sprintf(`{"admin":{"listen":"localhost:%d","config":{"persist":false}}}`, it.admin), "json")
	}
	for range 5 {
		port := freePort(it.t)
		cfg := mk(port)
		code, body := it.adminDo(http.MethodPost, "/load", "text/caddyfile", cfg)
		if code == http.StatusOK {
			it.load(cfg) // the same config again, a no-op: the tester checks it is the one running
			return port
		}
		if !strings.Contains(body, "address already in use") {
			it.t.Fatalf("loading the config: %d %s", code, body)
		}
		it.t.Logf("port %d was taken before Caddy bound it; trying another", port)
	}
	it.t.Fatal("no free port for Caddy in 5 tries")
	return 0
}

func (it *integration) adminDo(method, path, contentType, body string) (int, string) {
	req, err := http.NewRequest(method, fmt.Sprintf("http://localhost:%d%s", it.admin, path), strings.NewReader(body))
	if err != nil {
		it.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	resp, err := client.Do(req)
	if err != nil {
		it.t.Fatalf("admin %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// reply is a response read whole.
type reply struct {
	status int
	header http.Header
	body   string
}

// post sends a JSON body to url with optional headers (name, value, ...).
func (it *integration) post(url, body string, header ...string) reply {
	it.t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		it.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return it.do(req)
}

func (it *integration) get(url string) reply {
	it.t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		it.t.Fatal(err)
	}
	return it.do(req)
}

func (it *integration) do(req *http.Request) reply {
	it.t.Helper()
	resp, err := it.tester.Client.Do(req)
	if err != nil {
		it.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		it.t.Fatalf("%s %s: reading the body: %v", req.Method, req.URL, err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// openAIError decodes an OpenAI-shaped error body, failing the test if it is not one.
func openAIError(t *testing.T, body string) (typ, code string) {
	t.Helper()
	e, err := parseAPIError([]byte(body))
	if err != nil {
		t.Fatalf("not an OpenAI error body (%v): %s", err, body)
	}
	return e.Type, e.Code
}

// TestIntegrationExampleCaddyfile serves the shipped example.Caddyfile, ports changed, and
// drives a chat completion through the router to its `respond`-made demo upstream, whole and
// streamed, as the README's first commands do.
func TestIntegrationExampleCaddyfile(t *testing.T) {
	it := newIntegration(t)
	// The real providers stay off: their keys resolve to nothing and they are skipped.
	for _, k := range []string{"GROQ_API_KEY", "OPENAI_API_KEY", "OPENROUTER_API_KEY"} {
		t.Setenv(k, "")
	}
	raw, err := os.ReadFile("example.Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	routerPort, demoPort := freePort(t), freePort(t)
	cfg := string(raw)
	for _, r := range []struct{ old, new string }{
		{"\tadmin localhost:2019\n", strings.TrimPrefix(strings.TrimSuffix(it.globals(routerPort, ""), "}\n"), "{\n")},
		{"localhost:8080", "localhost:" + strconv.Itoa(routerPort)},
		{"127.0.0.1:8081", "127.0.0.1:" + strconv.Itoa(demoPort)},
	} {
		if !strings.Contains(cfg, r.old) {
			t.Fatalf("example.Caddyfile no longer contains %q: update this test", r.old)
		}
		cfg = strings.ReplaceAll(cfg, r.old, r.new)
	}
	it.load(cfg)
	base := fmt.Sprintf("http://localhost:%d", routerPort)

	// Not streamed.
	r := it.post(base+"/v1/chat/completions", `{"model":"demo-chat","messages":[{"role":"user","content":"Hi"}]}`)
	if r.status != http.StatusOK {
		t.Fatalf("chat: %d %s", r.status, r.body)
	}
	var completion struct {
		Object  string `json:"object"`
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Usage struct {
			TotalTokens int `json:"total_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal([]byte(r.body), &completion); err != nil {
		t.Fatalf("chat reply is not JSON: %v: %s", err, r.body)
	}
	if completion.Object != "chat.completion" || len(completion.Choices) != 1 ||
		completion.Choices[0].Message.Content != "Hello from the demo upstream." ||
		completion.Choices[0].FinishReason != "stop" || completion.Usage.TotalTokens != 15 {
		t.Errorf("chat reply: %s", r.body)
	}
	for name, want := range map[string]string{
		"X-LLM-Router-Model":          "demo-chat",
		"X-LLM-Router-Provider":       "demo",
		"X-LLM-Router-Upstream-Model": "demo-1",
		"X-LLM-Router-Attempts":       "1",
		"Content-Type":                "application/json",
	} {
		if got := r.header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}

	// The virtual model: its only live candidate, and why.
	r = it.post(base+"/v1/chat/completions", `{"model":"auto","messages":[{"role":"user","content":"Hi"}]}`)
	if r.status != http.StatusOK || r.header.Get("X-LLM-Router-Route") != "auto -> demo-chat" ||
		!strings.Contains(r.body, `"llm_router":{"requested":"auto","selected":"demo-chat","provider":"demo"`) {
		t.Errorf("auto: %d %q %s", r.status, r.header.Get("X-LLM-Router-Route"), r.body)
	}

	// Streamed, through the alias whose groq member is skipped for lack of a key.
	r = it.post(base+"/v1/chat/completions", `{"model":"fast","stream":true,"messages":[{"role":"user","content":"Hi"}]}`)
	if r.status != http.StatusOK {
		t.Fatalf("stream: %d %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("stream Content-Type %q", ct)
	}
	if p := r.header.Get("X-LLM-Router-Provider"); p != "demo" {
		t.Errorf("stream provider %q", p)
	}
	if !strings.HasSuffix(r.body, "data: [DONE]\n\n") {
		t.Errorf("stream does not end with [DONE] and a blank line: %q", r.body)
	}
	var text strings.Builder
	var finish string
	var usage, events int
	for _, ev := range strings.Split(strings.TrimSuffix(r.body, "\n\n"), "\n\n") {
		events++
		data, ok := strings.CutPrefix(ev, "data: ")
		if !ok || strings.Contains(data, "\n") {
			t.Fatalf("event %d is not a single data line: %q", events, ev)
		}
		if data == "[DONE]" {
			continue
		}
		var chunk struct {
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
			Usage *struct {
				TotalTokens int `json:"total_tokens"`
			} `json:"usage"`
		}
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			t.Fatalf("event %d: %v: %s", events, err, data)
		}
		for _, c := range chunk.Choices {
			text.WriteString(c.Delta.Content)
			if c.FinishReason != nil {
				finish = *c.FinishReason
			}
		}
		if chunk.Usage != nil {
			usage = chunk.Usage.TotalTokens
		}
	}
	if text.String() != "Hello from the demo upstream." || finish != "stop" || usage != 15 || events != 5 {
		t.Errorf("stream: text %q, finish %q, usage %d, %d events:\n%s", text.String(), finish, usage, events, r.body)
	}

	// The model list has the demo model and the alias; the skipped providers' models are absent.
	r = it.get(base + "/v1/models")
	if r.status != http.StatusOK {
		t.Fatalf("models: %d %s", r.status, r.body)
	}
	for _, want := range []string{`"id":"demo-chat"`, `"id":"fast"`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("model list lacks %s: %s", want, r.body)
		}
	}
	if strings.Contains(r.body, "gpt-4o-mini") {
		t.Errorf("model list shows a provider without a key: %s", r.body)
	}
	// Paths the router does not own go on to the next handler (none here: Caddy's empty 200).
	if r := it.get(base + "/elsewhere"); r.status != http.StatusOK || r.body != "" {
		t.Errorf("non-router path: %d %q", r.status, r.body)
	}
}

// storeRefCounts returns every llm_router entry of the package-level state store with its
// reference count.
func storeRefCounts() map[string]int {
	var keys []string
	reloadStore.Range(func(k, _ any) bool {
		if s, ok := k.(string); ok && strings.HasPrefix(s, "llm_router/") {
			keys = append(keys, s)
		}
		return true
	})
	refs := make(map[string]int, len(keys))
	for _, k := range keys {
		if n, ok := reloadStore.References(k); ok {
			refs[k] = n
		}
	}
	return refs
}

// storedCoolUntil reads a health entry's cooldown deadline without taking a reference.
func storedCoolUntil(id string) (until int64, found bool) {
	reloadStore.Range(func(k, v any) bool {
		if k != id {
			return true
		}
		if e, ok := v.(*healthEntry); ok {
			until, found = e.CoolUntil(), true
		}
		return false
	})
	return until, found
}

// TestIntegrationReloadKeepsCooldowns: a target cooled by a 429 stays cooled across a config
// reload that keeps its provider and key, and a reload that removes the provider releases
// exactly its state.
func TestIntegrationReloadKeepsCooldowns(t *testing.T) {
	limited := newFakeUpstream(t, status(http.StatusTooManyRequests, "Retry-After", "300"))
	healthy := newFakeUpstream(t, okChat)
	it := newIntegration(t)
	before := storeRefCounts()
	var port int // set by the first load
	url := func() string { return fmt.Sprintf("http://localhost:%d/v1/chat/completions", port) }

	providerA := catalog.ProviderConfig{Name: "a", BaseURLs: []string{limited.URL + "/v1"},
		Keys: []string{"sk-reload-a"}, Models: []catalog.ModelRoute{{Name: "m"}}}
	providerB := catalog.ProviderConfig{Name: "b", BaseURLs: []string{healthy.URL + "/v1"},
		Keys: []string{"sk-reload-b"}, Models: []catalog.ModelRoute{{Name: "m"}}}
	// The store IDs the handler uses, computed as it does.
	cat, _, err := catalog.Build(nil, catalog.Config{Providers: []catalog.ProviderConfig{providerA, providerB}})
	if err != nil || len(cat.Targets) != 2 {
		t.Fatalf("catalog: %v", err)
	}
	aTarget, aKey := "llm_router/target/"+cat.Targets[0].StateID, "llm_router/key/"+cat.Targets[0].KeyStateID
	bTarget, bKey := "llm_router/target/"+cat.Targets[1].StateID, "llm_router/key/"+cat.Targets[1].KeyStateID
	if cat.Targets[0].Provider.Name != "a" {
		t.Fatalf("catalog order: %v", cat.Targets[0].Label)
	}

	config := func(attempts int, withA bool, extra string) string {
		var sb strings.Builder
		sb.WriteString(it.globals(port, ""))
		fmt.Fprintf(&sb, "http://localhost:%d {\n\tllm_router {\n\t\tstrategy priority\n\t\tattempts %d\n", port, attempts)
		if withA {
			fmt.Fprintf(&sb, "\t\tprovider a {\n\t\t\tbase_url %s/v1\n\t\t\tkeys sk-reload-a\n\t\t\tmodel m\n\t\t}\n", limited.URL)
		}
		fmt.Fprintf(&sb, "\t\tprovider b {\n\t\t\tbase_url %s/v1\n\t\t\tkeys sk-reload-b\n\t\t\tmodel m\n\t\t}\n", healthy.URL)
		sb.WriteString(extra)
		sb.WriteString("\t}\n}\n")
		return sb.String()
	}
	chat := func(model string) reply {
		t.Helper()
		r := it.post(url(), `{"model":"`+model+`","messages":[{"role":"user","content":"hi"}]}`)
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", model, r.status, r.body)
		}
		return r
	}
	// checkRefs asserts every entry this test added is held exactly once: by the one running
	// handler. Two would mean the replaced config leaked its references, none that it released
	// the new config's.
	checkRefs := func(when string) map[string]int {
		t.Helper()
		now := storeRefCounts()
		for k, n := range now {
			if _, old := before[k]; !old && n != 1 {
				t.Errorf("%s: store entry %s has %d references, want 1", when, k, n)
			}
		}
		return now
	}

	// Priority: a first. It answers 429 with Retry-After 300, cools, and b answers.
	it.serve(func(p int) string { port = p; return config(3, true, "") })
	r := chat("m")
	if r.header.Get("X-LLM-Router-Provider") != "b" || r.header.Get("X-LLM-Router-Attempts") != "2" {
		t.Errorf("first request went to %q in %q attempts", r.header.Get("X-LLM-Router-Provider"), r.header.Get("X-LLM-Router-Attempts"))
	}
	if n := limited.calls.Load(); n != 1 {
		t.Fatalf("the limited upstream got %d calls, want 1", n)
	}
	deadline, ok := storedCoolUntil(aTarget)
	if wantMin, wantMax := time.Now().Add(290*time.Second).UnixNano(), time.Now().Add(301*time.Second).UnixNano(); !ok || deadline < wantMin || deadline > wantMax {
		t.Fatalf("target a cools until %v (found %v), want about 300s from now", time.Unix(0, deadline), ok)
	}
	checkRefs("first load")

	// Reload with a changed config (another attempts value, a new alias) that keeps a's node
	// and key: the new handler finds a still cooling. The alias answering proves the new config
	// is the one serving.
	it.load(config(4, true, "\t\talias fast m\n"))
	refs := checkRefs("reload keeping a")
	for _, k := range []string{aTarget, aKey, bTarget, bKey} {
		if refs[k] != 1 {
			t.Errorf("after reload: %s has %d references, want 1", k, refs[k])
		}
	}
	for i := range 6 {
		model := "m"
		if i%2 == 1 {
			model = "fast"
		}
		r := chat(model)
		if p, a := r.header.Get("X-LLM-Router-Provider"), r.header.Get("X-LLM-Router-Attempts"); p != "b" || a != "1" {
			t.Errorf("request %d (%s) after reload went to %q in %q attempts: a should still be cooling", i, model, p, a)
		}
	}
	if n := limited.calls.Load(); n != 1 {
		t.Errorf("the cooling upstream got %d calls in all, want 1: the reload lost its cooldown", n)
	}
	if d, _ := storedCoolUntil(aTarget); d != deadline {
		t.Errorf("a's deadline moved across the reload: %v -> %v", time.Unix(0, deadline), time.Unix(0, d))
	}
	if n := healthy.calls.Load(); n != 7 {
		t.Errorf("the healthy upstream got %d calls, want 7", n)
	}

	// Reload without a: its entries are gone, b's are still held once.
	it.load(config(4, false, ""))
	refs = checkRefs("reload removing a")
	for _, k := range []string{aTarget, aKey} {
		if n, ok := refs[k]; ok {
			t.Errorf("after removing provider a the store still holds %s (%d references)", k, n)
		}
	}
	for _, k := range []string{bTarget, bKey} {
		if refs[k] != 1 {
			t.Errorf("after removing provider a: %s has %d references, want 1", k, refs[k])
		}
	}
	if r := chat("m"); r.header.Get("X-LLM-Router-Provider") != "b" {
		t.Errorf("after removing a: provider %q", r.header.Get("X-LLM-Router-Provider"))
	}

	// Unload everything: nothing this test stored is left behind.
	code, body := it.adminDo(http.MethodPost, "/load", "application/json",
		fmt.Sprintf(`{"admin":{"listen":"localhost:%d","config":{"persist":false}}}`, it.admin))
	if code != http.StatusOK {
		t.Fatalf("unload: %d %s", code, body)
	}
	for k, n := range storeRefCounts() {
		if _, old := before[k]; !old {
			t.Errorf("after unloading, the store still holds %s (%d references)", k, n)
		}
	}
}

// TestIntegrationSecretsStayOutOfAdminAPI: keys written as {env.X} reach the upstream but
// never the admin API's /config/ nor the adapted JSON.
func TestIntegrationSecretsStayOutOfAdminAPI(t *testing.T) {
	const providerKey = "sk-integration-provider-secret-7f3a"
	const gatewayKey = "gw-integration-gateway-secret-9c1e"
	t.Setenv("LLMR_IT_PROVIDER_KEY", providerKey)
	t.Setenv("LLMR_IT_GATEWAY_KEY", gatewayKey)
	up := newFakeUpstream(t, okChat)
	it := newIntegration(t)
	port := freePort(t)
	cfg := it.globals(port, "") + fmt.Sprintf(`http://localhost:%d {
	llm_router {
		provider p {
			base_url %s/v1
			keys {env.LLMR_IT_PROVIDER_KEY}
			model m
		}
		auth {
			key alice {env.LLMR_IT_GATEWAY_KEY}
		}
	}
}
`, port, up.URL)

	adapted := string(adaptCaddyfile(t, cfg))
	it.load(cfg)
	code, live := it.adminDo(http.MethodGet, "/config/", "", "")
	if code != http.StatusOK {
		t.Fatalf("GET /config/: %d %s", code, live)
	}
	for name, doc := range map[string]string{"adapted JSON": adapted, "admin /config/": live} {
		for _, secret := range []string{providerKey, gatewayKey} {
			if strings.Contains(doc, secret) {
				t.Errorf("%s contains a secret: %s", name, doc)
			}
		}
		for _, ph := range []string{"{env.LLMR_IT_PROVIDER_KEY}", "{env.LLMR_IT_GATEWAY_KEY}"} {
			if !strings.Contains(doc, ph) {
				t.Errorf("%s lacks the placeholder %s: %s", name, ph, doc)
			}
		}
	}

	// The placeholders were resolved at provision time: the gateway key is accepted and the
	// provider key is what the upstream sees.
	url := fmt.Sprintf("http://localhost:%d/v1/chat/completions", port)
	body := `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
	if r := it.post(url, body); r.status != http.StatusUnauthorized {
		t.Errorf("no gateway key: %d %s", r.status, r.body)
	}
	r := it.post(url, body, "Authorization", "Bearer "+gatewayKey)
	if r.status != http.StatusOK {
		t.Fatalf("with the gateway key: %d %s", r.status, r.body)
	}
	got := up.received()
	if len(got) != 1 || got[0].Header.Get("Authorization") != "Bearer "+providerKey {
		t.Fatalf("upstream should get exactly one request with the provider key, got %d", len(got))
	}
	var hdr bytes.Buffer
	_ = r.header.Write(&hdr)
	if strings.Contains(hdr.String()+r.body, providerKey) || strings.Contains(hdr.String()+r.body, gatewayKey) {
		t.Errorf("the reply carries a secret:\n%s\n%s", hdr.String(), r.body)
	}
}

// TestIntegrationTrustedProxies: the allowlist uses Caddy's client IP, so X-Forwarded-For
// counts only from a trusted proxy.
func TestIntegrationTrustedProxies(t *testing.T) {
	up := newFakeUpstream(t, okChat)
	it := newIntegration(t)
	port := freePort(t)
	site := fmt.Sprintf(`http://localhost:%d {
	llm_router {
		allow 10.1.0.0/16
		provider p {
			base_url %s/v1
			model m
		}
	}
}
`, port, up.URL)
	url := fmt.Sprintf("http://localhost:%d/v1/chat/completions", port)
	body := `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
	denied := func(r reply, what string) {
		t.Helper()
		if r.status != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403: %s", what, r.status, r.body)
			return
		}
		if typ, code := openAIError(t, r.body); typ != "permission_error" || code != "ip_not_allowed" {
			t.Errorf("%s: error type %q code %q", what, typ, code)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", what, ct)
		}
	}

	// Behind a trusted proxy (the test client at 127.0.0.1): the forwarded address decides.
	it.load(it.globals(port, "\tservers {\n\t\ttrusted_proxies static 127.0.0.1/32\n\t}\n") + site)
	if r := it.post(url, body, "X-Forwarded-For", "10.1.2.3"); r.status != http.StatusOK {
		t.Errorf("forwarded for an allowed address: %d %s", r.status, r.body)
	}
	denied(it.post(url, body, "X-Forwarded-For", "8.8.8.8"), "forwarded for 8.8.8.8")
	denied(it.post(url, body), "trusted proxy itself, no X-Forwarded-For")
	if n := up.calls.Load(); n != 1 {
		t.Errorf("upstream got %d calls, want 1 (denied requests must not reach it)", n)
	}
	for _, rec := range up.received() {
		if xff := rec.Header.Get("X-Forwarded-For"); xff != "" {
			t.Errorf("upstream saw X-Forwarded-For %q", xff)
		}
	}

	// Without trusted_proxies the header is the client's word and is ignored: 127.0.0.1 is
	// not allowed.
	it.load(it.globals(port, "") + site)
	denied(it.post(url, body, "X-Forwarded-For", "10.1.2.3"), "untrusted X-Forwarded-For")
	if n := up.calls.Load(); n != 1 {
		t.Errorf("upstream got %d calls after the untrusted request, want still 1", n)
	}
}

// TestIntegrationMetricsAfterFailover scrapes Caddy's own /metrics after a request that failed
// over: the counters moved as they should, and no key appears in any label or value.
func TestIntegrationMetricsAfterFailover(t *testing.T) {
	const failingKey, okKey = "sk-metrics-failing-5d2b", "sk-metrics-ok-8e4c"
	t.Setenv("LLMR_IT_METRICS_FAIL", failingKey)
	t.Setenv("LLMR_IT_METRICS_OK", okKey)
	limited := newFakeUpstream(t, status(http.StatusTooManyRequests, "Retry-After", "30"))
	ok := newFakeUpstream(t, okChat)
	it := newIntegration(t)
	port := freePort(t)
	it.load(it.globals(port, "") + fmt.Sprintf(`http://localhost:%d {
	llm_router {
		strategy priority
		provider mfail {
			base_url %s/v1
			keys {env.LLMR_IT_METRICS_FAIL}
			model metrics-m
		}
		provider mok {
			base_url %s/v1
			keys {env.LLMR_IT_METRICS_OK}
			model metrics-m
		}
	}
}
`, port, limited.URL, ok.URL))

	scrape := func() string {
		code, text := it.adminDo(http.MethodGet, "/metrics", "", "")
		if code != http.StatusOK {
			t.Fatalf("GET /metrics: %d", code)
		}
		return text
	}
	before := scrape()
	r := it.post(fmt.Sprintf("http://localhost:%d/v1/chat/completions", port), `{"model":"metrics-m","messages":[]}`)
	if r.status != http.StatusOK || r.header.Get("X-LLM-Router-Attempts") != "2" {
		t.Fatalf("want a success on the second attempt, got %d %v", r.status, r.header)
	}
	text := scrape()
	// Counters live as long as the process (they survive reloads), so compare with before.
	for series, want := range map[string]float64{
		`caddy_llm_router_requests_total{model="metrics-m",outcome="success",provider="mok"}`: 1,
		`caddy_llm_router_attempts_total{class="rate_limited",provider="mfail"}`:              1,
		`caddy_llm_router_attempts_total{class="success",provider="mok"}`:                     1,
		`caddy_llm_router_tokens_total{direction="input",model="metrics-m",provider="mok"}`:   3,
		`caddy_llm_router_tokens_total{direction="output",model="metrics-m",provider="mok"}`:  1,
		`caddy_llm_router_upstream_latency_seconds_count{provider="mfail"}`:                   1,
	} {
		if d := metricValue(text, series) - metricValue(before, series); d != want {
			t.Errorf("%s moved by %v, want %v", series, d, want)
		}
	}
	for series, want := range map[string]float64{
		`caddy_llm_router_targets_cooling{provider="mfail"}`: 1,
		`caddy_llm_router_targets_cooling{provider="mok"}`:   0,
	} {
		if got := metricValue(text, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	for _, key := range []string{failingKey, okKey, failingKey[:12], okKey[:12]} {
		if strings.Contains(text, key) {
			t.Errorf("/metrics contains key material %q", key)
		}
	}
}

// metricValue reads one series' value from Prometheus text output; 0 when absent.
func metricValue(text, series string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}

// heldUntil answers a whole chat request once release is closed, and a stream with its first
// chunk at once and the rest once release is closed: requests held in flight across a reload.
func heldUntil(release <-chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(readBody(r), `"stream":true`) {
			<-release
			okChat(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, roleChunkEv("Hel"))
		_ = http.NewResponseController(w).Flush()
		<-release
		_, _ = io.WriteString(w, chunkEv("lo")+stopEv+usageEv+doneEv)
	}
}

// TestIntegrationReloadMidRequest: a config reload (POST /load with another upstream) while
// whole requests and streams are in flight cuts none of them: each ends whole, a stream with
// its [DONE], though the old handler is cleaned up meanwhile; the request sent after the
// reload goes to the new config's upstream.
func TestIntegrationReloadMidRequest(t *testing.T) {
	release := make(chan struct{})
	old := newFakeUpstream(t, heldUntil(release))
	next := newFakeUpstream(t, okChat)
	it := newIntegration(t)
	port := freePort(t)
	config := func(upstream string) string {
		return it.globals(port, "") + fmt.Sprintf(`http://localhost:%d {
	llm_router {
		provider p {
			base_url %s/v1
			keys sk-reload-midrequest
			model m
		}
	}
}
`, port, upstream)
	}
	it.load(config(old.URL))
	url := fmt.Sprintf("http://localhost:%d/v1/chat/completions", port)
	const inFlight = 6
	type result struct {
		status int
		body   string
		err    error
	}
	results := make(chan result, inFlight)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	for i := range inFlight {
		body := `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
		if i%2 == 0 {
			body = `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`
		}
		go func() {
			resp, err := client.Post(url, "application/json", strings.NewReader(body))
			if err != nil {
				results <- result{err: err}
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			results <- result{resp.StatusCode, string(b), err}
		}()
	}
	pollUntil(t, "every request to reach the old upstream", func() bool { return old.calls.Load() == inFlight })

	it.load(config(next.URL))
	if r := it.post(url, `{"model":"m","messages":[]}`); r.status != http.StatusOK || next.calls.Load() != 1 {
		t.Errorf("after the reload: status %d, the new upstream got %d requests: %s", r.status, next.calls.Load(), r.body)
	}
	close(release)
	for range inFlight {
		r := <-results
		switch {
		case r.err != nil:
			t.Errorf("an in-flight request failed across the reload: %v (got %q)", r.err, r.body)
		case r.status != http.StatusOK:
			t.Errorf("an in-flight request got %d across the reload: %s", r.status, r.body)
		case strings.HasPrefix(r.body, "data:"):
			if !strings.HasSuffix(r.body, usageEv+doneEv) || strings.Contains(r.body, `"error"`) {
				t.Errorf("a stream in flight was cut by the reload: %q", r.body)
			}
		case !json.Valid([]byte(r.body)):
			t.Errorf("a whole reply in flight was cut by the reload: %q", r.body)
		}
	}
	if n := old.calls.Load(); n != inFlight {
		t.Errorf("the old upstream got %d requests, want the %d in flight only", n, inFlight)
	}
}
