package gemini

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/llmrouter/caddy-llm-router/internal/jsonstr"
)

// MediaTokens is what EstimateTokens counts for one inline or file part: what Gemini 3 bills
// an image at its default (high) media resolution. Gemini 2.x bills 258 tokens per 768x768
// tile, so a photo costs about as much there.
const MediaTokens = 1120

// EstimateTokens estimates the input tokens of a Gemini countTokens body
// ({"contents":[...]} or {"generateContentRequest":{...}}) or of a generateContent body, for
// when no Gemini provider can count: the bytes of every text the model reads (system
// instruction, text parts, function call arguments and responses, function names,
// descriptions and schemas) divided by 4, rounded up, plus MediaTokens per inlineData or
// fileData part and 4 per turn, the same heuristic as the Anthropic dialect's. An estimate,
// not a bill. Errors wrap ErrBadRequest.
func EstimateTokens(body []byte) (int, error) {
	var w struct {
		GenerateContentRequest json.RawMessage `json:"generateContentRequest"`
	}
	b := bytes.TrimSpace(body)
	if len(b) > 0 && b[0] == '{' && bytes.Contains(b, []byte("enerate")) {
		if json.Unmarshal(normKeys(nil, b), &w) == nil && len(w.GenerateContentRequest) > 0 && w.GenerateContentRequest[0] == '{' {
			b = w.GenerateContentRequest
		}
	}
	r, err := decodeRequest(b)
	if err != nil {
		return 0, err
	}
	return r.Request.EstimateTokens(), nil
}

// EstimateTokens is EstimateTokens for a decoded request.
func (r *Request) EstimateTokens() int {
	n, fixed := 0, 0
	count := func(c *Content) {
		for _, p := range c.Parts {
			n += len(p.Text)
			if p.InlineData != nil || p.FileData != nil {
				fixed += MediaTokens
			}
			if fc := p.FunctionCall; fc != nil {
				n += len(fc.Name) + len(fc.Args)
			}
			if fr := p.FunctionResponse; fr != nil {
				n += len(fr.Name) + len(fr.Response)
			}
		}
	}
	if r.SystemInstruction != nil {
		count(r.SystemInstruction)
	}
	for i := range r.Contents {
		fixed += 4
		count(&r.Contents[i])
	}
	for _, t := range r.Tools {
		for _, d := range t.FunctionDeclarations {
			n += len(d.Name) + len(d.Description) + len(d.Parameters) + len(d.ParametersJSONSchema)
		}
	}
	return (n+3)/4 + fixed
}

// AppendCountTokens appends the countTokens reply {"totalTokens":n} to dst.
func AppendCountTokens(dst []byte, n int) []byte {
	dst = append(dst, `{"totalTokens":`...)
	dst = appendInt(dst, n)
	return append(dst, '}')
}

// Model is one entry of the models list. The limits are written when > 0.
type Model struct {
	ID, DisplayName                   string
	InputTokenLimit, OutputTokenLimit int
}

// GenerationMethods are the methods every listed model supports through the router.
var GenerationMethods = []string{"generateContent", "streamGenerateContent", "countTokens"}

// AppendModel appends one model as GET /v1beta/models/{m} answers it:
// {"name":"models/ID","version":"001","displayName":...,"supportedGenerationMethods":[...]}
// (the name is what @google/genai's models.get and models.list read; an id that already starts
// with "models/" is not prefixed again). An empty displayName is the id.
func AppendModel(dst []byte, id, displayName string) []byte {
	return appendModel(dst, Model{ID: id, DisplayName: displayName})
}

func appendModel(dst []byte, m Model) []byte {
	id := strings.TrimPrefix(m.ID, "models/")
	if m.DisplayName == "" {
		m.DisplayName = id
	}
	dst = append(dst, `{"name":`...)
	dst = jsonstr.Append(dst, "models/"+id)
	dst = append(dst, `,"baseModelId":`...)
	dst = jsonstr.Append(dst, id)
	dst = append(dst, `,"version":"001","displayName":`...)
	dst = jsonstr.Append(dst, m.DisplayName)
	if m.InputTokenLimit > 0 {
		dst = append(dst, `,"inputTokenLimit":`...)
		dst = appendInt(dst, m.InputTokenLimit)
	}
	if m.OutputTokenLimit > 0 {
		dst = append(dst, `,"outputTokenLimit":`...)
		dst = appendInt(dst, m.OutputTokenLimit)
	}
	dst = append(dst, `,"supportedGenerationMethods":[`...)
	for i, g := range GenerationMethods {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonstr.Append(dst, g)
	}
	return append(dst, "]}"...)
}

// AppendModelList appends the GET /v1beta/models reply {"models":[...]} to dst, one entry
// per model as AppendModel writes it (no nextPageToken: the list is whole).
func AppendModelList(dst []byte, models []Model) []byte {
	dst = append(dst, `{"models":[`...)
	for i, m := range models {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendModel(dst, m)
	}
	return append(dst, "]}"...)
}

// CountModel writes "models/<upstream>" as the model of a countTokens body's
// generateContentRequest when it names another (the public name, which may be an alias):
// Google counts for the model the request names, and refuses one that is not the URL's.
// changed is false, and the body returned as it is, when it needs nothing; the common body,
// {"contents":[...]}, is not decoded.
func CountModel(body []byte, upstream string) (out []byte, changed bool, err error) {
	if !bytes.Contains(body, []byte(`"generateContentRequest"`)) {
		return body, false, nil
	}
	var b map[string]json.RawMessage
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, false, badRequest("countTokens body: %v", err)
	}
	var r map[string]json.RawMessage
	if json.Unmarshal(b["generateContentRequest"], &r) != nil || !setModel(r, upstream) {
		return body, false, nil
	}
	if b["generateContentRequest"], err = json.Marshal(r); err != nil {
		return nil, false, err
	}
	out, err = json.Marshal(b)
	return out, err == nil, err
}
