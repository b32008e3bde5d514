package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/packages/ssestream"
)

const oaHead = `"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"gpt-4o"`

func oaDelta(delta string) []byte {
	return chunk(`{` + oaHead + `,"choices":[{"index":0,"delta":` + delta + `,"finish_reason":null}]}`)
}

func oaFinish(reason string) []byte {
	return chunk(`{` + oaHead + `,"choices":[{"index":0,"delta":{},"finish_reason":"` + reason + `"}]}`)
}

const oaUsage = `{` + oaHead + `,"choices":[],"usage":{"prompt_tokens":120,"completion_tokens":30,"total_tokens":150,"prompt_tokens_details":{"cached_tokens":100}}}`

var oaDone = chunk("[DONE]")

func oaTextStream() [][]byte {
	return [][]byte{
		oaDelta(`{"role":"assistant","content":""}`),
		oaDelta(`{"content":"Hel"}`),
		oaDelta(`{"content":"lo \"there\"\n"}`),
		oaFinish("stop"),
		chunk(oaUsage),
		oaDone,
	}
}

// oaThinkToolStream: reasoning, text, then two parallel tool calls with arguments in pieces, a
// finish_reason "stop" (as Gemini's compatible endpoint sends) and a usage-only chunk.
func oaThinkToolStream() [][]byte {
	evs := [][]byte{
		oaDelta(`{"role":"assistant","reasoning_content":"Think"}`),
		oaDelta(`{"reasoning_content":"ing."}`),
		oaDelta(`{"content":"Both."}`),
		oaDelta(`{"tool_calls":[{"index":0,"id":"call_A","type":"function","function":{"name":"get_weather","arguments":""}}]}`),
	}
	for _, p := range []string{`{"ci`, `ty":`, ` "Paris"`, `}`} {
		evs = append(evs, oaDelta(`{"tool_calls":[{"index":0,"function":{"arguments":`+strconvQuote(p)+`}}]}`))
	}
	evs = append(evs,
		oaDelta(`{"tool_calls":[{"index":1,"id":"functions.get_time:1","type":"function","function":{"name":"get_time","arguments":"{\"tz\":"}}]}`),
		oaDelta(`{"tool_calls":[{"index":1,"function":{"arguments":"\"CET\"}"}}]}`),
		oaFinish("stop"),
		chunk(oaUsage),
		oaDone,
	)
	return evs
}

func runFromOpenAI(t testing.TB, opts StreamFromOpenAIOptions, evs [][]byte) ([]byte, error) {
	t.Helper()
	tr := NewStreamFromOpenAI(opts)
	var out []byte
	for _, e := range evs {
		var err error
		if out, err = tr.Event(out, e); err != nil {
			return out, err
		}
	}
	return tr.Finish(out)
}

// sdkAccumulate decodes the output with anthropic-sdk-go's SSE decoder and accumulates it as
// the SDK's users do; it fails on any error the SDK reports.
func sdkAccumulate(t *testing.T, out []byte) sdk.Message {
	t.Helper()
	res := &http.Response{Header: http.Header{"Content-Type": {"text/event-stream"}}, Body: io.NopCloser(bytes.NewReader(out))}
	st := ssestream.NewStream[sdk.MessageStreamEventUnion](ssestream.NewDecoder(res), nil)
	var msg sdk.Message
	n := 0
	for st.Next() {
		if err := msg.Accumulate(st.Current()); err != nil {
			t.Fatalf("accumulate: %v\n%s", err, out)
		}
		n++
	}
	if err := st.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	if n == 0 {
		t.Fatalf("SDK saw no events:\n%s", out)
	}
	return msg
}

// checkAnthropicShape checks the event grammar: names match data types, message_start first,
// message_stop last, each delta matches its open block's type and index, blocks start in index
// order and one at a time.
func checkAnthropicShape(t *testing.T, out []byte) {
	t.Helper()
	evs := parseSSE(t, out)
	open, next := -1, 0
	openType := ""
	for i, e := range evs {
		var d struct {
			Type         string `json:"type"`
			Index        *int   `json:"index"`
			ContentBlock struct {
				Type string `json:"type"`
			} `json:"content_block"`
			Delta struct {
				Type string `json:"type"`
			} `json:"delta"`
			Message struct {
				Usage map[string]json.RawMessage `json:"usage"`
			} `json:"message"`
		}
		if err := json.Unmarshal([]byte(e.Data), &d); err != nil {
			t.Fatal(err)
		}
		if e.Name == "" || e.Name != d.Type {
			t.Fatalf("event %d: name %q, data type %q", i, e.Name, d.Type)
		}
		switch {
		case i == 0 && d.Type != "message_start":
			t.Fatalf("first event %q", d.Type)
		case i == len(evs)-1 && d.Type != "message_stop":
			t.Fatalf("last event %q", d.Type)
		}
		switch d.Type {
		case "message_start":
			for _, k := range []string{"input_tokens", "cache_creation", "output_tokens"} {
				if _, ok := d.Message.Usage[k]; !ok {
					t.Errorf("message_start usage lacks %s", k)
				}
			}
		case "content_block_start":
			if open >= 0 || *d.Index != next {
				t.Fatalf("event %d: start of %d while %d open, next %d", i, *d.Index, open, next)
			}
			open, openType = next, d.ContentBlock.Type
			next++
		case "content_block_delta":
			want := map[string]string{"text": "text_delta", "thinking": "thinking_delta", "tool_use": "input_json_delta"}[openType]
			if *d.Index != open || d.Delta.Type != want {
				t.Fatalf("event %d: %s at %d, open %d is %s", i, d.Delta.Type, *d.Index, open, openType)
			}
		case "content_block_stop":
			if *d.Index != open {
				t.Fatalf("event %d: stop %d, open %d", i, *d.Index, open)
			}
			open = -1
		case "message_delta":
			if open >= 0 {
				t.Fatalf("message_delta with block %d open", open)
			}
		}
	}
}

func TestStreamFromOpenAIText(t *testing.T) {
	out, err := runFromOpenAI(t, StreamFromOpenAIOptions{Model: "claude-sonnet", InputTokens: 7}, oaTextStream())
	if err != nil {
		t.Fatal(err)
	}
	checkAnthropicShape(t, out)
	evs := parseSSE(t, out)
	jsonEq(t, evs[0].Data, `{"type":"message_start","message":{"id":"msg_chatcmpl-9","type":"message","role":"assistant","model":"claude-sonnet","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":7,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0},"output_tokens":0}}}`)
	jsonEq(t, evs[1].Data, `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
	jsonEq(t, evs[2].Data, `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}`)
	jsonEq(t, evs[len(evs)-2].Data, `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":20,"output_tokens":30,"cache_creation_input_tokens":0,"cache_read_input_tokens":100}}`)
	msg := sdkAccumulate(t, out)
	if len(msg.Content) != 1 || msg.Content[0].Text != "Hello \"there\"\n" {
		t.Fatalf("content %+v", msg.Content)
	}
	if msg.StopReason != sdk.StopReasonEndTurn || msg.Usage.OutputTokens != 30 || msg.Usage.InputTokens != 20 || msg.Usage.CacheReadInputTokens != 100 {
		t.Errorf("stop %q usage %+v", msg.StopReason, msg.Usage)
	}
}

func TestStreamFromOpenAIThinkingTextParallelTools(t *testing.T) {
	out, err := runFromOpenAI(t, StreamFromOpenAIOptions{}, oaThinkToolStream())
	if err != nil {
		t.Fatal(err)
	}
	checkAnthropicShape(t, out)
	msg := sdkAccumulate(t, out)
	if len(msg.Content) != 4 {
		t.Fatalf("%d blocks: %s", len(msg.Content), out)
	}
	if b := msg.Content[0]; b.Type != "thinking" || b.Thinking != "Thinking." {
		t.Errorf("block 0 %+v", b)
	}
	if b := msg.Content[1]; b.Type != "text" || b.Text != "Both." {
		t.Errorf("block 1 %+v", b)
	}
	for i, w := range []struct{ id, name, input string }{{"call_A", "get_weather", `{"city":"Paris"}`}, {"functions_get_time_1", "get_time", `{"tz":"CET"}`}} {
		b := msg.Content[2+i]
		if b.Type != "tool_use" || b.ID != w.id || b.Name != w.name {
			t.Errorf("tool %d: %+v", i, b)
		}
		jsonEq(t, string(b.Input), w.input)
	}
	if msg.StopReason != sdk.StopReasonToolUse {
		t.Errorf("stop reason %q: a turn that called tools must say tool_use", msg.StopReason)
	}
	if bytes.Contains(out, []byte(`"signature":"`)) && !bytes.Contains(out, []byte(`"signature":""`)) {
		t.Errorf("a signature was invented")
	}
}

func TestStreamFromOpenAIDropReasoning(t *testing.T) {
	out, err := runFromOpenAI(t, StreamFromOpenAIOptions{DropReasoning: true}, oaThinkToolStream())
	if err != nil {
		t.Fatal(err)
	}
	checkAnthropicShape(t, out)
	if msg := sdkAccumulate(t, out); len(msg.Content) != 3 || msg.Content[0].Type != "text" {
		t.Fatalf("blocks %+v", msg.Content)
	}
}

func TestStreamFromOpenAIToolWithoutArguments(t *testing.T) {
	out, err := runFromOpenAI(t, StreamFromOpenAIOptions{}, [][]byte{
		oaDelta(`{"role":"assistant","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"now","arguments":""}}]}`),
		oaFinish("tool_calls"),
		oaDone,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkAnthropicShape(t, out)
	msg := sdkAccumulate(t, out)
	if len(msg.Content) != 1 || string(msg.Content[0].Input) != "{}" {
		t.Fatalf("content %+v", msg.Content)
	}
}

// Gemini's OpenAI endpoint sends whole calls, several in one chunk, without a separate start.
func TestStreamFromOpenAIWholeCallsInOneChunk(t *testing.T) {
	out, err := runFromOpenAI(t, StreamFromOpenAIOptions{}, [][]byte{
		oaDelta(`{"role":"assistant","tool_calls":[{"index":0,"id":"a","type":"function","function":{"name":"f","arguments":"{\"x\":1}"}},{"index":1,"id":"b","type":"function","function":{"name":"g","arguments":"{\"y\":2}"}}]}`),
		oaFinish("stop"),
		oaDone,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkAnthropicShape(t, out)
	msg := sdkAccumulate(t, out)
	if len(msg.Content) != 2 || msg.Content[1].Name != "g" || string(msg.Content[1].Input) != `{"y":2}` || msg.StopReason != "tool_use" {
		t.Fatalf("%+v %q", msg.Content, msg.StopReason)
	}
}

// An empty answer is one when the upstream says it ended (finish_reason): it keeps its usage.
// A stream of a role chunk and usage alone says nothing, and translated it would be an empty
// end_turn: ErrEmpty, with nothing written, so the relay fails it over.
func TestStreamFromOpenAIUsageOnlyAndEmpty(t *testing.T) {
	out, err := runFromOpenAI(t, StreamFromOpenAIOptions{}, [][]byte{oaDelta(`{"role":"assistant","content":""}`), oaFinish("stop"), chunk(oaUsage), oaDone})
	if err != nil {
		t.Fatal(err)
	}
	checkAnthropicShape(t, out)
	msg := sdkAccumulate(t, out)
	if len(msg.Content) != 0 || msg.StopReason != "end_turn" || msg.Usage.InputTokens != 20 || msg.Usage.CacheReadInputTokens != 100 || msg.Usage.OutputTokens != 30 {
		t.Fatalf("%+v", msg)
	}
	for name, evs := range map[string][][]byte{
		"usage only":      {chunk(oaUsage), oaDone},
		"role chunk only": {oaDelta(`{"role":"assistant","content":""}`), chunk(oaUsage), oaDone},
		"empty finish":    {oaDelta(`{"role":"assistant","content":""}`), chunk(`{` + oaHead + `,"choices":[{"index":0,"delta":{},"finish_reason":null}]}`), oaDone},
	} {
		if out, err := runFromOpenAI(t, StreamFromOpenAIOptions{}, evs); !errors.Is(err, ErrEmpty) || len(out) != 0 {
			t.Errorf("%s: err %v, wrote %q; want ErrEmpty and nothing", name, err, out)
		}
	}
}

func TestStreamFromOpenAIErrorChunk(t *testing.T) {
	tr := NewStreamFromOpenAI(StreamFromOpenAIOptions{})
	out, _ := tr.Event(nil, oaDelta(`{"content":"x"}`))
	n := len(out)
	out, err := tr.Event(out, chunk(`{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`))
	var ae *Error
	if !errors.As(err, &ae) || ae.Type != ErrRateLimit || ae.Message != "Rate limit reached" || len(out) != n {
		t.Fatalf("err %v, out grew %d", err, len(out)-n)
	}
	out = AppendErrorEvent(out, ae.Type, ae.Message)
	res := &http.Response{Header: http.Header{"Content-Type": {"text/event-stream"}}, Body: io.NopCloser(bytes.NewReader(out))}
	st := ssestream.NewStream[sdk.MessageStreamEventUnion](ssestream.NewDecoder(res), nil)
	for st.Next() {
	}
	if st.Err() == nil || !strings.Contains(st.Err().Error(), "Rate limit reached") {
		t.Fatalf("SDK did not raise the error event: %v", st.Err())
	}
}

func TestStreamFromOpenAICut(t *testing.T) {
	evs := oaThinkToolStream()
	for _, cut := range []int{0, 1, 5, len(evs) - 1} {
		out, err := runFromOpenAI(t, StreamFromOpenAIOptions{}, evs[:cut])
		if !errors.Is(err, ErrIncomplete) {
			t.Errorf("cut at %d: err = %v", cut, err)
		}
		parseSSE(t, out)
		if bytes.Contains(out, []byte("message_stop")) {
			t.Errorf("cut at %d: message_stop written", cut)
		}
	}
}

// Parallel calls whose headers come first and whose argument deltas alternate (OpenAI's
// chunks say which call by index): the later call is held and written whole after the first,
// each delta inside its own block. A call whose block was closed by text cannot be reopened.
func TestStreamFromOpenAIInterleaved(t *testing.T) {
	out, err := runFromOpenAI(t, StreamFromOpenAIOptions{}, [][]byte{
		oaDelta(`{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":""}},{"index":1,"id":"b","function":{"name":"g","arguments":""}}]}`),
		oaDelta(`{"tool_calls":[{"index":0,"function":{"arguments":"{\"x\":"}}]}`),
		oaDelta(`{"tool_calls":[{"index":1,"function":{"arguments":"{\"y\":"}}]}`),
		oaDelta(`{"tool_calls":[{"index":2,"id":"c","function":{"name":"h","arguments":""}}]}`),
		oaDelta(`{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}`),
		oaDelta(`{"tool_calls":[{"index":1,"function":{"arguments":"2}"}}]}`),
		oaFinish("tool_calls"),
		oaDone,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkAnthropicShape(t, out)
	msg := sdkAccumulate(t, out)
	var got []string
	for _, b := range msg.Content {
		got = append(got, b.ID+" "+b.Name+" "+string(b.Input))
	}
	if want := []string{`a f {"x":1}`, `b g {"y":2}`, `c h {}`}; !slices.Equal(got, want) || msg.StopReason != "tool_use" {
		t.Fatalf("calls %q, stop %q, want %q\n%s", got, msg.StopReason, want, out)
	}

	_, err = runFromOpenAI(t, StreamFromOpenAIOptions{}, [][]byte{
		oaDelta(`{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{"}}]}`),
		oaDelta(`{"content":"and now"}`),
		oaDelta(`{"tool_calls":[{"index":0,"function":{"arguments":"}"}}]}`),
	})
	if !errors.Is(err, ErrInterleaved) {
		t.Fatalf("arguments after the call's block closed: err = %v", err)
	}
}

// More calls than maxTools is malformed, under one reused index too; a call that comes after
// the refusal, under a new index or none, is refused the same way, not a panic.
func TestStreamFromOpenAITooManyCalls(t *testing.T) {
	tr := NewStreamFromOpenAI(StreamFromOpenAIOptions{})
	var err error
	for i := 0; i <= maxTools && err == nil; i++ {
		_, err = tr.Event(nil, oaDelta(`{"tool_calls":[{"index":0,"id":"c`+strconv.Itoa(i)+`","function":{"name":"f","arguments":"{}"}}]}`))
	}
	if !errors.Is(err, ErrMalformed) || len(tr.tools) != maxTools {
		t.Fatalf("after %d calls: %v", len(tr.tools), err)
	}
	for _, tc := range []string{`{"index":5,"id":"x","function":{"name":"f"}}`, `{"id":"y","function":{"name":"f"}}`, `{"function":{"arguments":"{}"}}`} {
		if _, err := tr.Event(nil, oaDelta(`{"tool_calls":[`+tc+`]}`)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v", tc, err)
		}
	}
}

func TestStreamFromOpenAIMalformed(t *testing.T) {
	tr := NewStreamFromOpenAI(StreamFromOpenAIOptions{})
	if _, err := tr.Event(nil, chunk(`{"choices":[`)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v", err)
	}
}

// Nothing is written before the first content, so an error right after a role-only chunk can
// still be retried on another target.
func TestStreamFromOpenAINothingBeforeContent(t *testing.T) {
	tr := NewStreamFromOpenAI(StreamFromOpenAIOptions{})
	out, err := tr.Event(nil, oaDelta(`{"role":"assistant","content":""}`))
	if err != nil || len(out) != 0 {
		t.Fatalf("role chunk wrote %q, %v", out, err)
	}
	_, err = tr.Event(out, chunk(`{"error":{"message":"overloaded","type":"server_error"}}`))
	var ae *Error
	if !errors.As(err, &ae) || ae.Type != ErrAPI || !Retryable(ae.Type) {
		t.Fatalf("err = %v", err)
	}
}

// Azure OpenAI opens a stream with a content-filter chunk whose id and model are empty; the
// message's id and model come from the chunks after it.
func TestStreamFromOpenAIIDAfterAzureFilterChunk(t *testing.T) {
	filter := chunk(`{"id":"","object":"","created":0,"model":"","choices":[],"prompt_filter_results":[{"prompt_index":0,"content_filter_results":{}}]}`)
	out, err := runFromOpenAI(t, StreamFromOpenAIOptions{}, append([][]byte{filter}, oaTextStream()...))
	if err != nil {
		t.Fatal(err)
	}
	var start struct {
		Message struct{ ID, Model string } `json:"message"`
	}
	if err := json.Unmarshal([]byte(parseSSE(t, out)[0].Data), &start); err != nil {
		t.Fatal(err)
	}
	if start.Message.ID != "msg_chatcmpl-9" || start.Message.Model == "" {
		t.Fatalf("message_start id %q, model %q", start.Message.ID, start.Message.Model)
	}
}
