package catalog

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/scale-35k.json from ScaleConfig")

// The scale catalog: 13 providers x 24 keys x 112 models x 1 node = 34,944 targets over 400
// public models.
const (
	scaleProviders         = 13
	scaleModels            = 400
	scaleKeysPerProvider   = 24
	scaleModelsPerProvider = 112
	scaleTargets           = scaleProviders * scaleKeysPerProvider * scaleModelsPerProvider

	scaleFixture    = "testdata/scale-35k.json"
	scaleFixtureMax = 3 << 20
)

// ScaleConfig builds a large, valid catalog: providers "prov-00".., each with one node,
// keysPerProvider literal fake keys ("sk-fake-p03-k17") and a window of modelsPerProvider of the
// public models "model-000".., the windows spread evenly so that every model is served when
// providers*modelsPerProvider >= models. Odd providers map models to their own upstream ids
// ("vendor-03/model-017-instruct"), every third provider sends its key in x-api-key; every model
// has metadata, and a few aliases (fast, cheap, frontier) stand for unions. Keys are literals, so
// Build needs no resolver.
func ScaleConfig(providers, models, keysPerProvider, modelsPerProvider int) Config {
	modelsPerProvider = min(modelsPerProvider, models)
	var cfg Config
	for p := range providers {
		pc := ProviderConfig{
			Name:     fmt.Sprintf("prov-%02d", p),
			BaseURLs: []string{fmt.Sprintf("https://prov-%02d.example.com/v1", p)},
			Weight:   1 + p%3,
		}
		if p%3 == 2 {
			pc.KeyHeader = "x-api-key"
		}
		for k := range keysPerProvider {
			pc.Keys = append(pc.Keys, fmt.Sprintf("sk-fake-p%02d-k%02d", p, k))
		}
		start := 0
		if providers > 0 {
			start = p * models / providers
		}
		for i := range modelsPerProvider {
			m := (start + i) % models
			route := ModelRoute{Name: fmt.Sprintf("model-%03d", m)}
			if p%2 == 1 {
				route.Upstream = fmt.Sprintf("vendor-%02d/model-%03d-instruct", p, m)
			}
			pc.Models = append(pc.Models, route)
		}
		cfg.Providers = append(cfg.Providers, pc)
	}
	for m := range models {
		cfg.Models = append(cfg.Models, ModelInfo{
			Name:          fmt.Sprintf("model-%03d", m),
			Description:   fmt.Sprintf("Synthetic model %d", m),
			ContextLength: 8192 << (m % 5),
			InputPrice:    float64(m%20) * 0.05,
			OutputPrice:   float64(m%20) * 0.15,
		})
	}
	if models >= 3 && providers >= 1 {
		cfg.Aliases = []AliasConfig{
			{Name: "fast", Targets: []string{"model-000", "model-001"}, Strategy: "round_robin"},
			{Name: "cheap", Targets: []string{"prov-00/model-002", "fast"}, Strategy: "priority"},
			{Name: "frontier", Targets: []string{fmt.Sprintf("model-%03d", models-1), "cheap"}},
		}
	}
	return cfg
}

// TestScaleFixture keeps testdata/scale-35k.json (for the handler benchmarks) equal to
// ScaleConfig. Regenerate it with: go test ./catalog/ -run TestScaleFixture -update
func TestScaleFixture(t *testing.T) {
	want := ScaleConfig(scaleProviders, scaleModels, scaleKeysPerProvider, scaleModelsPerProvider)
	if *update {
		data, err := json.MarshalIndent(want, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if len(data) >= scaleFixtureMax {
			t.Skipf("the scale catalog is %d bytes, over the %d bytes a fixture may take", len(data), scaleFixtureMax)
		}
		if err := os.MkdirAll(filepath.Dir(scaleFixture), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(scaleFixture, append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(scaleFixture)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if fi.Size() >= scaleFixtureMax {
		t.Errorf("%s is %d bytes, over %d", scaleFixture, fi.Size(), scaleFixtureMax)
	}
	cfg, err := LoadFile(scaleFixture)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("%s differs from ScaleConfig: run go test ./catalog/ -run TestScaleFixture -update", scaleFixture)
	}
}

func TestScale(t *testing.T) {
	tests := []struct {
		providers, models, keys, perProvider int
		wantTargets, wantModels              int
	}{
		{scaleProviders, scaleModels, scaleKeysPerProvider, scaleModelsPerProvider, scaleTargets, scaleModels},
		{2, 10, 3, 5, 2 * 3 * 5, 10},
		{3, 10, 1, 20, 3 * 1 * 10, 10}, // more models per provider than models: capped
		{1, 5, 0, 5, 5, 5},             // keyless
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%dx%dx%d", tc.providers, tc.keys, tc.perProvider), func(t *testing.T) {
			cfg := ScaleConfig(tc.providers, tc.models, tc.keys, tc.perProvider)
			cat, warnings := mustBuild(t, nil, cfg)
			if len(warnings) != 0 {
				t.Errorf("warnings %q", warnings)
			}
			if len(cat.Targets) != tc.wantTargets {
				t.Errorf("%d targets, want %d", len(cat.Targets), tc.wantTargets)
			}
			if len(cat.Providers) != tc.providers || len(cat.Models) != tc.wantModels || len(cat.Aliases) != 3 {
				t.Errorf("%d providers, %d models, %d aliases", len(cat.Providers), len(cat.Models), len(cat.Aliases))
			}
			// Each model's pool holds keys x nodes targets per provider serving it, and every
			// target is in exactly one model pool.
			var pooled int
			for _, m := range cat.Models {
				want := len(m.Providers) * max(tc.keys, 1)
				if len(m.Route.Targets) != want {
					t.Errorf("model %s: %d targets, want %d", m.Info.Name, len(m.Route.Targets), want)
				}
				pooled += len(m.Route.Targets)
			}
			if pooled != tc.wantTargets {
				t.Errorf("model pools hold %d targets, want %d", pooled, tc.wantTargets)
			}
			ids := make(map[string]bool, len(cat.Targets))
			for _, tg := range cat.Targets {
				ids[tg.StateID] = true
			}
			if len(ids) != tc.wantTargets {
				t.Errorf("%d distinct state ids for %d targets", len(ids), tc.wantTargets)
			}
			if tc.providers > 1 {
				// prov-01's first model, under its own upstream id
				name := fmt.Sprintf("prov-01/vendor-01/model-%03d-instruct", tc.models/tc.providers)
				if r := cat.Lookup(name); r == nil || r.Kind != KindProviderModel || len(r.Targets) != max(tc.keys, 1) {
					t.Errorf("Lookup(%q) = %+v", name, r)
				}
			}
		})
	}
}

// smallCatalog has 10 targets: 5 keys x 2 models.
func smallCatalog(b *testing.B) *Catalog {
	cat, _ := mustBuild(b, nil, ScaleConfig(1, 2, 5, 2))
	if len(cat.Targets) != 10 {
		b.Fatalf("%d targets", len(cat.Targets))
	}
	return cat
}

func BenchmarkBuild35k(b *testing.B) {
	cfg := ScaleConfig(scaleProviders, scaleModels, scaleKeysPerProvider, scaleModelsPerProvider)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Build(nil, cfg); err != nil {
			b.Fatal(err)
		}
	}
}

var sinkRoute *Route

func BenchmarkLookup(b *testing.B) {
	big, _ := mustBuild(b, nil, ScaleConfig(scaleProviders, scaleModels, scaleKeysPerProvider, scaleModelsPerProvider))
	cases := []struct {
		name string
		cat  *Catalog
		key  string
	}{
		{"10-targets/model", smallCatalog(b), "model-001"},
		{"35k-targets/model", big, "model-123"},
		{"35k-targets/provider-upstream", big, "prov-03/vendor-03/model-123-instruct"},
		{"35k-targets/alias", big, "frontier"},
		{"35k-targets/unknown", big, "gpt-unknown"},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			if (tc.cat.Lookup(tc.key) == nil) != (tc.name == "35k-targets/unknown") {
				b.Fatalf("Lookup(%q) resolved unexpectedly", tc.key)
			}
			b.ReportAllocs()
			for b.Loop() {
				sinkRoute = tc.cat.Lookup(tc.key)
			}
		})
	}
}
