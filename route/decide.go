package route

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sync/atomic"
)

// Router is a provisioned virtual model.
type Router struct {
	// Name is the virtual model's public name.
	Name string
	// Goal and Tier are the configured ones (Tier may be TierAuto).
	Goal Goal
	Tier Tier
	// MaxPrice is the configured cap in USD per million tokens; 0: none.
	MaxPrice float64
	// Explain says replies carry the explanation object.
	Explain bool
	// Candidates in config order.
	Candidates []*Model

	cursor atomic.Uint64 // spread's round robin
}

// Options are a request's own instructions (the body's llm_router object, or headers).
type Options struct {
	// Optimize overrides the goal; "" keeps the router's.
	Optimize string `json:"optimize,omitempty"`
	// Tier overrides the tier; "" keeps the router's.
	Tier string `json:"tier,omitempty"`
	// Models restricts the candidates to these names.
	Models []string `json:"models,omitempty"`
	// Exclude removes these names.
	Exclude []string `json:"exclude,omitempty"`
	// MaxPricePerMTok overrides the price cap (USD per million tokens, blended for the request).
	MaxPricePerMTok float64 `json:"max_price_per_mtok,omitempty"`
}

// ParseOptions decodes the body's llm_router object; unknown fields and bad values are errors
// (the client gets 400).
func ParseOptions(v []byte) (Options, error) {
	var o Options
	if err := json.Unmarshal(v, &o); err != nil {
		return o, fmt.Errorf("llm_router: %w", err)
	}
	return o, o.Check()
}

// Check validates the options' values.
func (o *Options) Check() error {
	if _, err := ParseGoal(o.Optimize); err != nil {
		return fmt.Errorf("llm_router: %w", err)
	}
	if _, err := ParseTier(o.Tier, true); err != nil {
		return fmt.Errorf("llm_router: %w", err)
	}
	if o.MaxPricePerMTok < 0 || math.IsNaN(o.MaxPricePerMTok) {
		return fmt.Errorf("llm_router: max_price_per_mtok must not be negative")
	}
	return nil
}

// Reason is why a candidate is out (or, for BelowTier, set aside).
type Reason uint8

// Reasons.
const (
	OK Reason = iota
	NotRequested
	ExcludedByRequest
	NotAllowed
	MissingCapability
	ContextTooShort
	OutputTooLong
	OverPrice
	Cooling
	Unserved
	BelowTier
)

var reasonNames = [...]string{"", "not_in_request_models", "excluded_by_request", "not_allowed_for_key",
	"missing_capability", "context_too_short", "output_too_long", "over_price_cap", "cooling",
	"endpoint_not_served", "below_tier"}

func (r Reason) String() string { return reasonNames[r] }

// Health says whether a model's pool can take a request now: OK, Cooling (every target is
// cooling), Unserved (no provider serves the endpoint) or NotAllowed (the gateway key may not
// use it).
type Health interface {
	Status(m *Model) Reason
}

// Limits of the decision's lists: the ranked candidates kept (the first is chosen, the rest are
// the fallbacks) and the exclusions listed by name (all are counted).
const (
	MaxRanked   = 8
	MaxExcluded = 16
)

// Ranked is a ranked candidate. Score is goal-specific: cost in USD (lower is better), latency
// in seconds (lower), quality 0 to 100 (higher), balanced 0 to 1 (higher), spread the place in
// the rotation (lower).
type Ranked struct {
	// Model is the candidate.
	Model *Model
	// Score is the goal's measure of it (above).
	Score float64
	// Cost is the estimated cost of the request at this model, USD.
	Cost float64
	// Class orders before Score: 0 explored (numbers missing or stale), 1 known to fit, 2
	// fits only as far as its metadata is known (capabilities or context length unknown).
	Class uint8
}

// Exclusion is a candidate that is out, and why. Missing holds the missing capabilities.
type Exclusion struct {
	// Model is the candidate left out.
	Model *Model
	// Why is the filter that left it out.
	Why Reason
	// Missing are the capabilities it lacks (for MissingCapability).
	Missing Capability
}

// Fallback is a step to the next candidate after the current one's pool failed.
type Fallback struct {
	// From is the candidate whose pool failed; To the one tried next.
	From, To *Model
	// Why is what became of From's pool: "failed" or "exhausted".
	Why string
}

// Decision is one request's routing decision. Reuse one with Reset (the zero value is ready).
type Decision struct {
	// Router is the virtual model decided for.
	Router *Router
	// Goal is the goal ranked by: the router's, or the request's.
	Goal Goal
	// Tier is the request's tier, never TierAuto once decided.
	Tier Tier
	// TierFrom says where Tier came from: "config", "request" or "auto" (the tier rules).
	TierFrom string
	// TierScore is the tier rules' score (under tier auto).
	TierScore int
	// Relaxed says no candidate was at the tier or above, so lower tiers were ranked too.
	Relaxed bool
	// Req are the requirements decided on.
	Req Requirements
	// Ranked are the best candidates, best first.
	Ranked  [MaxRanked]Ranked
	NRanked int
	// Eligible counts every candidate that passed the filters.
	Eligible int
	// Excluded lists the first MaxExcluded exclusions; ExcludedTotal counts them all.
	Excluded      [MaxExcluded]Exclusion
	NExcluded     int
	ExcludedTotal int
	// Fallbacks taken so far; Pos is the index in Ranked of the candidate in use.
	Fallbacks  [MaxRanked]Fallback
	NFallbacks int
	Pos        int

	why []Reason // scratch, by candidate
}

// Reset empties d for reuse.
func (d *Decision) Reset() {
	why := d.why[:0]
	*d = Decision{why: why}
}

// Selected is the candidate in use, or nil when none passed.
func (d *Decision) Selected() *Model {
	if d.Pos < d.NRanked {
		return d.Ranked[d.Pos].Model
	}
	return nil
}

// Next moves to the next ranked candidate after the current one's pool failed (why: "failed"
// or "exhausted"), recording the fallback; false when there is none.
func (d *Decision) Next(why string) bool {
	if d.Pos+1 >= d.NRanked {
		return false
	}
	d.Fallbacks[d.NFallbacks] = Fallback{From: d.Ranked[d.Pos].Model, To: d.Ranked[d.Pos+1].Model, Why: why}
	d.NFallbacks++
	d.Pos++
	return true
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }

// Decide fills d with the decision for a request with requirements req and options o (nil for
// none), at now (unix nanos). h is asked about each candidate that passes the other filters.
func (r *Router) Decide(d *Decision, req *Requirements, o *Options, h Health, now int64) {
	d.Reset()
	d.Router, d.Req, d.Goal, d.Tier, d.TierFrom = r, *req, r.Goal, r.Tier, "config"
	maxPrice := r.MaxPrice
	if o != nil {
		if o.Optimize != "" {
			d.Goal, _ = ParseGoal(o.Optimize)
		}
		if o.Tier != "" {
			d.Tier, _ = ParseTier(o.Tier, true)
			d.TierFrom = "request"
		}
		if o.MaxPricePerMTok > 0 {
			maxPrice = o.MaxPricePerMTok
		}
	}
	if d.Tier == TierAuto {
		d.Tier, d.TierScore = InferTier(req)
		d.TierFrom = "auto"
	}
	in, out := float64(req.PromptTokens), float64(req.Output())
	need := req.PromptTokens + req.Output()

	// Filter, remembering each candidate's verdict.
	if cap(d.why) < len(r.Candidates) {
		d.why = make([]Reason, len(r.Candidates))
	}
	why := d.why[:len(r.Candidates)]
	atTier := 0
	for i, m := range r.Candidates {
		w, missing := OK, Capability(0)
		switch {
		case o != nil && len(o.Models) > 0 && !contains(o.Models, m.Name):
			w = NotRequested
		case o != nil && contains(o.Exclude, m.Name):
			w = ExcludedByRequest
		case m.CapsKnown && !m.Caps.Has(req.Needs):
			w, missing = MissingCapability, req.Needs&^m.Caps
		case m.ContextLength > 0 && m.ContextLength < need:
			w = ContextTooShort
		case m.MaxOutput > 0 && req.OutputTokens > m.MaxOutput:
			w = OutputTooLong
		case maxPrice > 0 && (in*m.InputPrice+out*m.OutputPrice)/(in+out) > maxPrice:
			w = OverPrice
		default:
			w = h.Status(m)
		}
		if w == OK {
			d.Eligible++
			if m.Tier >= d.Tier {
				atTier++
			}
		} else {
			d.exclude(m, w, missing)
		}
		why[i] = w
	}
	if d.Eligible == 0 {
		return
	}
	d.Relaxed = atTier == 0
	pool := atTier
	if d.Relaxed {
		pool = d.Eligible
	}

	// What the relative goals compare with: the cheapest and the fastest eligible.
	minCost, minLat := math.Inf(1), math.Inf(1)
	if d.Goal == Balanced {
		for i, m := range r.Candidates {
			if why[i] != OK || !d.Relaxed && m.Tier < d.Tier {
				continue
			}
			minCost = min(minCost, (in*m.InputPrice+out*m.OutputPrice)/1e6)
			if l, ok := m.Stats.Estimate(int(out)); ok {
				minLat = min(minLat, l)
			}
		}
	}
	var start uint64
	if d.Goal == Spread {
		start = (r.cursor.Add(1) - 1) % uint64(pool)
	}

	explored := false
	place := uint64(0)
	for i, m := range r.Candidates {
		if why[i] != OK {
			continue
		}
		if !d.Relaxed && m.Tier < d.Tier {
			d.exclude(m, BelowTier, 0)
			continue
		}
		c := Ranked{Model: m, Class: 1, Cost: (in*m.InputPrice + out*m.OutputPrice) / 1e6}
		if !m.CapsKnown && req.Needs != 0 || m.ContextLength == 0 && need > 8192 {
			c.Class = 2
		}
		var key float64 // lower is better
		switch d.Goal {
		case Cost:
			c.Score, key = c.Cost, c.Cost
		case Latency:
			l, ok := m.Stats.Estimate(int(out))
			switch {
			case !explored && c.Class == 1 && m.Stats.explore(now):
				c.Class, explored = 0, true
			case !ok:
				l = math.Inf(1)
			}
			c.Score, key = l, l
		case Quality:
			c.Score = m.Quality(req.Category)
			key = -c.Score
		case Balanced:
			costPart := 1.0
			if c.Cost > 0 {
				costPart = minCost / c.Cost
			}
			latPart := 0.5
			if l, ok := m.Stats.Estimate(int(out)); ok && l > 0 {
				latPart = minLat / l
			}
			c.Score = 0.5*m.Quality(req.Category)/100 + 0.25*costPart + 0.25*latPart
			key = -c.Score
		case Spread:
			c.Score = float64((place + uint64(pool) - start) % uint64(pool))
			key = c.Score
			place++
		}
		d.insert(c, key)
	}
}

// keys of the ranked candidates, for insert: kept beside Ranked so Score stays the goal's own.
func rankKey(c *Ranked, g Goal) float64 {
	switch g {
	case Quality, Balanced:
		return -c.Score
	}
	return c.Score
}

// insert puts c into the ranked list if it is among the best MaxRanked: by class, then key,
// then config order (earlier candidates were inserted first and win ties).
func (d *Decision) insert(c Ranked, key float64) {
	n := d.NRanked
	j := n
	for j > 0 {
		p := &d.Ranked[j-1]
		if p.Class < c.Class || p.Class == c.Class && rankKey(p, d.Goal) <= key {
			break
		}
		j--
	}
	if j >= MaxRanked {
		return
	}
	if n < MaxRanked {
		n++
	}
	copy(d.Ranked[j+1:n], d.Ranked[j:n-1])
	d.Ranked[j] = c
	d.NRanked = n
}

func (d *Decision) exclude(m *Model, w Reason, missing Capability) {
	if d.NExcluded < MaxExcluded {
		d.Excluded[d.NExcluded] = Exclusion{Model: m, Why: w, Missing: missing}
		d.NExcluded++
	}
	d.ExcludedTotal++
}
