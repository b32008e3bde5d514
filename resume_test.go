package llmrouter

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	anthropicsdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/caddyserver/caddy/v2"
	"github.com/openai/openai-go/v3"

	"github.com/llmrouter/caddy-llm-router/catalog"
	vroute "github.com/llmrouter/caddy-llm-router/route"
)

// Resuming a broken stream: an upstream that cuts (or stalls, or sends an error event) after
// a few events, a second that continues, through real SDKs. The continuation repeats the
// broken stream's last characters, as some servers do, so the seam's overlap check is tested
// by the assembled text.

// The broken answer and its continuation. The continuation starts by repeating " brown".
const (
	resumeHave = "The quick brown"
	resumeWant = "The quick brown fox jumps over the lazy dog."
)

// brokenChat streams resumeHave in three chunks, then fails as fail does.
func brokenChat(fail func(w http.ResponseWriter, r *http.Request, sent string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		fail(w, r, roleChunkEv("The")+chunkEv(" quick")+chunkEv(" brown"))
	}
}

func cutChat(w http.ResponseWriter, r *http.Request, sent string) {
	cutAfter(sent, `data: {"id"`)(w, r)
}

// continuingChat answers a continuation as an OpenAI-compatible server: its own id, a role
// chunk, a repeat of the last characters, the rest, usage and [DONE].
func continuingChat(w http.ResponseWriter, r *http.Request) {
	const head = `data: {"id":"c2","object":"chat.completion.chunk","created":2,"model":"other-up","choices":[`
	sseReply(
		head+`{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`+"\n\n",
		head+`{"index":0,"delta":{"content":" brown fox"},"finish_reason":null}]}`+"\n\n",
		head+`{"index":0,"delta":{"content":" jumps over"},"finish_reason":null}]}`+"\n\n",
		head+`{"index":0,"delta":{"content":" the lazy dog."},"finish_reason":null}]}`+"\n\n",
		head+`{"index":0,"delta":{},"finish_reason":"stop"}]}`+"\n\n",
		head+`],"usage":{"prompt_tokens":9,"completion_tokens":7,"total_tokens":16}}`+"\n\n",
		doneEv)(w, r)
}

// continuingMessages answers a continuation as the Anthropic Messages API: it continues the
// prefill without repeating it (the prefill had its trailing blanks trimmed).
func continuingMessages(w http.ResponseWriter, r *http.Request) {
	ev := func(name, data string) string { return "event: " + name + "\ndata: " + data + "\n\n" }
	sseReply(
		ev("message_start", `{"type":"message_start","message":{"id":"msg_2","type":"message","role":"assistant","model":"other-up","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":9,"output_tokens":1}}}`),
		ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`),
		ev("ping", `{"type":"ping"}`),
		ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" fox jumps"}}`),
		ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" over the lazy dog."}}`),
		ev("content_block_stop", `{"type":"content_block_stop","index":0}`),
		ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":7}}`),
		ev("message_stop", `{"type":"message_stop"}`))(w, r)
}

// brokenMessages streams resumeHave as an Anthropic stream (block 0), then cuts.
func brokenMessages(w http.ResponseWriter, r *http.Request) {
	ev := func(name, data string) string { return "event: " + name + "\ndata: " + data + "\n\n" }
	cutAfter(
		ev("message_start", `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m-up","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":20,"output_tokens":1}}}`)+
			ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)+
			ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"The quick"}}`)+
			ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" brown "}}`),
		"event: content_block_delta\n")(w, r)
}

// resumeRouter is a router over p1 (broken) and p2 (continuing, with continuation cont)
// with resume 1, first_event_timeout and stream_idle_timeout short.
func resumeRouter(t *testing.T, api1, api2, cont string, p1, p2 *fakeUpstream, mod ...func(*Handler)) (*testRouter, *routerServer) {
	return newStreamRouter(t, func(h *Handler) {
		h.Resume = 1
		h.StreamIdleTimeout = durationMS(300)
		h.Providers[0].API, h.Providers[1].API = api1, api2
		h.Providers[1].Continuation = cont
		if api1 == "anthropic" {
			h.Providers[0].Models[0].Upstream = "m-up"
		}
		for _, f := range mod {
			f(h)
		}
	}, p1, p2)
}

func durationMS(ms int) caddy.Duration { return caddy.Duration(time.Duration(ms) * time.Millisecond) }

// lastMessage is the final message of a request an upstream received, in either dialect.
func lastMessage(t *testing.T, body []byte) (role, text string, m map[string]json.RawMessage, top map[string]json.RawMessage) {
	t.Helper()
	if err := json.Unmarshal(body, &top); err != nil {
		t.Fatalf("continuation request: %v", err)
	}
	var msgs []map[string]json.RawMessage
	_ = json.Unmarshal(top["messages"], &msgs)
	if len(msgs) == 0 {
		t.Fatalf("no messages in %s", body)
	}
	m = msgs[len(msgs)-1]
	_ = json.Unmarshal(m["role"], &role)
	if json.Unmarshal(m["content"], &text) != nil {
		var blocks []struct{ Text string }
		_ = json.Unmarshal(m["content"], &blocks)
		for _, b := range blocks {
			text += b.Text
		}
	}
	return role, text, m, top
}

// TestResumeClientLeavingAtItsEnd: the continuation's upstream does not close after [DONE].
// The client goes as soon as it has [DONE], or reads on to the end of the body (which ends
// once the upstream had streamEndGrace to close, not after stream_idle_timeout): either way
// the resumed stream is a success, the seam's repeat is recorded, and the continuing target
// is not charged.
func TestResumeClientLeavingAtItsEnd(t *testing.T) {
	for _, toTheEnd := range []bool{false, true} {
		t.Run(fmt.Sprintf("reads to the end %v", toTheEnd), func(t *testing.T) {
			p1 := newFakeUpstream(t, brokenChat(cutChat))
			p2 := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				continuingChat(w, r)
				<-r.Context().Done() // closes only when the router does
			})
			tr, rs := resumeRouter(t, "", "", catalog.ContinuePrefix, p1, p2, func(h *Handler) {
				h.StreamIdleTimeout = caddy.Duration(time.Minute) // the first target's cut is no stall
				h.streamEndGrace = 10 * time.Millisecond
			})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			resp := rs.post(t, ctx, streamReq)
			br := bufio.NewReader(resp.Body)
			for {
				ev, err := readEvent(br)
				if err != nil {
					t.Fatalf("the resumed stream ended before [DONE]: %v", err)
				}
				if ev == doneEv {
					break
				}
			}
			if toTheEnd {
				if rest, err := io.ReadAll(br); err != nil || len(rest) > 0 {
					t.Fatalf("after [DONE]: %q, %v", rest, err)
				}
			}
			resp.Body.Close()
			pollUntil(t, "the log line", func() bool { return strings.Contains(tr.logs.String(), `"msg":"llm request"`) })
			logs := tr.logs.String()
			for _, want := range []string{`"outcome":"success"`, `"chars_dropped":6`} {
				if !strings.Contains(logs, want) {
					t.Errorf("log lacks %s:\n%s", want, logs)
				}
			}
			if tr.targetCooling(1) {
				t.Error("the continuing target, which answered in full, is cooling")
			}
		})
	}
}

// TestResumeChatCutWithPrefix: openai-go reads one stream made of the broken stream and a
// DeepSeek-style prefix continuation; the seam's repeat is dropped.
func TestResumeChatCutWithPrefix(t *testing.T) {
	p1 := newFakeUpstream(t, brokenChat(cutChat))
	p2 := newFakeUpstream(t, continuingChat)
	tr, rs := resumeRouter(t, "", "", catalog.ContinuePrefix, p1, p2)
	resumed := counterValue(t, resumesTotal.WithLabelValues("m", "resumed"))

	client := sdkClient(rs)
	st := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:         "m",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("a pangram")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	var acc openai.ChatCompletionAccumulator
	ids := map[string]bool{}
	for st.Next() {
		ch := st.Current()
		acc.AddChunk(ch)
		ids[ch.ID] = true
	}
	if err := st.Err(); err != nil {
		t.Fatalf("stream error: %v", err)
	}
	if len(acc.Choices) != 1 || acc.Choices[0].Message.Content != resumeWant {
		t.Fatalf("assembled %+v, want %q", acc.Choices, resumeWant)
	}
	if acc.Choices[0].FinishReason != "stop" {
		t.Errorf("finish reason %q", acc.Choices[0].FinishReason)
	}
	if len(ids) != 1 || !ids["c1"] {
		t.Errorf("chunk ids %v, want the stream's own c1 only", ids)
	}
	if acc.Usage.CompletionTokens != 7 || acc.Usage.PromptTokens != 9 {
		t.Errorf("usage %+v, want the continuation's (the cut stream reported none)", acc.Usage)
	}
	role, text, m, _ := lastMessage(t, p2.received()[0].Body)
	if role != "assistant" || text != resumeHave || string(m["prefix"]) != "true" {
		t.Errorf("continuation's last message %s/%q prefix=%s, want the partial answer with prefix: true", role, text, m["prefix"])
	}
	if string(p2.received()[0].Body) == "" || !strings.Contains(string(p2.received()[0].Body), `"model":"m-up"`) {
		t.Errorf("continuation request names the wrong model: %s", p2.received()[0].Body)
	}
	pollUntil(t, "the log line", func() bool { return strings.Contains(tr.logs.String(), `"msg":"llm request"`) })
	logs := tr.logs.String()
	for _, want := range []string{`"outcome":"success"`, `"resumed":[{"target":"p2#0/`, `"event":3`, `"chars_replayed":15`, `"chars_dropped":6`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
	if !tr.targetCooling(0) {
		t.Error("the target that cut the stream is not charged")
	}
	if d := counterValue(t, resumesTotal.WithLabelValues("m", "resumed")) - resumed; d != 1 {
		t.Errorf("resumes_total{outcome=resumed} grew by %v, want 1", d)
	}
}

// TestResumeChatRaw: the raw stream a client reads: one role chunk, one id and model, one
// finish, one [DONE], no error.
func TestResumeChatRaw(t *testing.T) {
	for name, fail := range map[string]func(http.ResponseWriter, *http.Request, string){
		"cut": cutChat,
		"stall": func(w http.ResponseWriter, r *http.Request, sent string) {
			stallAfter(sent)(w, r)
		},
		"error event": func(w http.ResponseWriter, r *http.Request, sent string) {
			sseReply(sent, `data: {"error":{"message":"overloaded","type":"server_error"}}`+"\n\n")(w, r)
		},
		"malformed event": func(w http.ResponseWriter, r *http.Request, sent string) {
			sseReply(sent, `data: {"choices":[{"delta":{"content":" lazy`+"\n\n", doneEv)(w, r)
		},
	} {
		t.Run(name, func(t *testing.T) {
			p1 := newFakeUpstream(t, brokenChat(fail))
			p2 := newFakeUpstream(t, continuingChat)
			_, rs := resumeRouter(t, "", "", catalog.ContinueFinalMessage, p1, p2)
			_, body := rs.stream(t)
			checkStreamHygiene(t, body)
			s := readChatStream(t, body)
			if s.text != resumeWant || len(s.errors) > 0 || s.done != 1 || s.roles != 1 || len(s.finish) != 1 {
				t.Fatalf("stream %+v:\n%s", s, body)
			}
			if len(s.ids) != 1 || s.ids["c1"] == 0 || len(s.models) != 1 || s.models["m"] == 0 && s.models["m-up"] == 0 {
				t.Errorf("ids %v models %v", s.ids, s.models)
			}
			if len(s.usage) != 0 {
				t.Errorf("the client did not ask for usage, got %v", s.usage)
			}
			_, text, _, top := lastMessage(t, p2.received()[0].Body)
			if text != resumeHave || string(top["continue_final_message"]) != "true" || string(top["add_generation_prompt"]) != "false" {
				t.Errorf("continuation request: %s", p2.received()[0].Body)
			}
		})
	}
}

// TestResumeChatOnAnthropic: an OpenAI chat client's broken stream is continued by an
// Anthropic target, whose request ends with the partial answer as a prefill, trailing blank
// trimmed.
func TestResumeChatOnAnthropic(t *testing.T) {
	p1 := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		cutAfter(roleChunkEv("The")+chunkEv(" quick")+chunkEv(" brown "), `data: {`)(w, r)
	})
	p2 := newFakeUpstream(t, continuingMessages)
	_, rs := resumeRouter(t, "", "anthropic", "", p1, p2)
	_, body := rs.stream(t)
	s := readChatStream(t, body)
	if s.text != resumeWant || len(s.errors) > 0 || s.done != 1 || s.roles != 1 {
		t.Fatalf("stream %+v:\n%s", s, body)
	}
	got := p2.received()[0]
	role, text, _, top := lastMessage(t, got.Body)
	if got.Path != "/v1/messages" || role != "assistant" || text != resumeHave || string(top["stream"]) != "true" {
		t.Errorf("continuation %s: %s", got.Path, got.Body)
	}
}

// TestResumeMessagesAnthropicSDK: an Anthropic SDK client reads one message, its text whole,
// from a cut Anthropic stream continued by a second Anthropic target (the default
// continuation of api anthropic).
func TestResumeMessagesAnthropicSDK(t *testing.T) {
	p1 := newFakeUpstream(t, brokenMessages)
	p2 := newFakeUpstream(t, continuingMessages)
	tr, rs := resumeRouter(t, "anthropic", "anthropic", "", p1, p2)
	client := anthropicClient(rs)
	st := client.Messages.NewStreaming(context.Background(), anthropicsdk.MessageNewParams{
		Model: "m", MaxTokens: 100,
		Messages: []anthropicsdk.MessageParam{anthropicsdk.NewUserMessage(anthropicsdk.NewTextBlock("a pangram"))},
	})
	var msg anthropicsdk.Message
	starts := 0
	for st.Next() {
		ev := st.Current()
		if ev.Type == "message_start" {
			starts++
		}
		if err := msg.Accumulate(ev); err != nil {
			t.Fatalf("accumulate: %v", err)
		}
	}
	if err := st.Err(); err != nil {
		t.Fatalf("stream error: %v", err)
	}
	if starts != 1 || len(msg.Content) != 1 || msg.Content[0].Text != resumeWant {
		t.Fatalf("%d message_start, content %+v, want one block %q", starts, msg.Content, resumeWant)
	}
	if msg.ID != "msg_1" || msg.StopReason != "end_turn" || msg.Usage.OutputTokens != 8 {
		t.Errorf("id %q stop %q usage %+v: want msg_1, end_turn, 1+7 output tokens", msg.ID, msg.StopReason, msg.Usage)
	}
	role, text, _, top := lastMessage(t, p2.received()[0].Body)
	if role != "assistant" || text != "The quick brown" {
		t.Errorf("continuation's prefill %s %q: %s", role, text, p2.received()[0].Body)
	}
	if _, ok := top["thinking"]; ok {
		t.Error("a prefill with thinking on is refused by Anthropic")
	}
	pollUntil(t, "the log line", func() bool { return strings.Contains(tr.logs.String(), `"resumed":[`) })
}

// TestResumeMessagesOnPrefix: an Anthropic client's stream continued by an OpenAI-compatible
// target with the prefix flag, its chunks translated into the client's stream.
func TestResumeMessagesOnPrefix(t *testing.T) {
	p1 := newFakeUpstream(t, brokenMessages)
	p2 := newFakeUpstream(t, continuingChat)
	_, rs := resumeRouter(t, "anthropic", "", catalog.ContinuePrefix, p1, p2)
	client := anthropicClient(rs)
	st := client.Messages.NewStreaming(context.Background(), anthropicsdk.MessageNewParams{
		Model: "m", MaxTokens: 100,
		Messages: []anthropicsdk.MessageParam{anthropicsdk.NewUserMessage(anthropicsdk.NewTextBlock("a pangram"))},
	})
	var msg anthropicsdk.Message
	for st.Next() {
		if err := msg.Accumulate(st.Current()); err != nil {
			t.Fatalf("accumulate: %v", err)
		}
	}
	if err := st.Err(); err != nil {
		t.Fatalf("stream error: %v", err)
	}
	// The client has "The quick brown " (a trailing blank); the prefix target was sent it all
	// and repeats " brown": both are dropped.
	if len(msg.Content) != 1 || msg.Content[0].Text != resumeWant {
		t.Fatalf("content %+v, want %q", msg.Content, resumeWant)
	}
	_, text, m, _ := lastMessage(t, p2.received()[0].Body)
	if text != "The quick brown " || string(m["prefix"]) != "true" {
		t.Errorf("continuation: %s", p2.received()[0].Body)
	}
}

// TestResumeRefused: where a continuation cannot be faithful, the stream ends with the
// explicit error event, and the would-be continuation is never asked.
func TestResumeRefused(t *testing.T) {
	toolCall := roleChunkEv("") + `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m-up","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a"}}]},"finish_reason":null}]}` + "\n\n"
	reasoning := `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m-up","choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"hmm"},"finish_reason":null}]}` + "\n\n" + chunkEv("The")
	for _, tc := range []struct {
		name, sent, cont, want string
	}{
		{"tool call", toolCall, catalog.ContinuePrefix, "a tool call was being streamed"},
		{"reasoning", reasoning, catalog.ContinuePrefix, "the stream carried reasoning"},
		{"no continuing target", roleChunkEv("The") + chunkEv(" quick"), "", "no target of the pool can continue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refused := counterValue(t, resumesTotal.WithLabelValues("m", "refused"))
			defer func() {
				if d := counterValue(t, resumesTotal.WithLabelValues("m", "refused")) - refused; d != 1 {
					t.Errorf("resumes_total{outcome=refused} grew by %v, want 1", d)
				}
			}()
			p1 := newFakeUpstream(t, cutAfter(tc.sent, `data: {`))
			p2 := newFakeUpstream(t, continuingChat)
			_, rs := resumeRouter(t, "", "", tc.cont, p1, p2)
			_, body := rs.stream(t)
			checkStreamHygiene(t, body)
			s := readChatStream(t, body)
			if len(s.errors) != 1 || !strings.Contains(s.errors[0], tc.want) || s.done != 0 {
				t.Fatalf("want one error event saying %q, got %+v:\n%s", tc.want, s, body)
			}
			if n := p2.calls.Load(); n != 0 {
				t.Errorf("the continuation target was asked %d times", n)
			}
		})
	}
}

// TestResumeMessagesThinkingRefused: an Anthropic stream that carried thinking ends with
// Anthropic's error event.
func TestResumeMessagesThinkingRefused(t *testing.T) {
	ev := func(name, data string) string { return "event: " + name + "\ndata: " + data + "\n\n" }
	p1 := newFakeUpstream(t, cutAfter(
		ev("message_start", `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m-up","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":20,"output_tokens":1}}}`)+
			ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`)+
			ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}}`)+
			ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig"}}`)+
			ev("content_block_stop", `{"type":"content_block_stop","index":0}`)+
			ev("content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}`)+
			ev("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"The"}}`),
		"event: "))
	p2 := newFakeUpstream(t, continuingMessages)
	_, rs := resumeRouter(t, "anthropic", "anthropic", "", p1, p2)
	client := anthropicClient(rs)
	st := client.Messages.NewStreaming(context.Background(), anthropicsdk.MessageNewParams{
		Model: "m", MaxTokens: 100,
		Messages: []anthropicsdk.MessageParam{anthropicsdk.NewUserMessage(anthropicsdk.NewTextBlock("think"))},
	})
	for st.Next() {
	}
	if err := st.Err(); err == nil || !strings.Contains(err.Error(), "the stream carried thinking") {
		t.Fatalf("want the explicit error naming thinking, got %v", err)
	}
	if p2.calls.Load() != 0 {
		t.Error("the continuation target was asked")
	}
}

// TestResumeOffEndsWithErrorEvent: with resume off (the default), a cut stream ends with the
// error event, as it always did.
func TestResumeOffEndsWithErrorEvent(t *testing.T) {
	p1 := newFakeUpstream(t, brokenChat(cutChat))
	p2 := newFakeUpstream(t, continuingChat)
	_, rs := resumeRouter(t, "", "", catalog.ContinuePrefix, p1, p2, func(h *Handler) { h.Resume = 0 })
	_, body := rs.stream(t)
	if s := readChatStream(t, body); len(s.errors) != 1 || p2.calls.Load() != 0 {
		t.Fatalf("stream %+v, continuation asked %d times", s, p2.calls.Load())
	}
}

// TestResumeContinuationFailsOver: a continuing target that fails before its first event is
// passed over for the next one; the client never learns of it.
func TestResumeContinuationFailsOver(t *testing.T) {
	p1 := newFakeUpstream(t, brokenChat(cutChat))
	p2 := newFakeUpstream(t, status(http.StatusServiceUnavailable))
	p3 := newFakeUpstream(t, continuingChat)
	_, rs := newStreamRouter(t, func(h *Handler) {
		h.Resume = 1
		h.Providers[1].Continuation = catalog.ContinuePrefix
		h.Providers[2].Continuation = catalog.ContinuePrefix
	}, p1, p2, p3)
	_, body := rs.stream(t)
	if s := readChatStream(t, body); s.text != resumeWant || len(s.errors) > 0 || s.done != 1 {
		t.Fatalf("stream %+v:\n%s", s, body)
	}
	if p2.calls.Load() != 1 || p3.calls.Load() != 1 {
		t.Errorf("calls p2 %d p3 %d", p2.calls.Load(), p3.calls.Load())
	}
}

// TestResumeResponsesRefused: a Responses API stream is not resumed: it ends with its error
// event, which says so.
func TestResumeResponsesRefused(t *testing.T) {
	p1 := newFakeUpstream(t, brokenChat(cutChat))
	p2 := newFakeUpstream(t, continuingChat)
	_, rs := resumeRouter(t, "", "", catalog.ContinuePrefix, p1, p2)
	b := readWhole(t, context.Background(), rs, "/v1/responses", `{"model":"m","stream":true,"store":false,"input":"a pangram"}`)
	if !strings.Contains(b, "not resumed: resuming serves OpenAI chat completions and Anthropic messages streams only") {
		t.Fatalf("want the error event saying why it was not resumed:\n%s", b)
	}
	if p2.calls.Load() != 0 {
		t.Error("the continuation target was asked")
	}
}

// TestResumeRefusedOwnPrefill: a request that ends with an assistant message of its own is
// not resumed (the text relayed continues the client's prefill, which a second prefill would
// have to merge).
func TestResumeRefusedOwnPrefill(t *testing.T) {
	p1 := newFakeUpstream(t, brokenChat(cutChat))
	p2 := newFakeUpstream(t, continuingChat)
	_, rs := resumeRouter(t, "", "", catalog.ContinuePrefix, p1, p2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp := rs.post(t, ctx, `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"Sure:"}]}`)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if s := readChatStream(t, string(b)); len(s.errors) != 1 || !strings.Contains(s.errors[0], "an assistant turn of its own") {
		t.Fatalf("stream %+v", s)
	}
	if p2.calls.Load() != 0 {
		t.Error("the continuation target was asked")
	}
}

// TestResumeErrorEventInOneWrite: an upstream error event that arrives in the same read as
// text: the client gets none of that write, and the continuation is asked to continue only
// the text the client has.
func TestResumeErrorEventInOneWrite(t *testing.T) {
	p1 := newFakeUpstream(t, sseReply(roleChunkEv("The")+chunkEv(" quick")+chunkEv(" brown")+
		`data: {"error":{"message":"overloaded","type":"server_error"}}`+"\n\n"))
	p2 := newFakeUpstream(t, continuingChat)
	_, rs := resumeRouter(t, "", "", catalog.ContinuePrefix, p1, p2)
	_, body := rs.stream(t)
	s := readChatStream(t, body)
	if len(s.errors) > 0 || s.done != 1 {
		t.Fatalf("stream %+v", s)
	}
	_, text, _, _ := lastMessage(t, p2.received()[0].Body)
	// The client's text and the continuation's prefix agree, whatever the relay read at once.
	if !strings.HasPrefix(resumeWant, text) || !strings.HasSuffix(s.text, "lazy dog.") || !strings.HasPrefix(s.text, text) {
		t.Errorf("client text %q, continuation asked to continue %q", s.text, text)
	}
}

// TestResumeBeforeAnyText: a stream that broke after its role chunk, before any text, is
// continued by the request as it came: no empty assistant turn, no continuation flags.
func TestResumeBeforeAnyText(t *testing.T) {
	p1 := newFakeUpstream(t, cutAfter(roleChunkEv(""), `data: {`))
	p2 := newFakeUpstream(t, continuingChat)
	_, rs := resumeRouter(t, "", "", catalog.ContinueFinalMessage, p1, p2)
	_, body := rs.stream(t)
	s := readChatStream(t, body)
	if len(s.errors) > 0 || s.done != 1 || s.roles != 1 || s.text != " brown fox jumps over the lazy dog." {
		t.Fatalf("stream %+v:\n%s", s, body)
	}
	role, _, _, top := lastMessage(t, p2.received()[0].Body)
	if _, flagged := top["continue_final_message"]; role != "user" || flagged {
		t.Errorf("continuation request: %s", p2.received()[0].Body)
	}
}

// TestResumeInTheExplanation: a virtual model's stream that was resumed says so in its
// explanation object: where (the provider), after how many events, how much was replayed.
func TestResumeInTheExplanation(t *testing.T) {
	p1 := newFakeUpstream(t, brokenChat(cutChat))
	p2 := newFakeUpstream(t, continuingChat)
	_, rs := resumeRouter(t, "", "", catalog.ContinueFinalMessage, p1, p2, func(h *Handler) {
		h.Routers = []vroute.Config{{Name: "auto", Models: []string{"m"}, Optimize: "cost"}}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, rs.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"auto","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	resp, err := rs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	s := readChatStream(t, string(b))
	if s.text != resumeWant || len(s.errors) > 0 {
		t.Fatalf("stream %+v:\n%s", s, b)
	}
	var explained struct {
		LLMRouter *struct {
			Selected string
			Resumed  []struct {
				Provider      string
				Event         int
				CharsReplayed int `json:"chars_replayed"`
			}
		} `json:"llm_router"`
	}
	for _, ev := range strings.Split(string(b), "\n\n") {
		if data, ok := strings.CutPrefix(ev, "data: "); ok && strings.Contains(data, `"llm_router"`) {
			if err := json.Unmarshal([]byte(data), &explained); err != nil {
				t.Fatal(err)
			}
		}
	}
	e := explained.LLMRouter
	if e == nil || e.Selected != "m" || len(e.Resumed) != 1 || e.Resumed[0].Provider != "p2" || e.Resumed[0].CharsReplayed != len(resumeHave) {
		t.Fatalf("explanation %+v in\n%s", e, b)
	}
}

// TestResumeWholeContinuation: a continuing target that ignored "stream" and answered its
// continuation whole (as some OpenAI-compatible servers and buffering proxies do) was refused,
// "continuation is not a stream", and the client's stream ended with an error though the rest
// of the answer had come. The whole reply is now streamed into the client's stream as a
// whole reply to a first attempt is: openai-go and anthropic-sdk-go read the whole answer,
// from a continuation of the client's dialect and of the other one.
func TestResumeWholeContinuation(t *testing.T) {
	const (
		wholeChat = `{"id":"c2","object":"chat.completion","created":2,"model":"other-up","choices":[{"index":0,` +
			`"message":{"role":"assistant","content":" brown fox jumps over the lazy dog."},"finish_reason":"stop"}],` +
			`"usage":{"prompt_tokens":9,"completion_tokens":7,"total_tokens":16}}`
		wholeMessage = `{"id":"msg_2","type":"message","role":"assistant","model":"other-up",` +
			`"content":[{"type":"text","text":" fox jumps over the lazy dog."}],"stop_reason":"end_turn","stop_sequence":null,` +
			`"usage":{"input_tokens":9,"output_tokens":7}}`
	)
	openaiRead := func(t *testing.T, rs *routerServer) {
		client := sdkClient(rs)
		st := client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
			Model:         "m",
			Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("a pangram")},
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
		})
		defer st.Close()
		var acc openai.ChatCompletionAccumulator
		ids := map[string]bool{}
		for st.Next() {
			acc.AddChunk(st.Current())
			ids[st.Current().ID] = true
		}
		if err := st.Err(); err != nil {
			t.Fatalf("openai-go: %v", err)
		}
		if len(acc.Choices) != 1 || acc.Choices[0].Message.Content != resumeWant || acc.Choices[0].FinishReason != "stop" {
			t.Fatalf("assembled %+v, want %q", acc.Choices, resumeWant)
		}
		if len(ids) != 1 || !ids["c1"] || acc.Usage.CompletionTokens != 7 {
			t.Errorf("chunk ids %v, usage %+v: want the stream's own id and the continuation's usage", ids, acc.Usage)
		}
	}
	anthropicRead := func(t *testing.T, rs *routerServer) {
		client := anthropicClient(rs)
		st := client.Messages.NewStreaming(context.Background(), anthropicsdk.MessageNewParams{
			Model: "m", MaxTokens: 100,
			Messages: []anthropicsdk.MessageParam{anthropicsdk.NewUserMessage(anthropicsdk.NewTextBlock("a pangram"))},
		})
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
		if len(msg.Content) != 1 || msg.Content[0].Text != resumeWant || msg.StopReason != "end_turn" {
			t.Fatalf("content %+v stop %q, want one block %q", msg.Content, msg.StopReason, resumeWant)
		}
		if msg.ID != "msg_1" || msg.Usage.OutputTokens != 8 {
			t.Errorf("id %q usage %+v: want msg_1 and 1+7 output tokens", msg.ID, msg.Usage)
		}
	}
	for _, tc := range []struct {
		name, api1, api2, cont string
		broken                 http.HandlerFunc
		whole                  string
		read                   func(*testing.T, *routerServer)
	}{
		{"openai-go, openai continuation", "", "", catalog.ContinuePrefix, brokenChat(cutChat), wholeChat, openaiRead},
		{"openai-go, anthropic continuation", "", "anthropic", "", brokenChat(cutChat), wholeMessage, openaiRead},
		{"anthropic-sdk-go, anthropic continuation", "anthropic", "anthropic", "", brokenMessages, wholeMessage, anthropicRead},
		{"anthropic-sdk-go, openai continuation", "anthropic", "", catalog.ContinuePrefix, brokenMessages, wholeChat, anthropicRead},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p1 := newFakeUpstream(t, tc.broken)
			p2 := newFakeUpstream(t, jsonReply(tc.whole))
			tr, rs := resumeRouter(t, tc.api1, tc.api2, tc.cont, p1, p2)
			tc.read(t, rs)
			if p2.calls.Load() != 1 {
				t.Errorf("continuation asked %d times", p2.calls.Load())
			}
			pollUntil(t, "the log line", func() bool { return strings.Contains(tr.logs.String(), `"msg":"llm request"`) })
			if logs := tr.logs.String(); !strings.Contains(logs, `"outcome":"success"`) || !strings.Contains(logs, `"resumed":[{"target":"p2#0/`) {
				t.Errorf("the request is not logged as resumed:\n%s", logs)
			}
			if tr.targetCooling(1) {
				t.Error("the target that continued the answer is charged")
			}
		})
	}
}

// TestResumeGarbledContinuationFailsOver: a continuation that is neither a stream nor one
// whole JSON value, or a whole error, is no answer: the next continuing target is asked.
func TestResumeGarbledContinuationFailsOver(t *testing.T) {
	for _, bad := range []string{"<html>502 Bad Gateway</html>", `{"error":{"message":"overloaded","type":"server_error"}}`} {
		p1 := newFakeUpstream(t, brokenChat(cutChat))
		p2 := newFakeUpstream(t, jsonReply(bad))
		p3 := newFakeUpstream(t, continuingChat)
		_, rs := newStreamRouter(t, func(h *Handler) {
			h.Resume = 1
			h.Providers[1].Continuation = catalog.ContinuePrefix
			h.Providers[2].Continuation = catalog.ContinuePrefix
		}, p1, p2, p3)
		_, body := rs.stream(t)
		if s := readChatStream(t, body); s.text != resumeWant || len(s.errors) > 0 || s.done != 1 {
			t.Fatalf("after %q: stream %+v:\n%s", bad, s, body)
		}
		if p2.calls.Load() != 1 || p3.calls.Load() != 1 {
			t.Errorf("after %q: calls p2 %d p3 %d", bad, p2.calls.Load(), p3.calls.Load())
		}
	}
}

// TestResumeEmptyContinuationFailsOver: a continuation of the client's dialect that brought
// nothing but its prelude before its terminator (a role chunk and [DONE]; message_start, a
// ping and message_stop) was stitched in as the answer's end: the client's stream ended
// cleanly, with no finish reason, after the broken stream's partial text, and the request
// was logged a success. It is no continuation: the next continuing target is asked.
func TestResumeEmptyContinuationFailsOver(t *testing.T) {
	ev := func(name, data string) string { return "event: " + name + "\ndata: " + data + "\n\n" }
	emptyMessages := sseReply(
		ev("message_start", `{"type":"message_start","message":{"id":"msg_2","type":"message","role":"assistant","model":"other-up","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":9,"output_tokens":1}}}`),
		ev("ping", `{"type":"ping"}`),
		ev("message_stop", `{"type":"message_stop"}`))
	for _, tc := range []struct {
		name, api   string
		broken      http.HandlerFunc
		empty, good http.HandlerFunc
		path, body  string
		text        func(*testing.T, string) string
	}{
		{"chat", "", brokenChat(cutChat), sseReply(roleChunkEv(""), doneEv), continuingChat, "/v1/chat/completions", streamReq,
			func(t *testing.T, b string) string { return streamedText(t, b) }},
		{"messages", "anthropic", brokenMessages, emptyMessages, continuingMessages, "/v1/messages",
			`{"model":"m","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"hi"}]}`, messagesText},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p1, p2, p3 := newFakeUpstream(t, tc.broken), newFakeUpstream(t, tc.empty), newFakeUpstream(t, tc.good)
			_, rs := newStreamRouter(t, func(h *Handler) {
				h.Resume = 1
				for i := range h.Providers {
					h.Providers[i].API = tc.api
					if i > 0 && tc.api == "" {
						h.Providers[i].Continuation = catalog.ContinuePrefix
					}
				}
			}, p1, p2, p3)
			b := readWhole(t, context.Background(), rs, tc.path, tc.body)
			if got := tc.text(t, b); got != resumeWant {
				t.Errorf("text %q, want %q:\n%s", got, resumeWant, b)
			}
			if p2.calls.Load() != 1 || p3.calls.Load() != 1 {
				t.Errorf("calls p2 %d p3 %d", p2.calls.Load(), p3.calls.Load())
			}
		})
	}
}

// messagesText is the text of an Anthropic Messages stream that must have ended well: its
// text deltas, one message_stop and no error event.
func messagesText(t *testing.T, body string) string {
	t.Helper()
	var text string
	stops := 0
	for _, ev := range strings.Split(body, "\n\n") {
		_, data, _ := strings.Cut(ev, "data: ")
		var e struct {
			Type  string `json:"type"`
			Delta struct {
				Text string `json:"text"`
			} `json:"delta"`
		}
		if data == "" || json.Unmarshal([]byte(data), &e) != nil {
			continue
		}
		switch e.Type {
		case "content_block_delta":
			text += e.Delta.Text
		case "message_stop":
			stops++
		case "error":
			t.Errorf("error event: %s", data)
		}
	}
	if stops != 1 {
		t.Errorf("%d message_stop:\n%s", stops, body)
	}
	return text
}
