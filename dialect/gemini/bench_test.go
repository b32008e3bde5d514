package gemini

import (
	"strconv"
	"strings"
	"testing"
)

// benchGeminiStream is a 100-event Gemini stream: 96 text chunks with cumulative usage, two
// function calls, and the STOP.
func benchGeminiStream() [][]byte {
	var evs [][]byte
	for i := 0; i < 97; i++ {
		evs = append(evs, data(`{"candidates":[{"content":{"parts":[{"text":"word `+strconv.Itoa(i)+` of a fairly ordinary sentence, "}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":1200,"candidatesTokenCount":`+strconv.Itoa(i*9)+`,"totalTokenCount":`+strconv.Itoa(1200+i*9)+`},"modelVersion":"gemini-2.5-flash","responseId":"r-bench"}`))
	}
	evs = append(evs,
		data(`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"Bash","args":{"command":"ls -la /tmp/x"}},"thoughtSignature":"`+sigA+`"}],"role":"model"},"index":0}],"modelVersion":"gemini-2.5-flash","responseId":"r-bench"}`),
		data(`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"Read","args":{"path":"/etc/hosts"}}}],"role":"model"},"index":0}],"modelVersion":"gemini-2.5-flash","responseId":"r-bench"}`),
		data(`{"candidates":[{"content":{"parts":[{"text":""}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":1200,"candidatesTokenCount":900,"totalTokenCount":2100},"modelVersion":"gemini-2.5-flash","responseId":"r-bench"}`))
	return evs
}

// benchOpenAIStream is a 100-event OpenAI stream: 60 content chunks, a tool call in 35
// chunks, finish, usage and [DONE].
func benchOpenAIStream() [][]byte {
	evs := [][]byte{oaDelta(`{"role":"assistant","content":""}`)}
	for i := 0; i < 60; i++ {
		evs = append(evs, oaDelta(`{"content":"word `+strconv.Itoa(i)+` of a fairly ordinary sentence, "}`))
	}
	evs = append(evs, oaDelta(`{"tool_calls":[{"index":0,"id":"call_01","type":"function","function":{"name":"Bash","arguments":""}}]}`))
	for len(evs) < 97 {
		evs = append(evs, oaDelta(`{"tool_calls":[{"index":0,"function":{"arguments":"{\"command\": \"ls -la /tmp/x\"}"}}]}`))
	}
	evs[96] = oaDelta(`{"tool_calls":[{"index":0,"function":{"arguments":"{\"command\": \"ls -la /tmp/x\"}"}}]}`)
	for i := 62; i < 96; i++ {
		evs[i] = oaDelta(`{"tool_calls":[{"index":0,"function":{"arguments":" "}}]}`)
	}
	return append(evs, oaFinish("tool_calls"), data(oaUsage), oaDone)
}

func benchStream(b *testing.B, evs [][]byte, mk func() translator) {
	size := 0
	for _, e := range evs {
		size += len(e)
	}
	b.SetBytes(int64(size / len(evs)))
	b.ReportAllocs()
	out := make([]byte, 0, 4096)
	var tr translator
	var err error
	for i := 0; i < b.N; i++ {
		k := i % len(evs)
		if k == 0 {
			tr = mk()
		}
		if out, err = tr.Event(out[:0], evs[k]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamToOpenAI reports the cost per Gemini event (b.N events).
func BenchmarkStreamToOpenAI(b *testing.B) {
	benchStream(b, benchGeminiStream(), func() translator {
		return NewStreamToOpenAI(StreamToOpenAIOptions{IncludeUsage: true, Created: 1, Model: "flash"})
	})
}

// BenchmarkStreamFromOpenAI reports the cost per OpenAI chunk (b.N events).
func BenchmarkStreamFromOpenAI(b *testing.B) {
	benchStream(b, benchOpenAIStream(), func() translator { return NewStreamFromOpenAI(StreamFromOpenAIOptions{Model: "flash"}) })
}

// benchOpenAIRequest is an agent-sized request: a long system prompt, 12 tools, 40 turns.
func benchOpenAIRequest() []byte {
	var b strings.Builder
	b.WriteString(`{"model":"m","stream":true,"messages":[{"role":"system","content":` + quote(strings.Repeat("You are a careful coding agent. ", 300)) + `}`)
	for i := 0; i < 20; i++ {
		id := ToolID("call_"+strconv.Itoa(i), sigA)
		b.WriteString(`,{"role":"user","content":` + quote(strings.Repeat("please look at file "+strconv.Itoa(i)+" ", 20)) + `}`)
		b.WriteString(`,{"role":"assistant","content":"Looking.","tool_calls":[{"id":"` + id + `","type":"function","function":{"name":"Read","arguments":"{\"path\":\"/src/` + strconv.Itoa(i) + `.go\"}"}}]}`)
		b.WriteString(`,{"role":"tool","tool_call_id":"` + id + `","content":` + quote(strings.Repeat("package main\nfunc main() {}\n", 30)) + `}`)
	}
	b.WriteString(`],"tools":[`)
	for i := 0; i < 12; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`{"type":"function","function":{"name":"tool` + strconv.Itoa(i) + `","description":"does thing ` + strconv.Itoa(i) + `","parameters":{"type":"object","properties":{"path":{"type":"string","description":"a path"},"limit":{"type":"integer"}},"required":["path"],"additionalProperties":false}}}`)
	}
	b.WriteString(`],"max_tokens":8000,"reasoning_effort":"medium"}`)
	return []byte(b.String())
}

// BenchmarkRequestFromOpenAI reports the cost per request, OpenAI -> Gemini.
func BenchmarkRequestFromOpenAI(b *testing.B) {
	body := benchOpenAIRequest()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := RequestFromOpenAI(body, FromOpenAIOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRequestToOpenAI reports the cost per request, Gemini -> OpenAI (the same
// conversation, as a Gemini client sends it).
func BenchmarkRequestToOpenAI(b *testing.B) {
	body, err := RequestFromOpenAI(benchOpenAIRequest(), FromOpenAIOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := RequestToOpenAI(body, ToOpenAIOptions{Model: "gpt-4o", Stream: true}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestBenchInputs(t *testing.T) {
	out, err := run(NewStreamToOpenAI(StreamToOpenAIOptions{Created: 1}), benchGeminiStream())
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := accumulate(t, out); len(r.Choices[0].Message.ToolCalls) != 2 {
		t.Fatal("bench Gemini stream")
	}
	out, err = run(NewStreamFromOpenAI(StreamFromOpenAIOptions{}), benchOpenAIStream())
	if err != nil {
		t.Fatal(err)
	}
	if parts, _ := assemble(t, out); len(parts) != 61 || parts[60].FunctionCall == nil {
		t.Fatalf("bench OpenAI stream: %d parts", len(parts))
	}
	if _, err := RequestFromOpenAI(benchOpenAIRequest(), FromOpenAIOptions{}); err != nil {
		t.Fatal(err)
	}
}
