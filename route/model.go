package route

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sync/atomic"
)

// Model is one candidate's metadata as the decision reads it.
type Model struct {
	// Name is the public name a chosen candidate is routed to.
	Name string
	// ID is the caller's index for the model (its pool), handed back through Health.
	ID int
	// ContextLength and MaxOutput are in tokens; 0 when unknown.
	ContextLength, MaxOutput int
	// InputPrice and OutputPrice are USD per million tokens; 0 is free (or unknown).
	InputPrice, OutputPrice float64
	// Caps are the capabilities the metadata lists; CapsKnown is false when it lists none
	// (unknown, not none).
	Caps      Capability
	CapsKnown bool
	// Tier is the model's tier (Medium when neither config nor scorecard gives one); TierKnown
	// says one did.
	Tier      Tier
	TierKnown bool
	// Scores are scorecard scores (0 to 100) by category; scored has a bit per category that
	// has one.
	Scores [numCategories]float64
	scored uint8
	// Stats are the router's own latency measurements of the model.
	Stats *Stats
}

// SetScore records a scorecard score for a category.
func (m *Model) SetScore(c Category, score float64) {
	m.Scores[c] = score
	m.scored |= 1 << c
}

// tierQuality is the quality a model without a scorecard score is taken to have, by tier.
var tierQuality = [...]float64{Small: 40, Medium: 60, Large: 80}

// Quality is the model's score for category c: the scorecard's for c, else its general score,
// else its tier's (small 40, medium 60, large 80).
func (m *Model) Quality(c Category) float64 {
	switch {
	case m.scored&(1<<c) != 0:
		return m.Scores[c]
	case m.scored&(1<<General) != 0:
		return m.Scores[General]
	}
	return tierQuality[m.Tier]
}

// Scorecard is a file of eval results: per model, a score from 0 to 100 for each category
// (code, math, writing, general), and optionally the model's tier.
//
//	{"models": [{"name": "gpt-4o-mini", "tier": "medium", "scores": {"general": 71, "code": 68}}]}
type Scorecard struct {
	// Models are the models' results.
	Models []ScorecardModel `json:"models"`
}

// ScorecardModel is one model's results in a scorecard.
type ScorecardModel struct {
	// Name is the public model name.
	Name string `json:"name"`
	// Tier is `small`, `medium` or `large`; a tier in the model's own metadata wins.
	Tier string `json:"tier,omitempty"`
	// Scores are by category, 0 to 100.
	Scores map[string]float64 `json:"scores,omitempty"`
}

// LoadScorecard reads a scorecard file. Like a catalog file, unknown fields and trailing data
// are errors; so are unknown categories and tiers and scores outside 0 to 100.
func LoadScorecard(path string) (Scorecard, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Scorecard{}, fmt.Errorf("reading scorecard: %w", err)
	}
	var sc Scorecard
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sc); err != nil {
		return Scorecard{}, fmt.Errorf("scorecard %s: %w", path, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Scorecard{}, fmt.Errorf("scorecard %s: unexpected data after the scorecard object", path)
	}
	for _, m := range sc.Models {
		if m.Name == "" {
			return Scorecard{}, fmt.Errorf("scorecard %s: a model without a name", path)
		}
		if m.Tier != "" {
			if _, err := ParseTier(m.Tier, false); err != nil {
				return Scorecard{}, fmt.Errorf("scorecard %s: model %q: %w", path, m.Name, err)
			}
		}
		for c, s := range m.Scores {
			if _, ok := ParseCategory(c); !ok {
				return Scorecard{}, fmt.Errorf("scorecard %s: model %q: unknown category %q (want general, code, math or writing)", path, m.Name, c)
			}
			if s < 0 || s > 100 || math.IsNaN(s) {
				return Scorecard{}, fmt.Errorf("scorecard %s: model %q: score %v for %s is not between 0 and 100", path, m.Name, s, c)
			}
		}
	}
	return sc, nil
}

// Apply gives m what the scorecard says of it.
func (sc *ScorecardModel) Apply(m *Model) {
	if !m.TierKnown && sc.Tier != "" {
		m.Tier, _ = ParseTier(sc.Tier, false)
		m.TierKnown = true
	}
	for c, s := range sc.Scores {
		if cat, ok := ParseCategory(c); ok {
			m.SetScore(cat, s)
		}
	}
}

// Latency measurement.
const (
	// ewmaWeight is the weight of a new sample in the moving averages.
	ewmaWeight = 0.3
	// StaleAfter is the age after which a model's measurements are refreshed by exploration.
	StaleAfter int64 = 5 * 60e9
	// ExploreEvery bounds exploration: a model is explored at most once in this time.
	ExploreEvery int64 = 60e9
)

// Stats are a model's latency measurements: moving averages of the time to first token and of
// the output tokens per second, from the router's own successful requests.
type Stats struct {
	ttft, tps atomic.Uint64 // float64 bits; 0: no sample
	last      atomic.Int64  // unix nanos of the last sample
	explored  atomic.Int64  // unix nanos of the last exploration
}

// Observe adds one successful request: its time to first token in seconds, and, when known,
// the output tokens and the seconds they took after the first.
func (s *Stats) Observe(now int64, ttft float64, tokens int64, gen float64) {
	ewma(&s.ttft, ttft)
	if tokens > 0 && gen > 0 {
		ewma(&s.tps, float64(tokens)/gen)
	}
	s.last.Store(now)
}

func ewma(a *atomic.Uint64, x float64) {
	for {
		old := a.Load()
		v := x
		if old != 0 {
			v = (1-ewmaWeight)*math.Float64frombits(old) + ewmaWeight*x
		}
		if v == 0 {
			v = math.SmallestNonzeroFloat64
		}
		if a.CompareAndSwap(old, math.Float64bits(v)) {
			return
		}
	}
}

// TTFT and TPS are the moving averages; 0 without a sample.
func (s *Stats) TTFT() float64 { return math.Float64frombits(s.ttft.Load()) }
func (s *Stats) TPS() float64  { return math.Float64frombits(s.tps.Load()) }

// Estimate is the expected seconds for a reply of out tokens, and whether there is a sample.
func (s *Stats) Estimate(out int) (float64, bool) {
	ttft := s.TTFT()
	if ttft == 0 {
		return 0, false
	}
	if tps := s.TPS(); tps > 0 {
		return ttft + float64(out)/tps, true
	}
	return ttft, true
}

// explore claims the model's exploration slot at now when its numbers are missing or stale.
func (s *Stats) explore(now int64) bool {
	if last := s.last.Load(); last != 0 && now-last < StaleAfter {
		return false
	}
	old := s.explored.Load()
	return (old == 0 || now-old >= ExploreEvery) && s.explored.CompareAndSwap(old, now)
}
