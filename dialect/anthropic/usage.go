package anthropic

import "github.com/llmrouter/caddy-llm-router/dialect/openai"

// Merge reads an Anthropic usage object (raw JSON: a reply's usage, message_start's
// message.usage or message_delta's usage) into u. Only the counts present overwrite: every
// count Anthropic sends is a whole-message total, and message_delta usually carries only
// output_tokens, so merging message_start's then message_delta's gives the message's usage.
// For the passthrough path, where the router reads usage without translating.
func (u *Usage) Merge(raw []byte) {
	r := rawUsage{input: int64(u.InputTokens), output: int64(u.OutputTokens), cacheRead: int64(u.CacheReadInputTokens), cacheWrite: int64(u.CacheCreationInputTokens)}
	r.read(raw)
	*u = Usage{InputTokens: int(r.input), OutputTokens: int(r.output), CacheReadInputTokens: int(r.cacheRead), CacheCreationInputTokens: int(r.cacheWrite)}
}

// Pivot returns the usage as OpenAI counts it: prompt_tokens = input + cache read + cache
// creation, cached_tokens = cache read, cache_write_tokens = cache creation.
func (u Usage) Pivot() openai.Usage {
	return rawUsage{input: int64(u.InputTokens), output: int64(u.OutputTokens), cacheRead: int64(u.CacheReadInputTokens), cacheWrite: int64(u.CacheCreationInputTokens)}.pivot()
}

// UsageFromPivot is the inverse of Pivot: input_tokens = prompt_tokens - cached - cache writes.
func UsageFromPivot(p openai.Usage) Usage {
	var cached, write int
	if d := p.PromptTokensDetails; d != nil {
		cached, write = d.CachedTokens, d.CacheWriteTokens
	}
	return Usage{InputTokens: max(p.PromptTokens-cached-write, 0), OutputTokens: p.CompletionTokens, CacheReadInputTokens: cached, CacheCreationInputTokens: write}
}
