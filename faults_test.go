package llmrouter

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	anthropicsdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/caddyserver/caddy/v2"
	"github.com/klauspost/compress/zstd"
	"github.com/openai/openai-go/v3"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/dialect/gemini"
	"github.com/llmrouter/caddy-llm-router/sse"
	"github.com/llmrouter/caddy-llm-router/transport"
)

// Faults an independent chaos upstream produced, each of which once reached the client as a
// success: the router must fail the attempt over before commit, or end the stream with an
// explicit error after it.

// TestStreamFaultsBeforeCommitFailOver: a stream that cannot be an answer is a failed attempt,
// the target cools, and the next target's stream reaches the client untouched.
func TestStreamFaultsBeforeCommitFailOver(t *testing.T) {
	for _, tc := range []struct {
		name, reason string
		reply        http.HandlerFunc
	}{
		{"only [DONE]", "before its first chunk", sseReply(doneEv)},
		{"keepalive then [DONE]", "before its first chunk", sseReply(": ping\n\n", "id: 1\n\n", doneEv)},
		{"first event not JSON", "not JSON", sseReply("data: {malformed json: <<<chaos>>>\n\n", chunkEv("x"), doneEv)},
		{"first event cut JSON", "not JSON", sseReply(`data: {"id":"c1","choices":[{"delta":`+"\n\n", doneEv)},
		{"garbage as JSON to a stream request", "not one whole JSON value", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{malformed json: <<<chaos>>>`)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := newFakeUpstream(t, tc.reply)
			good := newFakeUpstream(t, sseReply(cleanStream))
			tr, rs := newStreamRouter(t, nil, bad, good)
			resp, got := rs.stream(t)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("X-LLM-Router-Provider") != "p2" {
				t.Fatalf("status %d from %q, want 200 from p2: %q", resp.StatusCode, resp.Header.Get("X-LLM-Router-Provider"), got)
			}
			if got != cleanStream {
				t.Errorf("stream\n got %q\nwant %q", got, cleanStream)
			}
			if !tr.targetCooling(0) || tr.targetCooling(1) {
				t.Errorf("cooling: bad %v good %v; want only the bad one", tr.targetCooling(0), tr.targetCooling(1))
			}
			if f := resp.Header.Get("X-LLM-Router-Failures"); !strings.Contains(f, "upstream_down") {
				t.Errorf("failures header %q does not name the failed attempt", f)
			}
			if logs := tr.logs.String(); !strings.Contains(logs, tc.reason) {
				t.Errorf("no log line gives the reason %q:\n%s", tc.reason, logs)
			}
		})
	}
}

// TestEmptyTranslatedStreamFailsOver: an upstream stream whose terminator came after nothing
// (Anthropic's message_start and message_stop alone; an OpenAI role chunk, usage and [DONE]),
// with no content and no stop reason, was translated into a complete empty answer ("stop",
// end_turn, STOP, completed): the SDKs returned an empty success. It is no answer, like a
// stream of [DONE] alone: the attempt fails over, and the next target answers.
func TestEmptyTranslatedStreamFailsOver(t *testing.T) {
	ah := anthropicHelloStream
	rawText := func(path, body string) func(*testing.T, *routerServer) string {
		return func(t *testing.T, rs *routerServer) string {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			resp := rs.postTo(t, ctx, path, body)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if path != "/v1/responses" { // the Responses API's own objects carry "error": null
				checkStreamHygiene(t, string(b))
			}
			if resp.Header.Get("X-LLM-Router-Provider") != "p2" || !strings.Contains(string(b), "Hel") {
				t.Fatalf("from %q: %q", resp.Header.Get("X-LLM-Router-Provider"), b)
			}
			return "Hello world"
		}
	}
	for _, tc := range []struct {
		name, api   string
		empty, good http.HandlerFunc
		read        func(*testing.T, *routerServer) string
	}{
		{"anthropic upstream, openai-go", "anthropic", sseReply(ah[0], "event: ping\ndata: {\"type\": \"ping\"}\n\n", ah[5]), sseReply(ah...), openaiStreamText},
		{"anthropic upstream, gemini client", "anthropic", sseReply(ah[0], ah[5]), sseReply(ah...),
			rawText("/v1beta/models/m:streamGenerateContent?alt=sse", `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`)},
		{"openai upstream, anthropic-sdk-go", "openai", sseReply(roleChunkEv(""), usageEv, doneEv), sseReply(cleanStream), anthropicStreamText},
		{"openai upstream, responses client", "openai", sseReply(roleChunkEv(""), doneEv), sseReply(cleanStream),
			rawText("/v1/responses", `{"model":"m","stream":true,"input":"hi"}`)},
	} {
		t.Run(tc.name, func(t *testing.T) { emptyFailsOver(t, tc.api, tc.empty, tc.good, tc.read) })
	}
}

// openaiStreamText is the text of model m's streamed answer to "hi", read with openai-go.
func openaiStreamText(t *testing.T, rs *routerServer) string {
	acc := streamChat(t, sdkClient(rs), sdkParams)
	if len(acc.Choices) == 0 {
		t.Fatalf("openai-go: no choices")
	}
	return acc.Choices[0].Message.Content
}

// anthropicStreamText is the text of model m's streamed answer to "hi", read with
// anthropic-sdk-go.
func anthropicStreamText(t *testing.T, rs *routerServer) string {
	c := anthropicClient(rs)
	st := c.Messages.NewStreaming(context.Background(), anthropicsdk.MessageNewParams{Model: "m", MaxTokens: 50,
		Messages: []anthropicsdk.MessageParam{anthropicsdk.NewUserMessage(anthropicsdk.NewTextBlock("hi"))}})
	defer st.Close()
	var msg anthropicsdk.Message
	for st.Next() {
		if err := msg.Accumulate(st.Current()); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Err(); err != nil || len(msg.Content) == 0 {
		t.Fatalf("anthropic-sdk-go: %+v, %v", msg.Content, err)
	}
	return msg.Content[0].Text
}

// emptyFailsOver checks that a stream of no answer from the first of two targets of api fails
// over: read, the client, gets the second's "Hello world", only the first cools, and the log
// says why.
func emptyFailsOver(t *testing.T, api string, empty, good http.HandlerFunc, read func(*testing.T, *routerServer) string) {
	t.Helper()
	tr := priorityRouter(t, api, "/v1", "sk-Qx7Lm2Vn9Rt4Wz8", empty, good)
	if got := read(t, serveRouter(t, tr)); got != "Hello world" {
		t.Errorf("text %q, want the second target's answer", got)
	}
	if !tr.targetCooling(0) || tr.targetCooling(1) {
		t.Errorf("cooling: empty %v good %v; want only the empty one", tr.targetCooling(0), tr.targetCooling(1))
	}
	if logs := tr.logs.String(); !strings.Contains(logs, "neither content nor a stop reason") {
		t.Errorf("no log line gives the reason:\n%s", logs)
	}
}

// TestEmptyPassedStreamFailsOver: a stream that passes through (the client's dialect is the
// upstream's) and reaches its terminator after nothing but its prelude (an OpenAI role chunk
// with empty content, Anthropic's message_start, pings and an empty text block) was committed
// at its first event: the SDKs returned an empty answer with no error, the request was logged
// a success and nothing failed over. It is no answer, as it is when translated: the attempt
// fails over, and the next target answers.
func TestEmptyPassedStreamFailsOver(t *testing.T) {
	ah := anthropicHelloStream
	const ping = "event: ping\ndata: {\"type\": \"ping\"}\n\n"
	for _, tc := range []struct {
		name, api string
		empty     http.HandlerFunc
		good      []string
		read      func(*testing.T, *routerServer) string
	}{
		{"role chunk and [DONE]", "openai", sseReply(roleChunkEv(""), doneEv), []string{cleanStream}, openaiStreamText},
		{"role chunk, keepalive, usage and [DONE]", "openai", sseReply(roleChunkEv(""), ": keepalive\n\n", usageEv, doneEv), []string{cleanStream}, openaiStreamText},
		{"message_start, ping, message_stop", "anthropic", sseReply(ah[0], ping, ah[5]), ah, anthropicStreamText},
		{"message_start, empty block, message_stop", "anthropic", sseReply(ah[0], ah[1], ping, ah[3], ah[5]), ah, anthropicStreamText},
	} {
		t.Run(tc.name, func(t *testing.T) { emptyFailsOver(t, tc.api, tc.empty, sseReply(tc.good...), tc.read) })
	}
}

// TestPassedStreamPreludeRelayedAsItCame: the events of a passed-through stream that carry no
// answer yet (a role chunk with empty content, message_start, pings, an empty text block) are
// held until the answer's first delta comes, and then reach the client as they came, in
// order; an answer that is only a stop reason (an empty reply the model meant) is an answer.
func TestPassedStreamPreludeRelayedAsItCame(t *testing.T) {
	ah := anthropicHelloStream
	const ping = "event: ping\ndata: {\"type\": \"ping\"}\n\n"
	for _, tc := range []struct {
		name, api, path, body string
		parts                 []string
		want                  string
	}{
		{"openai role chunk first", "openai", "/v1/chat/completions", streamReq,
			[]string{roleChunkEv(""), ": keepalive\n\n", chunkEv("Hello"), chunkEv(" world"), stopEv, usageEv, doneEv},
			roleChunkEv("") + chunkEv("Hello") + chunkEv(" world") + stopEv + usageEv + doneEv},
		{"openai stop reason alone", "openai", "/v1/chat/completions", streamReq,
			[]string{roleChunkEv(""), stopEv, doneEv}, roleChunkEv("") + stopEv + doneEv},
		{"anthropic prelude", "anthropic", "/v1/messages", `{"model":"m","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			[]string{ah[0], ping, ah[1], ping, ah[2], ah[3], ah[4], ah[5]},
			ah[0] + ping + ah[1] + ping + ah[2] + ah[3] + ah[4] + ah[5]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := priorityRouter(t, tc.api, "/v1", "sk-Qx7Lm2Vn9Rt4Wz8", sseReply(tc.parts...))
			rs := serveRouter(t, tr)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			resp := rs.postTo(t, ctx, tc.path, tc.body)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || string(b) != tc.want {
				t.Errorf("status %d, stream\n got %q\nwant %q", resp.StatusCode, b, tc.want)
			}
			checkStreamHygiene(t, string(b))
			if tr.targetCooling(0) {
				t.Error("the target that answered is cooling")
			}
		})
	}
}

// TestInPrelude: what a passed-through stream's events say of its answer. Only events that
// certainly carry none are kept back; an empty answer that says why (a finish or stop reason)
// and any event the relay does not know are answers.
func TestInPrelude(t *testing.T) {
	for _, tc := range []struct {
		d       sse.Dialect
		data    string
		prelude bool
	}{
		{sse.OpenAI, `{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}`, true},
		{sse.OpenAI, `{"choices":[{"index":0,"delta":{"role":"assistant","content":null,"reasoning_content":"","tool_calls":[]}}]}`, true},
		{sse.OpenAI, `{"choices":[],"usage":{"prompt_tokens":5}}`, true},
		{sse.OpenAI, `{"id":"","choices":[],"prompt_filter_results":[{"prompt_index":0}]}`, true},
		{sse.OpenAI, `{"choices":[{"delta":{"content":"Hi"}}]}`, false},
		{sse.OpenAI, `{"choices":[{"delta":{"reasoning_content":"Hm"}}]}`, false},
		{sse.OpenAI, `{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_1","function":{"name":"f","arguments":""}}]}}]}`, false},
		{sse.OpenAI, `{"choices":[{"delta":{},"finish_reason":"stop"}]}`, false},
		{sse.OpenAI, `{"choices":[{"delta":{"role":"assistant"}},{"index":1,"delta":{"content":"x"}}]}`, false},
		{sse.Anthropic, `{"type":"message_start","message":{"usage":{"input_tokens":5}}}`, true},
		{sse.Anthropic, `{"type": "ping"}`, true},
		{sse.Anthropic, `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`, true},
		{sse.Anthropic, `{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`, true},
		{sse.Anthropic, `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""}}`, true},
		{sse.Anthropic, `{"type":"content_block_stop","index":0}`, true},
		{sse.Anthropic, `{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"f","input":{}}}`, false},
		{sse.Anthropic, `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}`, false},
		{sse.Anthropic, `{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":1}}`, false},
		{sse.Anthropic, `{"type":"something_new"}`, false},
	} {
		if got := inPrelude(tc.d, []byte(tc.data)); got != tc.prelude {
			t.Errorf("inPrelude(%s) = %v, want %v", tc.data, got, tc.prelude)
		}
	}
}

// TestStreamWithoutTerminatorEndsWithError: an upstream that frames its stream by closing the
// connection and closes after one event has cut the answer: the client gets what came, then
// an explicit error event, and the target is charged, not credited.
func TestStreamWithoutTerminatorEndsWithError(t *testing.T) {
	for _, tc := range []struct{ name, events string }{
		{"closes after one event", roleChunkEv("Hel")},
		{"closes after the usage chunk", roleChunkEv("Hel") + stopEv + usageEv},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newFakeUpstream(t, rawReply("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"+tc.events))
			tr, rs := newStreamRouter(t, nil, up)
			resp, got := rs.stream(t)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %q", resp.StatusCode, got)
			}
			msg := errorEvent(t, got, tc.events)
			if !strings.Contains(msg, "before its end") {
				t.Errorf("error event says %q, not that the stream was cut", msg)
			}
			checkStreamHygiene(t, got)
			if !tr.targetCooling(0) {
				t.Error("the target that cut its stream is not cooling")
			}
			if logs := tr.logs.String(); !strings.Contains(logs, `"outcome":"failed"`) || strings.Contains(logs, `"outcome":"success"`) {
				t.Errorf("the request is not logged as failed:\n%s", logs)
			}
		})
	}
}

// silentUpstream accepts requests and never answers, until the router cancels the call.
func silentUpstream(t *testing.T, arrived chan<- struct{}) *fakeUpstream {
	return newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if arrived != nil {
			arrived <- struct{}{}
		}
		<-r.Context().Done()
	})
}

// TestStreamSilentUpstreamFailsOverWithinFirstEventTimeout: a target that takes the request
// and never answers holds a stream for first_event_timeout from the send, not for the
// five-minute header timeout; the next target answers, and the silent one cools.
func TestStreamSilentUpstreamFailsOverWithinFirstEventTimeout(t *testing.T) {
	silent := silentUpstream(t, nil)
	good := newFakeUpstream(t, sseReply(cleanStream))
	tr, rs := newStreamRouter(t, func(h *Handler) {
		// The silent target's bound only: the good one must not be failed over by a loaded machine.
		h.Providers[0].FirstEventTimeout = transport.Duration(150 * time.Millisecond)
	}, silent, good)
	resp, got := rs.stream(t)
	if resp.StatusCode != http.StatusOK || got != cleanStream || resp.Header.Get("X-LLM-Router-Provider") != "p2" {
		t.Fatalf("status %d from %q: %q", resp.StatusCode, resp.Header.Get("X-LLM-Router-Provider"), got)
	}
	if !tr.targetCooling(0) {
		t.Error("the silent target is not cooling")
	}
	if logs := tr.logs.String(); !strings.Contains(logs, "no event within first_event_timeout") {
		t.Errorf("the failure does not name first_event_timeout:\n%s", logs)
	}
}

// TestStreamTryDurationBoundsTheAttemptInFlight: try_duration bounds a stream's whole failover,
// the attempt in flight included: with only silent targets, the client hears 502 when it runs
// out, long before first_event_timeout.
func TestStreamTryDurationBoundsTheAttemptInFlight(t *testing.T) {
	silent := silentUpstream(t, nil)
	tr, rs := newStreamRouter(t, func(h *Handler) {
		h.FirstEventTimeout = caddy.Duration(time.Minute)
		h.TryDuration = caddy.Duration(150 * time.Millisecond)
	}, silent)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp := rs.post(t, ctx, streamReq)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502: %s", resp.StatusCode, b)
	}
	e, err := parseAPIError(b)
	if err != nil || !strings.Contains(e.Message, "try_duration") {
		t.Errorf("error %q (%v) does not say try_duration ran out", e.Message, err)
	}
	if !tr.targetCooling(0) {
		t.Error("the silent target is not cooling")
	}
}

// TestClientGivingUpOnSilentTargetCharges: a whole-reply request keeps the generous header
// timeout, so the client may give up first. When it had waited past first_event_timeout, the
// silent target is charged and cooled, so the next clients go elsewhere; a client that leaves
// sooner charges nothing.
func TestClientGivingUpOnSilentTargetCharges(t *testing.T) {
	for _, tc := range []struct {
		name   string
		waited time.Duration
		cooled bool
	}{
		{"after first_event_timeout", 45 * time.Second, true},
		{"before first_event_timeout", 5 * time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tr *testRouter
			arrived := make(chan struct{}, 1)
			silent := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				tr.clock.Advance(tc.waited) // the time the client waits, on the router's clock
				arrived <- struct{}{}
				<-r.Context().Done()
			})
			tr, rs := newStreamRouter(t, nil, silent) // first_event_timeout: the default 30 s
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, rs.URL+"/v1/chat/completions",
					strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
				if resp, err := rs.Client().Do(req); err == nil {
					resp.Body.Close()
				}
			}()
			hfRecv(t, arrived)
			cancel()
			<-done
			pollUntil(t, "the handler to return", func() bool { return rs.active.Load() == 0 })
			if got := tr.targetCooling(0); got != tc.cooled {
				t.Errorf("target cooling = %v, want %v", got, tc.cooled)
			}
			if logs := tr.logs.String(); !strings.Contains(logs, `"outcome":"client_gone"`) {
				t.Errorf("the request is not logged as client_gone:\n%s", logs)
			}
		})
	}
}

// compressed answers with body encoded by enc under the given Content-Encoding, whatever the
// request asked for, and counts the replies it compressed.
func compressed(coding string, n *atomic.Int64, contentType string, enc func(io.Writer) io.WriteCloser, parts ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Content-Encoding", coding)
		w.WriteHeader(http.StatusOK)
		zw := enc(w)
		for _, p := range parts {
			_, _ = io.WriteString(zw, p)
			if f, ok := zw.(interface{ Flush() error }); ok {
				_ = f.Flush()
			}
			_ = http.NewResponseController(w).Flush()
		}
		_ = zw.Close()
	}
}

func gzipWriter(w io.Writer) io.WriteCloser { return gzip.NewWriter(w) }
func zlibWriter(w io.Writer) io.WriteCloser { return zlib.NewWriter(w) }
func zstdWriter(w io.Writer) io.WriteCloser {
	zw, _ := zstd.NewWriter(w)
	return zw
}

// TestCompressedUpstreams: an upstream that compresses its reply, asked or not, is decoded
// before framing: the client gets the plain stream or body, labelled plain, from that target.
func TestCompressedUpstreams(t *testing.T) {
	const chat = `{"id":"c1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}`
	for _, tc := range []struct {
		coding string
		enc    func(io.Writer) io.WriteCloser
	}{
		{"gzip", gzipWriter},
		{"deflate", zlibWriter},
		{"zstd", zstdWriter},
	} {
		t.Run(tc.coding, func(t *testing.T) {
			var n atomic.Int64
			streamUp := newFakeUpstream(t, compressed(tc.coding, &n, "text/event-stream", tc.enc, splitEvery(cleanStream, 50)...))
			wholeUp := newFakeUpstream(t, compressed(tc.coding, &n, "application/json", tc.enc, chat))
			_, rs := newStreamRouter(t, func(h *Handler) {
				h.Providers = append(h.Providers, provider("whole", wholeUp.URL+"/v1", nil, "w", "w-up"))
			}, streamUp)
			// A client that takes the body as sent, to see what the router really wrote.
			client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
			defer client.CloseIdleConnections()
			for _, c := range []struct{ body, want string }{
				{streamReq, cleanStream},
				{`{"model":"w","messages":[]}`, chat},
			} {
				req, _ := http.NewRequest(http.MethodPost, rs.URL+"/v1/chat/completions", strings.NewReader(c.body))
				req.Header.Set("Accept-Encoding", "gzip")
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || resp.Header.Get("X-LLM-Router-Attempts") != "1" {
					t.Errorf("status %d after %s attempts: %q", resp.StatusCode, resp.Header.Get("X-LLM-Router-Attempts"), b)
				}
				if ce := resp.Header.Get("Content-Encoding"); ce != "" {
					t.Errorf("Content-Encoding %q on a body the router relayed decoded", ce)
				}
				if string(b) != c.want {
					t.Errorf("reply\n got %q\nwant %q", b, c.want)
				}
			}
			if n.Load() != 2 {
				t.Errorf("the upstreams compressed %d replies, want 2: the test missed its point", n.Load())
			}
		})
	}
}

// TestUnsupportedEncodingFailsOver: a coding the router cannot undo is the target's failure,
// not garbage relayed as an answer.
func TestUnsupportedEncodingFailsOver(t *testing.T) {
	br := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "br")
		_, _ = w.Write([]byte{0x1b, 0x03, 0x00, 0x00})
	})
	good := newFakeUpstream(t, okChat)
	tr, _ := newStreamRouter(t, nil, br, good)
	rec := tr.chat(`{"model":"m","messages":[]}`)
	if rec.Code != http.StatusOK || rec.Header().Get("X-LLM-Router-Provider") != "p2" {
		t.Fatalf("status %d from %q: %s", rec.Code, rec.Header().Get("X-LLM-Router-Provider"), rec.Body)
	}
	var reply struct{ ID string }
	if err := json.Unmarshal(rec.Body.Bytes(), &reply); err != nil || reply.ID != "c1" {
		t.Errorf("client got %q", rec.Body)
	}
	if !bytes.Contains([]byte(tr.logs.String()), []byte("unsupported content-encoding")) {
		t.Errorf("no log line names the unsupported coding:\n%s", tr.logs.String())
	}
}

// TestErrorInA2xxReplyFailsOver: an upstream (or a proxy in front of it) that puts its failure
// in a 200 has not answered. Passed on, the client got an error with a success status; through
// a translation, an empty answer with finish "stop". The target is charged and the next one
// answers; with no other target the client hears 502 in its own dialect.
func TestErrorInA2xxReplyFailsOver(t *testing.T) {
	errorIn200 := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, body)
		}
	}
	const openAIShaped = `{"error":{"message":"upstream overloaded","type":"server_error","code":500}}`
	for _, up := range []struct {
		name, api, base, body string
		good                  http.HandlerFunc
	}{
		{"openai", "openai", "/v1", openAIShaped, openAIAgentUpstream},
		{"anthropic", "anthropic", "/v1", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, anthropicAgentUpstream},
		// A proxy in front of an Anthropic provider that answers in OpenAI's shape: translated,
		// this was an empty success.
		{"anthropic behind a proxy", "anthropic", "/v1", openAIShaped, anthropicAgentUpstream},
		{"gemini", "gemini", "/v1beta", `{"error":{"code":500,"message":"Internal error encountered.","status":"INTERNAL"}}`, geminiAgentUpstream},
	} {
		for _, cl := range []struct{ name, path, body string }{
			{"openai client", "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`},
			{"anthropic client", "/v1/messages", `{"model":"m","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}`},
			{"gemini client", "/v1beta/models/m:generateContent", `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`},
			{"responses client", "/v1/responses", `{"model":"m","input":"hi"}`},
		} {
			t.Run(up.name+" upstream/"+cl.name, func(t *testing.T) {
				newRouter := func(replies ...http.HandlerFunc) *testRouter {
					return priorityRouter(t, up.api, up.base, "sk-upstream-key-0001", replies...)
				}
				tr := newRouter(errorIn200(up.body), up.good)
				rec := tr.do(jsonRequest(http.MethodPost, cl.path, cl.body))
				if rec.Code != http.StatusOK || rec.Header().Get("X-LLM-Router-Provider") != "p2" {
					t.Fatalf("status %d from %q, want 200 from p2: %s", rec.Code, rec.Header().Get("X-LLM-Router-Provider"), rec.Body)
				}
				if hasErrorObject(rec.Body.Bytes()) {
					t.Errorf("the client got an error as its answer: %s", rec.Body)
				}
				if !tr.pools["m"].targets[0].health.Cooling(tr.clock.Now().UnixNano()) {
					t.Error("the target that answered 200 with an error is not cooling")
				}
				if logs := tr.logs.String(); !strings.Contains(logs, "a 2xx reply that is an error") {
					t.Errorf("no log line says why the attempt failed:\n%s", logs)
				}

				rec = newRouter(errorIn200(up.body)).do(jsonRequest(http.MethodPost, cl.path, cl.body))
				if rec.Code != http.StatusBadGateway {
					t.Fatalf("only target answers 200 with an error: status %d, want 502: %s", rec.Code, rec.Body)
				}
				switch cl.name {
				case "gemini client":
					checkGeminiError(t, "502", rec.Body.Bytes(), http.StatusBadGateway, gemini.StatusName(http.StatusBadGateway))
				case "anthropic client":
					var e struct {
						Type  string
						Error struct{ Type, Message string }
					}
					if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Type != "error" || e.Error.Message == "" {
						t.Errorf("not an Anthropic error (%v): %s", err, rec.Body)
					}
				default:
					if _, err := parseAPIError(rec.Body.Bytes()); err != nil {
						t.Errorf("not an OpenAI error (%v): %s", err, rec.Body)
					}
				}
			})
		}
	}
	// A Responses provider's failed response is an answer of its API: its "error" member is in
	// the Responses schema, and the client reads the status.
	const failed = `{"id":"resp_1","object":"response","status":"failed","error":{"code":"server_error","message":"The model failed"},"output":[]}`
	up := newFakeUpstream(t, errorIn200(failed))
	p := provider("p1", up.URL+"/v1", []string{"sk-upstream-key-0001"}, "m", "m-up")
	on := true
	p.Responses = &on
	rec := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{p}}).do(jsonRequest(http.MethodPost, "/v1/responses", `{"model":"m","input":"hi"}`))
	if rec.Code != http.StatusOK || rec.Body.String() != failed {
		t.Errorf("a failed response from a Responses provider: status %d: %s, want it passed through", rec.Code, rec.Body)
	}
}

// anthropicHelloStream is a Messages stream that answers "Hello world".
var anthropicHelloStream = []string{
	"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m-up\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n",
	"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
	"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello world\"}}\n\n",
	"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
	"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":3}}\n\n",
	"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
}

// TestUpstreamErrorEventEndsThePassedStream: an upstream that fails its stream with an error
// event of its own (Anthropic's overloaded_error mid-stream) gave the client that event, as it
// came. The router then added a second one, "upstream closed the stream before its end", and
// logged that as the reason; when the upstream went on to its terminator, the request was
// logged a success and the target credited. The upstream's event now ends the stream, and the
// target is charged with it.
func TestUpstreamErrorEventEndsThePassedStream(t *testing.T) {
	const (
		openAIError    = `data: {"error":{"message":"Overloaded","type":"server_error"}}` + "\n\n"
		anthropicError = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"
	)
	for _, tc := range []struct {
		name, api, path, body string
		events                []string
		errorEvent            string
	}{
		{"openai, then the close", "openai", "/v1/chat/completions", streamReq, []string{roleChunkEv("Hel")}, openAIError},
		{"openai, then [DONE]", "openai", "/v1/chat/completions", streamReq, []string{roleChunkEv("Hel")}, openAIError + doneEv},
		{"anthropic, then the close", "anthropic", "/v1/messages", `{"model":"m","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			anthropicHelloStream[:3], anthropicError},
		{"anthropic, then message_stop", "anthropic", "/v1/messages", `{"model":"m","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			anthropicHelloStream[:3], anthropicError + anthropicHelloStream[5]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newFakeUpstream(t, sseReply(append(slices.Clip(tc.events), tc.errorEvent)...))
			p := provider("p1", up.URL+"/v1", []string{"sk-errev-0001"}, "m", "m-up")
			p.API = tc.api
			tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{p}})
			rs := serveRouter(t, tr)
			_, b := rs.postOK(t, tc.path, tc.body)
			checkStreamHygiene(t, b)
			rest, ok := strings.CutPrefix(b, strings.Join(tc.events, ""))
			if !ok {
				t.Fatalf("the events before the error are not relayed as they came: %q", b)
			}
			errorEvent, _, _ := strings.Cut(tc.errorEvent, "\n\n")
			if rest != errorEvent+"\n\n" {
				t.Errorf("after the relayed events\n got %q\nwant only the upstream's error event %q", rest, errorEvent+"\n\n")
			}
			if !tr.pools["m"].targets[0].health.Cooling(tr.clock.Now().UnixNano()) {
				t.Error("the target that failed its stream is not cooling")
			}
			logs := tr.logs.String()
			if !strings.Contains(logs, "upstream sent an error event mid-stream") || !strings.Contains(logs, `"outcome":"failed"`) {
				t.Errorf("the request is not logged as failed by the upstream's error event:\n%s", logs)
			}
		})
	}
}

// TestStreamMalformedEventMidStreamEnds: a passed-through stream (client and upstream in one
// dialect, its events relayed undecoded) that carried an event a client cannot parse relayed
// it as it came: the SDKs failed on it with a JSON parse error, and when the stream went on to
// its terminator the request was logged a success and the target credited. The stream now
// ends before that event with the dialect's own error event, and the target is charged.
func TestStreamMalformedEventMidStreamEnds(t *testing.T) {
	geminiChunk := func(text, finish string) string {
		return `data: {"candidates":[{"content":{"role":"model","parts":[{"text":"` + text + `"}]}` + finish + `,"index":0}]}` + "\n\n"
	}
	responsesEv := func(typ, rest string) string {
		return "event: " + typ + "\ndata: {\"type\":\"" + typ + "\"" + rest + "}\n\n"
	}
	for _, tc := range []struct {
		name, api, base, path, body string
		before                      []string // relayed as they came
		malformed                   string
		after                       []string // up to the terminator: never relayed
		errorEvent                  string   // how the client's error event begins
	}{
		{"openai, a cut chunk", "openai", "/v1", "/v1/chat/completions", streamReq,
			[]string{roleChunkEv("Hel")}, `data: {"id":"c1","choices":[{"delta":` + "\n\n",
			[]string{chunkEv("lo"), stopEv, doneEv}, `data: {"error":{"message":"upstream sent an event that is not JSON`},
		{"openai, a Python dict", "openai", "/v1", "/v1/chat/completions", streamReq,
			[]string{roleChunkEv("Hel")}, "data: {'choices': [{'delta': {'content': 'lo'}}]}\n\n",
			[]string{doneEv}, `data: {"error":{"message":"upstream sent an event that is not JSON`},
		{"openai, empty data", "openai", "/v1", "/v1/chat/completions", streamReq,
			[]string{roleChunkEv("Hel")}, "data:\n\n",
			[]string{chunkEv("lo"), doneEv}, `data: {"error":{"message":"upstream sent an event that is not JSON`},
		{"anthropic", "anthropic", "/v1", "/v1/messages", `{"model":"m","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			anthropicHelloStream[:3], "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\n\n",
			anthropicHelloStream[3:], "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"upstream sent an event that is not JSON"},
		{"gemini", "gemini", "/v1beta", "/v1beta/models/m:streamGenerateContent?alt=sse", `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`,
			[]string{geminiChunk("Hel", "")}, `data: {"candidates":[{"content":{"parts":[{"text":NaN}]}}]}` + "\n\n",
			[]string{geminiChunk("lo", `,"finishReason":"STOP"`)}, `data: {"error":{"code":500,"message":"upstream stream failed: gemini: malformed stream event`},
		{"responses", "openai", "/v1", "/v1/responses", `{"model":"m","stream":true,"input":"hi"}`,
			[]string{responsesEv("response.created", `,"response":{"id":"resp_1","object":"response","status":"in_progress","output":[]}`),
				responsesEv("response.output_text.delta", `,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hel"`)},
			"event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"lo\n\n",
			[]string{responsesEv("response.completed", `,"response":{"id":"resp_1","object":"response","status":"completed","output":[]}`)},
			"event: response.failed\ndata: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newFakeUpstream(t, sseReply(append(append(append([]string{}, tc.before...), tc.malformed), tc.after...)...))
			p := provider("p1", up.URL+tc.base, []string{"sk-Qx7Lm2Vn9Rt4Wz8"}, "m", "m-up")
			p.API = tc.api
			on := true
			if tc.path == "/v1/responses" {
				p.Responses = &on
			}
			tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{p}})
			rs := serveRouter(t, tr)
			_, b := rs.postOK(t, tc.path, tc.body)
			checkStreamHygiene(t, b)
			rest, ok := strings.CutPrefix(b, strings.Join(tc.before, ""))
			if !ok {
				t.Fatalf("the events before the malformed one are not relayed as they came: %q", b)
			}
			if tc.api == "gemini" {
				rest = strings.TrimSuffix(rest, gemini.StreamFailedComment) // what follows its error event
			}
			if !strings.HasPrefix(rest, tc.errorEvent) || strings.Count(rest, "\n\n") != 1 {
				t.Errorf("after the relayed events\n got %q\nwant only an error event that begins %q", rest, tc.errorEvent)
			}
			if !tr.targetCooling(0) {
				t.Error("the target that broke its stream is not cooling")
			}
			logs := tr.logs.String()
			if !strings.Contains(logs, `"outcome":"failed"`) || strings.Contains(logs, `"outcome":"success"`) {
				t.Errorf("the request is not logged as failed:\n%s", logs)
			}
		})
	}
}

// TestAnthropicSDKMalformedEventMidStream: anthropic-sdk-go, given an event it cannot parse,
// failed with a JSON error of its own; it now raises the router's error event, after the text
// that came before.
func TestAnthropicSDKMalformedEventMidStream(t *testing.T) {
	events := append(append([]string{}, anthropicHelloStream[:3]...),
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"!\"\n\n")
	events = append(events, anthropicHelloStream[3:]...)
	tr := priorityRouter(t, "anthropic", "/v1", "sk-Qx7Lm2Vn9Rt4Wz8", sseReply(events...))
	c := anthropicClient(serveRouter(t, tr))
	st := c.Messages.NewStreaming(context.Background(), anthropicsdk.MessageNewParams{Model: "m", MaxTokens: 50,
		Messages: []anthropicsdk.MessageParam{anthropicsdk.NewUserMessage(anthropicsdk.NewTextBlock("hi"))}})
	defer st.Close()
	text := ""
	for st.Next() {
		if d, ok := st.Current().AsAny().(anthropicsdk.ContentBlockDeltaEvent); ok {
			text += d.Delta.Text
		}
	}
	if err := st.Err(); err == nil || !strings.Contains(err.Error(), "upstream sent an event that is not JSON") {
		t.Errorf("SDK error %v, want the router's error event", err)
	}
	if text != "Hello world" {
		t.Errorf("text before the failure %q, want %q", text, "Hello world")
	}
	// The SDK stops at the error event; the handler cools the target as it returns.
	pollUntil(t, "the target that broke its stream cooling", func() bool { return tr.targetCooling(0) })
}

// priorityRouter serves model "m" from one provider of api (base the path under each fake's
// URL, key the providers' key) per reply, p1, p2, ... in priority order.
func priorityRouter(t *testing.T, api, base, key string, replies ...http.HandlerFunc) *testRouter {
	t.Helper()
	h := &Handler{Strategy: "priority"}
	for i, reply := range replies {
		u := newFakeUpstream(t, reply)
		p := provider(fmt.Sprintf("p%d", i+1), u.URL+base, []string{key}, "m", "m-up")
		p.API = api
		h.Providers = append(h.Providers, p)
	}
	return newTestRouter(t, h)
}

// TestStreamLabelledJSON: a server that streams server-sent events under Content-Type
// application/json (or none) still streams: the body is read as the stream it is, and
// openai-go gets the text, not a failover for "a reply that is not one JSON value".
func TestStreamLabelledJSON(t *testing.T) {
	for _, ct := range []string{"application/json", ""} {
		t.Run("content type "+ct, func(t *testing.T) {
			tr := priorityRouter(t, "openai", "/v1", "sk-upstream-key-0001", func(w http.ResponseWriter, r *http.Request) {
				w.Header()["Content-Type"] = nil
				if ct != "" {
					w.Header().Set("Content-Type", ct)
				}
				_, _ = io.WriteString(w, cleanStream)
			})
			acc := streamChat(t, sdkClient(serveRouter(t, tr)), openai.ChatCompletionNewParams{Model: "m",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
			if len(acc.Choices) == 0 || acc.Choices[0].Message.Content != "Hello world" {
				t.Fatalf("stream: %+v", acc.Choices)
			}
		})
	}
}

// TestStreamLabelledJSONFirstEventNotHeld: telling such a stream from a whole reply waits for
// its first bytes only: a first event that comes alone reaches the client before the rest.
func TestStreamLabelledJSONFirstEventNotHeld(t *testing.T) {
	seen := make(chan struct{})
	tr := priorityRouter(t, "openai", "/v1", "sk-upstream-key-0001", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, roleChunkEv("Hel"))
		_ = http.NewResponseController(w).Flush()
		select {
		case <-seen:
		case <-time.After(5 * time.Second):
		}
		_, _ = io.WriteString(w, chunkEv("lo")+stopEv+doneEv)
	})
	rs := serveRouter(t, tr)
	start := time.Now() // the router sends the head with the first event
	resp, err := rs.Client().Post(rs.URL+"/v1/chat/completions", "application/json", strings.NewReader(streamReq))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := readFirstEvent(t, resp, roleChunkEv("Hel"))
	close(seen)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the first event took %s: it was held for the rest", d)
	}
	rest, _ := io.ReadAll(br)
	if !strings.HasSuffix(string(rest), doneEv) {
		t.Errorf("rest %q", rest)
	}
}
