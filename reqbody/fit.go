package reqbody

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/llmrouter/caddy-llm-router/internal/jsonscan"
)

// Fit is how a request body is fitted to one target (see FitTo).
type Fit struct {
	// Limit, when > 0, lowers each top-level output limit (max_tokens, max_completion_tokens,
	// max_output_tokens) above it to it: a target whose model writes at most Limit tokens
	// refuses more (OpenAI and Anthropic answer 400). An Anthropic thinking budget that would
	// no longer be under the limit is lowered under it, or dropped when that leaves less than
	// the 1024 Anthropic takes.
	Limit int64
	// CompletionTokens writes max_tokens as max_completion_tokens (dropping it when that is
	// there too), which OpenAI's reasoning models require.
	CompletionTokens bool
	// NoReasoning drops reasoning_effort and thinking, which a model that does not reason
	// refuses. Where thinking is dropped (here or by Limit), so are context_management's
	// clear_thinking edits, which Anthropic refuses without it.
	NoReasoning bool
	// NoSampling drops temperature, top_p, the penalties, logprobs, top_logprobs and
	// logit_bias, which OpenAI's reasoning models refuse.
	NoSampling bool
}

// Needed says f changes a body scanned as fields.
func (f Fit) Needed(fields Fields) bool {
	return f.Limit > 0 && fields.MaxTokens > f.Limit || f.CompletionTokens && fields.LegacyMaxTokens ||
		f.NoReasoning && fields.Reasoning || f.NoSampling && fields.Sampling
}

// Describe says what f changes in a body scanned as fields, for the client and the log
// ("max_tokens 32000 capped at 16384, ..."); "" when nothing.
func (f Fit) Describe(fields Fields) string {
	var parts []string
	if f.Limit > 0 && fields.MaxTokens > f.Limit {
		parts = append(parts, "output limit "+strconv.FormatInt(fields.MaxTokens, 10)+" capped at "+strconv.FormatInt(f.Limit, 10))
	}
	if f.CompletionTokens && fields.LegacyMaxTokens {
		parts = append(parts, "max_tokens sent as max_completion_tokens")
	}
	if f.NoSampling && fields.Sampling {
		parts = append(parts, "sampling parameters dropped")
	}
	if f.NoReasoning && fields.Reasoning {
		parts = append(parts, "reasoning dropped")
	}
	return strings.Join(parts, "; ")
}

// FitTo returns the JSON object b fitted by f, as a new slice. Members are kept byte for byte
// but for those f changes; the whitespace between them is not. b must be valid JSON, as Scan
// leaves it; check Needed first, so that a body that needs nothing is not copied.
func FitTo(b []byte, f Fit) []byte {
	both := false
	if f.CompletionTokens {
		both = jsonscan.ObjectKey(b, "max_completion_tokens") != nil
	}
	dropsThinking := false
	if thinking := jsonscan.ObjectKey(b, "thinking"); thinking != nil {
		n, isCount := parseCount(jsonscan.ObjectKey(thinking, "budget_tokens"))
		dropsThinking = f.NoReasoning || f.Limit > 0 && f.Limit <= minThinkingBudget && isCount && n >= f.Limit
	}
	out := append(make([]byte, 0, len(b)+16), '{')
	for k, v, next, ok := jsonscan.Field(b, 0); ok; k, v, next, ok = jsonscan.Field(b, next) {
		key := k
		switch string(k) {
		case "context_management":
			// Anthropic refuses a clear_thinking edit without thinking (Claude Code sends one).
			if dropsThinking {
				if v = WithoutThinkingEdits(v); v == nil {
					continue
				}
			}
		case "reasoning_effort", "thinking":
			if f.NoReasoning {
				continue
			}
			if string(k) == "thinking" && f.Limit > 0 {
				// Anthropic wants the thinking budget under max_tokens, and at least 1024.
				if n, isCount := parseCount(jsonscan.ObjectKey(v, "budget_tokens")); isCount && n >= f.Limit {
					if f.Limit <= minThinkingBudget {
						continue
					}
					v = strconv.AppendInt([]byte(`{"type":"enabled","budget_tokens":`), f.Limit-1, 10)
					v = append(v, '}')
				}
			}
		case "temperature", "top_p", "presence_penalty", "frequency_penalty", "logprobs", "top_logprobs", "logit_bias":
			if f.NoSampling {
				continue
			}
		case "max_tokens":
			if f.CompletionTokens {
				if both {
					continue // the other limit stands
				}
				key = maxCompletionTokens
			}
			fallthrough
		case "max_completion_tokens", "max_output_tokens":
			if n, isCount := parseCount(v); isCount && f.Limit > 0 && n > f.Limit {
				v = strconv.AppendInt(nil, f.Limit, 10)
			}
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(append(append(out, '"'), key...), `":`...)
		out = append(out, v...)
	}
	return append(out, '}')
}

var maxCompletionTokens = []byte("max_completion_tokens")

// minThinkingBudget is the least thinking budget Anthropic takes.
const minThinkingBudget = 1024

// WithoutThinkingEdits is a context_management object without its clear_thinking edits, which
// Anthropic refuses with thinking off (Claude Code sends one on every request); nil when no
// edit is left. Other edits and fields are kept as they came.
func WithoutThinkingEdits(cm json.RawMessage) json.RawMessage {
	var obj map[string]json.RawMessage
	var edits []json.RawMessage
	if json.Unmarshal(cm, &obj) != nil || json.Unmarshal(obj["edits"], &edits) != nil {
		return cm
	}
	kept := edits[:0]
	for _, e := range edits {
		var edit struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(e, &edit) == nil && strings.HasPrefix(edit.Type, "clear_thinking") {
			continue
		}
		kept = append(kept, e)
	}
	if len(kept) == len(edits) {
		return cm
	}
	if len(kept) == 0 {
		delete(obj, "edits")
	} else {
		obj["edits"], _ = json.Marshal(kept)
	}
	if len(obj) == 0 {
		return nil
	}
	out, _ := json.Marshal(obj)
	return out
}
