package llmrouter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	anthropicsdk "github.com/anthropics/anthropic-sdk-go"
	anthropicopt "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// The Anthropic Messages dialect end to end: the official Go SDKs of both dialects as clients,
// fake upstreams of both dialects behind the real handler, whole and streamed, with a tool
// round trip. Every case asserts text, tool input, stop reason and usage.

// openAIAgentUpstream answers like an OpenAI model driving a tool: a request without a tool
// result gets a call of get_weather({"city":"Paris"}); one with a result gets text quoting it.
func openAIAgentUpstream(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req struct {
		Stream   bool `json:"stream"`
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	_ = json.Unmarshal(body, &req)
	result := ""
	for _, m := range req.Messages {
		if m.Role == "tool" {
			_ = json.Unmarshal(m.Content, &result)
		}
	}
	if !req.Stream {
		w.Header().Set("Content-Type", "application/json")
		if result == "" {
			_, _ = io.WriteString(w, `{"id":"c1","object":"chat.completion","created":1,"model":"m-up","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":20,"completion_tokens":7,"total_tokens":27}}`)
			return
		}
		_, _ = io.WriteString(w, `{"id":"c2","object":"chat.completion","created":1,"model":"m-up","choices":[{"index":0,"message":{"role":"assistant","content":"It is `+result+` in Paris."},"finish_reason":"stop"}],"usage":{"prompt_tokens":30,"completion_tokens":6,"total_tokens":36}}`)
		return
	}
	const head = `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m-up","choices":[`
	var evs []string
	if result == "" {
		evs = []string{
			head + `{"index":0,"delta":{"role":"assistant","content":null},"finish_reason":null}]}` + "\n\n",
			head + `{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}` + "\n\n",
			head + `{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"ci"}}]},"finish_reason":null}]}` + "\n\n",
			head + `{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"ty\":\"Paris\"}"}}]},"finish_reason":null}]}` + "\n\n",
			head + `{"index":0,"delta":{},"finish_reason":"tool_calls"}]}` + "\n\n",
			head + `],"usage":{"prompt_tokens":20,"completion_tokens":7,"total_tokens":27}}` + "\n\n",
		}
	} else {
		evs = []string{
			head + `{"index":0,"delta":{"role":"assistant","content":"It is "},"finish_reason":null}]}` + "\n\n",
			head + `{"index":0,"delta":{"content":"` + result + ` in Paris."},"finish_reason":null}]}` + "\n\n",
			head + `{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\n",
			head + `],"usage":{"prompt_tokens":30,"completion_tokens":6,"total_tokens":36}}` + "\n\n",
		}
	}
	sseReply(append(evs, doneEv)...)(w, r)
}

// anthropicAgentUpstream is openAIAgentUpstream as the Anthropic Messages API answers.
func anthropicAgentUpstream(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req struct {
		Stream   bool `json:"stream"`
		Messages []struct {
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	_ = json.Unmarshal(body, &req)
	result := ""
	for _, m := range req.Messages {
		var blocks []struct {
			Type    string          `json:"type"`
			Content json.RawMessage `json:"content"`
		}
		_ = json.Unmarshal(m.Content, &blocks)
		for _, b := range blocks {
			if b.Type == "tool_result" {
				var parts []struct{ Text string }
				if json.Unmarshal(b.Content, &parts) == nil && len(parts) > 0 {
					result = parts[0].Text
				} else {
					_ = json.Unmarshal(b.Content, &result)
				}
			}
		}
	}
	if !req.Stream {
		w.Header().Set("Content-Type", "application/json")
		if result == "" {
			_, _ = io.WriteString(w, `{"id":"msg_1","type":"message","role":"assistant","model":"m-up","content":[{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":20,"output_tokens":7}}`)
			return
		}
		_, _ = io.WriteString(w, `{"id":"msg_2","type":"message","role":"assistant","model":"m-up","content":[{"type":"text","text":"It is `+result+` in Paris."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":30,"output_tokens":6}}`)
		return
	}
	ev := func(name, data string) string { return "event: " + name + "\ndata: " + data + "\n\n" }
	start := ev("message_start", `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m-up","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":20,"output_tokens":1}}}`)
	var evs []string
	if result == "" {
		evs = []string{start,
			ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}}`),
			ev("ping", `{"type":"ping"}`),
			ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"ci"}}`),
			ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"ty\":\"Paris\"}"}}`),
			ev("content_block_stop", `{"type":"content_block_stop","index":0}`),
			ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":7}}`),
			ev("message_stop", `{"type":"message_stop"}`),
		}
	} else {
		evs = []string{start,
			ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`),
			ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"It is "}}`),
			ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"`+result+` in Paris."}}`),
			ev("content_block_stop", `{"type":"content_block_stop","index":0}`),
			ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":6}}`),
			ev("message_stop", `{"type":"message_stop"}`),
		}
	}
	sseReply(evs...)(w, r)
}

// newDialectRouter serves model "m" from one upstream of the given API.
func newDialectRouter(t *testing.T, api string, reply http.HandlerFunc) (*fakeUpstream, *testRouter, *routerServer) {
	t.Helper()
	up := newFakeUpstream(t, reply)
	pc := provider("p1", up.URL+"/v1", []string{"sk-upstream-key-0001"}, "m", "m-up")
	pc.API = api
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{pc}})
	return up, tr, serveRouter(t, tr)
}

func anthropicClient(rs *routerServer) anthropicsdk.Client {
	return anthropicsdk.NewClient(
		anthropicopt.WithBaseURL(rs.URL),
		anthropicopt.WithAPIKey("gateway-key"),
		anthropicopt.WithMaxRetries(0),
		anthropicopt.WithRequestTimeout(10*time.Second),
		anthropicopt.WithHTTPClient(rs.Client()),
	)
}

var weatherTool = anthropicsdk.ToolUnionParam{OfTool: &anthropicsdk.ToolParam{
	Name: "get_weather", Description: anthropicsdk.String("The weather in a city"),
	InputSchema: anthropicsdk.ToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}}},
}}

// anthropicToolRound drives one tool round through the router with the Anthropic SDK, whole or
// streamed: the model calls get_weather, the client answers, the model says the result.
//
// wantModel is the model the reply names: the public name when the router translated the
// reply, the upstream's own id when it passed through untouched.
func anthropicToolRound(t *testing.T, rs *routerServer, stream bool, wantModel string) {
	t.Helper()
	c := anthropicClient(rs)
	params := anthropicsdk.MessageNewParams{
		Model: "m", MaxTokens: 1024,
		System:   []anthropicsdk.TextBlockParam{{Text: "Be brief."}},
		Messages: []anthropicsdk.MessageParam{anthropicsdk.NewUserMessage(anthropicsdk.NewTextBlock("Weather in Paris?"))},
		Tools:    []anthropicsdk.ToolUnionParam{weatherTool},
	}
	send := func() *anthropicsdk.Message {
		t.Helper()
		if !stream {
			msg, err := c.Messages.New(context.Background(), params)
			if err != nil {
				t.Fatalf("SDK error: %v", err)
			}
			return msg
		}
		st := c.Messages.NewStreaming(context.Background(), params)
		defer st.Close()
		msg, events := anthropicsdk.Message{}, 0
		for st.Next() {
			events++
			if err := msg.Accumulate(st.Current()); err != nil {
				t.Fatalf("accumulate: %v", err)
			}
		}
		if err := st.Err(); err != nil {
			t.Fatalf("SDK stream error after %d events: %v", events, err)
		}
		if events == 0 {
			t.Fatal("the SDK saw zero events and no error: a silent failure")
		}
		return &msg
	}

	msg := send()
	if msg.StopReason != anthropicsdk.StopReasonToolUse || len(msg.Content) != 1 || msg.Content[0].Type != "tool_use" {
		t.Fatalf("first turn: stop %q, content %+v", msg.StopReason, msg.Content)
	}
	call := msg.Content[0]
	var input struct{ City string }
	if err := json.Unmarshal(call.Input, &input); err != nil || call.Name != "get_weather" || input.City != "Paris" || call.ID == "" {
		t.Fatalf("tool call %q %s (%v)", call.Name, call.Input, err)
	}
	if msg.Usage.InputTokens <= 0 || msg.Usage.OutputTokens != 7 {
		t.Errorf("first turn usage %+v", msg.Usage)
	}
	params.Messages = append(params.Messages, msg.ToParam(),
		anthropicsdk.NewUserMessage(anthropicsdk.NewToolResultBlock(call.ID, "18C", false)))
	msg = send()
	if msg.StopReason != anthropicsdk.StopReasonEndTurn || len(msg.Content) != 1 || msg.Content[0].Text != "It is 18C in Paris." {
		t.Fatalf("second turn: stop %q, content %+v", msg.StopReason, msg.Content)
	}
	if string(msg.Model) != wantModel || msg.Usage.OutputTokens != 6 {
		t.Errorf("second turn: model %q, usage %+v", msg.Model, msg.Usage)
	}
}

// TestAnthropicSDKThroughOpenAIUpstream: an Anthropic client reaches an OpenAI-compatible
// provider, translated both ways, whole and streamed.
func TestAnthropicSDKThroughOpenAIUpstream(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "whole", true: "streamed"}[stream], func(t *testing.T) {
			up, _, rs := newDialectRouter(t, "", openAIAgentUpstream)
			anthropicToolRound(t, rs, stream, "m")
			reqs := up.received()
			if len(reqs) != 2 {
				t.Fatalf("upstream got %d requests, want 2", len(reqs))
			}
			for _, r := range reqs {
				if r.Path != "/v1/chat/completions" || hfModelOf(t, r) != "m-up" {
					t.Errorf("upstream request to %s for %q", r.Path, hfModelOf(t, r))
				}
				for k := range r.Header {
					if strings.HasPrefix(k, "Anthropic-") || k == "X-Api-Key" {
						t.Errorf("the OpenAI upstream got the Anthropic header %s", k)
					}
				}
			}
			var second struct {
				Messages []struct {
					Role       string `json:"role"`
					ToolCallID string `json:"tool_call_id"`
				} `json:"messages"`
			}
			_ = json.Unmarshal(reqs[1].Body, &second)
			if n := len(second.Messages); n < 2 || second.Messages[n-1].Role != "tool" || second.Messages[n-1].ToolCallID != "call_1" {
				t.Errorf("the tool result did not reach the upstream as its own call's result: %s", reqs[1].Body)
			}
		})
	}
}

// TestAnthropicSDKThroughAnthropicUpstream: the native path passes the client's request
// through with the model swapped, its anthropic-version, anthropic-beta and query kept, the
// provider's key in x-api-key, and the stream's event names.
func TestAnthropicSDKThroughAnthropicUpstream(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "whole", true: "streamed"}[stream], func(t *testing.T) {
			up, _, rs := newDialectRouter(t, "anthropic", anthropicAgentUpstream)
			anthropicToolRound(t, rs, stream, "m-up")
			reqs := up.received()
			if len(reqs) != 2 {
				t.Fatalf("upstream got %d requests, want 2", len(reqs))
			}
			r := reqs[0]
			if r.Path != "/v1/messages" || hfModelOf(t, r) != "m-up" {
				t.Errorf("upstream request to %s for %q", r.Path, hfModelOf(t, r))
			}
			if got := r.Header.Get("X-Api-Key"); got != "sk-upstream-key-0001" {
				t.Errorf("x-api-key %q, want the provider's key", got)
			}
			if r.Header.Get("Anthropic-Version") == "" || r.Header.Get("Authorization") != "" {
				t.Errorf("headers: anthropic-version %q, authorization %q", r.Header.Get("Anthropic-Version"), r.Header.Get("Authorization"))
			}
		})
	}

	// Claude Code's own request shape: ?beta=true, anthropic-beta; bytes other than the model kept.
	up, _, rs := newDialectRouter(t, "anthropic", anthropicAgentUpstream)
	body := `{"model":"m","max_tokens":50,"stream":true,"system":[{"type":"text","text":"x-anthropic-billing-header: cc_version=1"},{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"hi"}],"metadata":{"user_id":"u1"}}`
	req, _ := http.NewRequest(http.MethodPost, rs.URL+"/v1/messages?beta=true", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Anthropic-Version", "2023-06-01")
	req.Header.Set("Anthropic-Beta", "claude-code-20250219,interleaved-thinking-2025-05-14")
	req.Header.Set("X-Api-Key", "gateway-key")
	resp, err := rs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.HasPrefix(got, []byte("event: message_start\n")) || !bytes.HasSuffix(got, []byte("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n")) {
		t.Errorf("the stream lost its event names or its end: %q", got)
	}
	r := up.received()[0]
	if want := strings.Replace(body, `"model":"m"`, `"model":"m-up"`, 1); string(r.Body) != want {
		t.Errorf("upstream body\n got %s\nwant %s", r.Body, want)
	}
	if r.Header.Get("Anthropic-Beta") != "claude-code-20250219,interleaved-thinking-2025-05-14" {
		t.Errorf("anthropic-beta %q not forwarded", r.Header.Get("Anthropic-Beta"))
	}
}

// TestOpenAISDKThroughAnthropicUpstream: an OpenAI client reaches an `api anthropic` provider,
// translated both ways, whole and streamed, with a tool round trip.
func TestOpenAISDKThroughAnthropicUpstream(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "whole", true: "streamed"}[stream], func(t *testing.T) {
			up, _, rs := newDialectRouter(t, "anthropic", anthropicAgentUpstream)
			openAIToolRound(t, rs, stream)
			r := up.received()[1]
			if r.Path != "/v1/messages" || hfModelOf(t, r) != "m-up" || r.Header.Get("X-Api-Key") != "sk-upstream-key-0001" {
				t.Errorf("upstream request to %s for %q", r.Path, hfModelOf(t, r))
			}
		})
	}
}

// openAIToolRound drives one tool round through the router with openai-go, whole or streamed
// (asking for the usage chunk): the model calls get_weather, the client answers, the model
// says the result.
func openAIToolRound(t *testing.T, rs *routerServer, stream bool) {
	t.Helper()
	c := sdkClient(rs)
	params := openai.ChatCompletionNewParams{
		Model:    "m",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("Be brief."), openai.UserMessage("Weather in Paris?")},
		Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name: "get_weather", Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
		})},
	}
	send := func() openai.ChatCompletionMessage {
		t.Helper()
		if !stream {
			res, err := c.Chat.Completions.New(context.Background(), params)
			if err != nil {
				t.Fatalf("SDK error: %v", err)
			}
			return res.Choices[0].Message
		}
		params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		acc := streamChat(t, c, params)
		if len(acc.Choices) != 1 || acc.Usage.CompletionTokens == 0 {
			t.Fatalf("accumulated %+v", acc.ChatCompletion)
		}
		return acc.Choices[0].Message
	}
	msg := send()
	if len(msg.ToolCalls) != 1 || msg.ToolCalls[0].Function.Name != "get_weather" || msg.ToolCalls[0].ID == "" {
		t.Fatalf("first turn: %+v", msg)
	}
	var args struct{ City string }
	if err := json.Unmarshal([]byte(msg.ToolCalls[0].Function.Arguments), &args); err != nil || args.City != "Paris" {
		t.Fatalf("arguments %q (%v)", msg.ToolCalls[0].Function.Arguments, err)
	}
	params.Messages = append(params.Messages, msg.ToParam(), openai.ToolMessage("18C", msg.ToolCalls[0].ID))
	msg = send()
	if msg.Content != "It is 18C in Paris." {
		t.Fatalf("second turn: %+v", msg)
	}
}

// TestAnthropicErrorsInAnthropicShape: on /v1/messages the router's own errors, an upstream's
// client error from the other dialect, and a stream broken after it began all come in the
// shape Anthropic clients parse.
func TestAnthropicErrorsInAnthropicShape(t *testing.T) {
	checkBody := func(t *testing.T, what string, b []byte, wantType string) {
		t.Helper()
		var e struct {
			Type  string `json:"type"`
			Error struct{ Type, Message string }
		}
		if err := json.Unmarshal(b, &e); err != nil || e.Type != "error" || e.Error.Type != wantType || e.Error.Message == "" {
			t.Errorf("%s: body %s, want an Anthropic error of type %s", what, b, wantType)
		}
	}
	post := func(rs *routerServer, body string) (*http.Response, []byte) {
		resp, err := rs.Client().Post(rs.URL+"/v1/messages", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, b
	}

	up0, _, rs := newDialectRouter(t, "", status(http.StatusBadRequest))
	resp, b := post(rs, `{"model":"nope","max_tokens":5,"messages":[]}`)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown model: status %d", resp.StatusCode)
	}
	checkBody(t, "unknown model", b, "not_found_error")
	resp, b = post(rs, `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("upstream 400: status %d", resp.StatusCode)
	}
	checkBody(t, "an OpenAI upstream's 400", b, "invalid_request_error")
	// A request that cannot be put in the upstream's dialect is the client's: 400, nothing sent.
	before := len(up0.received())
	resp, b = post(rs, `{"model":"m","max_tokens":5,"messages":"not a list"}`)
	if resp.StatusCode != http.StatusBadRequest || len(up0.received()) != before {
		t.Errorf("untranslatable request: status %d, upstream calls %d", resp.StatusCode, len(up0.received())-before)
	}
	checkBody(t, "untranslatable request", b, "invalid_request_error")

	// Auth: 401 in Anthropic's shape before any body is read.
	up := newFakeUpstream(t, okChat)
	tr := newTestRouter(t, &Handler{
		Providers: []catalog.ProviderConfig{provider("p1", up.URL+"/v1", nil, "m", "m-up")},
		Auth:      &AuthConfig{Keys: []GatewayKey{{Name: "alice", Key: "gw-secret-alice-1"}}},
	})
	req, _ := http.NewRequest(http.MethodPost, "/v1/messages", strings.NewReader(`{"model":"m"}`))
	rec := tr.do(req)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("no key: status %d", rec.Code)
	}
	checkBody(t, "no key", rec.Body.Bytes(), "authentication_error")

	// A stream cut after it began ends with event: error.
	_, _, rs = newDialectRouter(t, "", sseReply(roleChunkEv("Hel")))
	_, b = post(rs, `{"model":"m","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	s := string(b)
	if !strings.Contains(s, "event: message_start\n") || !strings.HasSuffix(s, "\n\n") {
		t.Fatalf("stream %q", s)
	}
	last := s[strings.LastIndex(strings.TrimSuffix(s, "\n\n"), "\n\n")+2:]
	data, ok := strings.CutPrefix(last, "event: error\ndata: ")
	if !ok {
		t.Fatalf("the cut stream does not end with event: error: %q", last)
	}
	checkBody(t, "cut stream", []byte(data), "api_error")
}

// TestCountTokens: forwarded to an Anthropic provider, estimated for a pool without one or
// whose Anthropic providers all failed.
func TestCountTokens(t *testing.T) {
	body := `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("word ", 400) + `"}]}`
	count := func(rs *routerServer) (*http.Response, int) {
		req, _ := http.NewRequest(http.MethodPost, rs.URL+"/v1/messages/count_tokens", strings.NewReader(body))
		resp, err := rs.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			InputTokens int `json:"input_tokens"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d, %v", resp.StatusCode, err)
		}
		return resp, out.InputTokens
	}
	up, _, rs := newDialectRouter(t, "", okChat)
	resp, n := count(rs)
	if n < 400 || n > 700 || resp.Header.Get("X-LLM-Router-Estimate") != "true" || len(up.received()) != 0 {
		t.Errorf("estimate %d (header %q), upstream calls %d", n, resp.Header.Get("X-LLM-Router-Estimate"), len(up.received()))
	}
	up, _, rs = newDialectRouter(t, "anthropic", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"input_tokens":1234}`)
	})
	if _, n := count(rs); n != 1234 || len(up.received()) != 1 || up.received()[0].Path != "/v1/messages/count_tokens" {
		t.Errorf("forwarded count %d, upstream requests %+v", n, up.received())
	}
	// The Anthropic provider is rate limited: the estimate, marked, and the failure named.
	up, tr, rs := newDialectRouter(t, "anthropic", status(http.StatusTooManyRequests))
	resp, n = count(rs)
	if n < 400 || n > 700 || resp.Header.Get("X-LLM-Router-Estimate") != "true" || len(up.received()) != 1 ||
		!strings.Contains(resp.Header.Get("X-LLM-Router-Failures"), "429 rate_limited") {
		t.Errorf("after a 429: estimate %d, headers %v, upstream calls %d", n, resp.Header, len(up.received()))
	}
	pollUntil(t, "the log line", func() bool { return strings.Contains(tr.logs.String(), `"outcome":"estimated"`) })
	// anthropic-sdk-go, as Claude Code counts, reads the estimate as a count.
	ac := anthropicClient(rs)
	res, err := ac.Messages.CountTokens(context.Background(), anthropicsdk.MessageCountTokensParams{Model: "m",
		Messages: []anthropicsdk.MessageParam{anthropicsdk.NewUserMessage(anthropicsdk.NewTextBlock(strings.Repeat("word ", 400)))}})
	if err != nil || res.InputTokens < 400 || res.InputTokens > 700 {
		t.Errorf("anthropic-sdk-go's count after a 429: %v, %+v", err, res)
	}
}

// TestFailoverAcrossDialects: one pool mixes an Anthropic provider and an OpenAI one; an
// overloaded Anthropic upstream (529) fails over to the OpenAI one for clients of both
// dialects, each served in its own dialect, and the overloaded target cools.
func TestFailoverAcrossDialects(t *testing.T) {
	overloaded := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(529)
		_, _ = io.WriteString(w, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
	})
	good := newFakeUpstream(t, openAIAgentUpstream)
	ant := provider("ant", overloaded.URL+"/v1", []string{"sk-ant-upstream-01"}, "m", "claude-up")
	ant.API = "anthropic"
	tr := newTestRouter(t, &Handler{Strategy: "priority", Providers: []catalog.ProviderConfig{
		ant, provider("oai", good.URL+"/v1", []string{"sk-oai-upstream-01"}, "m", "gpt-up"),
	}})
	rs := serveRouter(t, tr)

	ac, oc := anthropicClient(rs), sdkClient(rs)
	msg, err := ac.Messages.New(context.Background(), anthropicsdk.MessageNewParams{
		Model: "m", MaxTokens: 100, Tools: []anthropicsdk.ToolUnionParam{weatherTool},
		Messages: []anthropicsdk.MessageParam{anthropicsdk.NewUserMessage(anthropicsdk.NewTextBlock("Weather?"))},
	})
	if err != nil || msg.StopReason != anthropicsdk.StopReasonToolUse || msg.Content[0].Name != "get_weather" {
		t.Fatalf("Anthropic client: %v %+v", err, msg)
	}
	res, err := oc.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "m", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	})
	if err != nil || len(res.Choices) != 1 {
		t.Fatalf("OpenAI client: %v %+v", err, res)
	}
	if overloaded.calls.Load() != 1 || good.calls.Load() != 2 {
		t.Errorf("calls: overloaded %d, good %d; want 1 and 2 (cooled after the first)", overloaded.calls.Load(), good.calls.Load())
	}
	if !tr.pools["m"].targets[0].health.Cooling(tr.clock.Now().UnixNano()) {
		t.Error("the overloaded Anthropic target is not cooling")
	}
	if r := good.received()[0]; hfModelOf(t, r) != "gpt-up" {
		t.Errorf("the OpenAI upstream got model %q", hfModelOf(t, r))
	}
}

// TestAnthropicSDKListsModels: /v1/models is one list both SDKs read, each its own fields.
func TestAnthropicSDKListsModels(t *testing.T) {
	_, _, rs := newDialectRouter(t, "anthropic", anthropicAgentUpstream)
	ac := anthropicClient(rs)
	page, err := ac.Models.List(context.Background(), anthropicsdk.ModelListParams{})
	if err != nil {
		t.Fatalf("Anthropic SDK: %v", err)
	}
	if len(page.Data) != 1 || page.Data[0].ID != "m" || page.Data[0].DisplayName != "m" || page.Data[0].CreatedAt.IsZero() || page.HasMore {
		t.Errorf("Anthropic SDK model list %+v", page)
	}
	oc := sdkClient(rs)
	list, err := oc.Models.List(context.Background())
	if err != nil || len(list.Data) != 1 || list.Data[0].ID != "m" || list.Data[0].OwnedBy != "p1" {
		t.Errorf("OpenAI SDK model list %+v, %v", list, err)
	}
}

// TestSDKsRetrieveAModel: openai-go's Models.Get and anthropic-sdk-go's Models.Get ask
// GET /v1/models/{id} (the id path-escaped, so provider/model names arrive with their
// slashes); each gets the same entry /v1/models lists. An unknown model, or one the gateway
// key may not use, is a 404 that both SDKs raise as not found.
func TestSDKsRetrieveAModel(t *testing.T) {
	up := newFakeUpstream(t, okChat)
	tr := newTestRouter(t, &Handler{
		Providers: []catalog.ProviderConfig{
			provider("p1", up.URL+"/v1", []string{"sk-upstream-key-0002"}, "m", "m-up", "other", "other-up"),
			{Name: "any", BaseURLs: []string{up.URL + "/v1"}, Models: []catalog.ModelRoute{{Name: "*"}}},
		},
		Models: []catalog.ModelInfo{{Name: "m", ContextLength: 8192}},
		Auth: &AuthConfig{Keys: []GatewayKey{
			{Name: "all", Key: "gateway-key"},
			{Name: "scoped", Key: "scoped-key", Models: []string{"m"}},
		}},
	})
	rs := serveRouter(t, tr)
	ac, oc := anthropicClient(rs), sdkClient(rs)
	for id, owner := range map[string]string{"m": "p1", "p1/m": "p1", "m-up": "p1", "any/vendor/some-model": "any"} {
		om, err := oc.Models.Get(context.Background(), id)
		if err != nil || om.ID != id || om.OwnedBy != owner || om.Created == 0 {
			t.Errorf("openai-go Models.Get(%q): %+v, %v", id, om, err)
		}
		if id != "any/vendor/some-model" && !strings.Contains(om.RawJSON(), `"context_length":8192`) {
			t.Errorf("Models.Get(%q) lost the model's metadata: %s", id, om.RawJSON())
		}
		am, err := ac.Models.Get(context.Background(), id, anthropicsdk.ModelGetParams{})
		if err != nil || am.ID != id || am.DisplayName != id || am.CreatedAt.IsZero() {
			t.Errorf("anthropic-sdk-go Models.Get(%q): %+v, %v", id, am, err)
		}
	}
	scoped := openai.NewClient(option.WithBaseURL(rs.URL+"/v1/"), option.WithAPIKey("scoped-key"),
		option.WithMaxRetries(0), option.WithHTTPClient(rs.Client()))
	for _, tc := range []struct {
		c  openai.Client
		id string
	}{{oc, "nope"}, {oc, "p1/nope"}, {oc, "any/"}, {scoped, "other"}, {scoped, "p1/other"}} {
		_, err := tc.c.Models.Get(context.Background(), tc.id)
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound || apiErr.Code != "model_not_found" {
			t.Errorf("Models.Get(%q): %v, want a 404 model_not_found", tc.id, err)
		}
	}
	_, err := ac.Models.Get(context.Background(), "nope", anthropicsdk.ModelGetParams{})
	var aErr *anthropicsdk.Error
	if !errors.As(err, &aErr) || aErr.StatusCode != http.StatusNotFound {
		t.Errorf("anthropic-sdk-go Models.Get(nope): %v, want a 404", err)
	}
}

// TestStreamErrorEventNeverQuotesTheKey: an Anthropic upstream's error event after commit that
// quotes its key reaches an OpenAI client as the router's error event, the key scrubbed.
func TestStreamErrorEventNeverQuotesTheKey(t *testing.T) {
	const key = "sk-ant-api03-Wq2eR5tY8uI0oP3aS6dF9gH2jK5lZ8xC"
	up := newFakeUpstream(t, sseReply(
		"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m-up\",\"content\":[],\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n",
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n",
		"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"key "+key+" (sk-ant-api03-Wq2e****8xC) is overloaded\"}}\n\n"))
	pc := provider("p1", up.URL+"/v1", []string{key}, "m", "m-up")
	pc.API = "anthropic"
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{pc}})
	rs := serveRouter(t, tr)
	_, got := rs.stream(t)
	if !strings.Contains(got, `"content":"Hel"`) || !strings.Contains(got, `"error"`) {
		t.Fatalf("stream %q: want the text, then an error event", got)
	}
	for _, frag := range []string{key, key[:16], key[len(key)-10:], "sk-ant-api03-Wq2e"} {
		if strings.Contains(got, frag) || strings.Contains(tr.logs.String(), frag) {
			t.Errorf("the key fragment %q reached the client or the log", frag)
		}
	}
}

// TestAnthropicPassthroughStreamUsage: a native Anthropic stream reports input tokens in
// message_start and output tokens in message_delta; the request's record keeps both.
func TestAnthropicPassthroughStreamUsage(t *testing.T) {
	_, tr, rs := newDialectRouter(t, "anthropic", anthropicAgentUpstream)
	resp, err := rs.Client().Post(rs.URL+"/v1/messages", "application/json",
		strings.NewReader(`{"model":"m","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	pollUntil(t, "the request's log line", func() bool { return strings.Contains(tr.logs.String(), `"msg":"llm request"`) })
	if logs := tr.logs.String(); !strings.Contains(logs, `"tokens_in":20,"tokens_out":7`) {
		t.Errorf("want tokens_in 20 (message_start) and tokens_out 7 (message_delta) in:\n%s", logs)
	}
}

// TestOutputLimitCappedToTheModels: a request that asks for more output than the target's
// model writes (Claude Code asks 32,000 of every model) is capped to its max_output instead
// of refused, through anthropic-sdk-go to an OpenAI upstream and through openai-go passed
// through; a model without a known limit gets the request as sent.
func TestOutputLimitCappedToTheModels(t *testing.T) {
	var asked atomic.Int64
	up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			MaxTokens           int64 `json:"max_tokens"`
			MaxCompletionTokens int64 `json:"max_completion_tokens"`
		}
		_ = json.Unmarshal([]byte(readBody(r)), &req)
		n := max(req.MaxTokens, req.MaxCompletionTokens)
		asked.Store(n)
		if n > 16384 { // as OpenAI answers
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":{"message":"max_tokens is too large: this model supports at most 16384 completion tokens","type":"invalid_request_error","param":"max_tokens","code":"invalid_value"}}`)
			return
		}
		okChat(w, r)
	})
	tr := newTestRouter(t, &Handler{
		Providers: []catalog.ProviderConfig{provider("oai", up.URL+"/v1", []string{"sk-oai-upstream-01"}, "m", "gpt-up", "free", "free-up")},
		Models:    []catalog.ModelInfo{{Name: "m", MaxOutput: 16384}},
	})
	rs := serveRouter(t, tr)

	ac := anthropicClient(rs)
	msg, err := ac.Messages.New(context.Background(), anthropicsdk.MessageNewParams{Model: "m", MaxTokens: 32000,
		Messages: []anthropicsdk.MessageParam{anthropicsdk.NewUserMessage(anthropicsdk.NewTextBlock("hi"))}})
	if err != nil || len(msg.Content) == 0 || asked.Load() != 16384 {
		t.Fatalf("anthropic-sdk-go with max_tokens 32000: %v, upstream asked for %d", err, asked.Load())
	}
	oc := sdkClient(rs)
	res, err := oc.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "m",
		MaxCompletionTokens: openai.Int(64000), Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	if err != nil || len(res.Choices) == 0 || asked.Load() != 16384 {
		t.Fatalf("openai-go with max_completion_tokens 64000: %v, upstream asked for %d", err, asked.Load())
	}
	// The reply says what was fitted, and so does the log line.
	rec := tr.chat(`{"model":"m","max_tokens":32000,"messages":[{"role":"user","content":"hi"}]}`)
	if got := rec.Header().Get("X-LLM-Router-Fitted"); rec.Code != http.StatusOK || got != "output limit 32000 capped at 16384" {
		t.Errorf("X-LLM-Router-Fitted %q (status %d)", got, rec.Code)
	}
	if !strings.Contains(tr.logs.String(), `"fitted":"output limit 32000 capped at 16384"`) {
		t.Errorf("the log line does not say what was fitted:\n%s", tr.logs)
	}
	// No known limit: sent as asked, and the upstream's refusal reaches the client.
	if _, err := oc.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "free",
		MaxCompletionTokens: openai.Int(64000), Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}); err == nil || asked.Load() != 64000 {
		t.Fatalf("a model without max_output: %v, upstream asked for %d", err, asked.Load())
	}
}

// TestReasoningModelGetsMaxCompletionTokens: OpenAI's reasoning models refuse max_tokens, which
// every translation into chat writes (and many OpenAI clients send): a target whose upstream id
// is one of them gets max_completion_tokens instead, and keeps the reasoning_effort that
// Claude Code's thinking becomes. A model known not to reason (its supports lack reasoning)
// keeps max_tokens and loses reasoning_effort, which it would refuse. A reasoning model also
// loses the sampling parameters it refuses.
func TestReasoningModelGetsMaxCompletionTokens(t *testing.T) {
	var last atomic.Value
	refuse := func(w http.ResponseWriter, message, param string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":{"message":"`+message+`","type":"invalid_request_error","param":"`+param+`","code":"unsupported_parameter"}}`)
	}
	up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		body := readBody(r)
		last.Store(body)
		switch { // as OpenAI answers
		case strings.Contains(body, `"max_tokens"`) && strings.Contains(body, `"gpt-5-mini"`):
			refuse(w, "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.", "max_tokens")
		case strings.Contains(body, `"reasoning_effort"`) && strings.Contains(body, `"gpt-4o"`):
			refuse(w, "Unrecognized request argument supplied: reasoning_effort", "reasoning_effort")
		case strings.Contains(body, `"temperature"`) && strings.Contains(body, `"gpt-5-mini"`):
			refuse(w, "Unsupported value: 'temperature' does not support 0.2 with this model. Only the default (1) value is supported.", "temperature")
		default:
			okChat(w, r)
		}
	})
	tr := newTestRouter(t, &Handler{
		Providers: []catalog.ProviderConfig{
			provider("oai", up.URL+"/v1", []string{"sk-oai-upstream-01"}, "reasoner", "gpt-5-mini", "plain", "gpt-4o", "chat5", "gpt-5-chat-latest"),
		},
		Models: []catalog.ModelInfo{{Name: "plain", Supports: []string{"tools", "vision"}}},
	})
	ac := anthropicClient(serveRouter(t, tr))
	for _, tc := range []struct {
		model         string
		thinking      bool
		want, wantNot string
	}{
		{"reasoner", false, `"max_completion_tokens":16000`, `"max_tokens"`},
		{"reasoner", true, `"reasoning_effort":"medium"`, `"max_tokens"`},
		{"plain", false, `"max_tokens":16000`, `"max_completion_tokens"`},
		{"plain", true, `"max_tokens":16000`, `"reasoning_effort"`},
	} {
		params := anthropicsdk.MessageNewParams{Model: anthropicsdk.Model(tc.model), MaxTokens: 16000,
			Messages: []anthropicsdk.MessageParam{anthropicsdk.NewUserMessage(anthropicsdk.NewTextBlock("hi"))}}
		if tc.thinking {
			params.Thinking = anthropicsdk.ThinkingConfigParamOfEnabled(8192)
		}
		msg, err := ac.Messages.New(context.Background(), params)
		if err != nil || len(msg.Content) == 0 {
			t.Fatalf("%s (thinking %v): %v", tc.model, tc.thinking, err)
		}
		if body := last.Load().(string); !strings.Contains(body, tc.want) || strings.Contains(body, tc.wantNot) {
			t.Errorf("%s (thinking %v): the upstream got %s, want %s in it and no %s", tc.model, tc.thinking, body, tc.want, tc.wantNot)
		}
	}
	rec := tr.chat(`{"model":"reasoner","max_tokens":100,"temperature":0.5,"messages":[{"role":"user","content":"hi"}]}`)
	if got := rec.Header().Get("X-LLM-Router-Fitted"); got != "max_tokens sent as max_completion_tokens; sampling parameters dropped" {
		t.Errorf("X-LLM-Router-Fitted %q", got)
	}
	if got := tr.chat(`{"model":"plain","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`).Header().Get("X-LLM-Router-Fitted"); got != "" {
		t.Errorf("a body that needed nothing: X-LLM-Router-Fitted %q", got)
	}
	// An OpenAI client's sampling parameters, which the reasoning model refuses and the other
	// takes.
	oc := sdkClient(serveRouter(t, tr))
	for model, kept := range map[string]bool{"reasoner": false, "plain": true, "chat5": true} {
		_, err := oc.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: model,
			Temperature: openai.Float(0.2), TopP: openai.Float(0.9), Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
		body := last.Load().(string)
		if err != nil || strings.Contains(body, `"temperature":0.2`) != kept || strings.Contains(body, `"top_p"`) != kept {
			t.Errorf("openai-go to %s with temperature 0.2: %v; the upstream got %s", model, err, body)
		}
	}
}

// TestThinkingBudgetStaysUnderTheCappedLimit: Claude Code's max_tokens 32000 with a thinking
// budget of 31999, to a Claude model that writes at most 16000: the limit is capped and the
// budget kept under it, as Anthropic requires, so the request is not refused.
func TestThinkingBudgetStaysUnderTheCappedLimit(t *testing.T) {
	var last atomic.Value
	up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			MaxTokens int64 `json:"max_tokens"`
			Thinking  struct {
				BudgetTokens int64 `json:"budget_tokens"`
			} `json:"thinking"`
		}
		body := readBody(r)
		last.Store(body)
		_ = json.Unmarshal([]byte(body), &req)
		if req.MaxTokens > 16000 || req.Thinking.BudgetTokens >= req.MaxTokens { // as Anthropic answers
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens must be greater than thinking.budget_tokens, and at most 16000"}}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"msg_1","type":"message","role":"assistant","model":"claude-up","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":1}}`)
	})
	pc := provider("ant", up.URL+"/v1", []string{"sk-ant-upstream-01"}, "c", "claude-up")
	pc.API = "anthropic"
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{pc},
		Models: []catalog.ModelInfo{{Name: "c", MaxOutput: 16000, Supports: []string{"reasoning"}}}})
	ac := anthropicClient(serveRouter(t, tr))
	msg, err := ac.Messages.New(context.Background(), anthropicsdk.MessageNewParams{Model: "c", MaxTokens: 32000,
		Thinking: anthropicsdk.ThinkingConfigParamOfEnabled(31999),
		Messages: []anthropicsdk.MessageParam{anthropicsdk.NewUserMessage(anthropicsdk.NewTextBlock("hi"))}})
	if err != nil || len(msg.Content) == 0 {
		t.Fatalf("anthropic-sdk-go: %v (the upstream got %v)", err, last.Load())
	}
	if body := last.Load().(string); !strings.Contains(body, `"max_tokens":16000`) || !strings.Contains(body, `"budget_tokens":15999`) {
		t.Errorf("the upstream got %s", body)
	}
}
