package anthropic

import (
	"encoding/json"
	"reflect"
	"testing"
)

// The requests clients really send take the fast decoder, and it decodes them as
// json.Unmarshal does.
func TestDecodeRequestFastPath(t *testing.T) {
	bodies := []string{
		string(claudeCodeRequest()),
		`{"model":"m","max_tokens":1,"system":"s","messages":[{"role":"user","content":"h\u00e9\n\"x\""}],"temperature":0.5,"top_p":1,"top_k":3,"stop_sequences":[],"stream":false,
			"tool_choice":{"type":"tool","name":"f","disable_parallel_tool_use":true},"thinking":{"type":"enabled","budget_tokens":2048},"metadata":{"user_id":"u"},
			"tools":[],"context_management":{"x":[null]},"output_config":{"effort":"high"}}`,
		`{"model":"bad` + "\xff\\ud800" + `","max_tokens":1,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://x"}},{"type":"tool_result","tool_use_id":"t","is_error":false,"content":[]}]},
			{"role":"assistant","content":[{"type":"redacted_thinking","data":"d"},{"type":"thinking","thinking":"t","signature":"s"},{"type":"tool_use","id":"i","name":"n","input":{ "a" : [1, 2] }}]}]}`,
	}
	for _, b := range bodies {
		var fast, std Request
		if !decodeFast([]byte(b), &fast) {
			t.Errorf("slow path for %.80s", b)
			continue
		}
		if err := json.Unmarshal([]byte(b), &std); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fast, std) {
			t.Errorf("decoders differ on %.80s\nfast %+v\n std %+v", b, fast, std)
		}
	}
}

// What the fast decoder leaves to json.Unmarshal still decodes, or fails as the client's error.
func TestDecodeRequestFallback(t *testing.T) {
	for _, b := range []string{
		`{"model":"m","messages":null}`,
		`{"model":"m","Model":"n"}`,
		`{"model":"m","model":"n"}`,
		`{"mod\u0065l":"m"}`,
		`{"model":"m","max_tokens":1.0}`,
		`{"model":5}`,
		`[1]`,
		`{"model":"m"`,
	} {
		var fast Request
		if decodeFast([]byte(b), &fast) {
			t.Errorf("fast path took %q", b)
		}
		var std, viaDecode Request
		errStd := json.Unmarshal([]byte(b), &std)
		err := DecodeRequest([]byte(b), &viaDecode)
		if (err == nil) != (errStd == nil) || err == nil && !reflect.DeepEqual(std, viaDecode) {
			t.Errorf("%q: decode %v / %+v, json %v / %+v", b, err, viaDecode, errStd, std)
		}
	}
}
