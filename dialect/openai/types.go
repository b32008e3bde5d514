// Package openai is the pivot dialect of the router: OpenAI chat completions. Every other dialect
// translates to and from these types, so a new dialect is one pair of translators.
//
// The types are lean: they hold what the translators read and write, not the whole API. Where a
// value has no meaning to a translator but must survive it (a tool's JSON schema, an unknown
// content part, metadata), it is kept as json.RawMessage.
package openai

import (
	"bytes"
	"encoding/json"
	"errors"
)

// Request is a chat completion request.
type Request struct {
	Model               string          `json:"model"`
	Messages            []Message       `json:"messages"`
	MaxTokens           *int            `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int            `json:"max_completion_tokens,omitempty"`
	Temperature         *float64        `json:"temperature,omitempty"`
	TopP                *float64        `json:"top_p,omitempty"`
	Stop                StringList      `json:"stop,omitempty"`
	Stream              bool            `json:"stream,omitempty"`
	StreamOptions       *StreamOptions  `json:"stream_options,omitempty"`
	Tools               []Tool          `json:"tools,omitempty"`
	ToolChoice          *ToolChoice     `json:"tool_choice,omitempty"`
	ParallelToolCalls   *bool           `json:"parallel_tool_calls,omitempty"`
	User                string          `json:"user,omitempty"`
	ReasoningEffort     string          `json:"reasoning_effort,omitempty"`
	ResponseFormat      *ResponseFormat `json:"response_format,omitempty"`
	Metadata            json.RawMessage `json:"metadata,omitempty"`
}

// StreamOptions are the request's stream_options.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// ResponseFormat is the request's response_format: "text", "json_object" or "json_schema".
type ResponseFormat struct {
	Type       string      `json:"type"`
	JSONSchema *JSONSchema `json:"json_schema,omitempty"`
}

// JSONSchema is response_format.json_schema.
type JSONSchema struct {
	Name        string          `json:"name,omitempty"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// Message is one chat message. Content is nil when the message has none (an assistant turn that
// only calls tools), which is written as no content key.
type Message struct {
	Role             string     `json:"role"`
	Content          *Content   `json:"content,omitempty"`
	Name             string     `json:"name,omitempty"`
	ToolCalls        []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID       string     `json:"tool_call_id,omitempty"`
	ReasoningContent string     `json:"reasoning_content,omitempty"`
	Refusal          string     `json:"refusal,omitempty"`
}

// Content is a message's content: a plain string, or (when Parts is non-nil) an array of parts.
type Content struct {
	Text  string
	Parts []ContentPart
}

// TextContent returns string content.
func TextContent(s string) *Content { return &Content{Text: s} }

// String returns the text of the content: the string, or its text parts joined with sep.
func (c *Content) String(sep string) string {
	if c == nil {
		return ""
	}
	if c.Parts == nil {
		return c.Text
	}
	var b []byte
	n := 0
	for _, p := range c.Parts {
		if p.Type == "text" && p.Text != "" {
			if n > 0 {
				b = append(b, sep...)
			}
			b = append(b, p.Text...)
			n++
		}
	}
	return string(b)
}

// MarshalJSON writes a string, or the parts as an array.
func (c Content) MarshalJSON() ([]byte, error) {
	if c.Parts != nil {
		return json.Marshal(c.Parts)
	}
	return json.Marshal(c.Text)
}

// UnmarshalJSON accepts a string or an array of parts.
func (c *Content) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		c.Text = ""
		c.Parts = []ContentPart{}
		return json.Unmarshal(b, &c.Parts)
	}
	c.Parts = nil
	return json.Unmarshal(b, &c.Text)
}

// ContentPart is one part of array content: "text", "image_url", or another type kept whole in
// Raw.
type ContentPart struct {
	Type     string
	Text     string
	ImageURL *ImageURL
	// Raw is the part as it arrived when its type is neither text nor image_url; it is written
	// back unchanged.
	Raw json.RawMessage
}

// ImageURL is an image_url part's value: an http(s) URL or a data URL.
type ImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

type textPart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type imagePart struct {
	Type     string    `json:"type"`
	ImageURL *ImageURL `json:"image_url"`
}

// MarshalJSON writes the part in OpenAI's shape.
func (p ContentPart) MarshalJSON() ([]byte, error) {
	switch {
	case p.Raw != nil:
		return p.Raw, nil
	case p.Type == "image_url":
		return json.Marshal(imagePart{Type: p.Type, ImageURL: p.ImageURL})
	}
	return json.Marshal(textPart{Type: p.Type, Text: p.Text})
}

// UnmarshalJSON reads text and image_url parts and keeps any other part raw.
func (p *ContentPart) UnmarshalJSON(b []byte) error {
	var v struct {
		Type     string          `json:"type"`
		Text     string          `json:"text"`
		ImageURL json.RawMessage `json:"image_url"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*p = ContentPart{Type: v.Type}
	switch v.Type {
	case "text":
		p.Text = v.Text
	case "image_url":
		p.ImageURL = &ImageURL{}
		if len(v.ImageURL) > 0 && v.ImageURL[0] == '"' { // some clients send the URL bare
			return json.Unmarshal(v.ImageURL, &p.ImageURL.URL)
		}
		return json.Unmarshal(v.ImageURL, p.ImageURL)
	default:
		p.Raw = append(json.RawMessage(nil), b...)
	}
	return nil
}

// Tool is one entry of tools. Non-function tools are kept raw.
type Tool struct {
	Type     string       `json:"type"`
	Function *FunctionDef `json:"function,omitempty"`
}

// FunctionDef declares a function tool.
type FunctionDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// ToolChoice is tool_choice: a mode ("auto", "none", "required") or, when Function is set, one
// named function.
type ToolChoice struct {
	Mode     string
	Function string
}

// MarshalJSON writes the mode string or the named-function object.
func (t ToolChoice) MarshalJSON() ([]byte, error) {
	if t.Function != "" {
		var v struct {
			Type     string `json:"type"`
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		}
		v.Type = "function"
		v.Function.Name = t.Function
		return json.Marshal(v)
	}
	return json.Marshal(t.Mode)
}

// UnmarshalJSON reads the string or the object form.
func (t *ToolChoice) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		*t = ToolChoice{}
		return json.Unmarshal(b, &t.Mode)
	}
	var v struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	if v.Function.Name == "" {
		return errors.New("openai: tool_choice object without function.name")
	}
	*t = ToolChoice{Function: v.Function.Name}
	return nil
}

// ToolCall is one call an assistant made; Index is set in stream chunks only.
type ToolCall struct {
	Index    *int         `json:"index,omitempty"`
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type,omitempty"`
	Function FunctionCall `json:"function"`
}

// FunctionCall is the function of a tool call; Arguments is a JSON document as a string.
type FunctionCall struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// StringList is a value that may be a string or an array of strings (stop).
type StringList []string

// UnmarshalJSON accepts a string, an array of strings or null.
func (s *StringList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = StringList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}

// Response is a chat.completion reply.
type Response struct {
	ID      string   `json:"id"`
	Object  string   `json:"object"`
	Created int64    `json:"created"`
	Model   string   `json:"model"`
	Choices []Choice `json:"choices"`
	Usage   *Usage   `json:"usage,omitempty"`
}

// Choice is one choice of a reply.
type Choice struct {
	Index        int     `json:"index"`
	Message      Message `json:"message"`
	FinishReason string  `json:"finish_reason"`
}

// Usage is a reply's token usage. PromptTokens includes cached input, as OpenAI counts it.
type Usage struct {
	PromptTokens            int                      `json:"prompt_tokens"`
	CompletionTokens        int                      `json:"completion_tokens"`
	TotalTokens             int                      `json:"total_tokens"`
	PromptTokensDetails     *PromptTokensDetails     `json:"prompt_tokens_details,omitempty"`
	CompletionTokensDetails *CompletionTokensDetails `json:"completion_tokens_details,omitempty"`
}

// PromptTokensDetails splits prompt tokens. CacheWriteTokens is not OpenAI's (OpenAI does not
// bill cache writes); it carries Anthropic's cache_creation_input_tokens under the name
// OpenRouter uses, so that no count is lost in translation.
type PromptTokensDetails struct {
	CachedTokens     int `json:"cached_tokens"`
	CacheWriteTokens int `json:"cache_write_tokens,omitempty"`
}

// CompletionTokensDetails splits completion tokens.
type CompletionTokensDetails struct {
	ReasoningTokens int `json:"reasoning_tokens"`
}

// Chunk is one chat.completion.chunk of a stream. A usage-only chunk has no choices.
type Chunk struct {
	ID      string        `json:"id"`
	Object  string        `json:"object"`
	Created int64         `json:"created"`
	Model   string        `json:"model"`
	Choices []ChunkChoice `json:"choices"`
	Usage   *Usage        `json:"usage,omitempty"`
}

// ChunkChoice is one choice of a chunk; FinishReason is nil until the last chunk.
type ChunkChoice struct {
	Index        int     `json:"index"`
	Delta        Delta   `json:"delta"`
	FinishReason *string `json:"finish_reason"`
}

// Delta is what a chunk adds to the message.
type Delta struct {
	Role             string     `json:"role,omitempty"`
	Content          *string    `json:"content,omitempty"`
	ReasoningContent *string    `json:"reasoning_content,omitempty"`
	ToolCalls        []ToolCall `json:"tool_calls,omitempty"`
}

// Finish reasons a pivot reply can carry.
const (
	FinishStop          = "stop"
	FinishLength        = "length"
	FinishToolCalls     = "tool_calls"
	FinishContentFilter = "content_filter"
)
