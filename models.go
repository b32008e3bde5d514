package llmrouter

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/gate"
	"github.com/llmrouter/caddy-llm-router/sse"
)

// modelEntry is one entry of the model list, in OpenAI's shape and Anthropic's at once (each
// client reads its own fields and ignores the others), with the router's extra facts.
type modelEntry struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
	// Type, DisplayName and CreatedAt are Anthropic's fields.
	Type          string   `json:"type"`
	DisplayName   string   `json:"display_name"`
	CreatedAt     string   `json:"created_at"`
	Providers     []string `json:"providers,omitempty"`
	Description   string   `json:"description,omitempty"`
	ContextLength int      `json:"context_length,omitempty"`
	// MaxOutput is the most tokens one reply may have, if known.
	MaxOutput int `json:"max_output,omitempty"`
	// Pricing is in USD per million tokens.
	Pricing *modelPricing `json:"pricing,omitempty"`
	// Supports are the model's known capabilities (tools, vision, json_schema, reasoning).
	Supports []string `json:"supports,omitempty"`
	// Serves are the endpoint families some provider of the model serves (catalog.Capability
	// names: chat, embeddings, images, audio, ...).
	Serves []string `json:"serves,omitempty"`
	// Router describes a virtual model: its goal, tier and candidates.
	Router *routerEntry `json:"router,omitempty"`
}

type modelPricing struct {
	Input      float64 `json:"input"`
	Output     float64 `json:"output"`
	CacheRead  float64 `json:"cache_read,omitempty"`
	CacheWrite float64 `json:"cache_write,omitempty"`
}

// modelList prepares the /v1/models entries once per config load: every public model, owned by
// its first provider, then every alias, owned by the router.
func modelList(cat *catalog.Catalog, now time.Time) []modelEntry {
	created, createdAt := now.Unix(), now.UTC().Format(time.RFC3339)
	data := make([]modelEntry, 0, len(cat.Models)+len(cat.Aliases))
	for _, m := range cat.Models {
		data = append(data, newModelEntry(&m.Info, m.Providers, m.Route.Targets, created, createdAt))
	}
	for _, a := range cat.Aliases {
		data = append(data, modelEntry{ID: a.Name, Object: "model", Created: created, OwnedBy: "llm_router",
			Type: "model", DisplayName: a.Name, CreatedAt: createdAt, Providers: providerNames(a.Targets), Serves: familiesServed(a.Targets)})
	}
	return data
}

// providerNames are the providers of targets, each once, in order.
func providerNames(targets []*catalog.Target) []string {
	var names []string
	for _, t := range targets {
		if !slices.Contains(names, t.Provider.Name) {
			names = append(names, t.Provider.Name)
		}
	}
	return names
}

// newModelEntry is the list entry of a public model with metadata mi.
func newModelEntry(mi *catalog.ModelInfo, providers []string, targets []*catalog.Target, created int64, createdAt string) modelEntry {
	e := modelEntry{
		ID: mi.Name, Object: "model", Created: created, OwnedBy: providers[0],
		Type: "model", DisplayName: mi.Name, CreatedAt: createdAt,
		Providers: providers, Description: mi.Description, ContextLength: mi.ContextLength,
		MaxOutput: mi.MaxOutput, Supports: mi.Supports, Serves: familiesServed(targets),
	}
	if mi.InputPrice > 0 || mi.OutputPrice > 0 || mi.CacheReadPrice > 0 || mi.CacheWritePrice > 0 {
		e.Pricing = &modelPricing{Input: mi.InputPrice, Output: mi.OutputPrice,
			CacheRead: mi.CacheReadPrice, CacheWrite: mi.CacheWritePrice}
	}
	return e
}

// marshalModelList is the /v1/models reply: OpenAI's list, which is also Anthropic's with its
// paging fields (the whole list is one page).
// wildcard names the `model *` providers: they accept `<provider>/<any-upstream-id>` beyond the
// models listed.
func marshalModelList(data []modelEntry, wildcard []string) []byte {
	var first, last string
	if len(data) > 0 {
		first, last = data[0].ID, data[len(data)-1].ID
	}
	body, _ := json.Marshal(struct {
		Object  string       `json:"object"`
		Data    []modelEntry `json:"data"`
		HasMore bool         `json:"has_more"`
		FirstID string       `json:"first_id"`
		LastID  string       `json:"last_id"`
		// WildcardProviders accept any upstream id as `<provider>/<id>`.
		WildcardProviders []string `json:"wildcard_providers,omitempty"`
	}{"list", data, false, first, last, wildcard})
	return append(body, '\n')
}

// serveModels lists the models; a client whose key is scoped sees only what it may use.
func (h *Handler) serveModels(w http.ResponseWriter, r *http.Request, c *gate.Client) {
	entries, body := h.listing()
	if c != nil {
		allowed := make([]modelEntry, 0, len(entries))
		for _, e := range entries {
			if c.Allows(e.ID) {
				allowed = append(allowed, e)
			}
		}
		var wild []string
		for _, p := range h.wildNames {
			if c.Allows(wildcardMetricName(p)) {
				wild = append(wild, p)
			}
		}
		if len(allowed) < len(entries) || len(wild) < len(h.wildNames) {
			body = marshalModelList(allowed, wild)
		}
	}
	writeJSON(w, r, http.StatusOK, body)
}

// serveModel answers GET /v1/models/{id}, what openai's models.retrieve and Anthropic's
// models.get ask: the entry /v1/models lists for the name, or, for another name a request may
// send (provider/model, an upstream id, an id of a `model *` provider), an entry of its own.
// A name that does not exist, or that the client's key may not use, is a 404, as the list,
// which shows neither, implies.
func (h *Handler) serveModel(w http.ResponseWriter, r *http.Request, c *gate.Client, d sse.Dialect, id string) {
	e, ok := h.modelEntryFor(id)
	if !ok || c != nil && !c.Allows(id) {
		writeError(w, d, http.StatusNotFound, errInvalidRequest, "model_not_found",
			fmt.Sprintf("the model %q does not exist; GET /v1/models lists them", clipEcho(id)))
		return
	}
	body, _ := json.Marshal(e)
	writeJSON(w, r, http.StatusOK, body)
}

// modelEntryFor is the model list's entry for a name a client may send, if it names a model.
func (h *Handler) modelEntryFor(id string) (modelEntry, bool) {
	entries, _ := h.listing()
	find := func(name string) (modelEntry, bool) {
		for _, e := range entries {
			if e.ID == name {
				return e, true
			}
		}
		return modelEntry{}, false
	}
	if e, ok := find(id); ok {
		return e, true
	}
	now := h.now()
	e := modelEntry{Object: "model", Type: "model", Created: now.Unix(), CreatedAt: now.UTC().Format(time.RFC3339)}
	if len(entries) > 0 { // the list's load time, so both answers agree
		e.Created, e.CreatedAt = entries[0].Created, entries[0].CreatedAt
	}
	if p := h.namedPool(id); p != nil && len(p.route.Targets) > 0 {
		if p.route.Info != nil {
			if base, ok := find(p.route.Info.Name); ok {
				e = base
			}
		}
		e.Providers, e.Serves = providerNames(p.route.Targets), familiesServed(p.route.Targets)
		e.OwnedBy = e.Providers[0]
	} else if prov, up, ok := strings.Cut(id, "/"); ok && h.wild[prov] != nil && catalog.CheckUpstreamID(up) == nil {
		e.OwnedBy, e.Providers, e.Serves = prov, []string{prov}, h.wild[prov].prov.Serves.Names()
	} else {
		return modelEntry{}, false
	}
	e.ID, e.DisplayName = id, id
	return e, true
}

func writeJSON(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// familiesServed names the endpoint families the targets' providers serve, together.
func familiesServed(ts []*catalog.Target) []string {
	var c catalog.Capability
	for _, t := range ts {
		c |= t.Provider.Serves
	}
	return c.Names()
}

// geminiModel is one model in Gemini's shape (GET /v1beta/models), as Google's SDKs read it.
type geminiModel struct {
	Name                       string   `json:"name"`
	DisplayName                string   `json:"displayName"`
	Description                string   `json:"description,omitempty"`
	InputTokenLimit            int      `json:"inputTokenLimit,omitempty"`
	OutputTokenLimit           int      `json:"outputTokenLimit,omitempty"`
	SupportedGenerationMethods []string `json:"supportedGenerationMethods"`
	Thinking                   bool     `json:"thinking,omitempty"`
}

// Gemini's methods for what a model's providers serve: Google's clients pick models by them,
// so an embeddings-only model must not read as one that generates content.
var (
	geminiChatMethods  = []string{"generateContent", "streamGenerateContent", "countTokens"}
	geminiEmbedMethods = []string{"embedContent", "batchEmbedContents"}
	geminiBothMethods  = append(append([]string(nil), geminiChatMethods...), geminiEmbedMethods...)
)

func geminiMethods(serves []string) []string {
	chat, embed := slices.Contains(serves, "chat"), slices.Contains(serves, "embeddings")
	switch {
	case chat && embed:
		return geminiBothMethods
	case embed:
		return geminiEmbedMethods
	}
	return geminiChatMethods
}

// serveGeminiModels answers Gemini's models.list, or models.get for one model: the same
// models as /v1/models (a scoped key sees only its own), named `models/<public name>`.
func (h *Handler) serveGeminiModels(w http.ResponseWriter, r *http.Request, c *gate.Client, model string) {
	var list []geminiModel
	entries, _ := h.listing()
	for _, e := range entries {
		if (model == "" || e.ID == model) && (c == nil || c.Allows(e.ID)) {
			list = append(list, geminiModel{Name: "models/" + e.ID, DisplayName: e.DisplayName, Description: e.Description,
				InputTokenLimit: e.ContextLength, OutputTokenLimit: e.MaxOutput,
				SupportedGenerationMethods: geminiMethods(e.Serves), Thinking: slices.Contains(e.Supports, "reasoning")})
		}
	}
	if model == "" {
		body, _ := json.Marshal(struct {
			Models []geminiModel `json:"models"`
		}{list})
		writeJSON(w, r, http.StatusOK, body)
		return
	}
	if len(list) == 0 {
		writeError(w, sse.Gemini, http.StatusNotFound, errInvalidRequest, "model_not_found",
			fmt.Sprintf("the model %q does not exist; GET /v1beta/models lists them", clipEcho(model)))
		return
	}
	body, _ := json.Marshal(list[0])
	writeJSON(w, r, http.StatusOK, body)
}
