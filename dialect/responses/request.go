package responses

import (
	"bytes"
	"encoding/json"

	"github.com/llmrouter/caddy-llm-router/dialect/openai"
	"github.com/llmrouter/caddy-llm-router/internal/jsonstr"
)

// ToOpenAIOptions configure a request translation.
type ToOpenAIOptions struct {
	// Model replaces the request's model (the target's upstream id); empty keeps it.
	Model string
}

// RequestToOpenAI translates a Responses request body into a chat completion request body for
// a chat-only upstream. Errors wrap ErrBadRequest (ErrNeedsNative for stored state). See
// ToOpenAIRequest for the mapping.
func RequestToOpenAI(body []byte, opts ToOpenAIOptions) ([]byte, error) {
	r, err := DecodeRequest(body)
	if err != nil {
		return nil, err
	}
	cr, err := ToOpenAIRequest(r, opts)
	if err != nil {
		return nil, err
	}
	return cr.AppendJSON(make([]byte, 0, len(body)+64)), nil
}

// DecodeRequest decodes a Responses request body. Errors wrap ErrBadRequest.
func DecodeRequest(body []byte) (*Request, error) {
	var r Request
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, badRequest("%v", err)
	}
	return &r, nil
}

// NeedsNative reports whether the request depends on state only the Responses API keeps:
// previous_response_id, or store: true.
func (r *Request) NeedsNative() bool {
	return r.PreviousResponseID != "" || (r.Store != nil && *r.Store)
}

// ToOpenAIRequest maps a Responses request to a pivot request:
//
//   - instructions become the first system message; input as a string is one user message;
//     input items: messages keep their role (developer becomes system), input_text and
//     output_text parts become text, input_image parts image_url parts (detail kept), refusal
//     parts text; a function_call becomes a tool call of an assistant message (consecutive
//     calls, and calls right after assistant text, share one message); a function_call_output
//     becomes a tool message (array output: its text parts joined, its images in a user
//     message after the run of tool messages, as chat tool messages hold text only);
//     reasoning items are dropped (their content is the provider's, opaque to another one);
//     custom_tool_call and custom_tool_call_output items are a tool call and a tool message as
//     well, the call's input as the arguments {"input": <the input>};
//   - function tools become chat function tools; custom tools chat functions whose one string
//     parameter input is the freeform input (customFunction); other tool types are dropped (see
//     the package doc); tool_choice auto/none/required, {"type":"function","name"} and
//     {"type":"custom","name"} are kept, allowed_tools keeps its mode (not its list); a
//     choice that forces a dropped tool, or
//     requires a call when only dropped tools were given, returns ErrBadRequest;
//   - text.format becomes response_format; reasoning.effort reasoning_effort;
//     max_output_tokens max_tokens; temperature, top_p, parallel_tool_calls, user and stream
//     are kept, and a stream asks for its usage (stream_options.include_usage), which
//     response.completed reports. metadata is not sent: it labels a stored response, and chat
//     servers refuse it without store (OpenAI) or as unknown.
//
// previous_response_id, store: true and item_reference items return ErrNeedsNative; input
// files, unknown item and part types ErrBadRequest.
func ToOpenAIRequest(r *Request, opts ToOpenAIOptions) (*openai.Request, error) {
	if r.PreviousResponseID != "" {
		return nil, withNeedsNative("previous_response_id continues a response stored at the provider that made it")
	}
	if r.Store != nil && *r.Store {
		return nil, withNeedsNative("store: true asks the provider to keep the response; set store to false")
	}
	out := &openai.Request{Model: r.Model, Temperature: r.Temperature, TopP: r.TopP,
		ParallelToolCalls: r.ParallelToolCalls, User: r.User, Stream: r.Stream, MaxTokens: r.MaxOutputTokens}
	if opts.Model != "" {
		out.Model = opts.Model
	}
	if r.Stream {
		out.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	}
	if r.Instructions != nil && *r.Instructions != "" {
		out.Messages = append(out.Messages, openai.Message{Role: "system", Content: openai.TextContent(*r.Instructions)})
	}
	var err error
	if out.Messages, err = appendInput(out.Messages, r.Input); err != nil {
		return nil, err
	}
	for _, t := range r.Tools {
		switch t.Type {
		case "function":
			if t.Name == "" {
				return nil, badRequest("a function tool without a name")
			}
			out.Tools = append(out.Tools, openai.Tool{Type: "function", Function: &openai.FunctionDef{
				Name: t.Name, Description: t.Description, Parameters: rawOrNil(t.Parameters), Strict: t.Strict}})
		case "custom":
			if t.Name == "" {
				return nil, badRequest("a custom tool without a name")
			}
			out.Tools = append(out.Tools, customFunction(t.Name, &t))
		case "namespace":
			// Chat has no namespaces: each function of one is a function named
			// <namespace>__<name>, and the replies split the name again (ReplyOptions).
			if t.Name == "" {
				return nil, badRequest("a namespace tool without a name")
			}
			for _, f := range t.Tools {
				if f.Type != "function" && f.Type != "custom" {
					continue
				}
				if f.Name == "" {
					return nil, badRequest("a %s tool of namespace %q without a name", f.Type, t.Name)
				}
				if f.Type == "custom" {
					out.Tools = append(out.Tools, customFunction(NamespacedName(t.Name, f.Name), &f))
					continue
				}
				out.Tools = append(out.Tools, openai.Tool{Type: "function", Function: &openai.FunctionDef{
					Name: NamespacedName(t.Name, f.Name), Description: f.Description, Parameters: rawOrNil(f.Parameters), Strict: f.Strict}})
			}
		}
	}
	if out.ToolChoice, err = toolChoice(r.ToolChoice); err != nil {
		return nil, err
	}
	if len(out.Tools) == 0 && out.ToolChoice != nil && out.ToolChoice.Mode == "required" && len(r.Tools) > 0 {
		return nil, badRequest("tool_choice required, and none of the tools is a function a chat-only provider can call")
	}
	if len(out.Tools) == 0 && out.ToolChoice != nil && out.ToolChoice.Function == "" {
		out.ToolChoice = nil // a choice without tools: most chat servers refuse it
	}
	if len(out.Tools) == 0 {
		out.ParallelToolCalls = nil
	}
	if r.Text != nil && r.Text.Format != nil {
		switch f := r.Text.Format; f.Type {
		case "", "text":
		case "json_object":
			out.ResponseFormat = &openai.ResponseFormat{Type: "json_object"}
		case "json_schema":
			out.ResponseFormat = &openai.ResponseFormat{Type: "json_schema", JSONSchema: &openai.JSONSchema{
				Name: f.Name, Description: f.Description, Schema: rawOrNil(f.Schema), Strict: f.Strict}}
		default:
			return nil, badRequest("text.format of type %q", f.Type)
		}
	}
	if r.Reasoning != nil && r.Reasoning.Effort != nil {
		out.ReasoningEffort = *r.Reasoning.Effort
	}
	return out, nil
}

// customInputParam is the one parameter of the chat function that stands for a custom tool:
// the freeform input as a string.
const customInputParam = "input"

// customParameters is the JSON schema of a custom tool's chat function.
var customParameters = json.RawMessage(`{"type":"object","properties":{"` + customInputParam + `":{"type":"string",` +
	`"description":"The tool's whole freeform input as plain text, exactly as the tool's description asks for it (not JSON)."}},` +
	`"required":["` + customInputParam + `"],"additionalProperties":false}`)

// customFunction is the chat function named name for custom tool t: a chat model can only
// call functions with JSON arguments, so the freeform input is the string parameter input, and
// the description says what the input must be (the grammar the Responses API would enforce,
// which a chat model is only told).
func customFunction(name string, t *Tool) openai.Tool {
	desc := t.Description
	if f := t.Format; f != nil && f.Type == "grammar" && f.Definition != "" {
		syntax := f.Syntax
		if syntax == "" {
			syntax = "lark"
		}
		if desc != "" {
			desc += "\n\n"
		}
		desc += "The input parameter is freeform text that must match this " + syntax + " grammar:\n" + f.Definition
	}
	return openai.Tool{Type: "function", Function: &openai.FunctionDef{Name: name, Description: desc, Parameters: customParameters}}
}

// customArguments are the chat arguments of a custom tool call whose input is input.
func customArguments(input string) string {
	b := make([]byte, 0, len(input)+16)
	b = append(b, `{"`+customInputParam+`":`...)
	b = jsonstr.Append(b, input)
	return string(append(b, '}'))
}

func withNeedsNative(why string) error {
	return &needsNative{why}
}

type needsNative struct{ why string }

func (e *needsNative) Error() string {
	return "this request needs a provider that serves the Responses API natively: " + e.why
}
func (e *needsNative) Unwrap() error { return ErrNeedsNative }

func rawOrNil(r json.RawMessage) json.RawMessage {
	if t := bytes.TrimSpace(r); len(t) == 0 || string(t) == "null" {
		return nil
	}
	return r
}

func toolChoice(raw json.RawMessage) (*openai.ToolChoice, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' {
		var mode string
		if err := json.Unmarshal(raw, &mode); err != nil {
			return nil, badRequest("tool_choice: %v", err)
		}
		switch mode {
		case "auto", "none", "required":
			return &openai.ToolChoice{Mode: mode}, nil
		}
		return nil, badRequest("tool_choice %q", mode)
	}
	var v struct {
		Type      string `json:"type"`
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
		Mode      string `json:"mode"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, badRequest("tool_choice: %v", err)
	}
	switch v.Type {
	case "function", "custom": // a custom tool is a function of the pivot
		if v.Name == "" {
			return nil, badRequest("tool_choice of type %s without a name", v.Type)
		}
		if v.Namespace != "" {
			return &openai.ToolChoice{Function: NamespacedName(v.Namespace, v.Name)}, nil
		}
		return &openai.ToolChoice{Function: v.Name}, nil
	case "allowed_tools":
		// Its list narrows the tools the model may call this turn; the mode is kept.
		if v.Mode == "required" {
			return &openai.ToolChoice{Mode: "required"}, nil
		}
		return &openai.ToolChoice{Mode: "auto"}, nil
	}
	// A hosted tool (web_search, file_search...) or an MCP one: dropped from the tools, it
	// cannot be forced, and answering without it would answer another question.
	return nil, badRequest("tool_choice forces a tool of type %q, which a chat-only provider cannot run", v.Type)
}

func appendInput(msgs []openai.Message, raw json.RawMessage) ([]openai.Message, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return msgs, nil
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, badRequest("input: %v", err)
		}
		return append(msgs, openai.Message{Role: "user", Content: openai.TextContent(s)}), nil
	case raw[0] != '[':
		return nil, badRequest("input must be a string or an array of items")
	}
	var items []item
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, badRequest("input: %v", err)
	}
	// images are those of the function_call_outputs just read: a chat tool message holds text
	// only, so they follow the run of tool messages as a user message (a message between a
	// call's results would orphan the later ones).
	var images []openai.ContentPart
	for i := range items {
		it := &items[i]
		if it.Type != "function_call_output" && it.Type != "custom_tool_call_output" && it.Type != "reasoning" {
			msgs, images = appendImages(msgs, images)
		}
		typ := it.Type
		if typ == "" && it.Role == "" && it.ID != "" {
			typ = "item_reference" // the SDKs may omit the type of a reference
		}
		switch typ {
		case "", "message":
			m, err := message(it)
			if err != nil {
				return nil, err
			}
			msgs = append(msgs, m)
		case "function_call", "custom_tool_call":
			if it.CallID == "" || it.Name == "" {
				return nil, badRequest("input[%d]: %s needs call_id and name", i, typ)
			}
			args := it.Arguments
			if typ == "custom_tool_call" {
				args = customArguments(it.Input)
			} else if args == "" {
				args = "{}"
			}
			name := it.Name
			if it.Namespace != "" {
				name = NamespacedName(it.Namespace, name)
			}
			tc := openai.ToolCall{ID: it.CallID, Type: "function", Function: openai.FunctionCall{Name: name, Arguments: args}}
			if n := len(msgs); n > 0 && msgs[n-1].Role == "assistant" {
				msgs[n-1].ToolCalls = append(msgs[n-1].ToolCalls, tc)
			} else {
				msgs = append(msgs, openai.Message{Role: "assistant", ToolCalls: []openai.ToolCall{tc}})
			}
		case "function_call_output", "custom_tool_call_output":
			if it.CallID == "" {
				return nil, badRequest("input[%d]: %s needs call_id", i, typ)
			}
			text, more, err := appendOutput(images, it.Output)
			if err != nil {
				return nil, badRequest("input[%d]: %v", i, err)
			}
			images = more
			msgs = append(msgs, openai.Message{Role: "tool", ToolCallID: it.CallID, Content: openai.TextContent(text)})
		case "reasoning":
		case "item_reference":
			return nil, withNeedsNative("an item_reference names an item stored at the provider")
		default:
			return nil, badRequest("input[%d]: items of type %q need a provider that serves the Responses API natively", i, it.Type)
		}
	}
	msgs, _ = appendImages(msgs, images)
	return msgs, nil
}

// appendImages appends the images of tool outputs as a user message, and returns the emptied
// list.
func appendImages(msgs []openai.Message, images []openai.ContentPart) ([]openai.Message, []openai.ContentPart) {
	if len(images) == 0 {
		return msgs, images
	}
	return append(msgs, openai.Message{Role: "user", Content: &openai.Content{Parts: images}}), nil
}

func message(it *item) (openai.Message, error) {
	m := openai.Message{Role: it.Role}
	switch it.Role {
	case "user", "assistant", "system":
	case "developer":
		m.Role = "system"
	default:
		return m, badRequest("input message with role %q", it.Role)
	}
	c := bytes.TrimSpace(it.Content)
	if len(c) > 0 && c[0] == '"' {
		var s string
		if err := json.Unmarshal(c, &s); err != nil {
			return m, badRequest("message content: %v", err)
		}
		m.Content = openai.TextContent(s)
		return m, nil
	}
	var parts []part
	if err := json.Unmarshal(c, &parts); err != nil {
		return m, badRequest("message content: %v", err)
	}
	cp := make([]openai.ContentPart, 0, len(parts))
	images := false
	for _, p := range parts {
		switch p.Type {
		case "input_text", "output_text", "text":
			cp = append(cp, openai.ContentPart{Type: "text", Text: p.Text})
		case "refusal":
			cp = append(cp, openai.ContentPart{Type: "text", Text: p.Refusal})
		case "input_image":
			img, err := imagePart(&p)
			if err != nil {
				return m, err
			}
			images = true
			cp = append(cp, img)
		case "input_file":
			f, err := filePart(&p)
			if err != nil {
				return m, err
			}
			images = true // a file keeps the content in parts, as an image does
			cp = append(cp, f)
		default:
			return m, badRequest("content parts of type %q are not translated for a chat-only provider", p.Type)
		}
	}
	if !images && (m.Role != "user" || len(cp) <= 1) {
		// Text only: a string, which every chat server reads (many refuse parts for assistant
		// and system messages).
		m.Content = openai.TextContent((&openai.Content{Parts: cp}).String(""))
		return m, nil
	}
	m.Content = &openai.Content{Parts: cp}
	return m, nil
}

// filePart is an input_file part with its file inline as a chat file part (file_data and
// filename), which OpenAI's chat API reads and the Anthropic and Gemini translations take on.
// A file_id or file_url names a file only the provider that holds it can read.
func filePart(p *part) (openai.ContentPart, error) {
	if p.FileData == "" {
		return openai.ContentPart{}, badRequest("an input_file without file_data (file_id and file_url need the provider's file store)")
	}
	var f struct {
		Type string `json:"type"`
		File struct {
			Filename string `json:"filename,omitempty"`
			FileData string `json:"file_data"`
		} `json:"file"`
	}
	f.Type, f.File.Filename, f.File.FileData = "file", p.Filename, p.FileData
	raw, err := json.Marshal(f)
	if err != nil {
		return openai.ContentPart{}, err
	}
	return openai.ContentPart{Type: "file", Raw: raw}, nil
}

// imagePart is an input_image part as a chat image_url part.
func imagePart(p *part) (openai.ContentPart, error) {
	var url string
	if len(p.ImageURL) > 0 && p.ImageURL[0] == '"' {
		_ = json.Unmarshal(p.ImageURL, &url)
	}
	if url == "" {
		return openai.ContentPart{}, badRequest("an input_image without image_url (file_id needs the provider's file store)")
	}
	return openai.ContentPart{Type: "image_url", ImageURL: &openai.ImageURL{URL: url, Detail: p.Detail}}, nil
}

// appendOutput reads a function_call_output's output: a string, or content parts whose text is
// joined and whose images are appended to images (Codex's view_image answers with one).
func appendOutput(images []openai.ContentPart, raw json.RawMessage) (string, []openai.ContentPart, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", images, nil
	}
	if raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, images, err
	}
	var parts []part
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", images, err
	}
	var b []byte
	for i := range parts {
		switch p := &parts[i]; p.Type {
		case "input_text", "output_text", "text":
			b = append(b, p.Text...)
		case "input_image":
			img, err := imagePart(p)
			if err != nil {
				return "", images, err
			}
			images = append(images, img)
		default:
			return "", images, badRequest("function_call_output parts of type %q are not translated", p.Type)
		}
	}
	return string(b), images, nil
}
