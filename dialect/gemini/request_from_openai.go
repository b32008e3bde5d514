package gemini

import (
	"bytes"
	"encoding/json"
	"mime"
	"path"
	"strconv"
	"strings"

	"github.com/llmrouter/caddy-llm-router/dialect/openai"
	"github.com/llmrouter/caddy-llm-router/internal/jsonscan"
)

// Thinking budgets for reasoning_effort (generationConfig.thinkingConfig.thinkingBudget).
// Gemini 2.5 takes budgets (Flash 0-24576, Pro 128-32768, Flash-Lite 0 or 512-24576); Gemini 3
// still accepts a budget and maps it to its levels. BudgetHigh is the largest every 2.5 model
// takes.
const (
	BudgetNone    = 0
	BudgetMinimal = 512
	BudgetLow     = 1024
	BudgetMedium  = 8192
	BudgetHigh    = 24576
	// BudgetFloor is the smallest budget of the models that always think (2.5 Pro's).
	BudgetFloor = 128
)

// maxStops is how many stop sequences Gemini accepts.
const maxStops = 5

// FromOpenAIOptions configure RequestFromOpenAI.
type FromOpenAIOptions struct {
	// NoDummySignature leaves a replayed function call without a thought signature when none
	// came with it. By default the first call of such an assistant turn gets DummySignature,
	// which Gemini 3 accepts in place of the signature it would otherwise require (a
	// conversation begun on another provider, then failed over to Gemini).
	NoDummySignature bool
	// AlwaysThinks says the target model cannot turn thinking off (see AlwaysThinks):
	// reasoning_effort none then asks for the least thinking it takes, BudgetFloor, instead of
	// a budget of 0 that it refuses.
	AlwaysThinks bool
	// MaxOutputTokens, when > 0, caps maxOutputTokens: the target model's output limit, above
	// which Gemini refuses the request.
	MaxOutputTokens int
}

// RequestFromOpenAI translates an OpenAI chat completion request body into a Gemini
// GenerateContentRequest for an `api gemini` upstream (once per attempt). The model and
// streaming are the URL's business, so model, stream and stream_options are dropped. Errors
// wrap ErrBadRequest.
//
//   - system and developer messages, wherever they are, become systemInstruction parts, in
//     order;
//   - user messages are user turns, assistant messages model turns; consecutive turns of one
//     role are merged (Gemini wants them alternating), and no empty text part is ever written
//     (Gemini refuses them): a message with nothing left adds nothing;
//   - text parts become text parts; image_url parts become inlineData (data: URLs) or fileData
//     (other URLs, mimeType guessed from the extension, best effort: Gemini fetches only the
//     URLs it supports); input_audio and file parts with inline data become inlineData; other
//     parts are dropped;
//   - assistant tool_calls become functionCall parts (args parsed from the arguments string;
//     empty means {}, anything but a JSON object is ErrBadRequest), the thought signature
//     decoded from the id (ToolID) on the part; an assistant turn whose calls carry none gets
//     DummySignature on its first call unless NoDummySignature. Ids are not sent: Gemini pairs
//     calls and responses by order and name, and other providers' ids mean nothing to it.
//     reasoning_content is dropped (Gemini reads thoughts back only through signatures);
//     refusal becomes text;
//   - tool (and legacy function) messages become functionResponse parts of a user turn,
//     consecutive results in one turn; the name is the one of the earlier assistant call with
//     that id (else the message's name; neither is ErrBadRequest); the response is the content
//     when it is a JSON object, else {"result": content text};
//   - function tools become one tools entry of functionDeclarations with parametersJsonSchema
//     (full JSON Schema: `parameters` is an OpenAPI subset that refuses additionalProperties,
//     $ref, type arrays and other keywords OpenAI clients send); tool_choice auto, none,
//     required and a named function become functionCallingConfig AUTO, NONE, ANY and ANY with
//     allowedFunctionNames; parallel_tool_calls is dropped (Gemini has no switch);
//   - response_format json_object becomes responseMimeType application/json; json_schema also
//     responseJsonSchema (JSON Schema as sent; responseSchema is the OpenAPI subset again);
//   - max_completion_tokens (else max_tokens) becomes maxOutputTokens (capped at
//     MaxOutputTokens); stop becomes stopSequences (the first five, empty ones dropped);
//     temperature, top_p (topP), seed and non-zero presence/frequency penalties are kept
//     (zero ones are dropped: SDKs send the defaults, and several Gemini models refuse
//     penalties at all); n > 1 becomes candidateCount on whole requests only (a stream
//     translates candidate 0 alone, so more would be paid for and lost);
//   - reasoning_effort becomes thinkingConfig: none thinkingBudget 0 (off), or BudgetFloor
//     without thoughts for a model that always thinks (see AlwaysThinks), minimal
//     BudgetMinimal, low BudgetLow, medium BudgetMedium, high and xhigh BudgetHigh,
//     includeThoughts true when the effort is not none. Thoughts count against
//     maxOutputTokens, so with a client's limit the budget is at most half of it (but at
//     least BudgetFloor);
//   - user, metadata, logprobs, logit_bias, audio and the rest are dropped.
func RequestFromOpenAI(body []byte, opts FromOpenAIOptions) ([]byte, error) {
	var r openai.Request
	if err := openai.DecodeRequest(body, &r); err != nil {
		return nil, badRequest("%v", err)
	}
	gr, err := fromOpenAIRequest(&r, readExtras(body), opts)
	if err != nil {
		return nil, err
	}
	out, err := json.Marshal(gr)
	if err != nil {
		return nil, badRequest("%v", err)
	}
	return out, nil
}

// extras are the request fields the pivot does not hold.
type extras struct {
	n                 int
	seed              *int64
	presence, frequen *float64
}

func readExtras(body []byte) extras {
	var x extras
	jsonscan.Members(body, func(k, v []byte) bool {
		switch string(k) {
		case "n":
			if n, err := strconv.Atoi(string(v)); err == nil {
				x.n = n
			}
		case "seed":
			if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
				x.seed = &n
			}
		case "presence_penalty", "frequency_penalty":
			if f, err := strconv.ParseFloat(string(v), 64); err == nil && f != 0 {
				if k[0] == 'p' {
					x.presence = &f
				} else {
					x.frequen = &f
				}
			}
		}
		return true
	})
	return x
}

type fromState struct {
	out   *Request
	names map[string]string // tool call id -> function name
	opts  FromOpenAIOptions
}

func fromOpenAIRequest(r *openai.Request, x extras, opts FromOpenAIOptions) (*Request, error) {
	st := fromState{out: &Request{Contents: []Content{}}, names: map[string]string{}, opts: opts}
	for i := range r.Messages {
		m := &r.Messages[i]
		switch m.Role {
		case "system", "developer":
			if ps := textParts(m.Content); len(ps) > 0 {
				if st.out.SystemInstruction == nil {
					st.out.SystemInstruction = &Content{}
				}
				st.out.SystemInstruction.Parts = append(st.out.SystemInstruction.Parts, ps...)
			}
		case "user":
			ps, err := userParts(m.Content)
			if err != nil {
				return nil, err
			}
			st.add("user", ps)
		case "assistant":
			ps, err := st.assistantParts(m)
			if err != nil {
				return nil, err
			}
			st.add("model", ps)
		case "tool", "function":
			p, err := st.toolResult(m)
			if err != nil {
				return nil, err
			}
			st.add("user", []Part{p})
		default:
			return nil, badRequest("unknown message role %q", m.Role)
		}
	}
	out := st.out
	if len(out.Contents) == 0 {
		return nil, badRequest("no user or assistant message")
	}

	var decls []FunctionDeclaration
	for _, t := range r.Tools {
		if t.Type != "function" || t.Function == nil {
			continue
		}
		d := FunctionDeclaration{Name: t.Function.Name, Description: t.Function.Description}
		if p := bytes.TrimSpace(t.Function.Parameters); len(p) > 0 && string(p) != "null" {
			d.ParametersJSONSchema = p
		}
		decls = append(decls, d)
	}
	if len(decls) > 0 {
		out.Tools = []Tool{{FunctionDeclarations: decls}}
		if tc := r.ToolChoice; tc != nil {
			fc := &FunctionCallingConfig{}
			switch {
			case tc.Function != "":
				fc.Mode, fc.AllowedFunctionNames = "ANY", []string{tc.Function}
			case tc.Mode == "none":
				fc.Mode = "NONE"
			case tc.Mode == "required":
				fc.Mode = "ANY"
			case tc.Mode == "auto":
				fc.Mode = "AUTO"
			}
			if fc.Mode != "" {
				out.ToolConfig = &ToolConfig{FunctionCallingConfig: fc}
			}
		}
	}

	g := &GenerationConfig{Temperature: r.Temperature, TopP: r.TopP, Seed: x.seed, PresencePenalty: x.presence, FrequencyPenalty: x.frequen}
	switch {
	case r.MaxCompletionTokens != nil && *r.MaxCompletionTokens > 0:
		g.MaxOutputTokens = r.MaxCompletionTokens
	case r.MaxTokens != nil && *r.MaxTokens > 0:
		g.MaxOutputTokens = r.MaxTokens
	}
	if limit := opts.MaxOutputTokens; limit > 0 && g.MaxOutputTokens != nil && *g.MaxOutputTokens > limit {
		g.MaxOutputTokens = &limit
	}
	for _, s := range r.Stop {
		if s != "" && len(g.StopSequences) < maxStops {
			g.StopSequences = append(g.StopSequences, s)
		}
	}
	if x.n > 1 && !r.Stream {
		n := x.n
		g.CandidateCount = &n
	}
	if rf := r.ResponseFormat; rf != nil {
		switch rf.Type {
		case "json_object":
			g.ResponseMimeType = "application/json"
		case "json_schema":
			g.ResponseMimeType = "application/json"
			if rf.JSONSchema != nil {
				if s := bytes.TrimSpace(rf.JSONSchema.Schema); len(s) > 0 && string(s) != "null" {
					g.ResponseJSONSchema = s
				}
			}
		}
	}
	if budget, ok := effortBudget(r.ReasoningEffort); ok {
		thoughts := budget > 0
		if budget == BudgetNone && opts.AlwaysThinks {
			budget = BudgetFloor // the least it takes; its thoughts stay unsent, as none asks
		}
		if g.MaxOutputTokens != nil && budget > *g.MaxOutputTokens/2 {
			budget = max(*g.MaxOutputTokens/2, BudgetFloor)
		}
		g.ThinkingConfig = &ThinkingConfig{ThinkingBudget: &budget, IncludeThoughts: thoughts}
	}
	if !g.empty() {
		out.GenerationConfig = g
	}
	return out, nil
}

// AlwaysThinks says a model, by its id, cannot turn thinking off: Gemini 2.5 Pro refuses a
// budget of 0, and Gemini 3's models think at their lowest level at least.
func AlwaysThinks(model string) bool {
	m := strings.ToLower(model)
	return strings.Contains(m, "-pro") || strings.Contains(m, "gemini-3")
}

func effortBudget(effort string) (int, bool) {
	switch effort {
	case "none":
		return BudgetNone, true
	case "minimal":
		return BudgetMinimal, true
	case "low":
		return BudgetLow, true
	case "medium":
		return BudgetMedium, true
	case "high", "xhigh":
		return BudgetHigh, true
	}
	return 0, false
}

// add appends parts as a turn of role, merged into the last turn when it has the same role.
func (st *fromState) add(role string, parts []Part) {
	if len(parts) == 0 {
		return
	}
	c := st.out.Contents
	if n := len(c); n > 0 && c[n-1].Role == role {
		c[n-1].Parts = append(c[n-1].Parts, parts...)
		return
	}
	st.out.Contents = append(c, Content{Role: role, Parts: parts})
}

func textParts(c *openai.Content) []Part {
	if c == nil {
		return nil
	}
	if c.Parts == nil {
		if c.Text == "" {
			return nil
		}
		return []Part{{Text: c.Text}}
	}
	var out []Part
	for _, p := range c.Parts {
		if p.Type == "text" && p.Text != "" {
			out = append(out, Part{Text: p.Text})
		}
	}
	return out
}

func userParts(c *openai.Content) ([]Part, error) {
	if c == nil || c.Parts == nil {
		return textParts(c), nil
	}
	var out []Part
	for _, p := range c.Parts {
		switch p.Type {
		case "text":
			if p.Text != "" {
				out = append(out, Part{Text: p.Text})
			}
		case "image_url":
			if p.ImageURL == nil || p.ImageURL.URL == "" {
				continue
			}
			part, err := urlPart(p.ImageURL.URL)
			if err != nil {
				return nil, err
			}
			out = append(out, part)
		case "input_audio":
			var v struct {
				InputAudio struct {
					Data   string `json:"data"`
					Format string `json:"format"`
				} `json:"input_audio"`
			}
			if json.Unmarshal(p.Raw, &v) == nil && v.InputAudio.Data != "" {
				f := v.InputAudio.Format
				if f == "" {
					f = "wav"
				}
				out = append(out, Part{InlineData: &Blob{MimeType: "audio/" + f, Data: v.InputAudio.Data}})
			}
		case "file":
			var v struct {
				File struct {
					FileData string `json:"file_data"`
				} `json:"file"`
			}
			if json.Unmarshal(p.Raw, &v) != nil || !strings.HasPrefix(v.File.FileData, "data:") {
				// A file_id names an OpenAI upload; dropped, the model would answer without
				// the file it was asked about.
				return nil, badRequest("only files given inline (a data URL) reach a Gemini model")
			}
			part, err := urlPart(v.File.FileData)
			if err != nil {
				return nil, err
			}
			out = append(out, part)
		default:
			return nil, badRequest("a user content part of type %q cannot be sent to a Gemini model", p.Type)
		}
	}
	return out, nil
}

// urlPart turns a data: URL into inlineData and any other URL into fileData.
func urlPart(u string) (Part, error) {
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		meta, data, ok := strings.Cut(rest, ",")
		mt, isB64 := strings.CutSuffix(meta, ";base64")
		if !ok || !isB64 || mt == "" {
			return Part{}, badRequest("data URL is not base64 with a media type")
		}
		return Part{InlineData: &Blob{MimeType: mt, Data: data}}, nil
	}
	fd := &FileData{FileURI: u}
	p := u
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	switch ext := strings.ToLower(path.Ext(p)); ext {
	case ".jpg", ".jpeg":
		fd.MimeType = "image/jpeg"
	case ".png", ".gif", ".webp", ".heic", ".heif":
		fd.MimeType = "image/" + ext[1:]
	case "":
	default:
		fd.MimeType = mime.TypeByExtension(ext)
	}
	return Part{FileData: fd}, nil
}

func (st *fromState) assistantParts(m *openai.Message) ([]Part, error) {
	out := textParts(m.Content)
	if m.Refusal != "" {
		out = append(out, Part{Text: m.Refusal})
	}
	first, signed := -1, false
	for _, tc := range m.ToolCalls {
		_, sig := SplitToolID(tc.ID)
		args := bytes.TrimSpace([]byte(tc.Function.Arguments))
		switch {
		case len(args) == 0:
			args = []byte("{}")
		case args[0] != '{' || !json.Valid(args):
			return nil, badRequest("arguments of tool call %q are not a JSON object", tc.ID)
		}
		if tc.ID != "" {
			st.names[tc.ID] = tc.Function.Name
		}
		if first < 0 {
			first = len(out)
		}
		signed = signed || sig != ""
		out = append(out, Part{FunctionCall: &FunctionCall{Name: tc.Function.Name, Args: args}, ThoughtSignature: sig})
	}
	if first >= 0 && !signed && !st.opts.NoDummySignature {
		out[first].ThoughtSignature = DummySignature
	}
	return out, nil
}

func (st *fromState) toolResult(m *openai.Message) (Part, error) {
	id := m.ToolCallID
	if m.Role == "function" {
		id = ""
	}
	name := st.names[id]
	if name == "" {
		name = m.Name
	}
	if name == "" {
		return Part{}, badRequest("tool result %q answers no earlier tool call", id)
	}
	text := m.Content.String("\n")
	resp := json.RawMessage(nil)
	if b := bytes.TrimSpace([]byte(text)); len(b) > 0 && b[0] == '{' && json.Valid(b) {
		resp = b
	} else {
		resp, _ = json.Marshal(struct {
			Result string `json:"result"`
		}{text})
	}
	return Part{FunctionResponse: &FunctionResponse{Name: name, Response: resp}}, nil
}

func (g *GenerationConfig) empty() bool {
	return len(g.StopSequences) == 0 && g.ResponseMimeType == "" && len(g.ResponseSchema) == 0 && len(g.ResponseJSONSchema) == 0 &&
		g.CandidateCount == nil && g.MaxOutputTokens == nil && g.Temperature == nil && g.TopP == nil && g.TopK == nil &&
		g.Seed == nil && g.PresencePenalty == nil && g.FrequencyPenalty == nil && g.ThinkingConfig == nil
}
