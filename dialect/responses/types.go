// Package responses is OpenAI's Responses API (`POST /v1/responses`, the API of Codex CLI and
// of the OpenAI SDKs' responses.create) as a dialect of the router: requests translated to the
// pivot (OpenAI chat completions), and the pivot's replies and streams translated back into
// Responses objects and the Responses event sequence, for providers that serve only chat
// completions (or another dialect reached through the pivot).
//
// What the pivot cannot express is refused, never dropped in silence: a request that continues
// a stored response (previous_response_id), asks to be stored (store: true) or refers to stored
// items returns ErrNeedsNative; an input item or content part of a type the pivot has no place
// for returns ErrBadRequest. The functions of a namespace tool become chat functions named
// <namespace>__<name> (NamespacedName), and the replies' calls of them are written back in
// their namespace (ReplyOptions.Namespaces). Hosted tools (web_search, file_search, computer use, custom
// freeform tools...) are dropped from tools: a chat-only model cannot run them, and the request
// is still answerable without them, unless its tool_choice forces one (ErrBadRequest).
package responses

import "encoding/json"

// Request is a Responses API request: the fields the translation reads. Other fields are
// ignored (include, truncation, service_tier, prompt_cache_key...); Metadata is read but not
// translated (see ToOpenAIRequest).
type Request struct {
	Model              string          `json:"model"`
	Input              json.RawMessage `json:"input"`
	Instructions       *string         `json:"instructions"`
	Tools              []Tool          `json:"tools"`
	ToolChoice         json.RawMessage `json:"tool_choice"`
	Text               *TextConfig     `json:"text"`
	Reasoning          *Reasoning      `json:"reasoning"`
	MaxOutputTokens    *int            `json:"max_output_tokens"`
	Temperature        *float64        `json:"temperature"`
	TopP               *float64        `json:"top_p"`
	ParallelToolCalls  *bool           `json:"parallel_tool_calls"`
	User               string          `json:"user"`
	Metadata           json.RawMessage `json:"metadata"`
	Stream             bool            `json:"stream"`
	PreviousResponseID string          `json:"previous_response_id"`
	Store              *bool           `json:"store"`
}

// Tool is one entry of tools. Function tools are flat: name, description and parameters at the
// top level, not under "function" as in chat completions.
type Tool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
	Strict      *bool           `json:"strict"`
	// Format is a custom tool's input format: {"type":"text"}, or {"type":"grammar",
	// "syntax":"lark"|"regex","definition"} (Codex CLI's apply_patch comes with a Lark grammar).
	Format *CustomFormat `json:"format"`
	// Tools are a namespace tool's own (function and custom tools), called by their name and
	// the namespace's (Codex CLI's sub-agent tools come so).
	Tools []Tool `json:"tools"`
}

// CustomFormat is the format of a custom tool's freeform input.
type CustomFormat struct {
	Type       string `json:"type"`
	Syntax     string `json:"syntax"`
	Definition string `json:"definition"`
}

// TextConfig is the request's text: its format is chat's response_format.
type TextConfig struct {
	Format *Format `json:"format"`
}

// Format is text.format: {"type":"text"}, {"type":"json_object"} or {"type":"json_schema",
// "name", "schema", "description", "strict"} (flat, where chat nests it under json_schema).
type Format struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
	Strict      *bool           `json:"strict"`
}

// Reasoning is the request's reasoning configuration.
type Reasoning struct {
	Effort *string `json:"effort"`
}

// item is one input item: a message (with or without "type"), a function_call, a
// function_call_output, a custom_tool_call, a custom_tool_call_output, a reasoning item, or
// another type.
type item struct {
	Type      string          `json:"type"`
	ID        string          `json:"id"`
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	CallID    string          `json:"call_id"`
	Name      string          `json:"name"`
	Namespace string          `json:"namespace"`
	Arguments string          `json:"arguments"`
	// Input is a custom_tool_call's freeform input.
	Input  string          `json:"input"`
	Output json.RawMessage `json:"output"`
}

// part is one content part of an input message or a function_call_output.
type part struct {
	Type     string          `json:"type"`
	Text     string          `json:"text"`
	Refusal  string          `json:"refusal"`
	ImageURL json.RawMessage `json:"image_url"`
	Detail   string          `json:"detail"`
	FileID   string          `json:"file_id"`
	// FileData (base64, as a data URL) and Filename are an input_file's inline file.
	FileData string `json:"file_data"`
	Filename string `json:"filename"`
}
