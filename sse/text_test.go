package sse

import "testing"

func TestTextBytes(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    Dialect
		ev   string
		want int
	}{
		{"chat content", OpenAI, `data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}` + "\n\n", 5},
		{"chat role chunk", OpenAI, `data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}` + "\n\n", 0},
		{"chat null content and tool arguments", OpenAI, `data: {"choices":[{"delta":{"content":null,"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}}]}` + "\n\n", 10},
		{"chat reasoning", OpenAI, `data: {"choices":[{"delta":{"reasoning_content":"think"}}]}` + "\n\n", 5},
		{"escapes count their bytes (a, \", b, \\, c, \n)", OpenAI, `data: {"choices":[{"delta":{"content":"a\"b\\c\n"}}]}` + "\n\n", 9},
		{"no usage or ids", OpenAI, `data: {"id":"chatcmpl-1","model":"gpt","choices":[],"usage":{"prompt_tokens":5}}` + "\n\n", 0},
		{"anthropic text", Anthropic, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"It is \"}}\n\n", 6},
		{"anthropic tool input", Anthropic, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"ci\"}}\n\n", 5},
		{"anthropic start", Anthropic, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"content\":[],\"usage\":{\"input_tokens\":3}}}\n\n", 0},
		{"responses delta", Responses, "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"item_id\":\"msg_1\",\"delta\":\"Hi there\"}\n\n", 8},
		{"responses done repeats the text", Responses, "event: response.output_text.done\ndata: {\"type\":\"response.output_text.done\",\"text\":\"Hi there\"}\n\n", 0},
		{"gemini spaced", Gemini, `data: {"candidates": [{"content": {"parts": [{"text": "Hello"}],"role": "model"}}]}` + "\n\n", 5},
		{"several events", OpenAI, `data: {"choices":[{"delta":{"content":"ab"}}]}` + "\n\n" + `data: {"choices":[{"delta":{"content":"cde"}}]}` + "\n\n", 5},
		{"cut string", OpenAI, `data: {"choices":[{"delta":{"content":"abc`, 3},
		{"key at the end", OpenAI, `{"content":`, 0},
		{"unknown dialect", Dialect(9), `{"text":"abc"}`, 0},
	} {
		if got := TextBytes(tc.d, []byte(tc.ev)); got != tc.want {
			t.Errorf("%s: %d bytes, want %d", tc.name, got, tc.want)
		}
	}
}
