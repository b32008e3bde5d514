package llmrouter

import (
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/llmrouter/caddy-llm-router/catalog"
	vroute "github.com/llmrouter/caddy-llm-router/route"
	"github.com/llmrouter/caddy-llm-router/transport"
)

func TestInlineProviderSyntax(t *testing.T) {
	h, err := parseRouter(`llm_router {
		provider groq {env.GROQ_A} {env.GROQ_B} llama-3.3-70b=llama-3.3-70b-versatile fast
		provider openrouter {env.OR} * discover {
			header X-Title app
			discover {
				include qwen/*
				prefix or/
				interval 10m
			}
			health_check {
				interval 30s
				concurrency 2
				path /auth/key
			}
			first_event_timeout 2m
		}
		provider ollama *
	}`)
	if err != nil {
		t.Fatal(err)
	}
	want := []catalog.ProviderConfig{
		{Name: "groq", Keys: []string{"{env.GROQ_A}", "{env.GROQ_B}"}, Models: []catalog.ModelRoute{
			{Name: "llama-3.3-70b", Upstream: "llama-3.3-70b-versatile"}, {Name: "fast"}}},
		{Name: "openrouter", Keys: []string{"{env.OR}"}, Models: []catalog.ModelRoute{{Name: "*"}},
			Headers:           map[string]string{"X-Title": "app"},
			Discover:          &catalog.DiscoverConfig{Include: []string{"qwen/*"}, Prefix: "or/", Interval: transport.Duration(600e9)},
			HealthCheck:       &catalog.HealthCheckConfig{Interval: transport.Duration(30e9), Concurrency: 2, Path: "/auth/key"},
			FirstEventTimeout: transport.Duration(120e9)},
		{Name: "ollama", Models: []catalog.ModelRoute{{Name: "*"}}},
	}
	if !reflect.DeepEqual(h.Providers, want) {
		t.Fatalf("got  %+v\nwant %+v", h.Providers, want)
	}
	for _, bad := range []string{
		"llm_router {\n provider groq a=b=c\n}",
		"llm_router {\n provider groq =x\n}",
		"llm_router {\n provider p {\n base_url http://x\n discover extra\n }\n}",
		"llm_router {\n provider p {\n base_url http://x\n discover {\n bogus 1\n }\n }\n}",
		"llm_router {\n provider p {\n base_url http://x\n health_check {\n interval soon\n }\n }\n}",
		"llm_router {\n model m {\n default max_tokens\n }\n}",
		"llm_router {\n model m {\n default temperature hot\n }\n}",
	} {
		if _, err := parseRouter(bad); err == nil {
			t.Errorf("no error for %q", bad)
		}
	}
}

func TestModelBlockMetadataSyntax(t *testing.T) {
	h, err := parseRouter(`llm_router {
		price_file /a.json /b.json
		model m {
			cache_read_price 0.3
			cache_write_price 3.75
			max_output 64000
			supports tools vision
			default max_tokens 1024
			default reasoning_effort "low"
			default response_format ` + "`" + `{"type":"json_object"}` + "`" + `
		}
	}`)
	if err != nil {
		t.Fatal(err)
	}
	m := h.Models[0]
	if m.CacheReadPrice != 0.3 || m.CacheWritePrice != 3.75 || m.MaxOutput != 64000 || len(m.Supports) != 2 ||
		string(m.Defaults["max_tokens"]) != "1024" || string(m.Defaults["reasoning_effort"]) != `"low"` ||
		string(m.Defaults["response_format"]) != `{"type":"json_object"}` ||
		len(h.PriceFiles) != 2 {
		t.Fatalf("%+v %v", m, h.PriceFiles)
	}
}

// TestModelMetadataTyposAreConfigErrors: a misspelt capability in `supports` made the list
// known and lacking the real word, so `supports tools reasonig` dropped reasoning from every
// request to the model and smart routing kept tool calls away from `supports tool`; a
// misspelt tier was ignored unless a virtual model read it. Both fail the load now, naming
// the word and the known ones, and every known word is one smart routing reads.
func TestModelMetadataTyposAreConfigErrors(t *testing.T) {
	for in, want := range map[string]string{
		"supports tools reasonig": `unknown capability "reasonig"; known: tools, vision, audio, json_schema, reasoning`,
		"supports tool":           `unknown capability "tool"`,
		"tier huge":               `unknown tier "huge"`,
	} {
		h, err := parseRouter("llm_router {\n provider p {\n base_url http://127.0.0.1:1/v1\n model m\n }\n model m {\n " + in + "\n }\n}")
		if err != nil {
			t.Fatalf("%s: parse: %v", in, err)
		}
		if err := provisionErr(h); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), `model "m"`) {
			t.Errorf("%s: provision error %v, want one with %q", in, err, want)
		}
	}
	for _, s := range catalog.SupportNames {
		if _, ok := vroute.ParseCapability(s); !ok {
			t.Errorf("%q is accepted in supports but smart routing does not read it", s)
		}
	}
	h, err := parseRouter("llm_router {\n provider p {\n base_url http://127.0.0.1:1/v1\n model m\n }\n model m {\n supports tools vision audio json_schema reasoning\n tier large\n }\n}")
	if err != nil {
		t.Fatal(err)
	}
	newTestRouter(t, h) // every known word loads
}

// TestInlineLiteralKeyRefused: `provider mine {$MINE_KEY} m` looks like a key reference, but
// the Caddyfile adapter replaces {$NAME} by its value before the router reads the line, so
// the key arrived as an inline model name and was listed on the public /v1/models. An inline
// argument that reads as a well-known service's key is a config error that never quotes it.
func TestInlineLiteralKeyRefused(t *testing.T) {
	const key = "sk-or-v1-7d3b9e1c5a8f2d4b6e0a9c1f"
	t.Setenv("LLMR_INLINE_KEY", key)
	for _, line := range []string{"provider mine {$LLMR_INLINE_KEY} m", "provider groq m {$LLMR_INLINE_KEY}", "provider mine gsk_4hG7kL2mN9pQ5rT8vW1xY3zA6"} {
		_, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(":8080 {\n\tllm_router {\n\t\t"+line+" {\n\t\t\tbase_url http://127.0.0.1:1/v1\n\t\t}\n\t}\n}\n"), nil)
		if err == nil || !strings.Contains(err.Error(), "looks like a literal key") || !strings.Contains(err.Error(), ":3") {
			t.Errorf("%s: %v, want an error at line 3 about a literal key", line, err)
		}
		if err != nil && (strings.Contains(err.Error(), key[8:20]) || strings.Contains(err.Error(), "4hG7kL2mN9")) {
			t.Errorf("%s: the error quotes the key: %v", line, err)
		}
	}
	// Model names that merely start like a prefix, and placeholders, still parse.
	h, err := parseRouter("llm_router {\n provider mine {env.LLMR_INLINE_KEY} sk-small fw_tiny=fw-up {\n base_url http://127.0.0.1:1/v1\n }\n}")
	if err != nil || len(h.Providers) != 1 || len(h.Providers[0].Models) != 2 {
		t.Fatalf("short names: %v %+v", err, h)
	}
}
