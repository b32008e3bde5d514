package anthropic

import "testing"

const longArgs = `{"command":"grep -rn \"TODO\" ./src | head -50","description":"Find the TODOs — ünïcode too","timeout":120000,"nested":{"list":[1,2,3],"ok":true}}`

// Arguments split into one event per byte (also inside escapes and multi-byte runes, as the
// partial_json strings split them) arrive whole, both ways.
func TestArgumentsSplitPerByte(t *testing.T) {
	// Split on rune boundaries: each piece must be valid UTF-8 to be a JSON string.
	var pieces []string
	for _, r := range longArgs {
		pieces = append(pieces, string(r))
	}

	evs := [][]byte{
		ev("message_start", msgStart),
		ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_X","name":"Bash","input":{}}}`),
	}
	for _, p := range pieces {
		evs = append(evs, ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":`+strconvQuote(p)+`}}`))
	}
	evs = append(evs, ev("content_block_stop", `{"type":"content_block_stop","index":0}`),
		ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}}`),
		ev("message_stop", `{"type":"message_stop"}`))
	out, err := runToOpenAI(t, StreamToOpenAIOptions{}, evs)
	if err != nil {
		t.Fatal(err)
	}
	cc, _ := accumulate(t, out)
	if got := cc.Choices[0].Message.ToolCalls[0].Function.Arguments; got != longArgs {
		t.Fatalf("arguments %q", got)
	}

	oevs := [][]byte{oaDelta(`{"role":"assistant","tool_calls":[{"index":0,"id":"call_X","type":"function","function":{"name":"Bash","arguments":""}}]}`)}
	for _, p := range pieces {
		oevs = append(oevs, oaDelta(`{"tool_calls":[{"index":0,"function":{"arguments":`+strconvQuote(p)+`}}]}`))
	}
	oevs = append(oevs, oaFinish("tool_calls"), oaDone)
	out, err = runFromOpenAI(t, StreamFromOpenAIOptions{}, oevs)
	if err != nil {
		t.Fatal(err)
	}
	checkAnthropicShape(t, out)
	msg := sdkAccumulate(t, out)
	jsonEq(t, string(msg.Content[0].Input), longArgs)
}

// Only the first choice has a place in an Anthropic message; a tool call chunk without index
// (some servers) is placed by its id.
func TestStreamFromOpenAIChoicesAndMissingIndex(t *testing.T) {
	out, err := runFromOpenAI(t, StreamFromOpenAIOptions{}, [][]byte{
		chunk(`{"id":"c","choices":[{"index":1,"delta":{"content":"other choice"}},{"index":0,"delta":{"content":"x"}}]}`),
		chunk(`{"id":"c","choices":[{"index":0,"delta":{"content":"first"}}]}`),
		chunk(`{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"id":"a","function":{"name":"f","arguments":"{\"a\":"}}]}}]}`),
		chunk(`{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"function":{"arguments":"1}"}}]}}]}`),
		chunk(`{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"id":"b","function":{"name":"g","arguments":"{}"}}]}}]}`),
		chunk(`{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`),
		oaDone,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkAnthropicShape(t, out)
	msg := sdkAccumulate(t, out)
	if len(msg.Content) != 3 || msg.Content[0].Text != "xfirst" || msg.Content[1].ID != "a" || string(msg.Content[1].Input) != `{"a":1}` || msg.Content[2].ID != "b" {
		t.Fatalf("%+v", msg.Content)
	}
}

// One chunk with text, a whole tool call and the finish reason at once loses none of them.
func TestStreamFromOpenAIEverythingInOneChunk(t *testing.T) {
	out, err := runFromOpenAI(t, StreamFromOpenAIOptions{}, [][]byte{
		chunk(`{"id":"c","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Let me check.","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"lookup","arguments":"{\"q\":\"x\"}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13}}`),
		oaDone,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkAnthropicShape(t, out)
	msg := sdkAccumulate(t, out)
	if len(msg.Content) != 2 || msg.Content[0].Text != "Let me check." || msg.Content[1].Name != "lookup" || string(msg.Content[1].Input) != `{"q":"x"}` ||
		msg.StopReason != "tool_use" || msg.Usage.InputTokens != 9 || msg.Usage.OutputTokens != 4 {
		t.Fatalf("%+v", msg)
	}
}
