package catalog

import (
	"net/http"
	"strings"
	"testing"
)

// TestPresetTable pins every preset's base URL and dialect: a provider named after the service
// with only keys (or nothing, for a local server) and a model gets them.
func TestPresetTable(t *testing.T) {
	want := map[string]struct {
		url string
		api API
	}{
		"openai":        {"https://api.openai.com/v1", APIOpenAI},
		"anthropic":     {"https://api.anthropic.com/v1", APIAnthropic},
		"groq":          {"https://api.groq.com/openai/v1", APIOpenAI},
		"cerebras":      {"https://api.cerebras.ai/v1", APIOpenAI},
		"openrouter":    {"https://openrouter.ai/api/v1", APIOpenAI},
		"deepseek":      {"https://api.deepseek.com", APIOpenAI},
		"xai":           {"https://api.x.ai/v1", APIOpenAI},
		"mistral":       {"https://api.mistral.ai/v1", APIOpenAI},
		"together":      {"https://api.together.ai/v1", APIOpenAI},
		"fireworks":     {"https://api.fireworks.ai/inference/v1", APIOpenAI},
		"nvidia":        {"https://integrate.api.nvidia.com/v1", APIOpenAI},
		"dashscope":     {"https://dashscope-intl.aliyuncs.com/compatible-mode/v1", APIOpenAI},
		"moonshot":      {"https://api.moonshot.ai/v1", APIOpenAI},
		"zai":           {"https://api.z.ai/api/paas/v4", APIOpenAI},
		"zhipu":         {"https://open.bigmodel.cn/api/paas/v4", APIOpenAI},
		"minimax":       {"https://api.minimax.io/v1", APIOpenAI},
		"perplexity":    {"https://api.perplexity.ai", APIOpenAI},
		"gemini":        {"https://generativelanguage.googleapis.com/v1beta", APIGemini},
		"gemini-openai": {"https://generativelanguage.googleapis.com/v1beta/openai", APIOpenAI},
		"ollama":        {"http://127.0.0.1:11434/v1", APIOpenAI},
		"lmstudio":      {"http://127.0.0.1:1234/v1", APIOpenAI},
		"vllm":          {"http://127.0.0.1:8000/v1", APIOpenAI},
		"llamacpp":      {"http://127.0.0.1:8080/v1", APIOpenAI},
	}
	// azure has no base URL of its own (TestPresetErrors).
	if got := PresetNames(); len(got) != len(want)+1 {
		t.Errorf("PresetNames() = %v, want the %d pinned here", got, len(want))
	}
	for name, w := range want {
		ps, ok := LookupPreset(name)
		if !ok {
			t.Errorf("%s: no preset", name)
			continue
		}
		pc := ProviderConfig{Name: name, Models: []ModelRoute{{Name: "m"}}}
		if !ps.Keyless {
			pc.Keys = []string{"k-" + name}
		}
		cat, _ := mustBuild(t, nil, Config{Providers: []ProviderConfig{pc}})
		p := cat.Providers[0]
		if p.Nodes[0] != w.url || p.API != w.api || p.Preset != name {
			t.Errorf("%s: node %s api %s preset %q, want %s %s", name, p.Nodes[0], p.API, p.Preset, w.url, w.api)
		}
		if ps.Keyless {
			if p.KeyCount != 0 || cat.Targets[0].Key() != "" {
				t.Errorf("%s: a local preset must carry no key", name)
			}
			if !strings.HasPrefix(w.url, "http://127.0.0.1:") {
				t.Errorf("%s: a keyless preset must be on loopback", name)
			}
		}
		wantHeader := map[API]string{APIOpenAI: "Authorization", APIAnthropic: "X-Api-Key", APIGemini: "X-Goog-Api-Key"}[w.api]
		if p.KeyHeader != wantHeader {
			t.Errorf("%s: key header %s, want %s", name, p.KeyHeader, wantHeader)
		}
		// Only Google's OpenAI-compatible endpoint ends tool call turns with "stop".
		if p.StopAfterToolCalls != (name == "gemini-openai") {
			t.Errorf("%s: StopAfterToolCalls %v", name, p.StopAfterToolCalls)
		}
	}
}

func TestPresetExplicitWinsAndAliases(t *testing.T) {
	cat, _ := mustBuild(t, nil, Config{Providers: []ProviderConfig{
		// A second Groq account under another name.
		{Name: "groq-team", Preset: "groq", Keys: []string{"g2"}, Models: []ModelRoute{{Name: "m"}}},
		// Everything explicit overrides the preset.
		{Name: "anthropic", BaseURLs: []string{"http://127.0.0.1:9/v1"}, API: "openai", KeyHeader: "X-Key",
			Models: []ModelRoute{{Name: "m2"}}},
		{Name: "kimi-acct", Preset: "Kimi", Keys: []string{"k"}, Models: []ModelRoute{{Name: "m3"}}},
		{Name: "plain", BaseURLs: []string{"http://127.0.0.1:9/v1"}, Models: []ModelRoute{{Name: "m4"}}},
	}})
	g, a, k, plain := cat.Providers[0], cat.Providers[1], cat.Providers[2], cat.Providers[3]
	if g.Nodes[0] != "https://api.groq.com/openai/v1" || g.Preset != "groq" {
		t.Errorf("preset groq: %v %q", g.Nodes, g.Preset)
	}
	if a.Nodes[0] != "http://127.0.0.1:9/v1" || a.API != APIOpenAI || a.KeyHeader != "X-Key" {
		t.Errorf("explicit settings lost: %v %s %s", a.Nodes, a.API, a.KeyHeader)
	}
	if k.Nodes[0] != "https://api.moonshot.ai/v1" || k.Preset != "moonshot" {
		t.Errorf("alias kimi: %v %q", k.Nodes, k.Preset)
	}
	if plain.Preset != "" {
		t.Errorf("no preset expected, got %q", plain.Preset)
	}
}

func TestPresetErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		pc   ProviderConfig
		want string
	}{
		{"unknown preset lists the known", ProviderConfig{Name: "x", Preset: "nope", Keys: []string{"k"}, Models: []ModelRoute{{Name: "m"}}},
			`unknown preset "nope"; known presets: anthropic, azure, cerebras,`},
		{"azure needs its resource's url", ProviderConfig{Name: "azure", Keys: []string{"k"}, Models: []ModelRoute{{Name: "m"}}},
			"the azure preset needs base_url"},
		{"cloud preset without keys", ProviderConfig{Name: "groq", Models: []ModelRoute{{Name: "m"}}}, "needs keys"},
		{"no base url, no preset", ProviderConfig{Name: "mine", Models: []ModelRoute{{Name: "m"}}}, "or a preset: anthropic"},
		{"preset still needs models", ProviderConfig{Name: "ollama"}, "model *"},
	} {
		_, _, err := Build(nil, Config{Providers: []ProviderConfig{tc.pc}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want it to contain %q", tc.name, err, tc.want)
		}
	}
}

func TestExtraHeadersAndQuery(t *testing.T) {
	res := mapResolver(map[string]string{"{env.TITLE}": "secret-title", "{env.VER}": "2024-10-21"})
	cat, _ := mustBuild(t, res, Config{Providers: []ProviderConfig{{
		Name: "openrouter", Keys: []string{"k"}, Models: []ModelRoute{{Name: "m"}},
		Headers: map[string]string{"http-referer": "https://example.com", "X-Title": "{env.TITLE}"},
		Query:   map[string]string{"api-version": "{env.VER}", "a b": "c&d"},
	}}})
	p := cat.Providers[0]
	want := http.Header{"Http-Referer": {"https://example.com"}, "X-Title": {"secret-title"}}
	if got := p.ExtraHeaders(); len(got) != 2 || got.Get("Http-Referer") != want.Get("Http-Referer") || got.Get("X-Title") != "secret-title" {
		t.Errorf("headers %v, want %v", got, want)
	}
	if got := p.ExtraQuery(); got != "a+b=c%26d&api-version=2024-10-21" {
		t.Errorf("query %q", got)
	}

	for _, tc := range []struct {
		name    string
		headers map[string]string
		want    string
	}{
		{"key header", map[string]string{"authorization": "Bearer x"}, "carries the key"},
		{"anthropic key header", map[string]string{"x-api-key": "x"}, "carries the key"},
		{"hop-by-hop", map[string]string{"Connection": "close"}, "router's to set"},
		{"host", map[string]string{"Host": "evil"}, "router's to set"},
		{"bad name", map[string]string{"X Bad": "v"}, "not a valid header name"},
		{"line break", map[string]string{"X-A": "{env.CRLF}"}, "line break"},
	} {
		pc := ProviderConfig{Name: "p", BaseURLs: []string{"http://127.0.0.1:9"}, Models: []ModelRoute{{Name: "m"}}, Headers: tc.headers}
		if tc.name == "anthropic key header" {
			pc.API = "anthropic"
		}
		_, _, err := Build(mapResolver(map[string]string{"{env.CRLF}": "v\r\nX-Injected: secret-crlf"}), Config{Providers: []ProviderConfig{pc}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the error quotes a value: %v", tc.name, err)
		}
	}
}

func TestWildcardProvider(t *testing.T) {
	cat, _ := mustBuild(t, nil, Config{Providers: []ProviderConfig{{
		Name: "openrouter", Keys: []string{"k1", "k2"},
		Models: []ModelRoute{{Name: "fast", Upstream: "meta-llama/llama-3.3-70b-instruct"}, {Name: "*"}},
	}}})
	p := cat.Providers[0]
	if !p.Wildcard || p.WildcardLimit != DefaultWildcardLimit {
		t.Fatalf("wildcard %v limit %d", p.Wildcard, p.WildcardLimit)
	}
	if cat.Lookup("*") != nil || cat.Lookup("openrouter/*") != nil {
		t.Error("* must not be a routable name")
	}
	if len(cat.Models) != 1 {
		t.Errorf("models %v: the wildcard is not a model", cat.Names())
	}
	// A wildcard target is the same real target as a listed model of that id.
	static := cat.Lookup("fast").Targets
	wild := p.WildcardTargets("meta-llama/llama-3.3-70b-instruct")
	if len(wild) != len(static) {
		t.Fatalf("%d wildcard targets, want %d", len(wild), len(static))
	}
	for i := range wild {
		if wild[i].StateID != static[i].StateID || wild[i].KeyStateID != static[i].KeyStateID || wild[i].Label != static[i].Label {
			t.Errorf("target %d: %+v vs %+v", i, wild[i], static[i])
		}
		if wild[i].Model != "openrouter/meta-llama/llama-3.3-70b-instruct" {
			t.Errorf("model %q", wild[i].Model)
		}
	}

	for _, bad := range []ProviderConfig{
		{Name: "a", BaseURLs: []string{"http://127.0.0.1:9"}, Models: []ModelRoute{{Name: "*", Upstream: "x"}}},
		{Name: "b", BaseURLs: []string{"http://127.0.0.1:9"}, Models: []ModelRoute{{Name: "*"}, {Name: "*"}}},
		{Name: "c", BaseURLs: []string{"http://127.0.0.1:9"}, Models: []ModelRoute{{Name: "*"}}, WildcardLimit: -1},
	} {
		if _, _, err := Build(nil, Config{Providers: []ProviderConfig{bad}}); err == nil {
			t.Errorf("%s: no error", bad.Name)
		}
	}
}

func TestCheckUpstreamID(t *testing.T) {
	for _, ok := range []string{"meta-llama/llama-3.3-70b-instruct", "qwen2.5:7b", "accounts/fireworks/models/x", "openai/gpt-4o:online", "a@b+c~d_e.f"} {
		if err := CheckUpstreamID(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "/x", "a b", "a\"b", "a\\b", "é", "a\nb", "a%20", strings.Repeat("a", MaxUpstreamIDLength+1)} {
		if CheckUpstreamID(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
