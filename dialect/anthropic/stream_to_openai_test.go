package anthropic

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	oa "github.com/openai/openai-go/v3"
)

const msgStart = `{"type":"message_start","message":{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":10,"cache_read_input_tokens":100,"output_tokens":1}}}`

func textStream() [][]byte {
	return [][]byte{
		ev("message_start", msgStart),
		ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`),
		ev("ping", `{"type":"ping"}`),
		ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}`),
		ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":", \"wörld\"\n"}}`),
		ev("content_block_stop", `{"type":"content_block_stop","index":0}`),
		ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":12}}`),
		ev("message_stop", `{"type":"message_stop"}`),
	}
}

// thinkToolStream: thinking, then text, then two parallel tool calls whose arguments arrive in
// many pieces.
func thinkToolStream() [][]byte {
	evs := [][]byte{
		ev("message_start", msgStart),
		ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`),
		ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me think."}}`),
		ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM"}}`),
		ev("content_block_stop", `{"type":"content_block_stop","index":0}`),
		ev("content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}`),
		ev("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Checking both."}}`),
		ev("content_block_stop", `{"type":"content_block_stop","index":1}`),
		ev("content_block_start", `{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_A","name":"get_weather","input":{}}}`),
		ev("content_block_delta", `{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}`),
	}
	for _, p := range []string{`{"ci`, `ty": "Pa`, `ris"`, `}`} {
		evs = append(evs, ev("content_block_delta", `{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":`+strconvQuote(p)+`}}`))
	}
	evs = append(evs,
		ev("content_block_stop", `{"type":"content_block_stop","index":2}`),
		ev("content_block_start", `{"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"toolu_B","name":"get_time","input":{}}}`),
		ev("content_block_delta", `{"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"{\"tz\":\"CET\"}"}}`),
		ev("content_block_stop", `{"type":"content_block_stop","index":3}`),
		ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":80}}`),
		ev("message_stop", `{"type":"message_stop"}`),
	)
	return evs
}

func runToOpenAI(t testing.TB, opts StreamToOpenAIOptions, evs [][]byte) ([]byte, error) {
	t.Helper()
	tr := NewStreamToOpenAI(opts)
	var out []byte
	for _, e := range evs {
		var err error
		if out, err = tr.Event(out, e); err != nil {
			return out, err
		}
	}
	return tr.Finish(out)
}

// accumulate decodes the output as openai-go does and accumulates it.
func accumulate(t *testing.T, out []byte) (oa.ChatCompletion, []oa.ChatCompletionChunk) {
	t.Helper()
	var acc oa.ChatCompletionAccumulator
	var chunks []oa.ChatCompletionChunk
	evs := parseSSE(t, out)
	if len(evs) == 0 || evs[len(evs)-1].Data != "[DONE]" {
		t.Fatalf("stream does not end with [DONE]:\n%s", out)
	}
	for _, e := range evs[:len(evs)-1] {
		if e.Name != "" {
			t.Fatalf("OpenAI chunk with an event name: %q", e.Name)
		}
		if strings.Contains(e.Data, `"error"`) {
			t.Fatalf("error key in a chunk: %s", e.Data)
		}
		var c oa.ChatCompletionChunk
		if err := json.Unmarshal([]byte(e.Data), &c); err != nil {
			t.Fatalf("chunk does not decode: %v\n%s", err, e.Data)
		}
		if !acc.AddChunk(c) {
			t.Fatalf("accumulator refused chunk %s", e.Data)
		}
		chunks = append(chunks, c)
	}
	return acc.ChatCompletion, chunks
}

func TestStreamToOpenAIText(t *testing.T) {
	out, err := runToOpenAI(t, StreamToOpenAIOptions{Model: "sonnet", Created: 7}, textStream())
	if err != nil {
		t.Fatal(err)
	}
	evs := parseSSE(t, out)
	want := []string{
		`{"id":"msg_01","object":"chat.completion.chunk","created":7,"model":"sonnet","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":null}]}`,
		`{"id":"msg_01","object":"chat.completion.chunk","created":7,"model":"sonnet","choices":[{"index":0,"delta":{"content":", \"wörld\"\n"},"finish_reason":null}]}`,
		`{"id":"msg_01","object":"chat.completion.chunk","created":7,"model":"sonnet","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
	}
	if len(evs) != len(want)+1 || evs[len(evs)-1].Data != "[DONE]" {
		t.Fatalf("got %d events:\n%s", len(evs), out)
	}
	for i, w := range want {
		jsonEq(t, evs[i].Data, w)
	}
	cc, _ := accumulate(t, out)
	if got := cc.Choices[0].Message.Content; got != "Hello, \"wörld\"\n" {
		t.Errorf("content %q", got)
	}
	if cc.Choices[0].FinishReason != "stop" {
		t.Errorf("finish %q", cc.Choices[0].FinishReason)
	}
}

func TestStreamToOpenAIThinkingTextParallelTools(t *testing.T) {
	out, err := runToOpenAI(t, StreamToOpenAIOptions{Created: 7, IncludeUsage: true}, thinkToolStream())
	if err != nil {
		t.Fatal(err)
	}
	cc, chunks := accumulate(t, out)
	m := cc.Choices[0].Message
	if m.Content != "Checking both." {
		t.Errorf("content %q", m.Content)
	}
	if len(m.ToolCalls) != 2 {
		t.Fatalf("tool calls %+v", m.ToolCalls)
	}
	for i, w := range []struct{ id, name, args string }{{"toolu_A", "get_weather", `{"city": "Paris"}`}, {"toolu_B", "get_time", `{"tz":"CET"}`}} {
		tc := m.ToolCalls[i]
		if tc.ID != w.id || tc.Function.Name != w.name || tc.Function.Arguments != w.args {
			t.Errorf("tool %d = %+v, want %+v", i, tc, w)
		}
	}
	if cc.Choices[0].FinishReason != "tool_calls" {
		t.Errorf("finish %q", cc.Choices[0].FinishReason)
	}
	// Reasoning is not in openai-go's accumulator: check the chunks.
	var reasoning strings.Builder
	finishes := 0
	for i, c := range chunks {
		if len(c.Choices) == 0 {
			continue
		}
		if r, ok := c.Choices[0].Delta.JSON.ExtraFields["reasoning_content"]; ok {
			var s string
			_ = json.Unmarshal([]byte(r.Raw()), &s)
			reasoning.WriteString(s)
		}
		if c.Choices[0].FinishReason != "" {
			finishes++
			if i != len(chunks)-2 {
				t.Errorf("finish_reason on chunk %d of %d", i, len(chunks))
			}
		}
		if (c.Choices[0].Delta.Role != "") != (i == 0) {
			t.Errorf("role on chunk %d: %q", i, c.Choices[0].Delta.Role)
		}
		for _, tc := range c.Choices[0].Delta.ToolCalls {
			if tc.Index != 0 && tc.Index != 1 {
				t.Errorf("tool index %d (shifted by the thinking or text block?)", tc.Index)
			}
		}
	}
	if reasoning.String() != "Let me think." {
		t.Errorf("reasoning %q", reasoning.String())
	}
	if finishes != 1 {
		t.Errorf("%d chunks with finish_reason", finishes)
	}
	last := chunks[len(chunks)-1]
	if len(last.Choices) != 0 {
		t.Errorf("usage chunk has choices")
	}
	u := last.Usage
	if u.PromptTokens != 135 || u.CompletionTokens != 80 || u.TotalTokens != 215 || u.PromptTokensDetails.CachedTokens != 100 {
		t.Errorf("usage %+v", u)
	}
	if !strings.Contains(string(out), `"cache_write_tokens":10`) {
		t.Errorf("cache writes lost")
	}
	if strings.Contains(string(out), "EqQBCgIYAhIM") {
		t.Errorf("signature leaked to an OpenAI client")
	}
}

func TestStreamToOpenAINoUsageUnlessAsked(t *testing.T) {
	out, err := runToOpenAI(t, StreamToOpenAIOptions{}, textStream())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), `"usage"`) {
		t.Errorf("usage chunk without include_usage:\n%s", out)
	}
}

func TestStreamToOpenAIEmptyReply(t *testing.T) {
	out, err := runToOpenAI(t, StreamToOpenAIOptions{Created: 1}, [][]byte{
		ev("message_start", msgStart),
		ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":0}}`),
		ev("message_stop", `{"type":"message_stop"}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	evs := parseSSE(t, out)
	jsonEq(t, evs[0].Data, `{"id":"msg_01","object":"chat.completion.chunk","created":1,"model":"claude-sonnet-4-5","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":"length"}]}`)
}

func TestStreamToOpenAIErrorEvent(t *testing.T) {
	tr := NewStreamToOpenAI(StreamToOpenAIOptions{})
	out, err := tr.Event(nil, ev("message_start", msgStart))
	if err != nil || len(out) != 0 {
		t.Fatalf("message_start wrote %q, %v: nothing may be written before content", out, err)
	}
	out, err = tr.Event(out, ev("error", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`))
	var ae *Error
	if !errors.As(err, &ae) || ae.Type != ErrOverloaded || ae.Message != "Overloaded" {
		t.Fatalf("err = %v", err)
	}
	if len(out) != 0 {
		t.Fatalf("wrote %q", out)
	}
	if !Retryable(ae.Type) {
		t.Errorf("overloaded_error must be retryable")
	}
}

func TestStreamToOpenAICut(t *testing.T) {
	evs := textStream()
	for _, cut := range []int{0, 1, 4, len(evs) - 1} {
		out, err := runToOpenAI(t, StreamToOpenAIOptions{}, evs[:cut])
		if !errors.Is(err, ErrIncomplete) {
			t.Errorf("cut at %d: err = %v", cut, err)
		}
		parseSSE(t, out)
		if strings.Contains(string(out), "[DONE]") {
			t.Errorf("cut at %d: [DONE] written", cut)
		}
	}
}

func TestStreamToOpenAIMalformed(t *testing.T) {
	for _, e := range [][]byte{
		ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"`),
		ev("content_block_delta", `{"type":"content_block_delta","index":99999999,"delta":{"type":"text_delta","text":"x"}}`),
		ev("content_block_delta", `{"type":"content_block_delta","delta":{"type":"text_delta","text":"x"}}`),
	} {
		tr := NewStreamToOpenAI(StreamToOpenAIOptions{})
		if _, err := tr.Event(nil, e); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v", e, err)
		}
	}
}

func TestFinishReasonMapping(t *testing.T) {
	for in, want := range map[string]string{
		"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "max_tokens": "length",
		"model_context_window_exceeded": "length", "tool_use": "tool_calls", "refusal": "content_filter",
		"": "stop", "something_new": "stop",
	} {
		if got := FinishReason(in); got != want {
			t.Errorf("FinishReason(%q) = %q, want %q", in, got, want)
		}
	}
	for _, tc := range []struct {
		in    string
		tools bool
		want  string
	}{
		{"stop", false, "end_turn"}, {"stop", true, "tool_use"}, {"length", false, "max_tokens"},
		{"tool_calls", false, "tool_use"}, {"function_call", false, "tool_use"},
		{"content_filter", false, "refusal"}, {"", false, "end_turn"},
	} {
		if got := StopReason(tc.in, tc.tools); got != tc.want {
			t.Errorf("StopReason(%q, %v) = %q, want %q", tc.in, tc.tools, got, tc.want)
		}
	}
}

// message_start and message_stop with nothing between them that counts are no answer at all
// (an empty one has its stop reason, TestStreamToOpenAIEmptyReply), which translated would
// read as an empty "stop": ErrEmpty, with nothing written.
func TestStreamToOpenAINoAnswer(t *testing.T) {
	stop := ev("message_stop", `{"type":"message_stop"}`)
	for name, evs := range map[string][][]byte{
		"start and stop": {ev("message_start", msgStart), stop},
		"a ping and an empty block": {ev("message_start", msgStart), ev("ping", `{"type":"ping"}`),
			ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`),
			ev("content_block_stop", `{"type":"content_block_stop","index":0}`), stop},
	} {
		if out, err := runToOpenAI(t, StreamToOpenAIOptions{}, evs); !errors.Is(err, ErrEmpty) || len(out) != 0 {
			t.Errorf("%s: err %v, wrote %q; want ErrEmpty and nothing", name, err, out)
		}
	}
}
