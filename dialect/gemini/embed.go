package gemini

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// embedRequest is one embedContent request, or one entry of batchEmbedContents' requests.
type embedRequest struct {
	Model                string   `json:"model,omitempty"`
	Content              *Content `json:"content"`
	OutputDimensionality *int     `json:"outputDimensionality,omitempty"`
}

// EmbedRequestToOpenAI translates a Gemini embedContent body (batch false) or
// batchEmbedContents body (batch true) into an OpenAI embeddings request for model: one input
// string per content, its text parts joined by newlines, and outputDimensionality as
// dimensions. taskType and title have no OpenAI counterpart and are dropped. A content with
// anything but text, or requests that ask different dimensions, are a bad request (wrapping
// ErrBadRequest).
func EmbedRequestToOpenAI(body []byte, batch bool, model string) ([]byte, error) {
	var reqs []embedRequest
	if batch {
		var b struct {
			Requests []embedRequest `json:"requests"`
		}
		if err := json.Unmarshal(body, &b); err != nil {
			return nil, badRequest("batchEmbedContents body: %v", err)
		}
		reqs = b.Requests
	} else {
		var r embedRequest
		if err := json.Unmarshal(body, &r); err != nil {
			return nil, badRequest("embedContent body: %v", err)
		}
		reqs = []embedRequest{r}
	}
	if len(reqs) == 0 {
		return nil, badRequest("batchEmbedContents has no requests")
	}
	out := struct {
		Model          string   `json:"model"`
		Input          []string `json:"input"`
		EncodingFormat string   `json:"encoding_format"`
		Dimensions     *int     `json:"dimensions,omitempty"`
	}{Model: model, Input: make([]string, len(reqs)), EncodingFormat: "float"}
	for i, r := range reqs {
		if r.Content == nil {
			return nil, badRequest("request %d has no content", i)
		}
		texts := make([]string, 0, len(r.Content.Parts))
		for _, p := range r.Content.Parts {
			if p.InlineData != nil || p.FileData != nil || p.FunctionCall != nil || p.FunctionResponse != nil {
				return nil, badRequest("request %d: only text can be embedded by this model's provider", i)
			}
			texts = append(texts, p.Text)
		}
		out.Input[i] = strings.Join(texts, "\n")
		switch d := r.OutputDimensionality; {
		case d == nil:
		case out.Dimensions == nil && i == 0:
			out.Dimensions = d
		case out.Dimensions == nil || *out.Dimensions != *d:
			return nil, badRequest("the requests ask different outputDimensionality; send one batch per size")
		}
	}
	return json.Marshal(out)
}

// EmbedResponseFromOpenAI translates an OpenAI embeddings reply (float vectors) into Gemini's
// embedContent reply (batch false: {"embedding":{"values":[...]}}) or batchEmbedContents reply
// ({"embeddings":[{"values":[...]}, ...]}, in input order). The numbers are copied as they are.
func EmbedResponseFromOpenAI(reply []byte, batch bool) ([]byte, error) {
	var r struct {
		Data []struct {
			Index     int             `json:"index"`
			Embedding json.RawMessage `json:"embedding"`
		} `json:"data"`
	}
	if err := json.Unmarshal(reply, &r); err != nil {
		return nil, err
	}
	if len(r.Data) == 0 || !batch && len(r.Data) != 1 {
		return nil, fmt.Errorf("gemini: the embeddings reply has %d vectors", len(r.Data))
	}
	sort.SliceStable(r.Data, func(i, j int) bool { return r.Data[i].Index < r.Data[j].Index })
	var b bytes.Buffer
	if batch {
		b.WriteString(`{"embeddings":[`)
	} else {
		b.WriteString(`{"embedding":`)
	}
	for i, d := range r.Data {
		if len(d.Embedding) == 0 || d.Embedding[0] != '[' {
			return nil, fmt.Errorf("gemini: embedding %d is not a list of numbers", i)
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"values":`)
		b.Write(d.Embedding)
		b.WriteByte('}')
	}
	if batch {
		b.WriteByte(']')
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// EmbedModels writes "models/<upstream>" as the model of every request of a batchEmbedContents
// body that names one: Google refuses a batch whose requests name another model than its URL,
// and a client names the public model, which may be an alias of another id. changed is false,
// and the body returned as it is, when no request needs it.
func EmbedModels(body []byte, upstream string) (out []byte, changed bool, err error) {
	var b map[string]json.RawMessage
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, false, badRequest("batchEmbedContents body: %v", err)
	}
	var reqs []map[string]json.RawMessage
	if err := json.Unmarshal(b["requests"], &reqs); err != nil {
		return nil, false, badRequest("batchEmbedContents requests: %v", err)
	}
	for _, r := range reqs {
		changed = setModel(r, upstream) || changed
	}
	if !changed {
		return body, false, nil
	}
	if b["requests"], err = json.Marshal(reqs); err != nil {
		return nil, false, err
	}
	out, err = json.Marshal(b)
	return out, err == nil, err
}

// setModel sets a request object's model to "models/<upstream>" when it names another, and
// reports whether it did.
func setModel(r map[string]json.RawMessage, upstream string) bool {
	want, _ := json.Marshal("models/" + upstream)
	if m, ok := r["model"]; ok && !bytes.Equal(m, want) {
		r["model"] = want
		return true
	}
	return false
}
