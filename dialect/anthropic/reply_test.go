package anthropic

import (
	"encoding/json"
	"strings"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go"
	oa "github.com/openai/openai-go/v3"
)

func TestResponseToOpenAI(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{
			name: "text, thinking, tools, cache usage",
			in: `{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[
				{"type":"thinking","thinking":"Hmm.","signature":"sig"},
				{"type":"text","text":"Calling."},
				{"type":"tool_use","id":"toolu_1","name":"get","input":{"q": 1}},
				{"type":"tool_use","id":"toolu_2","name":"put","input":{}}],
				"stop_reason":"tool_use","stop_sequence":null,
				"usage":{"input_tokens":10,"output_tokens":20,"cache_creation_input_tokens":5,"cache_read_input_tokens":100}}`,
			want: `{"id":"msg_1","object":"chat.completion","created":9,"model":"sonnet","choices":[{"index":0,
				"message":{"role":"assistant","content":"Calling.","reasoning_content":"Hmm.","tool_calls":[
					{"id":"toolu_1","type":"function","function":{"name":"get","arguments":"{\"q\":1}"}},
					{"id":"toolu_2","type":"function","function":{"name":"put","arguments":"{}"}}]},
				"finish_reason":"tool_calls"}],
				"usage":{"prompt_tokens":115,"completion_tokens":20,"total_tokens":135,"prompt_tokens_details":{"cached_tokens":100,"cache_write_tokens":5}}}`,
		},
		{
			name: "only tool calls: no content key",
			in:   `{"id":"msg_2","type":"message","role":"assistant","model":"c","content":[{"type":"tool_use","id":"t","name":"f","input":{}}],"stop_reason":"tool_use","usage":{"input_tokens":1,"output_tokens":2}}`,
			want: `{"id":"msg_2","object":"chat.completion","created":9,"model":"sonnet","choices":[{"index":0,"message":{"role":"assistant","tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}`,
		},
		{
			name: "empty reply, max_tokens",
			in:   `{"id":"msg_3","type":"message","role":"assistant","model":"c","content":[],"stop_reason":"max_tokens","usage":{"input_tokens":1,"output_tokens":0}}`,
			want: `{"id":"msg_3","object":"chat.completion","created":9,"model":"sonnet","choices":[{"index":0,"message":{"role":"assistant","content":""},"finish_reason":"length"}],"usage":{"prompt_tokens":1,"completion_tokens":0,"total_tokens":1}}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ResponseToOpenAI([]byte(tc.in), ReplyOptions{Model: "sonnet", Created: 9})
			if err != nil {
				t.Fatal(err)
			}
			jsonEq(t, string(got), tc.want)
			var cc oa.ChatCompletion
			if err := json.Unmarshal(got, &cc); err != nil {
				t.Fatalf("openai-go cannot decode: %v", err)
			}
		})
	}
	for _, stop := range []string{"end_turn", "stop_sequence", "pause_turn", "refusal", "max_tokens", "tool_use", "model_context_window_exceeded", "new_reason"} {
		got, err := ResponseToOpenAI([]byte(`{"type":"message","content":[{"type":"text","text":"x"}],"stop_reason":"`+stop+`","usage":{}}`), ReplyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Choices []struct {
				FinishReason string `json:"finish_reason"`
			} `json:"choices"`
		}
		_ = json.Unmarshal(got, &r)
		if fr := r.Choices[0].FinishReason; fr != FinishReason(stop) || strings.Contains(fr, "_") && fr != "tool_calls" && fr != "content_filter" {
			t.Errorf("%s -> %q", stop, fr)
		}
	}
	for _, bad := range []string{`nope`, `{"type":"error","error":{"type":"api_error","message":"x"}}`} {
		if _, err := ResponseToOpenAI([]byte(bad), ReplyOptions{}); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestResponseFromOpenAI(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		opts           ReplyOptions
	}{
		{
			name: "text, reasoning, tools with stop finish, cached usage",
			in: `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant",
				"content":"Sure.","reasoning_content":"Think.","tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}},{"id":"call_2","type":"function","function":{"name":"g","arguments":"not json"}}]},
				"finish_reason":"stop"}],"usage":{"prompt_tokens":130,"completion_tokens":7,"total_tokens":137,"prompt_tokens_details":{"cached_tokens":100}}}`,
			opts: ReplyOptions{Model: "claude-sonnet"},
			want: `{"id":"msg_chatcmpl-1","type":"message","role":"assistant","model":"claude-sonnet","content":[
				{"type":"thinking","thinking":"Think.","signature":""},{"type":"text","text":"Sure."},
				{"type":"tool_use","id":"call_1","name":"f","input":{"a":1}},{"type":"tool_use","id":"call_2","name":"g","input":{}}],
				"stop_reason":"tool_use","stop_sequence":null,
				"usage":{"input_tokens":30,"output_tokens":7,"cache_creation_input_tokens":0,"cache_read_input_tokens":100}}`,
		},
		{
			name: "length, reasoning dropped, content parts",
			in:   `{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}],"reasoning_content":"r"},"finish_reason":"length"}]}`,
			opts: ReplyOptions{DropReasoning: true},
			want: `{"id":"msg_x","type":"message","role":"assistant","model":"","content":[{"type":"text","text":"ab"}],"stop_reason":"max_tokens","stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}`,
		},
		{
			name: "refusal",
			in:   `{"id":"msg_y","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":null,"refusal":"I can't."},"finish_reason":"stop"}]}`,
			want: `{"id":"msg_y","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"I can't."}],"stop_reason":"refusal","stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}`,
		},
		{
			name: "content_filter, empty",
			in:   `{"id":"z","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":""},"finish_reason":"content_filter"}]}`,
			want: `{"id":"msg_z","type":"message","role":"assistant","model":"m","content":[],"stop_reason":"refusal","stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ResponseFromOpenAI([]byte(tc.in), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			jsonEq(t, string(got), tc.want)
			var m sdk.Message
			if err := json.Unmarshal(got, &m); err != nil {
				t.Fatalf("anthropic-sdk-go cannot decode: %v", err)
			}
		})
	}
	for _, bad := range []string{`nope`, `{"id":"x","choices":[]}`} {
		if _, err := ResponseFromOpenAI([]byte(bad), ReplyOptions{}); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// A whole reply and the same reply streamed must reach the client alike.
func TestWholeAndStreamedAgree(t *testing.T) {
	whole := `{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[
		{"type":"thinking","thinking":"Let me think.","signature":"EqQBCgIYAhIM"},{"type":"text","text":"Checking both."},
		{"type":"tool_use","id":"toolu_A","name":"get_weather","input":{"city": "Paris"}},{"type":"tool_use","id":"toolu_B","name":"get_time","input":{"tz":"CET"}}],
		"stop_reason":"tool_use","usage":{"input_tokens":25,"output_tokens":80,"cache_creation_input_tokens":10,"cache_read_input_tokens":100}}`
	got, err := ResponseToOpenAI([]byte(whole), ReplyOptions{Created: 7})
	if err != nil {
		t.Fatal(err)
	}
	var w oa.ChatCompletion
	if err := json.Unmarshal(got, &w); err != nil {
		t.Fatal(err)
	}
	out, err := runToOpenAI(t, StreamToOpenAIOptions{Created: 7, IncludeUsage: true}, thinkToolStream())
	if err != nil {
		t.Fatal(err)
	}
	s, _ := accumulate(t, out)
	wm, sm := w.Choices[0].Message, s.Choices[0].Message
	if wm.Content != sm.Content || len(wm.ToolCalls) != len(sm.ToolCalls) || w.Choices[0].FinishReason != s.Choices[0].FinishReason || w.Usage.PromptTokens != s.Usage.PromptTokens {
		t.Fatalf("whole %+v\nstream %+v", w, s)
	}
	for i := range wm.ToolCalls {
		if wm.ToolCalls[i].ID != sm.ToolCalls[i].ID {
			t.Errorf("tool %d id", i)
		}
		jsonEq(t, wm.ToolCalls[i].Function.Arguments, sm.ToolCalls[i].Function.Arguments)
	}
}
