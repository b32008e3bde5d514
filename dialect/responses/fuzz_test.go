package responses

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// FuzzStreamFromOpenAI: any sequence of upstream events either fails with an error or yields
// whole named events of valid JSON with consecutive sequence numbers; nothing is written
// before the first content, and a stream that says Done ended with response.completed or
// response.incomplete.
func FuzzStreamFromOpenAI(f *testing.F) {
	f.Add(`{"id":"a","choices":[{"index":0,"delta":{"content":"hi"}}]}`, `{"id":"a","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`, `[DONE]`)
	f.Add(`{"id":"a","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{\"a\""}}]}}]}`, `{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]},"finish_reason":"tool_calls"}]}`, `[DONE]`)
	f.Add(`{"choices":[{"delta":{"reasoning_content":"r\u00e9"}}]}`, `{"error":{"message":"x"}}`, `[DONE]`)
	f.Add(`{"choices":[{"delta":{"role":"assistant"}}]}`, `{"choices":[],"usage":{"prompt_tokens":1}}`, `x`)
	f.Add(`{"id":"a","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"p","arguments":"{\"input\":\"a\\"}}]}}]}`, `{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"nb\"}"}}]},"finish_reason":"tool_calls"}]}`, `[DONE]`)
	f.Fuzz(func(t *testing.T, a, b, c string) {
		// p is a custom tool: its calls are custom_tool_call items.
		tr := NewStreamFromOpenAI(ReplyOptions{Model: "m", Created: 1, Custom: []string{"p"}})
		var out []byte
		var err error
		for _, d := range []string{a, b, c} {
			if bytes.ContainsAny([]byte(d), "\r\n") {
				return
			}
			if out, err = tr.Event(out, []byte("data: "+d+"\n\n")); err != nil {
				break
			}
		}
		if err == nil {
			out, err = tr.Finish(out)
			if (err == nil) != tr.Done() || err != nil && !errors.Is(err, ErrIncomplete) {
				t.Fatalf("Finish %v with Done %v", err, tr.Done())
			}
		}
		evs := parse(t, out)
		if tr.Done() {
			if last := evs[len(evs)-1].name; last != "response.completed" && last != "response.incomplete" {
				t.Fatalf("done stream ends with %s", last)
			}
		}
	})
}

// FuzzRequests: any body either fails with ErrBadRequest or translates to valid JSON.
func FuzzRequests(f *testing.F) {
	f.Add(`{"model":"m","input":"hi","instructions":"x","stream":true}`)
	f.Add(`{"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"a"},{"type":"input_image","image_url":"http://x"}]},{"type":"function_call","call_id":"c","name":"n","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"o"}],"tools":[{"type":"function","name":"n","parameters":{}}],"tool_choice":"required"}`)
	f.Add(`{"model":"m","input":[],"text":{"format":{"type":"json_object"}},"reasoning":{"effort":"low"}}`)
	f.Add(`{"model":"m","input":[{"type":"custom_tool_call","call_id":"c","name":"p","input":"*** Begin Patch\n"},{"type":"custom_tool_call_output","call_id":"c","output":"ok"}],"tools":[{"type":"custom","name":"p","format":{"type":"grammar","syntax":"lark","definition":"start: x"}}],"tool_choice":{"type":"custom","name":"p"}}`)
	f.Fuzz(func(t *testing.T, body string) {
		out, err := RequestToOpenAI([]byte(body), ToOpenAIOptions{Model: "x"})
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("error %v does not wrap ErrBadRequest", err)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON %s", out)
		}
	})
}

// FuzzReply: any whole reply either fails or becomes a valid response object.
func FuzzReply(f *testing.F) {
	f.Add(`{"id":"a","choices":[{"index":0,"message":{"role":"assistant","content":"x","tool_calls":[{"id":"c","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"stop"}],"usage":{"prompt_tokens":1}}`)
	f.Add(`{"id":"a","choices":[{"index":0,"message":{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"p","arguments":"{\"input\":\"x\\ny\"}"}}]},"finish_reason":"tool_calls"}]}`)
	f.Fuzz(func(t *testing.T, body string) {
		out, err := ResponseFromOpenAI([]byte(body), ReplyOptions{Model: "m", Custom: []string{"p"}})
		if err == nil && !json.Valid(out) {
			t.Fatalf("invalid JSON %s", out)
		}
	})
}

// FuzzReplyEvents: any whole reply (valid JSON, as the relay has checked) either fails, leaving
// dst as it was, or becomes events of valid JSON data with consecutive sequence numbers.
func FuzzReplyEvents(f *testing.F) {
	f.Add(wholeResponse("completed", `{"id":"m","type":"message","content":[{"type":"output_text","text":"x"},{"type":"refusal"}]},{"type":"reasoning","summary":[{}],"content":[{"type":"reasoning_text"}]}`))
	f.Add(`{"object":"response","output":[{"type":"function_call","arguments":1},{"type":"custom_tool_call","input":null}]}` + "\n")
	f.Fuzz(func(t *testing.T, body string) {
		if !json.Valid([]byte(body)) {
			return
		}
		out, err := ReplyEvents([]byte("x"), []byte(body))
		if err != nil {
			if string(out) != "x" {
				t.Fatalf("dst %q after %v", out, err)
			}
			return
		}
		parse(t, out[1:])
	})
}

// FuzzCustomStream: a custom tool's input, in arguments cut into pieces anywhere between
// runes, comes out whole: what was streamed, then the rest at the end.
func FuzzCustomStream(f *testing.F) {
	f.Add("*** Begin Patch\n+\"x\"\n*** End Patch\n", uint8(3))
	f.Add("\U0001F600\\u", uint8(1))
	f.Fuzz(func(t *testing.T, input string, every uint8) {
		args := `{"input":` + js(input) + `}`
		want := customInput(args)
		runes := []rune(args)
		step := int(every%7) + 1
		var c customStream
		var got []byte
		for i := 0; i < len(runes); i += step {
			piece := js(string(runes[i:min(i+step, len(runes))]))
			got = append(got, c.next([]byte(piece[1:len(piece)-1]))...)
		}
		if got = append(got, c.rest(want)...); string(got) != want {
			t.Fatalf("streamed and rest %q, want %q", got, want)
		}
	})
}
