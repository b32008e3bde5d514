package anthropic

import (
	"encoding/json"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/llmrouter/caddy-llm-router/dialect/openai"
	oa "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"
)

// A tool round as an Anthropic SDK client drives it against an OpenAI upstream: the SDK's
// request translated, the upstream's stream translated back and accumulated by the SDK, the
// SDK's replay of that message plus its tool results translated again. The ids must pair up
// and the unsigned thinking block must not reach the OpenAI upstream.
func TestSDKToolRoundAgainstOpenAIUpstream(t *testing.T) {
	params := sdk.MessageNewParams{
		Model:     "claude-sonnet",
		MaxTokens: 1024,
		System:    []sdk.TextBlockParam{{Text: "Be brief."}},
		Messages:  []sdk.MessageParam{sdk.NewUserMessage(sdk.NewTextBlock("Weather and time in Paris?"))},
		Tools: []sdk.ToolUnionParam{
			{OfTool: &sdk.ToolParam{Name: "get_weather", InputSchema: sdk.ToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}}}}},
			{OfTool: &sdk.ToolParam{Name: "get_time", InputSchema: sdk.ToolInputSchemaParam{Properties: map[string]any{"tz": map[string]any{"type": "string"}}}}},
		},
	}
	body, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	up, err := RequestToOpenAI(body, ToOpenAIOptions{Model: "gpt-4o"})
	if err != nil {
		t.Fatal(err)
	}
	var first openai.Request
	if err := json.Unmarshal(up, &first); err != nil {
		t.Fatal(err)
	}
	if first.Model != "gpt-4o" || len(first.Tools) != 2 || first.Messages[0].Role != "system" || first.Messages[1].Content.String("") != "Weather and time in Paris?" {
		t.Fatalf("first request %s", up)
	}

	out, err := runFromOpenAI(t, StreamFromOpenAIOptions{Model: "claude-sonnet"}, oaThinkToolStream())
	if err != nil {
		t.Fatal(err)
	}
	msg := sdkAccumulate(t, out)
	var results []sdk.ContentBlockParamUnion
	for _, b := range msg.Content {
		if b.Type == "tool_use" {
			results = append(results, sdk.NewToolResultBlock(b.ID, "result of "+b.Name, false))
		}
	}
	params.Messages = append(params.Messages, msg.ToParam(), sdk.NewUserMessage(results...))
	body, err = json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	up, err = RequestToOpenAI(body, ToOpenAIOptions{Model: "gpt-4o"})
	if err != nil {
		t.Fatal(err)
	}
	var second openai.Request
	if err := json.Unmarshal(up, &second); err != nil {
		t.Fatal(err)
	}
	ms := second.Messages
	if len(ms) != 5 {
		t.Fatalf("%d messages: %s", len(ms), up)
	}
	a := ms[2]
	if a.Role != "assistant" || a.Content.String("") != "Both." || a.ReasoningContent != "" || len(a.ToolCalls) != 2 {
		t.Fatalf("assistant %+v", a)
	}
	for i, tc := range a.ToolCalls {
		tm := ms[3+i]
		if tm.Role != "tool" || tm.ToolCallID != tc.ID || tm.Content.String("") != "result of "+tc.Function.Name {
			t.Errorf("tool message %d %+v for call %+v", i, tm, tc)
		}
	}
	jsonEq(t, a.ToolCalls[0].Function.Arguments, `{"city":"Paris"}`)

	// The same history to an Anthropic upstream through the pivot keeps the pairs too.
	back, err := RequestFromOpenAI(up, FromOpenAIOptions{Model: "claude-sonnet-4-5"})
	if err != nil {
		t.Fatal(err)
	}
	var ar Request
	if err := json.Unmarshal(back, &ar); err != nil {
		t.Fatal(err)
	}
	if len(ar.Messages) != 3 || ar.Messages[2].Content[0].ToolUseID != ar.Messages[1].Content[1].ID {
		t.Fatalf("%s", back)
	}
}

// The same round for an openai-go client against an Anthropic upstream: whole replies this
// time.
func TestOpenAISDKToolRoundAgainstAnthropicUpstream(t *testing.T) {
	params := oa.ChatCompletionNewParams{
		Model:    "claude-sonnet",
		Messages: []oa.ChatCompletionMessageParamUnion{oa.SystemMessage("Be brief."), oa.UserMessage("Weather in Paris?")},
		Tools: []oa.ChatCompletionToolUnionParam{oa.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name: "get_weather", Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
		})},
		ToolChoice: oa.ChatCompletionToolChoiceOptionUnionParam{OfAuto: oa.String("required")},
	}
	body, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	up, err := RequestFromOpenAI(body, FromOpenAIOptions{Model: "claude-sonnet-4-5"})
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, string(up), `{"model":"claude-sonnet-4-5","max_tokens":4096,"system":[{"type":"text","text":"Be brief."}],
		"messages":[{"role":"user","content":[{"type":"text","text":"Weather in Paris?"}]}],
		"tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}],"tool_choice":{"type":"any"}}`)

	reply, err := ResponseToOpenAI([]byte(`{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5",
		"content":[{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}}],"stop_reason":"tool_use",
		"usage":{"input_tokens":50,"output_tokens":10}}`), ReplyOptions{Model: "claude-sonnet"})
	if err != nil {
		t.Fatal(err)
	}
	var cc oa.ChatCompletion
	if err := json.Unmarshal(reply, &cc); err != nil {
		t.Fatal(err)
	}
	if cc.Choices[0].FinishReason != "tool_calls" || cc.Choices[0].Message.ToolCalls[0].ID != "toolu_1" {
		t.Fatalf("%s", reply)
	}
	params.Messages = append(params.Messages, cc.Choices[0].Message.ToParam(), oa.ToolMessage("18C", "toolu_1"))
	params.ToolChoice = oa.ChatCompletionToolChoiceOptionUnionParam{}
	body, err = json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	up, err = RequestFromOpenAI(body, FromOpenAIOptions{Model: "claude-sonnet-4-5"})
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, string(up), `{"model":"claude-sonnet-4-5","max_tokens":4096,"system":[{"type":"text","text":"Be brief."}],
		"messages":[{"role":"user","content":[{"type":"text","text":"Weather in Paris?"}]},
			{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}}]},
			{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"18C"}]}]}],
		"tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}]}`)
}
