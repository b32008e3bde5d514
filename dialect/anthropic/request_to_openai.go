package anthropic

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/llmrouter/caddy-llm-router/dialect/openai"
)

// BillingHeaderPrefix starts the system block Claude Code sends first. It is Anthropic's
// business: kept byte for byte on the passthrough to Anthropic, dropped on translation.
const BillingHeaderPrefix = "x-anthropic-billing-header:"

// maxOpenAIStops is how many stop sequences OpenAI accepts.
const maxOpenAIStops = 4

// ToOpenAIOptions configure RequestToOpenAI.
type ToOpenAIOptions struct {
	// Model is the upstream model id to write; empty keeps the request's.
	Model string
}

// RequestToOpenAI translates a Messages request body (from /v1/messages) for an OpenAI-dialect
// upstream; call it once per attempt that goes to such a provider, with that target's model
// id. Errors wrap ErrBadRequest. See ToOpenAIRequest for the mapping.
func RequestToOpenAI(body []byte, opts ToOpenAIOptions) ([]byte, error) {
	var r Request
	if err := DecodeRequest(body, &r); err != nil {
		return nil, err
	}
	return ToOpenAIRequest(&r, opts).AppendJSON(make([]byte, 0, len(body))), nil
}

// ToOpenAIRequest maps a Messages request to a pivot request:
//
//   - system (a string or text blocks) becomes one system message, blocks joined with a blank
//     line; the x-anthropic-billing-header block Claude Code sends is dropped; cache_control
//     is dropped everywhere (OpenAI caches by itself);
//   - user text blocks become the message's content (a string when there are only text
//     blocks, joined with a blank line; parts when there are images); image blocks become
//     image_url parts (base64 as a data URL); a document block with a text source becomes
//     text, one with a base64 source a file part;
//   - tool_result blocks become tool messages placed before the rest of their user message,
//     their content as text (is_error prefixes "Error: "), their images moved into the user
//     message that follows;
//   - assistant text becomes content, tool_use becomes tool_calls (input as the arguments
//     string); thinking and redacted_thinking are dropped: they are Anthropic's signed state
//     and mean nothing to another model;
//   - client tools become function tools (server tools such as web_search, bash or
//     text_editor, which only Anthropic runs, are dropped); tool_choice auto/any/tool/none
//     becomes auto/required/named/none and disable_parallel_tool_use parallel_tool_calls false;
//   - max_tokens, temperature, top_p and stream are kept; a stream also asks for
//     stream_options.include_usage, which the reply's usage needs; stop_sequences become stop
//     (the first four: OpenAI refuses more); metadata.user_id becomes user; thinking enabled
//     becomes reasoning_effort by budget (under 4096 low, under 16384 medium, else high);
//     adaptive and disabled thinking send nothing (a non-reasoning model refuses the field);
//   - top_k, context_management, output_config, container, mcp_servers, service_tier and
//     any other field are dropped.
func ToOpenAIRequest(r *Request, opts ToOpenAIOptions) *openai.Request {
	out := &openai.Request{Model: r.Model, Stream: r.Stream, Temperature: r.Temperature, TopP: r.TopP}
	if opts.Model != "" {
		out.Model = opts.Model
	}
	if r.MaxTokens > 0 {
		mt := r.MaxTokens // capped, or made max_completion_tokens, per target by the router
		out.MaxTokens = &mt
	}
	if r.Stream {
		out.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	}
	var sys []string
	for _, b := range r.System {
		if b.Type == "text" && strings.TrimSpace(b.Text) != "" && !strings.HasPrefix(strings.TrimSpace(b.Text), BillingHeaderPrefix) {
			sys = append(sys, b.Text)
		}
	}
	if len(sys) > 0 {
		out.Messages = append(out.Messages, openai.Message{Role: "system", Content: openai.TextContent(strings.Join(sys, "\n\n"))})
	}
	for i := range r.Messages {
		m := &r.Messages[i]
		if m.Role == "assistant" {
			if om, ok := assistantToOpenAI(m.Content); ok {
				out.Messages = append(out.Messages, om)
			}
			continue
		}
		out.Messages = append(out.Messages, userToOpenAI(m.Content)...)
	}
	for _, t := range r.Tools {
		if t.Type != "" && t.Type != "custom" {
			continue
		}
		params := t.InputSchema
		if len(params) == 0 {
			params = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		out.Tools = append(out.Tools, openai.Tool{Type: "function", Function: &openai.FunctionDef{Name: t.Name, Description: t.Description, Parameters: params}})
	}
	if tc := r.ToolChoice; tc != nil && len(out.Tools) > 0 {
		switch tc.Type {
		case "auto":
			out.ToolChoice = &openai.ToolChoice{Mode: "auto"}
		case "any":
			out.ToolChoice = &openai.ToolChoice{Mode: "required"}
		case "none":
			out.ToolChoice = &openai.ToolChoice{Mode: "none"}
		case "tool":
			out.ToolChoice = &openai.ToolChoice{Function: tc.Name}
		}
		if tc.DisableParallelToolUse != nil && *tc.DisableParallelToolUse {
			f := false
			out.ParallelToolCalls = &f
		}
	}
	stops := r.StopSequences
	if len(stops) > maxOpenAIStops {
		stops = stops[:maxOpenAIStops]
	}
	out.Stop = openai.StringList(stops)
	if r.Metadata != nil {
		out.User = r.Metadata.UserID
	}
	if th := r.Thinking; th != nil && th.Type == "enabled" {
		switch {
		case th.BudgetTokens < 4096:
			out.ReasoningEffort = "low"
		case th.BudgetTokens < 16384:
			out.ReasoningEffort = "medium"
		default:
			out.ReasoningEffort = "high"
		}
	}
	return out
}

func assistantToOpenAI(blocks Blocks) (openai.Message, bool) {
	m := openai.Message{Role: "assistant"}
	var text []string
	for _, b := range blocks {
		switch b.Type {
		case "text":
			if b.Text != "" {
				text = append(text, b.Text)
			}
		case "tool_use":
			m.ToolCalls = append(m.ToolCalls, openai.ToolCall{ID: b.ID, Type: "function", Function: openai.FunctionCall{Name: b.Name, Arguments: argumentsString(b.Input)}})
		}
	}
	if len(text) > 0 {
		m.Content = openai.TextContent(strings.Join(text, "\n\n"))
	}
	return m, len(text) > 0 || len(m.ToolCalls) > 0
}

// argumentsString renders a tool_use input as OpenAI's arguments string, compacted.
func argumentsString(in json.RawMessage) string {
	if len(bytes.TrimSpace(in)) == 0 {
		return "{}"
	}
	var b bytes.Buffer
	if json.Compact(&b, in) != nil {
		return "{}"
	}
	return b.String()
}

// userToOpenAI turns one user turn into tool messages (its tool results) followed by at most
// one user message.
func userToOpenAI(blocks Blocks) []openai.Message {
	var out []openai.Message
	var parts []openai.ContentPart
	for _, b := range blocks {
		switch b.Type {
		case "tool_result":
			var text []string
			for _, c := range b.Content {
				switch c.Type {
				case "text":
					if c.Text != "" {
						text = append(text, c.Text)
					}
				case "image":
					if p, ok := imagePart(c.Source); ok {
						parts = append(parts, p)
					}
				}
			}
			s := strings.Join(text, "\n\n")
			if b.IsError {
				s = "Error: " + s
			}
			out = append(out, openai.Message{Role: "tool", ToolCallID: b.ToolUseID, Content: openai.TextContent(s)})
		case "text":
			if b.Text != "" {
				parts = append(parts, openai.ContentPart{Type: "text", Text: b.Text})
			}
		case "image":
			if p, ok := imagePart(b.Source); ok {
				parts = append(parts, p)
			}
		case "document":
			if p, ok := documentPart(b.Source); ok {
				parts = append(parts, p)
			}
		}
	}
	if len(parts) == 0 {
		return out
	}
	onlyText := true
	var text []string
	for _, p := range parts {
		if p.Type != "text" {
			onlyText = false
			break
		}
		text = append(text, p.Text)
	}
	c := &openai.Content{Parts: parts}
	if onlyText {
		c = openai.TextContent(strings.Join(text, "\n\n"))
	}
	return append(out, openai.Message{Role: "user", Content: c})
}

func imagePart(s *Source) (openai.ContentPart, bool) {
	if s == nil {
		return openai.ContentPart{}, false
	}
	switch s.Type {
	case "base64":
		return openai.ContentPart{Type: "image_url", ImageURL: &openai.ImageURL{URL: "data:" + s.MediaType + ";base64," + s.Data}}, true
	case "url":
		return openai.ContentPart{Type: "image_url", ImageURL: &openai.ImageURL{URL: s.URL}}, true
	}
	return openai.ContentPart{}, false
}

func documentPart(s *Source) (openai.ContentPart, bool) {
	if s == nil {
		return openai.ContentPart{}, false
	}
	switch s.Type {
	case "text":
		return openai.ContentPart{Type: "text", Text: s.Data}, s.Data != ""
	case "base64":
		raw, err := json.Marshal(map[string]any{"type": "file", "file": map[string]string{
			"filename": "document.pdf", "file_data": "data:" + s.MediaType + ";base64," + s.Data,
		}})
		return openai.ContentPart{Type: "file", Raw: raw}, err == nil
	}
	return openai.ContentPart{}, false
}
