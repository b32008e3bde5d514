package llmrouter

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// Client libraries that validate what they read more strictly than the official SDKs: the
// Vercel AI SDK's Anthropic, Google and OpenAI chat providers (zod schemas on every chunk) and
// LangChain JS's ChatAnthropic, ChatGoogleGenerativeAI and ChatOpenAI. Each drives one ingress
// dialect of the router against upstreams of every dialect (the other two through the pivot):
// a tool round whole and streamed with usage, a turn with thinking, a pool whose every target
// answers 429, and a stream its upstream cuts after the first words.

// libDialects are the upstream dialects every library is run against.
var libDialects = []string{"openai", "anthropic", "gemini"}

// libModelAsked finds the model a request names: Gemini's in the path, the others' in the body.
var libModelAsked = regexp.MustCompile(`/models/([^/:]+):|"model"\s*:\s*"([^"]+)"`)

// libUpstream answers in the given dialect by the upstream model asked for: m-up is that
// dialect's tool agent, think-up thinks before it answers, broken-up cuts its stream after the
// first words, limited-up is rate limited (429 with Retry-After, in the dialect's error shape).
func libUpstream(api string) http.HandlerFunc {
	agent := map[string]http.HandlerFunc{"openai": openAIAgentUpstream, "anthropic": anthropicAgentUpstream, "gemini": geminiAgentUpstream}[api]
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		model := ""
		if m := libModelAsked.FindStringSubmatch(r.URL.Path); m != nil {
			model = m[1]
		} else if m := libModelAsked.FindSubmatch(body); m != nil {
			model = string(m[2])
		}
		switch model {
		case "think-up":
			thinkingUpstream(api, w, r, body)
		case "broken-up":
			brokenUpstream(api)(w, r)
		case "limited-up":
			w.Header().Set("Retry-After", "7")
			switch api {
			case "anthropic":
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusTooManyRequests)
				_, _ = io.WriteString(w, `{"type":"error","error":{"type":"rate_limit_error","message":"upstream says slow down"}}`)
			case "gemini":
				geminiErrorReply(http.StatusTooManyRequests, "RESOURCE_EXHAUSTED", "")(w, r)
			default:
				status(http.StatusTooManyRequests)(w, r)
			}
		default:
			agent(w, r)
		}
	}
}

// brokenUpstream opens a stream in the dialect, sends "Hel" and cuts the connection.
func brokenUpstream(api string) http.HandlerFunc {
	switch api {
	case "anthropic":
		ev := func(name, data string) string { return "event: " + name + "\ndata: " + data + "\n\n" }
		return cutAfter(ev("message_start", `{"type":"message_start","message":{"id":"msg_b","type":"message","role":"assistant","model":"broken-up","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":1}}}`)+
			ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)+
			ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}`),
			"event: content_block_delta\ndata: {\"type\":\"con")
	case "gemini":
		return cutAfter(`data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Hel"}]},"index":0}],"modelVersion":"broken-up","responseId":"rb"}`+"\r\n\r\n",
			`data: {"candidates":[{"cont`)
	}
	return cutAfter(roleChunkEv("Hel"), chunkEv("lo")[:20])
}

// thinkingUpstream answers in the dialect with a reasoning "Let me think." (2 of 5 output
// tokens) and the text "Done.", whole or streamed as asked.
func thinkingUpstream(api string, w http.ResponseWriter, r *http.Request, body []byte) {
	stream := bytes.Contains(body, []byte(`"stream":true`)) || strings.Contains(r.URL.Path, ":streamGenerateContent")
	whole := func(s string) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, s)
	}
	switch api {
	case "anthropic":
		if !stream {
			whole(`{"id":"msg_t","type":"message","role":"assistant","model":"think-up","content":[{"type":"thinking","thinking":"Let me think.","signature":"c2lnLXQ="},{"type":"text","text":"Done."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":4,"output_tokens":5}}`)
			return
		}
		ev := func(name, data string) string { return "event: " + name + "\ndata: " + data + "\n\n" }
		sseReply(ev("message_start", `{"type":"message_start","message":{"id":"msg_t","type":"message","role":"assistant","model":"think-up","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":4,"output_tokens":1}}}`),
			ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`),
			ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me think."}}`),
			ev("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"c2lnLXQ="}}`),
			ev("content_block_stop", `{"type":"content_block_stop","index":0}`),
			ev("content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}`),
			ev("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Done."}}`),
			ev("content_block_stop", `{"type":"content_block_stop","index":1}`),
			ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":5}}`),
			ev("message_stop", `{"type":"message_stop"}`))(w, r)
	case "gemini":
		usage := `"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":3,"thoughtsTokenCount":2,"totalTokenCount":9}`
		if !stream {
			whole(`{"candidates":[{"content":{"role":"model","parts":[{"text":"Let me think.","thought":true},{"text":"Done."}]},"finishReason":"STOP","index":0}],` + usage + `,"modelVersion":"think-up","responseId":"rt"}`)
			return
		}
		sseReply(`data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Let me think.","thought":true}]},"index":0}],"modelVersion":"think-up","responseId":"rt"}`+"\r\n\r\n",
			`data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Done."}]},"finishReason":"STOP","index":0}],`+usage+`,"modelVersion":"think-up","responseId":"rt"}`+"\r\n\r\n")(w, r)
	default:
		usage := `"usage":{"prompt_tokens":4,"completion_tokens":5,"total_tokens":9,"completion_tokens_details":{"reasoning_tokens":2}}`
		if !stream {
			whole(`{"id":"ct","object":"chat.completion","created":1,"model":"think-up","choices":[{"index":0,"message":{"role":"assistant","content":"Done.","reasoning_content":"Let me think."},"finish_reason":"stop"}],` + usage + `}`)
			return
		}
		head := `data: {"id":"ct","object":"chat.completion.chunk","created":1,"model":"think-up","choices":[`
		sseReply(head+`{"index":0,"delta":{"role":"assistant","reasoning_content":"Let me think."},"finish_reason":null}]}`+"\n\n",
			head+`{"index":0,"delta":{"content":"Done."},"finish_reason":null}]}`+"\n\n",
			head+`{"index":0,"delta":{},"finish_reason":"stop"}]}`+"\n\n",
			head+`],`+usage+`}`+"\n\n", doneEv)(w, r)
	}
}

// newLibRouter serves, for each upstream dialect D, the models tool-D, think-D and broken-D
// from one provider of that dialect, and "limited" from all three (each answering 429).
func newLibRouter(t *testing.T) *routerServer {
	t.Helper()
	var providers []catalog.ProviderConfig
	for _, api := range libDialects {
		up := newFakeUpstream(t, libUpstream(api))
		base := up.URL + "/v1"
		if api == "gemini" {
			base = up.URL + "/v1beta"
		}
		pc := provider("p-"+api, base, []string{"sk-Zq7x41KpW2" + api[:3]},
			"tool-"+api, "m-up", "think-"+api, "think-up", "broken-"+api, "broken-up", "limited", "limited-up")
		pc.API = api
		providers = append(providers, pc)
	}
	return serveRouter(t, newTestRouter(t, &Handler{Providers: providers}))
}

// libTurn is what a script reports of one call: text, reasoning, finish reasons of each step,
// the tool input the model asked for, summed usage, and the error if the call failed.
type libTurn struct {
	Text, Reasoning, Error string
	Finishes               []string
	City                   string
	Steps                  int
	Usage                  *struct{ Input, Output int }
	Status                 int
	RetryAfter             string
}

// libReport is a script's output: per upstream dialect its cases, and the rate limited pool.
type libReport struct {
	Upstreams map[string]struct{ Whole, Stream, Think, ThinkStream, Broken libTurn }
	Limited   struct{ Whole, Stream libTurn }
}

// libExpect says how one client names and counts what it reads.
type libExpect struct {
	toolFinish, stopFinish string // the finish reasons of a tool call and of an answer
	thinking               bool   // the client reads reasoning
	// thoughtsApart: the client's output tokens leave the thoughts out (Gemini's
	// candidatesTokenCount without thoughtsTokenCount).
	thoughtsApart bool
	// startUsage: the client reads a stream's input tokens from message_start alone (an
	// estimate when the upstream reports usage only at the end) and adds message_start's
	// output tokens to message_delta's.
	startUsage bool
	// noHeaders: the client's errors do not carry the response's headers.
	noHeaders bool
}

// checkLibReport asserts everything a library reported.
func checkLibReport(t *testing.T, stdout, stderr []byte, want libExpect) {
	t.Helper()
	var out libReport
	if err := json.Unmarshal(stdout, &out); err != nil {
		t.Fatalf("script output is not JSON: %v\n%s\nstderr: %s", err, stdout, stderr)
	}
	for _, api := range libDialects {
		u, ok := out.Upstreams[api]
		if !ok {
			t.Errorf("%s: no report", api)
			continue
		}
		for name, r := range map[string]libTurn{"whole": u.Whole, "stream": u.Stream} {
			if r.Error != "" {
				t.Errorf("%s %s tool round: client error %q", api, name, r.Error)
				continue
			}
			if r.Text != "It is 18C in Paris." || r.City != "Paris" || len(r.Finishes) != 2 ||
				r.Finishes[0] != want.toolFinish || r.Finishes[1] != want.stopFinish {
				t.Errorf("%s %s tool round: %+v, want the call's city, 18C and finishes %q %q", api, name, r, want.toolFinish, want.stopFinish)
			}
			// 20 in and 7 out for the call, 30 and 6 for the answer; the Anthropic fake's streams
			// say 20 in for both, and 1 out in message_start.
			in, out := 50, 13
			if api == "anthropic" && name == "stream" {
				in = 40
				if want.startUsage {
					out = 15
				}
			} else if want.startUsage && name == "stream" {
				in = -1 // message_start's estimate
			}
			if r.Usage == nil || r.Usage.Output != out || r.Usage.Input != in && (in != -1 || r.Usage.Input <= 0) {
				t.Errorf("%s %s tool round: usage %+v, want %d in, %d out", api, name, r.Usage, in, out)
			}
		}
		for name, r := range map[string]libTurn{"think": u.Think, "thinkStream": u.ThinkStream} {
			if r.Error != "" || r.Text != "Done." {
				t.Errorf("%s %s: %+v, want the text Done.", api, name, r)
				continue
			}
			if want.thinking && r.Reasoning != "Let me think." {
				t.Errorf("%s %s: reasoning %q, want %q", api, name, r.Reasoning, "Let me think.")
			}
			in, out := 4, 5 // the reasoning counted in
			switch {
			case want.thoughtsApart && api != "anthropic": // Anthropic counts no thinking apart
				out = 3
			case want.startUsage && name == "thinkStream" && api == "anthropic":
				out = 6
			case want.startUsage && name == "thinkStream":
				in = -1
			}
			if r.Usage == nil || r.Usage.Output != out || r.Usage.Input != in && (in != -1 || r.Usage.Input <= 0) {
				t.Errorf("%s %s: usage %+v, want %d in, %d out", api, name, r.Usage, in, out)
			}
		}
		if b := u.Broken; b.Error == "" {
			t.Errorf("%s: a stream cut after its first words looked like a success: %+v", api, b)
		} else if b.Text != "Hel" {
			t.Errorf("%s: broken stream text %q before the error %q, want Hel", api, b.Text, b.Error)
		}
	}
	for name, r := range map[string]libTurn{"whole": out.Limited.Whole, "stream": out.Limited.Stream} {
		if r.Status != http.StatusTooManyRequests || r.RetryAfter != "7" && !want.noHeaders || r.Error == "" {
			t.Errorf("limited %s: %+v, want a 429 error with Retry-After", name, r)
		}
	}
}

// runLibScript runs script against a fresh router and checks its report.
func runLibScript(t *testing.T, script string, want libExpect) {
	node := nodeReady(t)
	rs := newLibRouter(t)
	stdout, stderr := runNodeScript(t, node, script, rs.URL)
	checkLibReport(t, stdout, stderr, want)
}

// TestNodeAISDKProviders drives the router's Anthropic, Gemini and OpenAI chat APIs with the
// Vercel AI SDK's @ai-sdk/anthropic, @ai-sdk/google and @ai-sdk/openai (chat) providers.
func TestNodeAISDKProviders(t *testing.T) {
	for _, c := range []struct {
		script string
		want   libExpect
	}{
		{"aisdk_anthropic.mjs", libExpect{toolFinish: "tool-calls", stopFinish: "stop", thinking: true}},
		{"aisdk_google.mjs", libExpect{toolFinish: "tool-calls", stopFinish: "stop", thinking: true}},
		// The OpenAI provider reads no reasoning_content.
		{"aisdk_chat.mjs", libExpect{toolFinish: "tool-calls", stopFinish: "stop"}},
	} {
		t.Run(strings.TrimSuffix(c.script, ".mjs"), func(t *testing.T) { runLibScript(t, c.script, c.want) })
	}
}

// TestNodeLangChain drives the router's Anthropic, Gemini and OpenAI chat APIs with LangChain
// JS's ChatAnthropic, ChatGoogleGenerativeAI and ChatOpenAI.
func TestNodeLangChain(t *testing.T) {
	for _, c := range []struct {
		script string
		want   libExpect
	}{
		{"langchain_anthropic.mjs", libExpect{toolFinish: "tool_use", stopFinish: "end_turn", thinking: true, startUsage: true}},
		{"langchain_google.mjs", libExpect{toolFinish: "STOP", stopFinish: "STOP", thinking: true, thoughtsApart: true, noHeaders: true}},
		{"langchain_openai.mjs", libExpect{toolFinish: "tool_calls", stopFinish: "stop", thinking: true}},
	} {
		t.Run(strings.TrimSuffix(c.script, ".mjs"), func(t *testing.T) { runLibScript(t, c.script, c.want) })
	}
}
