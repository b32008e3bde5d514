package llmrouter

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// scalePresets are the services of the scale catalog: presets whose base URL the test points
// at a fake, the first seven with listed models, the rest discovering theirs.
var scalePresets = []string{"nvidia", "dashscope", "openrouter", "minimax", "zai", "deepseek", "moonshot",
	"xai", "groq", "cerebras", "mistral", "together", "fireworks"}

const (
	scaleKeys       = 30
	scaleListed     = 60  // models each listing provider lists
	scaleDiscovered = 130 // ids each discovering provider's /models returns
)

// scaleUpstream serves each provider's model list at /<provider>/v1/models, with prices or
// without.
func scaleUpstream(t testing.TB, priced bool) *fakeUpstream {
	return newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			okChat(w, r)
			return
		}
		prov := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")[0]
		var b strings.Builder
		b.WriteString(`{"object":"list","data":[`)
		for i := range scaleDiscovered {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"id":"%s/model-%03d","context_length":%d`, prov, i, 8192*(1+i%8))
			if priced {
				b.WriteString(`,"pricing":{"prompt":"0.000001","completion":"0.000002"}`)
			}
			b.WriteByte('}')
		}
		b.WriteString(`]}`)
		_, _ = w.Write([]byte(b.String()))
	})
}

// scaleHandler is a catalog of 36,000 targets over 13 presets: 7 x 30 keys x 60 listed models
// and 6 x 30 keys x 130 discovered ones, every provider also taking any id (model *).
func scaleHandler(up *fakeUpstream) *Handler {
	h := new(Handler)
	for p, preset := range scalePresets {
		pc := catalog.ProviderConfig{Name: preset, BaseURLs: []string{up.URL + "/" + preset + "/v1"},
			Models: []catalog.ModelRoute{{Name: catalog.Wildcard}}}
		for k := range scaleKeys {
			pc.Keys = append(pc.Keys, fmt.Sprintf("sk-scale-%s-%02d", preset, k))
		}
		if p < 7 {
			for m := range scaleListed {
				pc.Models = append(pc.Models, catalog.ModelRoute{Name: fmt.Sprintf("listed-%03d", (p*20+m)%200),
					Upstream: fmt.Sprintf("%s/listed-%03d", preset, m)})
			}
		} else {
			pc.Discover = &catalog.DiscoverConfig{}
		}
		h.Providers = append(h.Providers, pc)
	}
	return h
}

func discoveredTargets(h *Handler) int {
	n := 0
	if s := h.disc.set.Load(); s != nil {
		for _, p := range s.pools {
			if p.route.Kind == catalog.KindModel {
				n += len(p.targets)
			}
		}
	}
	return n
}

// TestScaleCatalogLoadsFast: 36,000 targets from presets, wildcards and discovery load (the
// discovery fetches included) in under a second.
func TestScaleCatalogLoadsFast(t *testing.T) {
	up := scaleUpstream(t, true)
	h := scaleHandler(up)
	start := time.Now()
	tr := newTestRouter(t, h)
	took := time.Since(start)
	listed, discovered := len(tr.cat.Targets), discoveredTargets(tr.Handler)
	t.Logf("%d targets (%d listed, %d discovered) over %d providers loaded in %s",
		listed+discovered, listed, discovered, len(tr.cat.Providers), took.Round(time.Millisecond))
	if listed != 7*scaleKeys*scaleListed || discovered != 6*scaleKeys*scaleDiscovered {
		t.Fatalf("%d listed and %d discovered targets", listed, discovered)
	}
	limit := time.Second
	if raceEnabled {
		limit = 10 * time.Second
	}
	if took > limit {
		t.Fatalf("loading took %s, over %s", took, limit)
	}
	if rec := tr.chat(`{"model":"groq/model-007","messages":[]}`); rec.Code != http.StatusOK {
		t.Fatalf("a discovered model: %d %s", rec.Code, rec.Body)
	}
	if rec := tr.chat(`{"model":"listed-010","messages":[]}`); rec.Code != http.StatusOK {
		t.Fatalf("a listed model: %d %s", rec.Code, rec.Body)
	}
	if e := listedModels(t, tr)["groq/model-007"]; e.ContextLength != 8192*8 || e.Pricing == nil || e.Pricing.Input != 1 {
		t.Fatalf("discovered metadata: %+v", e)
	}
}

// BenchmarkProvisionScale measures loading the 36,000-target catalog, discovery included.
func BenchmarkProvisionScale(b *testing.B) {
	up := scaleUpstream(b, true)
	for b.Loop() {
		b.StopTimer()
		h := scaleHandler(up)
		b.StartTimer()
		tr := newTestRouter(b, h)
		b.StopTimer()
		_ = tr.Cleanup()
		b.StartTimer()
	}
}
