package gemini

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func oaDelta(delta string) []byte {
	return data(`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":` + delta + `,"finish_reason":null}]}`)
}

func oaFinish(reason string) []byte {
	return data(`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{},"finish_reason":"` + reason + `"}]}`)
}

const oaUsage = `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":50,"completion_tokens":30,"total_tokens":80,"prompt_tokens_details":{"cached_tokens":10},"completion_tokens_details":{"reasoning_tokens":12}}}`

var oaDone = data("[DONE]")

func oaToolStream() [][]byte {
	id := ToolID("call_A", sigA)
	return [][]byte{
		oaDelta(`{"role":"assistant","content":""}`),
		oaDelta(`{"reasoning_content":"Think."}`),
		oaDelta(`{"content":"Checking."}`),
		oaDelta(`{"tool_calls":[{"index":0,"id":"` + id + `","type":"function","function":{"name":"get_weather","arguments":""}}]}`),
		oaDelta(`{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\": "}}]}`),
		oaDelta(`{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]}`),
		oaDelta(`{"tool_calls":[{"index":1,"id":"call_B","type":"function","function":{"name":"get_time","arguments":"{}"}}]}`),
		oaFinish("tool_calls"),
		data(oaUsage),
		oaDone,
	}
}

// assemble decodes Gemini SSE output and joins the chunks the way a client would.
func assemble(t *testing.T, out []byte) (parts []Part, last Response) {
	t.Helper()
	evs := parseSSE(t, out)
	for i, e := range evs {
		var r Response
		if err := json.Unmarshal([]byte(e), &r); err != nil || len(r.Candidates) != 1 || r.Candidates[0].Content == nil || r.Candidates[0].Content.Role != "model" {
			t.Fatalf("chunk %d: %v %s", i, err, e)
		}
		if r.Candidates[0].FinishReason != "" && i != len(evs)-1 {
			t.Fatalf("finishReason before the last chunk: %s", e)
		}
		for _, p := range r.Candidates[0].Content.Parts {
			if p != (Part{}) {
				parts = append(parts, p)
			}
		}
		last = r
	}
	return parts, last
}

func TestStreamFromOpenAIToolsAndUsage(t *testing.T) {
	tr := NewStreamFromOpenAI(StreamFromOpenAIOptions{Model: "gemini-x"})
	out, err := run(tr, oaToolStream())
	if err != nil {
		t.Fatal(err)
	}
	parts, last := assemble(t, out)
	b, _ := json.Marshal(parts)
	jsonEq(t, string(b), `[{"text":"Think.","thought":true},{"text":"Checking."},
		{"functionCall":{"id":"call_A","name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"`+sigA+`"},
		{"functionCall":{"id":"call_B","name":"get_time","args":{}}}]`)
	if last.Candidates[0].FinishReason != "STOP" || last.ModelVersion != "gemini-x" || last.ResponseID != "chatcmpl-1" {
		t.Fatalf("last %+v", last)
	}
	if u := last.UsageMetadata; u == nil || *u != (UsageMetadata{PromptTokenCount: 50, CandidatesTokenCount: 18, ThoughtsTokenCount: 12, CachedContentTokenCount: 10, TotalTokenCount: 80}) {
		t.Fatalf("usage %+v", last.UsageMetadata)
	}
	if !tr.Done() || tr.Usage().TotalTokens != 80 {
		t.Fatal("done / usage")
	}
	// The calls are written whole, at the finish.
	evs := parseSSE(t, out)
	if len(evs) != 4 || !strings.Contains(evs[2], "get_weather") || !strings.Contains(evs[2], "get_time") {
		t.Fatalf("chunks:\n%s", out)
	}
}

// Parallel calls whose headers come first and whose argument deltas alternate by index: each
// call gets its own arguments, none is written before its last delta.
func TestStreamFromOpenAIInterleavedCalls(t *testing.T) {
	out, err := run(NewStreamFromOpenAI(StreamFromOpenAIOptions{Model: "gemini-x"}), [][]byte{
		oaDelta(`{"role":"assistant","tool_calls":[{"index":0,"id":"call_A","type":"function","function":{"name":"read","arguments":""}},{"index":1,"id":"call_B","type":"function","function":{"name":"read","arguments":""}}]}`),
		oaDelta(`{"tool_calls":[{"index":0,"function":{"arguments":"{\"path\":"}}]}`),
		oaDelta(`{"tool_calls":[{"index":1,"function":{"arguments":"{\"path\":"}}]}`),
		oaDelta(`{"tool_calls":[{"index":0,"function":{"arguments":"\"a.txt\"}"}}]}`),
		oaDelta(`{"tool_calls":[{"index":1,"function":{"arguments":"\"b.txt\"}"}}]}`),
		oaFinish("tool_calls"), oaDone,
	})
	if err != nil {
		t.Fatal(err)
	}
	parts, last := assemble(t, out)
	b, _ := json.Marshal(parts)
	jsonEq(t, string(b), `[{"functionCall":{"id":"call_A","name":"read","args":{"path":"a.txt"}}},
		{"functionCall":{"id":"call_B","name":"read","args":{"path":"b.txt"}}}]`)
	if last.Candidates[0].FinishReason != "STOP" {
		t.Fatalf("last %+v", last)
	}
}

// Ollama's OpenAI API gives every parallel call of a turn index 0, each with its own id: each
// must reach the Gemini client as its own functionCall, not one call with glued arguments. A
// server that repeats a call's id on every delta, with no index, still makes one call.
func TestStreamFromOpenAICallsUnderOneIndex(t *testing.T) {
	for name, tc := range map[string]struct {
		stream [][]byte
		want   string
	}{
		"two calls under index 0": {[][]byte{
			oaDelta(`{"role":"assistant","tool_calls":[{"index":0,"id":"call_A","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]}`),
			oaDelta(`{"tool_calls":[{"index":0,"id":"call_B","type":"function","function":{"name":"get_weather","arguments":"{\"city\":"}}]}`),
			oaDelta(`{"tool_calls":[{"index":0,"function":{"arguments":"\"Rome\"}"}}]}`),
			oaFinish("tool_calls"), oaDone,
		}, `[{"functionCall":{"id":"call_A","name":"get_weather","args":{"city":"Paris"}}},
			{"functionCall":{"id":"call_B","name":"get_weather","args":{"city":"Rome"}}}]`},
		"no index, one call, its id on every delta": {[][]byte{
			oaDelta(`{"tool_calls":[{"id":"call_A","type":"function","function":{"name":"get_time","arguments":"{\"tz\":"}}]}`),
			oaDelta(`{"tool_calls":[{"id":"call_A","function":{"arguments":"\"UTC\"}"}}]}`),
			oaFinish("tool_calls"), oaDone,
		}, `[{"functionCall":{"id":"call_A","name":"get_time","args":{"tz":"UTC"}}}]`},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := run(NewStreamFromOpenAI(StreamFromOpenAIOptions{Model: "gemini-x"}), tc.stream)
			if err != nil {
				t.Fatal(err)
			}
			parts, _ := assemble(t, out)
			b, _ := json.Marshal(parts)
			jsonEq(t, string(b), tc.want)
		})
	}
}

func TestStreamFromOpenAIText(t *testing.T) {
	out, err := run(NewStreamFromOpenAI(StreamFromOpenAIOptions{}), [][]byte{oaDelta(`{"role":"assistant"}`), oaDelta(`{"content":"Hi \"you\""}`), oaFinish("length"), oaDone})
	if err != nil {
		t.Fatal(err)
	}
	evs := parseSSE(t, out)
	want := []string{
		`{"candidates":[{"content":{"parts":[{"text":"Hi \"you\""}],"role":"model"},"index":0}],"modelVersion":"gpt-4o","responseId":"chatcmpl-1"}`,
		`{"candidates":[{"content":{"parts":[{"text":""}],"role":"model"},"finishReason":"MAX_TOKENS","index":0}],"usageMetadata":{"promptTokenCount":0,"candidatesTokenCount":0,"totalTokenCount":0},"modelVersion":"gpt-4o","responseId":"chatcmpl-1"}`,
	}
	if len(evs) != 2 || evs[0] != want[0] || evs[1] != want[1] {
		t.Fatalf("got\n%s", out)
	}
}

func TestStreamFromOpenAIArray(t *testing.T) {
	out, err := run(NewStreamFromOpenAI(StreamFromOpenAIOptions{Array: true}), oaToolStream())
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if !strings.HasPrefix(s, `[{"candidates"`) || !strings.HasSuffix(s, "}]") || !strings.Contains(s, "},\r\n{") || strings.Contains(s, "data:") {
		t.Fatalf("framing: %q", s)
	}
	var arr []Response
	if err := json.Unmarshal(out, &arr); err != nil || len(arr) != 4 || arr[3].Candidates[0].FinishReason != "STOP" {
		t.Fatalf("array: %v %d\n%s", err, len(arr), s)
	}
	// Broken after the first chunk: the error is the array's next element.
	tr := NewStreamFromOpenAI(StreamFromOpenAIOptions{Array: true})
	out, _ = tr.Event(nil, oaDelta(`{"content":"a"}`))
	out = tr.AppendError(out, 502, "upstream went away")
	if err := json.Unmarshal(out, &arr); err != nil || len(arr) != 2 {
		t.Fatalf("array with error: %v %s", err, out)
	}
	if e, ok := ParseError([]byte(`[` + string(out[strings.Index(string(out), `{"error"`):len(out)-1]) + `]`)); !ok || e.Code != 502 || e.Status != StatusUnavailable {
		t.Fatalf("error element %+v", e)
	}
	// Nothing written yet: a whole array.
	tr = NewStreamFromOpenAI(StreamFromOpenAIOptions{Array: true})
	if out := tr.AppendError(nil, 429, "x"); string(out) != `[{"error":{"code":429,"message":"x","status":"RESOURCE_EXHAUSTED"}}]` {
		t.Fatalf("%s", out)
	}
	if out := NewStreamFromOpenAI(StreamFromOpenAIOptions{}).AppendError(nil, 500, "x"); string(out) != "data: {\"error\":{\"code\":500,\"message\":\"x\",\"status\":\"INTERNAL\"}}\n\n: stream failed\n\n" {
		t.Fatalf("%q", out)
	}
}

func TestStreamFromOpenAINothingBeforeContent(t *testing.T) {
	tr := NewStreamFromOpenAI(StreamFromOpenAIOptions{Array: true})
	for _, e := range [][]byte{oaDelta(`{"role":"assistant","content":""}`), oaDelta(`{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{"}}]}`), []byte(": ping\n\n")} {
		if out, err := tr.Event(nil, e); err != nil || len(out) > 0 {
			t.Fatalf("wrote %q (%v) before content", out, err)
		}
	}
	_, err := tr.Event(nil, data(`{"error":{"message":"slow","type":"rate_limit_error"}}`))
	var e *Error
	if !errors.As(err, &e) || e.Code != 429 || FaultOf(*e) != FaultRateLimit {
		t.Fatalf("error chunk: %v", err)
	}
}

func TestStreamFromOpenAIEnds(t *testing.T) {
	// Cut before any finish: ErrIncomplete.
	if _, err := run(NewStreamFromOpenAI(StreamFromOpenAIOptions{}), [][]byte{oaDelta(`{"content":"a"}`)}); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("cut: %v", err)
	}
	// A finish without [DONE] still ends cleanly, at EOF.
	out, err := run(NewStreamFromOpenAI(StreamFromOpenAIOptions{}), [][]byte{oaDelta(`{"content":"a"}`), oaFinish("stop")})
	if err != nil || !strings.Contains(string(out), `"finishReason":"STOP"`) {
		t.Fatalf("no [DONE]: %v\n%s", err, out)
	}
	// An empty answer that says it finished: one valid last chunk.
	out, err = run(NewStreamFromOpenAI(StreamFromOpenAIOptions{}), [][]byte{oaDelta(`{"role":"assistant","content":""}`), oaFinish("stop"), oaDone})
	if err != nil || len(parseSSE(t, out)) != 1 {
		t.Fatalf("empty answer: %v %s", err, out)
	}
	// Nothing before [DONE], not even a finish_reason: no answer (translated, an empty STOP).
	for _, evs := range [][][]byte{{oaDone}, {oaDelta(`{"role":"assistant","content":""}`), oaDone}} {
		if out, err := run(NewStreamFromOpenAI(StreamFromOpenAIOptions{}), evs); !errors.Is(err, ErrEmpty) || len(out) != 0 {
			t.Fatalf("no answer: %v %q", err, out)
		}
	}
	// Malformed data and broken arguments, leaving only whole chunks behind.
	for _, evs := range [][][]byte{
		{data(`{"choices":`)},
		{oaDelta(`{"content":"x"}`), oaDelta(`{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{bad"}}]}`), oaFinish("tool_calls")},
		{oaDelta(`{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{}"}}]}`), oaDelta(`{"tool_calls":[{"index":1,"id":"d","function":{"name":"g"}}]}`), oaDelta(`{"tool_calls":[{"index":0,"function":{"arguments":"more"}}]}`), oaFinish("tool_calls")},
		{oaDelta(`{"tool_calls":[{"index":99999,"id":"c"}]}`)},
	} {
		out, err := run(NewStreamFromOpenAI(StreamFromOpenAIOptions{}), evs)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: %v", evs, err)
		}
		parseSSE(t, out)
	}
}

// TestPassthrough: a Gemini stream passed through to a Gemini client, as server-sent events
// (unchanged) and re-framed as the JSON array of :streamGenerateContent without alt=sse; the end
// is the chunk with a finish reason, and a cut stream still closes its array.
func TestPassthrough(t *testing.T) {
	tr := NewPassthrough(false)
	in := append([][]byte{[]byte(": x\n\n")}, textStream()...)
	out, err := run(tr, in)
	if err != nil || !tr.Done() || string(out) != string(bytesJoin(textStream())) {
		t.Fatalf("sse: %v done %v\n%s", err, tr.Done(), out)
	}
	if tr.Usage().TotalTokens != 15 {
		t.Fatalf("usage %+v", tr.Usage())
	}
	tr = NewPassthrough(true)
	out, err = run(tr, in)
	var arr []Response
	if err != nil || json.Unmarshal(out, &arr) != nil || len(arr) != 2 || arr[1].Candidates[0].FinishReason != "STOP" {
		t.Fatalf("array: %v\n%s", err, out)
	}
	tr = NewPassthrough(true)
	out, err = run(tr, textStream()[:1])
	if !errors.Is(err, ErrIncomplete) {
		t.Fatal(err)
	}
	out = tr.AppendError(out, 504, "timeout")
	if err := json.Unmarshal(out, &arr); err != nil || len(arr) != 2 {
		t.Fatalf("%v %s", err, out)
	}
	if out := NewPassthrough(true).AppendError(nil, 500, "x"); !json.Valid(out) {
		t.Fatalf("an error before anything was written: %s", out)
	}
	if _, err := NewPassthrough(false).Event(nil, data(`{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}`)); err == nil {
		t.Fatal("error event passed")
	}
	if _, err := NewPassthrough(true).Event(nil, data(`{"candidates":`)); !errors.Is(err, ErrMalformed) {
		t.Fatal(err)
	}
}

func bytesJoin(evs [][]byte) []byte {
	var out []byte
	for _, e := range evs {
		out = append(out, e...)
	}
	return out
}

// The router's own stream error event, SSE and array.
func TestAppendErrorEvent(t *testing.T) {
	if s := string(AppendErrorEvent(nil, false, 503, "gone")); s != "data: {\"error\":{\"code\":503,\"message\":\"gone\",\"status\":\"UNAVAILABLE\"}}\n\n: stream failed\n\n" {
		t.Fatalf("%q", s)
	}
	if s := string(AppendErrorEvent([]byte(`[{"a":1}`), true, 500, "x\n")); s != "[{\"a\":1},\r\n{\"error\":{\"code\":500,\"message\":\"x\\n\",\"status\":\"INTERNAL\"}}]" || !json.Valid([]byte(s)) {
		t.Fatalf("%q", s)
	}
}

// Azure OpenAI opens a stream with a content-filter chunk whose id and model are empty; the
// Gemini client's responseId and modelVersion come from the chunks after it.
func TestStreamFromOpenAIIDAfterAzureFilterChunk(t *testing.T) {
	filter := data(`{"id":"","object":"","created":0,"model":"","choices":[],"prompt_filter_results":[{"prompt_index":0,"content_filter_results":{}}]}`)
	out, err := run(NewStreamFromOpenAI(StreamFromOpenAIOptions{}), [][]byte{filter, oaDelta(`{"role":"assistant","content":"Hi"}`), oaFinish("stop"), oaDone})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range parseSSE(t, out) {
		var r Response
		if err := json.Unmarshal([]byte(e), &r); err != nil {
			t.Fatal(err)
		}
		if r.ResponseID != "chatcmpl-1" || r.ModelVersion != "gpt-4o" {
			t.Fatalf("responseId %q, modelVersion %q: %s", r.ResponseID, r.ModelVersion, e)
		}
	}
}
