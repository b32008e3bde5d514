package catalog

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// Prices is a price file's metadata by model key, in LiteLLM's
// `model_prices_and_context_window.json` format: an object whose keys are model names, bare
// (`gpt-4o`, `claude-sonnet-4-5`) or provider-prefixed (`groq/llama-3.3-70b-versatile`,
// `openrouter/meta-llama/llama-3.3-70b-instruct`), each with per-token prices and limits.
type Prices map[string]ModelInfo

// litellmEntry is the part of a LiteLLM entry the router reads. Prices are USD per token.
type litellmEntry struct {
	InputCostPerToken           float64 `json:"input_cost_per_token"`
	OutputCostPerToken          float64 `json:"output_cost_per_token"`
	CacheReadInputTokenCost     float64 `json:"cache_read_input_token_cost"`
	CacheCreationInputTokenCost float64 `json:"cache_creation_input_token_cost"`
	MaxInputTokens              any     `json:"max_input_tokens"`
	MaxTokens                   any     `json:"max_tokens"`
	MaxOutputTokens             any     `json:"max_output_tokens"`
	SupportsFunctionCalling     bool    `json:"supports_function_calling"`
	SupportsVision              bool    `json:"supports_vision"`
	SupportsResponseSchema      bool    `json:"supports_response_schema"`
	SupportsReasoning           bool    `json:"supports_reasoning"`
}

// LoadPriceFile reads a price file in LiteLLM's format. Entries that are not objects, and the
// file's `sample_spec` entry, are skipped; fields the router does not use are ignored.
func LoadPriceFile(path string) (Prices, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading price file: %w", err)
	}
	return ParsePrices(data)
}

// ParsePrices parses a price file's content (see LoadPriceFile).
func ParsePrices(data []byte) (Prices, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("price file: %w", err)
	}
	out := make(Prices, len(raw))
	for key, v := range raw {
		if key == "sample_spec" || len(v) == 0 || v[0] != '{' {
			continue
		}
		var e litellmEntry
		if json.Unmarshal(v, &e) != nil {
			continue // one odd entry must not cost the whole file
		}
		mi := ModelInfo{
			InputPrice:      perMillionF(e.InputCostPerToken),
			OutputPrice:     perMillionF(e.OutputCostPerToken),
			CacheReadPrice:  perMillionF(e.CacheReadInputTokenCost),
			CacheWritePrice: perMillionF(e.CacheCreationInputTokenCost),
			ContextLength:   tokens(e.MaxInputTokens),
			MaxOutput:       tokens(e.MaxOutputTokens),
		}
		if mi.ContextLength == 0 {
			// LiteLLM's legacy max_tokens is the context window for older entries.
			mi.ContextLength = tokens(e.MaxTokens)
		}
		if mi.MaxOutput == 0 && tokens(e.MaxTokens) != mi.ContextLength {
			mi.MaxOutput = tokens(e.MaxTokens)
		}
		for _, s := range []struct {
			on   bool
			name string
		}{{e.SupportsFunctionCalling, "tools"}, {e.SupportsVision, "vision"},
			{e.SupportsResponseSchema, "json_schema"}, {e.SupportsReasoning, "reasoning"}} {
			if s.on {
				mi.Supports = append(mi.Supports, s.name)
			}
		}
		out[key] = mi
	}
	return out, nil
}

func perMillionF(f float64) float64 {
	if f <= 0 || f > 1 {
		return 0
	}
	return roundPrice(f * 1e6)
}

// tokens reads a token count that LiteLLM writes as a number (or, rarely, a string).
func tokens(v any) int {
	switch n := v.(type) {
	case float64:
		if n > 0 && n < 1<<40 {
			return int(n)
		}
	case string:
		var i int
		if _, err := fmt.Sscanf(n, "%d", &i); err == nil && i > 0 {
			return i
		}
	}
	return 0
}

// litellmPrefixes are LiteLLM's provider prefixes where they differ from the preset's name.
var litellmPrefixes = map[string]string{
	"together": "together_ai", "fireworks": "fireworks_ai", "nvidia": "nvidia_nim",
	"zai": "zai", "gemini-openai": "gemini", "moonshot": "moonshot", "llamacpp": "llamafile",
}

// Lookup finds the metadata of public model m in the file: by its public name, then by each of
// its providers' upstream ids, prefixed as LiteLLM keys are (`groq/<id>`: the provider's name,
// its preset's, LiteLLM's name for the preset) and then bare. ok is false when nothing matched.
func (ps Prices) Lookup(name string, targets []*Target) (ModelInfo, bool) {
	if mi, ok := ps[name]; ok {
		return mi, true
	}
	seen := make(map[string]bool)
	for _, t := range targets {
		if seen[t.Provider.Name+"\x00"+t.Upstream] {
			continue
		}
		seen[t.Provider.Name+"\x00"+t.Upstream] = true
		if mi, ok := ps.ForUpstream(t.Provider, t.Upstream); ok {
			return mi, true
		}
	}
	return ModelInfo{}, false
}

// ForUpstream finds the metadata of upstream id up at provider p (see Lookup).
func (ps Prices) ForUpstream(p *Provider, up string) (ModelInfo, bool) {
	prefixes := []string{p.Name}
	if p.Preset != "" {
		prefixes = append(prefixes, p.Preset)
		if lp := litellmPrefixes[p.Preset]; lp != "" {
			prefixes = append(prefixes, lp)
		}
	}
	for _, pre := range prefixes {
		if mi, ok := ps[pre+"/"+up]; ok {
			return mi, true
		}
	}
	if mi, ok := ps[up]; ok {
		return mi, true
	}
	// OpenRouter-style ids carry a vendor (`anthropic/claude-sonnet-4.5`): try the id alone.
	if _, bare, ok := strings.Cut(up, "/"); ok {
		if mi, ok := ps[bare]; ok {
			return mi, true
		}
	}
	return ModelInfo{}, false
}
