package catalog

import (
	"strings"
	"testing"
	"time"

	"github.com/llmrouter/caddy-llm-router/transport"
)

func TestGlob(t *testing.T) {
	for _, c := range []struct {
		pat, s string
		want   bool
	}{
		{"*", "a/b", true}, {"meta-llama/*", "meta-llama/llama-3", true}, {"meta-llama/*", "openai/x", false},
		{"*embed*", "text-embedding-3", true}, {"gpt-?o", "gpt-4o", true}, {"gpt-?o", "gpt-40o", false},
		{"a*b*c", "axxbyyc", true}, {"a*b*c", "axxbyy", false}, {"", "", true}, {"x", "", false},
	} {
		if got := Glob(c.pat, c.s); got != c.want {
			t.Errorf("Glob(%q, %q) = %v", c.pat, c.s, got)
		}
	}
	d := &DiscoverConfig{Include: []string{"openai/*", "meta-llama/*"}, Exclude: []string{"*-preview"}}
	for id, want := range map[string]bool{"openai/gpt-4o": true, "openai/gpt-5-preview": false, "google/gemma": false, "openai/bad id": false} {
		if d.Accept(id) != want {
			t.Errorf("Accept(%q) != %v", id, want)
		}
	}
}

func TestModelsURL(t *testing.T) {
	for _, c := range []struct {
		api, version, page, want string
	}{
		{"openai", "", "", "http://n/v1/models"},
		{"anthropic", "", "", "http://n/v1/models?limit=1000"},
		{"anthropic", "", "m1", "http://n/v1/models?after_id=m1&limit=1000"},
		{"gemini", "", "tok", "http://n/v1/models?pageSize=1000&pageToken=tok"},
		{"azure", "v1", "", "http://n/v1/openai/v1/models"},
	} {
		p := &Provider{API: API(c.api), APIVersion: c.version}
		if got := p.ModelsURL("http://n/v1", c.page); got != c.want {
			t.Errorf("%s: %s, want %s", c.api, got, c.want)
		}
	}
	p := &Provider{API: APIOpenAI, query: "x=1"}
	if got := p.ModelsURL("http://n", ""); got != "http://n/models?x=1" {
		t.Errorf("extra query: %s", got)
	}
}

func TestParseModelListRejectsOtherShapes(t *testing.T) {
	for _, body := range []string{`{}`, `[]`, `{"error":{"message":"x"}}`, `not json`, `[1,"x"]`, `[{"name":"x"}]`, `{"data":{"id":"x"}}`} {
		if _, _, err := ParseModelList(APIOpenAI, []byte(body)); err == nil {
			t.Errorf("%s parsed as a list", body)
		}
		if _, _, err := ParseModelList(APIGemini, []byte(body)); err == nil {
			t.Errorf("%s parsed as a Gemini list", body)
		}
	}
	// Only Anthropic's list pages: the URL of an OpenAI-shaped list has no page to ask for,
	// so its has_more would fetch the same page again.
	paged := []byte(`{"data":[{"id":"a"}],"has_more":true,"first_id":"a","last_id":"a"}`)
	for api, want := range map[API]string{APIAnthropic: "a", APIOpenAI: "", APIAzure: ""} {
		if _, next, err := ParseModelList(api, paged); err != nil || next != want {
			t.Errorf("%s: next page %q, %v; want %q", api, next, err, want)
		}
	}
	ms, _, err := ParseModelList(APIOpenAI, []byte(`{"data":[{"id":"x","pricing":{"prompt":"-1","completion":"0"}}]}`))
	if err != nil || len(ms) != 1 || ms[0].Info.InputPrice != 0 {
		t.Errorf("a varying price (-1) is not unknown: %+v %v", ms, err)
	}
}

func TestDiscoverAndHealthCheckConfig(t *testing.T) {
	base := ProviderConfig{Name: "p", BaseURLs: []string{"http://x/v1"}}
	ok := base
	ok.Discover = &DiscoverConfig{}
	ok.HealthCheck = &HealthCheckConfig{}
	ok.FirstEventTimeout = transport.Duration(90 * time.Second)
	cat, _, err := Build(nil, Config{Providers: []ProviderConfig{ok}})
	if err != nil {
		t.Fatal(err)
	}
	p := cat.Providers[0]
	if time.Duration(p.Discover.Interval) != DefaultDiscoverInterval || time.Duration(p.Discover.Timeout) != DefaultDiscoverTimeout ||
		p.HealthCheck.Concurrency != DefaultHealthConcurrency || p.FirstEventTimeout != 90*time.Second {
		t.Fatalf("defaults: %+v %+v %v", p.Discover, p.HealthCheck, p.FirstEventTimeout)
	}
	for name, mod := range map[string]func(*ProviderConfig){
		"no models":         func(pc *ProviderConfig) {},
		"azure deployments": func(pc *ProviderConfig) { pc.API, pc.Discover = "azure", &DiscoverConfig{} },
		"short interval": func(pc *ProviderConfig) {
			pc.Discover = &DiscoverConfig{Interval: transport.Duration(time.Millisecond)}
		},
		"short probe": func(pc *ProviderConfig) {
			pc.HealthCheck = &HealthCheckConfig{Interval: transport.Duration(time.Millisecond)}
		},
		"bad prefix":         func(pc *ProviderConfig) { pc.Discover = &DiscoverConfig{Prefix: "a b"} },
		"negative timeout":   func(pc *ProviderConfig) { pc.Models, pc.StreamIdleTimeout = []ModelRoute{{Name: "m"}}, -1 },
		"empty include glob": func(pc *ProviderConfig) { pc.Discover = &DiscoverConfig{Include: []string{""}} },
	} {
		pc := base
		mod(&pc)
		if _, _, err := Build(nil, Config{Providers: []ProviderConfig{pc}}); err == nil {
			t.Errorf("%s: no error", name)
		} else if strings.Contains(err.Error(), "panic") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
