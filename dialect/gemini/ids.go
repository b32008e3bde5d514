package gemini

import (
	"bytes"
	"encoding/base64"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/llmrouter/caddy-llm-router/dialect/internal/wire"
)

// SignatureMarker separates a tool call id from the thought signature encoded into it (see
// ToolID). Ids the translators generate never contain it.
const SignatureMarker = "__ts_"

// DummySignature is the thoughtSignature Google documents for function calls that Gemini did
// not make (a conversation begun with another model, or edited history): it tells Gemini 3 to
// skip the signature check it would otherwise fail with 400.
const DummySignature = "skip_thought_signature_validator"

// ToolID returns the tool call id that carries a Gemini thought signature across the pivot:
// base + SignatureMarker + the signature's bytes in unpadded base64url. Gemini sends the
// signature in standard base64; re-encoding it keeps its length and leaves the id inside
// [A-Za-z0-9_-], which every dialect keeps as it is (the Anthropic side rewrites other bytes).
// A signature that is not standard base64 is encoded byte for byte with a second marker
// ("__tr_"), so that nothing is lost either way. An empty signature returns base.
//
// OpenAI clients store the id and send it back with the tool result; RequestFromOpenAI
// decodes it onto the functionCall part, where Gemini 3 wants it.
func ToolID(base, signature string) string {
	if signature == "" {
		return base
	}
	if raw, err := base64.StdEncoding.DecodeString(signature); err == nil && base64.StdEncoding.EncodeToString(raw) == signature {
		return base + SignatureMarker + base64.RawURLEncoding.EncodeToString(raw)
	}
	return base + rawMarker + base64.RawURLEncoding.EncodeToString([]byte(signature))
}

const rawMarker = "__tr_"

// SplitToolID is the inverse of ToolID: the id Gemini knows (or the client's own) and the
// thought signature in Gemini's standard base64, empty when the id carries none (or a payload
// that does not decode, which is then left in base).
func SplitToolID(id string) (base, signature string) {
	i := strings.Index(id, "__t")
	for ; i >= 0; i = next(id, i) {
		rest := id[i:]
		switch {
		case strings.HasPrefix(rest, SignatureMarker):
			if raw, err := base64.RawURLEncoding.DecodeString(rest[len(SignatureMarker):]); err == nil && len(raw) > 0 {
				return id[:i], base64.StdEncoding.EncodeToString(raw)
			}
		case strings.HasPrefix(rest, rawMarker):
			if raw, err := base64.RawURLEncoding.DecodeString(rest[len(rawMarker):]); err == nil && len(raw) > 0 {
				return id[:i], string(raw)
			}
		}
	}
	return id, ""
}

func next(id string, i int) int {
	j := strings.Index(id[i+1:], "__t")
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

// callID is the base id of the n-th function call of a reply without ids of its own: "call_",
// eight hex digits of a hash over the reply's responseId and the call's name and compact
// arguments (unique across the turns of a conversation, the same for a reply whole or
// streamed), "_" and n (unique within the reply).
func callID(responseID, name string, args []byte, n int) string {
	h := fnv.New32a()
	h.Write([]byte(responseID))
	h.Write([]byte{0})
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write(args)
	b := make([]byte, 0, 24)
	b = append(b, "call_"...)
	s := strconv.FormatUint(uint64(h.Sum32()), 16)
	for k := len(s); k < 8; k++ {
		b = append(b, '0')
	}
	b = append(b, s...)
	b = append(b, '_')
	b = strconv.AppendInt(b, int64(n), 10)
	return string(b)
}

// SignReplayedCalls returns a Gemini request body in which each model turn whose function
// calls carry no thought signature has DummySignature on its first call, as RequestFromOpenAI
// does for a pivot request: for a Gemini client's conversation whose calls another provider
// of its pool made, replayed to a Gemini model that would refuse them unsigned. Keys may be
// lowerCamel or snake_case, as Google's parser takes both. body is returned as it is (not
// copied) when no turn needs a signature; it must be valid JSON.
func SignReplayedCalls(body []byte) []byte {
	if !bytes.Contains(body, []byte("unctionCall")) && !bytes.Contains(body, []byte("unction_call")) {
		return body
	}
	var at []int // offsets just after the '{' of each call part to sign
	for k, v, p, ok := wire.Field(body, 0); ok; k, v, p, ok = wire.Field(body, p) {
		if string(k) != "contents" {
			continue
		}
		base := p - len(v)
		for c, q := wire.Elem(v, 0); c != nil; c, q = wire.Elem(v, q) {
			if off := unsignedCall(c); off >= 0 {
				at = append(at, base+q-len(c)+off)
			}
		}
	}
	if len(at) == 0 {
		return body
	}
	const field = `"thoughtSignature":"` + DummySignature + `",`
	out := make([]byte, 0, len(body)+len(at)*len(field))
	prev := 0
	for _, i := range at {
		out = append(append(out, body[prev:i]...), field...)
		prev = i
	}
	return append(out, body[prev:]...)
}

// unsignedCall returns, for a model turn whose function calls carry no thought signature, the
// offset in content just after the '{' of its first call part; -1 for any other content.
func unsignedCall(content []byte) int {
	var role, parts []byte
	partsEnd := 0
	for k, v, p, ok := wire.Field(content, 0); ok; k, v, p, ok = wire.Field(content, p) {
		switch string(k) {
		case "role":
			role = v
		case "parts":
			parts, partsEnd = v, p
		}
	}
	if string(role) != `"model"` || parts == nil {
		return -1
	}
	first := -1
	for part, q := wire.Elem(parts, 0); part != nil; part, q = wire.Elem(parts, q) {
		call, signed := false, false
		for k, v, p, ok := wire.Field(part, 0); ok; k, v, p, ok = wire.Field(part, p) {
			switch string(k) {
			case "functionCall", "function_call":
				call = true
			case "thoughtSignature", "thought_signature":
				signed = !wire.EmptyString(v)
			}
		}
		if call && signed {
			return -1
		}
		if call && first < 0 {
			first = partsEnd - len(parts) + q - len(part) + 1
		}
	}
	return first
}
