package llmrouter

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// TestGateRPMUnservableDoesNotCount: requests for a model that does not exist, and bodies that
// are not a request, cost the key nothing; the key's rpm is all there for real requests.
func TestGateRPMUnservableDoesNotCount(t *testing.T) {
	const secret = "gk-rpm-unservable-3f5a7c9e1b"
	up := newFakeUpstream(t, okChat)
	tr := rpmRouter(t, up, "careful", secret, 2)
	auth := []string{"Authorization", "Bearer " + secret}
	for range 5 {
		wantAPIError(t, "unknown model", tr.chat(`{"model":"no-such-model"}`, auth...), http.StatusNotFound, errInvalidRequest, "model_not_found")
		wantAPIError(t, "bad json", tr.chat(`{"model":`, auth...), http.StatusBadRequest, errInvalidRequest, "invalid_json")
		wantAPIError(t, "no model", tr.chat(`{"messages":[]}`, auth...), http.StatusBadRequest, errInvalidRequest, "missing_model")
	}
	for i := range 2 {
		if rec := tr.chat(gtChatA, auth...); rec.Code != http.StatusOK {
			t.Fatalf("request %d for a real model: status %d: %s", i, rec.Code, rec.Body)
		}
	}
	wantAPIError(t, "third", tr.chat(gtChatA, auth...), http.StatusTooManyRequests, errRateLimit, "rate_limit_exceeded")
}

// TestErrorsBoundTheEcho: a 100 KB model name, or path, is not returned as a 100 KB error.
func TestErrorsBoundTheEcho(t *testing.T) {
	const secret = "gk-echo-9d1b3f5a7c"
	up := newFakeUpstream(t, okChat)
	tr := newTestRouter(t, &Handler{
		Providers: []catalog.ProviderConfig{provider("groq", up.URL+"/v1", []string{gtProviderKey}, "a", "a-up")},
		Auth: &AuthConfig{Keys: []GatewayKey{{Name: "all", Key: secret},
			{Name: "scoped", Key: secret + "-scoped", Models: []string{"a"}}}},
	})
	auth := []string{"Authorization", "Bearer " + secret}
	scoped := []string{"Authorization", "Bearer " + secret + "-scoped"}
	longModel := strings.Repeat("é", 50<<10) // 100 KB, two bytes a rune
	longPath := "/v1/" + strings.Repeat("x", 100<<10)
	for _, tc := range []struct {
		what   string
		rec    *httptest.ResponseRecorder
		status int
		cut    string
	}{
		{"unknown model", tr.chat(`{"model":"`+longModel+`"}`, auth...), http.StatusNotFound, "é..."},
		{"model out of scope", tr.chat(`{"model":"`+longModel+`"}`, scoped...), http.StatusForbidden, "é..."},
		{"unknown path", hfPost(tr, longPath, `{}`, auth...), http.StatusNotFound, "x..."},
	} {
		if tc.rec.Code != tc.status {
			t.Errorf("%s: status %d, want %d", tc.what, tc.rec.Code, tc.status)
		}
		if n := tc.rec.Body.Len(); n > 1024 {
			t.Errorf("%s: a %d-byte error for a 100 KB name", tc.what, n)
		}
		if _, err := parseAPIError(tc.rec.Body.Bytes()); err != nil {
			t.Errorf("%s: %v: %s", tc.what, err, tc.rec.Body)
		}
		if !strings.Contains(tc.rec.Body.String(), tc.cut) {
			t.Errorf("%s: the echo is not cut on a rune boundary with a mark: %s", tc.what, tc.rec.Body)
		}
	}
}
