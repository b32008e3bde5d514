package gemini

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/llmrouter/caddy-llm-router/dialect/openai"
)

// ReplyOptions configure the whole-reply translators.
type ReplyOptions struct {
	// Model is the reply's model (the public name the client asked for); empty keeps the
	// upstream's (modelVersion, or the pivot reply's model).
	Model string
	// Created is an OpenAI reply's created time (unix seconds); 0 means now.
	Created int64
	// DropSignatures leaves thought signatures out of the tool call ids written for an OpenAI
	// client (see ToOpenAIOptions.DropSignatures): for a pool that may send the next turn to
	// an OpenAI upstream, which refuses ids over 40 bytes. A replayed call without its
	// signature gets the dummy one on its way back to Gemini.
	DropSignatures bool
}

// ResponseToOpenAI translates a Gemini upstream's whole 2xx GenerateContentResponse for an
// OpenAI client. Each candidate becomes a choice (its index kept): text parts concatenated
// into content, thought parts into reasoning_content, functionCall parts into tool_calls
// (arguments the compact JSON of args, {} when none; the id Gemini's own or a generated one,
// with the part's thought signature encoded into it, see ToolID), the finish reason mapped by
// FinishReason. A prompt blocked by promptFeedback (no candidates) is one choice with empty
// content and content_filter. Usage: prompt_tokens = promptTokenCount (+ tool-use prompt),
// completion_tokens = candidates + thoughts, reasoning_tokens = thoughts, cached_tokens =
// cachedContentTokenCount. The id is the responseId, or "chatcmpl-" and a hash of the body. A
// body that is not a GenerateContentResponse is an error: classify it as an upstream failure.
func ResponseToOpenAI(body []byte, opts ReplyOptions) ([]byte, error) {
	var r Response
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("gemini: reply: %w", err)
	}
	if r.Candidates == nil && r.PromptFeedback == nil && r.UsageMetadata == nil {
		return nil, errors.New("gemini: reply without candidates")
	}
	id := r.ResponseID
	if id == "" {
		h := fnv.New64a()
		h.Write(body)
		id = "chatcmpl-" + strconv.FormatUint(h.Sum64(), 16)
	}
	created := opts.Created
	if created == 0 {
		created = time.Now().Unix()
	}
	model := r.ModelVersion
	if opts.Model != "" {
		model = opts.Model
	}
	out := openai.Response{ID: id, Object: "chat.completion", Created: created, Model: model, Choices: []openai.Choice{}}
	for _, c := range r.Candidates {
		m := openai.Message{Role: "assistant"}
		var text, thought strings.Builder
		calls := 0
		if c.Content != nil {
			for _, p := range c.Content.Parts {
				switch {
				case p.FunctionCall != nil:
					args := compactArgs(p.FunctionCall.Args)
					base := p.FunctionCall.ID
					if base == "" {
						base = callID(r.ResponseID, p.FunctionCall.Name, args, calls)
					}
					sig := p.ThoughtSignature
					if opts.DropSignatures {
						sig = ""
					}
					m.ToolCalls = append(m.ToolCalls, openai.ToolCall{ID: ToolID(base, sig), Type: "function",
						Function: openai.FunctionCall{Name: p.FunctionCall.Name, Arguments: string(args)}})
					calls++
				case p.Thought:
					thought.WriteString(p.Text)
				default:
					text.WriteString(p.Text)
				}
			}
		}
		if text.Len() > 0 || calls == 0 {
			m.Content = openai.TextContent(text.String())
		}
		m.ReasoningContent = thought.String()
		out.Choices = append(out.Choices, openai.Choice{Index: c.Index, Message: m, FinishReason: FinishReason(c.FinishReason, calls > 0)})
	}
	if len(out.Choices) == 0 {
		finish := "stop"
		if r.PromptFeedback != nil && r.PromptFeedback.BlockReason != "" {
			finish = "content_filter"
		}
		out.Choices = append(out.Choices, openai.Choice{Message: openai.Message{Role: "assistant", Content: openai.TextContent("")}, FinishReason: finish})
	}
	if r.UsageMetadata != nil {
		u := r.UsageMetadata.pivot()
		out.Usage = &u
	} else {
		out.Usage = &openai.Usage{}
	}
	return json.Marshal(&out)
}

// compactArgs returns a function call's args as compact JSON: {} when absent or not an object.
func compactArgs(args json.RawMessage) []byte {
	a := bytes.TrimSpace(args)
	if len(a) == 0 || a[0] != '{' {
		return []byte("{}")
	}
	var b bytes.Buffer
	if json.Compact(&b, a) != nil {
		return []byte("{}")
	}
	return b.Bytes()
}

// ResponseFromOpenAI translates an OpenAI upstream's whole 2xx chat.completion for a Gemini
// client: each choice becomes a candidate (in index order, its index kept; more than one
// when the client's candidateCount asked n) with content {role: model, parts}
// (reasoning_content a thought part, content and refusal text parts, each tool call a
// functionCall part with args parsed from its arguments ({} when they are not a JSON
// object) and the id and thoughtSignature decoded from its id, see SplitToolID), finishReason
// by FinishReasonFromOpenAI; usageMetadata from usage (candidates = completion - reasoning,
// thoughts = reasoning, cached content = cached tokens); modelVersion opts.Model (else the
// reply's model); responseId the reply's id.
func ResponseFromOpenAI(body []byte, opts ReplyOptions) ([]byte, error) {
	var r openai.Response
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("gemini: OpenAI reply: %w", err)
	}
	if len(r.Choices) == 0 {
		return nil, errors.New("gemini: OpenAI reply without choices")
	}
	slices.SortStableFunc(r.Choices, func(a, b openai.Choice) int { return cmp.Compare(a.Index, b.Index) })
	out := Response{Candidates: make([]Candidate, 0, len(r.Choices)), ModelVersion: r.Model, ResponseID: r.ID}
	empty := false
	for i := range r.Choices {
		c, e := candidateFromOpenAI(&r.Choices[i])
		out.Candidates = append(out.Candidates, c)
		empty = empty || e
	}
	if opts.Model != "" {
		out.ModelVersion = opts.Model
	}
	if r.Usage != nil {
		out.UsageMetadata = usageFromPivot(*r.Usage)
	} else {
		out.UsageMetadata = &UsageMetadata{}
	}
	b, err := json.Marshal(&out)
	if err != nil {
		return nil, err
	}
	if !empty {
		return b, nil
	}
	// An empty answer has one empty text part, as Gemini writes it, not an empty object.
	return bytes.ReplaceAll(b, []byte(`"parts":[{}]`), []byte(`"parts":[{"text":""}]`)), nil
}

// candidateFromOpenAI is the candidate of one pivot choice; empty says it has nothing to say,
// and its one part is written as {} (ResponseFromOpenAI makes it an empty text part).
func candidateFromOpenAI(c *openai.Choice) (cand Candidate, empty bool) {
	m := &c.Message
	parts := []Part{}
	if m.ReasoningContent != "" {
		parts = append(parts, Part{Text: m.ReasoningContent, Thought: true})
	}
	if s := m.Content.String(""); s != "" {
		parts = append(parts, Part{Text: s})
	}
	if m.Refusal != "" {
		parts = append(parts, Part{Text: m.Refusal})
	}
	for _, tc := range m.ToolCalls {
		parts = append(parts, callPart(tc.ID, tc.Function.Name, []byte(tc.Function.Arguments)))
	}
	finish := c.FinishReason
	if m.Refusal != "" && finish == "stop" && m.Content.String("") == "" {
		finish = "content_filter"
	}
	if empty = len(parts) == 0; empty {
		parts = append(parts, Part{})
	}
	return Candidate{Content: &Content{Role: "model", Parts: parts}, FinishReason: FinishReasonFromOpenAI(finish), Index: c.Index}, empty
}

// callPart is the functionCall part of a pivot tool call.
func callPart(id, name string, arguments []byte) Part {
	base, sig := SplitToolID(id)
	args := bytes.TrimSpace(arguments)
	if len(args) == 0 || args[0] != '{' || !json.Valid(args) {
		args = []byte("{}")
	}
	return Part{FunctionCall: &FunctionCall{ID: base, Name: name, Args: args}, ThoughtSignature: sig}
}
