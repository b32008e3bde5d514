package gemini

import (
	"encoding/json"
	"testing"

	oa "github.com/openai/openai-go/v3"
)

// An openai-go client's tool round against a Gemini 3 upstream: the signed call Gemini made
// comes back to Gemini on the next turn with its signature, and the result is paired by name.
func TestOpenAISDKToolRoundAgainstGemini(t *testing.T) {
	reply := `{"candidates":[{"content":{"role":"model","parts":[
		{"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"` + sigA + `"},
		{"functionCall":{"name":"get_weather","args":{"city":"Rome"}}}]},"finishReason":"STOP","index":0}],
		"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":8,"totalTokenCount":18},"modelVersion":"gemini-3-pro","responseId":"turn1"}`
	whole, err := ResponseToOpenAI([]byte(reply), ReplyOptions{Model: "pro", Created: 1})
	if err != nil {
		t.Fatal(err)
	}
	var c oa.ChatCompletion
	if err := json.Unmarshal(whole, &c); err != nil {
		t.Fatal(err)
	}
	if c.Choices[0].FinishReason != "tool_calls" || len(c.Choices[0].Message.ToolCalls) != 2 {
		t.Fatalf("%s", whole)
	}
	calls := c.Choices[0].Message.ToolCalls
	params := oa.ChatCompletionNewParams{Model: "pro", Messages: []oa.ChatCompletionMessageParamUnion{
		oa.UserMessage("Weather in Paris and Rome?"),
		c.Choices[0].Message.ToParam(),
		oa.ToolMessage(`{"temp":21}`, calls[0].ID),
		oa.ToolMessage("sunny", calls[1].ID),
	}}
	body, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	next, err := RequestFromOpenAI(body, FromOpenAIOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var r Request
	if err := json.Unmarshal(next, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Contents) != 3 || r.Contents[1].Role != "model" || r.Contents[2].Role != "user" {
		t.Fatalf("%s", next)
	}
	m := r.Contents[1].Parts
	if len(m) != 2 || m[0].ThoughtSignature != sigA || m[1].ThoughtSignature != "" || m[0].FunctionCall.Name != "get_weather" {
		t.Fatalf("model turn %s", next)
	}
	u := r.Contents[2].Parts
	if len(u) != 2 || u[0].FunctionResponse.Name != "get_weather" || string(u[0].FunctionResponse.Response) != `{"temp":21}` ||
		string(u[1].FunctionResponse.Response) != `{"result":"sunny"}` {
		t.Fatalf("results %s", next)
	}
}
