package responses

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/llmrouter/caddy-llm-router/dialect"
)

var _ dialect.StreamTranslator = (*StreamFromOpenAI)(nil)

func translate(t *testing.T, body string) map[string]any {
	t.Helper()
	out, err := RequestToOpenAI([]byte(body), ToOpenAIOptions{Model: "up-1"})
	if err != nil {
		t.Fatalf("RequestToOpenAI: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	return m
}

func js(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestRequestStringInput(t *testing.T) {
	m := translate(t, `{"model":"m","input":"hi","instructions":"be brief","max_output_tokens":50,"temperature":0.5,"top_p":0.9,"user":"u1","metadata":{"k":"v"},"stream":true}`)
	want := `{"max_tokens":50,"messages":[{"content":"be brief","role":"system"},{"content":"hi","role":"user"}],"model":"up-1","stream":true,"stream_options":{"include_usage":true},"temperature":0.5,"top_p":0.9,"user":"u1"}`
	if got := js(m); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestRequestItems(t *testing.T) {
	m := translate(t, `{"model":"m","input":[
		{"type":"message","role":"developer","content":[{"type":"input_text","text":"dev"}]},
		{"role":"user","content":[{"type":"input_text","text":"look"},{"type":"input_image","image_url":"data:image/png;base64,AAAA","detail":"low"}]},
		{"type":"reasoning","id":"rs_1","summary":[]},
		{"type":"message","role":"assistant","content":[{"type":"output_text","text":"calling"}]},
		{"type":"function_call","call_id":"c1","name":"shell","arguments":"{\"cmd\":\"ls\"}"},
		{"type":"function_call","call_id":"c2","name":"shell","arguments":""},
		{"type":"function_call_output","call_id":"c1","output":"a.txt"},
		{"type":"function_call_output","call_id":"c2","output":[{"type":"input_text","text":"b"},{"type":"input_text","text":"c"}]}
	],
	"tools":[{"type":"function","name":"shell","description":"run","parameters":{"type":"object"},"strict":false},{"type":"web_search"}],
	"tool_choice":{"type":"function","name":"shell"},"parallel_tool_calls":false,
	"text":{"format":{"type":"json_schema","name":"s","schema":{"type":"object"},"strict":true}},
	"reasoning":{"effort":"high","summary":"auto"}}`)
	want := `{"messages":[{"content":"dev","role":"system"},{"content":[{"text":"look","type":"text"},{"image_url":{"detail":"low","url":"data:image/png;base64,AAAA"},"type":"image_url"}],"role":"user"},{"content":"calling","role":"assistant","tool_calls":[{"function":{"arguments":"{\"cmd\":\"ls\"}","name":"shell"},"id":"c1","type":"function"},{"function":{"arguments":"{}","name":"shell"},"id":"c2","type":"function"}]},{"content":"a.txt","role":"tool","tool_call_id":"c1"},{"content":"bc","role":"tool","tool_call_id":"c2"}],"model":"up-1","parallel_tool_calls":false,"reasoning_effort":"high","response_format":{"json_schema":{"name":"s","schema":{"type":"object"},"strict":true},"type":"json_schema"},"tool_choice":{"function":{"name":"shell"},"type":"function"},"tools":[{"function":{"description":"run","name":"shell","parameters":{"type":"object"},"strict":false},"type":"function"}]}`
	if got := js(m); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// A tool's images (Codex's view_image) follow the run of tool messages as one user message:
// a message between the results of one turn's calls would orphan the later ones.
func TestRequestToolOutputImages(t *testing.T) {
	m := translate(t, `{"model":"m","input":[
		{"type":"function_call","call_id":"c1","name":"view_image","arguments":"{}"},
		{"type":"function_call","call_id":"c2","name":"shell","arguments":"{}"},
		{"type":"function_call_output","call_id":"c1","output":[{"type":"input_image","image_url":"data:image/png;base64,AAAA","detail":"high"}]},
		{"type":"reasoning","id":"rs_1","summary":[]},
		{"type":"function_call_output","call_id":"c2","output":[{"type":"input_text","text":"ok"},{"type":"input_image","image_url":"https://x/y.png"}]},
		{"role":"user","content":"and now?"}
	]}`)
	want := `{"messages":[{"role":"assistant","tool_calls":[{"function":{"arguments":"{}","name":"view_image"},"id":"c1","type":"function"},{"function":{"arguments":"{}","name":"shell"},"id":"c2","type":"function"}]},` +
		`{"content":"","role":"tool","tool_call_id":"c1"},{"content":"ok","role":"tool","tool_call_id":"c2"},` +
		`{"content":[{"image_url":{"detail":"high","url":"data:image/png;base64,AAAA"},"type":"image_url"},{"image_url":{"url":"https://x/y.png"},"type":"image_url"}],"role":"user"},` +
		`{"content":"and now?","role":"user"}],"model":"up-1"}`
	if got := js(m); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	// At the end of the input too, and an image by file id is still refused.
	m = translate(t, `{"model":"m","input":[{"type":"function_call","call_id":"c1","name":"view_image","arguments":"{}"},
		{"type":"function_call_output","call_id":"c1","output":[{"type":"input_image","image_url":"data:image/png;base64,AAAA"}]}]}`)
	if msgs := m["messages"].([]any); len(msgs) != 3 || msgs[2].(map[string]any)["role"] != "user" {
		t.Fatalf("the image did not end the input: %s", js(m))
	}
	if _, err := RequestToOpenAI([]byte(`{"model":"m","input":[{"type":"function_call_output","call_id":"c1","output":[{"type":"input_image","file_id":"f"}]}]}`),
		ToOpenAIOptions{}); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("an image by file_id: err %v, want ErrBadRequest", err)
	}
}

func TestRequestAllowedTools(t *testing.T) {
	m := translate(t, `{"model":"m","input":"x","tools":[{"type":"function","name":"f"},{"type":"web_search"}],
		"tool_choice":{"type":"allowed_tools","mode":"required","tools":[{"type":"function","name":"f"}]}}`)
	if got := js(m["tool_choice"]); got != `"required"` {
		t.Errorf("tool_choice %s, want the mode kept", got)
	}
}

func TestRequestRefused(t *testing.T) {
	for _, tc := range []struct {
		body   string
		native bool
	}{
		{`{"model":"m","input":"x","previous_response_id":"resp_1"}`, true},
		{`{"model":"m","input":"x","store":true}`, true},
		{`{"model":"m","input":[{"type":"item_reference","id":"msg_1"}]}`, true},
		{`{"model":"m","input":[{"id":"msg_1"}]}`, true},
		{`{"model":"m","input":[{"type":"computer_call_output","call_id":"x"}]}`, false},
		{`{"model":"m","input":[{"role":"user","content":[{"type":"input_file","file_id":"f"}]}]}`, false},
		{`{"model":"m","input":[{"role":"user","content":[{"type":"input_image","file_id":"f"}]}]}`, false},
		{`{"model":"m","input":[{"role":"tool","content":"x"}]}`, false},
		{`{"model":"m","input":42}`, false},
		{`{"model":"m","input":"x","text":{"format":{"type":"grammar"}}}`, false},
		{`{"model":"m","input":"x","tool_choice":"sometimes"}`, false},
		// Forcing a tool that was dropped would answer without it.
		{`{"model":"m","input":"x","tools":[{"type":"web_search"}],"tool_choice":{"type":"web_search"}}`, false},
		{`{"model":"m","input":"x","tools":[{"type":"file_search","vector_store_ids":["v"]},{"type":"function","name":"f"}],"tool_choice":{"type":"file_search"}}`, false},
		{`{"model":"m","input":"x","tools":[{"type":"web_search"}],"tool_choice":"required"}`, false},
		{`not json`, false},
	} {
		_, err := RequestToOpenAI([]byte(tc.body), ToOpenAIOptions{})
		if !errors.Is(err, ErrBadRequest) || errors.Is(err, ErrNeedsNative) != tc.native {
			t.Errorf("%s: err %v, want ErrBadRequest (needs native: %v)", tc.body, err, tc.native)
		}
	}
	_, err := RequestToOpenAI([]byte(`{"model":"m","input":"x","previous_response_id":"r"}`), ToOpenAIOptions{})
	if !strings.Contains(err.Error(), "natively") || !strings.Contains(err.Error(), "previous_response_id") {
		t.Errorf("message does not say what and why: %v", err)
	}
	if _, err := RequestToOpenAI([]byte(`{"model":"m","input":"x","store":false}`), ToOpenAIOptions{}); err != nil {
		t.Errorf("store false: %v", err)
	}
}

func TestReply(t *testing.T) {
	body := `{"id":"chatcmpl-1","object":"chat.completion","created":7,"model":"up","choices":[{"index":0,"message":{"role":"assistant","content":"hello","reasoning_content":"think","tool_calls":[{"id":"call_a","type":"function","function":{"name":"shell","arguments":"{\"cmd\":\"ls\"}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":2}}}`
	out, err := ResponseFromOpenAI([]byte(body), ReplyOptions{Model: "pub"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"resp_chatcmpl-1","object":"response","created_at":7,"status":"completed","error":null,"incomplete_details":null,"model":"pub","output":[{"id":"rs_chatcmpl-1_0","type":"reasoning","summary":[{"type":"summary_text","text":"think"}]},{"id":"msg_chatcmpl-1_1","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"hello","annotations":[],"logprobs":[]}]},{"id":"fc_chatcmpl-1_2","type":"function_call","status":"completed","call_id":"call_a","name":"shell","arguments":"{\"cmd\":\"ls\"}"}],"parallel_tool_calls":true,"tool_choice":"auto","tools":[],"store":false,"text":{"format":{"type":"text"}},"usage":{"input_tokens":10,"input_tokens_details":{"cached_tokens":4},"output_tokens":5,"output_tokens_details":{"reasoning_tokens":2},"total_tokens":15}}`
	if string(out) != want {
		t.Fatalf("got  %s\nwant %s", out, want)
	}
	out, err = ResponseFromOpenAI([]byte(`{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"cut"},"finish_reason":"length"}]}`), ReplyOptions{})
	if err != nil || !bytes.Contains(out, []byte(`"status":"incomplete","error":null,"incomplete_details":{"reason":"max_output_tokens"}`)) {
		t.Fatalf("length: %v %s", err, out)
	}
	if _, err := ResponseFromOpenAI([]byte(`{"error":{"message":"x"}}`), ReplyOptions{}); err == nil {
		t.Fatal("no choices: no error")
	}
}

// event is one parsed output event.
type event struct {
	name string
	data map[string]any
}

// run feeds the chunks (data values, "[DONE]" included) through a translator and checks the
// stream's invariants: named events whose data type is the name, consecutive sequence numbers.
func run(t testing.TB, tr *StreamFromOpenAI, chunks ...string) ([]event, error) {
	t.Helper()
	var out []byte
	var err error
	for _, c := range chunks {
		if out, err = tr.Event(out, []byte("data: "+c+"\n\n")); err != nil {
			break
		}
	}
	if err == nil {
		out, err = tr.Finish(out)
	}
	return parse(t, out), err
}

func parse(t testing.TB, out []byte) []event {
	t.Helper()
	var evs []event
	for _, raw := range strings.Split(strings.TrimSuffix(string(out), "\n\n"), "\n\n") {
		if raw == "" {
			continue
		}
		lines := strings.Split(raw, "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "event: ") || !strings.HasPrefix(lines[1], "data: ") {
			t.Fatalf("malformed event %q", raw)
		}
		var e event
		e.name = lines[0][7:]
		if err := json.Unmarshal([]byte(lines[1][6:]), &e.data); err != nil {
			t.Fatalf("event data not JSON: %v\n%s", err, lines[1])
		}
		if e.data["type"] != e.name {
			t.Fatalf("event %s has type %v", e.name, e.data["type"])
		}
		if n := e.data["sequence_number"]; n != float64(len(evs)) {
			t.Fatalf("event %d: sequence_number %v", len(evs), n)
		}
		evs = append(evs, e)
	}
	return evs
}

func names(evs []event) string {
	var b []string
	for _, e := range evs {
		b = append(b, strings.TrimPrefix(e.name, "response."))
	}
	return strings.Join(b, " ")
}

func TestStreamText(t *testing.T) {
	tr := NewStreamFromOpenAI(ReplyOptions{Model: "pub", Created: 9})
	out, err := tr.Event(nil, []byte("data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n"))
	if err != nil || len(out) != 0 {
		t.Fatalf("a role chunk wrote %q (%v): nothing may be written before the first content", out, err)
	}
	evs, err := run(t, tr,
		`{"id":"c1","choices":[{"index":0,"delta":{"content":"Hel"}}]}`,
		`{"id":"c1","choices":[{"index":0,"delta":{"content":"lo \"x\""}}]}`,
		`{"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
		`{"id":"c1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`,
		`[DONE]`)
	if err != nil {
		t.Fatal(err)
	}
	want := "created in_progress output_item.added content_part.added output_text.delta output_text.delta output_text.done content_part.done output_item.done completed"
	if got := names(evs); got != want {
		t.Fatalf("events:\n got %s\nwant %s", got, want)
	}
	if got := evs[6].data["text"]; got != `Hello "x"` {
		t.Errorf("output_text.done text %q", got)
	}
	resp := evs[len(evs)-1].data["response"].(map[string]any)
	if js(resp["usage"]) != `{"input_tokens":3,"input_tokens_details":{"cached_tokens":0},"output_tokens":2,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":5}` ||
		resp["status"] != "completed" || resp["model"] != "pub" || resp["id"] != "resp_c1" {
		t.Errorf("completed response %s", js(resp))
	}
	if js(resp["output"]) != `[{"content":[{"annotations":[],"logprobs":[],"text":"Hello \"x\"","type":"output_text"}],"id":"msg_c1_0","role":"assistant","status":"completed","type":"message"}]` {
		t.Errorf("output %s", js(resp["output"]))
	}
	if !tr.Done() || tr.Usage().PromptTokens != 3 || tr.Usage().CompletionTokens != 2 {
		t.Errorf("done %v usage %+v", tr.Done(), tr.Usage())
	}
}

func TestStreamToolCalls(t *testing.T) {
	tr := NewStreamFromOpenAI(ReplyOptions{Model: "pub"})
	evs, err := run(t, tr,
		`{"id":"c2","choices":[{"index":0,"delta":{"reasoning_content":"hmm"}}]}`,
		`{"id":"c2","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"shell","arguments":""}}]}}]}`,
		`{"id":"c2","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"read","arguments":"{}"}}]}}]}`,
		`{"id":"c2","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"cmd\":"}}]}}]}`,
		`{"id":"c2","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"ls\"}"}}]}}]}`,
		`{"id":"c2","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`,
		`[DONE]`)
	if err != nil {
		t.Fatal(err)
	}
	want := "created in_progress output_item.added reasoning_summary_part.added reasoning_summary_text.delta " +
		"reasoning_summary_text.done reasoning_summary_part.done output_item.done output_item.added output_item.added " +
		"function_call_arguments.delta function_call_arguments.delta function_call_arguments.delta " +
		"function_call_arguments.done output_item.done function_call_arguments.done output_item.done completed"
	if got := names(evs); got != want {
		t.Fatalf("events:\n got %s\nwant %s", got, want)
	}
	done := evs[14].data["item"].(map[string]any)
	if done["call_id"] != "call_a" || done["name"] != "shell" || done["arguments"] != `{"cmd":"ls"}` || done["status"] != "completed" {
		t.Errorf("function_call item %s", js(done))
	}
	out := evs[len(evs)-1].data["response"].(map[string]any)["output"].([]any)
	if len(out) != 3 || out[2].(map[string]any)["arguments"] != "{}" {
		t.Errorf("output %s", js(out))
	}
}

// Ollama's OpenAI API gives every parallel call of a turn index 0, each with its own id: each
// must be its own function_call item. A server that repeats a call's id on every delta, with
// no index, still makes one call.
func TestStreamCallsUnderOneIndex(t *testing.T) {
	for name, tc := range map[string]struct {
		chunks []string
		want   string // the output's calls: call_id=arguments, space-separated
	}{
		"two calls under index 0": {[]string{
			`{"id":"c3","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"shell","arguments":"{\"cmd\":\"ls\"}"}}]}}]}`,
			`{"id":"c3","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_b","type":"function","function":{"name":"shell","arguments":"{\"cmd\":"}}]}}]}`,
			`{"id":"c3","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"pwd\"}"}}]}}]}`,
		}, `call_a={"cmd":"ls"} call_b={"cmd":"pwd"}`},
		"no index, its id on every delta": {[]string{
			`{"id":"c3","choices":[{"index":0,"delta":{"tool_calls":[{"id":"call_a","type":"function","function":{"name":"shell","arguments":"{\"cmd\":"}}]}}]}`,
			`{"id":"c3","choices":[{"index":0,"delta":{"tool_calls":[{"id":"call_a","function":{"arguments":"\"ls\"}"}}]}}]}`,
		}, `call_a={"cmd":"ls"}`},
	} {
		t.Run(name, func(t *testing.T) {
			chunks := append(tc.chunks, `{"id":"c3","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`, `[DONE]`)
			evs, err := run(t, NewStreamFromOpenAI(ReplyOptions{Model: "pub"}), chunks...)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range evs[len(evs)-1].data["response"].(map[string]any)["output"].([]any) {
				it := o.(map[string]any)
				got = append(got, fmt.Sprint(it["call_id"], "=", it["arguments"]))
			}
			if strings.Join(got, " ") != tc.want {
				t.Errorf("calls %q, want %q", strings.Join(got, " "), tc.want)
			}
		})
	}
}

func TestStreamEnds(t *testing.T) {
	// Cut before [DONE]: Finish says so.
	if _, err := run(t, NewStreamFromOpenAI(ReplyOptions{}), `{"id":"x","choices":[{"index":0,"delta":{"content":"a"}}]}`); !errors.Is(err, ErrIncomplete) {
		t.Errorf("cut stream: %v", err)
	}
	// An upstream error chunk before any content writes nothing and returns the error.
	tr := NewStreamFromOpenAI(ReplyOptions{})
	out, err := tr.Event(nil, []byte(`data: {"error":{"message":"overloaded","type":"server_error"}}`+"\n\n"))
	var se *StreamError
	if len(out) != 0 || !errors.As(err, &se) || se.Message != "overloaded" {
		t.Errorf("error chunk: %q %v", out, err)
	}
	if _, err := NewStreamFromOpenAI(ReplyOptions{}).Event(nil, []byte("data: {nope\n\n")); !errors.Is(err, ErrMalformed) {
		t.Errorf("garbage: %v", err)
	}
	// Length: response.incomplete with its reason.
	evs, err := run(t, NewStreamFromOpenAI(ReplyOptions{}), `{"id":"x","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":"length"}]}`, `[DONE]`)
	if err != nil || evs[len(evs)-1].name != "response.incomplete" {
		t.Errorf("length: %v %s", err, names(evs))
	}
	// An empty answer that says it finished is a whole sequence; one that says nothing before
	// [DONE] is no answer (translated, an empty completed response).
	if evs, err = run(t, NewStreamFromOpenAI(ReplyOptions{}), `{"id":"x","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`, `[DONE]`); err != nil || names(evs) != "created in_progress completed" {
		t.Errorf("empty: %v %s", err, names(evs))
	}
	for _, evs := range [][]string{{`[DONE]`}, {`{"id":"x","choices":[{"index":0,"delta":{"role":"assistant"}}]}`, `[DONE]`}} {
		if _, err := run(t, NewStreamFromOpenAI(ReplyOptions{}), evs...); !errors.Is(err, ErrEmpty) {
			t.Errorf("no answer %q: %v", evs, err)
		}
	}
}
