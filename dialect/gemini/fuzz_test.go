package gemini

import (
	"bytes"
	"encoding/json"
	"testing"
)

func seed(f *testing.F, streams ...[][]byte) {
	for _, s := range streams {
		f.Add(bytes.Join(s, nil))
	}
}

// FuzzStreamToOpenAI: any upstream input, no panic, and the output is always well-formed
// OpenAI SSE (data-only events with JSON data or [DONE]), also after an error.
func FuzzStreamToOpenAI(f *testing.F) {
	seed(f, textStream(), thinkToolStream(), [][]byte{data(`[{"error":{"code":503,"message":"x","status":"UNAVAILABLE"}}]`)})
	f.Add([]byte("data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":{\"a\":\r\n1},\"id\":7,\"args\":[1]},\"thoughtSignature\":\"\\u00e9\"},{\"text\":\"\\ud800\",\"thought\":\"true\"}]},\"finishReason\":3}],\"responseId\":{}}\n\n"))
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
			if _, msg := checkSSE(out); msg != "" {
				t.Fatalf("%s\n%q", msg, out)
			}
		}
	})
}

// FuzzStreamFromOpenAI: any upstream input, no panic, and the output is always well-formed:
// SSE events with JSON data, or (Array) a prefix of a JSON array of objects that the error
// element and "]" turn into a valid JSON array.
func FuzzStreamFromOpenAI(f *testing.F) {
	seed(f, oaToolStream(), [][]byte{data(oaUsage), oaDone}, [][]byte{oaDelta(`{"content":"a"}`), oaFinish("stop")})
	f.Add([]byte("data: {\"id\":{\"x\":\r1},\"model\":[\n],\"choices\":[{\"delta\":{\"tool_calls\":[{\"id\":7,\"function\":{\"name\":null,\"arguments\":\"{\\\"a\\\":\\n1}\"}}]}}]}\n\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, array := range []bool{false, true} {
			tr := NewStreamFromOpenAI(StreamFromOpenAIOptions{Array: array, Model: "m\"\n"})
			var out []byte
			var err error
			for _, e := range splitEvents(in) {
				if out, err = tr.Event(out, e); err != nil {
					break
				}
			}
			if err == nil {
				out, err = tr.Finish(out)
			}
			if err != nil {
				out = tr.AppendError(out, 500, "broken")
			}
			if !array {
				if _, msg := checkSSE(out); msg != "" {
					t.Fatalf("%s\n%q", msg, out)
				}
				continue
			}
			var arr []json.RawMessage
			if len(out) > 0 && json.Unmarshal(out, &arr) != nil {
				t.Fatalf("not a JSON array: %q", out)
			}
		}
	})
}

// FuzzRequests: any body either fails or translates to valid JSON, both ways, and the reply
// translators and the estimate never panic.
func FuzzRequests(f *testing.F) {
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AA"}}]},{"role":"assistant","tool_calls":[{"id":"a__ts_AAAA","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"a__ts_AAAA","content":null}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"required","reasoning_effort":"high","max_tokens":1500,"n":2,"seed":1}`))
	f.Add([]byte(`{"system_instruction":"s","contents":[{"role":"model","parts":[{"function_call":{"name":"f","args":{"a_b":1}},"thought_signature":"AA=="}]},{"parts":[{"function_response":{"name":"f","response":{"x":1}}}]}],"tools":[{"function_declarations":[{"name":"f","parameters":{"type":"OBJECT","nullable":true,"properties":{"p":{"type":["STRING"]}},"anyOf":[{"type":"NUMBER"}]}}]}],"generation_config":{"response_mime_type":"application/json","response_schema":{"type":"ARRAY","items":{"type":"STRING"}},"candidate_count":2,"thinking_config":{"thinking_level":"high"}}}`))
	f.Add([]byte(wholeReply))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, fn := range []func([]byte) ([]byte, error){
			func(b []byte) ([]byte, error) { return RequestFromOpenAI(b, FromOpenAIOptions{}) },
			func(b []byte) ([]byte, error) {
				return RequestToOpenAI(b, ToOpenAIOptions{Model: "m", Stream: true, IncludeUsage: true})
			},
			func(b []byte) ([]byte, error) { return ResponseToOpenAI(b, ReplyOptions{Created: 1}) },
			func(b []byte) ([]byte, error) { return ResponseFromOpenAI(b, ReplyOptions{}) },
		} {
			out, err := fn(body)
			if err == nil && !json.Valid(out) {
				t.Fatalf("invalid JSON %q from %q", out, body)
			}
		}
		_, _ = EstimateTokens(body)
		_ = UsageOf(body)
		_, _ = ParseError(body)
	})
}

// FuzzSignReplayedCalls: a client's body, valid JSON of any shape, stays valid JSON, and only
// grows by whole dummy signature members.
func FuzzSignReplayedCalls(f *testing.F) {
	f.Add([]byte(`{"contents":[{"role":"model","parts":[{"functionCall":{"name":"a"}},{"function_call":{}}]},{"role":"model","parts":[{ }]}]}`))
	f.Add([]byte(`{"contents":{"role":"model"},"functionCall":1}`))
	f.Add([]byte(`{"contents":[{"role":"model","parts":{"functionCall":{}}},{"role":"model","parts":[{"functionCall":null,"thoughtSignature":""}]}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		if !json.Valid(in) {
			return
		}
		out := SignReplayedCalls(in)
		if !json.Valid(out) {
			t.Fatalf("not JSON: %s", out)
		}
		dummy := []byte(`"thoughtSignature":"` + DummySignature + `",`)
		if !bytes.Equal(bytes.ReplaceAll(out, dummy, nil), bytes.ReplaceAll(in, dummy, nil)) {
			t.Fatalf("changed beyond the signatures:\n%s\n%s", in, out)
		}
	})
}
