package llmrouter

import (
	"bytes"
	"html/template"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/llmrouter/caddy-llm-router/selector"
	"github.com/llmrouter/caddy-llm-router/sse"
)

// maxCoolingRows bounds the cooling table of the status page; a 35,000-target catalog in a
// bad hour must not make a page of megabytes.
const maxCoolingRows = 500

type providerRow struct {
	Name                         string
	Nodes, Keys, Targets         int
	Healthy, Cooling, KeyCooling int
	Requests, Failures           uint64
}

type coolingRow struct {
	Target, Model, State, Reason, Left, Until string
}

type statusPage struct {
	Now       string
	Providers []providerRow
	Cooling   []coolingRow
	More      int
	// Fleet is the shared state and today's fleet-wide usage; nil without a shared state.
	Fleet *fleetView
}

func (h *Handler) serveStatusPage(w http.ResponseWriter, r *http.Request) {
	now := h.now()
	rows := make(map[string]*providerRow, len(h.cat.Providers))
	page := statusPage{Now: now.UTC().Format(time.RFC1123)}
	for _, p := range h.cat.Providers {
		rows[p.Name] = &providerRow{Name: p.Name, Nodes: len(p.Nodes), Keys: p.KeyCount}
	}
	h.eachTarget(make(map[*selector.State]bool, len(h.targets)), func(t *target) {
		ts := h.targetStatus(t, now)
		row := rows[ts.Provider]
		row.Targets++
		row.Requests += ts.Requests
		row.Failures += ts.Failures
		switch ts.State {
		case "healthy":
			row.Healthy++
			return
		case "cooling":
			row.Cooling++
		default:
			row.KeyCooling++
		}
		if len(page.Cooling) == maxCoolingRows {
			page.More++
			return
		}
		reason := ts.LastFailure
		if ts.LastStatus > 0 {
			reason += " (" + strconv.Itoa(ts.LastStatus) + ")"
		}
		page.Cooling = append(page.Cooling, coolingRow{
			Target: ts.Target, Model: ts.Model, State: ts.State, Reason: reason,
			Left:  humanize.RelTime(now, *ts.CoolingUntil, "from now", "ago"),
			Until: ts.CoolingUntil.Format(time.RFC3339),
		})
	})
	for _, p := range h.cat.Providers {
		page.Providers = append(page.Providers, *rows[p.Name])
	}
	sort.SliceStable(page.Cooling, func(i, j int) bool { return page.Cooling[i].Until < page.Cooling[j].Until })
	page.Fleet = h.fleetView(r.Context())
	renderPage(w, r, statusTemplate, page)
}

func renderPage(w http.ResponseWriter, r *http.Request, t *template.Template, data any) {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		writeError(w, sse.OpenAI, http.StatusInternalServerError, errUpstream, "page_failed", "could not render the page")
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

const pageStyle = `<style>
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1d2430}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #e3e6ea}
th{background:#f5f6f8}td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#17803d}.bad{color:#b42318}.muted{color:#667085}code{font-size:.9em}
</style>`

var statusTemplate = template.Must(template.New("status").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>llm_router status</title>` + pageStyle + `</head><body>
<h1>llm_router status</h1>
<p class="muted">As of {{.Now}}.</p>
<h2>Providers</h2>
<table><thead><tr><th>Provider</th><th>Nodes</th><th>Keys</th><th>Targets</th><th>Healthy</th><th>Cooling</th><th>Key cooling</th><th>Requests</th><th>Failures</th></tr></thead><tbody>
{{range .Providers}}<tr><td>{{.Name}}</td><td class="n">{{.Nodes}}</td><td class="n">{{.Keys}}</td><td class="n">{{.Targets}}</td>
<td class="n ok">{{.Healthy}}</td><td class="n{{if .Cooling}} bad{{end}}">{{.Cooling}}</td><td class="n{{if .KeyCooling}} bad{{end}}">{{.KeyCooling}}</td>
<td class="n">{{.Requests}}</td><td class="n">{{.Failures}}</td></tr>
{{else}}<tr><td colspan="9" class="muted">No usable provider.</td></tr>{{end}}
</tbody></table>
<h2>Cooling targets</h2>
{{if .Cooling}}<table><thead><tr><th>Target</th><th>Model</th><th>Scope</th><th>Last failure</th><th>Back</th></tr></thead><tbody>
{{range .Cooling}}<tr><td><code>{{.Target}}</code></td><td>{{.Model}}</td><td>{{.State}}</td><td>{{.Reason}}</td><td><time datetime="{{.Until}}">{{.Left}}</time></td></tr>
{{end}}</tbody></table>{{if .More}}<p class="muted">And {{.More}} more.</p>{{end}}
{{else}}<p class="ok">Every target is in rotation.</p>{{end}}
{{with .Fleet}}<h2>Fleet usage today (every instance)</h2>
<p class="muted">Shared state: {{.Backend}}, {{if .Up}}<span class="ok">up</span>{{else}}<span class="bad">down: this instance runs on local state</span>{{end}}.</p>
{{if .Error}}<p class="bad">{{.Error}}</p>{{else}}<table><thead><tr><th>Model</th><th>Requests</th><th>Tokens in</th><th>Tokens out</th><th>Cost</th></tr></thead><tbody>
{{range .Rows}}<tr><td>{{.Model}}</td><td class="n">{{.Requests}}</td><td class="n">{{.TokensIn}}</td><td class="n">{{.TokensOut}}</td><td class="n">{{.Cost}}</td></tr>
{{else}}<tr><td colspan="5" class="muted">No usage recorded today.</td></tr>{{end}}
</tbody></table>{{end}}{{end}}
</body></html>
`))
