// Package embeddings fixes up embedding replies for clients that asked for base64.
//
// The openai Node SDK (v4 and later) always asks for `"encoding_format": "base64"` and decodes
// each embedding as little-endian float32. An upstream that ignores the option and answers
// with float arrays makes that SDK return empty embeddings without an error. The router
// encodes such arrays itself, so the client gets what it asked for from any upstream.
package embeddings

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
)

// ToBase64 returns body with every `data[i].embedding` that is an array of numbers replaced by
// the base64 of its values as little-endian float32. changed is false, and body is returned as
// it is, when there was nothing to encode (the upstream honoured base64 already) or the reply
// is not an embeddings list this function understands.
func ToBase64(body []byte) (out []byte, changed bool) {
	if !bytes.Contains(body, []byte(`"embedding"`)) {
		return body, false
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return body, false
	}
	var items []map[string]json.RawMessage
	if json.Unmarshal(top["data"], &items) != nil {
		return body, false
	}
	var raw []byte
	for _, item := range items {
		emb := bytes.TrimSpace(item["embedding"])
		if len(emb) == 0 || emb[0] != '[' {
			continue
		}
		var values []float64
		if json.Unmarshal(emb, &values) != nil {
			return body, false
		}
		raw = raw[:0]
		for _, v := range values {
			raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(float32(v)))
		}
		s, _ := json.Marshal(base64.StdEncoding.EncodeToString(raw))
		item["embedding"] = s
		changed = true
	}
	if !changed {
		return body, false
	}
	data, err := json.Marshal(items)
	if err != nil {
		return body, false
	}
	top["data"] = data
	if out, err = json.Marshal(top); err != nil {
		return body, false
	}
	return out, true
}
