package llmrouter

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// bigCatalogRouter is a router over 374 models across 13 providers (the scale of issue 16's
// real catalog), with metadata that varies: providers serve overlapping slices, every third
// model does vision, every fifth has no price.
func bigCatalogRouter(t *testing.T) *testRouter {
	t.Helper()
	const nModels, nProviders = 374, 13
	var infos []catalog.ModelInfo
	provs := make([]catalog.ProviderConfig, nProviders)
	for p := range provs {
		provs[p] = catalog.ProviderConfig{Name: fmt.Sprintf("prov%02d", p), BaseURLs: []string{"http://127.0.0.1:1/v1"}}
	}
	for i := range nModels {
		name := fmt.Sprintf("model-%03d", i)
		if i%7 == 0 {
			name = fmt.Sprintf("llama-%03d", i)
		}
		mi := catalog.ModelInfo{Name: name, ContextLength: 8192 * (1 + i%16), MaxOutput: 4096,
			Description: "test model " + name}
		if i%5 != 0 {
			mi.InputPrice, mi.OutputPrice = float64(1+(i*37)%400)/100, float64(2+(i*37)%400)/50
		}
		mi.Supports = []string{"tools"}
		if i%3 == 0 {
			mi.Supports = append(mi.Supports, "vision")
		}
		infos = append(infos, mi)
		for _, p := range []int{i % nProviders, (i + 5) % nProviders} {
			provs[p].Models = append(provs[p].Models, catalog.ModelRoute{Name: name, Upstream: name + "-up"})
		}
	}
	return newTestRouter(t, &Handler{Providers: provs, Models: infos, ModelsPage: "/models",
		Aliases: []catalog.AliasConfig{{Name: "fast", Targets: []string{"model-001", "llama-007"}}}})
}

var modelRowRE = regexp.MustCompile(`<tr class="model"><td><code>([^<]+)</code></td><td>([^<]*)</td>`)

func pageModels(body string) (names, providers []string) {
	for _, m := range modelRowRE.FindAllStringSubmatch(body, -1) {
		names = append(names, m[1])
		providers = append(providers, m[2])
	}
	return names, providers
}

func TestModelsPageFiltersAndSorts(t *testing.T) {
	tr := bigCatalogRouter(t)
	get := func(q string) string {
		rec := tr.do(httptest.NewRequest(http.MethodGet, "/models"+q, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d", q, rec.Code)
		}
		return rec.Body.String()
	}
	all, _ := pageModels(get(""))
	if len(all) != 374 {
		t.Fatalf("%d rows, want 374", len(all))
	}
	names, _ := pageModels(get("?q=LLAMA"))
	if len(names) != 54 {
		t.Fatalf("name filter: %d rows", len(names))
	}
	names, provs := pageModels(get("?provider=prov03&supports=vision"))
	if len(names) == 0 || len(names) >= 60 {
		t.Fatalf("provider+capability filter: %d rows", len(names))
	}
	for i, p := range provs {
		if !strings.Contains(p, "prov03") {
			t.Fatalf("%s is not served by prov03: %s", names[i], p)
		}
	}
	// Price order: cheapest first, unknown prices last.
	body := get("?sort=price")
	names, _ = pageModels(body)
	if names[0] == all[0] && names[1] == all[1] {
		t.Fatal("sort=price kept the config order")
	}
	idx := func(n string) int { // the model's number, which decides its metadata
		var i int
		_, _ = fmt.Sscanf(n[strings.IndexByte(n, '-')+1:], "%d", &i)
		return i
	}
	for _, n := range names[len(names)-75:] {
		if idx(n)%5 != 0 {
			t.Fatalf("%s has a price but sorts after the unpriced", n)
		}
	}
	if !strings.Contains(body, `href="?sort=price_desc">Input</a>`) {
		t.Fatal("the Input header does not link to the reverse order")
	}
	// Context order: largest first.
	names, _ = pageModels(get("?sort=context&supports=vision"))
	if first, last := idx(names[0])%16, idx(names[len(names)-1])%16; first != 15 || last != 0 {
		t.Fatalf("context order: first %d last %d", first, last)
	}
	// Values are escaped, unknown sorts ignored.
	body = get(`?q=%22%3E%3Cscript%3E&sort=bogus`)
	if strings.Contains(body, `"><script>`) || !strings.Contains(body, "0 of 374 models") {
		t.Fatal("the query is not escaped, or an unknown sort broke the page")
	}
}

// TestModelsPageInChromium renders the page of a 374-model catalog in headless Chromium,
// filters it through its query parameters, and takes a screenshot into the test's directory.
func TestModelsPageInChromium(t *testing.T) {
	bin := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		skipOrFail(t, "chromium is not installed (apt-get install chromium; .ci/run installs it)")
	}
	tr := bigCatalogRouter(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = caddyhttp.PrepareRequest(r, caddy.NewReplacer(), w, &caddyhttp.Server{})
		_ = tr.ServeHTTP(w, r, nextHandler)
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	chromium := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
			"--no-first-run", "--user-data-dir=" + filepath.Join(dir, "profile"), "--window-size=1400,1800"}
		cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
		}
		return string(out)
	}
	dom := chromium("--dump-dom", srv.URL+"/models")
	if n := strings.Count(dom, `<tr class="model">`); n != 374 {
		t.Fatalf("the browser's DOM has %d model rows, want 374", n)
	}
	if !strings.Contains(dom, "374 of 374 models") {
		t.Fatal("no count in the rendered page")
	}
	filtered := srv.URL + "/models?q=llama&supports=vision&sort=price"
	dom = chromium("--dump-dom", filtered)
	names, _ := pageModels(dom)
	if len(names) == 0 || len(names) >= 54 {
		t.Fatalf("the filter did not narrow the page: %d rows", len(names))
	}
	for _, n := range names {
		if !strings.HasPrefix(n, "llama-") {
			t.Fatalf("%s passed the llama filter", n)
		}
	}
	if !strings.Contains(dom, `value="llama"`) || !strings.Contains(dom, `<option selected="">vision</option>`) {
		t.Fatal("the form does not show the filter in force")
	}
	shot := filepath.Join(dir, "models.png")
	chromium("--screenshot="+shot, filtered)
	st, err := os.Stat(shot)
	if err != nil || st.Size() < 10_000 {
		t.Fatalf("screenshot: %v (%v bytes)", err, st)
	}
	t.Logf("screenshot of %s: %s (%d bytes)", filtered, shot, st.Size())
}
