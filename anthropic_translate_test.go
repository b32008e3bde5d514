package llmrouter

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	anthropicopt "github.com/anthropics/anthropic-sdk-go/option"

	anthropicsdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"
)

// Anthropic clients served by upstreams of the other dialects, streamed: each case is an
// upstream stream shape seen in the wild, read through anthropic-sdk-go, asserting what the
// client's agent loop acts on (blocks, tool inputs, stop reason, usage).

// chatChoiceEv is one OpenAI chat stream event whose choices are choice (raw JSON).
func chatChoiceEv(choice string) string {
	return `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m-up","choices":[` + choice + "]}\n\n"
}

// streamAnthropic sends params streamed through anthropic-sdk-go and accumulates the reply as
// the SDK's own helper does; a stream of zero events without an error fails the test.
func streamAnthropic(t *testing.T, rs *routerServer, params anthropicsdk.MessageNewParams) *anthropicsdk.Message {
	t.Helper()
	c := anthropicClient(rs)
	st := c.Messages.NewStreaming(context.Background(), params)
	defer st.Close()
	var msg anthropicsdk.Message
	events := 0
	for st.Next() {
		events++
		if err := msg.Accumulate(st.Current()); err != nil {
			t.Fatalf("accumulate event %d: %v", events, err)
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

func weatherParams() anthropicsdk.MessageNewParams {
	return anthropicsdk.MessageNewParams{
		Model: "m", MaxTokens: 1024,
		Messages: []anthropicsdk.MessageParam{anthropicsdk.NewUserMessage(anthropicsdk.NewTextBlock("Weather in Paris and Rome?"))},
		Tools:    []anthropicsdk.ToolUnionParam{weatherTool},
	}
}

// toolCities returns the city of each tool_use block, failing on one whose input is no object
// with a city, or that has no id.
func toolCities(t *testing.T, msg *anthropicsdk.Message) []string {
	t.Helper()
	var cities []string
	for _, b := range msg.Content {
		if b.Type != "tool_use" {
			continue
		}
		var in struct{ City string }
		if err := json.Unmarshal(b.Input, &in); err != nil || in.City == "" || b.ID == "" || b.Name != "get_weather" {
			t.Fatalf("tool_use %q (id %q) with input %s (%v)", b.Name, b.ID, b.Input, err)
		}
		cities = append(cities, in.City)
	}
	return cities
}

// TestAnthropicClientParallelCallsUnderOneIndex: Ollama's OpenAI API gives every parallel call
// of a turn index 0, each with its own id. Each must reach the Anthropic client as its own
// tool_use block; glued together, the calls' arguments made one input that is no JSON, and the
// agent lost both calls. A server that repeats a call's id on each of its deltas still makes
// one call, with an index or without: without, each delta that repeated the id began a new
// call with an input of a fragment.
func TestAnthropicClientParallelCallsUnderOneIndex(t *testing.T) {
	call := func(id, args string) string {
		if id != "" {
			id = `"id":"` + id + `","type":"function",`
		}
		return chatChoiceEv(`{"index":0,"delta":{"tool_calls":[{"index":0,` + id + `"function":{"name":"get_weather","arguments":` + args + `}}]},"finish_reason":null}`)
	}
	// noIndex is call as servers that send no index write it.
	noIndex := func(id, args string) string {
		return strings.Replace(call(id, args), `"tool_calls":[{"index":0,`, `"tool_calls":[{`, 1)
	}
	start := chatChoiceEv(`{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}`)
	end := chatChoiceEv(`{"index":0,"delta":{},"finish_reason":"tool_calls"}`)
	for _, c := range []struct {
		name   string
		stream []string
		want   []string
	}{
		{"two calls under index 0", []string{start,
			call("call_a", `"{\"city\":"`), call("", `"\"Paris\"}"`),
			call("call_b", `"{\"city\":"`), call("", `"\"Rome\"}"`), end, doneEv}, []string{"Paris", "Rome"}},
		{"one call, its id on every delta", []string{start,
			call("call_a", `"{\"city\":"`), call("call_a", `"\"Paris\"}"`), end, doneEv}, []string{"Paris"}},
		{"no index, two calls", []string{start,
			noIndex("call_a", `"{\"city\":"`), noIndex("", `"\"Paris\"}"`),
			noIndex("call_b", `"{\"city\":\"Rome\"}"`), end, doneEv}, []string{"Paris", "Rome"}},
		{"no index, one call, its id on every delta", []string{start,
			noIndex("call_a", `"{\"city\":"`), noIndex("call_a", `"\"Paris\"}"`), end, doneEv}, []string{"Paris"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, rs := newDialectRouter(t, "", sseReply(c.stream...))
			msg := streamAnthropic(t, rs, weatherParams())
			if cities := toolCities(t, msg); !slices.Equal(cities, c.want) || msg.StopReason != anthropicsdk.StopReasonToolUse {
				t.Fatalf("calls for %v, stop %q; want %v, tool_use", cities, msg.StopReason, c.want)
			}
			if len(c.want) == 2 && (msg.Content[0].ID != "call_a" || msg.Content[1].ID != "call_b") {
				t.Errorf("ids %q, %q; want call_a, call_b", msg.Content[0].ID, msg.Content[1].ID)
			}
		})
	}
}

// TestOpenAIClientToolWithoutInputFromAnthropic: Anthropic streams a call of a tool that takes
// no input as a tool_use block with one empty partial_json. An OpenAI client must get arguments
// "{}" for it, as OpenAI sends and as the whole reply has; it got "", which OpenAI clients'
// agent loops fail to parse. The call after it, behind a thinking block, keeps its own index
// and input, and the usage keeps the cached tokens.
func TestOpenAIClientToolWithoutInputFromAnthropic(t *testing.T) {
	ev := func(name, data string) string { return "event: " + name + "\ndata: " + data + "\n\n" }
	_, _, rs := newDialectRouter(t, "anthropic", sseReply(
		ev("message_start", `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m-up","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":20,"cache_read_input_tokens":100,"cache_creation_input_tokens":50,"output_tokens":1}}}`),
		ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`),
		ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Two calls."}}`),
		ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"c2ln"}}`),
		ev("content_block_stop", `{"type":"content_block_stop","index":0}`),
		ev("content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"now","input":{}}}`),
		ev("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}`),
		ev("content_block_stop", `{"type":"content_block_stop","index":1}`),
		ev("content_block_start", `{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_2","name":"get_weather","input":{}}}`),
		ev("content_block_delta", `{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"city\":"}}`),
		ev("content_block_delta", `{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"\"Paris\"}"}}`),
		ev("content_block_stop", `{"type":"content_block_stop","index":2}`),
		ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":9}}`),
		ev("message_stop", `{"type":"message_stop"}`)))
	acc := streamChat(t, sdkClient(rs), openai.ChatCompletionNewParams{Model: "m",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Time, and weather in Paris?")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}})
	if len(acc.Choices) != 1 {
		t.Fatalf("accumulated %+v", acc.ChatCompletion)
	}
	ch := acc.Choices[0]
	calls := ch.Message.ToolCalls
	if len(calls) != 2 || ch.FinishReason != "tool_calls" {
		t.Fatalf("tool calls %+v, finish %q", calls, ch.FinishReason)
	}
	if calls[0].ID != "toolu_1" || calls[0].Function.Name != "now" || calls[0].Function.Arguments != "{}" {
		t.Errorf("the call without input: %s %s(%q); want arguments {}", calls[0].ID, calls[0].Function.Name, calls[0].Function.Arguments)
	}
	if calls[1].ID != "toolu_2" || calls[1].Function.Arguments != `{"city":"Paris"}` {
		t.Errorf("the second call: %s(%q)", calls[1].ID, calls[1].Function.Arguments)
	}
	if u := acc.Usage; u.PromptTokens != 170 || u.PromptTokensDetails.CachedTokens != 100 || u.CompletionTokens != 9 {
		t.Errorf("usage %+v; want 170 prompt tokens (100 cached) and 9 completion tokens", u)
	}
}

// TestAnthropicClientUsageWithoutUpstreamUsage: an OpenAI-compatible server that ignores
// stream_options sends no usage. message_delta's counts replace message_start's in the
// client, so its input_tokens must stay the estimate message_start gave: the client ended
// with 0, and a client that sizes its context by it (Claude Code) saw an empty one.
func TestAnthropicClientUsageWithoutUpstreamUsage(t *testing.T) {
	_, _, rs := newDialectRouter(t, "", sseReply(
		chatChoiceEv(`{"index":0,"delta":{"role":"assistant","content":"Sunny."},"finish_reason":null}`),
		chatChoiceEv(`{"index":0,"delta":{},"finish_reason":"stop"}`),
		doneEv))
	params := weatherParams()
	params.Messages = []anthropicsdk.MessageParam{anthropicsdk.NewUserMessage(anthropicsdk.NewTextBlock(strings.Repeat("weather ", 200)))}
	msg := streamAnthropic(t, rs, params)
	if len(msg.Content) != 1 || msg.Content[0].Text != "Sunny." || msg.StopReason != anthropicsdk.StopReasonEndTurn {
		t.Fatalf("content %+v, stop %q", msg.Content, msg.StopReason)
	}
	if msg.Usage.InputTokens < 200 {
		t.Errorf("input_tokens %d at the end of the stream; want message_start's estimate (200 words and more)", msg.Usage.InputTokens)
	}
}

// TestAnthropicClientStopReasons: an OpenAI upstream's finish reasons reach an Anthropic
// client as the same stop reason whole and streamed. A turn that only refused (OpenAI's
// refusal field) is a refusal; streamed, it was end_turn, and the client took the refusal for
// the model's answer.
func TestAnthropicClientStopReasons(t *testing.T) {
	for _, c := range []struct {
		name, message, delta, finish string
		want                         anthropicsdk.StopReason
		text                         string
	}{
		{"length", `"content":"abc"`, `"content":"abc"`, "length", anthropicsdk.StopReasonMaxTokens, "abc"},
		{"content filter", `"content":null`, `"content":""`, "content_filter", anthropicsdk.StopReasonRefusal, ""},
		{"refusal", `"content":null,"refusal":"I can't help with that."`, `"refusal":"I can't help with that."`, "stop", anthropicsdk.StopReasonRefusal, "I can't help with that."},
		{"tool call finished with stop", `"content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]`,
			`"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]`, "stop", anthropicsdk.StopReasonToolUse, ""},
	} {
		for _, stream := range []bool{false, true} {
			t.Run(c.name+map[bool]string{false: ", whole", true: ", streamed"}[stream], func(t *testing.T) {
				reply := sseReply(chatChoiceEv(`{"index":0,"delta":{"role":"assistant",`+c.delta+`},"finish_reason":"`+c.finish+`"}`), doneEv)
				if !stream {
					reply = func(w http.ResponseWriter, r *http.Request) {
						w.Header().Set("Content-Type", "application/json")
						_, _ = io.WriteString(w, `{"id":"c1","object":"chat.completion","created":1,"model":"m-up","choices":[{"index":0,"message":{"role":"assistant",`+
							c.message+`},"finish_reason":"`+c.finish+`"}],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}`)
					}
				}
				_, _, rs := newDialectRouter(t, "", reply)
				var msg *anthropicsdk.Message
				if stream {
					msg = streamAnthropic(t, rs, weatherParams())
				} else {
					ac := anthropicClient(rs)
					var err error
					if msg, err = ac.Messages.New(context.Background(), weatherParams()); err != nil {
						t.Fatalf("SDK error: %v", err)
					}
				}
				text := ""
				for _, b := range msg.Content {
					text += b.Text
				}
				if msg.StopReason != c.want || text != c.text {
					t.Errorf("stop %q, text %q; want %q, %q", msg.StopReason, text, c.want, c.text)
				}
			})
		}
	}
}

// anthropicThinkingRule is a fake Anthropic upstream's check of Anthropic's rules for thinking:
// with thinking on, the last assistant message, when it called tools, must begin with a
// (signed) thinking block; with thinking off, context_management may not ask to clear
// thinking (a clear_thinking edit, which Claude Code sends). A request that breaks one gets
// the 400 Anthropic gives, and ok false. continued says the
// request has an assistant message. It sets the reply's Content-Type.
func anthropicThinkingRule(t *testing.T, w http.ResponseWriter, r *http.Request) (ok, continued bool) {
	t.Helper()
	var req struct {
		Thinking          *struct{ Type string }
		ContextManagement *struct {
			Edits []struct{ Type string }
		} `json:"context_management"`
		Messages []struct {
			Role    string
			Content json.RawMessage // a string, or blocks
		}
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		t.Errorf("upstream body: %v", err)
	}
	w.Header().Set("Content-Type", "application/json")
	if req.ContextManagement != nil && (req.Thinking == nil || req.Thinking.Type == "disabled") {
		for _, e := range req.ContextManagement.Edits {
			if strings.HasPrefix(e.Type, "clear_thinking") {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, `{"type":"error","error":{"type":"invalid_request_error","message":"context_management: `+
					"`"+e.Type+"` strategy requires `thinking` to be enabled"+`"}}`)
				return false, len(req.Messages) > 1
			}
		}
	}
	for i := len(req.Messages) - 1; i >= 0; i-- {
		m := req.Messages[i]
		if m.Role != "assistant" {
			continue
		}
		// The rule holds for a tool turn, which the request continues with the tool's results;
		// an earlier turn of text (a string, or text blocks) needs no thinking block.
		first, calls := "text", false
		var blocks []struct{ Type string }
		if json.Unmarshal(m.Content, &blocks) == nil && len(blocks) > 0 {
			first = blocks[0].Type
			for _, b := range blocks {
				calls = calls || b.Type == "tool_use"
			}
		}
		if req.Thinking != nil && req.Thinking.Type != "disabled" && calls && first != "thinking" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"type":"error","error":{"type":"invalid_request_error","message":"messages.`+strconv.Itoa(i)+
				`.content.0.type: Expected thinking or redacted_thinking, but found `+first+
				`. When thinking is enabled, a final assistant message must start with a thinking block"}}`)
			return false, true
		}
		return true, true
	}
	return true, false
}

// TestOpenAIClientThinkingToolLoopOnAnthropic: an OpenAI client that asks for reasoning and
// runs tools on an Anthropic model. Anthropic refuses to continue a tool-calling turn with
// thinking enabled unless that turn starts with its signed thinking block, which an OpenAI
// client never has to send back; the second request of every tool loop was a 400. The first
// turn keeps its thinking; the turn that sends the tool's result goes without.
func TestOpenAIClientThinkingToolLoopOnAnthropic(t *testing.T) {
	up, _, rs := newDialectRouter(t, "anthropic", func(w http.ResponseWriter, r *http.Request) {
		ok, continued := anthropicThinkingRule(t, w, r)
		if !ok {
			return
		}
		if continued {
			_, _ = io.WriteString(w, `{"id":"msg_2","type":"message","role":"assistant","model":"m-up","content":[{"type":"text","text":"It is 18C in Paris."}],"stop_reason":"end_turn","usage":{"input_tokens":30,"output_tokens":6}}`)
			return
		}
		_, _ = io.WriteString(w, `{"id":"msg_1","type":"message","role":"assistant","model":"m-up","content":[{"type":"thinking","thinking":"Ask the tool.","signature":"c2ln"},{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}}],"stop_reason":"tool_use","usage":{"input_tokens":20,"output_tokens":7}}`)
	})
	c := sdkClient(rs)
	params := openai.ChatCompletionNewParams{
		Model: "m", ReasoningEffort: shared.ReasoningEffortHigh,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Weather in Paris?")},
		Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name: "get_weather", Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
		})},
	}
	res, err := c.Chat.Completions.New(context.Background(), params)
	if err != nil {
		t.Fatalf("first turn: %v", err)
	}
	msg := res.Choices[0].Message
	if len(msg.ToolCalls) != 1 || msg.ToolCalls[0].Function.Arguments != `{"city":"Paris"}` {
		t.Fatalf("first turn: %+v", msg)
	}
	params.Messages = append(params.Messages, msg.ToParam(), openai.ToolMessage("18C", msg.ToolCalls[0].ID))
	res, err = c.Chat.Completions.New(context.Background(), params)
	if err != nil {
		t.Fatalf("the turn with the tool's result: %v", err)
	}
	if got := res.Choices[0].Message.Content; got != "It is 18C in Paris." {
		t.Errorf("second turn: %q", got)
	}
	var thinking []bool
	for _, r := range up.received() {
		thinking = append(thinking, bytes.Contains(r.Body, []byte(`"thinking":{"type":"enabled"`)))
	}
	if !slices.Equal(thinking, []bool{true, false}) {
		t.Errorf("thinking enabled in the upstream requests: %v; want [true false]", thinking)
	}
}

// TestAnthropicClientToolTurnFromAnotherWire: in a pool that mixes an OpenAI and an Anthropic
// provider, an Anthropic client with thinking on (Claude Code) replays a tool turn the OpenAI
// provider made: it has no signed thinking block, and Anthropic refuses to continue it with
// thinking on. The Anthropic target gets the turn without thinking and answers, and the reply
// says what was fitted.
func TestAnthropicClientToolTurnFromAnotherWire(t *testing.T) {
	anth := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if ok, _ := anthropicThinkingRule(t, w, r); !ok {
			return
		}
		_, _ = io.WriteString(w, `{"id":"msg_2","type":"message","role":"assistant","model":"m-up","content":[{"type":"text","text":"It is 18C in Paris."}],"stop_reason":"end_turn","usage":{"input_tokens":30,"output_tokens":6}}`)
	})
	oa := newFakeUpstream(t, status(http.StatusInternalServerError))
	pa := provider("anth", anth.URL+"/v1", []string{"sk-anth-key-0001"}, "m", "m-up")
	pa.API = "anthropic"
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{
		provider("oa", oa.URL+"/v1", []string{"sk-oa-key-0001"}, "m", "m-up"), pa,
	}})
	rs := serveRouter(t, tr)
	var raw *http.Response
	c := anthropicClient(rs)
	msg, err := c.Messages.New(context.Background(), anthropicsdk.MessageNewParams{
		Model: "m", MaxTokens: 16000, Thinking: anthropicsdk.ThinkingConfigParamOfEnabled(8192),
		Tools: []anthropicsdk.ToolUnionParam{weatherTool},
		Messages: []anthropicsdk.MessageParam{
			anthropicsdk.NewUserMessage(anthropicsdk.NewTextBlock("Weather in Paris?")),
			anthropicsdk.NewAssistantMessage(anthropicsdk.NewToolUseBlock("call_1", map[string]any{"city": "Paris"}, "get_weather")),
			anthropicsdk.NewUserMessage(anthropicsdk.NewToolResultBlock("call_1", "18C", false)),
		},
	}, anthropicopt.WithResponseInto(&raw))
	if err != nil {
		t.Fatalf("the turn with the tool's result: %v", err)
	}
	if len(msg.Content) != 1 || msg.Content[0].Text != "It is 18C in Paris." {
		t.Fatalf("reply %+v", msg.Content)
	}
	if got := raw.Header.Get("X-LLM-Router-Fitted"); !strings.Contains(got, "reasoning dropped") {
		t.Errorf("X-LLM-Router-Fitted %q, want it to say the reasoning was dropped", got)
	}
}

// TestAnthropicClientThinkingBlockHasSignature: a translated whole reply's thinking block
// carries "signature" (empty: the router forges none), as Anthropic's replies and the
// router's own streams do. The AI SDK's Anthropic provider validates the reply and refused
// one without it ("Invalid JSON response").
func TestAnthropicClientThinkingBlockHasSignature(t *testing.T) {
	for _, api := range []string{"openai", "gemini"} {
		_, tr, _ := newGeminiRouter(t, api, func(w http.ResponseWriter, r *http.Request) {
			thinkingUpstream(api, w, r, []byte(readBody(r)))
		})
		rec := tr.do(jsonRequest(http.MethodPost, "/v1/messages",
			`{"model":"m","max_tokens":2048,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"hi"}]}`))
		var reply struct {
			Content []map[string]json.RawMessage
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &reply); err != nil || rec.Code != http.StatusOK || len(reply.Content) != 2 {
			t.Fatalf("%s: %d %s", api, rec.Code, rec.Body)
		}
		if b := reply.Content[0]; string(b["type"]) != `"thinking"` || string(b["thinking"]) != `"Let me think."` || string(b["signature"]) != `""` {
			t.Errorf("%s: thinking block %s, want its text and an empty signature", api, rec.Body)
		}
	}
}

// TestAnthropicStreamFromGeminiTellsTheTruePromptCount: a Gemini stream's first chunk has the
// prompt's token count, so message_start carries it rather than the router's estimate:
// clients such as LangChain's ChatAnthropic read input tokens from message_start only.
func TestAnthropicStreamFromGeminiTellsTheTruePromptCount(t *testing.T) {
	_, tr, _ := newGeminiRouter(t, "gemini", sseReply(
		`data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Sun"}]}}],"usageMetadata":{"promptTokenCount":1234,"candidatesTokenCount":1,"totalTokenCount":1235},"modelVersion":"m-up","responseId":"r1"}`+"\n\n",
		`data: {"candidates":[{"content":{"role":"model","parts":[{"text":"ny."}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":1234,"candidatesTokenCount":3,"totalTokenCount":1237},"modelVersion":"m-up","responseId":"r1"}`+"\n\n"))
	rec := tr.do(jsonRequest(http.MethodPost, "/v1/messages", `{"model":"m","stream":true,"max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`))
	if rec.Code != http.StatusOK {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	var start, delta struct {
		Message struct {
			Usage struct {
				InputTokens int `json:"input_tokens"`
			}
		}
		Usage struct {
			InputTokens  int `json:"input_tokens"`
			OutputTokens int `json:"output_tokens"`
		}
	}
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		switch {
		case !ok:
		case strings.Contains(data, `"type":"message_start"`):
			_ = json.Unmarshal([]byte(data), &start)
		case strings.Contains(data, `"type":"message_delta"`):
			_ = json.Unmarshal([]byte(data), &delta)
		}
	}
	if start.Message.Usage.InputTokens != 1234 {
		t.Errorf("message_start input_tokens %d, want Gemini's promptTokenCount 1234 in:\n%s", start.Message.Usage.InputTokens, rec.Body)
	}
	if delta.Usage.InputTokens != 1234 || delta.Usage.OutputTokens != 3 {
		t.Errorf("message_delta usage %+v, want 1234 in, 3 out", delta.Usage)
	}
}
