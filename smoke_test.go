package llmrouter

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

func TestSmokeForward(t *testing.T) {
	up := newFakeUpstream(t, okChat)
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{
		provider("groq", up.URL+"/v1", []string{"sk-test-1"}, "llama", "llama-versatile"),
	}})
	body := `{"model":"llama","messages":[{"role":"user","content":"hi"}],"temperature":0.30000000000000004}`
	rec := tr.chat(body, "Authorization", "Bearer client-secret")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	got := up.received()
	if len(got) != 1 {
		t.Fatalf("upstream got %d requests", len(got))
	}
	want := bytes.Replace([]byte(body), []byte(`"llama"`), []byte(`"llama-versatile"`), 1)
	if !bytes.Equal(got[0].Body, want) {
		t.Errorf("upstream body\n got %s\nwant %s", got[0].Body, want)
	}
	if a := got[0].Header.Get("Authorization"); a != "Bearer sk-test-1" {
		t.Errorf("upstream Authorization = %q", a)
	}
	if got[0].Path != "/v1/chat/completions" {
		t.Errorf("upstream path %q", got[0].Path)
	}
	if rec.Header().Get("X-LLM-Router-Provider") != "groq" {
		t.Errorf("headers %v", rec.Header())
	}
}
