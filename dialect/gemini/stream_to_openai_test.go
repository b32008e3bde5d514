package gemini

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	oa "github.com/openai/openai-go/v3"
)

const sigA = "CiQBjz1rX8Yk+/abc=="

func textStream() [][]byte {
	return [][]byte{
		data(`{"candidates":[{"content":{"parts":[{"text":"Hello"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":1,"totalTokenCount":11},"modelVersion":"gemini-2.5-flash","responseId":"resp1"}`),
		data(`{"candidates":[{"content":{"parts":[{"text":", \"wörld\"\n"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"totalTokenCount":15},"modelVersion":"gemini-2.5-flash","responseId":"resp1"}`),
	}
}

// thinkToolStream: thoughts, text, two parallel calls in separate chunks (only the first
// signed, as Gemini 3 does), and the STOP in a chunk of its own with an empty signed text part.
func thinkToolStream() [][]byte {
	u := func(c, th int) string {
		return `,"usageMetadata":{"promptTokenCount":100,"candidatesTokenCount":` + itoa(c) + `,"thoughtsTokenCount":` + itoa(th) + `,"cachedContentTokenCount":40,"totalTokenCount":` + itoa(100+c+th) + `},"modelVersion":"gemini-3-pro","responseId":"r2"}`
	}
	return [][]byte{
		data(`{"candidates":[{"content":{"parts":[{"text":"Let me think.","thought":true}],"role":"model"},"index":0}]` + u(0, 20)),
		data(`{"candidates":[{"content":{"parts":[{"text":"Checking both."}],"role":"model"},"index":0}]` + u(3, 20)),
		data(`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"get_weather","args":{"city": "Paris"}},"thoughtSignature":"` + sigA + `"}],"role":"model"},"index":0}]` + u(10, 20)),
		data(`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"get_time","args":{"tz":"CET"}}}],"role":"model"},"index":0}]` + u(20, 20)),
		data(`{"candidates":[{"content":{"parts":[{"text":"","thoughtSignature":"AAAA"}],"role":"model"},"finishReason":"STOP","index":0}]` + u(22, 20)),
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// accumulate decodes the output as openai-go does and accumulates it.
func accumulate(t *testing.T, out []byte) (oa.ChatCompletion, []oa.ChatCompletionChunk) {
	t.Helper()
	var acc oa.ChatCompletionAccumulator
	var chunks []oa.ChatCompletionChunk
	evs := parseSSE(t, out)
	if len(evs) == 0 || evs[len(evs)-1] != "[DONE]" {
		t.Fatalf("stream does not end with [DONE]:\n%s", out)
	}
	for _, e := range evs[:len(evs)-1] {
		if strings.Contains(e, `"error"`) {
			t.Fatalf("error key in a chunk: %s", e)
		}
		var c oa.ChatCompletionChunk
		if err := json.Unmarshal([]byte(e), &c); err != nil {
			t.Fatalf("chunk does not decode: %v\n%s", err, e)
		}
		if !acc.AddChunk(c) {
			t.Fatalf("accumulator refused chunk %s", e)
		}
		chunks = append(chunks, c)
	}
	return acc.ChatCompletion, chunks
}

func TestStreamToOpenAIText(t *testing.T) {
	out, err := run(NewStreamToOpenAI(StreamToOpenAIOptions{Model: "flash", Created: 7}), textStream())
	if err != nil {
		t.Fatal(err)
	}
	evs := parseSSE(t, out)
	want := []string{
		`{"id":"resp1","object":"chat.completion.chunk","created":7,"model":"flash","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":null}]}`,
		`{"id":"resp1","object":"chat.completion.chunk","created":7,"model":"flash","choices":[{"index":0,"delta":{"content":", \"wörld\"\n"},"finish_reason":null}]}`,
		`{"id":"resp1","object":"chat.completion.chunk","created":7,"model":"flash","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
		`[DONE]`,
	}
	if len(evs) != len(want) {
		t.Fatalf("got %d events:\n%s", len(evs), out)
	}
	for i := range want {
		if evs[i] != want[i] {
			t.Errorf("event %d\n got %s\nwant %s", i, evs[i], want[i])
		}
	}
}

func TestStreamToOpenAIThoughtsAndParallelTools(t *testing.T) {
	tr := NewStreamToOpenAI(StreamToOpenAIOptions{Created: 7, IncludeUsage: true})
	out, err := run(tr, thinkToolStream())
	if err != nil {
		t.Fatal(err)
	}
	c, chunks := accumulate(t, out)
	m := c.Choices[0].Message
	if m.Content != "Checking both." || c.Model != "gemini-3-pro" {
		t.Fatalf("content %q model %q", m.Content, c.Model)
	}
	if !strings.Contains(string(out), `"reasoning_content":"Let me think."`) {
		t.Fatalf("no reasoning delta:\n%s", out)
	}
	if len(m.ToolCalls) != 2 || m.ToolCalls[0].Function.Name != "get_weather" || m.ToolCalls[1].Function.Name != "get_time" {
		t.Fatalf("tool calls %+v", m.ToolCalls)
	}
	jsonEq(t, m.ToolCalls[0].Function.Arguments, `{"city":"Paris"}`)
	if m.ToolCalls[0].Function.Arguments != `{"city":"Paris"}` {
		t.Errorf("arguments not compact: %q", m.ToolCalls[0].Function.Arguments)
	}
	if b, s := SplitToolID(m.ToolCalls[0].ID); s != sigA || !strings.HasPrefix(b, "call_") {
		t.Errorf("first id %q", m.ToolCalls[0].ID)
	}
	if _, s := SplitToolID(m.ToolCalls[1].ID); s != "" || m.ToolCalls[0].ID == m.ToolCalls[1].ID {
		t.Errorf("second id %q", m.ToolCalls[1].ID)
	}
	finishes := 0
	for i, ch := range chunks {
		for _, cc := range ch.Choices {
			if cc.FinishReason != "" {
				finishes++
				if i != len(chunks)-2 || cc.FinishReason != "tool_calls" {
					t.Errorf("finish %q on chunk %d of %d", cc.FinishReason, i, len(chunks))
				}
			}
			for _, tc := range cc.Delta.ToolCalls {
				if tc.Index > 1 {
					t.Errorf("tool index %d", tc.Index)
				}
			}
		}
	}
	if finishes != 1 {
		t.Fatalf("%d finish reasons", finishes)
	}
	if u := c.Usage; u.PromptTokens != 100 || u.CompletionTokens != 42 || u.TotalTokens != 142 ||
		u.PromptTokensDetails.CachedTokens != 40 || u.CompletionTokensDetails.ReasoningTokens != 20 {
		t.Fatalf("usage %+v", u)
	}
	if u := tr.Usage(); u.CompletionTokens != 42 || !tr.Done() {
		t.Fatalf("translator usage %+v done %v", u, tr.Done())
	}
}

func TestStreamToOpenAIFinishReasons(t *testing.T) {
	call := data(`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f"}}],"role":"model"},"index":0}]}`)
	for _, c := range []struct {
		name string
		evs  [][]byte
		want string
	}{
		{"safety after a tool call", [][]byte{call, data(`{"candidates":[{"finishReason":"SAFETY","index":0}]}`)}, "content_filter"},
		{"max tokens", [][]byte{data(`{"candidates":[{"content":{"parts":[{"text":"a"}]},"finishReason":"MAX_TOKENS"}]}`)}, "length"},
		{"malformed call", [][]byte{data(`{"candidates":[{"finishReason":"MALFORMED_FUNCTION_CALL"}]}`)}, "stop"},
		{"stop with the call", [][]byte{data(`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{}}}]},"finishReason":"STOP"}]}`)}, "tool_calls"},
		{"blocked prompt", [][]byte{data(`{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":3,"totalTokenCount":3}}`)}, "content_filter"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := run(NewStreamToOpenAI(StreamToOpenAIOptions{Created: 1}), c.evs)
			if err != nil {
				t.Fatal(err)
			}
			r, _ := accumulate(t, out)
			if r.Choices[0].FinishReason != c.want {
				t.Fatalf("finish %q, want %q\n%s", r.Choices[0].FinishReason, c.want, out)
			}
		})
	}
}

// A stream that finishes without content is still a valid stream: the final chunk carries the
// role, then usage, [DONE].
func TestStreamToOpenAIEmpty(t *testing.T) {
	out, err := run(NewStreamToOpenAI(StreamToOpenAIOptions{Created: 1, IncludeUsage: true}), [][]byte{
		data(`{"candidates":[{"content":{"parts":[{"text":""}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":3}}`),
		data(`{"candidates":[{"content":{"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":3,"totalTokenCount":3}}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	evs := parseSSE(t, out)
	if len(evs) != 3 || !strings.Contains(evs[0], `"role":"assistant","content":""},"finish_reason":"stop"`) || !strings.Contains(evs[1], `"prompt_tokens":3`) {
		t.Fatalf("%s", out)
	}
	accumulate(t, out)
}

func TestStreamToOpenAINothingBeforeContent(t *testing.T) {
	tr := NewStreamToOpenAI(StreamToOpenAIOptions{})
	for _, e := range [][]byte{
		data(`{"candidates":[{"content":{"parts":[{"text":""}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":3}}`),
		[]byte(": keepalive\n\n"),
		data(`{"usageMetadata":{"promptTokenCount":3}}`),
	} {
		out, err := tr.Event(nil, e)
		if err != nil || len(out) > 0 {
			t.Fatalf("wrote %q (%v) before content", out, err)
		}
	}
	if out, err := tr.Event(nil, data(`{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"7s"}]}}`)); len(out) > 0 || err == nil {
		t.Fatalf("error event: %q %v", out, err)
	} else {
		var e *Error
		if !errors.As(err, &e) || e.Code != 429 || e.Status != StatusResourceExhausted || e.RetryDelay.Seconds() != 7 || FaultOf(*e) != FaultRateLimit {
			t.Fatalf("error %#v", err)
		}
	}
}

func TestStreamToOpenAIErrorsAndCut(t *testing.T) {
	// An error in an array, as Gemini's streaming endpoint sends it.
	_, err := run(NewStreamToOpenAI(StreamToOpenAIOptions{}), [][]byte{data(`[{"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}]`)})
	var e *Error
	if !errors.As(err, &e) || e.Status != StatusUnavailable || !Retryable(*e) {
		t.Fatalf("array error: %v", err)
	}
	// Cut after content: Finish says so.
	out, err := run(NewStreamToOpenAI(StreamToOpenAIOptions{}), append(textStream()[:1], data("[DONE]")))
	if !errors.Is(err, ErrIncomplete) || len(parseSSE(t, out)) != 1 {
		t.Fatalf("cut: %v\n%s", err, out)
	}
	for _, bad := range []string{`{"candidates":[`, `"text"`, `[1]`, `12`} {
		if _, err := run(NewStreamToOpenAI(StreamToOpenAIOptions{}), [][]byte{data(bad)}); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", bad, err)
		}
	}
	// Events after the finish are ignored.
	tr := NewStreamToOpenAI(StreamToOpenAIOptions{})
	out, _ = run(tr, append(textStream(), textStream()...))
	if strings.Count(string(out), "[DONE]") != 1 {
		t.Fatalf("after finish:\n%s", out)
	}
}

// Only candidate 0 is translated.
func TestStreamToOpenAICandidateZero(t *testing.T) {
	out, err := run(NewStreamToOpenAI(StreamToOpenAIOptions{}), [][]byte{
		data(`{"candidates":[{"content":{"parts":[{"text":"one"}]},"index":1},{"content":{"parts":[{"text":"zero"}]},"index":0,"finishReason":"STOP"}]}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := accumulate(t, out)
	if r.Choices[0].Message.Content != "zero" {
		t.Fatalf("%s", out)
	}
}
