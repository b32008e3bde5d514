package responses

import (
	"strconv"
	"testing"
)

// BenchmarkStreamText is the cost per upstream text chunk (one output_text.delta).
func BenchmarkStreamText(b *testing.B) {
	ev := []byte(`data: {"id":"chatcmpl-abc","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"hello world, "},"finish_reason":null}]}` + "\n\n")
	b.ReportAllocs()
	var out []byte
	tr := NewStreamFromOpenAI(ReplyOptions{Model: "m", Created: 1})
	for i := 0; i < b.N; i++ {
		if i%4096 == 0 { // bound the accumulated text as a real stream would be
			tr = NewStreamFromOpenAI(ReplyOptions{Model: "m", Created: 1})
		}
		out, _ = tr.Event(out[:0], ev)
	}
}

// BenchmarkStreamToolArgs is the cost per tool-call arguments chunk.
func BenchmarkStreamToolArgs(b *testing.B) {
	first := []byte(`data: {"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"shell","arguments":""}}]}}]}` + "\n\n")
	ev := []byte(`data: {"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"cmd\": "}}]}}]}` + "\n\n")
	b.ReportAllocs()
	var out []byte
	var tr *StreamFromOpenAI
	for i := 0; i < b.N; i++ {
		if i%4096 == 0 {
			tr = NewStreamFromOpenAI(ReplyOptions{Model: "m", Created: 1})
			out, _ = tr.Event(out[:0], first)
		}
		out, _ = tr.Event(out[:0], ev)
	}
}

// BenchmarkStreamWhole is one short stream, start to response.completed (about 12 events).
func BenchmarkStreamWhole(b *testing.B) {
	evs := [][]byte{
		[]byte(`data: {"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}` + "\n\n"),
	}
	for i := 0; i < 8; i++ {
		evs = append(evs, []byte(`data: {"id":"c","choices":[{"index":0,"delta":{"content":"word `+strconv.Itoa(i)+` "}}]}`+"\n\n"))
	}
	evs = append(evs, []byte(`data: {"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":8,"total_tokens":17}}`+"\n\n"),
		[]byte("data: [DONE]\n\n"))
	b.ReportAllocs()
	var out []byte
	for i := 0; i < b.N; i++ {
		tr := NewStreamFromOpenAI(ReplyOptions{Model: "m", Created: 1})
		for _, ev := range evs {
			out, _ = tr.Event(out[:0], ev)
		}
	}
}

// BenchmarkRequest is the cost of translating a Codex-sized request (tools and a few turns).
func BenchmarkRequest(b *testing.B) {
	body := []byte(`{"model":"m","instructions":"You are a coding agent.","input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"list files"}]},{"type":"function_call","call_id":"c1","name":"shell","arguments":"{\"command\":[\"ls\"]}"},{"type":"function_call_output","call_id":"c1","output":"a.go\nb.go"}],"tools":[{"type":"function","name":"shell","description":"Runs a shell command","parameters":{"type":"object","properties":{"command":{"type":"array","items":{"type":"string"}}},"required":["command"]}}],"tool_choice":"auto","parallel_tool_calls":false,"stream":true,"store":false}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for i := 0; i < b.N; i++ {
		if _, err := RequestToOpenAI(body, ToOpenAIOptions{Model: "x"}); err != nil {
			b.Fatal(err)
		}
	}
}
