package wire

import (
	"bytes"
	"unicode/utf8"

	"github.com/llmrouter/caddy-llm-router/internal/jsonstr"
)

// Unquote returns the text of the JSON string raw (with its quotes) exactly as json.Unmarshal
// decodes it: escapes resolved, a lone or broken surrogate escape and every invalid UTF-8 byte
// replaced by U+FFFD. raw must be a string token of a valid JSON document (json.Valid). ok is
// false when raw is not quoted or holds a broken escape.
func Unquote(raw []byte) (s string, ok bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	in := raw[1 : len(raw)-1]
	i := bytes.IndexByte(in, '\\')
	if i < 0 {
		if utf8.Valid(in) {
			return string(in), true
		}
		i = 0
	} else if !utf8.Valid(in[:i]) {
		i = 0
	}
	// The run before the first escape is copied whole; the decoder takes the rest.
	out, ok := jsonstr.AppendUnquoted(append(make([]byte, 0, len(in)+8), in[:i]...), in[i:])
	if !ok {
		return "", false
	}
	return string(out), true
}
