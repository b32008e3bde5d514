package anthropic

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/llmrouter/caddy-llm-router/dialect/openai"
)

// ReplyOptions configure the whole-reply translators.
type ReplyOptions struct {
	// Model is the reply's model (the public name the client asked for); empty keeps the
	// upstream's.
	Model string
	// Created is an OpenAI reply's created time (unix seconds); 0 means now.
	Created int64
	// DropReasoning drops reasoning_content instead of writing a thinking block (see
	// StreamFromOpenAIOptions.DropReasoning).
	DropReasoning bool
}

// ResponseToOpenAI translates an Anthropic upstream's whole 2xx reply body for an OpenAI
// client. Text blocks are concatenated into content (as a stream's text deltas would be),
// thinking into reasoning_content, tool_use blocks become tool_calls with their input as the
// arguments string, the stop reason is mapped by FinishReason, and usage counts the cached
// input into prompt_tokens as OpenAI does (prompt_tokens = input + cache read + cache
// creation; cached_tokens = cache read; cache_write_tokens = cache creation). A body that is
// not a message is an error: classify it as an upstream failure.
func ResponseToOpenAI(body []byte, opts ReplyOptions) ([]byte, error) {
	var r Response
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("anthropic: reply: %w", err)
	}
	if r.Type != "" && r.Type != "message" {
		return nil, fmt.Errorf("anthropic: reply of type %q", r.Type)
	}
	return json.Marshal(ToOpenAIResponse(&r, opts))
}

// ToOpenAIResponse maps a Messages reply to a pivot reply (see ResponseToOpenAI).
func ToOpenAIResponse(r *Response, opts ReplyOptions) *openai.Response {
	created := opts.Created
	if created == 0 {
		created = time.Now().Unix()
	}
	model := r.Model
	if opts.Model != "" {
		model = opts.Model
	}
	m := openai.Message{Role: "assistant"}
	var text, thinking strings.Builder
	for _, b := range r.Content {
		switch b.Type {
		case "text":
			text.WriteString(b.Text)
		case "thinking":
			thinking.WriteString(b.Thinking)
		case "tool_use":
			m.ToolCalls = append(m.ToolCalls, openai.ToolCall{ID: b.ID, Type: "function", Function: openai.FunctionCall{Name: b.Name, Arguments: argumentsString(b.Input)}})
		}
	}
	if text.Len() > 0 || len(m.ToolCalls) == 0 {
		m.Content = openai.TextContent(text.String())
	}
	m.ReasoningContent = thinking.String()
	u := r.Usage.Pivot()
	return &openai.Response{
		ID: r.ID, Object: "chat.completion", Created: created, Model: model,
		Choices: []openai.Choice{{Index: 0, Message: m, FinishReason: FinishReason(r.StopReason)}},
		Usage:   &u,
	}
}

// ResponseFromOpenAI translates an OpenAI upstream's whole 2xx reply body for an Anthropic
// client: the first choice's reasoning_content becomes a thinking block (without a signature,
// never forged; see DropReasoning), its content (and refusal) a text block, its tool_calls
// tool_use blocks (arguments that are not a JSON object become {}), finish_reason the stop
// reason (tool_use whenever tools were called), and usage input_tokens = prompt_tokens minus
// cached and cache-write tokens, which go to cache_read_input_tokens and
// cache_creation_input_tokens. The id is "msg_" + the upstream's id.
func ResponseFromOpenAI(body []byte, opts ReplyOptions) ([]byte, error) {
	var r openai.Response
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("anthropic: OpenAI reply: %w", err)
	}
	if len(r.Choices) == 0 {
		return nil, fmt.Errorf("anthropic: OpenAI reply without choices")
	}
	return json.Marshal(FromOpenAIResponse(&r, opts))
}

// FromOpenAIResponse maps a pivot reply to a Messages reply (see ResponseFromOpenAI).
func FromOpenAIResponse(r *openai.Response, opts ReplyOptions) *Response {
	out := &Response{ID: r.ID, Type: "message", Role: "assistant", Model: r.Model, Content: []Block{}}
	if !strings.HasPrefix(out.ID, "msg_") {
		out.ID = "msg_" + out.ID
	}
	if opts.Model != "" {
		out.Model = opts.Model
	}
	finish := ""
	if len(r.Choices) > 0 {
		c := &r.Choices[0]
		for i := range r.Choices {
			if r.Choices[i].Index == 0 {
				c = &r.Choices[i]
				break
			}
		}
		m := &c.Message
		finish = c.FinishReason
		if m.ReasoningContent != "" && !opts.DropReasoning {
			out.Content = append(out.Content, Block{Type: "thinking", Thinking: m.ReasoningContent})
		}
		if s := m.Content.String(""); s != "" {
			out.Content = append(out.Content, Block{Type: "text", Text: s})
		}
		if m.Refusal != "" {
			out.Content = append(out.Content, Block{Type: "text", Text: m.Refusal})
			if finish == "stop" && m.Content.String("") == "" {
				finish = "content_filter"
			}
		}
		for _, tc := range m.ToolCalls {
			out.Content = append(out.Content, Block{Type: "tool_use", ID: toolID(tc.ID), Name: tc.Function.Name, Input: toolInput(tc.Function.Arguments)})
		}
		out.StopReason = StopReason(finish, len(m.ToolCalls) > 0)
	} else {
		out.StopReason = StopEndTurn
	}
	if r.Usage != nil {
		out.Usage = UsageFromPivot(*r.Usage)
	}
	return out
}
