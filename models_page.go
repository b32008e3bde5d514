package llmrouter

import (
	"cmp"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/dustin/go-humanize"
)

// maxModelRows bounds the models page's table; a narrower filter shows the rest.
const maxModelRows = 1000

// capabilities are the model capabilities the page filters on (catalog.ModelInfo.Supports).
var capabilities = []string{"tools", "vision", "json_schema", "reasoning"}

// modelSorts are the models page's orders: the query value and its label.
var modelSorts = [][2]string{
	{"", "as configured"}, {"name", "name"}, {"price", "price, cheapest first"},
	{"price_desc", "price, dearest first"}, {"context", "context, largest first"},
	{"context_asc", "context, smallest first"},
}

type modelRow struct {
	Name, Providers, Description, Context, MaxOutput, Input, Output, CacheRead, Supports string
}

// modelsQuery is the models page's filter and order, from its query parameters: q (part of
// the name or description, any case), provider, supports and sort.
type modelsQuery struct {
	Q, Provider, Supports, Sort string
}

type modelsPage struct {
	Query          modelsQuery
	Models         []modelRow
	Aliases        []modelRow
	Shown, Total   int
	More           int
	Providers      []string
	Capabilities   []string
	Sorts          [][2]string
	SortByPrice    string
	SortByContext  string
	Wildcard       []string
	FilterIsActive bool
}

func (q modelsQuery) with(sort string) string {
	v := url.Values{}
	for k, s := range map[string]string{"q": q.Q, "provider": q.Provider, "supports": q.Supports, "sort": sort} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if len(v) == 0 {
		return "?"
	}
	return "?" + v.Encode()
}

func (q modelsQuery) keep(e *modelEntry) bool {
	if q.Q != "" {
		needle := strings.ToLower(q.Q)
		if !strings.Contains(strings.ToLower(e.ID), needle) && !strings.Contains(strings.ToLower(e.Description), needle) {
			return false
		}
	}
	if q.Provider != "" && !slices.Contains(e.Providers, q.Provider) {
		return false
	}
	if q.Supports != "" && !slices.Contains(e.Supports, q.Supports) {
		return false
	}
	return true
}

// price is a model's price for ordering: input, then output; unknown sorts last.
func price(e *modelEntry) (float64, float64, bool) {
	if e.Pricing == nil {
		return 0, 0, false
	}
	return e.Pricing.Input, e.Pricing.Output, true
}

func sortEntries(list []*modelEntry, order string) {
	known := func(a, b bool) int { // known values first
		switch {
		case a == b:
			return 0
		case a:
			return -1
		}
		return 1
	}
	switch order {
	case "name":
		slices.SortStableFunc(list, func(a, b *modelEntry) int { return strings.Compare(a.ID, b.ID) })
	case "price", "price_desc":
		slices.SortStableFunc(list, func(a, b *modelEntry) int {
			ai, ao, ak := price(a)
			bi, bo, bk := price(b)
			if c := known(ak, bk); c != 0 || !ak {
				return c
			}
			c := cmp.Or(cmp.Compare(ai, bi), cmp.Compare(ao, bo))
			if order == "price_desc" {
				c = -c
			}
			return c
		})
	case "context", "context_asc":
		slices.SortStableFunc(list, func(a, b *modelEntry) int {
			if c := known(a.ContextLength > 0, b.ContextLength > 0); c != 0 {
				return c
			}
			c := cmp.Compare(b.ContextLength, a.ContextLength)
			if order == "context_asc" {
				c = -c
			}
			return c
		})
	}
}

func usd(f float64) string {
	if f == 0 {
		return ""
	}
	return "$" + humanize.FtoaWithDigits(f, 4)
}

// serveModelsPage renders the model catalog, filtered and ordered by the query parameters
// on the server: it works without scripts, and a filtered view is a link to share.
func (h *Handler) serveModelsPage(w http.ResponseWriter, r *http.Request) {
	qv := r.URL.Query()
	q := modelsQuery{Q: strings.TrimSpace(qv.Get("q")), Provider: qv.Get("provider"), Supports: qv.Get("supports"), Sort: qv.Get("sort")}
	if len(q.Q) > 200 {
		q.Q = q.Q[:200]
	}
	if !slices.ContainsFunc(modelSorts, func(s [2]string) bool { return s[0] == q.Sort }) {
		q.Sort = ""
	}
	page := modelsPage{Query: q, Capabilities: capabilities, Sorts: modelSorts, Wildcard: h.wildNames,
		FilterIsActive: q.Q != "" || q.Provider != "" || q.Supports != ""}
	for _, p := range h.cat.Providers {
		page.Providers = append(page.Providers, p.Name)
	}
	page.SortByPrice, page.SortByContext = q.with("price"), q.with("context")
	if q.Sort == "price" {
		page.SortByPrice = q.with("price_desc")
	}
	if q.Sort == "context" {
		page.SortByContext = q.with("context_asc")
	}
	entries, _ := h.listing()
	var models []*modelEntry
	for i := range entries {
		e := &entries[i]
		if e.OwnedBy == "llm_router" {
			if q.keep(e) {
				page.Aliases = append(page.Aliases, modelRow{Name: e.ID, Providers: strings.Join(e.Providers, ", ")})
			}
			continue
		}
		page.Total++
		if q.keep(e) {
			models = append(models, e)
		}
	}
	sortEntries(models, q.Sort)
	page.Shown = len(models)
	if len(models) > maxModelRows {
		page.More = len(models) - maxModelRows
		models = models[:maxModelRows]
	}
	for _, e := range models {
		row := modelRow{Name: e.ID, Description: e.Description, Providers: strings.Join(e.Providers, ", "),
			Supports: strings.Join(e.Supports, ", ")}
		if e.ContextLength > 0 {
			row.Context = humanize.Comma(int64(e.ContextLength))
		}
		if e.MaxOutput > 0 {
			row.MaxOutput = humanize.Comma(int64(e.MaxOutput))
		}
		if e.Pricing != nil {
			row.Input, row.Output, row.CacheRead = usd(e.Pricing.Input), usd(e.Pricing.Output), usd(e.Pricing.CacheRead)
		}
		page.Models = append(page.Models, row)
	}
	renderPage(w, r, modelsTemplate, page)
}

var modelsTemplate = template.Must(template.New("models").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Models</title>` + pageStyle + `<style>
form.filter{display:flex;flex-wrap:wrap;gap:.6rem;align-items:end;margin:1rem 0}
form.filter label{display:flex;flex-direction:column;font-size:.85rem;color:#475467}
form.filter input,form.filter select,form.filter button{font:inherit;padding:.3rem .5rem}
th a{color:inherit}</style></head><body>
<h1>Models you can call here</h1>
<p class="muted">Send one of these names as <code>model</code> to <code>/v1/chat/completions</code>. Prices are USD per million tokens.</p>
<form class="filter" method="get" role="search">
<label>Name <input type="search" name="q" value="{{.Query.Q}}" placeholder="llama, gpt-4o, …"></label>
<label>Provider <select name="provider"><option value="">any</option>{{range .Providers}}<option{{if eq . $.Query.Provider}} selected{{end}}>{{.}}</option>{{end}}</select></label>
<label>Can do <select name="supports"><option value="">anything</option>{{range .Capabilities}}<option{{if eq . $.Query.Supports}} selected{{end}}>{{.}}</option>{{end}}</select></label>
<label>Order <select name="sort">{{range .Sorts}}<option value="{{index . 0}}"{{if eq (index . 0) $.Query.Sort}} selected{{end}}>{{index . 1}}</option>{{end}}</select></label>
<button type="submit">Show</button>{{if .FilterIsActive}} <a href="?">clear</a>{{end}}
</form>
<p class="muted" id="count">{{.Shown}} of {{.Total}} models{{if .More}}; the first {{len .Models}} are shown, narrow the filter for the rest{{end}}.</p>
<table id="models"><thead><tr><th>Model</th><th>Providers</th><th><a href="{{.SortByContext}}">Context</a></th><th>Max output</th><th><a href="{{.SortByPrice}}">Input</a></th><th>Output</th><th>Cache read</th><th>Can do</th><th>Description</th></tr></thead><tbody>
{{range .Models}}<tr class="model"><td><code>{{.Name}}</code></td><td>{{.Providers}}</td><td class="n">{{.Context}}</td><td class="n">{{.MaxOutput}}</td><td class="n">{{.Input}}</td><td class="n">{{.Output}}</td><td class="n">{{.CacheRead}}</td><td>{{.Supports}}</td><td>{{.Description}}</td></tr>
{{else}}<tr><td colspan="9" class="muted">No model matches.</td></tr>{{end}}
</tbody></table>
{{if .Aliases}}<h2>Aliases</h2>
<table><thead><tr><th>Alias</th><th>Providers</th></tr></thead><tbody>
{{range .Aliases}}<tr><td><code>{{.Name}}</code></td><td>{{.Providers}}</td></tr>
{{end}}</tbody></table>{{end}}
{{if .Wildcard}}<h2>Any model of a provider</h2>
<p>These providers take any of their own model ids: send <code>provider/id</code>.</p>
<ul>{{range .Wildcard}}<li><code>{{.}}/&lt;id&gt;</code></li>{{end}}</ul>{{end}}
</body></html>
`))
