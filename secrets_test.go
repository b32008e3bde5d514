package llmrouter

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// Distinctive secrets. Each has a unique core, so a secret that is cut, masked at its ends or
// prefixed ("Bearer ...") is still found.
const (
	secEnvKey1   = "sk-envsecret-AAAA1111-xq"
	secEnvKey2   = "sk-envsecret-BBBB2222-xq"
	secDeadKey   = "sk-deadsecret-FFFF6666-xq"
	secLitKey    = "sk-literal-CCCC3333-xq"
	secGateway   = "gw-client-DDDD4444-xq"
	secClientOwn = "client-own-EEEE5555-xq"
)

var secCores = map[string]string{
	secEnvKey1:   "AAAA1111",
	secEnvKey2:   "BBBB2222",
	secDeadKey:   "FFFF6666",
	secLitKey:    "CCCC3333",
	secGateway:   "DDDD4444",
	secClientOwn: "EEEE5555",
}

// secFind returns the secrets (or their cores) that appear in s.
func secFind(s string, secrets ...string) []string {
	if len(secrets) == 0 {
		for k := range secCores {
			secrets = append(secrets, k)
		}
	}
	var found []string
	for _, k := range secrets {
		if strings.Contains(s, k) || strings.Contains(s, secCores[k]) {
			found = append(found, k)
		}
	}
	return found
}

// secUpstream answers by the upstream model id it is asked for, and for "s-fo" by key.
func secUpstream(w http.ResponseWriter, r *http.Request) {
	var v struct{ Model string }
	body, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(body, &v)
	key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	switch v.Model {
	case "s-ok", "s-lit":
		okChat(w, r)
	case "s-stream":
		hfSSE(w, r)
	case "s-fo":
		if key == secEnvKey1 {
			status(http.StatusInternalServerError)(w, r)
			return
		}
		okChat(w, r)
	case "s-401", "s-lit-401":
		status(http.StatusUnauthorized)(w, r)
	case "s-429":
		status(http.StatusTooManyRequests, "Retry-After", "5")(w, r)
	case "s-400":
		status(http.StatusBadRequest)(w, r)
	default:
		status(http.StatusInternalServerError)(w, r)
	}
}

// TestSecretsNeverLeak drives every kind of outcome and checks that no provider key, gateway
// key or client credential shows in a reply, a log line at any level, or the config JSON.
func TestSecretsNeverLeak(t *testing.T) {
	t.Setenv("HF_SECRET_KEYS", secEnvKey1+", "+secEnvKey2)
	t.Setenv("HF_SECRET_DEAD", secDeadKey)
	t.Setenv("HF_SECRET_GW", secGateway)

	up := newFakeUpstream(t, secUpstream)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()

	lit := provider("litp", up.URL+"/lit/v1", []string{secLitKey}, "s-lit", "s-lit", "s-lit-401", "s-lit-401")
	lit.KeyHeader = "x-api-key"
	h := &Handler{
		MaxBody: 4096,
		Providers: []catalog.ProviderConfig{
			provider("envp", up.URL+"/v1", []string{"{env.HF_SECRET_KEYS}"},
				"s-ok", "s-ok", "s-fo", "s-fo", "s-401", "s-401", "s-429", "s-429", "s-500", "s-500",
				"s-400", "s-400", "s-stream", "s-stream"),
			lit,
			provider("deadp", deadURL+"/v1", []string{"{env.HF_SECRET_DEAD}"}, "s-dead", "s-dead"),
		},
		Auth: &AuthConfig{Keys: []GatewayKey{{Name: "alice", Key: "{env.HF_SECRET_GW}"}}},
	}
	tr := newTestRouter(t, h)
	if n := len(tr.cat.Targets); n != 2*7+2+1 {
		t.Fatalf("%d targets: the env keys did not resolve", n)
	}

	var transcript strings.Builder
	record := func(what string, rec *httptest.ResponseRecorder) {
		fmt.Fprintf(&transcript, "== %s: %d\n", what, rec.Code)
		_ = rec.Header().Write(&transcript)
		transcript.WriteString(rec.Body.String())
		transcript.WriteString("\n")
	}
	auth := []string{"Authorization", "Bearer " + secGateway, "X-Api-Key", secClientOwn, "Cookie", "sid=" + secClientOwn}
	send := func(what, path, body string, wantStatus int, header ...string) {
		t.Helper()
		rec := hfPost(tr, path, body, header...)
		record(what, rec)
		if rec.Code != wantStatus {
			t.Errorf("%s: status %d, want %d: %s", what, rec.Code, wantStatus, rec.Body)
		}
	}

	for range 2 {
		send("success", "/v1/chat/completions", `{"model":"s-ok"}`, 200, auth...)
		send("literal key", "/v1/chat/completions", `{"model":"s-lit"}`, 200, auth...)
		send("stream", "/v1/chat/completions", `{"model":"s-stream","stream":true}`, 200, auth...)
	}
	send("failover", "/v1/chat/completions", `{"model":"s-fo"}`, 200, auth...)
	send("failover again", "/v1/chat/completions", `{"model":"s-fo"}`, 200, auth...)
	send("429", "/v1/chat/completions", `{"model":"s-429"}`, 429, auth...)
	send("500", "/v1/chat/completions", `{"model":"s-500"}`, 500, auth...)
	send("400", "/v1/chat/completions", `{"model":"s-400"}`, 400, auth...)
	send("refused", "/v1/embeddings", `{"model":"s-dead"}`, 502, auth...)
	send("exhausted 429", "/v1/chat/completions", `{"model":"s-429"}`, 429, auth...)
	send("exhausted 503", "/v1/chat/completions", `{"model":"s-500"}`, 503, auth...)
	// A refused key cools every model of its provider: last.
	send("401", "/v1/chat/completions", `{"model":"s-401"}`, 401, auth...)
	send("401 literal", "/v1/chat/completions", `{"model":"s-lit-401"}`, 401, auth...)
	send("exhausted key", "/v1/chat/completions", `{"model":"s-401"}`, 503, auth...)
	send("exhausted refused", "/v1/chat/completions", `{"model":"s-dead"}`, 503, auth...)
	send("bad json", "/v1/chat/completions", `{"model":`, 400, auth...)
	send("no model", "/v1/chat/completions", `{"messages":[]}`, 400, auth...)
	send("unknown model", "/v1/chat/completions", `{"model":"no-such-model"}`, 404, auth...)
	send("too large", "/v1/chat/completions", `{"model":"s-ok","x":"`+strings.Repeat("z", 5000)+`"}`, 413, auth...)
	send("unknown path", "/v1/foo", `{}`, 404, auth...)
	send("no gateway key", "/v1/chat/completions", `{"model":"s-ok"}`, 401)
	send("wrong gateway key", "/v1/chat/completions", `{"model":"s-ok"}`, 401,
		"Authorization", "Bearer "+strings.Replace(secGateway, "xq", "xr", 1))
	send("provider key as gateway key", "/v1/chat/completions", `{"model":"s-ok"}`, 401, "X-Api-Key", secEnvKey1)
	send("basic auth", "/v1/chat/completions", `{"model":"s-ok"}`, 401, "Authorization", "Basic "+secClientOwn)
	for _, path := range []string{"/v1/models", "/health", "/v1/chat/completions"} {
		rec := tr.do(httptest.NewRequest(http.MethodGet, path, nil))
		record("GET "+path, rec)
	}

	if up.calls.Load() == 0 {
		t.Fatal("no upstream call was made")
	}
	if leaked := secFind(transcript.String()); len(leaked) > 0 {
		t.Errorf("replies carry secrets %v:\n%s", leaked, transcript.String())
	}
	logs := tr.logs.String()
	if !strings.Contains(logs, `"level":"debug"`) || !strings.Contains(logs, "cooldown started") {
		t.Fatalf("the log capture missed debug or info lines:\n%s", logs)
	}
	if leaked := secFind(logs); len(leaked) > 0 {
		t.Errorf("logs carry secrets %v:\n%s", leaked, logs)
	}

	// The config as caddy adapt and the admin API show it: references, never their values. The
	// literal key is there by design (documented), so it is not checked here.
	cfg, err := json.Marshal(tr.Handler)
	if err != nil {
		t.Fatal(err)
	}
	if leaked := secFind(string(cfg), secEnvKey1, secEnvKey2, secDeadKey, secGateway); len(leaked) > 0 {
		t.Errorf("the config JSON carries resolved secrets %v: %s", leaked, cfg)
	}
	if !strings.Contains(string(cfg), "{env.HF_SECRET_KEYS}") || !strings.Contains(string(cfg), "{env.HF_SECRET_GW}") {
		t.Errorf("the config JSON lost its key references: %s", cfg)
	}
	// Nor through the values a status page would format.
	for _, p := range tr.pools {
		for _, tg := range p.targets {
			if leaked := secFind(tg.Label + tg.StateID + tg.KeyStateID + tg.Fingerprint); len(leaked) > 0 {
				t.Errorf("target %s names its key", tg.Label)
			}
		}
	}
}

// TestSecretsProvisionErrors: a config that fails to load says why without quoting a key.
func TestSecretsProvisionErrors(t *testing.T) {
	t.Setenv("HF_SECRET_KEYS", secEnvKey1)
	t.Setenv("HF_SECRET_GW", secGateway)
	t.Setenv("HF_SECRET_GW_BAD", "gw-\x01"+secGateway)
	dir := t.TempDir()
	badCatalog := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(badCatalog, []byte(`{"providers":[{"name":"p","base_urls":["http://x/v1"],"keys":"`+secLitKey+`"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	badCatalog2 := filepath.Join(dir, "bad2.json")
	if err := os.WriteFile(badCatalog2, []byte(`{"providers":[{"name":"p","base_urls":["http://x/v1"],"keys":["`+secLitKey+`"],"models":[{"name":"m"}],"key":"`+secLitKey+`"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	withProvider := func(mod func(*catalog.ProviderConfig)) *Handler {
		p := provider("p", "https://api.example.com/v1", []string{"{env.HF_SECRET_KEYS}"}, "m", "m")
		mod(&p)
		return &Handler{Providers: []catalog.ProviderConfig{p}}
	}
	okProvider := []catalog.ProviderConfig{provider("p", "https://api.example.com/v1", []string{"{env.HF_SECRET_KEYS}"}, "m", "m")}
	for _, tc := range []struct {
		name string
		h    *Handler
	}{
		{"keys_file names a key", withProvider(func(p *catalog.ProviderConfig) { p.KeysFile = "{env.HF_SECRET_KEYS}" })},
		{"base_url with credentials", withProvider(func(p *catalog.ProviderConfig) {
			p.BaseURLs = []string{"https://user:" + secLitKey + "@api.example.com/v1"}
		})},
		{"base_url with key query", withProvider(func(p *catalog.ProviderConfig) {
			p.BaseURLs = []string{"https://api.example.com/v1?key=" + secLitKey}
		})},
		{"unparsable base_url with credentials", withProvider(func(p *catalog.ProviderConfig) {
			p.BaseURLs = []string{"https://user:" + secLitKey + "@api.example.com:badport/v1"}
		})},
		{"base_url key fragment", withProvider(func(p *catalog.ProviderConfig) {
			p.BaseURLs = []string{"https://api.example.com/v1#" + secLitKey}
		})},
		{"bad model", withProvider(func(p *catalog.ProviderConfig) { p.Models = nil })},
		{"duplicate gateway secrets", &Handler{Providers: okProvider, Auth: &AuthConfig{Keys: []GatewayKey{
			{Name: "a", Key: "{env.HF_SECRET_GW}"}, {Name: "b", Key: "{env.HF_SECRET_GW}"}}}}},
		{"gateway secret with control characters", &Handler{Providers: okProvider, Auth: &AuthConfig{Keys: []GatewayKey{
			{Name: "a", Key: "{env.HF_SECRET_GW_BAD}"}}}}},
		{"gateway key without name", &Handler{Providers: okProvider, Auth: &AuthConfig{Keys: []GatewayKey{
			{Key: "{env.HF_SECRET_GW}", RPM: -1}}}}},
		{"catalog type error", &Handler{Catalogs: []string{badCatalog}}},
		{"catalog unknown field", &Handler{Catalogs: []string{badCatalog2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := new(logBuffer)
			tc.h.logger = logs.logger()
			ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
			defer cancel()
			err := tc.h.Provision(ctx)
			_ = tc.h.Cleanup()
			if err == nil {
				t.Fatal("provision succeeded")
			}
			secrets := []string{secEnvKey1, secGateway, secLitKey}
			if leaked := secFind(err.Error(), secrets...); len(leaked) > 0 {
				t.Errorf("error %q quotes %v", err, leaked)
			}
			if leaked := secFind(logs.String(), secrets...); len(leaked) > 0 {
				t.Errorf("logs quote %v: %s", leaked, logs)
			}
		})
	}
}

// TestSecretsUpstreamEcho: an upstream that quotes the key in its error body (as some do on a
// 401) does not hand it to the client, whether the error is passed through or is the last one.
func TestSecretsUpstreamEcho(t *testing.T) {
	for _, code := range []int{400, 401, 404, 429, 500} {
		up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			_, _ = io.WriteString(w, `{"error":{"message":"Incorrect API key provided: `+r.Header.Get("Authorization")+
				`; key `+r.Header.Get("Authorization")[len("Bearer "):]+`","type":"invalid_request_error"}}`)
		})
		name := fmt.Sprintf("echo%d", code)
		tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{
			provider(name, up.URL+"/v1", []string{secLitKey}, name, name),
		}})
		rec := tr.chat(`{"model":"` + name + `"}`)
		if rec.Code != code {
			t.Errorf("%d: client got %d", code, rec.Code)
		}
		if !strings.Contains(rec.Body.String(), "Incorrect API key provided") {
			t.Errorf("%d: the upstream's error was not passed on: %s", code, rec.Body)
		}
		if leaked := secFind(rec.Body.String() + fmt.Sprint(rec.Header())); len(leaked) > 0 {
			t.Errorf("%d: the client got the key back: %s", code, rec.Body)
		}
		if cl := rec.Header().Get("Content-Length"); cl != fmt.Sprint(rec.Body.Len()) {
			t.Errorf("%d: Content-Length %s for %d bytes", code, cl, rec.Body.Len())
		}
	}
}

// TestSecretsUpstreamQuotesFragments: an upstream that quotes a prefix, a suffix, a middle run
// or a masked form of the key it was sent (`sk-Wq2eR5tY8**********7dP6hh`, as OpenAI's 401
// does) hands none of it to the client: not in a passed-through client error, not in the last
// upstream reply that fail() passes on, not in the snippet of a reply that is no OpenAI error,
// and not in a log line.
func TestSecretsUpstreamQuotesFragments(t *testing.T) {
	const key = "sk-Wq2eR5tY8uI1oP3aS6dF9gH2jK4lZ7xC0vB5nM8qW1eR3tY6u7dP6hh"
	quotes := map[string]string{
		"prefix":       key[:12],
		"suffix":       key[len(key)-8:],
		"middle":       key[20:31],
		"masked":       key[:12] + "**********" + key[len(key)-6:],
		"masked short": "sk-Wq" + strings.Repeat("•", 20) + "P6hh",
		"query":        "https://x.test/v1?key=" + key[3:40],
	}
	fragments := []string{key[:12], key[3:9], key[len(key)-6:], key[len(key)-4:], key[20:31], key[3:40]}
	n := 0
	for _, code := range []int{400, 401, 500} {
		for name, quote := range quotes {
			for _, shape := range []string{
				`{"error":{"message":"Incorrect API key provided: %s. Find your key at https://platform.example/keys.","type":"invalid_request_error"}}`,
				`upstream says: bad key %s`, // not an OpenAI error: fail() quotes a snippet
			} {
				body := fmt.Sprintf(shape, quote)
				n++ // a provider of its own each time: a refused key stays cooling until the test ends
				up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
					w.WriteHeader(code)
					_, _ = io.WriteString(w, body)
				})
				tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{
					provider(fmt.Sprintf("frag%d", n), up.URL+"/v1", []string{key}, "m", "m"),
				}})
				rec := tr.chat(`{"model":"m"}`)
				what := fmt.Sprintf("%d %s %.20q", code, name, shape)
				if rec.Code != code {
					t.Errorf("%s: client got %d: %s", what, rec.Code, rec.Body)
				}
				out := rec.Body.String() + fmt.Sprint(rec.Header()) + tr.logs.String()
				for _, f := range fragments {
					if strings.Contains(out, f) {
						t.Errorf("%s: the client or the log got %q:\n%s", what, f, out)
					}
				}
				if !strings.Contains(rec.Body.String(), "[redacted]") {
					t.Errorf("%s: nothing was redacted: %s", what, rec.Body)
				}
				if cl := rec.Header().Get("Content-Length"); cl != fmt.Sprint(rec.Body.Len()) {
					t.Errorf("%s: Content-Length %s for %d bytes", what, cl, rec.Body.Len())
				}
			}
		}
	}
}

// TestSecretsMalformedReplyQuotesKey: an upstream whose reply is no HTTP at all, and quotes the
// key it was sent in its first line, fails over; the transport's error quotes that line, and
// neither the client's error nor a log line gets the key or a fragment of it.
func TestSecretsMalformedReplyQuotesKey(t *testing.T) {
	const key = "sk-malformed-Kx9Lm2Np4Qr6St8Uv"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				// The status code field is what net/http's error quotes.
				io.WriteString(c, "HTTP/1.1 "+strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")+" OK\r\n\r\n")
			}(c)
		}
	}()
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{
		provider("garbled", "http://"+l.Addr().String()+"/v1", []string{key}, "m", "m"),
	}})
	rec := tr.chat(`{"model":"m"}`)
	if rec.Code != http.StatusBadGateway {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if !strings.Contains(rec.Body.String(), "[redacted]") {
		t.Errorf("the transport error no longer quotes the reply; this test proves nothing: %s", rec.Body)
	}
	out := rec.Body.String() + tr.logs.String()
	for _, f := range []string{key, "Kx9Lm2", "St8Uv", "malformed-Kx"} {
		if strings.Contains(out, f) {
			t.Errorf("%q reached the client or a log:\n%s", f, out)
		}
	}
}

// TestSecretsMidStreamErrorEventScrubbed: an OpenAI-dialect upstream that fails after its
// first event with an error event quoting its key is relayed as it came, but for the key.
func TestSecretsMidStreamErrorEventScrubbed(t *testing.T) {
	const key = "sk-proj-Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0Lz"
	up := newFakeUpstream(t, sseReply(roleChunkEv("Hel"),
		`data: {"error":{"message":"key `+key+` (sk-proj-Zx9Q...1Jk0Lz) was revoked","type":"invalid_request_error"}}`+"\n\n"))
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{provider("p1", up.URL+"/v1", []string{key}, "m", "m-up")}})
	rs := serveRouter(t, tr)
	_, got := rs.stream(t)
	if !strings.Contains(got, `"content":"Hel"`) || !strings.Contains(got, `"error"`) {
		t.Fatalf("stream %q: want the text, then an error event", got)
	}
	for _, frag := range []string{key, key[:14], key[len(key)-8:], "sk-proj-Zx9Q"} {
		if strings.Contains(got, frag) {
			t.Errorf("the key fragment %q reached the client: %q", frag, got)
		}
	}
}
