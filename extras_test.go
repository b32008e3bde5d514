package llmrouter

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// TestProviderExtraHeadersAndQuery: a provider's header and query settings reach the
// upstream on every request, override what the client sent under the same header, and never
// show in logs, replies or the admin API.
func TestProviderExtraHeadersAndQuery(t *testing.T) {
	t.Setenv("LLMR_TEST_TITLE", "title-secret-7781")
	t.Setenv("LLMR_TEST_QKEY", "query-secret-9923")
	var mu sync.Mutex
	var queries []string
	up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.RawQuery)
		mu.Unlock()
		okChat(w, r)
	})
	p := provider("or", up.URL, []string{"sk-main-key-0001"}, "m", "up-m")
	p.Headers = map[string]string{"HTTP-Referer": "https://example.com", "X-Title": "{env.LLMR_TEST_TITLE}"}
	p.Query = map[string]string{"api-version": "2024-10-21", "key": "{env.LLMR_TEST_QKEY}"}
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{p}})

	for i := 0; i < 2; i++ {
		rec := tr.chat(`{"model":"m","messages":[]}`, "X-Title", "client-title")
		if rec.Code != 200 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if strings.Contains(rec.Body.String()+headerText(rec.Header()), "secret") {
			t.Error("a provider header or query value reached the client")
		}
	}
	got := up.received()
	if len(got) != 2 {
		t.Fatalf("%d upstream requests", len(got))
	}
	for i, r := range got {
		if r.Header.Get("Http-Referer") != "https://example.com" || r.Header.Get("X-Title") != "title-secret-7781" {
			t.Errorf("request %d: headers %v", i, r.Header)
		}
		if r.Header.Get("Authorization") != "Bearer sk-main-key-0001" {
			t.Errorf("request %d: the key header changed: %q", i, r.Header.Get("Authorization"))
		}
		if queries[i] != "api-version=2024-10-21&key=query-secret-9923" {
			t.Errorf("request %d: query %q", i, queries[i])
		}
	}

	admin := httptest.NewRecorder()
	if err := serveAdminTargets(admin, httptest.NewRequest(http.MethodGet, "/llm_router/targets", nil)); err != nil {
		t.Fatal(err)
	}
	models := tr.do(httptest.NewRequest(http.MethodGet, "/v1/models", nil))
	for what, text := range map[string]string{"logs": tr.logs.String(), "admin": admin.Body.String(), "models": models.Body.String()} {
		if strings.Contains(text, "title-secret-7781") || strings.Contains(text, "query-secret-9923") {
			t.Errorf("%s show a provider header or query value:\n%s", what, text)
		}
	}
	if !strings.Contains(admin.Body.String(), `"provider":"or"`) {
		t.Errorf("admin does not list the target: %s", admin.Body)
	}
}

func headerText(h http.Header) string {
	var b strings.Builder
	_ = h.Write(&b)
	return b.String()
}

// TestProviderExtraSecretsScrubbed: an upstream that quotes a header or query value that came
// from a placeholder, in an error, has it removed before the client or a log sees it; a literal
// value is not a secret and is left.
func TestProviderExtraSecretsScrubbed(t *testing.T) {
	t.Setenv("LLMR_TEST_HDR", "hdrsecret-5Qw8ZpLm3")
	t.Setenv("LLMR_TEST_QRY", "qrysecret-Vx7Rt2Kn9")
	up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(400)
		_, _ = w.Write([]byte(`{"error":{"message":"bad: X-Org=` + r.Header.Get("X-Org") + ` q=` + r.URL.RawQuery +
			` site=` + r.Header.Get("X-Site") + `","type":"invalid_request_error"}}`))
	})
	p := provider("p", up.URL, []string{"sk-key-zz"}, "m", "m")
	p.Headers = map[string]string{"X-Org": "{env.LLMR_TEST_HDR}", "X-Site": "literal-site"}
	p.Query = map[string]string{"token": "{env.LLMR_TEST_QRY}"}
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{p}})
	rec := tr.chat(`{"model":"m","messages":[]}`)
	if rec.Code != 400 {
		t.Fatalf("status %d %s", rec.Code, rec.Body)
	}
	body := rec.Body.String()
	for _, s := range []string{"hdrsecret-5Qw8ZpLm3", "qrysecret-Vx7Rt2Kn9", "hdrsecret", "qrysecret"} {
		if strings.Contains(body, s) || strings.Contains(tr.logs.String(), s) {
			t.Errorf("%q reached the client or the logs: %s", s, body)
		}
	}
	if !strings.Contains(body, "literal-site") {
		t.Errorf("a literal header value was scrubbed too: %s", body)
	}
}
