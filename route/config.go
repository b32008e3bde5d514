// Package route is the router's smart routing: virtual models (`auto`, `smart/cheap`, ...) that
// pick a real model for each request by what the request needs, a tier and a goal, and say why.
// It is plain Go: the root package hands it model metadata, the health of each model's pool and
// the request body, and gets back a ranked decision and its explanation.
//
// The decision, for one request:
//
//  1. Requirements are read from the body without decoding it (Scan): estimated prompt tokens,
//     requested output, tools, images, audio, JSON schema output, reasoning, streaming, and the
//     features the tier rules read.
//  2. Candidates are filtered: the request's allow and exclude lists, the gateway key's scope,
//     capabilities (unknown metadata allows a model but ranks it after known-capable ones),
//     context length, the price cap, and health (a model whose every target cools is out).
//  3. The request's tier is fixed (config, request) or inferred (TierRules); candidates below it
//     are set aside, unless none is left at or above it.
//  4. The rest are ranked by the goal (Goal) and the first is tried; when its pool fails or is
//     exhausted the next is, within try_duration.
package route

import (
	"errors"
	"fmt"
)

// Config is one virtual model: a public name that stands for a choice among real models, made
// for each request.
type Config struct {
	// Name is the virtual model's public name, the model clients send (`auto`). Required; it
	// must not be the name of a model or alias.
	Name string `json:"name"`

	// Models are the candidates: public model names (or `provider/model` names, aliases or
	// discovered models' names). A name that no provider serves is dropped with a warning, until
	// a provider's discovered list has it. Default: every configured public model.
	Models []string `json:"models,omitempty"`

	// Exclude removes models from the candidates (useful with the default of every model). A
	// name the config does not know (a typo) fails the load; one a discovered list may have
	// does not. Default: none.
	Exclude []string `json:"exclude,omitempty"`

	// Optimize is the goal candidates are ranked by: `cost` (the cheapest for this request's
	// estimated tokens), `latency` (the fastest by the router's own measurements), `quality`
	// (the best scorecard score for the request's category, else the highest tier),
	// `balanced` (a blend of the three) or `spread` (round robin over every candidate).
	// Default `balanced`.
	Optimize string `json:"optimize,omitempty"`

	// Tier is the least model tier the request needs: `small`, `medium`, `large`, or `auto`
	// (inferred for each request by TierRules). Default `auto`.
	Tier string `json:"tier,omitempty"`

	// MaxPricePerMTok is a price cap in USD per million tokens: a candidate whose blended price
	// for this request (input and output prices weighted by the estimated tokens) is above it
	// is out. Default 0: no cap.
	MaxPricePerMTok float64 `json:"max_price_per_mtok,omitempty"`

	// Explain adds the `llm_router` explanation object to replies (a top-level field of whole
	// replies, the final chunk of streams). The `X-LLM-Router-Route` headers are sent either
	// way. Default true.
	Explain *bool `json:"explain,omitempty"`
}

// SmartConfig turns on the built-in virtual models `smart/cheap` (optimize cost), `smart/fast`
// (latency), `smart/best` (quality) and `smart/balanced` (balanced).
type SmartConfig struct {
	// Models are the built-ins' candidates, as in Config.Models. Default: every public model.
	Models []string `json:"models,omitempty"`

	// Exclude removes models from the candidates, as in Config.Exclude. Default: none.
	Exclude []string `json:"exclude,omitempty"`

	// Tier is the built-ins' tier, as in Config.Tier. Default `auto`.
	Tier string `json:"tier,omitempty"`

	// Explain, as in Config.Explain. Default true.
	Explain *bool `json:"explain,omitempty"`
}

// Builtins are the virtual models SmartConfig turns on, with their goals.
var Builtins = [...]struct {
	Name string
	Goal Goal
}{
	{"smart/cheap", Cost},
	{"smart/fast", Latency},
	{"smart/best", Quality},
	{"smart/balanced", Balanced},
}

// Configs returns the built-in virtual models' configs.
func (s *SmartConfig) Configs() []Config {
	out := make([]Config, 0, len(Builtins))
	for _, b := range Builtins {
		out = append(out, Config{Name: b.Name, Models: s.Models, Exclude: s.Exclude, Optimize: b.Goal.String(),
			Tier: s.Tier, Explain: s.Explain})
	}
	return out
}

// Check validates the parts of a config that need no catalog.
func (c *Config) Check() error {
	if c.Name == "" {
		return errors.New("router: a virtual model needs a name")
	}
	if _, err := ParseGoal(c.Optimize); err != nil {
		return fmt.Errorf("router %q: %w", c.Name, err)
	}
	if _, err := ParseTier(c.Tier, true); err != nil {
		return fmt.Errorf("router %q: %w", c.Name, err)
	}
	if c.MaxPricePerMTok < 0 {
		return fmt.Errorf("router %q: max_price_per_mtok must not be negative", c.Name)
	}
	return nil
}

// Goal is what candidates are ranked by.
type Goal uint8

// Goals.
const (
	Balanced Goal = iota
	Cost
	Latency
	Quality
	Spread
)

var goalNames = [...]string{"balanced", "cost", "latency", "quality", "spread"}

func (g Goal) String() string { return goalNames[g] }

// ParseGoal reads a goal's name; "" is Balanced.
func ParseGoal(s string) (Goal, error) {
	if s == "" {
		return Balanced, nil
	}
	for i, n := range goalNames {
		if n == s {
			return Goal(i), nil
		}
	}
	return 0, fmt.Errorf("unknown optimize goal %q (want cost, latency, quality, balanced or spread)", s)
}

// Tier is a model's class, and the least class a request needs.
type Tier uint8

// Tiers. TierAuto is a request tier only: infer it.
const (
	TierAuto Tier = iota
	Small
	Medium
	Large
)

var tierNames = [...]string{"auto", "small", "medium", "large"}

func (t Tier) String() string { return tierNames[t] }

// ParseTier reads a tier's name; "" is TierAuto when auto is allowed (a request tier), else
// an error. A model's tier may not be auto.
func ParseTier(s string, auto bool) (Tier, error) {
	if s == "" && auto {
		return TierAuto, nil
	}
	for i, n := range tierNames {
		if n == s && (i > 0 || auto) {
			return Tier(i), nil
		}
	}
	if auto {
		return 0, fmt.Errorf("unknown tier %q (want small, medium, large or auto)", s)
	}
	return 0, fmt.Errorf("unknown tier %q (want small, medium or large)", s)
}
