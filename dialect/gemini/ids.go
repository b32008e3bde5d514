package gemini

import (
	"encoding/base64"
	"hash/fnv"
	"strconv"
	"strings"
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
