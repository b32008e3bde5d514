package responses

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// quote is s as a JSON string, as the translation writes it (markup not escaped).
func quote(s string) string {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	_ = e.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// patch is a freeform input with what JSON must escape: newlines, a tab, quotes, a backslash,
// markup and a non-ASCII letter.
const patch = "*** Begin Patch\n*** Update File: a.txt\n@@\n-x\n+\t\"café\" <b>\\n</b>\n*** End Patch\n"

// A custom tool (Codex's apply_patch) reaches a chat upstream as a function of one string,
// input, its grammar told in the description; a namespace's custom tool likewise, under its
// chat name; a tool_choice that forces one forces the function; the history's custom tool call
// and its output are a tool call with the input as the argument and a tool message.
func TestRequestCustomTools(t *testing.T) {
	m := translate(t, `{"model":"m","input":[
		{"role":"user","content":"fix a.txt"},
		{"type":"custom_tool_call","call_id":"c1","name":"apply_patch","input":`+quote(patch)+`},
		{"type":"custom_tool_call_output","call_id":"c1","output":"Success."},
		{"type":"custom_tool_call","call_id":"c2","namespace":"ed","name":"sed","input":"s/a/b/"},
		{"type":"custom_tool_call_output","call_id":"c2","output":[{"type":"input_text","text":"ok"}]}
	],
	"tools":[{"type":"custom","name":"apply_patch","description":"Edit files.","format":{"type":"grammar","syntax":"lark","definition":"start: begin_patch hunk+ end_patch"}},
		{"type":"custom","name":"note"},
		{"type":"namespace","name":"ed","description":"editors","tools":[{"type":"custom","name":"sed","format":{"type":"text"}}]}],
	"tool_choice":{"type":"custom","name":"apply_patch"}}`)
	params := `{"additionalProperties":false,"properties":{"input":{"description":"The tool's whole freeform input as plain text, exactly as the tool's description asks for it (not JSON).","type":"string"}},"required":["input"],"type":"object"}`
	want := `{"messages":[{"content":"fix a.txt","role":"user"},` +
		`{"role":"assistant","tool_calls":[{"function":{"arguments":` + js(`{"input":`+quote(patch)+`}`) + `,"name":"apply_patch"},"id":"c1","type":"function"}]},` +
		`{"content":"Success.","role":"tool","tool_call_id":"c1"},` +
		`{"role":"assistant","tool_calls":[{"function":{"arguments":"{\"input\":\"s/a/b/\"}","name":"ed__sed"},"id":"c2","type":"function"}]},` +
		`{"content":"ok","role":"tool","tool_call_id":"c2"}],"model":"up-1",` +
		`"tool_choice":{"function":{"name":"apply_patch"},"type":"function"},"tools":[` +
		`{"function":{"description":"Edit files.\n\nThe input parameter is freeform text that must match this lark grammar:\nstart: begin_patch hunk+ end_patch","name":"apply_patch","parameters":` + params + `},"type":"function"},` +
		`{"function":{"name":"note","parameters":` + params + `},"type":"function"},` +
		`{"function":{"name":"ed__sed","parameters":` + params + `},"type":"function"}]}`
	if got := js(m); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if _, err := RequestToOpenAI([]byte(`{"model":"m","input":"x","tools":[{"type":"custom"}]}`), ToOpenAIOptions{}); err == nil {
		t.Error("a custom tool without a name: no error")
	}
	if _, err := RequestToOpenAI([]byte(`{"model":"m","input":[{"type":"custom_tool_call","name":"apply_patch","input":"x"}]}`), ToOpenAIOptions{}); err == nil {
		t.Error("a custom_tool_call without call_id: no error")
	}
}

func TestToolNames(t *testing.T) {
	ns, custom := ToolNames([]byte(`{"tools":[{"type":"function","name":"f"},{"type":"custom","name":"apply_patch"},
		{"type":"namespace","name":"ed","tools":[{"type":"function","name":"g"},{"type":"custom","name":"sed"}]}]}`))
	if js(ns) != `["ed"]` || js(custom) != `["apply_patch","ed__sed"]` {
		t.Errorf("namespaces %v, custom %v", ns, custom)
	}
	// The words elsewhere (a schema's property) are not tools.
	if ns, custom := ToolNames([]byte(`{"text":{"format":{"type":"json_schema","schema":{"properties":{"custom":{},"namespace":{}}}}},"tools":[{"type":"function","name":"f"}]}`)); ns != nil || custom != nil {
		t.Errorf("a body without either: %v %v", ns, custom)
	}
}

// The upstream's call of a custom tool's function is a custom_tool_call item whose input is the
// input argument; arguments that are not the object asked for are the input as they came. Calls
// of plain functions stay function calls.
func TestReplyCustomToolCall(t *testing.T) {
	body := `{"id":"c1","created":7,"model":"up","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[` +
		`{"id":"call_a","type":"function","function":{"name":"apply_patch","arguments":` + js(`{"input":`+js(patch)+`}`) + `}},` +
		`{"id":"call_b","type":"function","function":{"name":"ed__sed","arguments":"s/a/b/"}},` +
		`{"id":"call_c","type":"function","function":{"name":"shell","arguments":"{\"cmd\":\"ls\"}"}}]},"finish_reason":"tool_calls"}]}`
	out, err := ResponseFromOpenAI([]byte(body), ReplyOptions{Model: "pub", Namespaces: []string{"ed"}, Custom: []string{"apply_patch", "ed__sed"}})
	if err != nil {
		t.Fatal(err)
	}
	want := `"output":[{"id":"ctc_c1_0","type":"custom_tool_call","status":"completed","call_id":"call_a","name":"apply_patch","input":` + quote(patch) + `},` +
		`{"id":"ctc_c1_1","type":"custom_tool_call","status":"completed","call_id":"call_b","name":"sed","namespace":"ed","input":"s/a/b/"},` +
		`{"id":"fc_c1_2","type":"function_call","status":"completed","call_id":"call_c","name":"shell","arguments":"{\"cmd\":\"ls\"}"}]`
	if !strings.Contains(string(out), want) {
		t.Fatalf("got  %s\nwant %s", out, want)
	}
}

// Streamed, a custom tool's call is a custom_tool_call item: added empty, its input read out
// of the arguments as they come (cut anywhere, inside an escape too) and written as
// custom_tool_call_input.delta events, then .done, never as function call arguments.
func TestStreamCustomToolCall(t *testing.T) {
	args := `{"input":` + js(patch) + `}`
	cut := strings.Index(args, `\n`) + 1 // between the backslash and the n of an escape
	tr := NewStreamFromOpenAI(ReplyOptions{Model: "pub", Custom: []string{"apply_patch"}})
	evs, err := run(t, tr,
		`{"id":"c3","choices":[{"index":0,"delta":{"content":"Patching."}}]}`,
		`{"id":"c3","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_p","type":"function","function":{"name":"apply_patch","arguments":""}}]}}]}`,
		`{"id":"c3","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_s","type":"function","function":{"name":"shell","arguments":"{}"}}]}}]}`,
		`{"id":"c3","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":`+js(args[:cut])+`}}]}}]}`,
		`{"id":"c3","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":`+js(args[cut:])+`}}]}}]}`,
		`{"id":"c3","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`,
		`[DONE]`)
	if err != nil {
		t.Fatal(err)
	}
	want := "created in_progress output_item.added content_part.added output_text.delta output_text.done content_part.done output_item.done " +
		"output_item.added output_item.added function_call_arguments.delta " +
		"custom_tool_call_input.delta custom_tool_call_input.delta custom_tool_call_input.done output_item.done function_call_arguments.done output_item.done completed"
	if got := names(evs); got != want {
		t.Fatalf("events:\n got %s\nwant %s", got, want)
	}
	added := evs[8].data["item"].(map[string]any)
	if js(added) != `{"call_id":"call_p","id":"ctc_c3_1","input":"","name":"apply_patch","status":"in_progress","type":"custom_tool_call"}` {
		t.Errorf("output_item.added %s", js(added))
	}
	// The first piece's input up to the cut escape, then the rest.
	if d := evs[11].data; d["delta"] != "*** Begin Patch" || d["item_id"] != "ctc_c3_1" || d["output_index"] != float64(1) {
		t.Errorf("first custom_tool_call_input.delta %s", js(d))
	}
	if d := evs[12].data; d["delta"] != strings.TrimPrefix(patch, "*** Begin Patch") {
		t.Errorf("second custom_tool_call_input.delta %s", js(d))
	}
	if d := evs[13].data; d["input"] != patch || d["item_id"] != "ctc_c3_1" {
		t.Errorf("custom_tool_call_input.done %s", js(d))
	}
	if item := evs[14].data["item"].(map[string]any); item["input"] != patch || item["status"] != "completed" || item["call_id"] != "call_p" {
		t.Errorf("output_item.done %s", js(item))
	}
	out := evs[len(evs)-1].data["response"].(map[string]any)["output"].([]any)
	if len(out) != 3 || out[1].(map[string]any)["input"] != patch || out[2].(map[string]any)["type"] != "function_call" {
		t.Errorf("completed output %s", js(out))
	}
}

// The input is streamed out of arguments cut at any rune, its escapes (a surrogate pair
// among them) decoded whole; written and left over, it is the whole input. Arguments of
// another shape write nothing until the end, which then writes it all.
func TestCustomStreamPieces(t *testing.T) {
	input := patch + "\U0001F600 end"
	for name, tc := range map[string]struct {
		args     string
		streamed bool
	}{
		"compact": {`{"input":` + js(input) + `}`, true},
		"spaced":  {"{ \"input\" :\n " + js(input) + " }", true},
		"ascii":   {`{"input":"` + strings.ReplaceAll(strings.ReplaceAll(js(input)[1:len(js(input))-1], "\U0001F600", ""), "end", `\ud83d\ude00end`) + `"}`, true},
		"other":   {`{"why":"x","input":` + js(input) + `}`, false},
		"bare":    {input, false},
	} {
		want := customInput(tc.args)
		if name == "bare" {
			want = input
		}
		runes := []rune(tc.args)
		var c customStream
		var got []byte
		for i := range runes {
			piece := js(string(runes[i : i+1]))
			got = append(got, c.next([]byte(piece[1:len(piece)-1]))...)
		}
		if streamed := len(got) > 0; streamed != tc.streamed {
			t.Errorf("%s: streamed %q, want streamed %v", name, got, tc.streamed)
		}
		if got = append(got, c.rest(want)...); string(got) != want {
			t.Errorf("%s: streamed and rest %q, want %q", name, got, want)
		}
	}
}
