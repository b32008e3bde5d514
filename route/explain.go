package route

import (
	"strconv"

	"github.com/llmrouter/caddy-llm-router/internal/jsonstr"
)

// AppendJSON appends the explanation object (README, "The explanation object") for the
// decision, whose candidate in use was served by provider:
//
//	{"requested":"auto","selected":"m","provider":"p","goal":"cost","tier":"small",
//	 "tier_from":"auto","tier_score":1,"reason":"...",
//	 "requirements":{"prompt_tokens":12,"output_tokens":512,"needs":["tools"],"stream":false,"category":"general"},
//	 "candidates":[{"model":"m","tier":"small","score":0.0001,"cost_usd":0.0001}],
//	 "eligible":3,"excluded":[{"model":"x","reason":"cooling"}],"excluded_total":1,
//	 "fallbacks":[{"from":"a","to":"m","why":"failed"}]}
//
// It holds model and provider names only: never a key, a target label or request text.
func (d *Decision) AppendJSON(b []byte, provider string) []byte {
	b = append(b, `{"requested":`...)
	b = jsonstr.Append(b, d.Router.Name)
	b = append(b, `,"selected":`...)
	if m := d.Selected(); m != nil {
		b = jsonstr.Append(b, m.Name)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"provider":`...)
	b = jsonstr.Append(b, provider)
	b = append(b, `,"goal":"`...)
	b = append(b, d.Goal.String()...)
	b = append(b, `","tier":"`...)
	b = append(b, d.Tier.String()...)
	b = append(b, `","tier_from":"`...)
	b = append(b, d.TierFrom...)
	b = append(b, `","tier_score":`...)
	b = strconv.AppendInt(b, int64(d.TierScore), 10)
	b = append(b, `,"reason":`...)
	b = jsonstr.Append(b, d.Reason())
	r := &d.Req
	b = append(b, `,"requirements":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(r.PromptTokens), 10)
	b = append(b, `,"output_tokens":`...)
	b = strconv.AppendInt(b, int64(r.Output()), 10)
	b = append(b, `,"needs":`...)
	b = appendCaps(b, r.Needs)
	b = append(b, `,"stream":`...)
	b = strconv.AppendBool(b, r.Stream)
	b = append(b, `,"category":"`...)
	b = append(b, r.Category.String()...)
	b = append(b, `"},"candidates":[`...)
	for i := 0; i < d.NRanked; i++ {
		c := &d.Ranked[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"model":`...)
		b = jsonstr.Append(b, c.Model.Name)
		b = append(b, `,"tier":"`...)
		b = append(b, c.Model.Tier.String()...)
		b = append(b, `","score":`...)
		b = appendFloat(b, c.Score)
		b = append(b, `,"cost_usd":`...)
		b = appendFloat(b, c.Cost)
		switch c.Class {
		case 0:
			b = append(b, `,"note":"exploring: latency not measured lately"`...)
		case 2:
			b = append(b, `,"note":"metadata unknown: ranked after known fits"`...)
		}
		b = append(b, '}')
	}
	b = append(b, `],"eligible":`...)
	b = strconv.AppendInt(b, int64(d.Eligible), 10)
	b = append(b, `,"excluded":[`...)
	for i := 0; i < d.NExcluded; i++ {
		e := &d.Excluded[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"model":`...)
		b = jsonstr.Append(b, e.Model.Name)
		b = append(b, `,"reason":"`...)
		b = append(b, e.Why.String()...)
		b = append(b, '"')
		switch e.Why {
		case MissingCapability:
			b = append(b, `,"missing":`...)
			b = appendCaps(b, e.Missing)
		case ContextTooShort:
			b = append(b, `,"context_length":`...)
			b = strconv.AppendInt(b, int64(e.Model.ContextLength), 10)
		case BelowTier:
			b = append(b, `,"tier":"`...)
			b = append(b, e.Model.Tier.String()...)
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	b = append(b, `],"excluded_total":`...)
	b = strconv.AppendInt(b, int64(d.ExcludedTotal), 10)
	b = append(b, `,"fallbacks":[`...)
	for i := 0; i < d.NFallbacks; i++ {
		f := &d.Fallbacks[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"from":`...)
		b = jsonstr.Append(b, f.From.Name)
		b = append(b, `,"to":`...)
		b = jsonstr.Append(b, f.To.Name)
		b = append(b, `,"why":`...)
		b = jsonstr.Append(b, f.Why)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

func appendCaps(b []byte, c Capability) []byte {
	b = append(b, '[')
	first := true
	for i, n := range capNames {
		if c&(1<<i) == 0 {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, n...)
		b = append(b, '"')
	}
	return append(b, ']')
}

func appendFloat(b []byte, f float64) []byte {
	if f != f || f > 1e300 || f < -1e300 { // NaN or infinite: JSON has neither
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, f, 'g', 6, 64)
}

// Reason is the decision in a few words, for the X-LLM-Router-Route-Reason header and the log.
func (d *Decision) Reason() string {
	m := d.Selected()
	if m == nil {
		return "no candidate fits: " + strconv.Itoa(d.ExcludedTotal) + " excluded"
	}
	var s string
	if d.NFallbacks > 0 {
		f := &d.Fallbacks[d.NFallbacks-1]
		s = "fallback: " + f.From.Name + " " + f.Why + "; next by " + d.Goal.String()
	} else {
		switch d.Goal {
		case Cost:
			s = "cheapest"
		case Latency:
			s = "fastest"
			if d.Ranked[d.Pos].Class == 0 {
				s = "exploring"
			}
		case Quality:
			s = "best " + d.Req.Category.String()
		case Balanced:
			s = "best balance"
		case Spread:
			s = "next in rotation"
		}
		s += " of " + strconv.Itoa(d.Eligible)
	}
	s += "; tier " + d.Tier.String()
	if d.Relaxed {
		s += " (none at it: all tiers)"
	}
	if d.ExcludedTotal > 0 {
		s += "; " + strconv.Itoa(d.ExcludedTotal) + " excluded"
	}
	return s
}
