package catalog

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// mapResolver resolves placeholders ("{...}") from a map, as Caddy's replacer would: an unknown
// placeholder resolves to "", like an unset environment variable. Anything else is a literal.
func mapResolver(m map[string]string) Resolver {
	return func(ref string) string {
		if strings.HasPrefix(ref, "{") {
			return m[ref]
		}
		return ref
	}
}

// mustBuild builds or fails the test.
func mustBuild(t testing.TB, resolve Resolver, configs ...Config) (*Catalog, []string) {
	t.Helper()
	cat, warnings, err := Build(resolve, configs...)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if cat == nil {
		t.Fatal("Build returned a nil catalog without an error")
	}
	return cat, warnings
}

// fingerprint is the documented fingerprint: 8 hex digits of the key's SHA-256.
func fingerprint(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])[:8]
}

// tdesc describes a target by the fields a reader checks, for readable diffs.
func tdesc(t *Target) string {
	return fmt.Sprintf("%s %s %s->%s key=%q", t.Label, t.Node, t.Model, t.Upstream, t.Key())
}

func tdescs(ts []*Target) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = tdesc(t)
	}
	return out
}

// filterTargets returns the catalog's targets (in catalog order) that match keep.
func filterTargets(cat *Catalog, keep func(*Target) bool) []*Target {
	var out []*Target
	for _, t := range cat.Targets {
		if keep(t) {
			out = append(out, t)
		}
	}
	return out
}

func of(provider, model string) func(*Target) bool {
	return func(t *Target) bool { return t.Provider.Name == provider && t.Model == model }
}

func TestTargetCount(t *testing.T) {
	tests := []struct {
		name  string
		nodes int
		keys  string // the one resolved key value, split by Build
		refs  bool   // whether the provider has a key reference at all
		model int
		want  int
	}{
		{"1x1x1", 1, "k1", true, 1, 1},
		{"2 nodes", 2, "k1", true, 1, 2},
		{"3 keys", 1, "k1 k2 k3", true, 1, 3},
		{"4 models", 1, "k1", true, 4, 4},
		{"2x3x4", 2, "k1,k2,k3", true, 4, 24},
		{"keyless 3 nodes 2 models", 3, "", false, 2, 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pc := ProviderConfig{Name: "p"}
			for i := range tc.nodes {
				pc.BaseURLs = append(pc.BaseURLs, fmt.Sprintf("https://n%d.example/v1", i))
			}
			if tc.refs {
				pc.Keys = []string{"{env.K}"}
			}
			for i := range tc.model {
				pc.Models = append(pc.Models, ModelRoute{Name: fmt.Sprintf("m%d", i)})
			}
			cat, warnings := mustBuild(t, mapResolver(map[string]string{"{env.K}": tc.keys}), Config{Providers: []ProviderConfig{pc}})
			if len(warnings) != 0 {
				t.Errorf("warnings: %q", warnings)
			}
			if len(cat.Targets) != tc.want {
				t.Errorf("got %d targets, want %d", len(cat.Targets), tc.want)
			}
		})
	}
}

func TestTargetOrderAndFields(t *testing.T) {
	cfg := Config{Providers: []ProviderConfig{
		{
			Name:     "groq",
			BaseURLs: []string{"https://a.example/v1/", "https://b.example/v1"},
			Keys:     []string{"{env.GROQ}"},
			Models: []ModelRoute{
				{Name: "llama", Upstream: "llama-versatile"},
				{Name: "mixtral"},
			},
		},
		{
			Name:     "local",
			BaseURLs: []string{"http://127.0.0.1:11434/v1"},
			Models:   []ModelRoute{{Name: "llama", Upstream: "llama3.3:70b"}},
		},
	}}
	res := mapResolver(map[string]string{"{env.GROQ}": "gsk-one gsk-two"})
	cat, _ := mustBuild(t, res, cfg)

	f1, f2 := fingerprint("gsk-one"), fingerprint("gsk-two")
	want := []string{
		// provider, then model, then key, then node
		"groq#0/" + f1 + ` https://a.example/v1 llama->llama-versatile key="gsk-one"`,
		"groq#1/" + f1 + ` https://b.example/v1 llama->llama-versatile key="gsk-one"`,
		"groq#0/" + f2 + ` https://a.example/v1 llama->llama-versatile key="gsk-two"`,
		"groq#1/" + f2 + ` https://b.example/v1 llama->llama-versatile key="gsk-two"`,
		"groq#0/" + f1 + ` https://a.example/v1 mixtral->mixtral key="gsk-one"`,
		"groq#1/" + f1 + ` https://b.example/v1 mixtral->mixtral key="gsk-one"`,
		"groq#0/" + f2 + ` https://a.example/v1 mixtral->mixtral key="gsk-two"`,
		"groq#1/" + f2 + ` https://b.example/v1 mixtral->mixtral key="gsk-two"`,
		`local#0 http://127.0.0.1:11434/v1 llama->llama3.3:70b key=""`,
	}
	if got := tdescs(cat.Targets); !reflect.DeepEqual(got, want) {
		t.Fatalf("targets:\n got %q\nwant %q", got, want)
	}

	hex8 := regexp.MustCompile(`^[0-9a-f]{8}$`)
	for _, tg := range cat.Targets {
		if tg.Provider.Name == "local" {
			if tg.Fingerprint != "" || tg.KeyStateID != "" || tg.Key() != "" {
				t.Errorf("keyless target %s: fingerprint %q, key state %q", tg.Label, tg.Fingerprint, tg.KeyStateID)
			}
			continue
		}
		if !hex8.MatchString(tg.Fingerprint) {
			t.Errorf("fingerprint %q is not 8 hex digits", tg.Fingerprint)
		}
		for _, s := range []string{tg.Fingerprint, tg.Label, tg.StateID, tg.KeyStateID} {
			if strings.Contains(tg.Key(), s) || strings.Contains(s, tg.Key()) {
				t.Errorf("target %s: %q and its key overlap", tg.Label, s)
			}
		}
	}

	if f1 == f2 {
		t.Fatal("two keys share a fingerprint")
	}
	if len(cat.Providers) != 2 || cat.Providers[0].Name != "groq" || cat.Providers[1].Name != "local" {
		t.Fatalf("providers: %+v", cat.Providers)
	}
	if got := cat.Providers[0].Nodes; !reflect.DeepEqual(got, []string{"https://a.example/v1", "https://b.example/v1"}) {
		t.Errorf("nodes %q: want trailing slash trimmed", got)
	}
	if cat.Providers[0].KeyCount != 2 || cat.Providers[1].KeyCount != 0 {
		t.Errorf("key counts %d, %d; want 2, 0", cat.Providers[0].KeyCount, cat.Providers[1].KeyCount)
	}
	for _, tg := range cat.Targets {
		if tg.Provider != cat.Providers[0] && tg.Provider != cat.Providers[1] {
			t.Errorf("target %s points at a provider outside the catalog", tg.Label)
		}
	}
}

func TestStateIDs(t *testing.T) {
	keys := "k-alpha k-bravo"
	cfg := func(keyValue, modelName string) (Config, Resolver) {
		return Config{Providers: []ProviderConfig{
				{
					Name:     "groq",
					BaseURLs: []string{"https://a.example/v1", "https://b.example/v1"},
					Keys:     []string{"{env.K}"},
					Models:   []ModelRoute{{Name: modelName, Upstream: "up-1"}, {Name: "other", Upstream: "up-2"}},
				},
				{
					Name:     "local",
					BaseURLs: []string{"http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1"},
					Models:   []ModelRoute{{Name: "other", Upstream: "up-2"}},
				},
			}},
			mapResolver(map[string]string{"{env.K}": keyValue})
	}
	c, r := cfg(keys, "llama")
	cat1, _ := mustBuild(t, r, c)
	cat2, _ := mustBuild(t, r, c)

	// Every target has its own StateID: node, key and upstream all count.
	seen := make(map[string]string)
	for _, tg := range cat1.Targets {
		if len(tg.StateID) < 16 {
			t.Errorf("target %s: short state id %q", tg.Label, tg.StateID)
		}
		if prev, dup := seen[tg.StateID]; dup {
			t.Errorf("targets %q and %q share state id", prev, tdesc(tg))
		}
		seen[tg.StateID] = tdesc(tg)
	}

	// Two builds of the same config agree.
	if len(cat1.Targets) != len(cat2.Targets) {
		t.Fatalf("builds differ in size: %d vs %d", len(cat1.Targets), len(cat2.Targets))
	}
	for i := range cat1.Targets {
		a, b := cat1.Targets[i], cat2.Targets[i]
		if a.StateID != b.StateID || a.KeyStateID != b.KeyStateID || a.Label != b.Label {
			t.Errorf("target %d differs across builds: %+v vs %+v", i, a, b)
		}
	}

	// A reload that reorders the keys or renames the public model keeps every state id (a state
	// id is node + key + upstream), so cooldowns survive.
	byIdentity := func(cat *Catalog) map[string]string {
		m := make(map[string]string)
		for _, tg := range cat.Targets {
			m[tg.Node+" "+tg.Key()+" "+tg.Upstream] = tg.StateID
		}
		return m
	}
	c3, r3 := cfg("k-bravo k-alpha", "llama-renamed")
	cat3, _ := mustBuild(t, r3, c3)
	if a, b := byIdentity(cat1), byIdentity(cat3); !reflect.DeepEqual(a, b) {
		t.Errorf("state ids changed with key order or public name:\n%v\n%v", a, b)
	}

	// KeyStateID: one per key, shared by all its targets; "" when keyless.
	keyState := make(map[string]string) // key -> KeyStateID
	for _, tg := range cat1.Targets {
		if tg.Provider.Name == "local" {
			if tg.KeyStateID != "" {
				t.Errorf("keyless target %s has key state %q", tg.Label, tg.KeyStateID)
			}
			continue
		}
		if tg.KeyStateID == "" || tg.KeyStateID == tg.StateID {
			t.Errorf("target %s: key state %q, state %q", tg.Label, tg.KeyStateID, tg.StateID)
		}
		if prev, ok := keyState[tg.Key()]; ok && prev != tg.KeyStateID {
			t.Errorf("key of %s has two key state ids", tg.Label)
		}
		keyState[tg.Key()] = tg.KeyStateID
	}
	if len(keyState) != 2 || keyState["k-alpha"] == keyState["k-bravo"] {
		t.Errorf("want two distinct key state ids, got %v", keyState)
	}
}

func TestProviderSettings(t *testing.T) {
	tests := []struct {
		header     string
		weight     int
		wantHeader string
		wantBearer bool
		wantWeight int
	}{
		{"", 0, "Authorization", true, 1},
		{"authorization", 3, "Authorization", true, 3},
		{"AUTHORIZATION", -2, "Authorization", true, 1},
		{"x-api-key", 1, "X-Api-Key", false, 1},
		{"x-goog-api-key", 5, "X-Goog-Api-Key", false, 5},
	}
	for _, tc := range tests {
		t.Run(tc.header, func(t *testing.T) {
			cat, _ := mustBuild(t, nil, Config{Providers: []ProviderConfig{{
				Name: "p", BaseURLs: []string{"https://x.example"}, Keys: []string{"k"},
				KeyHeader: tc.header, Weight: tc.weight, SSEKeepComments: true,
				Models: []ModelRoute{{Name: "m"}},
			}}})
			p := cat.Providers[0]
			if p.KeyHeader != tc.wantHeader || p.Bearer != tc.wantBearer || p.Weight != tc.wantWeight {
				t.Errorf("got header %q bearer %v weight %d; want %q %v %d",
					p.KeyHeader, p.Bearer, p.Weight, tc.wantHeader, tc.wantBearer, tc.wantWeight)
			}
			if !p.SSEKeepComments || p.SSEKeepEventNames {
				t.Errorf("stream overrides not carried: %+v", p)
			}
		})
	}
}

func TestKeys(t *testing.T) {
	dir := t.TempDir()
	keysFile := filepath.Join(dir, "keys.txt")
	content := "# production keys\n\nf-one\n   f-two  \n# f-commented\n\t\nf-one\nk-a\nf-three, f-four\r\n"
	if err := os.WriteFile(keysFile, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	onlyComments := filepath.Join(dir, "empty.txt")
	if err := os.WriteFile(onlyComments, []byte("# none yet\n\n   \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"{env.A}":     "k-a",
		"{env.B}":     "k-b",
		"{env.MULTI}": "k-1 k-2,k-3\nk-4\r\nk-5,\t k-6;k-7",
		"{env.DUPS}":  "k-a k-a,k-b",
		"{env.FILE}":  keysFile,
	}
	tests := []struct {
		name     string
		keys     []string
		keysFile string
		want     []string // the keys, in order; nil for keyless
	}{
		{"one ref", []string{"{env.A}"}, "", []string{"k-a"}},
		{"two refs", []string{"{env.A}", "{env.B}"}, "", []string{"k-a", "k-b"}},
		{"several keys in one value", []string{"{env.MULTI}"}, "", []string{"k-1", "k-2", "k-3", "k-4", "k-5", "k-6", "k-7"}},
		{"duplicates dropped", []string{"{env.A}", "{env.DUPS}", "{env.A}", "{env.B}"}, "", []string{"k-a", "k-b"}},
		{"unset ref among set ones", []string{"{env.UNSET}", "{env.B}"}, "", []string{"k-b"}},
		{"keys file", nil, keysFile, []string{"f-one", "f-two", "k-a", "f-three", "f-four"}},
		{"keys file through resolver", nil, "{env.FILE}", []string{"f-one", "f-two", "k-a", "f-three", "f-four"}},
		{"refs then keys file", []string{"{env.A}", "{env.B}"}, keysFile, []string{"k-a", "k-b", "f-one", "f-two", "f-three", "f-four"}},
		{"keyless", nil, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls []string
			resolve := mapResolver(env)
			res := func(ref string) string {
				calls = append(calls, ref)
				return resolve(ref)
			}
			cat, warnings := mustBuild(t, res, Config{Providers: []ProviderConfig{{
				Name: "p", BaseURLs: []string{"https://x.example"}, Keys: tc.keys, KeysFile: tc.keysFile,
				Models: []ModelRoute{{Name: "m"}},
			}}})
			if len(warnings) != 0 {
				t.Errorf("warnings: %q", warnings)
			}
			wantCalls := slices.Clone(tc.keys)
			if tc.keysFile != "" {
				wantCalls = append(wantCalls, tc.keysFile)
			}
			if !slices.Equal(calls, wantCalls) {
				t.Errorf("resolver calls %q, want %q", calls, wantCalls)
			}
			var got []string
			for _, tg := range cat.Targets {
				if tg.Key() != "" {
					got = append(got, tg.Key())
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("keys %q, want %q", got, tc.want)
			}
			if cat.Providers[0].KeyCount != len(tc.want) {
				t.Errorf("KeyCount %d, want %d", cat.Providers[0].KeyCount, len(tc.want))
			}
			if tc.want == nil && len(cat.Targets) != 1 {
				t.Errorf("keyless provider: %d targets, want 1", len(cat.Targets))
			}
		})
	}

	t.Run("keys file with only comments skips the provider", func(t *testing.T) {
		cat, warnings := mustBuild(t, nil, Config{Providers: []ProviderConfig{{
			Name: "p", BaseURLs: []string{"https://x.example"}, KeysFile: onlyComments,
			Models: []ModelRoute{{Name: "m"}},
		}}})
		if len(cat.Providers) != 0 || len(cat.Targets) != 0 || len(warnings) != 1 {
			t.Errorf("providers %d, targets %d, warnings %q", len(cat.Providers), len(cat.Targets), warnings)
		}
	})
	t.Run("missing keys file is an error", func(t *testing.T) {
		_, _, err := Build(nil, Config{Providers: []ProviderConfig{{
			Name: "p", BaseURLs: []string{"https://x.example"}, KeysFile: filepath.Join(dir, "nope.txt"),
			Models: []ModelRoute{{Name: "m"}},
		}}})
		if err == nil || !strings.Contains(err.Error(), "keys_file") || !strings.Contains(err.Error(), `"p"`) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("err = %v; want a not-exist keys_file error naming the provider", err)
		}
	})
	t.Run("nil resolver takes references literally", func(t *testing.T) {
		cat, _ := mustBuild(t, nil, Config{Providers: []ProviderConfig{{
			Name: "p", BaseURLs: []string{"https://x.example"}, Keys: []string{"lit-1, lit-2"},
			Models: []ModelRoute{{Name: "m"}},
		}}})
		if got := tdescs(cat.Targets); len(got) != 2 || cat.Targets[0].Key() != "lit-1" || cat.Targets[1].Key() != "lit-2" {
			t.Errorf("targets %q", got)
		}
	})
}

// TestSkippedProvider covers a provider whose key references all resolve to nothing: it is
// skipped with one warning, and the names that lose their targets with it warn instead of failing.
func TestSkippedProvider(t *testing.T) {
	cfg := Config{
		Providers: []ProviderConfig{
			{
				Name: "groq", BaseURLs: []string{"https://api.groq.com/openai/v1"},
				Keys:   []string{"{env.GROQ_1}", "{env.GROQ_2}"},
				Models: []ModelRoute{{Name: "llama", Upstream: "llama-versatile"}, {Name: "groq-only"}},
			},
			{
				Name: "nvidia", BaseURLs: []string{"https://integrate.api.nvidia.com/v1"},
				Keys:   []string{"{env.NV}"},
				Models: []ModelRoute{{Name: "llama", Upstream: "meta/llama"}},
			},
		},
		Models: []ModelInfo{{Name: "groq-only", Description: "served only by a skipped provider"}},
	}
	res := mapResolver(map[string]string{"{env.NV}": "nv-key", "{env.GROQ_2}": "  ,\n "})

	t.Run("provider skipped with one warning", func(t *testing.T) {
		cat, warnings := mustBuild(t, res, cfg)
		if len(warnings) != 1 || !strings.Contains(warnings[0], `"groq"`) || !strings.Contains(warnings[0], "skipped") {
			t.Fatalf("warnings %q; want exactly one, about groq", warnings)
		}
		// It names what to set: the references, each of which resolved to nothing.
		if !strings.Contains(warnings[0], "{env.GROQ_1}, {env.GROQ_2}") {
			t.Errorf("warning %q does not name the empty references", warnings[0])
		}
		if len(cat.Providers) != 1 || cat.Providers[0].Name != "nvidia" {
			t.Errorf("providers %+v", cat.Providers)
		}
		if got := tdescs(cat.Targets); len(got) != 1 || cat.Targets[0].Provider.Name != "nvidia" {
			t.Errorf("targets %q", got)
		}
		for _, name := range []string{"groq-only", "groq/llama", "groq/llama-versatile", "llama-versatile"} {
			if r := cat.Lookup(name); r != nil {
				t.Errorf("Lookup(%q) = %+v; want nil", name, r)
			}
		}
		if r := cat.Lookup("llama"); r == nil || len(r.Targets) != 1 {
			t.Errorf("Lookup(llama) = %+v; want nvidia's target", r)
		}
		if len(cat.Models) != 1 || cat.Models[0].Info.Name != "llama" || !slices.Equal(cat.Models[0].Providers, []string{"nvidia"}) {
			t.Errorf("models %+v", cat.Models)
		}
	})

	aliasTests := []struct {
		name     string
		alias    AliasConfig
		warn     []string // substrings, one per warning after the skip warning
		wantLive bool     // whether the alias is routable
	}{
		{"member lost", AliasConfig{Name: "a", Targets: []string{"groq-only", "llama"}},
			[]string{`member "groq-only"`}, true},
		{"provider/model member lost", AliasConfig{Name: "a", Targets: []string{"groq/llama", "nvidia/llama"}},
			[]string{`member "groq/llama"`}, true},
		{"every member lost", AliasConfig{Name: "a", Targets: []string{"groq-only", "groq/groq-only"}},
			[]string{`member "groq-only"`, `member "groq/groq-only"`, `alias "a" skipped`}, false},
	}
	for _, tc := range aliasTests {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg
			c.Aliases = []AliasConfig{tc.alias}
			cat, warnings := mustBuild(t, res, c)
			if len(warnings) != 1+len(tc.warn) {
				t.Fatalf("warnings %q; want %d", warnings, 1+len(tc.warn))
			}
			for i, w := range tc.warn {
				if !strings.Contains(warnings[i+1], w) {
					t.Errorf("warning %d = %q; want it to contain %q", i+1, warnings[i+1], w)
				}
			}
			r := cat.Lookup(tc.alias.Name)
			if tc.wantLive != (r != nil) {
				t.Fatalf("Lookup(alias) = %+v; want routable %v", r, tc.wantLive)
			}
			if r != nil && (len(r.Targets) != 1 || r.Targets[0].Provider.Name != "nvidia") {
				t.Errorf("alias targets %q", tdescs(r.Targets))
			}
		})
	}

	t.Run("alias may not shadow a skipped provider's model", func(t *testing.T) {
		c := cfg
		c.Aliases = []AliasConfig{{Name: "groq-only", Targets: []string{"llama"}}}
		if _, _, err := Build(res, c); err == nil || !strings.Contains(err.Error(), "shadows") {
			t.Errorf("err = %v; want a shadowing error", err)
		}
	})
}

func TestModels(t *testing.T) {
	cfg := Config{
		Providers: []ProviderConfig{
			{Name: "a", BaseURLs: []string{"https://a.example"}, Models: []ModelRoute{{Name: "m2"}, {Name: "m1"}}},
			{Name: "b", BaseURLs: []string{"https://b.example"}, Models: []ModelRoute{{Name: "m3"}, {Name: "m1"}}},
		},
		Models: []ModelInfo{
			{Name: "m1", Description: "first", ContextLength: 128000, InputPrice: 0.59, OutputPrice: 0.79, Strategy: "priority"},
			{Name: "ghost", Description: "nobody serves it"},
		},
	}
	cat, warnings := mustBuild(t, nil, cfg)
	if len(warnings) != 1 || !strings.Contains(warnings[0], `"ghost"`) {
		t.Errorf("warnings %q; want one about ghost", warnings)
	}
	var got []string
	for _, m := range cat.Models {
		got = append(got, m.Info.Name+":"+strings.Join(m.Providers, ","))
		if m.Route != cat.Lookup(m.Info.Name) {
			t.Errorf("model %s: Route is not what Lookup returns", m.Info.Name)
		}
	}
	if want := []string{"m2:a", "m1:a,b", "m3:b"}; !slices.Equal(got, want) {
		t.Errorf("models %q, want %q", got, want)
	}
	r := cat.Lookup("m1")
	if r.Strategy != "priority" || r.Info == nil || r.Info.ContextLength != 128000 || r.Info.InputPrice != 0.59 || r.Info.Description != "first" {
		t.Errorf("m1 route %+v info %+v", r, r.Info)
	}
	if pm := cat.Lookup("b/m1"); pm == nil || pm.Strategy != "priority" || pm.Info == nil || pm.Info.Description != "first" {
		t.Errorf("b/m1 route %+v; want m1's metadata and strategy", pm)
	}
	if r := cat.Lookup("m2"); r.Info == nil || r.Info.Name != "m2" || r.Strategy != "" {
		t.Errorf("m2 without metadata: %+v", r)
	}
	if cat.Lookup("ghost") != nil {
		t.Error("ghost resolves")
	}
}

// lookupCatalog is a small catalog with the naming situations of real providers.
func lookupCatalog(t testing.TB) *Catalog {
	t.Helper()
	cfg := Config{
		Providers: []ProviderConfig{
			{
				Name: "groq", BaseURLs: []string{"https://api.groq.com/openai/v1"}, Keys: []string{"g-1", "g-2"},
				Models: []ModelRoute{
					{Name: "llama-3.3-70b", Upstream: "llama-3.3-70b-versatile"},
					{Name: "mixtral", Upstream: "mixtral-8x7b"},
				},
			},
			{
				Name: "nvidia", BaseURLs: []string{"https://integrate.api.nvidia.com/v1"}, Keys: []string{"n-1"},
				Models: []ModelRoute{{Name: "llama-3.3-70b", Upstream: "meta/llama-3.3-70b-instruct"}},
			},
			{
				// Serves a public model whose name is groq's upstream id.
				Name: "local", BaseURLs: []string{"http://127.0.0.1:11434/v1"},
				Models: []ModelRoute{{Name: "llama-3.3-70b-versatile", Upstream: "llama3.3:70b"}},
			},
			{
				Name: "together", BaseURLs: []string{"https://api.together.xyz/v1"}, Keys: []string{"t-1"},
				Models: []ModelRoute{
					{Name: "llama-3.3-70b", Upstream: "meta/llama-3.3-70b-instruct"},
					{Name: "qwen"},
				},
			},
		},
		Models: []ModelInfo{{Name: "llama-3.3-70b", Description: "Llama 3.3 70B", Strategy: "weighted"}},
	}
	cat, warnings := mustBuild(t, nil, cfg)
	if len(warnings) != 0 {
		t.Fatalf("warnings %q", warnings)
	}
	return cat
}

func TestLookup(t *testing.T) {
	cat := lookupCatalog(t)
	either := func(a, b func(*Target) bool) func(*Target) bool {
		return func(t *Target) bool { return a(t) || b(t) }
	}
	tests := []struct {
		name     string
		kind     RouteKind
		want     []*Target // nil: the name must not resolve
		infoName string
	}{
		{"llama-3.3-70b", KindModel, filterTargets(cat, func(t *Target) bool { return t.Model == "llama-3.3-70b" }), "llama-3.3-70b"},
		{"groq/llama-3.3-70b", KindProviderModel, filterTargets(cat, of("groq", "llama-3.3-70b")), "llama-3.3-70b"},
		{"nvidia/llama-3.3-70b", KindProviderModel, filterTargets(cat, of("nvidia", "llama-3.3-70b")), "llama-3.3-70b"},
		{"groq/llama-3.3-70b-versatile", KindProviderModel, filterTargets(cat, of("groq", "llama-3.3-70b")), "llama-3.3-70b"},
		{"nvidia/meta/llama-3.3-70b-instruct", KindProviderModel, filterTargets(cat, of("nvidia", "llama-3.3-70b")), "llama-3.3-70b"},
		{"groq/mixtral-8x7b", KindProviderModel, filterTargets(cat, of("groq", "mixtral")), "mixtral"},
		{"local/llama3.3:70b", KindProviderModel, filterTargets(cat, of("local", "llama-3.3-70b-versatile")), "llama-3.3-70b-versatile"},
		{"mixtral-8x7b", KindUpstreamID, filterTargets(cat, of("groq", "mixtral")), "mixtral"},
		{"llama3.3:70b", KindUpstreamID, filterTargets(cat, of("local", "llama-3.3-70b-versatile")), "llama-3.3-70b-versatile"},
		// one upstream id at two providers: the union, in config order
		{"meta/llama-3.3-70b-instruct", KindUpstreamID, filterTargets(cat, either(of("nvidia", "llama-3.3-70b"), of("together", "llama-3.3-70b"))), "llama-3.3-70b"},
		// a public name wins over groq's upstream id of the same string
		{"llama-3.3-70b-versatile", KindModel, filterTargets(cat, of("local", "llama-3.3-70b-versatile")), "llama-3.3-70b-versatile"},
		{"qwen", KindModel, filterTargets(cat, of("together", "qwen")), "qwen"},
		{"unknown", 0, nil, ""},
		{"", 0, nil, ""},
		{"groq/unknown", 0, nil, ""},
		{"nvidia/mixtral", 0, nil, ""},
		{"groq/llama3.3:70b", 0, nil, ""},
		{"LLAMA-3.3-70B", 0, nil, ""},
		{"groq/", 0, nil, ""},
		{"/llama-3.3-70b", 0, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := cat.Lookup(tc.name)
			if tc.want == nil {
				if r != nil {
					t.Fatalf("Lookup = %+v; want nil", r)
				}
				return
			}
			if r == nil {
				t.Fatal("Lookup = nil")
			}
			if r.Name != tc.name || r.Kind != tc.kind {
				t.Errorf("name %q kind %d; want %q %d", r.Name, r.Kind, tc.name, tc.kind)
			}
			if !slices.Equal(r.Targets, tc.want) {
				t.Errorf("targets\n got %q\nwant %q", tdescs(r.Targets), tdescs(tc.want))
			}
			if r.Info == nil || r.Info.Name != tc.infoName {
				t.Errorf("info %+v; want model %q", r.Info, tc.infoName)
			}
		})
	}
	// Model route order: providers in config order (groq, nvidia, together).
	var order []string
	for _, tg := range cat.Lookup("llama-3.3-70b").Targets {
		if len(order) == 0 || order[len(order)-1] != tg.Provider.Name {
			order = append(order, tg.Provider.Name)
		}
	}
	if want := []string{"groq", "nvidia", "together"}; !slices.Equal(order, want) {
		t.Errorf("llama pool order %q, want %q", order, want)
	}
	// Every name Names lists resolves, and Names is sorted.
	names := cat.Names()
	if !slices.IsSorted(names) {
		t.Error("Names not sorted")
	}
	for _, n := range names {
		if cat.Lookup(n) == nil {
			t.Errorf("Names lists %q but it does not resolve", n)
		}
	}
}

// TestAliasDeferredMembers: with a provider that discovers, a member no configured model has
// is kept for the discovered lists (an alias of only such members too); without one, or
// qualified by a provider that does not discover, it is still an unknown member.
func TestAliasDeferredMembers(t *testing.T) {
	cfg := func(members ...string) Config {
		return Config{
			Providers: []ProviderConfig{
				{Name: "local", BaseURLs: []string{"http://127.0.0.1:1"}, Models: []ModelRoute{{Name: "qwen"}}},
				{Name: "or", BaseURLs: []string{"https://or.example"}, Keys: []string{"o-1"}, Discover: &DiscoverConfig{}},
			},
			Aliases: []AliasConfig{{Name: "inner", Targets: []string{"or/vendor/b"}}, {Name: "fast", Targets: members}},
		}
	}
	cat, _, err := Build(nil, cfg("qwen", "vendor/a", "inner", "vendor/a"))
	if err != nil {
		t.Fatal(err)
	}
	r := cat.Lookup("fast")
	if r == nil || len(r.Targets) != 1 || !slices.Equal(r.Deferred, []string{"vendor/a", "or/vendor/b"}) {
		t.Fatalf("fast: %+v", r)
	}
	if r := cat.Lookup("inner"); r == nil || len(r.Targets) != 0 || !slices.Equal(r.Deferred, []string{"or/vendor/b"}) {
		t.Fatalf("an alias of discovered members only: %+v", r)
	}
	if _, _, err := Build(nil, cfg("local/vendor/a")); err == nil || !strings.Contains(err.Error(), `unknown member "local/vendor/a"`) {
		t.Fatalf("a member of a provider that does not discover: %v", err)
	}
	noDiscovery := cfg("vendor/a")
	noDiscovery.Providers[1].Discover = nil
	noDiscovery.Providers[1].Models = []ModelRoute{{Name: "m"}}
	noDiscovery.Aliases = noDiscovery.Aliases[1:]
	if _, _, err := Build(nil, noDiscovery); err == nil || !strings.Contains(err.Error(), `unknown member "vendor/a"`) {
		t.Fatalf("no provider discovers: %v", err)
	}
}

// TestAliasWildcardMembers: `<provider>/<id>` of a `model *` provider is an alias member with
// targets of its own, in the catalog's targets, the same as the id's wildcard targets.
func TestAliasWildcardMembers(t *testing.T) {
	cfg := func(members ...string) Config {
		return Config{
			Providers: []ProviderConfig{
				{Name: "or", BaseURLs: []string{"https://or.example"}, Keys: []string{"o-1", "o-2"}, Models: []ModelRoute{{Name: "*"}}},
				{Name: "local", BaseURLs: []string{"http://127.0.0.1:1"}, Models: []ModelRoute{{Name: "qwen"}}},
			},
			Aliases: []AliasConfig{{Name: "fast", Targets: members}, {Name: "again", Targets: []string{"or/vendor/a"}}},
		}
	}
	cat, _, err := Build(nil, cfg("or/vendor/a", "qwen"))
	if err != nil {
		t.Fatal(err)
	}
	r := cat.Lookup("fast")
	if r == nil || len(r.Targets) != 3 || r.Targets[0].Upstream != "vendor/a" || r.Targets[2].Model != "qwen" {
		t.Fatalf("fast: %+v", r)
	}
	want := cat.Providers[0].WildcardTargets("vendor/a")
	for i, tg := range r.Targets[:2] {
		if tg.StateID != want[i].StateID || !slices.Contains(cat.Targets, tg) {
			t.Errorf("member target %d: state %s, want %s; in the catalog's targets: %v", i, tg.StateID, want[i].StateID, slices.Contains(cat.Targets, tg))
		}
	}
	if again := cat.Lookup("again"); again == nil || again.Targets[0] != r.Targets[0] {
		t.Error("a second alias naming the same id made targets of its own")
	}
	if _, _, err := Build(nil, cfg("or/ bad id")); err == nil || !strings.Contains(err.Error(), "unknown member") {
		t.Fatalf("an invalid wildcard id: %v", err)
	}
}

func TestAliases(t *testing.T) {
	base := func(aliases ...AliasConfig) Config {
		return Config{
			Providers: []ProviderConfig{
				{Name: "groq", BaseURLs: []string{"https://g.example"}, Keys: []string{"g-1"},
					Models: []ModelRoute{{Name: "llama", Upstream: "llama-versatile"}, {Name: "mixtral", Upstream: "mixtral-8x7b"}}},
				{Name: "nvidia", BaseURLs: []string{"https://n.example"}, Keys: []string{"n-1"},
					Models: []ModelRoute{{Name: "llama", Upstream: "meta/llama"}}},
				{Name: "local", BaseURLs: []string{"http://127.0.0.1:1"},
					Models: []ModelRoute{{Name: "qwen"}}},
			},
			Aliases: aliases,
		}
	}
	// target shorthands: provider/model
	var (
		gL = "groq#0/" + fingerprint("g-1") + " llama"
		nL = "nvidia#0/" + fingerprint("n-1") + " llama"
		gM = "groq#0/" + fingerprint("g-1") + " mixtral"
		lQ = "local#0 qwen"
	)
	tests := []struct {
		name    string
		aliases []AliasConfig
		lookup  string
		want    []string // label + model of each target
		wantErr string
	}{
		{"union in member order", []AliasConfig{{Name: "fast", Targets: []string{"mixtral", "qwen", "llama"}}},
			"fast", []string{gM, lQ, gL, nL}, ""},
		{"deduplicated", []AliasConfig{{Name: "fast", Targets: []string{"nvidia/llama", "llama", "groq/llama-versatile", "meta/llama"}}},
			"fast", []string{nL, gL}, ""},
		{"alias of alias", []AliasConfig{
			{Name: "fast", Targets: []string{"mixtral"}},
			{Name: "best", Targets: []string{"qwen", "fast", "mixtral-8x7b"}},
		}, "best", []string{lQ, gM}, ""},
		{"forward reference", []AliasConfig{
			{Name: "best", Targets: []string{"fast", "qwen"}},
			{Name: "fast", Targets: []string{"groq/llama"}},
		}, "best", []string{gL, lQ}, ""},
		{"three levels", []AliasConfig{
			{Name: "a", Targets: []string{"b", "nvidia/llama"}},
			{Name: "b", Targets: []string{"c"}},
			{Name: "c", Targets: []string{"qwen"}},
		}, "a", []string{lQ, nL}, ""},
		{"alias wins over an upstream id", []AliasConfig{{Name: "mixtral-8x7b", Targets: []string{"qwen"}}},
			"mixtral-8x7b", []string{lQ}, ""},
		{"alias wins over a provider/model name", []AliasConfig{{Name: "groq/llama", Targets: []string{"qwen"}}},
			"groq/llama", []string{lQ}, ""},
		{"cycle", []AliasConfig{
			{Name: "a", Targets: []string{"b"}},
			{Name: "b", Targets: []string{"qwen", "a"}},
		}, "", nil, "refers to itself"},
		{"self cycle", []AliasConfig{{Name: "a", Targets: []string{"llama", "a"}}}, "", nil, "refers to itself"},
		{"long cycle", []AliasConfig{
			{Name: "x", Targets: []string{"a"}},
			{Name: "a", Targets: []string{"b"}},
			{Name: "b", Targets: []string{"c"}},
			{Name: "c", Targets: []string{"a"}},
		}, "", nil, "refers to itself"},
		{"shadows a model", []AliasConfig{{Name: "llama", Targets: []string{"qwen"}}}, "", nil, `alias "llama" shadows`},
		{"unknown member", []AliasConfig{{Name: "a", Targets: []string{"qwen", "gpt-5"}}}, "", nil, `unknown member "gpt-5"`},
		{"unknown provider/model member", []AliasConfig{{Name: "a", Targets: []string{"groq/qwen"}}}, "", nil, `unknown member "groq/qwen"`},
		{"no targets", []AliasConfig{{Name: "a"}}, "", nil, `alias "a" has no targets`},
		{"no name", []AliasConfig{{Targets: []string{"qwen"}}}, "", nil, "alias without a name"},
		{"defined twice", []AliasConfig{{Name: "a", Targets: []string{"qwen"}}, {Name: "a", Targets: []string{"llama"}}}, "", nil, `alias "a" defined twice`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cat, warnings, err := Build(nil, base(tc.aliases...))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v; want %q", err, tc.wantErr)
				}
				if cat != nil || warnings != nil {
					t.Error("a failed Build returned a catalog or warnings")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(warnings) != 0 {
				t.Errorf("warnings %q", warnings)
			}
			r := cat.Lookup(tc.lookup)
			if r == nil {
				t.Fatalf("Lookup(%q) = nil", tc.lookup)
			}
			var got []string
			for _, tg := range r.Targets {
				got = append(got, tg.Label+" "+tg.Model)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("targets\n got %q\nwant %q", got, tc.want)
			}
			if r.Kind != KindAlias || r.Info != nil {
				t.Errorf("kind %d info %+v; want an alias without info", r.Kind, r.Info)
			}
			if len(cat.Aliases) != len(tc.aliases) {
				t.Errorf("%d aliases in catalog, want %d", len(cat.Aliases), len(tc.aliases))
			}
			for i, a := range cat.Aliases {
				if a.Name != tc.aliases[i].Name || cat.Lookup(a.Name) != a {
					t.Errorf("alias %d: %q, want %q in config order", i, a.Name, tc.aliases[i].Name)
				}
			}
		})
	}

	t.Run("strategy and second config", func(t *testing.T) {
		cat, _ := mustBuild(t, nil, base(), Config{Aliases: []AliasConfig{{Name: "fast", Targets: []string{"qwen"}, Strategy: "priority"}}})
		if r := cat.Lookup("fast"); r == nil || r.Strategy != "priority" {
			t.Errorf("Lookup(fast) = %+v", r)
		}
	})
}

func TestBuildEmpty(t *testing.T) {
	for _, configs := range [][]Config{nil, {{}}, {{}, {}}} {
		cat, warnings := mustBuild(t, nil, configs...)
		if len(cat.Targets) != 0 || len(cat.Names()) != 0 || len(warnings) != 0 || cat.Lookup("x") != nil {
			t.Errorf("%d empty configs: %+v %q", len(configs), cat, warnings)
		}
	}
}

func TestProviderAPI(t *testing.T) {
	for _, tc := range []struct {
		api, version, header string
		want                 API
		wantHeader, wantVer  string
		wantBearer           bool
	}{
		{"", "", "", APIOpenAI, "Authorization", "", true},
		{"openai", "", "", APIOpenAI, "Authorization", "", true},
		{"anthropic", "", "", APIAnthropic, "X-Api-Key", DefaultAnthropicVersion, false},
		{"anthropic", "2024-01-01", "", APIAnthropic, "X-Api-Key", "2024-01-01", false},
		// A gateway in front of Anthropic may want a bearer token.
		{"anthropic", "", "authorization", APIAnthropic, "Authorization", DefaultAnthropicVersion, true},
		{"gemini", "", "", APIGemini, "X-Goog-Api-Key", "", false},
		{"azure", "", "", APIAzure, "Api-Key", "", false},
	} {
		cat, _ := mustBuild(t, nil, Config{Providers: []ProviderConfig{{
			Name: "p", BaseURLs: []string{"https://x.example"}, Keys: []string{"k"},
			API: tc.api, AnthropicVersion: tc.version, KeyHeader: tc.header, Models: []ModelRoute{{Name: "m"}},
		}}})
		p := cat.Providers[0]
		if p.API == APIAzure && p.APIVersion != DefaultAzureAPIVersion {
			t.Errorf("azure: api_version %q, want the default %q", p.APIVersion, DefaultAzureAPIVersion)
		}
		if p.API != tc.want || p.KeyHeader != tc.wantHeader || p.Bearer != tc.wantBearer || p.AnthropicVersion != tc.wantVer {
			t.Errorf("%+v: got api %q header %q bearer %v version %q", tc, p.API, p.KeyHeader, p.Bearer, p.AnthropicVersion)
		}
	}
	for _, pc := range []ProviderConfig{
		{Name: "p", BaseURLs: []string{"https://x.example"}, API: "bedrock", Models: []ModelRoute{{Name: "m"}}},
		{Name: "p", BaseURLs: []string{"https://x.example"}, AnthropicVersion: "2023-06-01", Models: []ModelRoute{{Name: "m"}}},
		{Name: "p", BaseURLs: []string{"https://x.example"}, APIVersion: "2024-10-21", Models: []ModelRoute{{Name: "m"}}},
	} {
		if _, _, err := Build(func(s string) string { return s }, Config{Providers: []ProviderConfig{pc}}); err == nil {
			t.Errorf("%+v: no error", pc)
		}
	}
}

func TestProviderResponses(t *testing.T) {
	on, off := true, false
	for _, tc := range []struct {
		api  string
		urls []string
		set  *bool
		want bool
	}{
		{"", []string{"https://api.openai.com/v1"}, nil, true},
		{"openai", []string{"https://API.openai.com/v1", "https://api.openai.com:443/v1"}, nil, true},
		{"", []string{"https://api.openai.com/v1", "https://api.groq.com/openai/v1"}, nil, false},
		{"", []string{"https://api.groq.com/openai/v1"}, nil, false},
		{"", []string{"https://api.openai.com.evil.example/v1"}, nil, false},
		{"", []string{"https://api.openai.com/v1"}, &off, false},
		{"", []string{"http://127.0.0.1:8000/v1"}, &on, true},
		{"anthropic", []string{"https://api.anthropic.com/v1"}, nil, false},
		{"anthropic", []string{"https://api.anthropic.com/v1"}, &off, false},
	} {
		cat, _ := mustBuild(t, nil, Config{Providers: []ProviderConfig{{
			Name: "p", BaseURLs: tc.urls, Keys: []string{"k"}, API: tc.api, Responses: tc.set, Models: []ModelRoute{{Name: "m"}},
		}}})
		if got := cat.Providers[0].Responses; got != tc.want {
			t.Errorf("%+v: responses %v", tc, got)
		}
	}
	pc := ProviderConfig{Name: "p", BaseURLs: []string{"https://x.example"}, API: "anthropic", Responses: &on, Models: []ModelRoute{{Name: "m"}}}
	if _, _, err := Build(func(s string) string { return s }, Config{Providers: []ProviderConfig{pc}}); err == nil || !strings.Contains(err.Error(), "responses") {
		t.Errorf("responses on an anthropic provider: %v", err)
	}
}
