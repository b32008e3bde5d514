package anthropic

import (
	"encoding/json"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/llmrouter/caddy-llm-router/dialect/openai"
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
