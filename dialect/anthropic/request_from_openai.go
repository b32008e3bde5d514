package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/llmrouter/caddy-llm-router/dialect/openai"
)

// ErrBadRequest marks a translation failure caused by the client's request (the body is not a
// request of the ingress dialect, an image URL is unusable): answer 400 in the ingress
// dialect's shape, never retry. Test with errors.Is.
var ErrBadRequest = errors.New("invalid request")

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadRequest}, args...)...)
}

// DefaultMaxTokens is max_tokens sent to an Anthropic upstream when an OpenAI client set
// neither max_tokens nor max_completion_tokens (Anthropic requires it). 4096 fits every Claude
// model's output limit; a client that wants longer answers says so.
const DefaultMaxTokens = 4096

// Thinking budgets for reasoning_effort. Anthropic needs at least 1024 and less than
// max_tokens.
const (
	BudgetLow    = 2048
	BudgetMedium = 8192
	BudgetHigh   = 16384
	minBudget    = 1024
)

// FromOpenAIOptions configure RequestFromOpenAI.
type FromOpenAIOptions struct {
	// Model is the upstream model id to write; empty keeps the request's.
	Model string
	// DefaultMaxTokens replaces DefaultMaxTokens when > 0.
	DefaultMaxTokens int
}

// RequestFromOpenAI translates an OpenAI chat completion request body for an Anthropic
// upstream (call it once per attempt that goes to an `api anthropic` provider, with that
// target's model id). Errors wrap ErrBadRequest. See FromOpenAIRequest for the mapping.
func RequestFromOpenAI(body []byte, opts FromOpenAIOptions) ([]byte, error) {
	var r openai.Request
	if err := openai.DecodeRequest(body, &r); err != nil {
		return nil, badRequest("%v", err)
	}
	ar, err := FromOpenAIRequest(&r, opts)
	if err != nil {
		return nil, err
	}
	return ar.AppendJSON(make([]byte, 0, len(body))), nil
}

// FromOpenAIRequest maps a pivot request to a Messages request:
//
//   - system and developer messages (wherever they are) become the system blocks, in order;
//   - consecutive messages of one role are merged into one Anthropic message (tool results
//     become tool_result blocks of a user message, followed by any user text);
//   - text parts become text blocks, never empty or blank ones (Anthropic answers 400);
//     image_url parts become image blocks (data URLs a base64 source, http(s) URLs a url
//     source); file parts with a base64 PDF data URL become document blocks, and other
//     files are a bad request (dropped, the model would answer without them); other part
//     types are dropped;
//   - assistant tool_calls become tool_use blocks (arguments that are not a JSON object become
//     {}); reasoning_content is dropped, because Anthropic refuses thinking blocks without the
//     signature only Anthropic can make; refusal becomes text; trailing whitespace of the final
//     assistant text is trimmed (Anthropic refuses it);
//   - tools become tools (input_schema from parameters, {"type":"object"} when absent);
//     tool_choice auto/none/required/named become auto/none/any/tool, parallel_tool_calls
//     false becomes disable_parallel_tool_use;
//   - max_completion_tokens, else max_tokens, else the default becomes max_tokens; stop
//     becomes stop_sequences (blank ones dropped: Anthropic refuses them); temperature (capped
//     at 1, the top of Anthropic's scale), top_p (dropped when temperature is set: recent Claude
//     models refuse both) and stream are kept; user becomes metadata.user_id; tool call ids
//     have bytes Anthropic refuses replaced by '_';
//   - reasoning_effort low/medium/high becomes thinking enabled with BudgetLow/Medium/High
//     tokens (minimal and none: no thinking). The budget must stay under max_tokens: with the
//     default max_tokens, max_tokens grows to budget+default; with the client's, the budget
//     shrinks to half of it, and below 1024 there is no thinking. Thinking also drops
//     temperature and top_p (Anthropic requires the defaults with it), and is itself dropped
//     when tool_choice forces a tool (Anthropic refuses the combination) and while the turn's
//     last assistant message goes on (its tool results follow, or it ends the request as a
//     prefill): Anthropic then wants it to begin with a signed thinking block, which an OpenAI
//     client cannot send back;
//   - response_format json_object and json_schema become an instruction appended to the
//     system prompt (respond with one JSON value only; the schema is quoted): Anthropic's own
//     structured output needs a beta, so this is best effort, not a guarantee;
//   - everything else (n, seed, logprobs, penalties, logit_bias, audio, ...) is dropped.
func FromOpenAIRequest(r *openai.Request, opts FromOpenAIOptions) (*Request, error) {
	out := &Request{Model: r.Model, Stream: r.Stream, Temperature: r.Temperature, TopP: r.TopP}
	if t := out.Temperature; t != nil && *t > 1 {
		one := 1.0
		out.Temperature = &one // OpenAI's scale goes to 2, Anthropic's to 1
	}
	if out.Temperature != nil && out.TopP != nil {
		out.TopP = nil // recent Claude models refuse both at once
	}
	if opts.Model != "" {
		out.Model = opts.Model
	}
	for _, m := range r.Messages {
		switch m.Role {
		case "system", "developer":
			out.System = append(out.System, textBlocks(m.Content)...)
		case "user":
			blocks, err := userBlocks(m.Content)
			if err != nil {
				return nil, err
			}
			out.appendBlocks("user", blocks)
		case "assistant":
			out.appendBlocks("assistant", assistantBlocks(&m))
		case "tool", "function":
			res := Block{Type: "tool_result", ToolUseID: toolID(m.ToolCallID)}
			if m.Role == "function" {
				res.ToolUseID = toolID(m.Name)
			}
			blocks, err := userBlocks(m.Content)
			if err != nil {
				return nil, err
			}
			if len(blocks) > 0 {
				res.Content = blocks
			}
			out.appendBlocks("user", Blocks{res})
		default:
			return nil, badRequest("unknown message role %q", m.Role)
		}
	}
	out.trimFinalAssistant()
	if len(out.Messages) == 0 {
		return nil, badRequest("no user or assistant message")
	}

	maxTokens, explicit := opts.DefaultMaxTokens, false
	if maxTokens <= 0 {
		maxTokens = DefaultMaxTokens
	}
	if r.MaxCompletionTokens != nil && *r.MaxCompletionTokens > 0 {
		maxTokens, explicit = *r.MaxCompletionTokens, true
	} else if r.MaxTokens != nil && *r.MaxTokens > 0 {
		maxTokens, explicit = *r.MaxTokens, true
	}
	out.MaxTokens = maxTokens

	for _, s := range r.Stop {
		if strings.TrimSpace(s) != "" {
			out.StopSequences = append(out.StopSequences, s)
		}
	}
	if r.User != "" {
		out.Metadata = &Metadata{UserID: r.User}
	}

	for _, t := range r.Tools {
		if t.Type != "function" || t.Function == nil {
			continue
		}
		schema := t.Function.Parameters
		if len(bytes.TrimSpace(schema)) == 0 || string(schema) == "null" {
			schema = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		out.Tools = append(out.Tools, Tool{Name: t.Function.Name, Description: t.Function.Description, InputSchema: schema})
	}
	if len(out.Tools) > 0 {
		out.ToolChoice = toolChoiceFromOpenAI(r.ToolChoice, r.ParallelToolCalls)
	}

	if budget := effortBudget(r.ReasoningEffort); budget > 0 {
		forced := out.ToolChoice != nil && (out.ToolChoice.Type == "any" || out.ToolChoice.Type == "tool")
		switch {
		case forced, out.continuesAssistant():
		case !explicit:
			out.MaxTokens = budget + maxTokens
			out.Thinking = &Thinking{Type: "enabled", BudgetTokens: budget}
		case budget < maxTokens:
			out.Thinking = &Thinking{Type: "enabled", BudgetTokens: budget}
		case maxTokens/2 >= minBudget:
			out.Thinking = &Thinking{Type: "enabled", BudgetTokens: maxTokens / 2}
		}
		if out.Thinking != nil {
			out.Temperature, out.TopP = nil, nil
		}
	}

	if rf := r.ResponseFormat; rf != nil {
		switch rf.Type {
		case "json_object":
			out.System = append(out.System, Block{Type: "text", Text: "Respond with a single valid JSON object and nothing else: no prose, no code fences."})
		case "json_schema":
			text := "Respond with a single valid JSON value and nothing else (no prose, no code fences)"
			if rf.JSONSchema != nil && len(rf.JSONSchema.Schema) > 0 {
				text += " that conforms to this JSON schema:\n" + string(rf.JSONSchema.Schema)
			} else {
				text += "."
			}
			out.System = append(out.System, Block{Type: "text", Text: text})
		}
	}
	return out, nil
}

// appendBlocks adds blocks as a message of role, merged into the last message when it has the
// same role. Empty block lists add nothing.
func (r *Request) appendBlocks(role string, blocks Blocks) {
	if len(blocks) == 0 {
		return
	}
	if n := len(r.Messages); n > 0 && r.Messages[n-1].Role == role {
		last := &r.Messages[n-1]
		// Tool results lead a user message (Anthropic wants them first).
		if role == "user" && blocks[0].Type == "tool_result" && hasNonResult(last.Content) {
			r.Messages = append(r.Messages, Message{Role: role, Content: blocks})
			return
		}
		last.Content = append(last.Content, blocks...)
		return
	}
	r.Messages = append(r.Messages, Message{Role: role, Content: blocks})
}

func hasNonResult(bs Blocks) bool {
	for _, b := range bs {
		if b.Type != "tool_result" {
			return true
		}
	}
	return false
}

// continuesAssistant reports whether the request goes on with its last assistant message: that
// message ends the request (a prefill) or called tools, whose results follow. With thinking on,
// Anthropic then requires that message to begin with its signed thinking block, which the pivot
// never carries: it answers 400 unless thinking stays off for the rest of the turn.
func (r *Request) continuesAssistant() bool {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		m := &r.Messages[i]
		if m.Role != "assistant" {
			continue
		}
		if len(m.Content) > 0 && (m.Content[0].Type == "thinking" || m.Content[0].Type == "redacted_thinking") {
			return false // signed: Anthropic continues it with thinking on
		}
		if i == len(r.Messages)-1 {
			return true
		}
		for _, b := range m.Content {
			if b.Type == "tool_use" {
				return true
			}
		}
		return false
	}
	return false
}

func (r *Request) trimFinalAssistant() {
	for n := len(r.Messages); n > 0 && r.Messages[n-1].Role == "assistant"; n = len(r.Messages) {
		m := &r.Messages[n-1]
		for k := len(m.Content); k > 0 && m.Content[k-1].Type == "text"; k = len(m.Content) {
			t := strings.TrimRight(m.Content[k-1].Text, " \t\r\n")
			if t != "" {
				m.Content[k-1].Text = t
				return
			}
			m.Content = m.Content[:k-1]
		}
		if len(m.Content) > 0 {
			return
		}
		r.Messages = r.Messages[:n-1]
	}
}

func textBlocks(c *openai.Content) Blocks {
	if c == nil {
		return nil
	}
	if c.Parts == nil {
		if strings.TrimSpace(c.Text) == "" {
			return nil
		}
		return Blocks{{Type: "text", Text: c.Text}}
	}
	var out Blocks
	for _, p := range c.Parts {
		if p.Type == "text" && strings.TrimSpace(p.Text) != "" {
			out = append(out, Block{Type: "text", Text: p.Text})
		}
	}
	return out
}

func userBlocks(c *openai.Content) (Blocks, error) {
	if c == nil || c.Parts == nil {
		return textBlocks(c), nil
	}
	var out Blocks
	for _, p := range c.Parts {
		switch p.Type {
		case "text":
			if strings.TrimSpace(p.Text) != "" {
				out = append(out, Block{Type: "text", Text: p.Text})
			}
		case "image_url":
			if p.ImageURL == nil {
				continue
			}
			src, err := imageSource(p.ImageURL.URL)
			if err != nil {
				return nil, err
			}
			out = append(out, Block{Type: "image", Source: src})
		case "file":
			src := pdfSource(p.Raw)
			if src == nil {
				// Dropped, the model would answer without the file it was asked about.
				return nil, badRequest("only PDF files given inline (a data URL) reach an Anthropic model")
			}
			out = append(out, Block{Type: "document", Source: src})
		default: // input_audio, or a type newer than this translation
			return nil, badRequest("a user content part of type %q cannot be sent to an Anthropic model", p.Type)
		}
	}
	return out, nil
}

// pdfSource is the document source of a file part whose file_data is a base64 PDF data URL
// (what OpenAI clients send, and what a Gemini client's inline PDF becomes), nil for any
// other file part: Anthropic's documents take PDFs inline, and a file_id is OpenAI's own.
func pdfSource(raw []byte) *Source {
	var v struct {
		File struct {
			FileData string `json:"file_data"`
		} `json:"file"`
	}
	if json.Unmarshal(raw, &v) != nil {
		return nil
	}
	data, ok := strings.CutPrefix(v.File.FileData, "data:application/pdf;base64,")
	if !ok || data == "" {
		return nil
	}
	return &Source{Type: "base64", MediaType: "application/pdf", Data: data}
}

// imageSource turns an image URL into an Anthropic image source.
func imageSource(u string) (*Source, error) {
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		meta, data, ok := strings.Cut(rest, ",")
		mt, isB64 := strings.CutSuffix(meta, ";base64")
		if !ok || !isB64 || mt == "" {
			return nil, badRequest("image data URL is not base64 with a media type")
		}
		return &Source{Type: "base64", MediaType: mt, Data: data}, nil
	}
	if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
		return &Source{Type: "url", URL: u}, nil
	}
	return nil, badRequest("image URL is neither a data URL nor http(s)")
}

func assistantBlocks(m *openai.Message) Blocks {
	out := textBlocks(m.Content)
	if strings.TrimSpace(m.Refusal) != "" {
		out = append(out, Block{Type: "text", Text: m.Refusal})
	}
	for _, tc := range m.ToolCalls {
		out = append(out, Block{Type: "tool_use", ID: toolID(tc.ID), Name: tc.Function.Name, Input: toolInput(tc.Function.Arguments)})
	}
	return out
}

// toolID makes a tool call id acceptable to Anthropic, which allows only [A-Za-z0-9_-]: other
// bytes become '_' (Moonshot's ids look like "functions.get_weather:0"). The same id maps the
// same way wherever it appears (tool_use, tool_result, a reply to an Anthropic client), so the
// pairs still match, also when a later turn goes to an Anthropic upstream.
func toolID(id string) string {
	if id == "" {
		return "call_0"
	}
	for i := 0; i < len(id); i++ {
		if !idByte(id[i]) {
			b := []byte(id)
			for j := i; j < len(b); j++ {
				if !idByte(b[j]) {
					b[j] = '_'
				}
			}
			return string(b)
		}
	}
	return id
}

func idByte(c byte) bool {
	return c == '_' || c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// appendToolID appends the raw JSON string id as a JSON string mapped by toolID, without
// unescaping (an escape's bytes become '_' too).
func appendToolID(dst, raw []byte) []byte {
	dst = append(dst, '"')
	for _, c := range raw[1 : len(raw)-1] {
		if !idByte(c) {
			c = '_'
		}
		dst = append(dst, c)
	}
	return append(dst, '"')
}

// toolInput turns a tool call's arguments string into a tool_use input, which must be an
// object.
func toolInput(args string) json.RawMessage {
	b := bytes.TrimSpace([]byte(args))
	if len(b) > 0 && b[0] == '{' && json.Valid(b) {
		return b
	}
	return json.RawMessage(`{}`)
}

func toolChoiceFromOpenAI(tc *openai.ToolChoice, parallel *bool) *ToolChoice {
	var out *ToolChoice
	switch {
	case tc == nil:
	case tc.Function != "":
		out = &ToolChoice{Type: "tool", Name: tc.Function}
	case tc.Mode == "none":
		return &ToolChoice{Type: "none"} // disable_parallel_tool_use is not allowed with none
	case tc.Mode == "required":
		out = &ToolChoice{Type: "any"}
	case tc.Mode == "auto":
		out = &ToolChoice{Type: "auto"}
	}
	if parallel != nil && !*parallel {
		if out == nil {
			out = &ToolChoice{Type: "auto"}
		}
		t := true
		out.DisableParallelToolUse = &t
	}
	return out
}

func effortBudget(effort string) int {
	switch effort {
	case "low":
		return BudgetLow
	case "medium":
		return BudgetMedium
	case "high", "xhigh":
		return BudgetHigh
	}
	return 0
}
