package anthropic

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// benchAnthropicStream is a 100-event Anthropic stream: a text block of 60 deltas and a tool
// call of 30 argument deltas, with the framing events around them.
func benchAnthropicStream() [][]byte {
	evs := [][]byte{ev("message_start", msgStart), ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)}
	for i := 0; i < 60; i++ {
		evs = append(evs, ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"word `+strconv.Itoa(i)+` of a fairly ordinary sentence, "}}`))
	}
	evs = append(evs, ev("content_block_stop", `{"type":"content_block_stop","index":0}`),
		ev("content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01","name":"Bash","input":{}}}`))
	for i := 0; i < 30; i++ {
		evs = append(evs, ev("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"command\": \"ls -la /tmp/`+strconv.Itoa(i)+`\""}}`))
	}
	evs = append(evs, ev("content_block_stop", `{"type":"content_block_stop","index":1}`), ev("ping", `{"type":"ping"}`))
	for len(evs) < 98 {
		evs = append(evs, ev("ping", `{"type":"ping"}`))
	}
	return append(evs,
		ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":420}}`),
		ev("message_stop", `{"type":"message_stop"}`))
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
		evs = append(evs, oaDelta(`{"tool_calls":[{"index":0,"function":{"arguments":"{\"command\": \"ls -la /tmp/x\""}}]}`))
	}
	return append(evs, oaFinish("tool_calls"), chunk(oaUsage), oaDone)
}

// BenchmarkStreamToOpenAI reports the cost per upstream event (b.N events), the output buffer
// reused as the relay does.
func BenchmarkStreamToOpenAI(b *testing.B) {
	evs := benchAnthropicStream()
	size := 0
	for _, e := range evs {
		size += len(e)
	}
	b.SetBytes(int64(size / len(evs)))
	b.ReportAllocs()
	out := make([]byte, 0, 4096)
	var tr *StreamToOpenAI
	for i := 0; i < b.N; i++ {
		k := i % len(evs)
		if k == 0 {
			tr = NewStreamToOpenAI(StreamToOpenAIOptions{IncludeUsage: true, Created: 1, Model: "claude-sonnet"})
		}
		var err error
		if out, err = tr.Event(out[:0], evs[k]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamFromOpenAI reports the cost per upstream event.
func BenchmarkStreamFromOpenAI(b *testing.B) {
	evs := benchOpenAIStream()
	size := 0
	for _, e := range evs {
		size += len(e)
	}
	b.SetBytes(int64(size / len(evs)))
	b.ReportAllocs()
	out := make([]byte, 0, 4096)
	var tr *StreamFromOpenAI
	for i := 0; i < b.N; i++ {
		k := i % len(evs)
		if k == 0 {
			tr = NewStreamFromOpenAI(StreamFromOpenAIOptions{Model: "claude-sonnet"})
		}
		var err error
		if out, err = tr.Event(out[:0], evs[k]); err != nil {
			b.Fatal(err)
		}
	}
}

// claudeCodeRequest is a Messages request shaped like Claude Code's (about 48 KB: three
// system blocks, twelve tools with schemas, a conversation with tool rounds).
func claudeCodeRequest() []byte {
	props := `{"type":"object","properties":{"command":{"type":"string","description":"` + strings.Repeat("The command to run. ", 40) + `"},"timeout":{"type":"number"}},"required":["command"]}`
	var tools []string
	for i := 0; i < 12; i++ {
		tools = append(tools, `{"name":"Tool`+strconv.Itoa(i)+`","description":"`+strings.Repeat("Does a useful thing carefully. ", 50)+`","input_schema":`+props+`}`)
	}
	var msgs []string
	for i := 0; i < 10; i++ {
		msgs = append(msgs,
			`{"role":"user","content":[{"type":"text","text":"`+strings.Repeat("Please look at this file and fix it. ", 20)+`"}]}`,
			`{"role":"assistant","content":[{"type":"text","text":"Looking."},{"type":"tool_use","id":"toolu_`+strconv.Itoa(i)+`","name":"Tool1","input":{"command":"cat f`+strconv.Itoa(i)+`"}}]}`,
			`{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_`+strconv.Itoa(i)+`","content":"`+strings.Repeat("line of output\\n", 40)+`"}]}`)
	}
	msgs = append(msgs, `{"role":"user","content":"go on"}`)
	return []byte(`{"model":"claude-sonnet","max_tokens":32000,"stream":true,"thinking":{"type":"adaptive"},"metadata":{"user_id":"u"},
		"system":[{"type":"text","text":"x-anthropic-billing-header: cc_version=2"},{"type":"text","text":"` + strings.Repeat("You are a coding agent. ", 300) + `","cache_control":{"type":"ephemeral"}},{"type":"text","text":"env"}],
		"tools":[` + strings.Join(tools, ",") + `],"messages":[` + strings.Join(msgs, ",") + `]}`)
}

func BenchmarkRequestToOpenAI(b *testing.B) {
	body := claudeCodeRequest()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := RequestToOpenAI(body, ToOpenAIOptions{Model: "gpt-4o"}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRequestFromOpenAI(b *testing.B) {
	body, err := RequestToOpenAI(claudeCodeRequest(), ToOpenAIOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := RequestFromOpenAI(body, FromOpenAIOptions{Model: "claude-sonnet-4-5"}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestBenchInputs(t *testing.T) {
	if n := len(benchAnthropicStream()); n != 100 {
		t.Errorf("anthropic bench stream has %d events", n)
	}
	if n := len(benchOpenAIStream()); n != 100 {
		t.Errorf("openai bench stream has %d events", n)
	}
	body := claudeCodeRequest()
	if !json.Valid(body) || len(body) < 40<<10 || len(body) > 60<<10 {
		t.Errorf("Claude Code request: %d bytes, valid %v", len(body), json.Valid(body))
	}
	out, err := runToOpenAI(t, StreamToOpenAIOptions{}, benchAnthropicStream())
	if err != nil {
		t.Fatal(err)
	}
	accumulate(t, out)
	out, err = runFromOpenAI(t, StreamFromOpenAIOptions{}, benchOpenAIStream())
	if err != nil {
		t.Fatal(err)
	}
	checkAnthropicShape(t, out)
	sdkAccumulate(t, out)
}
