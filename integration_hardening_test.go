package llmrouter

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// accessLogFilter is the log block the README recommends for a site whose clients send gateway
// keys as x-api-key, api-key, x-goog-api-key or Gemini's ?key=: Caddy redacts only
// Authorization and cookies itself.
const accessLogFilter = `	log {
		output file %s
		format filter {
			request>headers>X-Api-Key delete
			request>headers>Api-Key delete
			request>headers>X-Goog-Api-Key delete
			request>uri query {
				delete key
			}
		}
	}
`

// TestIntegrationAccessLogHidesKeys runs a real Caddy with an access log and sends gateway keys
// (right and wrong ones, and a provider key) in every header the gate reads. With the README's
// filter no key, nor a fragment of one, is in the access log. Without it Caddy logs x-api-key
// and api-key verbatim: Caddy clones the request for its access log before any handler runs
// (caddyhttp/server.go), so no handler can mask them; the filter is the fix.
func TestIntegrationAccessLogHidesKeys(t *testing.T) {
	const gatewayKey = "gw-accesslog-QQ77RR88-secret"
	const providerKey = "sk-accesslog-provider-ZZ55YY66"
	t.Setenv("LLMR_IT_ACCESS_GW", gatewayKey)
	t.Setenv("LLMR_IT_ACCESS_PROVIDER", providerKey)
	up := newFakeUpstream(t, okChat)
	it := newIntegration(t)
	port := freePort(t)
	dir := t.TempDir()
	site := func(logBlock string) string {
		return fmt.Sprintf(`http://localhost:%d {
%s	llm_router {
		provider p {
			base_url %s/v1
			keys {env.LLMR_IT_ACCESS_PROVIDER}
			model m
		}
		auth {
			key alice {env.LLMR_IT_ACCESS_GW}
		}
	}
}
`, port, logBlock, up.URL)
	}
	url := fmt.Sprintf("http://localhost:%d/v1/chat/completions", port)
	body := `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
	geminiURL := fmt.Sprintf("http://localhost:%d/v1beta/models/m:generateContent", port)
	geminiBody := `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`
	wrong := strings.Replace(gatewayKey, "QQ77", "QQ78", 1)
	send := func() {
		t.Helper()
		for _, h := range [][]string{
			{"X-Api-Key", gatewayKey}, {"Api-Key", gatewayKey}, {"Authorization", "Bearer " + gatewayKey},
			{"x-api-key", wrong}, {"api-key", wrong}, {"X-Api-Key", providerKey},
		} {
			want := http.StatusOK
			if h[1] != gatewayKey && h[1] != "Bearer "+gatewayKey {
				want = http.StatusUnauthorized
			}
			if r := it.post(url, body, h...); r.status != want {
				t.Errorf("%s: status %d, want %d: %s", h[0], r.status, want, r.body)
			}
		}
		// Google's SDKs send x-goog-api-key; its REST examples put the key in the query.
		for _, tc := range []struct {
			url    string
			header []string
			want   int
		}{
			{geminiURL, []string{"X-Goog-Api-Key", gatewayKey}, http.StatusOK},
			{geminiURL + "?key=" + gatewayKey, nil, http.StatusOK},
			{geminiURL + "?alt=json&key=" + wrong, nil, http.StatusUnauthorized},
		} {
			if r := it.post(tc.url, geminiBody, tc.header...); r.status != tc.want {
				t.Errorf("gemini %v: status %d, want %d: %s", tc.header, r.status, tc.want, r.body)
			}
		}
	}
	fragments := []string{"QQ77RR88", "QQ78RR88", "ZZ55YY66", "accesslog-provider", "gw-accesslog"}

	filtered := filepath.Join(dir, "filtered.log")
	it.load(it.globals(port, "") + site(fmt.Sprintf(accessLogFilter, filtered)))
	send()
	it.load(it.globals(port, "") + site("")) // the reload closes the log file
	logged, err := os.ReadFile(filtered)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(logged), `"msg":"handled request"`); n != 9 {
		t.Fatalf("the access log has %d requests, want 9:\n%s", n, logged)
	}
	if !strings.Contains(string(logged), `"Content-Type":["application/json"]`) {
		t.Errorf("the filter dropped more than the key headers:\n%s", logged)
	}
	for _, f := range fragments {
		if strings.Contains(string(logged), f) {
			t.Errorf("the filtered access log holds %q:\n%s", f, logged)
		}
	}

	// Why the filter is needed: without it Caddy writes both headers as they came.
	raw := filepath.Join(dir, "raw.log")
	it.load(it.globals(port, "") + site(fmt.Sprintf("\tlog {\n\t\toutput file %s\n\t}\n", raw)))
	send()
	it.load(it.globals(port, "") + site(""))
	logged, err = os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(logged), `"X-Api-Key":["`+gatewayKey+`"]`) || !strings.Contains(string(logged), `"Api-Key":["`+gatewayKey+`"]`) ||
		!strings.Contains(string(logged), `"X-Goog-Api-Key":["`+gatewayKey+`"]`) || !strings.Contains(string(logged), "key="+gatewayKey) {
		t.Logf("Caddy no longer logs x-api-key, api-key, x-goog-api-key and the query verbatim; the README's filter may be unneeded:\n%s", logged)
	}
	if strings.Contains(string(logged), "Bearer "+gatewayKey) {
		t.Errorf("Caddy logged the Authorization header:\n%s", logged)
	}
}

// TestIntegrationTrustedProxiesStrict: behind a proxy that appends the client's address to
// X-Forwarded-For, a client that writes its own X-Forwarded-For (10.1.2.3) gets the header
// "10.1.2.3, 8.8.8.8". With trusted_proxies alone Caddy takes the leftmost address, the
// client's own word, and `allow 10.0.0.0/8` lets 8.8.8.8 in. With trusted_proxies_strict it
// reads right to left and takes the first address that is not a trusted proxy, the one the
// proxy appended: 8.8.8.8 is refused and a real 10.x client behind the proxy is served.
func TestIntegrationTrustedProxiesStrict(t *testing.T) {
	up := newFakeUpstream(t, okChat)
	it := newIntegration(t)
	port := freePort(t)
	site := fmt.Sprintf(`http://localhost:%d {
	llm_router {
		allow 10.0.0.0/8
		provider p {
			base_url %s/v1
			model m
		}
	}
}
`, port, up.URL)
	url := fmt.Sprintf("http://localhost:%d/v1/chat/completions", port)
	body := `{"model":"m","messages":[]}`
	// The test client, at 127.0.0.1, plays the proxy; 10.9.0.0/16 is an inner proxy.
	const proxies = "\tservers {\n\t\ttrusted_proxies static 127.0.0.1/32 10.9.0.0/16\n%s\t}\n"

	it.load(it.globals(port, fmt.Sprintf(proxies, "")) + site)
	if r := it.post(url, body, "X-Forwarded-For", "10.1.2.3, 8.8.8.8"); r.status != http.StatusOK {
		t.Errorf("without trusted_proxies_strict the spoofed address no longer passes (%d): update the README", r.status)
	}

	it.load(it.globals(port, fmt.Sprintf(proxies, "\t\ttrusted_proxies_strict\n")) + site)
	for _, tc := range []struct {
		xff  string
		want int
	}{
		{"10.1.2.3, 8.8.8.8", http.StatusForbidden},           // spoofed left of the real address
		{"10.1.2.3", http.StatusOK},                           // a real client in 10/8
		{"8.8.8.8, 10.1.2.3", http.StatusOK},                  // the client's own word is ignored
		{"10.1.2.3, 8.8.8.8, 10.9.0.5", http.StatusForbidden}, // through an inner trusted proxy
		{"8.8.8.8, 10.1.2.3, 10.9.0.5", http.StatusOK},        // the same, a real 10.x client
		{"10.1.2.3, 10.9.0.5, 127.0.0.1", http.StatusOK},      // every hop after the client trusted
		{"10.1.2.3, not-an-address, 8.8.8.8", http.StatusForbidden},
	} {
		r := it.post(url, body, "X-Forwarded-For", tc.xff)
		if r.status != tc.want {
			t.Errorf("X-Forwarded-For %q: status %d, want %d: %s", tc.xff, r.status, tc.want, r.body)
		}
	}
}

// TestWarnKeyHeaderLogged: a key in x-api-key on a server that writes an access log gets one
// warning per config, naming the filter, never the key; no warning without an access log or
// for a bearer key.
func TestWarnKeyHeaderLogged(t *testing.T) {
	const secret = "gw-warnlog-HH44JJ55-key"
	up := newFakeUpstream(t, okChat)
	tr := newTestRouter(t, &Handler{
		Providers: []catalog.ProviderConfig{provider("p", up.URL+"/v1", []string{"k-warnlog"}, "m", "m")},
		Auth:      &AuthConfig{Keys: []GatewayKey{{Name: "a", Key: secret}}},
	})
	send := func(srv *caddyhttp.Server, header, value string) {
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(`{"model":"m"}`))
		req.Header.Set(header, value)
		rec := httptest.NewRecorder()
		req = caddyhttp.PrepareRequest(req, caddy.NewReplacer(), rec, srv)
		_ = tr.ServeHTTP(rec, req, nextHandler)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: status %d", header, rec.Code)
		}
	}
	const warning = "request>headers>X-Api-Key delete"
	send(&caddyhttp.Server{}, "X-Api-Key", secret)
	send(&caddyhttp.Server{Logs: &caddyhttp.ServerLogConfig{}}, "Authorization", "Bearer "+secret)
	if strings.Contains(tr.logs.String(), warning) {
		t.Fatalf("a warning without an access log or for a bearer key:\n%s", tr.logs)
	}
	logged := &caddyhttp.Server{Logs: &caddyhttp.ServerLogConfig{}}
	send(logged, "X-Api-Key", secret)
	send(logged, "Api-Key", secret)
	if n := strings.Count(tr.logs.String(), warning); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, tr.logs)
	}
	if strings.Contains(tr.logs.String(), "HH44JJ55") {
		t.Error("the warning quotes the key")
	}
}
