package llmrouter

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

func parseRouter(input string) (*Handler, error) {
	h := new(Handler)
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
	return h, err
}

func TestCaddyfileOptions(t *testing.T) {
	localLlama := catalog.ProviderConfig{
		Name:     "local",
		BaseURLs: []string{"http://127.0.0.1:11434/v1"},
		Models:   []catalog.ModelRoute{{Name: "llama3.2"}},
	}
	localBlock := `provider local {
			base_url http://127.0.0.1:11434/v1
			model llama3.2
		}`
	dur := func(d time.Duration) caddy.Duration { return caddy.Duration(d) }

	tests := []struct {
		name  string
		input string
		want  Handler
	}{
		{
			name:  "empty block",
			input: `llm_router`,
			want:  Handler{},
		},
		{
			name:  "empty braces",
			input: "llm_router {\n}",
			want:  Handler{},
		},
		{
			name: "catalog repeatable, several paths a line",
			input: `llm_router {
				catalog /etc/caddy/a.json /etc/caddy/b.json
				catalog {env.CATALOG}
			}`,
			want: Handler{Catalogs: []string{"/etc/caddy/a.json", "/etc/caddy/b.json", "{env.CATALOG}"}},
		},
		{
			name: "sizes",
			input: `llm_router {
				max_body 10MiB
				max_response 1.5KiB
			}`,
			want: Handler{MaxBody: 10 << 20, MaxResponse: 1536},
		},
		{
			name: "sizes: SI units and bare bytes",
			input: `llm_router {
				max_body 2MB
				max_response 4096
			}`,
			want: Handler{MaxBody: 2_000_000, MaxResponse: 4096},
		},
		{
			name: "strategy and attempts",
			input: `llm_router {
				strategy priority
				attempts 3
			}`,
			want: Handler{Strategy: "priority", Attempts: 3},
		},
		{
			name:  "attempts 0 means default",
			input: "llm_router {\n attempts 0\n}",
			want:  Handler{},
		},
		{
			name: "every duration",
			input: `llm_router {
				try_duration 45s
				cooldown 90s
				max_cooldown 15m
				dial_timeout 500ms
				response_header_timeout 2m
				first_event_timeout 20s
				stream_idle_timeout 1m30s
			}`,
			want: Handler{
				TryDuration:           dur(45 * time.Second),
				Cooldown:              dur(90 * time.Second),
				MaxCooldown:           dur(15 * time.Minute),
				DialTimeout:           dur(500 * time.Millisecond),
				ResponseHeaderTimeout: dur(2 * time.Minute),
				FirstEventTimeout:     dur(20 * time.Second),
				StreamIdleTimeout:     dur(90 * time.Second),
			},
		},
		{
			name:  "duration in days (caddy.ParseDuration)",
			input: "llm_router {\n max_cooldown 1d\n}",
			want:  Handler{MaxCooldown: dur(24 * time.Hour)},
		},
		{
			name:  "include_usage",
			input: "llm_router {\n include_usage\n}",
			want:  Handler{IncludeUsage: true},
		},
		{
			name:  "minimal provider: no key, model without upstream id",
			input: "llm_router {\n" + localBlock + "\n}",
			want:  Handler{Providers: []catalog.ProviderConfig{localLlama}},
		},
		{
			name: "provider with every subdirective",
			input: `llm_router {
				provider groq {
					base_url https://api.groq.com/openai/v1 https://eu.groq.example/v1
					base_url https://backup.groq.example/v1
					keys {env.GROQ_API_KEYS} {file./run/secrets/groq}
					keys {env.GROQ_SPARE}
					keys_file /run/secrets/groq_keys
					key_header x-api-key
					model llama-3.3-70b llama-3.3-70b-versatile
					model llama-3.1-8b llama-3.1-8b
					model whisper
					weight 3
					sse_keep_event_names
					sse_keep_comments
				}
			}`,
			want: Handler{Providers: []catalog.ProviderConfig{{
				Name: "groq",
				BaseURLs: []string{"https://api.groq.com/openai/v1", "https://eu.groq.example/v1",
					"https://backup.groq.example/v1"},
				Keys:      []string{"{env.GROQ_API_KEYS}", "{file./run/secrets/groq}", "{env.GROQ_SPARE}"},
				KeysFile:  "/run/secrets/groq_keys",
				KeyHeader: "x-api-key",
				Models: []catalog.ModelRoute{
					{Name: "llama-3.3-70b", Upstream: "llama-3.3-70b-versatile"},
					{Name: "llama-3.1-8b"}, // same id twice: no upstream override
					{Name: "whisper"},
				},
				Weight:            3,
				SSEKeepEventNames: true,
				SSEKeepComments:   true,
			}}},
		},
		{
			name: "anthropic provider",
			input: `llm_router {
				provider anthropic {
					api anthropic
					anthropic_version 2023-06-01
					base_url https://api.anthropic.com/v1
					keys {env.ANTHROPIC_API_KEY}
					model claude-sonnet claude-sonnet-4-5
				}
			}`,
			want: Handler{Providers: []catalog.ProviderConfig{{
				Name: "anthropic", API: "anthropic", AnthropicVersion: "2023-06-01",
				BaseURLs: []string{"https://api.anthropic.com/v1"},
				Keys:     []string{"{env.ANTHROPIC_API_KEY}"},
				Models:   []catalog.ModelRoute{{Name: "claude-sonnet", Upstream: "claude-sonnet-4-5"}},
			}}},
		},
		{
			name: "several providers keep config order",
			input: `llm_router {
				provider b {
					base_url http://b.example/v1
					model m mb
				}
				provider a {
					base_url http://a.example/v1
					model m
				}
			}`,
			want: Handler{Providers: []catalog.ProviderConfig{
				{Name: "b", BaseURLs: []string{"http://b.example/v1"}, Models: []catalog.ModelRoute{{Name: "m", Upstream: "mb"}}},
				{Name: "a", BaseURLs: []string{"http://a.example/v1"}, Models: []catalog.ModelRoute{{Name: "m"}}},
			}},
		},
		{
			name: "model metadata",
			input: `llm_router {
				model llama-3.3-70b {
					description Meta Llama 3.3   70B "(versatile)"
					context_length 131072
					input_price 0.59
					output_price 0.79
					strategy weighted
				}
				model bare
			}`,
			want: Handler{Models: []catalog.ModelInfo{
				{
					Name:          "llama-3.3-70b",
					Description:   "Meta Llama 3.3 70B (versatile)",
					ContextLength: 131072,
					InputPrice:    0.59,
					OutputPrice:   0.79,
					Strategy:      "weighted",
				},
				{Name: "bare"},
			}},
		},
		{
			name: "aliases with and without a block",
			input: `llm_router {
				alias fast groq/llama-3.1-8b local/llama3.2
				alias smart llama-3.3-70b {
					strategy priority
				}
			}`,
			want: Handler{Aliases: []catalog.AliasConfig{
				{Name: "fast", Targets: []string{"groq/llama-3.1-8b", "local/llama3.2"}},
				{Name: "smart", Targets: []string{"llama-3.3-70b"}, Strategy: "priority"},
			}},
		},
		{
			name: "auth with keys, scopes, rpm and public paths",
			input: `llm_router {
				auth {
					key alice {env.ALICE_GATEWAY_KEY} {
						models fast llama-3.3-70b
						models smart
						rpm 100
					}
					key ci {file./run/secrets/ci_gateway_key}
					public /health /v1/models
					public /status/*
				}
			}`,
			want: Handler{Auth: &AuthConfig{
				Keys: []GatewayKey{
					{Name: "alice", Key: "{env.ALICE_GATEWAY_KEY}", Models: []string{"fast", "llama-3.3-70b", "smart"}, RPM: 100},
					{Name: "ci", Key: "{file./run/secrets/ci_gateway_key}"},
				},
				Public: []string{"/health", "/v1/models", "/status/*"},
			}},
		},
		{
			name:  "empty auth block turns auth on with nothing in it",
			input: "llm_router {\n auth\n}",
			want:  Handler{Auth: &AuthConfig{}},
		},
		{
			name: "two auth blocks merge",
			input: `llm_router {
				auth {
					key a {env.A}
				}
				auth {
					key b {env.B}
				}
			}`,
			want: Handler{Auth: &AuthConfig{Keys: []GatewayKey{{Name: "a", Key: "{env.A}"}, {Name: "b", Key: "{env.B}"}}}},
		},
		{
			name: "status and models pages",
			input: `llm_router {
				status_page /llm/status
				models_page /llm/models
			}`,
			want: Handler{StatusPage: "/llm/status", ModelsPage: "/llm/models"},
		},
		{
			name: "cors one line, repeatable",
			input: `llm_router {
				cors https://chat.example.com http://localhost:5173
				cors {env.APP_ORIGIN}
			}`,
			want: Handler{CORS: &CORSConfig{Origins: []string{"https://chat.example.com", "http://localhost:5173", "{env.APP_ORIGIN}"}}},
		},
		{
			name: "cors block",
			input: `llm_router {
				cors * {
					allow_headers X-Session-Id X-Trace
					max_age 10m
				}
			}`,
			want: Handler{CORS: &CORSConfig{Origins: []string{"*"}, AllowHeaders: []string{"X-Session-Id", "X-Trace"}, MaxAge: dur(10 * time.Minute)}},
		},
		{
			name: "allow repeatable",
			input: `llm_router {
				allow 10.0.0.0/8 192.168.1.0/24
				allow 127.0.0.1
			}`,
			want: Handler{Allow: []string{"10.0.0.0/8", "192.168.1.0/24", "127.0.0.1"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRouter(tt.input)
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				g, _ := json.MarshalIndent(got, "", "  ")
				w, _ := json.MarshalIndent(tt.want, "", "  ")
				t.Errorf("parsed\n%s\nwant\n%s", g, w)
			}
		})
	}
}

// TestCaddyfileEverythingAtOnce parses one block with every option, so options that share a
// block cannot interfere with each other (a sub-block that eats its parent's next line would
// show here).
func TestCaddyfileEverythingAtOnce(t *testing.T) {
	h, err := parseRouter(`llm_router {
		catalog /a.json
		provider p {
			base_url http://p.example/v1
			keys {env.P}
			model m mp
		}
		max_body 1MiB
		alias fast m {
			strategy priority
		}
		max_response 2MiB
		model m {
			context_length 8
		}
		strategy weighted
		auth {
			key k {env.K} {
				rpm 5
			}
		}
		attempts 2
		allow 10.0.0.0/8
		include_usage
	}`)
	if err != nil {
		t.Fatal(err)
	}
	if h.MaxBody != 1<<20 || h.MaxResponse != 2<<20 || h.Strategy != "weighted" || h.Attempts != 2 ||
		!h.IncludeUsage || len(h.Allow) != 1 || len(h.Catalogs) != 1 {
		t.Errorf("top-level options after sub-blocks were lost: %+v", h)
	}
	if len(h.Providers) != 1 || len(h.Aliases) != 1 || len(h.Models) != 1 || h.Auth == nil || len(h.Auth.Keys) != 1 {
		t.Fatalf("blocks: %+v", h)
	}
	if h.Aliases[0].Strategy != "priority" || h.Models[0].ContextLength != 8 || h.Auth.Keys[0].RPM != 5 {
		t.Errorf("sub-block options: %+v %+v %+v", h.Aliases[0], h.Models[0], h.Auth.Keys[0])
	}
}

func TestCaddyfileErrors(t *testing.T) {
	tests := []struct {
		name  string
		input string
		// want are substrings the error must contain: the offending token, so the user can find it.
		want []string
	}{
		{"argument on the directive", `llm_router foo`, []string{"foo"}},
		{"unknown option", "llm_router {\n frobnicate 3\n}", []string{"unrecognized llm_router option", "frobnicate", ":2"}},
		{"unknown provider option", `llm_router {
			provider groq {
				base_url http://x/v1
				api_key sk-1
			}
		}`, []string{"unrecognized provider option", "api_key", ":4"}},
		{"unknown model option", `llm_router {
			model m {
				price 3
			}
		}`, []string{"unrecognized model option", "price"}},
		{"unknown alias option", `llm_router {
			alias fast m {
				weight 2
			}
		}`, []string{"unrecognized alias option", "weight"}},
		{"unknown auth option", `llm_router {
			auth {
				token abc
			}
		}`, []string{"unrecognized auth option", "token"}},
		{"unknown key option", `llm_router {
			auth {
				key alice {env.A} {
					burst 3
				}
			}
		}`, []string{"unrecognized key option", "burst"}},
		{"missing base_url", `llm_router {
			provider mygroq {
				keys {env.GROQ}
				model m
			}
		}`, []string{"mygroq", "base_url"}},
		{"empty provider", "llm_router {\n provider mygroq\n}", []string{"mygroq", "base_url"}},
		{"unknown preset", "llm_router {\n provider mine {\n preset nope\n model m\n }\n}", []string{"unknown preset 'nope'", "groq", "ollama"}},
		{"header without a value", "llm_router {\n provider groq {\n header X-Title\n }\n}", []string{"header takes a name and a value"}},
		{"header twice", "llm_router {\n provider groq {\n header X-Title a\n header x-title b\n }\n}", []string{"header 'x-title' given twice"}},
		{"provider without a name", "llm_router {\n provider\n}", []string{"provider"}},
		// `provider a b` is the one-line form (model b); a malformed inline model is an error.
		{"bad inline model", "llm_router {\n provider a b=c=d {\n base_url http://x\n }\n}", []string{"inline argument"}},
		{"duplicate provider", `llm_router {
			provider groq {
				base_url http://a/v1
			}
			provider groq {
				base_url http://b/v1
			}
		}`, []string{"groq", "twice", ":5"}},
		{"bad duration", "llm_router {\n cooldown 10 minutes\n}", []string{"minutes"}},
		{"bad duration word", "llm_router {\n try_duration soon\n}", []string{"bad duration", "soon"}},
		{"zero duration", "llm_router {\n max_cooldown 0s\n}", []string{"bad duration", "0s"}},
		{"negative duration", "llm_router {\n dial_timeout -5s\n}", []string{"bad duration", "-5s"}},
		{"duration missing", "llm_router {\n first_event_timeout\n}", []string{"first_event_timeout"}},
		{"bad size", "llm_router {\n max_body lots\n}", []string{"bad size", "lots"}},
		{"negative size", "llm_router {\n max_response -1MiB\n}", []string{"bad size", "-1MiB"}},
		{"zero size", "llm_router {\n max_body 0\n}", []string{"bad size", "'0'"}},
		{"absurd size", "llm_router {\n max_body 2TiB\n}", []string{"bad size", "2TiB"}},
		{"negative int", "llm_router {\n attempts -1\n}", []string{"attempts", "-1"}},
		{"non-numeric int", "llm_router {\n attempts many\n}", []string{"attempts", "many"}},
		{"fractional int", "llm_router {\n attempts 2.5\n}", []string{"attempts", "2.5"}},
		{"negative weight", "llm_router {\n provider p {\n base_url http://x\n weight -2\n }\n}", []string{"weight", "-2"}},
		{"non-numeric context_length", "llm_router {\n model m {\n context_length 128k\n }\n}", []string{"context_length", "128k"}},
		{"non-numeric rpm", "llm_router {\n auth {\n key a {env.A} {\n rpm fast\n }\n }\n}", []string{"rpm", "fast"}},
		{"negative price", "llm_router {\n model m {\n input_price -0.5\n }\n}", []string{"-0.5"}},
		{"non-numeric price", "llm_router {\n model m {\n output_price cheap\n }\n}", []string{"cheap"}},
		{"NaN price", "llm_router {\n model m {\n input_price NaN\n }\n}", []string{"NaN"}},
		{"infinite price", "llm_router {\n model m {\n output_price +Inf\n }\n}", []string{"+Inf"}},
		{"args on include_usage", "llm_router {\n include_usage yes\n}", []string{"yes"}},
		{"args on sse_keep_event_names", "llm_router {\n provider p {\n base_url http://x\n sse_keep_event_names on\n }\n}", []string{"on"}},
		{"bad responses value", "llm_router {\n provider p {\n base_url http://x\n responses maybe\n }\n}", []string{"maybe"}},
		{"two responses values", "llm_router {\n provider p {\n base_url http://x\n responses on off\n }\n}", []string{"off"}},
		{"args on sse_keep_comments", "llm_router {\n provider p {\n base_url http://x\n sse_keep_comments 1\n }\n}", []string{"'1'"}},
		{"args on auth", "llm_router {\n auth strict\n}", []string{"strict"}},
		{"two strategies", "llm_router {\n strategy priority weighted\n}", []string{"weighted"}},
		{"two apis", "llm_router {\n provider p {\n base_url http://x\n api openai anthropic\n }\n}", []string{"anthropic"}},
		{"two key headers", "llm_router {\n provider p {\n base_url http://x\n key_header a b\n }\n}", []string{"b"}},
		{"two keys files", "llm_router {\n provider p {\n base_url http://x\n keys_file /a /b\n }\n}", []string{"/b"}},
		{"status_page without a path", "llm_router {\n status_page\n}", []string{"status_page"}},
		{"models_page with two paths", "llm_router {\n models_page /a /b\n}", []string{"/b"}},
		{"catalog without a path", "llm_router {\n catalog\n}", []string{"catalog"}},
		{"allow without a range", "llm_router {\n allow\n}", []string{"allow"}},
		{"keys without a reference", "llm_router {\n provider p {\n base_url http://x\n keys\n }\n}", []string{"keys"}},
		{"base_url without a url", "llm_router {\n provider p {\n base_url\n }\n}", []string{"base_url"}},
		{"model with 0 args", "llm_router {\n provider p {\n base_url http://x\n model\n }\n}", []string{"model", ":4"}},
		{"model with 3 args", "llm_router {\n provider p {\n base_url http://x\n model a b c\n }\n}", []string{"model", `"c"`, ":4"}},
		{"model block without a name", "llm_router {\n model {\n context_length 3\n }\n}", []string{"model"}},
		{"model block with two names", "llm_router {\n model a b\n}", []string{"b"}},
		{"description without words", "llm_router {\n model m {\n description\n }\n}", []string{"description", ":3"}},
		{"alias with no member", "llm_router {\n alias fast\n}", []string{"alias", "member", "fast", ":2"}},
		{"alias with nothing", "llm_router {\n alias\n}", []string{"alias", "member"}},
		{"key with a missing reference", "llm_router {\n auth {\n key alice\n }\n}", []string{"key", "reference", ":3"}},
		{"key with too many args", "llm_router {\n auth {\n key alice {env.A} extra\n }\n}", []string{"key", "reference", "3 arguments"}},
		{"models without names", "llm_router {\n auth {\n key a {env.A} {\n models\n }\n }\n}", []string{"models"}},
		{"public without paths", "llm_router {\n auth {\n public\n }\n}", []string{"public"}},
		{"cors without origins", "llm_router {\n cors\n}", []string{"cors", "origins"}},
		{"cors origin with a path", "llm_router {\n cors https://app.example/chat\n}", []string{"https://app.example/chat", "write https://app.example", ":2"}},
		{"cors unknown option", "llm_router {\n cors * {\n credentials\n }\n}", []string{"credentials"}},
		{"cors max_age without a duration", "llm_router {\n cors * {\n max_age\n }\n}", []string{"max_age"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseRouter(tt.input)
			if err == nil {
				t.Fatalf("no error for\n%s", tt.input)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestCaddyfileErrorsNeverEchoKeys: a key written literally (allowed, though discouraged) must
// not show up in a parse error, which Caddy logs and the admin API returns.
func TestCaddyfileErrorsNeverEchoKeys(t *testing.T) {
	const secret = "sk-literal-secret-in-caddyfile"
	for _, input := range []string{
		"llm_router {\n auth {\n key alice " + secret + " extra\n }\n}",
		"llm_router {\n auth {\n key " + secret + "\n }\n}",
	} {
		_, err := parseRouter(input)
		if err == nil {
			t.Fatalf("no error for %q", input)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error echoes the key: %v", err)
		}
	}
}

// TestCaddyfileParsedConfigProvisions checks that what the parser produces is what Provision
// expects: a parsed Caddyfile with keys from the environment routes a request.
func TestCaddyfileParsedConfigProvisions(t *testing.T) {
	up := newFakeUpstream(t, okChat)
	t.Setenv("LLMR_CADDYFILE_TEST_KEY", "sk-from-env")
	h, err := parseRouter(`llm_router {
		attempts 2
		provider p {
			base_url ` + up.URL + `/v1
			keys {env.LLMR_CADDYFILE_TEST_KEY}
			model m upstream-m
		}
		alias fast p/m
	}`)
	if err != nil {
		t.Fatal(err)
	}
	tr := newTestRouter(t, h)
	rec := tr.chat(`{"model":"fast","messages":[]}`)
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	got := up.received()
	if len(got) != 1 || got[0].Header.Get("Authorization") != "Bearer sk-from-env" ||
		!strings.Contains(string(got[0].Body), `"upstream-m"`) {
		t.Errorf("upstream got %+v", got)
	}
}

func TestCaddyfileResponses(t *testing.T) {
	for in, want := range map[string]bool{"responses": true, "responses on": true, "responses off": false} {
		h, err := parseRouter("llm_router {\n provider p {\n base_url http://x\n " + in + "\n model m\n }\n}")
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if r := h.Providers[0].Responses; r == nil || *r != want {
			t.Errorf("%s: responses %v", in, r)
		}
	}
	h, err := parseRouter("llm_router {\n provider p {\n base_url http://x\n model m\n }\n}")
	if err != nil || h.Providers[0].Responses != nil {
		t.Errorf("unset: %v %v", err, h.Providers[0].Responses)
	}
}
