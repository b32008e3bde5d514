package catalog

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// okProvider is a valid provider; tests break one field at a time.
func okProvider(name string) ProviderConfig {
	return ProviderConfig{
		Name:     name,
		BaseURLs: []string{"https://api.example.com/v1"},
		Keys:     []string{"{env.KEY}"},
		Models:   []ModelRoute{{Name: "m1", Upstream: "up-1"}, {Name: "m2"}},
	}
}

func withProvider(f func(*ProviderConfig)) Config {
	p := okProvider("p")
	f(&p)
	return Config{Providers: []ProviderConfig{p}}
}

func withModels(infos ...ModelInfo) Config {
	return Config{Providers: []ProviderConfig{okProvider("p")}, Models: infos}
}

func withBaseURL(u string) Config {
	return withProvider(func(p *ProviderConfig) { p.BaseURLs = []string{"https://ok.example", u} })
}

var validationTests = []struct {
	name    string
	configs []Config
	wantErr string
}{
	{"provider without a name", []Config{withProvider(func(p *ProviderConfig) { p.Name = "" })}, "provider without a name"},
	{"name with a space", []Config{withProvider(func(p *ProviderConfig) { p.Name = "gr oq" })}, "name may hold only"},
	{"name with a slash", []Config{withProvider(func(p *ProviderConfig) { p.Name = "groq/eu" })}, "name may hold only"},
	{"name with a hash", []Config{withProvider(func(p *ProviderConfig) { p.Name = "groq#1" })}, "name may hold only"},
	{"name with unicode", []Config{withProvider(func(p *ProviderConfig) { p.Name = "grøq" })}, "name may hold only"},
	{"duplicate provider", []Config{{Providers: []ProviderConfig{okProvider("a"), okProvider("b"), okProvider("a")}}}, `provider "a" defined twice`},
	{"duplicate provider across configs", []Config{
		{Providers: []ProviderConfig{okProvider("a")}},
		{Providers: []ProviderConfig{okProvider("a")}},
	}, `provider "a" defined twice`},
	{"duplicate of a skipped provider", []Config{{Providers: []ProviderConfig{
		func() ProviderConfig { p := okProvider("a"); p.Keys = []string{"{env.UNSET}"}; return p }(),
		okProvider("a"),
	}}}, `provider "a" defined twice`},
	{"no base_urls", []Config{withProvider(func(p *ProviderConfig) { p.BaseURLs = nil })}, "at least one base_url"},
	{"ftp scheme", []Config{withBaseURL("ftp://api.example.com")}, "scheme must be http or https"},
	{"no scheme", []Config{withBaseURL("api.example.com/v1")}, "scheme must be http or https"},
	{"missing host", []Config{withBaseURL("https:///v1")}, "missing host"},
	{"unparsable", []Config{withBaseURL("https://api.example.com:port/v1")}, "base_url"},
	{"userinfo", []Config{withBaseURL("https://user:pass@api.example.com/v1")}, "must not carry credentials"},
	{"user only", []Config{withBaseURL("https://user@api.example.com/v1")}, "must not carry credentials"},
	{"query", []Config{withBaseURL("https://api.example.com/v1?key=x")}, "query or fragment"},
	{"fragment", []Config{withBaseURL("https://api.example.com/v1#x")}, "query or fragment"},
	{"no models", []Config{withProvider(func(p *ProviderConfig) { p.Models = nil })}, `provider "p": no models`},
	{"model without a name", []Config{withProvider(func(p *ProviderConfig) { p.Models = append(p.Models, ModelRoute{Upstream: "x"}) })}, "model without a name"},
	{"model listed twice", []Config{withProvider(func(p *ProviderConfig) {
		p.Models = append(p.Models, ModelRoute{Name: "m1", Upstream: "other"})
	})}, `model "m1" listed twice`},
	{"metadata without a name", []Config{withModels(ModelInfo{Description: "x"})}, "metadata without a name"},
	{"duplicate metadata", []Config{withModels(ModelInfo{Name: "m1"}, ModelInfo{Name: "m2"}, ModelInfo{Name: "m1"})}, `model "m1": metadata given twice`},
	{"duplicate metadata across configs", []Config{withModels(ModelInfo{Name: "m1"}), {Models: []ModelInfo{{Name: "m1"}}}}, "metadata given twice"},
	{"negative input price", []Config{withModels(ModelInfo{Name: "m1", InputPrice: -0.01})}, "must not be negative"},
	{"negative output price", []Config{withModels(ModelInfo{Name: "m1", OutputPrice: -1})}, "must not be negative"},
	{"negative context length", []Config{withModels(ModelInfo{Name: "m1", ContextLength: -1})}, "must not be negative"},
	{"missing keys_file", []Config{withProvider(func(p *ProviderConfig) { p.KeysFile = "/nonexistent/catalog-test/keys" })}, "keys_file"},
}

func TestValidation(t *testing.T) {
	res := mapResolver(map[string]string{"{env.KEY}": "k-1"})
	for _, tc := range validationTests {
		t.Run(tc.name, func(t *testing.T) {
			cat, warnings, err := Build(res, tc.configs...)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v; want it to contain %q", err, tc.wantErr)
			}
			if cat != nil || warnings != nil {
				t.Error("a failed Build returned a catalog or warnings")
			}
		})
	}
	// The fixtures are valid once the broken field is gone.
	if _, _, err := Build(res, withProvider(func(*ProviderConfig) {})); err != nil {
		t.Fatalf("base provider fails: %v", err)
	}
	if _, _, err := Build(res, withModels(ModelInfo{Name: "m1", InputPrice: 0, OutputPrice: 0.5, ContextLength: 8192})); err != nil {
		t.Fatalf("base metadata fails: %v", err)
	}
}

// TestSecretsNeverInMessages builds failing and skipping configs around distinctive keys and
// checks that no error or warning names one of them.
func TestSecretsNeverInMessages(t *testing.T) {
	secrets := []string{"sk-SECRET-123", "sk-SECRET-456", "sk-SECRET-FILE-789", "sk-SECRET-URL-000"}
	dir := t.TempDir()
	keysFile := filepath.Join(dir, "keys")
	if err := os.WriteFile(keysFile, []byte("# keys\nsk-SECRET-FILE-789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	res := mapResolver(map[string]string{
		"{env.KEY}":   "sk-SECRET-123",
		"{env.MULTI}": "sk-SECRET-123, sk-SECRET-456",
		"{env.FILE}":  keysFile,
	})
	secretProvider := func(name string) ProviderConfig {
		p := okProvider(name)
		p.Keys = []string{"{env.MULTI}", "sk-SECRET-456"} // a literal key, too
		p.KeysFile = "{env.FILE}"
		return p
	}
	brk := func(f func(*Config)) []Config {
		c := Config{Providers: []ProviderConfig{secretProvider("a"), secretProvider("b")}}
		f(&c)
		return []Config{c}
	}
	cases := map[string][]Config{
		"duplicate provider":      brk(func(c *Config) { c.Providers[1].Name = "a" }),
		"bad name":                brk(func(c *Config) { c.Providers[1].Name = "bad name" }),
		"model twice":             brk(func(c *Config) { c.Providers[1].Models = append(c.Providers[1].Models, ModelRoute{Name: "m1"}) }),
		"no models":               brk(func(c *Config) { c.Providers[1].Models = nil }),
		"keys file missing":       brk(func(c *Config) { c.Providers[1].KeysFile = filepath.Join(dir, "missing") }),
		"keys file is a dir":      brk(func(c *Config) { c.Providers[1].KeysFile = dir }),
		"keys file ref is a key":  brk(func(c *Config) { c.Providers[1].KeysFile = "{env.KEY}" }),
		"negative price":          brk(func(c *Config) { c.Models = []ModelInfo{{Name: "m1", InputPrice: -1}} }),
		"alias unknown member":    brk(func(c *Config) { c.Aliases = []AliasConfig{{Name: "x", Targets: []string{"nope"}}} }),
		"alias cycle":             brk(func(c *Config) { c.Aliases = []AliasConfig{{Name: "x", Targets: []string{"x"}}} }),
		"alias shadows":           brk(func(c *Config) { c.Aliases = []AliasConfig{{Name: "m1", Targets: []string{"m2"}}} }),
		"userinfo in base_url":    brk(func(c *Config) { c.Providers[1].BaseURLs = []string{"https://u:sk-SECRET-URL-000@h.example/v1"} }),
		"userinfo and bad scheme": brk(func(c *Config) { c.Providers[1].BaseURLs = []string{"ftp://u:sk-SECRET-URL-000@h.example/v1"} }),
		"userinfo and no host":    brk(func(c *Config) { c.Providers[1].BaseURLs = []string{"https://u:sk-SECRET-URL-000@/v1"} }),
		"userinfo and bad port":   brk(func(c *Config) { c.Providers[1].BaseURLs = []string{"https://u:sk-SECRET-URL-000@h.example:x/v1"} }),
		"userinfo and query":      brk(func(c *Config) { c.Providers[1].BaseURLs = []string{"https://u:sk-SECRET-URL-000@h.example/v1?a=b"} }),
		"key in query":            brk(func(c *Config) { c.Providers[1].BaseURLs = []string{"https://h.example/v1beta?key=sk-SECRET-URL-000"} }),
		"key in fragment":         brk(func(c *Config) { c.Providers[1].BaseURLs = []string{"https://h.example/v1#sk-SECRET-URL-000"} }),
		// skipping, not failing: warnings only
		"skipped provider and lost names": {{
			Providers: []ProviderConfig{
				secretProvider("a"),
				func() ProviderConfig {
					p := okProvider("gone")
					p.Keys = []string{"{env.UNSET}"}
					p.Models = []ModelRoute{{Name: "gone-model"}}
					return p
				}(),
			},
			Models: []ModelInfo{{Name: "unserved"}},
			Aliases: []AliasConfig{
				{Name: "x", Targets: []string{"gone-model", "gone/gone-model", "m1"}},
				{Name: "y", Targets: []string{"gone-model"}},
			},
		}},
	}
	for name, configs := range cases {
		_, warnings, err := Build(res, configs...)
		var texts []string
		if err != nil {
			texts = append(texts, err.Error())
		}
		texts = append(texts, warnings...)
		if len(texts) == 0 {
			t.Errorf("%s: neither error nor warning, the case tests nothing", name)
		}
		for _, text := range texts {
			for _, s := range secrets {
				// Also catch a key cut at the separator or quoted by %q.
				if strings.Contains(text, s) || strings.Contains(text, strings.TrimPrefix(s, "sk-")) {
					t.Errorf("%s: message %q reveals %q", name, text, s)
				}
			}
		}
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	valid := `{
  "providers": [{
    "name": "groq",
    "base_urls": ["https://api.groq.com/openai/v1"],
    "keys": ["{env.GROQ_API_KEY}"],
    "key_header": "Authorization",
    "models": [{"name": "llama-3.3-70b", "upstream": "llama-3.3-70b-versatile"}],
    "weight": 2,
    "sse_keep_comments": true
  }],
  "models": [{"name": "llama-3.3-70b", "context_length": 131072, "input_price": 0.59, "output_price": 0.79, "strategy": "priority"}],
  "aliases": [{"name": "fast", "targets": ["llama-3.3-70b"], "strategy": "round_robin"}]
}`
	t.Run("valid", func(t *testing.T) {
		cfg, err := LoadFile(write("valid.json", valid))
		if err != nil {
			t.Fatal(err)
		}
		want := Config{
			Providers: []ProviderConfig{{
				Name: "groq", BaseURLs: []string{"https://api.groq.com/openai/v1"}, Keys: []string{"{env.GROQ_API_KEY}"},
				KeyHeader: "Authorization", Models: []ModelRoute{{Name: "llama-3.3-70b", Upstream: "llama-3.3-70b-versatile"}},
				Weight: 2, SSEKeepComments: true,
			}},
			Models:  []ModelInfo{{Name: "llama-3.3-70b", ContextLength: 131072, InputPrice: 0.59, OutputPrice: 0.79, Strategy: "priority"}},
			Aliases: []AliasConfig{{Name: "fast", Targets: []string{"llama-3.3-70b"}, Strategy: "round_robin"}},
		}
		got, _ := json.Marshal(cfg)
		wantJSON, _ := json.Marshal(want)
		if string(got) != string(wantJSON) {
			t.Errorf("loaded\n%s\nwant\n%s", got, wantJSON)
		}
		cat, _ := mustBuild(t, mapResolver(map[string]string{"{env.GROQ_API_KEY}": "gsk-x"}), cfg)
		if r := cat.Lookup("fast"); r == nil || len(r.Targets) != 1 {
			t.Errorf("alias from file: %+v", r)
		}
	})

	bad := []struct {
		name, content, wantErr string
	}{
		{"unknown top-level field", `{"provider": []}`, "unknown field"},
		{"unknown provider field", `{"providers": [{"name": "a", "base_url": "https://x"}]}`, "unknown field"},
		{"unknown model field", `{"models": [{"name": "a", "price": 1}]}`, "unknown field"},
		{"bad JSON", `{"providers": [`, "unexpected EOF"},
		{"wrong type", `{"providers": {"name": "a"}}`, "cannot unmarshal"},
		{"not an object", `[]`, "cannot unmarshal"},
		{"empty file", ``, "EOF"},
		{"trailing data", `{"providers": []} {"aliases": []}`, "after the catalog"},
		{"stray closing brace", `{"providers": []}, "aliases": [{"name": "fast", "targets": ["x"]}]}`, "after the catalog"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			path := write(strings.ReplaceAll(tc.name, " ", "_")+".json", tc.content)
			_, err := LoadFile(path)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v; want it to contain %q", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("err %q does not name the file", err)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		if _, err := LoadFile(filepath.Join(dir, "none.json")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("err = %v; want a not-exist error", err)
		}
	})
}
