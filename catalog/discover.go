package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/llmrouter/caddy-llm-router/transport"
)

// Defaults of discovery and health checks.
const (
	DefaultDiscoverInterval    = time.Hour
	DefaultDiscoverTimeout     = 5 * time.Second
	DefaultDiscoverLimit       = 10000
	DefaultHealthInterval      = 60 * time.Second
	DefaultHealthTimeout       = 10 * time.Second
	DefaultHealthConcurrency   = 4
	maxDiscoverPattern         = 256
	minDiscoverOrProbeInterval = time.Second
)

// MaxDiscoveredIDs bounds the distinct ids a fetch keeps from one list, whatever its pages
// say: an upstream that lists millions of tiny entries must not fill the memory.
const MaxDiscoveredIDs = 100000

// discoverAndProbe checks and copies a provider's discovery, health check and timeout
// overrides, with defaults applied.
func (b *builder) discoverAndProbe(pc *ProviderConfig, p *Provider) error {
	for _, d := range []struct {
		name string
		v    transport.Duration
		to   *time.Duration
	}{
		{"response_header_timeout", pc.ResponseHeaderTimeout, &p.ResponseHeaderTimeout},
		{"first_event_timeout", pc.FirstEventTimeout, &p.FirstEventTimeout},
		{"stream_idle_timeout", pc.StreamIdleTimeout, &p.StreamIdleTimeout},
	} {
		if d.v < 0 {
			return fmt.Errorf("provider %q: %s must not be negative", pc.Name, d.name)
		}
		*d.to = time.Duration(d.v)
	}
	if dc := pc.Discover; dc != nil {
		if p.API == APIAzure && p.APIVersion != AzureV1 {
			return fmt.Errorf("provider %q: discover needs api_version v1 on api azure (the deployments API lists no deployments)", pc.Name)
		}
		d := *dc
		for _, pat := range append(append([]string(nil), d.Include...), d.Exclude...) {
			if pat == "" || len(pat) > maxDiscoverPattern {
				return fmt.Errorf("provider %q: discover: a pattern has 1 to %d characters", pc.Name, maxDiscoverPattern)
			}
		}
		if d.Prefix != "" && CheckUpstreamID(strings.TrimRight(d.Prefix, "/-_.:")+"x") != nil {
			return fmt.Errorf("provider %q: discover prefix %q holds characters a model name cannot", pc.Name, clip(d.Prefix, 64))
		}
		if d.Interval == 0 {
			d.Interval = transport.Duration(DefaultDiscoverInterval)
		}
		if d.Timeout == 0 {
			d.Timeout = transport.Duration(DefaultDiscoverTimeout)
		}
		if d.Limit == 0 {
			d.Limit = DefaultDiscoverLimit
		}
		if time.Duration(d.Interval) < minDiscoverOrProbeInterval || d.Timeout < 0 || d.Limit < 0 {
			return fmt.Errorf("provider %q: discover interval must be at least 1s, timeout and limit not negative", pc.Name)
		}
		if d.Limit > MaxDiscoveredIDs {
			return fmt.Errorf("provider %q: discover limit %d is above the most a list is read for, %d", pc.Name, d.Limit, MaxDiscoveredIDs)
		}
		p.Discover = &d
	}
	if hc := pc.HealthCheck; hc != nil {
		c := *hc
		if c.Interval == 0 {
			c.Interval = transport.Duration(DefaultHealthInterval)
		}
		if c.Timeout == 0 {
			c.Timeout = transport.Duration(DefaultHealthTimeout)
		}
		if c.Concurrency == 0 {
			c.Concurrency = DefaultHealthConcurrency
		}
		if time.Duration(c.Interval) < minDiscoverOrProbeInterval || c.Timeout < 0 || c.Concurrency < 0 {
			return fmt.Errorf("provider %q: health_check interval must be at least 1s, timeout and concurrency not negative", pc.Name)
		}
		if c.Path == "" {
			if ps, ok := LookupPreset(p.Preset); ok {
				c.Path = ps.ProbePath
			}
		} else if c.Path[0] != '/' || strings.ContainsAny(c.Path, "?# \t\r\n") {
			return fmt.Errorf("provider %q: health_check path %q must start with / and hold no query", pc.Name, clip(c.Path, 64))
		}
		p.HealthCheck = &c
	}
	return nil
}

// Accept reports whether discovery keeps upstream id: it matches an include pattern (or
// there are none) and no exclude pattern, and it is an id the router may send.
func (d *DiscoverConfig) Accept(id string) bool {
	if CheckUpstreamID(id) != nil {
		return false
	}
	if len(d.Include) > 0 {
		ok := false
		for _, p := range d.Include {
			if Glob(p, id) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for _, p := range d.Exclude {
		if Glob(p, id) {
			return false
		}
	}
	return true
}

// PublicName is the public name of discovered upstream id.
func (d *DiscoverConfig) PublicName(id string) string { return d.Prefix + id }

// Glob matches s against pattern, where `*` stands for any run of characters (`/` included)
// and `?` for one byte; everything else matches itself.
func Glob(pattern, s string) bool {
	// The classic two-pointer match with backtracking to the last star: linear in practice.
	p, i, star, mark := 0, 0, -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p, mark = star+1, mark+1
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// DiscoveredTargets makes the targets that serve a discovered model, public name public and
// upstream id up: one per key and node, with the StateIDs a listed model of that id gets, so
// health is shared with it (and with a wildcard id) and survives reloads.
func (p *Provider) DiscoveredTargets(public, up string) []*Target {
	ts := p.WildcardTargets(up)
	for _, t := range ts {
		t.Model = public
	}
	return ts
}

// DiscoveredModel is one entry of a provider's model list, with what the list says about it.
type DiscoveredModel struct {
	// ID is the upstream id.
	ID string `json:"id"`
	// Info holds the metadata the list carried (OpenRouter's prices and context length,
	// Gemini's token limits); Info.Name is empty.
	Info ModelInfo `json:"info"`
}

// ModelsURL is the URL of the provider's model list at node, for the page after `page` (""
// for the first), with the provider's extra query. Anthropic pages with after_id, Gemini with
// pageToken; OpenAI-style lists are one page.
func (p *Provider) ModelsURL(node, page string) string {
	u := node + "/models"
	q := url.Values{}
	switch p.API {
	case APIAzure:
		u = node + "/openai/v1/models"
	case APIAnthropic:
		q.Set("limit", "1000")
		if page != "" {
			q.Set("after_id", page)
		}
	case APIGemini:
		q.Set("pageSize", "1000")
		if page != "" {
			q.Set("pageToken", page)
		}
	}
	qs := q.Encode()
	if p.query != "" {
		if qs != "" {
			qs += "&"
		}
		qs += p.query
	}
	if qs != "" {
		u += "?" + qs
	}
	return u
}

// ProbeURL is the URL a health check GETs at node: the health check's path, else the first
// page of the model list.
func (p *Provider) ProbeURL(node string) string {
	if p.HealthCheck == nil || p.HealthCheck.Path == "" {
		return p.ModelsURL(node, "")
	}
	u := node + p.HealthCheck.Path
	if p.query != "" {
		u += "?" + p.query
	}
	return u
}

// ErrNotModelList says a reply is not the dialect's model list.
var ErrNotModelList = errors.New("the reply is not a model list")

// ParseModelList reads one page of a provider's model list in its dialect: OpenAI's (and
// OpenRouter's, with prices) `{"data":[{"id":...}]}`, Anthropic's with `has_more`/`last_id`,
// or Gemini's `{"models":[{"name":"models/..."}],"nextPageToken":...}`. next is the token of
// the next page, "" for the last.
func ParseModelList(api API, body []byte) (models []DiscoveredModel, next string, err error) {
	if api == APIGemini {
		var list struct {
			Models []struct {
				Name                       string   `json:"name"`
				Description                string   `json:"description"`
				InputTokenLimit            int      `json:"inputTokenLimit"`
				OutputTokenLimit           int      `json:"outputTokenLimit"`
				SupportedGenerationMethods []string `json:"supportedGenerationMethods"`
				Thinking                   bool     `json:"thinking"`
			} `json:"models"`
			NextPageToken string `json:"nextPageToken"`
		}
		if err := json.Unmarshal(body, &list); err != nil || list.Models == nil && list.NextPageToken == "" {
			return nil, "", ErrNotModelList
		}
		for _, m := range list.Models {
			id := strings.TrimPrefix(m.Name, "models/")
			if id == "" || !generates(m.SupportedGenerationMethods) {
				continue
			}
			dm := DiscoveredModel{ID: id, Info: ModelInfo{Description: m.Description,
				ContextLength: m.InputTokenLimit, MaxOutput: m.OutputTokenLimit}}
			if m.Thinking {
				dm.Info.Supports = []string{"reasoning"}
			}
			models = append(models, dm)
		}
		return models, list.NextPageToken, nil
	}
	type entry struct {
		ID            string `json:"id"`
		Description   string `json:"description"`
		ContextLength int    `json:"context_length"`
		Pricing       *struct {
			Prompt          json.Number `json:"prompt"`
			Completion      json.Number `json:"completion"`
			InputCacheRead  json.Number `json:"input_cache_read"`
			InputCacheWrite json.Number `json:"input_cache_write"`
		} `json:"pricing"`
		TopProvider *struct {
			ContextLength       int `json:"context_length"`
			MaxCompletionTokens int `json:"max_completion_tokens"`
		} `json:"top_provider"`
		SupportedParameters []string `json:"supported_parameters"`
		Architecture        *struct {
			InputModalities []string `json:"input_modalities"`
		} `json:"architecture"`
	}
	// Each entry is decoded on its own: one whose field has an unexpected type (a context
	// length as a string, a price that is no number) loses its metadata, not the provider
	// its list.
	var list struct {
		Data    []json.RawMessage `json:"data"`
		HasMore bool              `json:"has_more"`
		LastID  string            `json:"last_id"`
	}
	bare := false
	if b := bytes.TrimLeft(body, " \t\r\n"); len(b) > 0 && b[0] == '[' {
		// Together's list is a bare array of the entries. One without a model could be any
		// array: the last good list is kept (below).
		if err := json.Unmarshal(b, &list.Data); err != nil {
			return nil, "", ErrNotModelList
		}
		bare = true
	} else if err := json.Unmarshal(body, &list); err != nil || list.Data == nil {
		return nil, "", ErrNotModelList
	}
	for _, raw := range list.Data {
		var m entry
		if json.Unmarshal(raw, &m) != nil {
			var id struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(raw, &id)
			m = entry{ID: id.ID}
		}
		if m.ID == "" {
			continue
		}
		dm := DiscoveredModel{ID: m.ID, Info: ModelInfo{Description: m.Description, ContextLength: m.ContextLength}}
		if m.Pricing != nil {
			// OpenRouter quotes USD per token, as decimal strings; the catalog keeps per million.
			dm.Info.InputPrice = perMillion(m.Pricing.Prompt)
			dm.Info.OutputPrice = perMillion(m.Pricing.Completion)
			dm.Info.CacheReadPrice = perMillion(m.Pricing.InputCacheRead)
			dm.Info.CacheWritePrice = perMillion(m.Pricing.InputCacheWrite)
		}
		if tp := m.TopProvider; tp != nil {
			dm.Info.MaxOutput = tp.MaxCompletionTokens
			if dm.Info.ContextLength == 0 {
				dm.Info.ContextLength = tp.ContextLength
			}
		}
		var sup []string
		for _, p := range m.SupportedParameters {
			switch p {
			case "tools":
				sup = appendOnce(sup, "tools")
			case "structured_outputs":
				sup = appendOnce(sup, "json_schema")
			case "reasoning", "include_reasoning":
				sup = appendOnce(sup, "reasoning")
			}
		}
		if a := m.Architecture; a != nil {
			for _, mod := range a.InputModalities {
				if mod == "image" {
					sup = appendOnce(sup, "vision")
				}
			}
		}
		dm.Info.Supports = sup
		models = append(models, dm)
	}
	if bare && len(models) == 0 {
		return nil, "", ErrNotModelList
	}
	if api == APIAnthropic && list.HasMore && list.LastID != "" {
		// Only Anthropic's list pages (ModelsURL asks it with after_id): an OpenAI-shaped list
		// that says has_more would be asked the same URL again, and every id counted twice.
		next = list.LastID
	}
	return models, next, nil
}

func generates(methods []string) bool {
	if len(methods) == 0 {
		return true // not said: keep it
	}
	for _, m := range methods {
		if m == "generateContent" {
			return true
		}
	}
	return false
}

// perMillion turns a price per token (a JSON number or numeric string) into USD per million;
// negative values (OpenRouter's -1 for "varies") and garbage are 0, unknown.
func perMillion(n json.Number) float64 {
	f, err := strconv.ParseFloat(strings.Trim(string(n), `"`), 64)
	if err != nil || f <= 0 || f > 1 {
		return 0
	}
	return roundPrice(f * 1e6)
}

// roundPrice drops the float noise of a per-token to per-million conversion
// (0.00000059 * 1e6 = 0.5900000000000001).
func roundPrice(f float64) float64 {
	r, err := strconv.ParseFloat(strconv.FormatFloat(f, 'g', 10, 64), 64)
	if err != nil {
		return f
	}
	return r
}

func appendOnce(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// FillFrom sets each of m's metadata fields that is unset from src: explicit settings win,
// then, in the order they are applied, price files and what discovery reported.
func (m *ModelInfo) FillFrom(src ModelInfo) {
	if m.Description == "" {
		m.Description = src.Description
	}
	if m.ContextLength == 0 {
		m.ContextLength = src.ContextLength
	}
	if m.InputPrice == 0 && m.OutputPrice == 0 {
		m.InputPrice, m.OutputPrice = src.InputPrice, src.OutputPrice
	}
	if m.CacheReadPrice == 0 {
		m.CacheReadPrice = src.CacheReadPrice
	}
	if m.CacheWritePrice == 0 {
		m.CacheWritePrice = src.CacheWritePrice
	}
	if m.MaxOutput == 0 {
		m.MaxOutput = src.MaxOutput
	}
	if len(m.Supports) == 0 {
		m.Supports = src.Supports
	}
}
