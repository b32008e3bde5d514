// Package anthropic is the Anthropic Messages dialect (/v1/messages): its request and reply
// types, translation of requests, replies and streams to and from the pivot (package
// dialect/openai), its error shape and classifier facts, and a token estimate for count_tokens.
//
// Directions, named from this package's point of view:
//
//   - FromOpenAI*: pivot -> Anthropic. An OpenAI client's request to an `api anthropic`
//     upstream (RequestFromOpenAI), and a pivot reply or stream going back to an Anthropic
//     client (ResponseFromOpenAI, NewStreamFromOpenAI).
//   - ToOpenAI*: Anthropic -> pivot. An Anthropic client's request to an OpenAI upstream
//     (RequestToOpenAI), and an Anthropic upstream's reply or stream going back to an OpenAI
//     client (ResponseToOpenAI, NewStreamToOpenAI).
//
// Same dialect on both sides never comes here: that is the router's zero-decode passthrough.
package anthropic

import (
	"bytes"
	"encoding/json"
)

// Request is a Messages API request (the fields the translators read; the others are dropped
// on translation, see RequestToOpenAI).
type Request struct {
	Model         string      `json:"model"`
	Messages      []Message   `json:"messages"`
	System        Blocks      `json:"system,omitempty"`
	MaxTokens     int         `json:"max_tokens"`
	Metadata      *Metadata   `json:"metadata,omitempty"`
	StopSequences []string    `json:"stop_sequences,omitempty"`
	Stream        bool        `json:"stream,omitempty"`
	Temperature   *float64    `json:"temperature,omitempty"`
	TopP          *float64    `json:"top_p,omitempty"`
	TopK          *int        `json:"top_k,omitempty"`
	Tools         []Tool      `json:"tools,omitempty"`
	ToolChoice    *ToolChoice `json:"tool_choice,omitempty"`
	Thinking      *Thinking   `json:"thinking,omitempty"`
}

// Metadata is the request's metadata.
type Metadata struct {
	UserID string `json:"user_id,omitempty"`
}

// Thinking is the request's thinking config: "enabled" with a budget, "disabled" or
// "adaptive".
type Thinking struct {
	Type         string `json:"type"`
	BudgetTokens int    `json:"budget_tokens,omitempty"`
}

// Tool is a tool definition. Type is empty (or "custom") for client tools; other types are
// Anthropic's server or versioned tools (web_search_..., bash_...), which only Anthropic runs.
type Tool struct {
	Type         string          `json:"type,omitempty"`
	Name         string          `json:"name"`
	Description  string          `json:"description,omitempty"`
	InputSchema  json.RawMessage `json:"input_schema,omitempty"`
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

// ToolChoice is tool_choice: "auto", "any", "tool" (with Name) or "none".
type ToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse *bool  `json:"disable_parallel_tool_use,omitempty"`
}

// Message is one conversation turn.
type Message struct {
	Role    string `json:"role"`
	Content Blocks `json:"content"`
}

// Blocks is a list of content blocks. It is read from a string (one text block) or an array,
// and always written as an array.
type Blocks []Block

// UnmarshalJSON accepts a string or an array of blocks.
func (b *Blocks) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		*b = Blocks{{Type: "text", Text: s}}
		return nil
	}
	var v []Block
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	*b = v
	return nil
}

// Block is one content block. Which fields are set depends on Type: text (Text), image
// (Source), tool_use (ID, Name, Input), tool_result (ToolUseID, Content, IsError), thinking
// (Thinking, Signature), redacted_thinking (Data).
type Block struct {
	Type         string          `json:"type"`
	Text         string          `json:"text,omitempty"`
	Source       *Source         `json:"source,omitempty"`
	ID           string          `json:"id,omitempty"`
	Name         string          `json:"name,omitempty"`
	Input        json.RawMessage `json:"input,omitempty"`
	ToolUseID    string          `json:"tool_use_id,omitempty"`
	Content      Blocks          `json:"content,omitempty"`
	IsError      bool            `json:"is_error,omitempty"`
	Thinking     string          `json:"thinking,omitempty"`
	Signature    string          `json:"signature,omitempty"`
	Data         string          `json:"data,omitempty"`
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

// MarshalJSON writes a thinking block's signature even when it is empty: Anthropic always
// sends the key, and clients that validate replies (the AI SDK's zod schema) refuse a thinking
// block without it. The router never forges a signature, so a translated one is "".
func (b Block) MarshalJSON() ([]byte, error) {
	type plain Block
	if b.Type != "thinking" {
		return json.Marshal(plain(b))
	}
	return json.Marshal(struct {
		plain
		Signature string `json:"signature"`
	}{plain(b), b.Signature})
}

// Source is an image's source: base64 (MediaType, Data) or url (URL).
type Source struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

// Response is a whole Messages reply.
type Response struct {
	ID           string  `json:"id"`
	Type         string  `json:"type"`
	Role         string  `json:"role"`
	Model        string  `json:"model"`
	Content      []Block `json:"content"`
	StopReason   string  `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
	Usage        Usage   `json:"usage"`
}

// Usage is a reply's token usage. InputTokens excludes the cached input, which is counted in
// CacheReadInputTokens and CacheCreationInputTokens.
type Usage struct {
	InputTokens              int `json:"input_tokens"`
	OutputTokens             int `json:"output_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
}

// Stop reasons.
const (
	StopEndTurn      = "end_turn"
	StopMaxTokens    = "max_tokens"
	StopSequence     = "stop_sequence"
	StopToolUse      = "tool_use"
	StopPauseTurn    = "pause_turn"
	StopRefusal      = "refusal"
	StopContextLimit = "model_context_window_exceeded"
)

// FinishReason maps an Anthropic stop reason to the pivot's finish_reason. It never returns an
// Anthropic value: an unknown or empty reason is "stop".
func FinishReason(stopReason string) string {
	switch stopReason {
	case StopMaxTokens, StopContextLimit:
		return "length"
	case StopToolUse:
		return "tool_calls"
	case StopRefusal:
		return "content_filter"
	}
	return "stop" // end_turn, stop_sequence, pause_turn, unknown
}

// StopReason maps a pivot finish_reason to an Anthropic stop reason. calledTools says the turn
// produced tool calls: it is then tool_use whatever the upstream said (some upstreams finish a
// tool-calling turn with "stop").
func StopReason(finishReason string, calledTools bool) string {
	switch finishReason {
	case "length":
		return StopMaxTokens
	case "content_filter":
		return StopRefusal
	case "tool_calls", "function_call":
		return StopToolUse
	}
	if calledTools {
		return StopToolUse
	}
	return StopEndTurn
}
