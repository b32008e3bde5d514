package reqbody

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/llmrouter/caddy-llm-router/internal/jsonstr"
)

// chatBody returns a realistic chat completion request of at least size
// bytes: many messages with escapes and non-ASCII text, a tool schema, and
// the model and stream keys away from the start.
func chatBody(size int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"messages":[{"role":"system","content":"You are a helpful assistant.\nAnswer briefly."}`)
	lines := []string{
		`Can you explain how \"retries\" work in the router? I tried {\"a\": 1} and got a 502.`,
		`Sure. When an upstream answers 429 the target cools down and the next one is tried.\n\n` +
			"```go\\nfor _, t := range pool {\\n\\tif t.ok() { return t }\\n}\\n```" + ` Café, naïve, 東京, emoji \ud83d\ude00.`,
		`What about the \"model\":\"gpt-4o\" key inside my message? It should be ignored.`,
	}
	for i := 0; b.Len() < size-400; i++ {
		role := "user"
		if i%2 == 1 {
			role = "assistant"
		}
		fmt.Fprintf(&b, `,{"role":%q,"content":"%s (turn %d)"}`, role, lines[i%len(lines)], i)
	}
	b.WriteString(`],"model":"llama-3.3-70b","temperature":0.7,"top_p":1e0,"seed":12345678901234567890,` +
		`"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object",` +
		`"properties":{"city":{"type":"string"},"days":{"type":"integer","minimum":1}},"required":["city"]}}}],` +
		`"stream":true,"max_tokens":1024}`)
	return b.Bytes()
}

// decodeUseNumber decodes b keeping numbers exact, so 1e400 and 2^64 compare.
func decodeUseNumber(t testing.TB, b []byte) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("decode %.60q: %v", b, err)
	}
	return m
}

// checkRewrite asserts the Rewrite contract on a body Scan accepted: the
// result is valid JSON, decodes to the original with only the model replaced
// (and stream_options added when due), and every byte outside the model value
// and the insertion point is the original byte.
func checkRewrite(t testing.TB, b []byte, f Fields, id string, usage bool) {
	t.Helper()
	body := Rewrite(b, f, id, usage)
	out := body.Bytes()
	if int64(len(out)) != body.Len() {
		t.Fatalf("Len = %d, Bytes has %d", body.Len(), len(out))
	}
	if !json.Valid(out) {
		t.Fatalf("rewritten body is not valid JSON: %.200q", out)
	}

	q := jsonstr.Append(nil, id)
	insert := usage && f.Stream && !f.HasStreamOptions
	var want []byte
	want = append(want, b[:f.ModelStart]...)
	want = append(want, q...)
	want = append(want, b[f.ModelEnd:f.End]...)
	if insert {
		want = append(want, `,"stream_options":{"include_usage":true}`...)
	}
	want = append(want, b[f.End:]...)
	if !bytes.Equal(out, want) {
		t.Fatalf("rewritten bytes differ from the splice:\n got %.200q\nwant %.200q", out, want)
	}

	orig := decodeUseNumber(t, b)
	got := decodeUseNumber(t, out)
	var model strings.Builder
	for _, r := range id { // invalid UTF-8 becomes U+FFFD, byte by byte
		model.WriteRune(r)
	}
	orig["model"] = model.String()
	if insert {
		orig["stream_options"] = map[string]any{"include_usage": true}
	}
	if !reflect.DeepEqual(orig, got) {
		t.Fatalf("rewritten body decodes differently:\n got %v\nwant %v", got, orig)
	}
}
