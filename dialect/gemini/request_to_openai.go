package gemini

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/llmrouter/caddy-llm-router/dialect/internal/wire"
	"github.com/llmrouter/caddy-llm-router/dialect/openai"
	"github.com/llmrouter/caddy-llm-router/internal/jsonstr"
)

// maxOpenAIStops is how many stop sequences OpenAI accepts.
const maxOpenAIStops = 4

// ToOpenAIOptions configure RequestToOpenAI; the model and streaming come from the URL path
// (models/{model}:generateContent or :streamGenerateContent).
type ToOpenAIOptions struct {
	// Model is the upstream model id to write.
	Model string
	// Stream sets stream: true (the client called :streamGenerateContent).
	Stream bool
	// IncludeUsage, with Stream, asks for stream_options.include_usage: Gemini's last chunk
	// carries usageMetadata, so the client's stream needs it.
	IncludeUsage bool
	// DropSignatures leaves thought signatures out of tool call ids. OpenAI refuses tool call
	// ids longer than 40 bytes, and a signature is hundreds; only an upstream that hands the
	// ids back to a Gemini model needs them.
	DropSignatures bool
}

// RequestToOpenAI translates a Gemini GenerateContentRequest body (from
// models/{model}:generateContent or :streamGenerateContent) for an OpenAI-dialect upstream;
// call it once per attempt that goes to such a provider. Keys may be lowerCamel or snake_case,
// as Google's JSON parser accepts both. Errors wrap ErrBadRequest.
//
//   - systemInstruction (a Content, or a string) becomes one system message, its text parts
//     joined with a blank line;
//   - contents with role user (or none) become user messages, model assistant messages; a text
//     part is text (one text part a string content), inlineData an image_url part with a data:
//     URL (audio an input_audio part, other media a file part), fileData an image_url part with
//     its URI; thought parts are dropped;
//   - functionCall parts become the assistant's tool_calls (arguments the compact JSON of args)
//     with the part's id, or a deterministic "call_<turn>_<n>"; a thought signature on the part
//     is encoded into the id (ToolID) unless DropSignatures;
//   - functionResponse parts become tool messages before the rest of their turn, the content
//     the response object as a JSON string (or, for an object whose one member is "result",
//     "output" or "content" with a string value, or whose "content" string comes with a "name"
//     that repeats the function's, that string: the inverse of the {"result": text} that
//     RequestFromOpenAI makes of a tool message), the id the part's own id (mapped back to the call's
//     full id), else the id of the first unanswered call of the previous model turn with that
//     name (Gemini pairs calls and responses by name and order when ids are absent);
//   - tools' functionDeclarations become function tools: parametersJsonSchema as it is, or
//     parameters (Gemini's OpenAPI subset) as JSON Schema (upper-case types such as "STRING"
//     lowered, nullable turned into a "null" type, int64 counts such as "minItems": "1" written
//     as numbers, propertyOrdering dropped); built-in tools
//     (googleSearch, codeExecution, ...) are dropped; toolConfig.functionCallingConfig AUTO
//     and VALIDATED become auto, NONE none, ANY required, or the named function when
//     allowedFunctionNames names one;
//   - generationConfig: maxOutputTokens max_tokens (max_completion_tokens if asked),
//     temperature, topP top_p, stopSequences stop (the first four, OpenAI's limit),
//     candidateCount n (whole requests only: a stream translates choice 0), seed, presencePenalty and
//     frequencyPenalty kept, topK dropped; responseMimeType application/json becomes
//     response_format json_object, or json_schema (name "response") with responseJsonSchema,
//     or responseSchema converted like parameters; thinkingConfig becomes reasoning_effort:
//     thinkingLevel by name, thinkingBudget under 4096 low, under 16384 medium, else high
//     (0, -1 and includeThoughts alone send nothing: non-reasoning models refuse the field);
//   - safetySettings, cachedContent, labels and the rest are dropped.
func RequestToOpenAI(body []byte, opts ToOpenAIOptions) ([]byte, error) {
	r, err := decodeRequest(body)
	if err != nil {
		return nil, err
	}
	out, x, err := toOpenAIRequest(r, opts)
	if err != nil {
		return nil, err
	}
	b := out.AppendJSON(make([]byte, 0, len(body)+256))
	return x.splice(b), nil
}

// geminiRequest is a request as decoded: systemInstruction may be a string.
type geminiRequest struct {
	Request
	SystemInstruction json.RawMessage `json:"systemInstruction,omitempty"`
}

// decodeRequest normalises the keys of a Gemini request body and decodes it.
func decodeRequest(body []byte) (*geminiRequest, error) {
	body = bytes.TrimSpace(body)
	if !json.Valid(body) || len(body) == 0 || body[0] != '{' {
		return nil, badRequest("request body is not a JSON object")
	}
	var r geminiRequest
	if err := json.Unmarshal(normKeys(make([]byte, 0, len(body)), body), &r); err != nil {
		return nil, badRequest("%v", err)
	}
	if s := bytes.TrimSpace(r.SystemInstruction); len(s) > 0 && string(s) != "null" {
		c := &Content{}
		if s[0] == '"' {
			var text string
			_ = json.Unmarshal(s, &text)
			c.Parts = []Part{{Text: text}}
		} else if err := json.Unmarshal(s, c); err != nil {
			return nil, badRequest("systemInstruction: %v", err)
		}
		r.Request.SystemInstruction = c
	}
	return &r, nil
}

// opaqueKeys hold values whose keys are the client's own (arguments, results, schemas): they
// are copied without renaming.
var opaqueKeys = map[string]bool{"args": true, "response": true, "parameters": true, "parametersJsonSchema": true,
	"responseSchema": true, "responseJsonSchema": true, "labels": true, "metadata": true, "properties": true}

// normKeys copies the valid JSON value v to dst with snake_case object keys turned into
// lowerCamel (inline_data -> inlineData), except inside opaque values.
func normKeys(dst, v []byte) []byte {
	if len(v) == 0 {
		return dst
	}
	switch v[0] {
	case '{':
		dst = append(dst, '{')
		n := 0
		for k, val, p, ok := wire.Field(v, 0); ok; k, val, p, ok = wire.Field(v, p) {
			if n > 0 {
				dst = append(dst, ',')
			}
			n++
			key := k
			if bytes.IndexByte(k, '_') > 0 && bytes.IndexByte(k, '\\') < 0 {
				key = camel(k)
			}
			dst = append(dst, '"')
			dst = append(dst, key...)
			dst = append(dst, '"', ':')
			if opaqueKeys[string(key)] {
				dst = append(dst, val...)
			} else {
				dst = normKeys(dst, val)
			}
		}
		return append(dst, '}')
	case '[':
		dst = append(dst, '[')
		n := 0
		for e, p := wire.Elem(v, 0); e != nil; e, p = wire.Elem(v, p) {
			if n > 0 {
				dst = append(dst, ',')
			}
			n++
			dst = normKeys(dst, e)
		}
		return append(dst, ']')
	}
	return append(dst, v...)
}

func camel(k []byte) []byte {
	out := make([]byte, 0, len(k))
	up := false
	for _, c := range k {
		if c == '_' && len(out) > 0 {
			up = true
			continue
		}
		if up && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		up = false
		out = append(out, c)
	}
	return out
}

// openAIExtras are the fields AppendJSON does not write.
type openAIExtras struct {
	n                  *int
	seed               *int64
	presence, frequent *float64
}

// splice writes the extras before the closing brace of a JSON object.
func (x openAIExtras) splice(b []byte) []byte {
	if x.n == nil && x.seed == nil && x.presence == nil && x.frequent == nil {
		return b
	}
	b = b[:len(b)-1]
	if x.n != nil {
		b = append(b, `,"n":`...)
		b = strconv.AppendInt(b, int64(*x.n), 10)
	}
	if x.seed != nil {
		b = append(b, `,"seed":`...)
		b = strconv.AppendInt(b, *x.seed, 10)
	}
	if x.presence != nil {
		b = append(b, `,"presence_penalty":`...)
		b = strconv.AppendFloat(b, *x.presence, 'g', -1, 64)
	}
	if x.frequent != nil {
		b = append(b, `,"frequency_penalty":`...)
		b = strconv.AppendFloat(b, *x.frequent, 'g', -1, 64)
	}
	return append(b, '}')
}

type pendingCall struct {
	base, id, name string
	used           bool
}

func toOpenAIRequest(r *geminiRequest, opts ToOpenAIOptions) (*openai.Request, openAIExtras, error) {
	var x openAIExtras
	out := &openai.Request{Model: opts.Model, Stream: opts.Stream, Messages: make([]openai.Message, 0, len(r.Contents)+1)}
	if opts.Stream && opts.IncludeUsage {
		out.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	}
	if si := r.Request.SystemInstruction; si != nil {
		var texts []string
		for _, p := range si.Parts {
			if p.Text != "" && !p.Thought {
				texts = append(texts, p.Text)
			}
		}
		if len(texts) > 0 {
			out.Messages = append(out.Messages, openai.Message{Role: "system", Content: openai.TextContent(strings.Join(texts, "\n\n"))})
		}
	}
	var pending []pendingCall
	for turn, c := range r.Contents {
		switch c.Role {
		case "model", "assistant":
			m := openai.Message{Role: "assistant"}
			var text strings.Builder
			pending = pending[:0]
			for _, p := range c.Parts {
				switch {
				case p.Thought:
				case p.FunctionCall != nil:
					base := p.FunctionCall.ID
					if base == "" {
						base = "call_" + strconv.Itoa(turn) + "_" + strconv.Itoa(len(m.ToolCalls))
					}
					id := base
					if !opts.DropSignatures {
						id = ToolID(base, p.ThoughtSignature)
					}
					pending = append(pending, pendingCall{base: base, id: id, name: p.FunctionCall.Name})
					m.ToolCalls = append(m.ToolCalls, openai.ToolCall{ID: id, Type: "function",
						Function: openai.FunctionCall{Name: p.FunctionCall.Name, Arguments: string(compactArgs(p.FunctionCall.Args))}})
				default:
					text.WriteString(p.Text)
				}
			}
			if text.Len() > 0 {
				m.Content = openai.TextContent(text.String())
			}
			if m.Content != nil || len(m.ToolCalls) > 0 {
				out.Messages = append(out.Messages, m)
			}
		case "user", "", "function", "tool":
			var parts []openai.ContentPart
			for _, p := range c.Parts {
				switch {
				case p.Thought:
				case p.FunctionResponse != nil:
					fr := p.FunctionResponse
					out.Messages = append(out.Messages, openai.Message{Role: "tool", ToolCallID: matchCall(pending, fr, turn),
						Content: openai.TextContent(toolResultText(fr.Name, fr.Response))})
				case p.InlineData != nil:
					parts = append(parts, inlinePart(p.InlineData))
				case p.FileData != nil:
					if p.FileData.FileURI != "" {
						parts = append(parts, openai.ContentPart{Type: "image_url", ImageURL: &openai.ImageURL{URL: p.FileData.FileURI}})
					}
				case p.Text != "":
					parts = append(parts, openai.ContentPart{Type: "text", Text: p.Text})
				}
			}
			pending = pending[:0]
			switch {
			case len(parts) == 0:
			case len(parts) == 1 && parts[0].Type == "text":
				out.Messages = append(out.Messages, openai.Message{Role: "user", Content: openai.TextContent(parts[0].Text)})
			default:
				out.Messages = append(out.Messages, openai.Message{Role: "user", Content: &openai.Content{Parts: parts}})
			}
		default:
			return nil, x, badRequest("unknown content role %q", c.Role)
		}
	}
	if len(out.Messages) == 0 {
		return nil, x, badRequest("no contents")
	}

	for _, t := range r.Tools {
		for _, d := range t.FunctionDeclarations {
			f := &openai.FunctionDef{Name: d.Name, Description: d.Description}
			switch {
			case len(d.ParametersJSONSchema) > 0 && string(d.ParametersJSONSchema) != "null":
				f.Parameters = d.ParametersJSONSchema
			case len(d.Parameters) > 0 && string(d.Parameters) != "null":
				f.Parameters = jsonSchema(nil, d.Parameters)
			}
			out.Tools = append(out.Tools, openai.Tool{Type: "function", Function: f})
		}
	}
	if tc := r.ToolConfig; tc != nil && tc.FunctionCallingConfig != nil && len(out.Tools) > 0 {
		fc := tc.FunctionCallingConfig
		switch strings.ToUpper(fc.Mode) {
		case "AUTO", "VALIDATED":
			out.ToolChoice = &openai.ToolChoice{Mode: "auto"}
		case "NONE":
			out.ToolChoice = &openai.ToolChoice{Mode: "none"}
		case "ANY":
			if len(fc.AllowedFunctionNames) == 1 {
				out.ToolChoice = &openai.ToolChoice{Function: fc.AllowedFunctionNames[0]}
			} else {
				out.ToolChoice = &openai.ToolChoice{Mode: "required"}
			}
		}
	}

	if g := r.GenerationConfig; g != nil {
		out.MaxTokens = g.MaxOutputTokens // max_completion_tokens for a reasoning model: the router's
		out.Temperature, out.TopP = g.Temperature, g.TopP
		for _, s := range g.StopSequences {
			if s != "" && len(out.Stop) < maxOpenAIStops {
				out.Stop = append(out.Stop, s)
			}
		}
		if g.CandidateCount != nil && *g.CandidateCount > 1 && !opts.Stream {
			x.n = g.CandidateCount
		}
		x.seed, x.presence, x.frequent = g.Seed, g.PresencePenalty, g.FrequencyPenalty
		if strings.EqualFold(g.ResponseMimeType, "application/json") {
			switch {
			case len(g.ResponseJSONSchema) > 0 && string(g.ResponseJSONSchema) != "null":
				out.ResponseFormat = &openai.ResponseFormat{Type: "json_schema", JSONSchema: &openai.JSONSchema{Name: "response", Schema: g.ResponseJSONSchema}}
			case len(g.ResponseSchema) > 0 && string(g.ResponseSchema) != "null":
				out.ResponseFormat = &openai.ResponseFormat{Type: "json_schema", JSONSchema: &openai.JSONSchema{Name: "response", Schema: jsonSchema(nil, g.ResponseSchema)}}
			default:
				out.ResponseFormat = &openai.ResponseFormat{Type: "json_object"}
			}
		}
		if tc := g.ThinkingConfig; tc != nil {
			switch lvl := strings.ToLower(tc.ThinkingLevel); {
			case lvl == "minimal" || lvl == "low" || lvl == "medium" || lvl == "high":
				out.ReasoningEffort = lvl
			case tc.ThinkingBudget != nil && *tc.ThinkingBudget > 0:
				switch b := *tc.ThinkingBudget; {
				case b < 4096:
					out.ReasoningEffort = "low"
				case b < 16384:
					out.ReasoningEffort = "medium"
				default:
					out.ReasoningEffort = "high"
				}
			}
		}
	}
	return out, x, nil
}

// matchCall finds the tool call id a function response answers.
func matchCall(pending []pendingCall, fr *FunctionResponse, turn int) string {
	if fr.ID != "" {
		for i := range pending {
			if pending[i].base == fr.ID || pending[i].id == fr.ID {
				pending[i].used = true
				return pending[i].id
			}
		}
		return fr.ID
	}
	for i := range pending {
		if !pending[i].used && pending[i].name == fr.Name {
			pending[i].used = true
			return pending[i].id
		}
	}
	for i := range pending {
		if !pending[i].used {
			pending[i].used = true
			return pending[i].id
		}
	}
	return "call_" + strconv.Itoa(turn) + "_" + fr.Name
}

// inlinePart turns inline data into a pivot part: images an image_url data URL, audio an
// input_audio part, anything else (PDF, video) a file part.
func inlinePart(b *Blob) openai.ContentPart {
	url := "data:" + b.MimeType + ";base64," + b.Data
	mt := strings.ToLower(b.MimeType)
	switch {
	case strings.HasPrefix(mt, "image/"):
		return openai.ContentPart{Type: "image_url", ImageURL: &openai.ImageURL{URL: url}}
	case strings.HasPrefix(mt, "audio/"):
		format := strings.TrimPrefix(mt, "audio/")
		switch format {
		case "mpeg", "mp3":
			format = "mp3"
		case "wav", "x-wav", "wave":
			format = "wav"
		}
		raw := append([]byte(`{"type":"input_audio","input_audio":{"data":`), jsonstr.Append(nil, b.Data)...)
		raw = append(append(append(raw, `,"format":`...), jsonstr.Append(nil, format)...), "}}"...)
		return openai.ContentPart{Type: "input_audio", Raw: raw}
	}
	raw := append([]byte(`{"type":"file","file":{"file_data":`), jsonstr.Append(nil, url)...)
	raw = append(raw, "}}"...)
	return openai.ContentPart{Type: "file", Raw: raw}
}

// jsonSchema appends Gemini's OpenAPI-subset schema v (valid JSON) as JSON Schema: types in
// lower case, nullable as a "null" type (an alternative of anyOf when there is no type), counts (minItems, maxLength, ...) sent as strings
// written as numbers, propertyOrdering dropped, nested schemas alike.
func jsonSchema(dst, v []byte) []byte {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || v[0] != '{' {
		return append(dst, v...)
	}
	nullable, typed := false, false
	for k, val, p, ok := wire.Field(v, 0); ok; k, val, p, ok = wire.Field(v, p) {
		switch string(k) {
		case "nullable":
			nullable = string(val) == "true"
		case "type":
			typed = true
		}
	}
	dst = append(dst, '{')
	n := 0
	sep := func() {
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
	}
	for k, val, p, ok := wire.Field(v, 0); ok; k, val, p, ok = wire.Field(v, p) {
		switch string(k) {
		case "nullable", "propertyOrdering":
			continue
		}
		sep()
		dst = append(dst, '"')
		dst = append(dst, k...)
		dst = append(dst, '"', ':')
		switch string(k) {
		case "type":
			dst = schemaType(dst, val, nullable)
		case "minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties":
			dst = schemaCount(dst, val)
		case "properties", "$defs", "definitions", "patternProperties":
			if len(val) == 0 || val[0] != '{' {
				dst = append(dst, val...)
				continue
			}
			dst = append(dst, '{')
			m := 0
			for pk, pv, pp, pok := wire.Field(val, 0); pok; pk, pv, pp, pok = wire.Field(val, pp) {
				if m > 0 {
					dst = append(dst, ',')
				}
				m++
				dst = append(dst, '"')
				dst = append(dst, pk...)
				dst = append(dst, '"', ':')
				dst = jsonSchema(dst, pv)
			}
			dst = append(dst, '}')
		case "items", "additionalProperties", "not", "contains":
			dst = jsonSchema(dst, val)
		case "anyOf", "oneOf", "allOf", "prefixItems":
			if len(val) == 0 || val[0] != '[' {
				dst = append(dst, val...)
				continue
			}
			dst = append(dst, '[')
			m := 0
			for e, ep := wire.Elem(val, 0); e != nil; e, ep = wire.Elem(val, ep) {
				if m > 0 {
					dst = append(dst, ',')
				}
				m++
				dst = jsonSchema(dst, e)
			}
			if nullable && !typed && string(k) == "anyOf" {
				// @google/genai writes a union with null as nullable beside anyOf, with no
				// type to put the null in: it is one more alternative.
				dst = append(dst, `,{"type":"null"}`...)
			}
			dst = append(dst, ']')
		default:
			dst = append(dst, val...)
		}
	}
	return append(dst, '}')
}

// schemaCount appends a count keyword's value as a JSON number. Gemini's schema holds counts
// as int64, which Google's JSON writes as a string ("minItems": "1", the type @google/genai
// declares them with), and JSON Schema as an integer: OpenAI and Anthropic refuse the string.
func schemaCount(dst, val []byte) []byte {
	if s, ok := wire.Unquote(val); ok {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return strconv.AppendInt(dst, n, 10)
		}
	}
	return append(dst, val...)
}

func schemaType(dst, val []byte, nullable bool) []byte {
	var types []string
	switch {
	case wire.IsString(val):
		s, _ := wire.Unquote(val)
		types = []string{strings.ToLower(s)}
	case len(val) > 0 && val[0] == '[':
		for e, p := wire.Elem(val, 0); e != nil; e, p = wire.Elem(val, p) {
			s, ok := wire.Unquote(e)
			if !ok {
				return append(dst, val...)
			}
			types = append(types, strings.ToLower(s))
		}
	default:
		return append(dst, val...)
	}
	if nullable && (len(types) != 1 || types[0] != "null") {
		types = append(types, "null")
	}
	if len(types) == 1 {
		return jsonstr.Append(dst, types[0])
	}
	dst = append(dst, '[')
	for i, s := range types {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonstr.Append(dst, s)
	}
	return append(dst, ']')
}

// toolResultText is a functionResponse's response as a tool message's text: the string of a
// lone "result", "output" or "content" member (what apps and RequestFromOpenAI wrap a text
// result in), or of "content" beside a "name" that repeats the function's (the Vercel AI
// SDK's wrapping), else the object's compact JSON.
func toolResultText(name string, response json.RawMessage) string {
	var obj map[string]json.RawMessage
	if json.Unmarshal(response, &obj) == nil {
		var s, n string
		switch {
		case len(obj) == 1:
			for k, v := range obj {
				if (k == "result" || k == "output" || k == "content") && json.Unmarshal(v, &s) == nil {
					return s
				}
			}
		case len(obj) == 2 && json.Unmarshal(obj["name"], &n) == nil && n == name && json.Unmarshal(obj["content"], &s) == nil:
			return s
		}
	}
	return string(compactArgs(response))
}
