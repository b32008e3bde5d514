package llmrouter

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	anthropicsdk "github.com/anthropics/anthropic-sdk-go"
	anthropicopt "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/caddyserver/caddy/v2"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"google.golang.org/genai"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/transport"
)

// ignoresStream is reply behind an upstream that ignores "stream", as some OpenAI-compatible
// servers and buffering proxies do: asked for a stream, it answers the whole reply that reply
// gives a request without one (Gemini's streamGenerateContent as generateContent).
func ignoresStream(reply http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(bytes.Replace(body, []byte(`"stream":true`), []byte(`"stream":false`), 1)))
		r.URL.Path = strings.Replace(r.URL.Path, ":streamGenerateContent", ":generateContent", 1)
		r.URL.RawQuery = ""
		reply(w, r)
	}
}

// TestWholeReplyToStreamIsStreamed: an upstream that answered a streamed request with its
// whole reply was failed over, and when every target did so the client got an error, though
// the answer had come and was paid for. Now the reply reaches the client as the stream it asked
// for, in its dialect, through a tool round with each real SDK and each upstream wire; the
// target is credited, and the tokens are counted.
func TestWholeReplyToStreamIsStreamed(t *testing.T) {
	for _, up := range []struct {
		api    string
		reply  http.HandlerFunc
		callID string
	}{
		{"openai", openAIAgentUpstream, "call_1"},
		{"anthropic", anthropicAgentUpstream, "toolu_1"},
		{"gemini", geminiAgentUpstream, ""},
	} {
		for _, cl := range []struct {
			name  string
			round func(*testing.T, *routerServer)
		}{
			{"openai-go chat", func(t *testing.T, rs *routerServer) { openAIToolRound(t, rs, true) }},
			{"anthropic-sdk-go", func(t *testing.T, rs *routerServer) {
				// From an Anthropic upstream, the reply is streamed as it is: its own model id.
				model := map[bool]string{true: "m-up", false: "m"}[up.api == "anthropic"]
				anthropicToolRound(t, rs, true, model)
			}},
			{"openai-go responses", func(t *testing.T, rs *routerServer) { responsesToolRound(t, rs, true, "m", up.callID) }},
			{"genai", func(t *testing.T, rs *routerServer) { geminiToolRound(t, geminiClient(t, rs), true, 30) }},
		} {
			t.Run(up.api+" upstream/"+cl.name, func(t *testing.T) {
				fake, tr, rs := newGeminiRouter(t, up.api, ignoresStream(up.reply))
				cl.round(t, rs)
				reqs := fake.received()
				if len(reqs) != 2 {
					t.Fatalf("upstream got %d requests, want one a turn", len(reqs))
				}
				for _, r := range reqs {
					if !bytes.Contains(r.Body, []byte(`"stream":true`)) && !strings.Contains(r.Path, ":streamGenerateContent") {
						t.Errorf("the upstream was not asked for a stream: %s %s", r.Path, r.Body)
					}
				}
				pollUntil(t, "the handler to return", func() bool { return rs.active.Load() == 0 })
				if tr.pools["m"].targets[0].health.Cooling(tr.clock.Now().UnixNano()) {
					t.Error("the target that answered is cooling")
				}
				logs := tr.logs.String()
				if strings.Count(logs, `"outcome":"success"`) != 2 || !strings.Contains(logs, `"tokens_in":20,"tokens_out":7`) ||
					!strings.Contains(logs, `"tokens_in":30,"tokens_out":6`) {
					t.Errorf("want two successes with the replies' tokens counted:\n%s", logs)
				}
			})
		}
	}
}

// TestWholeReplyToStreamFraming: the stream made of a whole reply is each dialect's own,
// ended by its terminator, says so in X-LLM-Router-Whole-Reply, and carries what the whole
// reply said: reasoning, text and the usage where the client's stream has it.
func TestWholeReplyToStreamFraming(t *testing.T) {
	const reply = `{
  "id": "c9", "object": "chat.completion", "created": 1, "model": "m-up",
  "choices": [{"index": 0, "message": {"role": "assistant", "reasoning_content": "Think \"twice\".", "content": "Hello\nworld"},
    "finish_reason": "length"}],
  "usage": {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}
}`
	const (
		chatPath  = "/v1/chat/completions"
		chatBody  = `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`
		usageBody = `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`
		geminiIn  = `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`
	)
	for _, tc := range []struct {
		name, path, body string
		want             []string // in order
		not              []string
		contentType      string
	}{
		{"openai chat", chatPath, chatBody,
			[]string{`"reasoning_content":"Think \"twice\"."`, `"content":"Hello\nworld"`, `"finish_reason":"length"`, "data: [DONE]\n\n"},
			[]string{`"usage"`}, "text/event-stream"},
		{"openai chat with usage", chatPath, usageBody,
			[]string{`"content":"Hello\nworld"`, `"choices":[],"usage":{"prompt_tokens":11,"completion_tokens":5,"total_tokens":16}}`, "data: [DONE]\n\n"},
			nil, "text/event-stream"},
		{"anthropic", "/v1/messages", `{"model":"m","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			[]string{"event: message_start\n", `"text":"Hello\nworld"`, `"stop_reason":"max_tokens"`, `"output_tokens":5`,
				"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"},
			nil, "text/event-stream"},
		{"responses", "/v1/responses", `{"model":"m","stream":true,"input":"hi"}`,
			[]string{"event: response.created\n", `"delta":"Think \"twice\"."`, `"delta":"Hello\nworld"`, "event: response.incomplete\n",
				`"reason":"max_output_tokens"`, `"input_tokens":11`},
			nil, "text/event-stream"},
		{"gemini sse", "/v1beta/models/m:streamGenerateContent?alt=sse", geminiIn,
			[]string{`{"text":"Hello\nworld"}`, `"finishReason":"MAX_TOKENS"`, `"candidatesTokenCount":5`},
			nil, "text/event-stream"},
		{"gemini array", "/v1beta/models/m:streamGenerateContent", geminiIn,
			[]string{"[", `{"text":"Hello\nworld"}`, `"finishReason":"MAX_TOKENS"`, "]"},
			nil, "application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake, tr, rs := newGeminiRouter(t, "openai", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, reply)
			})
			resp, body := rs.postOK(t, tc.path, tc.body)
			if got := resp.Header.Get("X-LLM-Router-Whole-Reply"); got != "true" {
				t.Errorf("X-LLM-Router-Whole-Reply %q, want true", got)
			}
			if ct := resp.Header.Get("Content-Type"); ct != tc.contentType {
				t.Errorf("Content-Type %q, want %q", ct, tc.contentType)
			}
			if tc.contentType == "application/json" {
				if !json.Valid([]byte(body)) {
					t.Errorf("the array is not JSON: %s", body)
				}
			} else if tc.name != "responses" { // whose response objects have "error": null, as OpenAI's
				checkStreamHygiene(t, body)
			}
			rest := body
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("want %q (in this order) in the stream:\n%s", w, body)
				}
				rest = rest[i+len(w):]
			}
			if strings.HasSuffix(tc.want[len(tc.want)-1], "\n\n") && rest != "" {
				t.Errorf("events after the terminator: %q", rest)
			}
			for _, s := range tc.not {
				if strings.Contains(body, s) {
					t.Errorf("%q in a stream that did not ask for it:\n%s", s, body)
				}
			}
			if n := len(fake.received()); n != 1 {
				t.Errorf("upstream got %d requests, want 1", n)
			}
			pollUntil(t, "the handler to return", func() bool { return rs.active.Load() == 0 })
			if logs := tr.logs.String(); !strings.Contains(logs, `"tokens_in":11,"tokens_out":5`) {
				t.Errorf("the reply's tokens are not counted:\n%s", logs)
			}
		})
	}
}

// TestWholeReplyToStreamStillFailsOver: what is no answer still fails over to the next
// target, which streams: an error object with a 200, a text completion without a choice (as a
// stream, only [DONE]), and a whole Responses API object, which has no pivot to be streamed
// through. The first target cools, and the client never sees X-LLM-Router-Whole-Reply.
func TestWholeReplyToStreamStillFailsOver(t *testing.T) {
	const (
		chatBody = `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`
		errorObj = `{"error":{"message":"upstream overloaded","type":"server_error","code":500}}`
	)
	streamDone := sseReply(cleanStream)
	for _, tc := range []struct {
		name, path, body, whole, reason string
		responses                       bool
	}{
		{"error object", "/v1/chat/completions", chatBody, errorObj, "a 2xx reply that is an error", false},
		{"text completion without choices", "/v1/completions", `{"model":"m","stream":true,"prompt":"hi"}`,
			`{"id":"t1","object":"text_completion","model":"m-up","choices":[]}`, "reply without choices", false},
		{"failed responses object", "/v1/responses", `{"model":"m","stream":true,"input":"hi","store":false}`,
			`{"id":"resp_1","object":"response","status":"failed","error":{"code":"server_error","message":"boom"},"output":[],"usage":{"input_tokens":1,"output_tokens":1,"total_tokens":2}}`,
			"reply not translatable: responses: the response is an error", true},
		{"error object from a responses provider", "/v1/responses", `{"model":"m","stream":true,"input":"hi","store":false}`,
			errorObj, "reply not translatable: responses: reply is not a response object", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &Handler{Strategy: "priority"}
			for i, reply := range []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, tc.whole)
			}, streamDone} {
				u := newFakeUpstream(t, reply)
				p := provider(fmt.Sprintf("p%d", i+1), u.URL+"/v1", []string{"sk-whole-0001"}, "m", "m-up")
				if tc.responses && i == 0 {
					on := true
					p.Responses = &on
				}
				h.Providers = append(h.Providers, p)
			}
			tr := newTestRouter(t, h)
			rec := tr.do(jsonRequest(http.MethodPost, tc.path, tc.body))
			if rec.Code != http.StatusOK || rec.Header().Get("X-LLM-Router-Provider") != "p2" {
				t.Fatalf("status %d from %q, want 200 from p2: %s", rec.Code, rec.Header().Get("X-LLM-Router-Provider"), rec.Body)
			}
			if rec.Header().Get("X-LLM-Router-Whole-Reply") != "" {
				t.Error("X-LLM-Router-Whole-Reply on a stream that came as one")
			}
			if !tr.pools["m"].targets[0].health.Cooling(tr.clock.Now().UnixNano()) {
				t.Error("the first target is not cooling")
			}
			if logs := tr.logs.String(); !strings.Contains(logs, tc.reason) {
				t.Errorf("no log line says %q:\n%s", tc.reason, logs)
			}
		})
	}
}

// TestWholeTextCompletionIsStreamed: a whole text completion (/v1/completions) to a streamed
// request failed over, and when every target answered so the client got an error, though the
// answer had come. A completions stream's chunk has the reply's own shape (choices with text,
// index, logprobs and finish_reason), so the reply is now streamed as one chunk, then the
// usage chunk when a stream would have had it, then [DONE]: openai-go reads the text, the
// finish reason and the usage, and the target is credited.
func TestWholeTextCompletionIsStreamed(t *testing.T) {
	const whole = "{\n  \"id\": \"cmpl-1\", \"object\": \"text_completion\", \"created\": 7, \"model\": \"m-up\",\n" +
		`  "choices": [{"text": "Hello\nworld", "index": 0, "logprobs": null, "finish_reason": "length"}],` + "\n" +
		`  "usage": {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}}`
	for _, asks := range []bool{true, false} {
		t.Run(fmt.Sprintf("usage asked %v", asks), func(t *testing.T) {
			tr := priorityRouter(t, "openai", "/v1", "sk-whole-0001", ignoresStream(jsonReply(whole)))
			rs := serveRouter(t, tr)
			params := openai.CompletionNewParams{Model: "m", Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("Say")}}
			if asks {
				params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
			}
			var header http.Header
			client := sdkClient(rs)
			st := client.Completions.NewStreaming(context.Background(), params,
				option.WithMiddleware(func(r *http.Request, next option.MiddlewareNext) (*http.Response, error) {
					resp, err := next(r)
					if resp != nil {
						header = resp.Header
					}
					return resp, err
				}))
			defer st.Close()
			var text, finish string
			var usage openai.CompletionUsage
			chunks := 0
			for st.Next() {
				ch := st.Current()
				chunks++
				for _, c := range ch.Choices {
					text += c.Text
					if c.FinishReason != "" {
						finish = string(c.FinishReason)
					}
				}
				if ch.Usage.TotalTokens > 0 {
					usage = ch.Usage
				}
			}
			if err := st.Err(); err != nil {
				t.Fatalf("openai-go: %v", err)
			}
			if text != "Hello\nworld" || finish != "length" {
				t.Errorf("text %q finish %q, want the reply's", text, finish)
			}
			if asks && (usage.CompletionTokens != 3 || chunks != 2) || !asks && (usage.TotalTokens != 0 || chunks != 1) {
				t.Errorf("usage %+v in %d chunks; usage asked: %v", usage, chunks, asks)
			}
			if header.Get("X-LLM-Router-Whole-Reply") != "true" || header.Get("X-LLM-Router-Provider") != "p1" {
				t.Errorf("whole reply %q from %q", header.Get("X-LLM-Router-Whole-Reply"), header.Get("X-LLM-Router-Provider"))
			}
			if tr.targetCooling(0) {
				t.Error("the target that answered is cooling")
			}
			pollUntil(t, "the handler to return", func() bool { return rs.active.Load() == 0 })
			if logs := tr.logs.String(); !strings.Contains(logs, `"outcome":"success"`) || !strings.Contains(logs, `"tokens_in":2,"tokens_out":3`) {
				t.Errorf("the reply is not logged a success with its tokens:\n%s", logs)
			}
		})
	}
}

// thinkingWholeReply is an Anthropic model's whole tool-calling turn with extended thinking:
// a signed thinking block, a redacted one, text, and the call, pretty-printed as servers send
// it. The next turn must replay both thinking blocks as they came.
const thinkingWholeReply = `{
  "id": "msg_t1", "type": "message", "role": "assistant", "model": "m-up",
  "content": [
    {"type": "thinking", "thinking": "The user wants \"Paris\".\nCall the tool.", "signature": "c2lnLXRoaW5r"},
    {"type": "redacted_thinking", "data": "ZW5jcnlwdGVk"},
    {"type": "text", "text": "Checking."},
    {"type": "tool_use", "id": "toolu_t1", "name": "get_weather", "input": {"city": "Paris", "units": ["C"]}}
  ],
  "stop_reason": "tool_use", "stop_sequence": null,
  "usage": {"input_tokens": 20, "cache_read_input_tokens": 5, "cache_creation_input_tokens": 0, "output_tokens": 7}
}`

// thinkingAnthropicUpstream answers every request whole, streamed or not: the turn above, then,
// for the tool's result, text; as the real API does, it refuses (400) a tool result whose
// assistant turn lost its thinking blocks or their signature.
func thinkingAnthropicUpstream(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Messages []struct {
			Role    string            `json:"role"`
			Content []json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	_ = json.NewDecoder(r.Body).Decode(&req)
	w.Header().Set("Content-Type", "application/json")
	if len(req.Messages) < 3 {
		_, _ = io.WriteString(w, thinkingWholeReply)
		return
	}
	want := []string{`{"type":"thinking","thinking":"The user wants \"Paris\".\nCall the tool.","signature":"c2lnLXRoaW5r"}`,
		`{"type":"redacted_thinking","data":"ZW5jcnlwdGVk"}`}
	turn := req.Messages[1].Content
	for i, b := range want {
		var got, exp any
		_ = json.Unmarshal([]byte(b), &exp)
		if i < len(turn) {
			_ = json.Unmarshal(turn[i], &got)
		}
		if fmt.Sprint(got) != fmt.Sprint(exp) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = fmt.Fprintf(w, `{"type":"error","error":{"type":"invalid_request_error","message":"messages.1.content.%d: thinking blocks must be replayed unmodified"}}`, i)
			return
		}
	}
	_, _ = io.WriteString(w, `{"id":"msg_t2","type":"message","role":"assistant","model":"m-up","content":[{"type":"text","text":"It is 18C in Paris."}],`+
		`"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":40,"output_tokens":6}}`)
}

// TestWholeReplyToStreamKeepsThinking: a whole reply from an Anthropic provider to an Anthropic
// client's stream went through the pivot, which has no room for signed or redacted thinking:
// the client's next turn replayed the call without its thinking, and the real API refuses
// that. Now the reply becomes the Messages events it would have come as, every block as it is
// (thinking with its signature, redacted thinking, text, the call's input); anthropic-sdk-go
// accumulates the reply's own content, stop reason and usage, and the replay is accepted.
func TestWholeReplyToStreamKeepsThinking(t *testing.T) {
	_, tr, rs := newDialectRouter(t, "anthropic", thinkingAnthropicUpstream)
	c := anthropicClient(rs)
	params := anthropicsdk.MessageNewParams{
		Model: "m", MaxTokens: 4096,
		Thinking: anthropicsdk.ThinkingConfigParamOfEnabled(2048),
		Messages: []anthropicsdk.MessageParam{anthropicsdk.NewUserMessage(anthropicsdk.NewTextBlock("Weather in Paris?"))},
		Tools:    []anthropicsdk.ToolUnionParam{weatherTool},
	}
	var header http.Header
	send := func() anthropicsdk.Message {
		t.Helper()
		st := c.Messages.NewStreaming(context.Background(), params, anthropicopt.WithMiddleware(
			func(r *http.Request, next anthropicopt.MiddlewareNext) (*http.Response, error) {
				resp, err := next(r)
				if resp != nil {
					header = resp.Header
				}
				return resp, err
			}))
		defer st.Close()
		var msg anthropicsdk.Message
		for st.Next() {
			if err := msg.Accumulate(st.Current()); err != nil {
				t.Fatalf("accumulate: %v", err)
			}
		}
		if err := st.Err(); err != nil {
			t.Fatalf("anthropic-sdk-go: %v", err)
		}
		return msg
	}
	msg := send()
	if header.Get("X-LLM-Router-Whole-Reply") != "true" {
		t.Errorf("X-LLM-Router-Whole-Reply %q", header.Get("X-LLM-Router-Whole-Reply"))
	}
	var whole anthropicsdk.Message
	if err := json.Unmarshal([]byte(thinkingWholeReply), &whole); err != nil {
		t.Fatal(err)
	}
	if len(msg.Content) != len(whole.Content) {
		t.Fatalf("%d blocks, want the reply's %d: %s", len(msg.Content), len(whole.Content), msg.RawJSON())
	}
	for i, b := range whole.Content {
		got := msg.Content[i]
		if got.Type != b.Type || got.Thinking != b.Thinking || got.Signature != b.Signature || got.Data != b.Data ||
			got.Text != b.Text || got.ID != b.ID || got.Name != b.Name || !jsonEqual(got.Input, b.Input) {
			t.Errorf("block %d: %s, want %s", i, got.RawJSON(), b.RawJSON())
		}
	}
	if msg.StopReason != anthropicsdk.StopReasonToolUse || msg.ID != "msg_t1" || msg.Usage.OutputTokens != 7 ||
		msg.Usage.InputTokens != 20 || msg.Usage.CacheReadInputTokens != 5 {
		t.Errorf("stop %q id %q usage %+v, want the reply's", msg.StopReason, msg.ID, msg.Usage)
	}
	params.Messages = append(params.Messages, msg.ToParam(),
		anthropicsdk.NewUserMessage(anthropicsdk.NewToolResultBlock("toolu_t1", "18C", false)))
	if msg = send(); len(msg.Content) != 1 || msg.Content[0].Text != "It is 18C in Paris." {
		t.Fatalf("second turn: %s", msg.RawJSON())
	}
	pollUntil(t, "the handler to return", func() bool { return rs.active.Load() == 0 })
	if logs := tr.logs.String(); strings.Count(logs, `"outcome":"success"`) != 2 {
		t.Errorf("want two successes:\n%s", logs)
	}
}

// jsonEqual reports whether two JSON documents hold the same value (both empty counts).
func jsonEqual(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && fmt.Sprint(x) == fmt.Sprint(y)
}

// thoughtGeminiReply is a Gemini 3 model's whole function-calling turn: a thought summary, text
// and the call, each part with its thought signature, which the next turn must bring back.
const thoughtGeminiReply = `{
  "candidates": [{"content": {"role": "model", "parts": [
      {"text": "The user wants Paris.", "thought": true, "thoughtSignature": "c2lnLXRob3VnaHQ="},
      {"text": "Checking.", "thoughtSignature": "c2lnLXRleHQ="},
      {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2lnLWNhbGw="}]},
    "finishReason": "STOP", "index": 0}],
  "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 7, "thoughtsTokenCount": 4, "totalTokenCount": 31},
  "modelVersion": "gem-up", "responseId": "r1"
}`

// thoughtGeminiUpstream answers every request whole, streamed or not: the turn above, then, for
// the function's response, text; it refuses (400) a replay whose model turn is not the parts it
// sent, signatures and thought flags included.
func thoughtGeminiUpstream(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Contents []struct {
			Parts []map[string]any `json:"parts"`
		} `json:"contents"`
	}
	_ = json.NewDecoder(r.Body).Decode(&req)
	w.Header().Set("Content-Type", "application/json")
	if len(req.Contents) < 3 {
		_, _ = io.WriteString(w, thoughtGeminiReply)
		return
	}
	var sent struct {
		Candidates []struct {
			Content struct {
				Parts []map[string]any `json:"parts"`
			} `json:"content"`
		} `json:"candidates"`
	}
	_ = json.Unmarshal([]byte(thoughtGeminiReply), &sent)
	if got, want := fmt.Sprint(req.Contents[1].Parts), fmt.Sprint(sent.Candidates[0].Content.Parts); got != want {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = fmt.Fprintf(w, `{"error":{"code":400,"message":"the model turn was not replayed as it came: %q","status":"INVALID_ARGUMENT"}}`, got)
		return
	}
	_, _ = io.WriteString(w, `{"candidates":[{"content":{"role":"model","parts":[{"text":"It is 18C in Paris."}]},"finishReason":"STOP","index":0}],`+
		`"usageMetadata":{"promptTokenCount":30,"candidatesTokenCount":6,"totalTokenCount":36},"modelVersion":"gem-up","responseId":"r2"}`)
}

// TestWholeReplyToStreamKeepsThoughts: a whole reply from a Gemini provider to a Gemini client's
// stream went through the pivot, which keeps a thought signature only on a function call: the
// thought and text parts lost theirs. Now the reply is its stream's one chunk, as it came; the
// genai SDK reads every part with its signature, and the replay is the turn Gemini sent.
func TestWholeReplyToStreamKeepsThoughts(t *testing.T) {
	for _, path := range []string{"sse", "array"} {
		t.Run(path, func(t *testing.T) {
			_, tr, rs := newGeminiRouter(t, "gemini", thoughtGeminiUpstream)
			c := geminiClient(t, rs)
			cfg := &genai.GenerateContentConfig{Tools: []*genai.Tool{geminiWeatherTool}}
			contents := []*genai.Content{genai.NewContentFromText("Weather in Paris?", genai.RoleUser)}
			send := func() *genai.Content {
				t.Helper()
				turn := &genai.Content{Role: genai.RoleModel}
				if path == "array" {
					// The JSON array of :streamGenerateContent without alt=sse, which genai
					// never asks for: read raw.
					body, _ := json.Marshal(map[string]any{"contents": contents, "tools": cfg.Tools})
					resp, raw := rs.postOK(t, "/v1beta/models/m:streamGenerateContent", string(body))
					if resp.Header.Get("X-LLM-Router-Whole-Reply") != "true" {
						t.Errorf("X-LLM-Router-Whole-Reply %q", resp.Header.Get("X-LLM-Router-Whole-Reply"))
					}
					var chunks []genai.GenerateContentResponse
					if err := json.Unmarshal([]byte(raw), &chunks); err != nil {
						t.Fatalf("the stream is not a JSON array: %v\n%s", err, raw)
					}
					for _, ch := range chunks {
						turn.Parts = append(turn.Parts, ch.Candidates[0].Content.Parts...)
					}
					return turn
				}
				for res, err := range c.Models.GenerateContentStream(context.Background(), "m", contents, cfg) {
					if err != nil {
						t.Fatalf("genai: %v", err)
					}
					turn.Parts = append(turn.Parts, res.Candidates[0].Content.Parts...)
				}
				return turn
			}
			turn := send()
			want := []struct {
				text, sig string
				thought   bool
			}{{"The user wants Paris.", "sig-thought", true}, {"Checking.", "sig-text", false}, {"", "sig-call", false}}
			if len(turn.Parts) != len(want) {
				t.Fatalf("%d parts, want 3: %+v", len(turn.Parts), turn.Parts)
			}
			for i, w := range want {
				p := turn.Parts[i]
				if p.Text != w.text || string(p.ThoughtSignature) != w.sig || p.Thought != w.thought {
					t.Errorf("part %d: %+v, want %+v", i, p, w)
				}
			}
			if call := turn.Parts[2].FunctionCall; call == nil || call.Name != "get_weather" || call.Args["city"] != "Paris" {
				t.Errorf("the call: %+v", turn.Parts[2])
			}
			contents = append(contents, turn, genai.NewContentFromFunctionResponse("get_weather", map[string]any{"result": "18C"}, genai.RoleUser))
			if turn = send(); len(turn.Parts) == 0 || turn.Parts[0].Text != "It is 18C in Paris." {
				t.Fatalf("second turn: %+v", turn.Parts)
			}
			pollUntil(t, "the handler to return", func() bool { return rs.active.Load() == 0 })
			if logs := tr.logs.String(); strings.Count(logs, `"outcome":"success"`) != 2 || !strings.Contains(logs, `"tokens_in":20,"tokens_out":11`) {
				t.Errorf("want two successes, the first with its tokens (thoughts are output):\n%s", logs)
			}
		})
	}
}

// TestWholeReplyToStreamHasAWholeReplysTime: a streamed request's head and first event are
// bounded by first_event_timeout, and a whole reply was held to it to its last byte: an
// upstream that ignores "stream" and sends its head at once but its body when the generation
// is done was failed over once first_event_timeout (short, for a quick failover) had passed,
// though it was answering. Once the head says the reply is whole JSON, its body is bounded as
// a non-streamed request's is, by stream_idle_timeout for each wait: a body that comes after
// first_event_timeout reaches openai-go; one that does not come within stream_idle_timeout
// either fails over to the next target, as a stalled whole reply does, and its target cools.
func TestWholeReplyToStreamHasAWholeReplysTime(t *testing.T) {
	// Long enough for a loaded machine to bring the head within it.
	const (
		firstEvent = 250 * time.Millisecond
		whole      = `{"id":"c1","object":"chat.completion","created":1,"model":"m-up","choices":[{"index":0,` +
			`"message":{"role":"assistant","content":"Done at last."},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`
	)
	for _, tc := range []struct {
		name            string
		idle, bodyAfter time.Duration
		protocol        string
		from, text      string
	}{
		{"body after first_event_timeout", 10 * time.Second, 3 * firstEvent, "", "slow", "Done at last."},
		{"body after first_event_timeout, h1", 10 * time.Second, 3 * firstEvent, "h1", "slow", "Done at last."},
		{"no body within stream_idle_timeout", 2 * firstEvent, time.Minute, "", "fast", "Hello world"},
		{"no body within stream_idle_timeout, h1", 2 * firstEvent, time.Minute, "h1", "fast", "Hello world"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			slow := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusOK)
				http.NewResponseController(w).Flush()
				select {
				case <-time.After(tc.bodyAfter):
					_, _ = io.WriteString(w, whole)
				case <-r.Context().Done():
				}
			})
			ps := provider("slow", slow.URL+"/v1", []string{"sk-whole-0001"}, "m", "m-up")
			ps.Transport = &transport.Config{Protocol: tc.protocol}
			fast := newFakeUpstream(t, sseReply(cleanStream))
			tr := newTestRouter(t, &Handler{Strategy: "priority",
				FirstEventTimeout: caddy.Duration(firstEvent), StreamIdleTimeout: caddy.Duration(tc.idle),
				Providers: []catalog.ProviderConfig{ps, provider("fast", fast.URL+"/v1", []string{"sk-fast-0001"}, "m", "m-up")}})
			rs := serveRouter(t, tr)
			var header http.Header
			began := time.Now()
			client := sdkClient(rs)
			st := client.Chat.Completions.NewStreaming(context.Background(), sdkParams,
				option.WithMiddleware(func(r *http.Request, next option.MiddlewareNext) (*http.Response, error) {
					resp, err := next(r)
					if resp != nil {
						header = resp.Header
					}
					return resp, err
				}))
			defer st.Close()
			var acc openai.ChatCompletionAccumulator
			for st.Next() {
				acc.AddChunk(st.Current())
			}
			took := time.Since(began)
			if err := st.Err(); err != nil {
				t.Fatalf("openai-go: %v", err)
			}
			if len(acc.Choices) != 1 || acc.Choices[0].Message.Content != tc.text || header.Get("X-LLM-Router-Provider") != tc.from {
				t.Fatalf("%+v from %q, want %q from %s", acc.Choices, header.Get("X-LLM-Router-Provider"), tc.text, tc.from)
			}
			pollUntil(t, "the handler to return", func() bool { return rs.active.Load() == 0 })
			logs := tr.logs.String()
			if tc.from == "slow" {
				if took < tc.bodyAfter || header.Get("X-LLM-Router-Whole-Reply") != "true" || tr.targetCooling(0) {
					t.Errorf("took %s (body after %s), whole reply %q, cooling %v", took, tc.bodyAfter,
						header.Get("X-LLM-Router-Whole-Reply"), tr.targetCooling(0))
				}
				if strings.Contains(logs, "first_event_timeout") {
					t.Errorf("first_event_timeout fired:\n%s", logs)
				}
				return
			}
			if took < tc.idle || !tr.targetCooling(0) || !strings.HasPrefix(header.Get("X-LLM-Router-Failures"), "slow#0") ||
				!strings.Contains(header.Get("X-LLM-Router-Failures"), " 200 upstream_down") {
				t.Errorf("took %s (stream_idle_timeout %s), first target cooling %v, failures %q", took, tc.idle,
					tr.targetCooling(0), header.Get("X-LLM-Router-Failures"))
			}
			if !strings.Contains(logs, "reply stalled beyond stream_idle_timeout") || strings.Contains(logs, "first_event_timeout") {
				t.Errorf("want the stall, not first_event_timeout, as the reason:\n%s", logs)
			}
		})
	}
}

// TestWholeReplyToStreamIsNotHedged: with hedge_after, a streamed attempt that has brought no
// first event by then gets a twin; an upstream that ignores "stream" has sent its head, but
// brings its first event only when the whole answer is done, so every long answer of it was
// raced by a second target, which, streaming, won, and the first generation was paid for
// and thrown away. A head that says the reply is whole JSON is an answer coming, as a
// non-streamed request's is, and those are never hedged: the whole reply reaches openai-go,
// and the next target is never asked.
func TestWholeReplyToStreamIsNotHedged(t *testing.T) {
	// Long enough for a loaded machine to bring the head within it.
	const (
		hedgeAfter = 250 * time.Millisecond
		whole      = `{"id":"c1","object":"chat.completion","created":1,"model":"m-up","choices":[{"index":0,` +
			`"message":{"role":"assistant","content":"Done at last."},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`
	)
	slow := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		select {
		case <-time.After(3 * hedgeAfter):
			_, _ = io.WriteString(w, whole)
		case <-r.Context().Done():
		}
	})
	fast := newFakeUpstream(t, sseReply(cleanStream))
	tr := newTestRouter(t, &Handler{Strategy: "priority", HedgeAfter: caddy.Duration(hedgeAfter),
		Providers: []catalog.ProviderConfig{provider("slow", slow.URL+"/v1", []string{"sk-whole-0001"}, "m", "m-up"),
			provider("fast", fast.URL+"/v1", []string{"sk-fast-0001"}, "m", "m-up")}})
	rs := serveRouter(t, tr)
	acc := streamChat(t, sdkClient(rs), sdkParams)
	if len(acc.Choices) != 1 || acc.Choices[0].Message.Content != "Done at last." {
		t.Fatalf("choices %+v, want the whole reply's text", acc.Choices)
	}
	pollUntil(t, "the handler to return", func() bool { return rs.active.Load() == 0 })
	if n := len(fast.received()); n != 0 {
		t.Errorf("the next target got %d requests: a hedge raced the whole reply", n)
	}
	if logs := tr.logs.String(); strings.Contains(logs, `"hedge"`) || !strings.Contains(logs, `"provider":"slow"`) {
		t.Errorf("want the slow target's answer, unhedged:\n%s", logs)
	}
}

// TestWholeResponsesObjectToStreamIsStreamed: a provider that serves the Responses API and
// answered a streamed request (Codex CLI's) with its whole response object was failed over,
// and when every target did so the client got an error, though the answer had come and was
// paid for. Now the object reaches openai-go as the stream the provider would have sent: its
// text and argument deltas are the object's, and its response.completed is the object itself
// (ids, encrypted reasoning, text, call, usage); the reply says it came whole, the target is
// credited and the tokens counted.
func TestWholeResponsesObjectToStreamIsStreamed(t *testing.T) {
	const usage = `"usage":{"input_tokens":20,"input_tokens_details":{"cached_tokens":4},"output_tokens":7,"output_tokens_details":{"reasoning_tokens":3},"total_tokens":27}`
	for _, tc := range []struct{ name, output string }{
		{"text", `{"id":"rs_up1","type":"reasoning","summary":[{"type":"summary_text","text":"Quote the \"tool\"."}],"encrypted_content":"gAAAA-opaque"},` +
			`{"id":"msg_up1","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"It is \"18C\"\nin Paris.","annotations":[],"logprobs":[]}]}`},
		{"function call", `{"id":"fc_up1","type":"function_call","status":"completed","call_id":"call_up1","name":"get_weather","arguments":"{\"city\":\"Paris\"}"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			whole := `{"id":"resp_up1","object":"response","created_at":1,"status":"completed","error":null,"incomplete_details":null,"model":"m-up","output":[` +
				tc.output + `],"parallel_tool_calls":true,"tool_choice":"auto","tools":[],` + usage + `}`
			up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, whole)
			})
			pc := provider("p1", up.URL+"/v1", []string{"sk-upstream-key-0001"}, "m", "m-up")
			on := true
			pc.Responses = &on
			tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{pc}})
			rs := serveRouter(t, tr)

			res := sendResponses(t, rs, responses.ResponseNewParams{Model: "m", Store: openai.Bool(false),
				Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Weather in Paris?")},
				Tools: []responses.ToolUnionParam{responsesWeatherTool}}, true)
			if !jsonEqual([]byte(res.RawJSON()), []byte(whole)) {
				t.Errorf("response.completed:\n%s\nwant the whole object:\n%s", res.RawJSON(), whole)
			}
			var want struct{ Output []json.RawMessage }
			_ = json.Unmarshal([]byte(whole), &want)
			if len(res.Output) != len(want.Output) {
				t.Fatalf("output %+v", res.Output)
			}
			for i := range want.Output {
				if !jsonEqual([]byte(res.Output[i].RawJSON()), want.Output[i]) {
					t.Errorf("item %d: %s, want %s", i, res.Output[i].RawJSON(), want.Output[i])
				}
			}
			if u := res.Usage; u.InputTokens != 20 || u.OutputTokens != 7 || u.TotalTokens != 27 || u.InputTokensDetails.CachedTokens != 4 {
				t.Errorf("usage %+v", u)
			}
			if got := up.received(); len(got) != 1 || !bytes.Contains(got[0].Body, []byte(`"stream":true`)) {
				t.Fatalf("the upstream was not asked for one stream: %d requests", len(got))
			}
			resp := rs.postTo(t, context.Background(), "/v1/responses", `{"model":"m","input":"hi","stream":true,"store":false}`)
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.Header.Get("X-LLM-Router-Whole-Reply") != "true" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") ||
				!strings.HasPrefix(string(raw), "event: response.created\n") {
				t.Errorf("headers %v, body:\n%s", resp.Header, raw)
			}
			pollUntil(t, "the handler to return", func() bool { return rs.active.Load() == 0 })
			if tr.pools["m"].targets[0].health.Cooling(tr.clock.Now().UnixNano()) {
				t.Error("the target that answered is cooling")
			}
			if logs := tr.logs.String(); strings.Count(logs, `"outcome":"success"`) != 2 || !strings.Contains(logs, `"tokens_in":20,"tokens_out":7`) {
				t.Errorf("want two successes with the reply's tokens counted:\n%s", logs)
			}
		})
	}
}
