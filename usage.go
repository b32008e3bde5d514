package llmrouter

import (
	"strconv"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/dialect/gemini"
	"github.com/llmrouter/caddy-llm-router/dialect/openai"
	"github.com/llmrouter/caddy-llm-router/internal/jsonscan"
	vroute "github.com/llmrouter/caddy-llm-router/route"
)

// tokenUsage is what an upstream reported, in either dialect's field names.
type tokenUsage struct {
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
	InputTokens      int64 `json:"input_tokens"`
	OutputTokens     int64 `json:"output_tokens"`
	// CachedTokens are OpenAI's prompt_tokens_details.cached_tokens: part of PromptTokens,
	// read from the prompt cache.
	CachedTokens int64
	// CacheReadTokens and CacheWriteTokens are Anthropic's cache_read_input_tokens and
	// cache_creation_input_tokens: on top of InputTokens.
	CacheReadTokens, CacheWriteTokens int64
}

// input is every prompt token, cached or not, in either dialect.
func (u tokenUsage) input() int64 {
	return u.PromptTokens + u.InputTokens + u.CacheReadTokens + u.CacheWriteTokens
}
func (u tokenUsage) output() int64 { return u.CompletionTokens + u.OutputTokens }
func (u tokenUsage) known() bool   { return u.input() > 0 || u.output() > 0 }

// after is the usage of a stream whose last usage object is u and an earlier one was first:
// each count is the last one reported, or the earlier one when the last omits it (Anthropic
// sends input tokens in message_start, output tokens in message_delta).
func (u tokenUsage) after(first tokenUsage) tokenUsage {
	pick := func(last, earlier int64) int64 {
		if last > 0 {
			return last
		}
		return earlier
	}
	return tokenUsage{
		PromptTokens:     pick(u.PromptTokens, first.PromptTokens),
		CompletionTokens: pick(u.CompletionTokens, first.CompletionTokens),
		InputTokens:      pick(u.InputTokens, first.InputTokens),
		OutputTokens:     pick(u.OutputTokens, first.OutputTokens),
		CachedTokens:     pick(u.CachedTokens, first.CachedTokens),
		CacheReadTokens:  pick(u.CacheReadTokens, first.CacheReadTokens),
		CacheWriteTokens: pick(u.CacheWriteTokens, first.CacheWriteTokens),
	}
}

// plus is the sum of two usages.
func (u tokenUsage) plus(v tokenUsage) tokenUsage {
	return tokenUsage{PromptTokens: u.PromptTokens + v.PromptTokens, CompletionTokens: u.CompletionTokens + v.CompletionTokens,
		InputTokens: u.InputTokens + v.InputTokens, OutputTokens: u.OutputTokens + v.OutputTokens,
		CachedTokens: u.CachedTokens + v.CachedTokens, CacheReadTokens: u.CacheReadTokens + v.CacheReadTokens,
		CacheWriteTokens: u.CacheWriteTokens + v.CacheWriteTokens}
}

// usageKeys are the token counts of both dialects, in tokenUsage's field order.
var usageKeys = [...]string{"prompt_tokens", "completion_tokens", "input_tokens", "output_tokens",
	"cache_read_input_tokens", "cache_creation_input_tokens"}

// parseUsage reads the token counts of a raw usage object in one pass; anything else gives
// zero usage. Each count is its key's first non-null value, as jsonscan.ObjectKey finds it.
func parseUsage(raw []byte) tokenUsage {
	var n [len(usageKeys)]int64
	var seen [len(usageKeys)]bool
	var cached int64
	jsonscan.Members(raw, func(k, v []byte) bool {
		if string(k) == "prompt_tokens_details" {
			cached = count(jsonscan.ObjectKey(v, "cached_tokens"))
			return true
		}
		for f, key := range usageKeys {
			if string(k) == key && !seen[f] && string(v) != "null" {
				seen[f], n[f] = true, count(v)
			}
		}
		return true
	})
	return tokenUsage{PromptTokens: n[0], CompletionTokens: n[1], InputTokens: n[2], OutputTokens: n[3],
		CacheReadTokens: n[4], CacheWriteTokens: n[5], CachedTokens: min(cached, n[0])}
}

// replyUsage reads the usage of a non-streamed reply in api's wire without decoding the
// reply: OpenAI's and Anthropic's top-level usage object, Gemini's usageMetadata.
func replyUsage(api catalog.API, body []byte) tokenUsage {
	if api == catalog.APIGemini {
		return pivotUsage(gemini.UsageOf(body))
	}
	return parseUsage(jsonscan.ObjectKey(body, "usage"))
}

// pivotUsage is usage in the pivot's terms (a translator's, or Gemini's read as OpenAI's):
// its prompt tokens include the cached ones and Anthropic's cache writes, which are kept
// apart so that each is charged at its own price.
func pivotUsage(u openai.Usage) tokenUsage {
	t := tokenUsage{PromptTokens: int64(u.PromptTokens), CompletionTokens: int64(u.CompletionTokens)}
	if d := u.PromptTokensDetails; d != nil {
		t.CachedTokens = min(int64(d.CachedTokens), t.PromptTokens)
		t.CacheWriteTokens = min(int64(d.CacheWriteTokens), t.PromptTokens-t.CachedTokens)
		t.PromptTokens -= t.CacheWriteTokens // on top, as Anthropic counts them
	}
	return t
}

// partialUsage is the usage of a stream that ended before the upstream's final usage, which
// comes at the end (its client left, or its upstream broke it): the provider bills what it
// generated all the same. What the upstream reported stays (an Anthropic stream's input
// tokens, from message_start); a missing input is estimated from the request, and the output
// from the text relayed at four bytes a token, where that is more than the upstream reported
// so far.
func (c *call) partialUsage(u tokenUsage, textBytes int) tokenUsage {
	if u.input() == 0 {
		u.PromptTokens = c.promptEstimate()
	}
	if out := int64(textBytes+3) / 4; out > u.output() {
		u.CompletionTokens, u.OutputTokens = out, 0
	}
	return u
}

// promptEstimate is the input tokens of the call's request as smart routing estimates them
// (text bytes over four, images and messages counted apart), or its bytes over four.
func (c *call) promptEstimate() int64 {
	if d, ok := smartEndpoint(c.ep); ok {
		return int64(vroute.Scan(d, c.body, true).PromptTokens)
	}
	return int64(len(c.body)+3) / 4
}

// count reads a raw JSON value as a non-negative integer, or 0.
func count(v []byte) int64 {
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' || n > 1<<50 {
			return 0
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// cost in USD of a reply's usage at the target's model prices; 0 when either is unknown.
// Tokens read from or written to the prompt cache are charged at the cache prices where the
// model has them, at the input price otherwise.
func (t *target) cost(u tokenUsage) float64 {
	if t.info == nil {
		return 0
	}
	return usageCost(t.info, u)
}

func usageCost(mi *catalog.ModelInfo, u tokenUsage) float64 {
	read, write := mi.CacheReadPrice, mi.CacheWritePrice
	if read == 0 {
		read = mi.InputPrice
	}
	if write == 0 {
		write = mi.InputPrice
	}
	fresh := float64(u.PromptTokens + u.InputTokens - u.CachedTokens)
	usd := fresh*mi.InputPrice + float64(u.CachedTokens+u.CacheReadTokens)*read +
		float64(u.CacheWriteTokens)*write + float64(u.output())*mi.OutputPrice
	return usd / 1e6
}

func formatCost(usd float64) string { return strconv.FormatFloat(usd, 'f', 6, 64) }
