package llmrouter

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile" // registers the caddyfile adapter
	_ "github.com/caddyserver/caddy/v2/modules/standard"          // respond, reverse_proxy, ...
)

// updateAdaptFixtures rewrites the expected JSON of every fixture with what the adapter
// produces now: `go test -run TestAdaptFixtures -update-adapt .`, then review the diff.
var updateAdaptFixtures = flag.Bool("update-adapt", false, "rewrite testdata/caddyfile_adapt expectations")

const adaptSeparator = "\n----------\n"

// adaptCaddyfile runs a Caddyfile through the caddyfile adapter as `caddy adapt` does.
func adaptCaddyfile(t testing.TB, caddyfileText string) []byte {
	t.Helper()
	adapter := caddyconfig.GetAdapter("caddyfile")
	if adapter == nil {
		t.Fatal("caddyfile adapter not registered")
	}
	out, warnings, err := adapter.Adapt([]byte(caddyfileText), nil)
	if err != nil {
		t.Fatalf("adapt: %v", err)
	}
	for _, w := range warnings {
		t.Logf("adapt warning: %s:%d %s: %s", w.File, w.Line, w.Directive, w.Message)
	}
	return out
}

func indentJSON(t testing.TB, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "\t"); err != nil {
		t.Fatalf("indent %s: %v", b, err)
	}
	return buf.String()
}

// TestAdaptFixtures adapts each testdata/caddyfile_adapt/*.caddyfiletest (a Caddyfile, a line
// of ten dashes, the expected JSON) and compares the JSON structurally.
func TestAdaptFixtures(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "caddyfile_adapt", "*.caddyfiletest"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 5 {
		t.Fatalf("found only %d fixtures: %v", len(files), files)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".caddyfiletest"), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			input, expected, ok := strings.Cut(string(raw), adaptSeparator)
			if !ok {
				t.Fatalf("%s: no %q separator line", file, strings.TrimSpace(adaptSeparator))
			}
			got := indentJSON(t, adaptCaddyfile(t, input+"\n"))
			if *updateAdaptFixtures {
				if err := os.WriteFile(file, []byte(input+adaptSeparator+got+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			var want, have any
			if err := json.Unmarshal([]byte(expected), &want); err != nil {
				t.Fatalf("%s: expected JSON does not parse: %v", file, err)
			}
			if err := json.Unmarshal([]byte(got), &have); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(want, have) {
				t.Errorf("%s: adapted JSON differs\n--- got ---\n%s\n--- want ---\n%s", file, got, strings.TrimSpace(expected))
			}
		})
	}
}

// firstServerRoutes returns the routes of the (only) server of an adapted config.
func firstServerRoutes(t *testing.T, adapted []byte) []map[string]any {
	t.Helper()
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Routes []map[string]any `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(adapted, &cfg); err != nil {
		t.Fatal(err)
	}
	for _, srv := range cfg.Apps.HTTP.Servers {
		return srv.Routes
	}
	t.Fatalf("no server in %s", adapted)
	return nil
}

// handlerNames lists the "handler" names of a site's routes, descending into subroutes.
func handlerNames(routes []map[string]any) []string {
	var names []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if name, ok := x["handler"].(string); ok {
				names = append(names, name)
			}
			for _, k := range []string{"routes", "handle"} {
				walk(x[k])
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	for _, r := range routes {
		walk(map[string]any(r))
	}
	return names
}

// TestAdaptOrderBeforeReverseProxy: the directive is ordered before reverse_proxy, whatever
// the order in the site block, so the router sees /v1/ requests first and passes the rest on.
func TestAdaptOrderBeforeReverseProxy(t *testing.T) {
	for _, site := range []string{
		"reverse_proxy 127.0.0.1:9000\nllm_router {\nprovider p {\nbase_url http://x/v1\n}\n}",
		"llm_router {\nprovider p {\nbase_url http://x/v1\n}\n}\nreverse_proxy 127.0.0.1:9000",
	} {
		names := handlerNames(firstServerRoutes(t, adaptCaddyfile(t, ":8080 {\n"+site+"\n}")))
		ri, pi := -1, -1
		for i, n := range names {
			switch n {
			case "llm_router":
				ri = i
			case "reverse_proxy":
				pi = i
			}
		}
		if ri < 0 || pi < 0 || ri > pi {
			t.Errorf("handlers %v: llm_router must come before reverse_proxy\n%s", names, site)
		}
	}
}

// TestAdaptKeepsEnvPlaceholders: `{env.X}` is resolved at provision time, so the adapted JSON
// (which `caddy adapt` prints and the admin API serves) holds the placeholder, never the secret.
// `{$X}` is the contrast: the adapter substitutes it, which is why the docs forbid it for keys.
func TestAdaptKeepsEnvPlaceholders(t *testing.T) {
	const secret = "gsk-adapt-test-secret-0123456789"
	t.Setenv("GROQ_KEY", secret)
	t.Setenv("ALICE_KEY", secret+"-alice")
	out := string(adaptCaddyfile(t, `:8080 {
	llm_router {
		provider groq {
			base_url https://api.groq.com/openai/v1
			keys {env.GROQ_KEY}
			model llama-3.3-70b llama-3.3-70b-versatile
		}
		auth {
			key alice {env.ALICE_KEY}
		}
	}
}`))
	if strings.Contains(out, secret) {
		t.Errorf("adapted JSON holds the secret: %s", out)
	}
	for _, want := range []string{`"keys":["{env.GROQ_KEY}"]`, `"key":"{env.ALICE_KEY}"`} {
		if !strings.Contains(out, want) {
			t.Errorf("adapted JSON lacks %s: %s", want, out)
		}
	}

	baked := string(adaptCaddyfile(t, ":8080 {\nllm_router {\nprovider groq {\nbase_url https://api.groq.com/openai/v1\nkeys {$GROQ_KEY}\n}\n}\n}"))
	if !strings.Contains(baked, secret) {
		t.Errorf("expected {$GROQ_KEY} to be substituted at adapt time (the documented pitfall): %s", baked)
	}
}
