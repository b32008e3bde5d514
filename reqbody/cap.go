package reqbody

import (
	"strconv"

	"github.com/llmrouter/caddy-llm-router/internal/jsonscan"
)

// CapMaxTokens returns a copy of the JSON object b with each top-level output limit
// (max_tokens, max_completion_tokens, max_output_tokens) above limit lowered to it: a target
// whose model writes at most limit tokens refuses a request that asks for more (OpenAI
// answers 400), while one capped at limit answers. b must be valid JSON, as Scan leaves it;
// the caller checks Fields.MaxTokens first, so a body that needs no cap is not copied.
func CapMaxTokens(b []byte, limit int64) []byte {
	out := make([]byte, 0, len(b))
	last := 0
	for k, v, next, ok := jsonscan.Field(b, 0); ok; k, v, next, ok = jsonscan.Field(b, next) {
		switch string(k) {
		case "max_tokens", "max_completion_tokens", "max_output_tokens":
			if n, isCount := parseCount(v); isCount && n > limit {
				start := next - len(v)
				out = strconv.AppendInt(append(out, b[last:start]...), limit, 10)
				last = next
			}
		}
	}
	return append(out, b[last:]...)
}
