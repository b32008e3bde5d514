package llmrouter

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
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

// TestIntegrationSecretsSweep runs a real Caddy with a debug log, an access log (with the
// README's filter), metrics, the status and models pages, and upstreams that quote the key
// they were sent (whole, masked, cut, in headers, in a stream's error event, in a broken
// reply), and clients that send right, wrong and misplaced keys in every dialect. No provider
// key, gateway key or secret header value, nor any 6-character run of one, may be in a reply
// (status, headers, body), a log line, the access log, /metrics, /config/ or the router's
// admin API.
func TestIntegrationSecretsSweep(t *testing.T) {
	const (
		provKey1   = "sk-prov-Q7vX2mKp9LwZ4rTbN8"
		provKey2   = "sk-prov-H3jK8sDf5GhJ2kLmP4"
		headerVal  = "hdr-Z9xC4vB7nM1qW3eR5t"
		gatewayKey = "gw-Y6tR4eW2qA8sD0fG7h"
		scopedKey  = "gw-U1iO3pL5kJ7hG9fD2s"
	)
	t.Setenv("LLMR_SWEEP_PROVIDER", provKey1+","+provKey2)
	t.Setenv("LLMR_SWEEP_HEADER", headerVal)
	t.Setenv("LLMR_SWEEP_GW", gatewayKey)
	t.Setenv("LLMR_SWEEP_GW_SCOPED", scopedKey)
	var keysSeen sync.Map
	up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		keysSeen.Store(key, true)
		org := r.Header.Get("X-Org")
		body := readBody(r)
		switch {
		case strings.Contains(body, `"echo"`): // a refusal quoting the key, in the body and headers
			w.Header().Set("Www-Authenticate", `Bearer error="invalid_token", error_description="key `+key+` revoked"`)
			w.Header().Set("X-Echo-Key", key)
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"error":{"message":"Incorrect API key provided: %s","org":"%s"}}`, key, org)
		case strings.Contains(body, `"masked"`): // a client error, passed through, quoting it masked
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Debug-Key", key[:10])
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"error":{"message":"key %s**********%s; org %s***"}}`, key[:7], key[len(key)-4:], org[:8])
		case strings.Contains(body, `"cut"`): // a crash quoting a piece of it
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, `{"error":{"message":"upstream crashed handling %s"}}`, key[5:14])
		case strings.Contains(body, `"streamerr"`): // an error event mid-stream
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, chunkEv("Hel"))
			fmt.Fprintf(w, "data: {\"error\":{\"message\":\"key %s over quota\"}}\n\n", key)
		case strings.Contains(body, `"garbage"`): // a 200 that is not JSON, quoting it
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"id":"x","oops %s`, key)
		default:
			okChat(w, r)
		}
	})
	it := newIntegration(t)
	port := freePort(t)
	dir := t.TempDir()
	logFile, accessFile := filepath.Join(dir, "caddy.log"), filepath.Join(dir, "access.log")
	globals := fmt.Sprintf("\tlog {\n\t\toutput file %s\n\t\tlevel DEBUG\n\t}\n\tmetrics\n", logFile)
	it.load(it.globals(port, globals) + fmt.Sprintf(`http://localhost:%d {
%s	llm_router {
		status_page /status
		models_page /models-page
		attempts 2
		provider p {
			base_url %s/v1
			keys {env.LLMR_SWEEP_PROVIDER}
			header X-Org {env.LLMR_SWEEP_HEADER}
			model m
			model echo
			model masked
			model cut
			model streamerr
			model garbage
			model *
		}
		auth {
			key alice {env.LLMR_SWEEP_GW}
			key bob {env.LLMR_SWEEP_GW_SCOPED} {
				models m
				rpm 1
			}
		}
	}
}
`, port, fmt.Sprintf(accessLogFilter, accessFile), up.URL))

	base := fmt.Sprintf("http://localhost:%d", port)
	var seen bytes.Buffer
	record := func(what string, r reply, want int) {
		t.Helper()
		fmt.Fprintf(&seen, "== %s: %d\n", what, r.status)
		_ = r.header.Write(&seen)
		seen.WriteString(r.body + "\n")
		if want != 0 && r.status != want {
			t.Errorf("%s: status %d, want %d: %s", what, r.status, want, r.body)
		}
	}
	bearer := []string{"Authorization", "Bearer " + gatewayKey}
	record("stream", it.post(base+"/v1/chat/completions", `{"model":"streamerr","stream":true,"messages":[]}`, bearer...), 200)
	record("stream anthropic", it.post(base+"/v1/messages",
		`{"model":"streamerr","stream":true,"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, bearer...), 200)
	// The refusal comes last: it cools both keys.
	for _, m := range []string{"m", "masked", "cut", "garbage", "p/any-id", "no-such-model", "echo"} {
		record(m, it.post(base+"/v1/chat/completions", `{"model":"`+m+`","messages":[{"role":"user","content":"hi"}]}`, bearer...), 0)
		record(m+" anthropic", it.post(base+"/v1/messages",
			`{"model":"`+m+`","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, "X-Api-Key", gatewayKey), 0)
		record(m+" gemini", it.post(base+"/v1beta/models/"+m+":generateContent",
			`{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`, "X-Goog-Api-Key", gatewayKey), 0)
	}
	wrong := gatewayKey[:len(gatewayKey)-1] + "X"
	for _, h := range [][]string{{"Authorization", "Bearer " + wrong}, {"X-Api-Key", wrong}, {"Api-Key", wrong},
		{"Authorization", "Basic " + wrong}, {"Authorization", wrong}, {"X-Api-Key", provKey1}} {
		record("wrong "+h[0], it.post(base+"/v1/chat/completions", `{"model":"m","messages":[]}`, h...), http.StatusUnauthorized)
		record("wrong anthropic "+h[0], it.post(base+"/v1/messages", `{"model":"m","messages":[]}`, h...), http.StatusUnauthorized)
	}
	record("wrong ?key", it.post(base+"/v1beta/models/m:generateContent?key="+wrong, `{"contents":[]}`), http.StatusUnauthorized)
	record("out of scope", it.post(base+"/v1/chat/completions", `{"model":"echo","messages":[]}`, "Authorization", "Bearer "+scopedKey), http.StatusForbidden)
	record("rpm 1", it.post(base+"/v1/chat/completions", `{"model":"m","messages":[]}`, "Authorization", "Bearer "+scopedKey), 0)
	record("rpm 2", it.post(base+"/v1/chat/completions", `{"model":"m","messages":[]}`, "Authorization", "Bearer "+scopedKey), http.StatusTooManyRequests)
	record("models", it.get(base+"/v1/models"), http.StatusOK)
	for _, page := range []string{"/status", "/models-page"} {
		req, err := http.NewRequest(http.MethodGet, base+page, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+gatewayKey)
		record(page, it.do(req), http.StatusOK)
	}
	for _, p := range []string{"/config/", "/llm_router/targets", "/llm_router/models", "/llm_router/usage", "/metrics"} {
		code, body := it.adminDo(http.MethodGet, p, "", "")
		fmt.Fprintf(&seen, "== admin %s: %d\n%s\n", p, code, body)
		if code != http.StatusOK {
			t.Errorf("admin %s: %d %s", p, code, body)
		}
	}
	code, body := it.adminDo(http.MethodDelete, "/llm_router/cooldowns", "", "")
	fmt.Fprintf(&seen, "== admin DELETE /llm_router/cooldowns: %d\n%s\n", code, body)
	it.load(it.globals(port, "")) // closes the log files
	logs, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	access, err := os.ReadFile(accessFile)
	if err != nil {
		t.Fatal(err)
	}

	// Nothing is vacuous: both keys were used, and each document holds what it should.
	for _, k := range []string{provKey1, provKey2} {
		if _, ok := keysSeen.Load(k); !ok {
			t.Errorf("the upstream never got the key %s...", k[:8])
		}
	}
	for name, want := range map[string][2]string{
		"replies":    {seen.String(), "[redacted]"},
		"metrics":    {seen.String(), "caddy_llm_router_requests_total"},
		"status":     {seen.String(), "p#0/"},
		"log":        {string(logs), `"msg":"cooldown started"`},
		"access log": {string(access), `"msg":"handled request"`},
	} {
		if !strings.Contains(want[0], want[1]) {
			t.Errorf("%s: %q not found", name, want[1])
		}
	}
	for name, doc := range map[string]string{"replies and admin API": seen.String(), "log": string(logs), "access log": string(access)} {
		for _, secret := range []string{provKey1, provKey2, headerVal, gatewayKey, scopedKey} {
			core := secret[strings.LastIndexByte(secret, '-')+1:] // the random part
			for i := 0; i+6 <= len(core); i++ {
				if at := strings.Index(doc, core[i:i+6]); at >= 0 {
					t.Errorf("%s: %q of %s... found: %s", name, core[i:i+6], secret[:4], doc[max(0, at-160):min(len(doc), at+40)])
					break
				}
			}
		}
	}
}
