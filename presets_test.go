package llmrouter

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// TestReadmeTenProviders adapts and provisions the README's ten-provider example, one line a
// provider and under thirty lines: with presets no provider needs a base_url, and each gets its
// service's.
func TestReadmeTenProviders(t *testing.T) {
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(raw), "### One line a provider")
	_, after, ok2 := strings.Cut(after, "```caddyfile\n")
	if !ok || !ok2 {
		t.Fatal("README no longer has the ten-provider example")
	}
	block, _, _ := strings.Cut(after, "```")
	if n := strings.Count(block, "\n"); n >= 30 {
		t.Fatalf("the ten-provider example has %d lines, not under thirty", n)
	}
	for _, k := range []string{"GROQ_API_KEYS", "CEREBRAS_API_KEY", "GEMINI_API_KEY", "OPENROUTER_API_KEY", "NVIDIA_API_KEYS",
		"DEEPSEEK_API_KEY", "DASHSCOPE_API_KEY", "ANTHROPIC_API_KEY", "MOONSHOT_API_KEY"} {
		t.Setenv(k, "key-for-"+k)
	}
	out := adaptCaddyfile(t, ":8080 {\n"+block+"}\n")
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Routes []struct {
						Handle []json.RawMessage `json:"handle"`
					} `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	var h Handler
	if err := json.Unmarshal(cfg.Apps.HTTP.Servers["srv0"].Routes[0].Handle[0], &h); err != nil {
		t.Fatal(err)
	}
	discovering := 0
	for i := range h.Providers {
		if h.Providers[i].Discover != nil {
			discovering++
			h.Providers[i].Discover = nil // no network in tests: discovery has tests of its own
		}
	}
	if discovering != 1 {
		t.Fatalf("%d discovering providers, want openrouter", discovering)
	}
	tr := newTestRouter(t, &h)
	if n := len(tr.cat.Providers); n != 10 {
		t.Fatalf("%d providers, want 10", n)
	}
	for _, p := range tr.cat.Providers {
		if p.Preset != p.Name || len(p.Nodes) != 1 {
			t.Errorf("%s: preset %q nodes %v", p.Name, p.Preset, p.Nodes)
		}
	}
	if len(tr.wildNames) != 5 {
		t.Errorf("wildcard providers %v", tr.wildNames)
	}
}

// TestLocalPresetSendsNoKey: a local preset (here ollama, its base URL pointed at a fake) sends
// no key header, and serves `model *` ids as is.
func TestLocalPresetSendsNoKey(t *testing.T) {
	up := newFakeUpstream(t, okChat)
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{{
		Name: "ollama", BaseURLs: []string{up.URL + "/v1"}, Models: []catalog.ModelRoute{{Name: "*"}},
	}}})
	if p := tr.cat.Providers[0]; p.Preset != "ollama" || p.KeyCount != 0 {
		t.Fatalf("preset %q keys %d", p.Preset, p.KeyCount)
	}
	rec := tr.chat(`{"model":"ollama/qwen2.5:7b","messages":[]}`, "Authorization", "Bearer client-credential")
	if rec.Code != 200 {
		t.Fatalf("status %d %s", rec.Code, rec.Body)
	}
	got := up.received()[0]
	if got.Path != "/v1/chat/completions" {
		t.Errorf("path %s", got.Path)
	}
	for _, h := range []string{"Authorization", "X-Api-Key"} {
		if v := got.Header.Get(h); v != "" {
			t.Errorf("a keyless preset sent %s: %q", h, v)
		}
	}
}
