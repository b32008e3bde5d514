package reqbody

import (
	"strconv"

	"github.com/llmrouter/caddy-llm-router/internal/jsonscan"
)

// ShapeOutput returns the JSON object b rewritten for a target's output limit, as a new
// slice: each top-level limit (max_tokens, max_completion_tokens, max_output_tokens) above
// limit lowered to it, when limit > 0, as a target whose model writes at most limit tokens
// refuses more (OpenAI and Anthropic answer 400); and with completionTokens, max_tokens
// written as max_completion_tokens (dropped when that is there too), which OpenAI's
// reasoning models require. Members are kept byte for byte but for those; the whitespace
// between them is not. b must be valid JSON, as Scan leaves it; the caller checks Fields
// first, so a body that needs neither is not copied.
func ShapeOutput(b []byte, limit int64, completionTokens bool) []byte {
	both := false
	if completionTokens {
		both = jsonscan.ObjectKey(b, "max_completion_tokens") != nil
	}
	out := append(make([]byte, 0, len(b)+16), '{')
	for k, v, next, ok := jsonscan.Field(b, 0); ok; k, v, next, ok = jsonscan.Field(b, next) {
		key := k
		switch string(k) {
		case "max_tokens":
			if completionTokens {
				if both {
					continue // the other limit stands
				}
				key = maxCompletionTokens
			}
			fallthrough
		case "max_completion_tokens", "max_output_tokens":
			if n, isCount := parseCount(v); isCount && limit > 0 && n > limit {
				v = strconv.AppendInt(nil, limit, 10)
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
