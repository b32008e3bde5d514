package llmrouter

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/llmrouter/caddy-llm-router/transport"
)

// The official Go SDK as a real client of the router, with fake upstreams behind it. A stream
// that yields zero events with Err() == nil is a silent failure (docs/clients.md), so every
// streamed case asserts text, finish reason and usage.

func sdkClient(rs *routerServer) openai.Client {
	return openai.NewClient(
		option.WithBaseURL(rs.URL+"/v1/"),
		option.WithAPIKey("gateway-key"),
		option.WithMaxRetries(0),
		option.WithRequestTimeout(10*time.Second),
		option.WithHTTPClient(rs.Client()),
	)
}

// streamChat streams params through c with openai-go and returns what its accumulator made of
// the chunks; an SDK error fails the test.
func streamChat(t *testing.T, c openai.Client, params openai.ChatCompletionNewParams) openai.ChatCompletionAccumulator {
	t.Helper()
	st := c.Chat.Completions.NewStreaming(context.Background(), params)
	defer st.Close()
	var acc openai.ChatCompletionAccumulator
	for st.Next() {
		acc.AddChunk(st.Current())
	}
	if err := st.Err(); err != nil {
		t.Fatalf("SDK stream error: %v", err)
	}
	return acc
}

var sdkParams = openai.ChatCompletionNewParams{
	Model:    "m",
	Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
}

func TestClientSDKChat(t *testing.T) {
	up := newFakeUpstream(t, okChat)
	_, rs := newStreamRouter(t, nil, up)
	c := sdkClient(rs)
	res, err := c.Chat.Completions.New(context.Background(), sdkParams)
	if err != nil {
		t.Fatalf("SDK error: %v", err)
	}
	if len(res.Choices) != 1 {
		t.Fatalf("choices: %+v", res.Choices)
	}
	if got := res.Choices[0].Message.Content; got != "hi" {
		t.Errorf("text %q, want %q", got, "hi")
	}
	if got := res.Choices[0].FinishReason; got != "stop" {
		t.Errorf("finish reason %q", got)
	}
	if u := res.Usage; u.PromptTokens != 3 || u.CompletionTokens != 1 || u.TotalTokens != 4 {
		t.Errorf("usage %+v", u)
	}
	if reqs := up.received(); len(reqs) != 1 || !strings.Contains(string(reqs[0].Body), `"model":"m-up"`) {
		t.Errorf("upstream requests: %+v", reqs)
	}
}

// sdkStream drains a streamed completion and returns what the SDK made of it.
type sdkStreamResult struct {
	text, finish string
	usage        openai.CompletionUsage
	chunks       int
	err          error
}

func runSDKStream(t testing.TB, rs *routerServer) sdkStreamResult {
	t.Helper()
	params := sdkParams
	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	c := sdkClient(rs)
	st := c.Chat.Completions.NewStreaming(context.Background(), params)
	defer st.Close()
	var r sdkStreamResult
	var text strings.Builder
	for st.Next() {
		ch := st.Current()
		r.chunks++
		for _, c := range ch.Choices {
			text.WriteString(c.Delta.Content)
			if c.FinishReason != "" {
				r.finish = c.FinishReason
			}
		}
		if ch.Usage.TotalTokens > 0 {
			r.usage = ch.Usage
		}
	}
	r.text, r.err = text.String(), st.Err()
	return r
}

func TestClientSDKStream(t *testing.T) {
	crlf := strings.ReplaceAll(cleanStream, "\n", "\r\n")
	cr := strings.ReplaceAll(cleanStream, "\n", "\r")
	for _, tc := range []struct {
		name  string
		first http.HandlerFunc // nil: a single clean upstream
		reply http.HandlerFunc
	}{
		{"clean", nil, sseReply(cleanStream)},
		// The Go SDK sees zero events in a bare-CR stream and drops the first event after a
		// BOM: the router must normalise both.
		{"CR only with BOM and keepalives", nil, sseReply(splitEvery("\ufeff: OPENROUTER PROCESSING\r\r"+cr, 3)...)},
		{"CRLF with event names", nil, sseReply(strings.ReplaceAll("event: chunk\n"+crlf, "\n", "\r\n"))},
		{"last event without its blank line", nil, sseReply(strings.TrimSuffix(cleanStream, "\n\n"))},
		{"429 then a clean stream", status(http.StatusTooManyRequests), sseReply(cleanStream)},
		{"in-band error then a clean stream", sseReply(`data: {"error":{"message":"overloaded","type":"server_error"}}` + "\n\n"), sseReply(cleanStream)},
		// Each of these reached the SDK as an empty or broken success before.
		{"only [DONE] then a clean stream", sseReply(doneEv), sseReply(cleanStream)},
		{"garbage first event then a clean stream", sseReply("data: {malformed json: <<<chaos>>>\n\n"), sseReply(cleanStream)},
		{"silent target then a clean stream", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, sseReply(cleanStream)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ups []*fakeUpstream
			if tc.first != nil {
				ups = append(ups, newFakeUpstream(t, tc.first))
			}
			ups = append(ups, newFakeUpstream(t, tc.reply))
			_, rs := newStreamRouter(t, func(h *Handler) {
				// A first target that fails gets a short first_event_timeout (the silent one
				// needs it); the target that answers keeps the default, so a loaded machine
				// cannot fail over the only stream that would succeed.
				if tc.first != nil {
					h.Providers[0].FirstEventTimeout = transport.Duration(200 * time.Millisecond)
				}
			}, ups...)
			r := runSDKStream(t, rs)
			if r.err != nil {
				t.Fatalf("SDK stream error after %d chunks: %v", r.chunks, r.err)
			}
			if r.chunks == 0 {
				t.Fatal("the SDK saw zero events and no error: a silent failure")
			}
			if r.text != "Hello world" {
				t.Errorf("text %q, want %q", r.text, "Hello world")
			}
			if r.finish != "stop" {
				t.Errorf("finish reason %q, want stop", r.finish)
			}
			if u := r.usage; u.PromptTokens != 5 || u.CompletionTokens != 3 || u.TotalTokens != 8 {
				t.Errorf("usage from the final chunk: %+v", u)
			}
		})
	}
}

func TestClientSDKStreamMidStreamFailure(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply http.HandlerFunc
	}{
		{"cut", cutAfter(chunkEv("Hel"), chunkEv("lo")[:20])},
		{"stall", stallAfter(chunkEv("Hel"))},
		// A clean close without [DONE]: the SDK alone would take it for a complete answer.
		{"closed without [DONE]", rawReply("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n" + chunkEv("Hel"))},
		// The SDK alone raised a JSON parse error, and the router logged a success.
		{"a malformed chunk, then [DONE]", sseReply(chunkEv("Hel"), `data: {"choices":[{"delta":{"content":"lo"`+"\n\n", stopEv, doneEv)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newFakeUpstream(t, tc.reply)
			_, rs := newStreamRouter(t, func(h *Handler) {
				h.StreamIdleTimeout = caddy.Duration(50 * time.Millisecond)
			}, up)
			r := runSDKStream(t, rs)
			if r.err == nil {
				t.Fatalf("the SDK saw a failed stream as a success (%d chunks, text %q)", r.chunks, r.text)
			}
			if r.text != "Hel" {
				t.Errorf("text before the failure %q, want %q", r.text, "Hel")
			}
			if !strings.Contains(r.err.Error(), "upstream") {
				t.Errorf("SDK error %q does not carry the router's message", r.err)
			}
		})
	}
}
