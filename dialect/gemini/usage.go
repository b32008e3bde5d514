package gemini

import (
	"strconv"

	"github.com/llmrouter/caddy-llm-router/dialect/internal/wire"
	"github.com/llmrouter/caddy-llm-router/dialect/openai"
	"github.com/llmrouter/caddy-llm-router/internal/jsonscan"
)

// rawUsage holds Gemini's counts as it reports them.
type rawUsage struct {
	prompt, candidates, thoughts, cached, toolPrompt, total int64
}

// read overwrites the counts from a usageMetadata object: Gemini's counts are totals so far,
// so the last object of a stream is the whole reply's.
func (u *rawUsage) read(obj []byte) {
	if obj == nil {
		return
	}
	*u = rawUsage{}
	for k, v, p, ok := wire.Field(obj, 0); ok; k, v, p, ok = wire.Field(obj, p) {
		switch string(k) {
		case "promptTokenCount":
			u.prompt = wire.Int(v)
		case "candidatesTokenCount":
			u.candidates = wire.Int(v)
		case "thoughtsTokenCount":
			u.thoughts = wire.Int(v)
		case "cachedContentTokenCount":
			u.cached = wire.Int(v)
		case "toolUsePromptTokenCount":
			u.toolPrompt = wire.Int(v)
		case "totalTokenCount":
			u.total = wire.Int(v)
		}
	}
}

// pivot returns the counts in OpenAI's terms: prompt_tokens = prompt (cached part included)
// + tool-use prompt; completion_tokens = candidates + thoughts; reasoning_tokens = thoughts;
// cached_tokens = cached content; total_tokens = Gemini's total, or the sum when it sent none.
func (u rawUsage) pivot() openai.Usage {
	p := int(u.prompt + u.toolPrompt)
	c := int(u.candidates + u.thoughts)
	t := int(u.total)
	if t == 0 {
		t = p + c
	}
	ou := openai.Usage{PromptTokens: p, CompletionTokens: c, TotalTokens: t}
	if u.cached > 0 {
		ou.PromptTokensDetails = &openai.PromptTokensDetails{CachedTokens: int(u.cached)}
	}
	if u.thoughts > 0 {
		ou.CompletionTokensDetails = &openai.CompletionTokensDetails{ReasoningTokens: int(u.thoughts)}
	}
	return ou
}

func (m *UsageMetadata) pivot() openai.Usage {
	return rawUsage{prompt: int64(m.PromptTokenCount), candidates: int64(m.CandidatesTokenCount), thoughts: int64(m.ThoughtsTokenCount),
		cached: int64(m.CachedContentTokenCount), toolPrompt: int64(m.ToolUsePromptTokenCount), total: int64(m.TotalTokenCount)}.pivot()
}

// usageFromPivot is the inverse: candidates = completion - reasoning.
func usageFromPivot(u openai.Usage) *UsageMetadata {
	m := &UsageMetadata{PromptTokenCount: u.PromptTokens, CandidatesTokenCount: u.CompletionTokens, TotalTokenCount: u.TotalTokens}
	if d := u.CompletionTokensDetails; d != nil && d.ReasoningTokens > 0 {
		m.ThoughtsTokenCount = d.ReasoningTokens
		m.CandidatesTokenCount = max(u.CompletionTokens-d.ReasoningTokens, 0)
	}
	if d := u.PromptTokensDetails; d != nil {
		m.CachedContentTokenCount = d.CachedTokens
	}
	if m.TotalTokenCount == 0 {
		m.TotalTokenCount = u.PromptTokens + u.CompletionTokens
	}
	return m
}

// UsageOf reads the usage of a Gemini reply or stream event (its top-level usageMetadata) in
// the pivot's terms, without decoding the rest: for the passthrough path. A JSON array (the
// stream without alt=sse, read whole) gives its last element's usage; an SSE event in normal
// form ("data: {...}\n\n") is read too. Anything else gives zero counts.
func UsageOf(chunkOrReply []byte) openai.Usage {
	b := chunkOrReply
	if _, data, ok := wire.Event(b); ok && len(b) > 5 && string(b[:5]) == "data:" {
		b = data
	}
	var u rawUsage
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	if i < len(b) && b[i] == '[' {
		for e, p := jsonscan.Elem(b, 0); e != nil; e, p = jsonscan.Elem(b, p) {
			if m := jsonscan.ObjectKey(e, "usageMetadata"); m != nil {
				u.read(m)
			}
		}
		return u.pivot()
	}
	u.read(jsonscan.ObjectKey(b, "usageMetadata"))
	return u.pivot()
}

func appendInt(dst []byte, n int) []byte { return strconv.AppendInt(dst, int64(n), 10) }

// appendUsageMetadata writes a Gemini usageMetadata object.
func appendUsageMetadata(dst []byte, m *UsageMetadata) []byte {
	dst = append(dst, `{"promptTokenCount":`...)
	dst = appendInt(dst, m.PromptTokenCount)
	dst = append(dst, `,"candidatesTokenCount":`...)
	dst = appendInt(dst, m.CandidatesTokenCount)
	if m.ThoughtsTokenCount > 0 {
		dst = append(dst, `,"thoughtsTokenCount":`...)
		dst = appendInt(dst, m.ThoughtsTokenCount)
	}
	if m.CachedContentTokenCount > 0 {
		dst = append(dst, `,"cachedContentTokenCount":`...)
		dst = appendInt(dst, m.CachedContentTokenCount)
	}
	dst = append(dst, `,"totalTokenCount":`...)
	dst = appendInt(dst, m.TotalTokenCount)
	return append(dst, '}')
}
