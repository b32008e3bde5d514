package llmrouter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// The Responses API end to end: openai-go's Responses.New and Responses.NewStreaming through
// the real handler to a chat-only fake (translated), an Anthropic fake (translated through the
// pivot) and a fake that serves the Responses API itself (passed through), with a tool round
// trip. Every case asserts text, call arguments, status and usage.

// nativeResponsesUpstream answers like OpenAI's Responses API driving a tool: a request whose
// input has no function_call_output gets a call of get_weather({"city":"Paris"}); one with an
// output gets text quoting it.
func nativeResponsesUpstream(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req struct {
		Stream bool `json:"stream"`
		Input  []struct {
			Type   string `json:"type"`
			Output string `json:"output"`
		} `json:"input"`
	}
	_ = json.Unmarshal(body, &req)
	result := ""
	for _, it := range req.Input {
		if it.Type == "function_call_output" {
			result = it.Output
		}
	}
	const call = `{"id":"fc_1","type":"function_call","status":"completed","call_id":"call_1","name":"get_weather","arguments":"{\"city\":\"Paris\"}"}`
	msg := `{"id":"msg_1","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"It is ` + result + ` in Paris.","annotations":[]}]}`
	resp := func(status, output, usage string) string {
		return `{"id":"resp_up1","object":"response","created_at":1,"status":"` + status + `","model":"m-up","output":[` + output + `],"usage":` + usage + `}`
	}
	output, usage := call, `{"input_tokens":20,"input_tokens_details":{"cached_tokens":0},"output_tokens":7,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":27}`
	if result != "" {
		output, usage = msg, `{"input_tokens":30,"input_tokens_details":{"cached_tokens":0},"output_tokens":6,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":36}`
	}
	if !req.Stream {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, resp("completed", output, usage))
		return
	}
	seq := 0
	ev := func(name, fields string) string {
		s := "event: " + name + "\ndata: {\"type\":\"" + name + "\",\"sequence_number\":" + itoa(seq) + "," + fields + "}\n\n"
		seq++
		return s
	}
	evs := []string{ev("response.created", `"response":`+resp("in_progress", "", "null")),
		ev("response.in_progress", `"response":`+resp("in_progress", "", "null"))}
	if result == "" {
		evs = append(evs,
			ev("response.output_item.added", `"output_index":0,"item":{"id":"fc_1","type":"function_call","status":"in_progress","call_id":"call_1","name":"get_weather","arguments":""}`),
			ev("response.function_call_arguments.delta", `"item_id":"fc_1","output_index":0,"delta":"{\"city\":\"Paris\"}"`),
			ev("response.function_call_arguments.done", `"item_id":"fc_1","output_index":0,"arguments":"{\"city\":\"Paris\"}"`),
			ev("response.output_item.done", `"output_index":0,"item":`+call))
	} else {
		evs = append(evs,
			ev("response.output_item.added", `"output_index":0,"item":{"id":"msg_1","type":"message","status":"in_progress","role":"assistant","content":[]}`),
			ev("response.output_text.delta", `"item_id":"msg_1","output_index":0,"content_index":0,"delta":"It is `+result+` in Paris."`),
			ev("response.output_item.done", `"output_index":0,"item":`+msg))
	}
	evs = append(evs, ev("response.completed", `"response":`+resp("completed", output, usage)))
	sseReply(evs...)(w, r)
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// newResponsesRouter serves model "m" from one upstream of the given API; native turns the
// provider's responses setting on.
func newResponsesRouter(t *testing.T, api string, native bool, reply http.HandlerFunc) (*fakeUpstream, *routerServer) {
	t.Helper()
	up := newFakeUpstream(t, reply)
	pc := provider("p1", up.URL+"/v1", []string{"sk-upstream-key-0001"}, "m", "m-up")
	pc.API = api
	if native {
		pc.Responses = &native
	}
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{pc}})
	return up, serveRouter(t, tr)
}

var responsesWeatherTool = responses.ToolParamOfFunction("get_weather",
	map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}, false)

// sendResponses sends params whole or streamed; a stream is read to its end and its
// response.completed response returned, after checking that its deltas came as events.
func sendResponses(t *testing.T, rs *routerServer, params responses.ResponseNewParams, stream bool) *responses.Response {
	t.Helper()
	c := sdkClient(rs)
	if !stream {
		res, err := c.Responses.New(context.Background(), params)
		if err != nil {
			t.Fatalf("SDK error: %v", err)
		}
		return res
	}
	st := c.Responses.NewStreaming(context.Background(), params)
	defer st.Close()
	var done *responses.Response
	var text strings.Builder
	args := map[string]string{}   // item id -> its argument deltas
	inputs := map[string]string{} // item id -> a custom tool call's input deltas
	inputDone := map[string]string{}
	seen := map[string]int{}
	for st.Next() {
		ev := st.Current()
		seen[ev.Type]++
		switch ev.Type {
		case "response.output_text.delta":
			text.WriteString(ev.Delta)
		case "response.function_call_arguments.delta":
			args[ev.ItemID] += ev.Delta
		case "response.custom_tool_call_input.delta":
			inputs[ev.ItemID] += ev.Delta
		case "response.custom_tool_call_input.done":
			inputDone[ev.ItemID] = ev.Input
		case "response.completed":
			r := ev.Response
			done = &r
		}
	}
	if err := st.Err(); err != nil {
		t.Fatalf("SDK stream error after %v: %v", seen, err)
	}
	if done == nil || seen["response.created"] != 1 || seen["response.output_item.added"] == 0 || seen["response.output_item.done"] == 0 {
		t.Fatalf("stream without its sequence: %v", seen)
	}
	if text.String() != done.OutputText() {
		t.Errorf("text deltas %q, response.completed %q", text.String(), done.OutputText())
	}
	for _, it := range done.Output {
		if it.Type == "function_call" && it.Arguments.OfString != args[it.ID] {
			t.Errorf("argument deltas of %s %q, response.completed %q", it.ID, args[it.ID], it.Arguments.OfString)
		}
		if it.Type == "custom_tool_call" && (it.Input != inputs[it.ID] || it.Input != inputDone[it.ID]) {
			t.Errorf("input deltas of %s %q (done %q), response.completed %q", it.ID, inputs[it.ID], inputDone[it.ID], it.Input)
		}
	}
	return done
}

// weatherAnswered is the second turn's input of a weather tool round: the question, the
// model's call and the tool's output, 18C.
func weatherAnswered(call *responses.ResponseOutputItemUnion) responses.ResponseNewParamsInputUnion {
	return weatherAnsweredWith(responses.ResponseInputItemParamOfFunctionCall(call.Arguments.OfString, call.CallID, call.Name), call.CallID)
}

// weatherAnsweredWith is weatherAnswered with the call replayed as the item call.
func weatherAnsweredWith(call responses.ResponseInputItemUnionParam, callID string) responses.ResponseNewParamsInputUnion {
	out := responses.ResponseInputItemParamOfFunctionCallOutput("18C")
	out.OfFunctionCallOutput.CallID = openai.String(callID)
	return responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
		responses.ResponseInputItemParamOfMessage("Weather in Paris?", responses.EasyInputMessageRoleUser), call, out,
	}}
}

// responsesToolRound drives one tool round through the router: the model calls get_weather,
// the client answers with its output, the model says the result. An empty wantCallID takes
// any call id (Gemini's are made from a hash).
func responsesToolRound(t *testing.T, rs *routerServer, stream bool, wantModel, wantCallID string) {
	t.Helper()
	params := responses.ResponseNewParams{
		Model:        "m",
		Instructions: openai.String("Be brief."),
		Input:        responses.ResponseNewParamsInputUnion{OfString: openai.String("Weather in Paris?")},
		Tools:        []responses.ToolUnionParam{responsesWeatherTool},
		Store:        openai.Bool(false),
	}
	res := sendResponses(t, rs, params, stream)
	if res.Status != responses.ResponseStatusCompleted {
		t.Errorf("first turn status %q", res.Status)
	}
	var call *responses.ResponseOutputItemUnion
	for i := range res.Output {
		if res.Output[i].Type == "function_call" {
			call = &res.Output[i]
		}
	}
	if call == nil || call.Name != "get_weather" || call.CallID == "" || wantCallID != "" && call.CallID != wantCallID ||
		call.Arguments.OfString != `{"city":"Paris"}` {
		t.Fatalf("first turn output %+v", res.Output)
	}
	if u := res.Usage; u.InputTokens != 20 || u.OutputTokens != 7 || u.TotalTokens != 27 {
		t.Errorf("first turn usage %+v", u)
	}
	params.Input = weatherAnswered(call)
	res = sendResponses(t, rs, params, stream)
	if res.Status != responses.ResponseStatusCompleted || res.OutputText() != "It is 18C in Paris." {
		t.Fatalf("second turn: status %q, text %q, output %+v", res.Status, res.OutputText(), res.Output)
	}
	if res.Model != wantModel || res.Usage.OutputTokens != 6 || res.Usage.InputTokens == 0 || res.Usage.TotalTokens != res.Usage.InputTokens+6 {
		t.Errorf("second turn: model %q, usage %+v", res.Model, res.Usage)
	}
}

func byStream(stream bool) string { return map[bool]string{false: "whole", true: "streamed"}[stream] }

// TestResponsesThroughChatUpstream: a Responses client reaches a chat-only provider,
// translated both ways, whole and streamed.
func TestResponsesThroughChatUpstream(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(byStream(stream), func(t *testing.T) {
			up, rs := newResponsesRouter(t, "", false, openAIAgentUpstream)
			responsesToolRound(t, rs, stream, "m", "call_1")
			reqs := up.received()
			if len(reqs) != 2 {
				t.Fatalf("upstream got %d requests, want 2", len(reqs))
			}
			for _, r := range reqs {
				if r.Path != "/v1/chat/completions" || hfModelOf(t, r) != "m-up" {
					t.Errorf("upstream request to %s for %q", r.Path, hfModelOf(t, r))
				}
			}
			var second struct {
				Messages []struct {
					Role       string          `json:"role"`
					Content    json.RawMessage `json:"content"`
					ToolCallID string          `json:"tool_call_id"`
				} `json:"messages"`
				Tools []struct {
					Function struct{ Name string } `json:"function"`
				} `json:"tools"`
				StreamOptions *struct {
					IncludeUsage bool `json:"include_usage"`
				} `json:"stream_options"`
			}
			_ = json.Unmarshal(reqs[1].Body, &second)
			m := second.Messages
			if len(m) != 4 || m[0].Role != "system" || string(m[0].Content) != `"Be brief."` || m[2].Role != "assistant" ||
				m[3].Role != "tool" || m[3].ToolCallID != "call_1" || len(second.Tools) != 1 || second.Tools[0].Function.Name != "get_weather" {
				t.Errorf("the conversation did not reach the upstream as chat: %s", reqs[1].Body)
			}
			if stream && (second.StreamOptions == nil || !second.StreamOptions.IncludeUsage) {
				t.Errorf("a translated stream must ask for its usage: %s", reqs[1].Body)
			}
		})
	}
}

// TestResponsesThroughAnthropicUpstream: Responses -> pivot -> Messages and back.
func TestResponsesThroughAnthropicUpstream(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(byStream(stream), func(t *testing.T) {
			up, rs := newResponsesRouter(t, "anthropic", false, anthropicAgentUpstream)
			responsesToolRound(t, rs, stream, "m", "toolu_1")
			for _, r := range up.received() {
				if r.Path != "/v1/messages" || hfModelOf(t, r) != "m-up" || r.Header.Get("X-Api-Key") != "sk-upstream-key-0001" {
					t.Errorf("upstream request to %s for %q", r.Path, hfModelOf(t, r))
				}
			}
		})
	}
}

// TestResponsesNativePassthrough: a provider that serves the Responses API gets the client's
// request with only the model swapped, and the stream keeps its event names.
func TestResponsesNativePassthrough(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(byStream(stream), func(t *testing.T) {
			up, rs := newResponsesRouter(t, "", true, nativeResponsesUpstream)
			responsesToolRound(t, rs, stream, "m-up", "call_1")
			reqs := up.received()
			if len(reqs) != 2 {
				t.Fatalf("upstream got %d requests, want 2", len(reqs))
			}
			if stream {
				// The stream's event names are kept, as the API's clients may dispatch on them.
				req, _ := http.NewRequest(http.MethodPost, rs.URL+"/v1/responses",
					strings.NewReader(`{"model":"m","input":"Weather in Paris?","stream":true,"store":false}`))
				req.Header.Set("Authorization", "Bearer gateway-key")
				resp, err := rs.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if !strings.HasPrefix(string(got), "event: response.created\ndata: ") ||
					!strings.Contains(string(got), "\n\nevent: response.completed\ndata: ") || strings.Contains(string(got), "response.failed") {
					t.Errorf("passthrough stream lost its event names or its end: %q", got)
				}
			}
			for _, r := range reqs {
				if r.Path != "/v1/responses" || hfModelOf(t, r) != "m-up" || !strings.Contains(string(r.Body), `"store":false`) ||
					strings.Contains(string(r.Body), "stream_options") {
					t.Errorf("upstream request to %s: %s", r.Path, r.Body)
				}
			}
		})
	}
}

// TestResponsesStoredState: previous_response_id (and store: true) is refused with a clear 400
// when no provider of the pool serves the Responses API, and goes only to one that does.
func TestResponsesStoredState(t *testing.T) {
	up, rs := newResponsesRouter(t, "", false, openAIAgentUpstream)
	c := sdkClient(rs)
	ref := responses.ResponseInputItemParamOfItemReference("msg_1")
	ref.OfItemReference.Type = "item_reference"
	for _, p := range []responses.ResponseNewParams{
		{Model: "m", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("and?")}, PreviousResponseID: openai.String("resp_1")},
		{Model: "m", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("and?")}, Store: openai.Bool(true)},
		{Model: "m", Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{ref}}},
	} {
		_, err := c.Responses.New(context.Background(), p)
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || apiErr.Code != "stored_state_unsupported" ||
			!strings.Contains(apiErr.Message, "natively") {
			t.Fatalf("err %v, want a 400 stored_state_unsupported", err)
		}
	}
	if n := len(up.received()); n != 0 {
		t.Fatalf("the chat-only upstream got %d requests", n)
	}

	// A pool with both: every follow-up goes to the native provider.
	chat := newFakeUpstream(t, openAIAgentUpstream)
	native := newFakeUpstream(t, nativeResponsesUpstream)
	on := true
	pn := provider("native", native.URL+"/v1", []string{"sk-upstream-key-0002"}, "m", "m-up")
	pn.Responses = &on
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{
		provider("chat", chat.URL+"/v1", []string{"sk-upstream-key-0001"}, "m", "m-up"), pn}})
	c = sdkClient(serveRouter(t, tr))
	for i := 0; i < 4; i++ {
		if _, err := c.Responses.New(context.Background(), responses.ResponseNewParams{Model: "m",
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("and?")}, PreviousResponseID: openai.String("resp_up1")}); err != nil {
			t.Fatal(err)
		}
	}
	if len(chat.received()) != 0 || len(native.received()) != 4 {
		t.Fatalf("chat got %d, native %d: follow-ups must go to the provider that serves the Responses API",
			len(chat.received()), len(native.received()))
	}
}

// TestResponsesStreamCut: a translated stream cut after its first content ends with
// response.failed, which openai-go raises, never a silent end.
func TestResponsesStreamCut(t *testing.T) {
	_, rs := newResponsesRouter(t, "", false, sseReply(
		`data: {"id":"c1","choices":[{"index":0,"delta":{"content":"Hel"}}]}`+"\n\n"))
	c := sdkClient(rs)
	st := c.Responses.NewStreaming(context.Background(), responses.ResponseNewParams{Model: "m",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")}})
	defer st.Close()
	n := 0
	for st.Next() {
		n++
	}
	if err := st.Err(); err == nil || n == 0 || !strings.Contains(err.Error(), "before its end") {
		t.Fatalf("after %d events: err %v, want the router's error", n, err)
	}
}

// TestResponsesStreamFailover: a translated stream whose upstream opens and then fails before
// any content has written nothing to the client, so the next target answers and the client
// sees one clean stream.
func TestResponsesStreamFailover(t *testing.T) {
	bad := newFakeUpstream(t, sseReply(
		`data: {"id":"c0","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}`+"\n\n",
		`data: {"error":{"message":"overloaded","type":"server_error"}}`+"\n\n"))
	good := newFakeUpstream(t, openAIAgentUpstream)
	responsesFailOver(t, bad, good, false)
}

// responsesFailOver streams a tool round through a priority pool of bad, then good (providers
// with responses on when native) and checks that the client got good's whole answer after one
// request to each.
func responsesFailOver(t *testing.T, bad, good *fakeUpstream, native bool) {
	t.Helper()
	pb := provider("bad", bad.URL+"/v1", []string{"sk-bad-0001"}, "m", "m-up")
	pg := provider("good", good.URL+"/v1", []string{"sk-good-0001"}, "m", "m-up")
	if native {
		pb.Responses, pg.Responses = &native, &native
	}
	tr := newTestRouter(t, &Handler{Strategy: "priority", Providers: []catalog.ProviderConfig{pb, pg}})
	res := sendResponses(t, serveRouter(t, tr), responses.ResponseNewParams{Model: "m", Store: openai.Bool(false),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Weather in Paris?")},
		Tools: []responses.ToolUnionParam{responsesWeatherTool}}, true)
	if res.Status != responses.ResponseStatusCompleted || len(res.Output) != 1 || res.Output[0].Name != "get_weather" {
		t.Fatalf("response %+v", res.Output)
	}
	if len(bad.received()) != 1 || len(good.received()) != 1 {
		t.Fatalf("bad got %d, good %d requests: want one each", len(bad.received()), len(good.received()))
	}
}

// TestNodeAISDK drives the router with the Vercel AI SDK, whose default OpenAI provider calls
// the Responses API: a tool round (the SDK runs the tool and sends its result) whole and
// streamed, translated to a chat-only provider, and the same through the SDK's chat provider.
func TestNodeAISDK(t *testing.T) {
	node := nodeReady(t)
	up := newFakeUpstream(t, openAIAgentUpstream)
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{provider("p1", up.URL+"/v1", []string{"sk-p1"}, "m", "m-up")}})
	var paths requestLog
	rs := serveRouter(t, tr)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths.add(r.URL.Path)
		rs.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	stdout, stderr := runNodeScript(t, node, "aisdk.mjs", front.URL+"/v1")
	var out map[string]struct {
		Text, Error string
		Steps       int
	}
	if err := json.Unmarshal(stdout, &out); err != nil {
		t.Fatalf("script output is not JSON: %v\n%s\nstderr: %s", err, stdout, stderr)
	}
	for _, name := range []string{"whole", "stream", "chat"} {
		if r := out[name]; r.Error != "" || r.Text != "It is 18C in Paris." || r.Steps != 2 {
			t.Errorf("%s: %+v", name, r)
		}
	}
	if n := len(up.received()); n != 6 {
		t.Errorf("the upstream got %d requests, want 6 (two per round)", n)
	}
	want := []string{"/v1/responses", "/v1/responses", "/v1/responses", "/v1/responses", "/v1/chat/completions", "/v1/chat/completions"}
	if got := paths.list(); !slices.Equal(got, want) {
		t.Errorf("the SDK called %q, want %q", got, want)
	}
}

// TestResponsesReasoningToolRoundThroughAnthropic: a Responses client that asks for reasoning
// and runs a tool through an Anthropic provider. Anthropic wants the assistant message that a
// tool loop goes on with to begin with its signed thinking block, which no translated history
// carries (the reasoning item's signature is not kept): the follow-up goes without thinking, or
// Anthropic answers 400 and the client cannot finish its tool round.
func TestResponsesReasoningToolRoundThroughAnthropic(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(byStream(stream), func(t *testing.T) {
			var thinking requestLog
			up, rs := newResponsesRouter(t, "anthropic", false, func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				var req struct {
					Thinking *struct{ Type string } `json:"thinking"`
					Messages []struct {
						Role    string `json:"role"`
						Content []struct{ Type string }
					} `json:"messages"`
				}
				_ = json.Unmarshal(body, &req)
				on := req.Thinking != nil && req.Thinking.Type == "enabled"
				thinking.add(map[bool]string{false: "off", true: "on"}[on])
				for i := len(req.Messages) - 1; on && i >= 0; i-- {
					m := req.Messages[i]
					if m.Role != "assistant" {
						continue
					}
					if len(m.Content) == 0 || m.Content[0].Type != "thinking" {
						w.Header().Set("Content-Type", "application/json")
						w.WriteHeader(http.StatusBadRequest)
						_, _ = io.WriteString(w, `{"type":"error","error":{"type":"invalid_request_error","message":"messages.1.content.0.type: Expected `+
							"`thinking`"+` or `+"`redacted_thinking`"+`, but found `+"`tool_use`"+`. When `+"`thinking`"+` is enabled, a final `+"`assistant`"+` message must start with a thinking block."}}`)
						return
					}
					break
				}
				r.Body = io.NopCloser(strings.NewReader(string(body)))
				anthropicAgentUpstream(w, r)
			})
			params := responses.ResponseNewParams{
				Model:     "m",
				Input:     responses.ResponseNewParamsInputUnion{OfString: openai.String("Weather in Paris?")},
				Tools:     []responses.ToolUnionParam{responsesWeatherTool},
				Reasoning: shared.ReasoningParam{Effort: shared.ReasoningEffortMedium},
				Store:     openai.Bool(false),
			}
			res := sendResponses(t, rs, params, stream)
			var call *responses.ResponseOutputItemUnion
			for i := range res.Output {
				if res.Output[i].Type == "function_call" {
					call = &res.Output[i]
				}
			}
			if call == nil {
				t.Fatalf("first turn output %+v", res.Output)
			}
			params.Input = weatherAnswered(call)
			res = sendResponses(t, rs, params, stream)
			if res.OutputText() != "It is 18C in Paris." {
				t.Fatalf("second turn: status %q, output %+v", res.Status, res.Output)
			}
			if got := thinking.list(); !slices.Equal(got, []string{"on", "off"}) || len(up.received()) != 2 {
				t.Errorf("thinking per request %q: want on for the question, off for the tool round's end", got)
			}
		})
	}
}

// TestResponsesUntranslatableGoesNative: in a pool that mixes a chat-only provider with one
// that serves the Responses API, a request only the latter can take (Codex's history with a
// compaction item, the provider's own encrypted summary of the turns before) goes to it,
// whichever target comes first, instead of a 400 for having been picked the chat one. Requests
// the pivot can express still go to the chat provider first.
func TestResponsesUntranslatableGoesNative(t *testing.T) {
	chat := newFakeUpstream(t, openAIAgentUpstream)
	native := newFakeUpstream(t, nativeResponsesUpstream)
	on := true
	pn := provider("native", native.URL+"/v1", []string{"sk-native-0002"}, "m", "m-up")
	pn.Responses = &on
	tr := newTestRouter(t, &Handler{Strategy: "priority", Providers: []catalog.ProviderConfig{
		provider("chat", chat.URL+"/v1", []string{"sk-chat-0001"}, "m", "m-up"), pn}})
	rs := serveRouter(t, tr)
	patch := responses.ResponseInputParam{
		responses.ResponseInputItemParamOfCompaction("gAAAAB-opaque-summary"),
		responses.ResponseInputItemParamOfMessage("Fix the typo.", responses.EasyInputMessageRoleUser),
	}
	for _, stream := range []bool{false, true} {
		res := sendResponses(t, rs, responses.ResponseNewParams{Model: "m", Store: openai.Bool(false),
			Input: responses.ResponseNewParamsInputUnion{OfInputItemList: patch}}, stream)
		if res.Status != responses.ResponseStatusCompleted || len(res.Output) != 1 || res.Output[0].Name != "get_weather" {
			t.Fatalf("%s: response %+v", byStream(stream), res.Output)
		}
	}
	if len(chat.received()) != 0 || len(native.received()) != 2 {
		t.Fatalf("chat got %d, native %d requests: the compaction item must go to the native provider only",
			len(chat.received()), len(native.received()))
	}
	sendResponses(t, rs, responses.ResponseNewParams{Model: "m", Store: openai.Bool(false),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Weather in Paris?")}}, false)
	if len(chat.received()) != 1 {
		t.Errorf("a translatable request went to the chat provider %d times, want 1 (it comes first)", len(chat.received()))
	}

	// Without a native provider, the translation's 400 stays, in OpenAI's shape.
	_, rs = newResponsesRouter(t, "", false, openAIAgentUpstream)
	c := sdkClient(rs)
	_, err := c.Responses.New(context.Background(), responses.ResponseNewParams{Model: "m",
		Input: responses.ResponseNewParamsInputUnion{OfInputItemList: patch}})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || !strings.Contains(apiErr.Message, `"compaction"`) {
		t.Fatalf("err %v, want the translation's 400", err)
	}
}

// TestResponsesHostedToolChoice: a chat-only provider cannot run a hosted tool. One among the
// tools is dropped (Codex always sends web_search with its functions), but a tool_choice that
// forces one is a 400 in OpenAI's shape, never an answer made without the tool.
func TestResponsesHostedToolChoice(t *testing.T) {
	up, rs := newResponsesRouter(t, "", false, openAIAgentUpstream)
	c := sdkClient(rs)
	search := responses.ToolUnionParam{OfWebSearch: &responses.WebSearchToolParam{Type: responses.WebSearchToolTypeWebSearch}}
	params := responses.ResponseNewParams{Model: "m", Store: openai.Bool(false),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Weather in Paris?")},
		Tools: []responses.ToolUnionParam{responsesWeatherTool, search}}
	if res, err := c.Responses.New(context.Background(), params); err != nil || len(res.Output) != 1 || res.Output[0].Name != "get_weather" {
		t.Fatalf("with a hosted tool among functions: %v %+v", err, res)
	}
	params.ToolChoice = responses.ResponseNewParamsToolChoiceUnion{OfHostedTool: &responses.ToolChoiceTypesParam{Type: responses.ToolChoiceTypesTypeWebSearchPreview}}
	_, err := c.Responses.New(context.Background(), params)
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || apiErr.Type != "invalid_request_error" ||
		!strings.Contains(apiErr.Message, `tool_choice forces a tool of type "web_search_preview"`) {
		t.Fatalf("forced hosted tool: err %v, want a 400 that says why", err)
	}
	if n := len(up.received()); n != 1 {
		t.Errorf("the upstream got %d requests, want 1 (the forced one is refused before)", n)
	}
}

// TestResponsesItemReferenceWord: only an input item of type item_reference needs stored
// state; a tool whose parameters name a property item_reference goes to a chat-only provider
// like any other (it was a 400 stored_state_unsupported).
func TestResponsesItemReferenceWord(t *testing.T) {
	up, rs := newResponsesRouter(t, "", false, openAIAgentUpstream)
	tool := responses.ToolParamOfFunction("get_weather", map[string]any{"type": "object",
		"properties": map[string]any{"item_reference": map[string]any{"type": "string"}}}, false)
	res := sendResponses(t, rs, responses.ResponseNewParams{Model: "m", Store: openai.Bool(false),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Weather in Paris?")},
		Tools: []responses.ToolUnionParam{tool}}, false)
	if len(res.Output) != 1 || res.Output[0].Name != "get_weather" || len(up.received()) != 1 {
		t.Fatalf("output %+v, upstream requests %d", res.Output, len(up.received()))
	}
	for _, body := range []string{`{"model":"m","input":[{"type":"item_reference","id":"msg_1"}]}`,
		`{"model":"m","input":[{"role":"user","content":"hi"}, {"id":"msg_1", "type" : "item_reference"}]}`} {
		if !needsStoredState([]byte(body)) {
			t.Errorf("%s: an item_reference not seen", body)
		}
	}
}

// TestResponsesNativeStreamFailed: a provider that serves the Responses API ends a stream that
// failed with response.failed, which its own clients do not raise. The router's closing error
// event, which openai-go raises, says what the upstream said, not that the stream was cut,
// and neither shows the provider's key.
func TestResponsesNativeStreamFailed(t *testing.T) {
	ev := func(name, data string) string { return "event: " + name + "\ndata: " + data + "\n\n" }
	failing := sseReply(
		ev("response.created", `{"type":"response.created","sequence_number":0,"response":{"id":"resp_up1","object":"response","created_at":1,"status":"in_progress","error":null,"model":"m-up","output":[]}}`),
		ev("response.output_item.added", `{"type":"response.output_item.added","sequence_number":1,"output_index":0,"item":{"id":"msg_1","type":"message","status":"in_progress","role":"assistant","content":[]}}`),
		ev("response.failed", `{"type":"response.failed","sequence_number":2,"response":{"id":"resp_up1","object":"response","created_at":1,"status":"failed","error":{"code":"server_error","message":"The model produced invalid content. (key sk-upstream-key-0001)"},"model":"m-up","output":[]}}`))
	_, rs := newResponsesRouter(t, "", true, failing)
	c := sdkClient(rs)
	st := c.Responses.NewStreaming(context.Background(), responses.ResponseNewParams{Model: "m", Store: openai.Bool(false),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")}})
	defer st.Close()
	var seen []string
	for st.Next() {
		seen = append(seen, st.Current().Type)
	}
	if err := st.Err(); err == nil || !strings.Contains(err.Error(), "The model produced invalid content.") {
		t.Fatalf("after %q: err %v, want the upstream's failure", seen, err)
	}
	if !slices.Contains(seen, "response.failed") {
		t.Errorf("the upstream's response.failed did not reach the client: %q", seen)
	}
	// The provider's event, and the router's that quotes it, never show the provider's key (a
	// router of its own: the failure cooled the one target of the first).
	_, rs = newResponsesRouter(t, "", true, failing)
	raw := readWhole(t, context.Background(), rs, "/v1/responses", `{"model":"m","input":"hi","stream":true}`)
	if strings.Count(raw, "The model produced invalid content.") != 3 || strings.Contains(raw, "sk-upstream") {
		t.Errorf("want the failure in both events and no key:\n%s", raw)
	}
}

// TestResponsesParallelCallsUnderOneIndex: Ollama's OpenAI API streams every parallel call of
// a turn under index 0, each with its own id. openai-go (and Codex CLI) must get two calls.
func TestResponsesParallelCallsUnderOneIndex(t *testing.T) {
	call := func(id, city string) string {
		return `data: {"id":"c1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"` + id +
			`","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"` + city + `\"}"}}]}}]}` + "\n\n"
	}
	_, rs := newResponsesRouter(t, "", false, sseReply(call("call_1", "Paris"), call("call_2", "Rome"),
		`data: {"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`+"\n\n", "data: [DONE]\n\n"))
	res := sendResponses(t, rs, responses.ResponseNewParams{Model: "m",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Weather in Paris and Rome?")},
		Tools: []responses.ToolUnionParam{responsesWeatherTool}}, true)
	var got []string
	for _, o := range res.Output {
		got = append(got, o.CallID+" "+o.Arguments.OfString)
	}
	if want := []string{`call_1 {"city":"Paris"}`, `call_2 {"city":"Rome"}`}; !slices.Equal(got, want) {
		t.Fatalf("calls %q, want %q", got, want)
	}
}

// TestResponsesStreamKeepsUpstreamErrorCode: a chat upstream that fails a translated stream
// with context_length_exceeded (or rate_limit_exceeded) reaches a Responses client with that
// code in response.failed: Codex CLI acts on it (the context is full; wait and retry).
// An Anthropic upstream's error event says the same with its error type.
func TestResponsesStreamKeepsUpstreamErrorCode(t *testing.T) {
	const anthropicStart = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m-up\",\"content\":[],\"usage\":{\"input_tokens\":5,\"output_tokens\":0}}}\n\n" +
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n" +
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n"
	anthropicError := func(typ, msg string) string {
		return "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"" + typ + "\",\"message\":\"" + msg + "\"}}\n\n"
	}
	for _, c := range []struct{ name, api, stream, code, message string }{
		{"openai", "", `data: {"id":"c1","choices":[{"index":0,"delta":{"content":"Hel"}}]}` + "\n\n" +
			`data: {"error":{"message":"This model's maximum context length is 128000 tokens.","type":"invalid_request_error","code":"context_length_exceeded"}}` + "\n\n",
			"context_length_exceeded", "maximum context length"},
		{"anthropic overloaded", "anthropic", anthropicStart + anthropicError("overloaded_error", "Overloaded"), "server_is_overloaded", "Overloaded"},
		{"anthropic rate limit", "anthropic", anthropicStart + anthropicError("rate_limit_error", "Slow down."), "rate_limit_exceeded", "Slow down."},
		{"anthropic prompt too long", "anthropic", anthropicStart + anthropicError("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"), "context_length_exceeded", "prompt is too long"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, rs := newResponsesRouter(t, c.api, false, sseReply(c.stream))
			resp, err := rs.Client().Post(rs.URL+"/v1/responses", "application/json",
				strings.NewReader(`{"model":"m","input":"hi","stream":true}`))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			i := bytes.LastIndex(body, []byte("data: "))
			var failed struct {
				Type     string
				Response struct {
					Error struct{ Code, Message string }
				}
			}
			if i < 0 || json.Unmarshal(bytes.TrimSpace(body[i+6:]), &failed) != nil || failed.Type != "response.failed" {
				t.Fatalf("the stream did not end with response.failed:\n%s", body)
			}
			if failed.Response.Error.Code != c.code || !strings.Contains(failed.Response.Error.Message, c.message) {
				t.Errorf("response.failed error %+v, want code %s and the upstream's message", failed.Response.Error, c.code)
			}
		})
	}
}

// TestResponsesNativeStreamOpensWithError: a provider with responses on whose stream opens with
// the Responses API's error event (a rate limit, say) has sent the client nothing yet: the
// next target answers, and the client sees one clean stream.
func TestResponsesNativeStreamOpensWithError(t *testing.T) {
	for name, first := range map[string]string{
		"error":           "event: error\ndata: {\"type\":\"error\",\"sequence_number\":0,\"code\":\"rate_limit_exceeded\",\"message\":\"Rate limit reached.\"}\n\n",
		"response.failed": "event: response.failed\ndata: {\"type\":\"response.failed\",\"sequence_number\":0,\"response\":{\"id\":\"resp_x\",\"status\":\"failed\",\"error\":{\"code\":\"server_error\",\"message\":\"Overloaded.\"},\"output\":[]}}\n\n",
	} {
		t.Run(name, func(t *testing.T) {
			responsesFailOver(t, newFakeUpstream(t, sseReply(first)), newFakeUpstream(t, nativeResponsesUpstream), true)
		})
	}
}

// TestResponsesNamespaceTools: a namespace tool (Codex CLI sends its sub-agent tools so)
// reaches a chat-only upstream as functions named <namespace>__<name>; the model's call of one
// comes back as the function in its namespace, whole and streamed, and the call replayed on the
// next turn reaches the upstream under the chat name again.
func TestResponsesNamespaceTools(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "whole", true: "streamed"}[stream], func(t *testing.T) {
			// The agent fake, calling the namespaced function by its chat name.
			up, rs := newResponsesRouter(t, "", false, func(w http.ResponseWriter, r *http.Request) {
				rec := httptest.NewRecorder()
				openAIAgentUpstream(rec, r)
				for k, v := range rec.Header() {
					w.Header()[k] = v
				}
				w.WriteHeader(rec.Code)
				_, _ = w.Write(bytes.ReplaceAll(rec.Body.Bytes(), []byte(`"get_weather"`), []byte(`"crm__lookup"`)))
			})
			lookup := responses.ToolParamOfNamespace("CRM tools", "crm", []responses.NamespaceToolToolUnionParam{{
				OfFunction: &responses.NamespaceToolToolFunctionParam{Name: "lookup",
					Parameters: map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}},
			}})
			params := responses.ResponseNewParams{Model: "m", Store: openai.Bool(false),
				Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Weather in Paris?")},
				Tools: []responses.ToolUnionParam{lookup}}
			res := sendResponses(t, rs, params, stream)
			if len(res.Output) != 1 || res.Output[0].Type != "function_call" {
				t.Fatalf("output %+v", res.Output)
			}
			call := res.Output[0].AsFunctionCall()
			if call.Name != "lookup" || call.Namespace != "crm" {
				t.Fatalf("call of %q in namespace %q, want lookup in crm", call.Name, call.Namespace)
			}
			first := up.received()[0].Body
			if !bytes.Contains(first, []byte(`"name":"crm__lookup"`)) {
				t.Errorf("the upstream's tools: %s", first)
			}
			replay := call.ToParam() // keeps the call's namespace
			params.Input = weatherAnsweredWith(responses.ResponseInputItemUnionParam{OfFunctionCall: &replay}, call.CallID)
			if res = sendResponses(t, rs, params, stream); res.OutputText() != "It is 18C in Paris." {
				t.Fatalf("second turn: %q", res.OutputText())
			}
			second := up.received()[1].Body
			if !bytes.Contains(second, []byte(`"name":"crm__lookup"`)) || !bytes.Contains(second, []byte(`"tool_call_id":"`+call.CallID+`"`)) {
				t.Errorf("the replayed call: %s", second)
			}
		})
	}
}

// TestResponsesInputFile: an input_file given inline (a PDF as a data URL, what openai-node
// and openai-go send for a local file) reaches a chat-only provider as a chat file part and an
// Anthropic one as a document block; a file Anthropic cannot read inline is a 400, not an
// answer made without it.
func TestResponsesInputFile(t *testing.T) {
	const pdf = "data:application/pdf;base64,JVBERi0xLjQK"
	send := func(rs *routerServer, data string) (*responses.Response, error) {
		c := sdkClient(rs)
		return c.Responses.New(context.Background(), responses.ResponseNewParams{Model: "m", Store: openai.Bool(false),
			Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
				responses.ResponseInputItemParamOfMessage(responses.ResponseInputMessageContentListParam{
					responses.ResponseInputContentParamOfInputText("Summarise the report."),
					{OfInputFile: &responses.ResponseInputFileParam{FileData: openai.String(data), Filename: openai.String("report.pdf")}},
				}, responses.EasyInputMessageRoleUser),
			}}})
	}
	for api, want := range map[string]string{
		"":          `{"type":"file","file":{"filename":"report.pdf","file_data":"` + pdf + `"}}`,
		"anthropic": `{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0xLjQK"}}`,
	} {
		t.Run("to "+map[string]string{"": "openai", "anthropic": "anthropic"}[api], func(t *testing.T) {
			reply := openAIAgentUpstream
			if api == "anthropic" {
				reply = anthropicAgentUpstream
			}
			up, rs := newResponsesRouter(t, api, false, reply)
			if _, err := send(rs, pdf); err != nil {
				t.Fatalf("SDK error: %v", err)
			}
			if body := up.received()[0].Body; !bytes.Contains(body, []byte(want)) {
				t.Errorf("upstream body %s\nwant it to hold %s", body, want)
			}
		})
	}
	up, rs := newResponsesRouter(t, "anthropic", false, anthropicAgentUpstream)
	_, err := send(rs, "data:text/csv;base64,YSxi")
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusBadRequest || !strings.Contains(apiErr.Message, "PDF") {
		t.Errorf("a CSV for an Anthropic model: %v, want a 400 that says only PDFs", err)
	}
	if n := len(up.received()); n != 0 {
		t.Errorf("the upstream got %d requests", n)
	}
}
