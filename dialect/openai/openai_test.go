package openai

import (
	"encoding/json"
	"reflect"
	"testing"
)

func jsonEq(t *testing.T, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("got: %v: %s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("JSON differs\n got: %s\nwant: %s", got, want)
	}
}

// Decoding and re-encoding a request keeps every field the translators use, in both shapes
// where the API allows two (string or parts content, string or object tool_choice, string or
// array stop), and unknown content parts byte for byte.
func TestRequestRoundTrip(t *testing.T) {
	for _, in := range []string{
		`{"model":"m","messages":[{"role":"user","content":"hi"}],"stop":["a"],"tool_choice":"auto","stream":true,"stream_options":{"include_usage":true}}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"https://x","detail":"low"}},{"type":"input_audio","input_audio":{"data":"AA","format":"wav"}}]}],"tool_choice":{"type":"function","function":{"name":"f"}}}`,
		`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c","content":"r"}],"max_tokens":5,"max_completion_tokens":6,"temperature":0,"top_p":1,"user":"u","reasoning_effort":"low","response_format":{"type":"json_schema","json_schema":{"name":"n","schema":{"type":"object"},"strict":true}},"parallel_tool_calls":false,"metadata":{"k":"v"}}`,
	} {
		var r Request
		if err := json.Unmarshal([]byte(in), &r); err != nil {
			t.Fatal(err)
		}
		out, err := json.Marshal(&r)
		if err != nil {
			t.Fatal(err)
		}
		jsonEq(t, string(out), in)
	}
	var r Request
	if err := json.Unmarshal([]byte(`{"stop":"x","messages":[{"role":"user","content":[{"type":"image_url","image_url":"https://bare"}]}]}`), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Stop) != 1 || r.Stop[0] != "x" || r.Messages[0].Content.Parts[0].ImageURL.URL != "https://bare" {
		t.Fatalf("%+v", r)
	}
	if err := json.Unmarshal([]byte(`{"tool_choice":{"type":"function"}}`), &r); err == nil {
		t.Errorf("tool_choice without a name accepted")
	}
}

func TestContentString(t *testing.T) {
	c := &Content{Parts: []ContentPart{{Type: "text", Text: "a"}, {Type: "image_url", ImageURL: &ImageURL{URL: "u"}}, {Type: "text", Text: "b"}}}
	if got := c.String("\n"); got != "a\nb" {
		t.Errorf("%q", got)
	}
	if (*Content)(nil).String("") != "" || TextContent("x").String("") != "x" {
		t.Errorf("string content")
	}
}

func TestErrors(t *testing.T) {
	b := AppendError(nil, "rate_limit_error", "rate_limit_exceeded", "slow \"down\"")
	jsonEq(t, string(b), `{"error":{"message":"slow \"down\"","type":"rate_limit_error","code":"rate_limit_exceeded"}}`)
	jsonEq(t, string(AppendError(nil, "", "", "x")), `{"error":{"message":"x","type":"server_error"}}`)
	e, ok := ParseError(b)
	if !ok || e.Type != "rate_limit_error" || e.Code != "rate_limit_exceeded" || e.Message != "slow \"down\"" {
		t.Fatalf("%+v %v", e, ok)
	}
	if e, ok := ParseError([]byte(`{"error":"plain"}`)); !ok || e.Message != "plain" {
		t.Errorf("bare string error: %+v %v", e, ok)
	}
	if e, ok := ParseError([]byte(`{"error":{"message":"m","code":429}}`)); !ok || e.Code != "" {
		t.Errorf("numeric code: %+v %v", e, ok)
	}
	for _, b := range []string{`{"error":null}`, `{"id":"x"}`, `nope`} {
		if _, ok := ParseError([]byte(b)); ok {
			t.Errorf("%s parsed as an error", b)
		}
	}
	for status, want := range map[int]string{400: "invalid_request_error", 404: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 429: "rate_limit_error", 500: "server_error", 502: "server_error"} {
		if got := ErrorType(status); got != want {
			t.Errorf("ErrorType(%d) = %q, want %q", status, got, want)
		}
	}
}

// AppendJSON writes what json.Marshal writes.
func TestAppendJSONMatchesMarshal(t *testing.T) {
	idx := 2
	tr, f := true, false
	temp, topP := 0.25, 1e-7
	mt := 100
	for _, r := range []Request{
		{Model: "m", Messages: []Message{{Role: "user", Content: TextContent("hi \"there\"\n\u2028")}}},
		{
			Model: "m", MaxTokens: &mt, MaxCompletionTokens: &mt, Temperature: &temp, TopP: &topP, Stop: StringList{"a", "b"},
			Stream: true, StreamOptions: &StreamOptions{IncludeUsage: true}, ParallelToolCalls: &f, User: "u", ReasoningEffort: "low",
			ResponseFormat: &ResponseFormat{Type: "json_schema", JSONSchema: &JSONSchema{Name: "n", Schema: json.RawMessage(`{"type":"object"}`), Strict: &tr}},
			Metadata:       json.RawMessage(`{"k":"v"}`),
			ToolChoice:     &ToolChoice{Function: "f"},
			Tools: []Tool{{Type: "function", Function: &FunctionDef{Name: "f", Description: "d", Parameters: json.RawMessage(`{"type":"object"}`), Strict: &tr}},
				{Type: "function", Function: &FunctionDef{Name: "g"}}},
			Messages: []Message{
				{Role: "system", Content: TextContent("s")},
				{Role: "user", Content: &Content{Parts: []ContentPart{{Type: "text", Text: "t"}, {Type: "image_url", ImageURL: &ImageURL{URL: "data:x", Detail: "low"}}, {Type: "file", Raw: json.RawMessage(`{"type":"file","file":{"file_data":"x"}}`)}}}},
				{Role: "assistant", Name: "bob", ReasoningContent: "r", Refusal: "no", ToolCalls: []ToolCall{{ID: "c", Type: "function", Function: FunctionCall{Name: "f", Arguments: `{"a":1}`}}, {Index: &idx, Function: FunctionCall{Arguments: ""}}}},
				{Role: "tool", ToolCallID: "c", Content: TextContent("")},
			},
		},
		{Model: "m", ToolChoice: &ToolChoice{Mode: "required"}, Messages: []Message{{Role: "user", Content: &Content{Parts: []ContentPart{}}}}},
	} {
		want, err := json.Marshal(&r)
		if err != nil {
			t.Fatal(err)
		}
		got := r.AppendJSON(nil)
		if !json.Valid(got) {
			t.Fatalf("invalid: %s", got)
		}
		jsonEq(t, string(got), string(want))
	}
}

// FuzzAppendJSON: whatever request decodes, AppendJSON writes valid JSON equal to json.Marshal's.
func FuzzAppendJSON(f *testing.F) {
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"image_url","image_url":{"url":"u"}},{"type":"other","x":[1]}]},{"role":"assistant","tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{}"}}]}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":{"type":"function","function":{"name":"f"}},"stop":"s","temperature":1.5e-3,"metadata":{"a":1}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var r Request
		if json.Unmarshal(body, &r) != nil {
			return
		}
		got := r.AppendJSON(nil)
		if r.Messages == nil {
			r.Messages = []Message{} // AppendJSON writes [], never null
		}
		want, err := json.Marshal(&r)
		if err != nil {
			return
		}
		if !json.Valid(got) {
			t.Fatalf("invalid JSON %s", got)
		}
		jsonEq(t, string(got), string(want))
	})
}

func TestDecodeRequest(t *testing.T) {
	for _, b := range []string{
		`{"model":"m","messages":[{"role":"system","content":"s\n\u00e9"},{"role":"user","content":[{"type":"text","text":"t"},{"type":"image_url","image_url":{"url":"u","detail":"low"}},{"type":"image_url","image_url":"bare"},{"type":"input_audio","input_audio":{"data":"AA"}}]},
			{"role":"assistant","content":"","name":"n","reasoning_content":"r","refusal":"no","tool_calls":[{"index":0,"id":"c","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},
			{"role":"tool","tool_call_id":"c","content":[]}],
			"max_tokens":5,"max_completion_tokens":6,"temperature":0.5,"top_p":1,"stop":"x","stream":true,"stream_options":{"include_usage":true},
			"tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object"},"strict":true}}],"tool_choice":{"type":"function","function":{"name":"f"}},
			"parallel_tool_calls":false,"user":"u","reasoning_effort":"low","response_format":{"type":"json_schema","json_schema":{"name":"n","description":"d","schema":{},"strict":false}},
			"metadata":{"k":"v"},"seed":3,"n":1,"logprobs":false}`,
		`{"model":"m","messages":[],"stop":["a","b"],"tool_choice":"auto","tools":[]}`,
	} {
		var fast, std Request
		d := decoder{wireOK()}
		d.request([]byte(b), &fast)
		if !d.OK {
			t.Errorf("slow path for %.60s", b)
		}
		if err := json.Unmarshal([]byte(b), &std); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fast, std) {
			t.Errorf("decoders differ\nfast %+v\n std %+v", fast, std)
		}
	}
	for _, b := range []string{`{"model":null}`, `{"tool_choice":{"type":"function"}}`, `{"messages":[{"role":"user","content":[{"type":"image_url"}]}]}`, `{"Model":"x"}`, `{"max_tokens":1.5}`, `nope`} {
		var fast, std Request
		errStd := json.Unmarshal([]byte(b), &std)
		err := DecodeRequest([]byte(b), &fast)
		if (err == nil) != (errStd == nil) || err == nil && !reflect.DeepEqual(fast, std) {
			t.Errorf("%s: %v %+v / json %v %+v", b, err, fast, errStd, std)
		}
	}
}

// FuzzDecodeRequest: wherever the walker answers, json.Unmarshal agrees exactly.
func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"t"},{"type":"image_url","image_url":{"url":"u"}},{"type":"file","file":{}}]},{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":"{}"}}]}],"stop":["a"],"tool_choice":{"type":"function","function":{"name":"f"}},"tools":[{"type":"function","function":{"name":"f","parameters":{}}}],"response_format":{"type":"json_object"},"temperature":1,"stream_options":{"include_usage":false}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if !json.Valid(body) {
			return
		}
		d := decoder{wireOK()}
		var fast Request
		d.request(body, &fast)
		if !d.OK {
			return
		}
		var std Request
		if err := json.Unmarshal(body, &std); err != nil {
			t.Fatalf("walker accepted what json.Unmarshal refuses (%v): %q", err, body)
		}
		if !reflect.DeepEqual(fast, std) {
			t.Fatalf("decoders differ on %q\nfast %+v\n std %+v", body, fast, std)
		}
	})
}
