package llmrouter

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

func TestReplyUsage(t *testing.T) {
	for _, tc := range []struct {
		name    string
		body    string
		in, out int64
	}{
		{"openai", `{"id":"x","choices":[{"message":{"content":"the \"usage\": {\"prompt_tokens\": 999}"}}],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21,"completion_tokens_details":{"reasoning_tokens":4}}}`, 9, 12},
		{"anthropic", `{"type":"message","content":[{"type":"text","text":"hi"}],"usage":{"input_tokens":25,"output_tokens":7}}`, 25, 7},
		{"spaced", "{\"usage\" : {\n \"prompt_tokens\" : 3 ,\"completion_tokens\":\t1}}", 3, 1},
		{"null usage", `{"usage":null}`, 0, 0},
		{"no usage", `{"choices":[]}`, 0, 0},
		{"truncated", `{"usage":{"prompt_tokens":3`, 0, 0},
		{"negative ignored", `{"usage":{"prompt_tokens":-3,"completion_tokens":2}}`, 0, 2},
		// One pass over the usage object keeps ObjectKey's rule: a key's first non-null value.
		{"first non-null counts", `{"usage":{"prompt_tokens":null,"prompt_tokens":4,"completion_tokens":1,"completion_tokens":9}}`, 4, 1},
		{"first non-null is not a number", `{"usage":{"prompt_tokens":"x","prompt_tokens":5,"output_tokens":{"a":1},"output_tokens":2}}`, 0, 0},
		{"both dialects add up", `{"usage":{"input_tokens":2,"prompt_tokens":3,"output_tokens":1,"completion_tokens":1}}`, 5, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := replyUsage(catalog.APIOpenAI, []byte(tc.body))
			if u.input() != tc.in || u.output() != tc.out {
				t.Errorf("usage = %d in, %d out; want %d, %d", u.input(), u.output(), tc.in, tc.out)
			}
		})
	}
}

// FuzzParseUsage checks the hand-written scan against encoding/json on every well-formed
// usage object: it must never disagree about the token counts it reads.
func FuzzParseUsage(f *testing.F) {
	f.Add([]byte(`{"prompt_tokens":9,"completion_tokens":12}`))
	f.Add([]byte(`{"input_tokens":25,"output_tokens":7,"cache":{"x":"}"}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		got := parseUsage(raw)
		// Keys match exactly (encoding/json would also match "Prompt_tokens"; upstreams send
		// the lower-case names).
		var want map[string]json.RawMessage
		if !flatUniqueObject(raw) || json.Unmarshal(raw, &want) != nil {
			return // nested or repeated keys: only "no panic" applies
		}
		for key, g := range map[string]int64{"prompt_tokens": got.PromptTokens, "completion_tokens": got.CompletionTokens,
			"input_tokens": got.InputTokens, "output_tokens": got.OutputTokens} {
			var w uint32
			if v, ok := want[key]; ok && json.Unmarshal(v, &w) == nil && int64(w) != g {
				t.Errorf("%s: scan read %d, encoding/json %d in %q", key, g, w, raw)
			}
		}
	})
}

// flatUniqueObject reports whether raw is one JSON object with no nested object or array and
// no repeated key: where encoding/json and the scan must agree.
func flatUniqueObject(raw []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return false
	}
	seen := map[string]bool{}
	for dec.More() {
		key, err := dec.Token()
		k, ok := key.(string)
		if err != nil || !ok || seen[k] {
			return false
		}
		seen[k] = true
		val, err := dec.Token()
		if _, nested := val.(json.Delim); err != nil || nested {
			return false
		}
	}
	tok, err := dec.Token()
	return err == nil && tok == json.Delim('}') && !dec.More()
}
