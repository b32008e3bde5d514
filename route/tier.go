package route

// Rule is one weighted feature of the tier rules: a request that has it scores Weight.
type Rule struct {
	// Name names the rule in docs and tests.
	Name string
	// Weight is what a request that meets the rule scores.
	Weight int
	// Has reports whether a request meets the rule.
	Has func(r Requirements) bool
}

// TierRules infer a request's tier under `tier auto`: the weights of the rules a request
// meets are added, and the sum picks the tier (MediumScore and up is medium, LargeScore and up
// large, below MediumScore small). One table, pinned by TestTierRules.
var TierRules = []Rule{
	{"long_prompt", 2, func(r Requirements) bool { return r.PromptTokens >= 8000 }},
	{"very_long_prompt", 2, func(r Requirements) bool { return r.PromptTokens >= 32000 }},
	{"code", 2, func(r Requirements) bool { return r.Code }},
	{"math", 2, func(r Requirements) bool { return r.MathMarks }},
	{"reasoning_markers", 2, func(r Requirements) bool { return r.ReasoningMarks }},
	{"reasoning_asked", 3, func(r Requirements) bool { return r.Needs.Has(Reasoning) }},
	{"multi_step", 2, func(r Requirements) bool { return r.Steps >= 3 }},
	{"tools", 1, func(r Requirements) bool { return r.Needs.Has(Tools) }},
	{"json_schema", 1, func(r Requirements) bool { return r.Needs.Has(JSONSchema) }},
	{"long_conversation", 1, func(r Requirements) bool { return r.Messages > 10 }},
}

// Score thresholds of the tier rules.
const (
	MediumScore = 2
	LargeScore  = 5
)

// InferTier applies TierRules: the tier and the score it came from.
func InferTier(r *Requirements) (Tier, int) {
	score := 0
	for i := range TierRules {
		if TierRules[i].Has(*r) {
			score += TierRules[i].Weight
		}
	}
	switch {
	case score >= LargeScore:
		return Large, score
	case score >= MediumScore:
		return Medium, score
	}
	return Small, score
}
