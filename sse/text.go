package sse

import "bytes"

// textKeys are, by dialect, the keys whose string values are what a model writes in a stream:
// chat's content, reasoning and tool call arguments (text: the legacy completions);
// Anthropic's text, thinking and tool input deltas; the Responses API's deltas (its .done
// events repeat the text under other keys); Gemini's parts.
var textKeys = [...][]string{
	OpenAI:    {"content", "reasoning_content", "reasoning", "arguments", "refusal", "text"},
	Anthropic: {"text", "thinking", "partial_json"},
	Responses: {"delta"},
	Gemini:    {"text"},
}

var keyEnd = []byte(`":`)

// TextBytes counts the bytes of the text a model wrote in ev, one or more events of dialect d
// (as JSON strings: an escape counts its bytes). It is a scan for the dialect's keys, no
// decode, made for an estimate of the output tokens of a stream whose usage never came.
func TextBytes(d Dialect, ev []byte) int {
	if int(d) >= len(textKeys) {
		return 0
	}
	keys := textKeys[d]
	n := 0
	for i := 0; i < len(ev); {
		j := bytes.Index(ev[i:], keyEnd)
		if j < 0 {
			break
		}
		end := i + j // the key's closing quote
		i = end + 2
		for i < len(ev) && (ev[i] == ' ' || ev[i] == '\t') {
			i++
		}
		if i == len(ev) || ev[i] != '"' || !endsWithKey(ev[:end], keys) {
			continue
		}
		k := i + 1
		for k < len(ev) && ev[k] != '"' {
			if ev[k] == '\\' {
				k++
			}
			k++
		}
		n += min(k, len(ev)) - i - 1
		i = k + 1
	}
	return n
}

// endsWithKey reports whether b ends with a quoted key of keys (without its closing quote).
func endsWithKey(b []byte, keys []string) bool {
	for _, k := range keys {
		if len(b) > len(k) && b[len(b)-len(k)-1] == '"' && string(b[len(b)-len(k):]) == k {
			return true
		}
	}
	return false
}
