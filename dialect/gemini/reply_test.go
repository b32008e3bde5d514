package gemini

import (
	"encoding/json"
	"strings"
	"testing"

	oa "github.com/openai/openai-go/v3"
)

const wholeReply = `{"candidates":[{"content":{"parts":[{"text":"Let me think.","thought":true},{"text":"Checking both."},
	{"functionCall":{"name":"get_weather","args":{"city": "Paris"}},"thoughtSignature":"` + sigA + `"},
	{"functionCall":{"name":"get_time","args":{"tz":"CET"}}},{"text":"","thoughtSignature":"AAAA"}],"role":"model"},"finishReason":"STOP","index":0}],
	"usageMetadata":{"promptTokenCount":100,"candidatesTokenCount":22,"thoughtsTokenCount":20,"cachedContentTokenCount":40,"totalTokenCount":142},
	"modelVersion":"gemini-3-pro","responseId":"r2"}`

func TestResponseToOpenAI(t *testing.T) {
	got, err := ResponseToOpenAI([]byte(wholeReply), ReplyOptions{Model: "pro", Created: 7})
	if err != nil {
		t.Fatal(err)
	}
	id0 := ToolID(callID("r2", "get_weather", []byte(`{"city":"Paris"}`), 0), sigA)
	id1 := callID("r2", "get_time", []byte(`{"tz":"CET"}`), 1)
	jsonEq(t, string(got), `{"id":"r2","object":"chat.completion","created":7,"model":"pro","choices":[{"index":0,"message":{"role":"assistant","content":"Checking both.","reasoning_content":"Let me think.",
		"tool_calls":[{"id":"`+id0+`","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
		{"id":"`+id1+`","type":"function","function":{"name":"get_time","arguments":"{\"tz\":\"CET\"}"}}]},"finish_reason":"tool_calls"}],
		"usage":{"prompt_tokens":100,"completion_tokens":42,"total_tokens":142,"prompt_tokens_details":{"cached_tokens":40},"completion_tokens_details":{"reasoning_tokens":20}}}`)

	for _, c := range []struct{ name, in, want string }{
		{"blocked prompt", `{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"},"usageMetadata":{"promptTokenCount":5,"totalTokenCount":5}}`,
			`{"id":"x","object":"chat.completion","created":7,"model":"","choices":[{"index":0,"message":{"role":"assistant","content":""},"finish_reason":"content_filter"}],"usage":{"prompt_tokens":5,"completion_tokens":0,"total_tokens":5}}`},
		{"two candidates, own id, no args", `{"responseId":"x","candidates":[{"content":{"parts":[{"text":"a"}]},"finishReason":"MAX_TOKENS","index":0},{"content":{"parts":[{"functionCall":{"id":"fc1","name":"f"}}]},"finishReason":"STOP","index":1}]}`,
			`{"id":"x","object":"chat.completion","created":7,"model":"","choices":[{"index":0,"message":{"role":"assistant","content":"a"},"finish_reason":"length"},{"index":1,"message":{"role":"assistant","tool_calls":[{"id":"fc1","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ResponseToOpenAI([]byte(c.in), ReplyOptions{Created: 7})
			if err != nil {
				t.Fatal(err)
			}
			var v map[string]any
			_ = json.Unmarshal(got, &v)
			v["id"] = "x"
			b, _ := json.Marshal(v)
			jsonEq(t, string(b), c.want)
		})
	}
	for _, bad := range []string{`{}`, `[]`, `nope`, `{"error":{"code":1}}`} {
		if _, err := ResponseToOpenAI([]byte(bad), ReplyOptions{}); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestResponseFromOpenAI(t *testing.T) {
	id := ToolID("call_9", sigA)
	in := `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Sure.","reasoning_content":"hmm",
		"tool_calls":[{"id":"` + id + `","type":"function","function":{"name":"f","arguments":"{\"a\": 1}"}},{"id":"call_10","type":"function","function":{"name":"g","arguments":"oops"}}]},"finish_reason":"tool_calls"}],
		"usage":{"prompt_tokens":50,"completion_tokens":30,"total_tokens":80,"prompt_tokens_details":{"cached_tokens":10},"completion_tokens_details":{"reasoning_tokens":12}}}`
	got, err := ResponseFromOpenAI([]byte(in), ReplyOptions{Model: "gemini-x"})
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, string(got), `{"candidates":[{"content":{"role":"model","parts":[{"text":"hmm","thought":true},{"text":"Sure."},
		{"functionCall":{"id":"call_9","name":"f","args":{"a":1}},"thoughtSignature":"`+sigA+`"},{"functionCall":{"id":"call_10","name":"g","args":{}}}]},"finishReason":"STOP","index":0}],
		"usageMetadata":{"promptTokenCount":50,"candidatesTokenCount":18,"thoughtsTokenCount":12,"cachedContentTokenCount":10,"totalTokenCount":80},"modelVersion":"gemini-x","responseId":"chatcmpl-1"}`)

	got, err = ResponseFromOpenAI([]byte(`{"id":"c","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":""},"finish_reason":"length"}]}`), ReplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, string(got), `{"candidates":[{"content":{"role":"model","parts":[{"text":""}]},"finishReason":"MAX_TOKENS","index":0}],"usageMetadata":{"promptTokenCount":0,"totalTokenCount":0},"modelVersion":"m","responseId":"c"}`)
	// n > 1: every choice a candidate, in index order; an empty one keeps its empty text part.
	got, err = ResponseFromOpenAI([]byte(`{"id":"c","model":"m","choices":[{"index":1,"message":{"role":"assistant","content":""},"finish_reason":"content_filter"},`+
		`{"index":0,"message":{"role":"assistant","content":"A"},"finish_reason":"stop"}]}`), ReplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, string(got), `{"candidates":[{"content":{"role":"model","parts":[{"text":"A"}]},"finishReason":"STOP","index":0},`+
		`{"content":{"role":"model","parts":[{"text":""}]},"finishReason":"SAFETY","index":1}],"usageMetadata":{"promptTokenCount":0,"totalTokenCount":0},"modelVersion":"m","responseId":"c"}`)
	if _, err := ResponseFromOpenAI([]byte(`{"choices":[]}`), ReplyOptions{}); err == nil {
		t.Fatal("no choices: no error")
	}
}

// A whole reply and the same reply streamed reach the client alike.
func TestWholeAndStreamedAgree(t *testing.T) {
	got, err := ResponseToOpenAI([]byte(wholeReply), ReplyOptions{Created: 7})
	if err != nil {
		t.Fatal(err)
	}
	var w oa.ChatCompletion
	if err := json.Unmarshal(got, &w); err != nil {
		t.Fatal(err)
	}
	out, err := run(NewStreamToOpenAI(StreamToOpenAIOptions{Created: 7, IncludeUsage: true}), thinkToolStream())
	if err != nil {
		t.Fatal(err)
	}
	s, _ := accumulate(t, out)
	wm, sm := w.Choices[0].Message, s.Choices[0].Message
	if wm.Content != sm.Content || len(wm.ToolCalls) != len(sm.ToolCalls) || w.Choices[0].FinishReason != s.Choices[0].FinishReason ||
		w.Usage.PromptTokens != s.Usage.PromptTokens || w.Usage.CompletionTokens != s.Usage.CompletionTokens || w.ID != s.ID || w.Model != s.Model {
		t.Fatalf("whole %+v\nstream %+v", w, s)
	}
	for i := range wm.ToolCalls {
		if wm.ToolCalls[i].ID != sm.ToolCalls[i].ID || wm.ToolCalls[i].Function.Arguments != sm.ToolCalls[i].Function.Arguments {
			t.Errorf("tool %d: %+v vs %+v", i, wm.ToolCalls[i], sm.ToolCalls[i])
		}
	}
	if !strings.Contains(string(got), `"reasoning_content":"Let me think."`) {
		t.Error("whole reply lost the thoughts")
	}
}

func TestFinishReasonMapping(t *testing.T) {
	for _, c := range []struct {
		in     string
		called bool
		want   string
	}{
		{"STOP", false, "stop"}, {"STOP", true, "tool_calls"}, {"MAX_TOKENS", true, "length"},
		{"SAFETY", true, "content_filter"}, {"RECITATION", false, "content_filter"}, {"PROHIBITED_CONTENT", false, "content_filter"},
		{"BLOCKLIST", false, "content_filter"}, {"SPII", false, "content_filter"}, {"IMAGE_SAFETY", true, "content_filter"},
		{"LANGUAGE", false, "content_filter"}, {"MALFORMED_FUNCTION_CALL", false, "stop"}, {"MALFORMED_FUNCTION_CALL", true, "tool_calls"},
		{"OTHER", false, "stop"}, {"", false, "stop"}, {"FINISH_REASON_UNSPECIFIED", true, "tool_calls"},
	} {
		if got := FinishReason(c.in, c.called); got != c.want {
			t.Errorf("FinishReason(%q, %v) = %q, want %q", c.in, c.called, got, c.want)
		}
	}
	for in, want := range map[string]string{"stop": "STOP", "tool_calls": "STOP", "length": "MAX_TOKENS", "content_filter": "SAFETY", "": "STOP", "weird": "OTHER"} {
		if got := FinishReasonFromOpenAI(in); got != want {
			t.Errorf("FinishReasonFromOpenAI(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestDropSignatures: for a pool that may replay ids to OpenAI, neither the whole reply nor
// the stream puts the thought signature into a tool call id.
func TestDropSignatures(t *testing.T) {
	const reply = `{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"f","args":{}},"thoughtSignature":"c2lnbmF0dXJl"}]},"finishReason":"STOP","index":0}]}`
	for _, drop := range []bool{false, true} {
		whole, err := ResponseToOpenAI([]byte(reply), ReplyOptions{DropSignatures: drop})
		if err != nil {
			t.Fatal(err)
		}
		tr := NewStreamToOpenAI(StreamToOpenAIOptions{DropSignatures: drop})
		streamed, err := tr.Event(nil, []byte("data: "+reply+"\n\n"))
		if err != nil {
			t.Fatal(err)
		}
		for what, out := range map[string][]byte{"whole": whole, "stream": streamed} {
			if got := strings.Contains(string(out), SignatureMarker); got == drop {
				t.Errorf("%s, DropSignatures %v: signature in the id %v: %s", what, drop, got, out)
			}
		}
	}
}

// TestReplyChunk: a whole reply is its stream's one event, compacted onto one data line and
// otherwise as it came (thought parts and every signature kept), which a Passthrough relays or
// frames as the JSON array; a reply that is no stream's end, or no object, is refused.
func TestReplyChunk(t *testing.T) {
	const reply = `{
  "candidates": [{"content": {"role": "model", "parts": [
    {"text": "Think.", "thought": true, "thoughtSignature": "c2ln"},
    {"text": "Hi\n", "thoughtSignature": "c2lnMg=="}]}, "finishReason": "STOP", "index": 0}],
  "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5}
}`
	const compacted = `{"candidates":[{"content":{"role":"model","parts":[{"text":"Think.","thought":true,"thoughtSignature":"c2ln"},` +
		`{"text":"Hi\n","thoughtSignature":"c2lnMg=="}]},"finishReason":"STOP","index":0}],` +
		`"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2,"totalTokenCount":5}}`
	out, ok := ReplyChunk([]byte("x"), []byte(reply))
	if !ok || string(out) != "x"+"data: "+compacted+"\n\n" {
		t.Fatalf("ok %v: %q", ok, out)
	}
	for _, array := range []bool{false, true} {
		p := NewPassthrough(array)
		got, err := p.Event(nil, out[1:])
		if err == nil {
			got, err = p.Finish(got)
		}
		want := "data: " + compacted + "\n\n"
		if array {
			want = "[" + compacted + "]"
		}
		if err != nil || string(got) != want || p.Usage().TotalTokens != 5 {
			t.Errorf("array %v: %q, %v, usage %+v", array, got, err, p.Usage())
		}
	}
	if _, ok := ReplyChunk(nil, []byte(`{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":3}}`)); !ok {
		t.Error("a blocked prompt is refused")
	}
	for _, bad := range []string{``, `[{"candidates":[]}]`, `{"candidates":[{"content":{"parts":[{"text":"cut"}]}}]}`, `{"candidates":`} {
		if out, ok := ReplyChunk([]byte("x"), []byte(bad)); ok || string(out) != "x" {
			t.Errorf("%s: ok %v, %q", bad, ok, out)
		}
	}
}
