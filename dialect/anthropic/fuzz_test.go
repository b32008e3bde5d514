package anthropic

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// splitEvents cuts fuzz input into events the way the relay hands them over: each one ending
// in a blank line.
func splitEvents(in []byte) [][]byte {
	var evs [][]byte
	for _, p := range bytes.Split(in, []byte("\n\n")) {
		if len(p) > 0 {
			evs = append(evs, append(append([]byte(nil), p...), '\n', '\n'))
		}
	}
	return evs
}

func seed(f *testing.F, streams ...[][]byte) {
	for _, s := range streams {
		f.Add(bytes.Join(s, nil))
	}
}

// checkFuzzOutput fails unless out is well-formed SSE whose events all have (named) or all
// lack (unnamed) an event line.
func checkFuzzOutput(t *testing.T, out []byte, named bool) {
	evs, msg := checkSSE(out)
	if msg != "" {
		t.Fatalf("%s\n%q", msg, out)
	}
	for _, e := range evs {
		if (e.Name != "") != named {
			t.Fatalf("event name %q (named %v) in %q", e.Name, named, out)
		}
	}
}

// FuzzStreamToOpenAI: any upstream input, no panic, and the output is always well-formed
// OpenAI SSE (data-only events with JSON data or [DONE]), also after an error.
func FuzzStreamToOpenAI(f *testing.F) {
	seed(f, textStream(), thinkToolStream(), [][]byte{ev("error", `{"type":"error","error":{"type":"overloaded_error","message":"x"}}`)})
	f.Add([]byte("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":1,\"name\":{\"a\":\r\n2},\"input\":{\"x\":\n1}}}\n\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, usage := range []bool{false, true} {
			tr := NewStreamToOpenAI(StreamToOpenAIOptions{IncludeUsage: usage, Created: 1, Model: "m\n\u2028"})
			var out []byte
			for _, e := range splitEvents(in) {
				var err error
				if out, err = tr.Event(out, e); err != nil {
					break
				}
			}
			out, _ = tr.Finish(out)
			checkFuzzOutput(t, out, false)
		}
	})
}

// FuzzStreamFromOpenAI: any upstream input, no panic, and the output is always well-formed
// Anthropic SSE (every event named, JSON data).
func FuzzStreamFromOpenAI(f *testing.F) {
	seed(f, oaTextStream(), oaThinkToolStream(), [][]byte{chunk(oaUsage), oaDone})
	f.Add([]byte("data: {\"id\":{\"x\":\r1},\"model\":[\n],\"choices\":[{\"delta\":{\"tool_calls\":[{\"id\":7,\"function\":{\"name\":null,\"arguments\":{\"a\":\n1}}}]}}]}\n\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, drop := range []bool{false, true} {
			tr := NewStreamFromOpenAI(StreamFromOpenAIOptions{DropReasoning: drop, Model: "m\"\n"})
			var out []byte
			for _, e := range splitEvents(in) {
				var err error
				if out, err = tr.Event(out, e); err != nil {
					break
				}
			}
			out, _ = tr.Finish(out)
			checkFuzzOutput(t, out, true)
		}
	})
}

// FuzzRequests: any body either fails with ErrBadRequest or translates to valid JSON, both
// ways, and count_tokens never panics.
func FuzzRequests(f *testing.F) {
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AA"}}]},{"role":"assistant","tool_calls":[{"id":"a.b","type":"function","function":{"name":"f","arguments":"{"}}]},{"role":"tool","tool_call_id":"a.b","content":null}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"required","reasoning_effort":"high","max_tokens":1500}`))
	// Small seeds only: the fuzzing engine crawls on a 50 KB one.
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, fn := range []func([]byte) ([]byte, error){
			func(b []byte) ([]byte, error) { return RequestFromOpenAI(b, FromOpenAIOptions{}) },
			func(b []byte) ([]byte, error) { return RequestToOpenAI(b, ToOpenAIOptions{Model: "m"}) },
			func(b []byte) ([]byte, error) { return ResponseToOpenAI(b, ReplyOptions{Created: 1}) },
			func(b []byte) ([]byte, error) { return ResponseFromOpenAI(b, ReplyOptions{}) },
		} {
			out, err := fn(body)
			if err == nil && !json.Valid(out) {
				t.Fatalf("invalid JSON %q from %q", out, body)
			}
		}
		_, _ = EstimateTokens(body)
	})
}

// FuzzAppendJSON: whatever request decodes, AppendJSON writes valid JSON equal to
// json.Marshal's.
func FuzzAppendJSON(f *testing.F) {
	f.Add([]byte(`{"model":"m","max_tokens":5,"system":"s","messages":[{"role":"user","content":[{"type":"text","text":"x","cache_control":{"type":"ephemeral"}},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA"}},{"type":"tool_result","tool_use_id":"t","is_error":true,"content":[{"type":"text","text":"r"}]}]},{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"s"},{"type":"tool_use","id":"i","name":"n","input":{"a":[1]}}]}],"tools":[{"name":"n","description":"d","input_schema":{"type":"object"}},{"type":"web_search_20250305","name":"w"}],"tool_choice":{"type":"tool","name":"n","disable_parallel_tool_use":false},"thinking":{"type":"enabled","budget_tokens":1024},"temperature":0.5,"top_p":0.9,"top_k":3,"stop_sequences":["a"],"metadata":{"user_id":"u"},"stream":true}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var r Request
		if json.Unmarshal(body, &r) != nil {
			return
		}
		got := r.AppendJSON(nil)
		if r.Messages == nil {
			r.Messages = []Message{} // AppendJSON writes [], never null
		}
		for i := range r.Messages {
			if r.Messages[i].Content == nil {
				r.Messages[i].Content = Blocks{}
			}
		}
		want, err := json.Marshal(&r)
		if err != nil {
			return
		}
		if !json.Valid(got) {
			t.Fatalf("invalid JSON %s", got)
		}
		var g, w any
		_ = json.Unmarshal(got, &g)
		_ = json.Unmarshal(want, &w)
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("differs\n got %s\nwant %s", got, want)
		}
	})
}

// FuzzDecodeRequest: wherever the fast decoder answers, json.Unmarshal agrees exactly.
func FuzzDecodeRequest(f *testing.F) {
	// Small seeds only: the fuzzing engine crawls on a 50 KB one.
	f.Add([]byte(`{"model":"m","max_tokens":1,"system":[{"type":"text","text":"s","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"r","is_error":true},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA"}}]}],"tools":[{"name":"n","input_schema":{}}],"tool_choice":{"type":"auto"},"thinking":{"type":"adaptive"},"temperature":1e-2,"top_k":1,"stop_sequences":["\u0041"],"metadata":{"user_id":"u"},"stream":true}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast Request
		if !decodeFast(body, &fast) {
			return
		}
		var std Request
		if err := json.Unmarshal(body, &std); err != nil {
			t.Fatalf("fast decoder accepted what json.Unmarshal refuses (%v): %q", err, body)
		}
		if !reflect.DeepEqual(fast, std) {
			t.Fatalf("decoders differ on %q\nfast %+v\n std %+v", body, fast, std)
		}
	})
}
