package llmrouter

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// hfChunk is a typical OpenAI chat stream chunk; hfAnthropicDelta an Anthropic Messages one.
const (
	hfChunk          = `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1694268190,"model":"m","choices":[{"index":0,"delta":{"content":" world"},"finish_reason":null}]}` + "\n\n"
	hfAnthropicDelta = "event: content_block_delta\n" + `data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" world"}}` + "\n\n"
)

// hfStream is a stream's shape: its first event, the event repeated, and its terminator.
type hfStream struct{ first, event, end string }

var (
	hfOpenAIStream = hfStream{hfChunk, hfChunk, "data: [DONE]\n\n"}
	// hfOpenAIRoleFirst opens as OpenAI's streams do, with a chunk of the role and no content,
	// which the relay keeps until the content's first chunk.
	hfOpenAIRoleFirst = hfStream{`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1694268190,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}` + "\n\n",
		hfChunk, "data: [DONE]\n\n"}
	hfAnthropicStream = hfStream{
		"event: message_start\n" + `data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"usage":{"input_tokens":3,"output_tokens":1}}}` + "\n\n" +
			"event: content_block_start\n" + `data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}` + "\n\n",
		hfAnthropicDelta,
		"event: content_block_stop\n" + `data: {"type":"content_block_stop","index":0}` + "\n\n" +
			"event: message_delta\n" + `data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}` + "\n\n" +
			"event: message_stop\n" + `data: {"type":"message_stop"}` + "\n\n",
	}
	// hfGeminiStream is Gemini's alt=sse stream: every chunk has usageMetadata, the last the
	// finishReason.
	hfGeminiStream = hfStream{hfGeminiChunk, hfGeminiChunk,
		`data: {"candidates":[{"content":{"role":"model","parts":[{"text":"."}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":9,"totalTokenCount":12},"modelVersion":"m-up","responseId":"r1"}` + "\n\n"}
)

const hfGeminiChunk = `data: {"candidates":[{"content":{"role":"model","parts":[{"text":" world"}]},"index":0}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1,"totalTokenCount":4},"modelVersion":"m-up","responseId":"r1"}` + "\n\n"

// hfEvents is an upstream stream body: the stream's first event, n events and its end, at most
// one event a Read, as events arrive from a network.
type hfEvents struct {
	s       hfStream
	n, sent int
	rest    string // what is left of the event being read
}

func (e *hfEvents) Read(p []byte) (int, error) {
	if e.rest == "" {
		switch {
		case e.sent == 0:
			e.rest = e.s.first
		case e.sent <= e.n:
			e.rest = e.s.event
		case e.sent == e.n+1:
			e.rest = e.s.end
		default:
			return 0, io.EOF
		}
		e.sent++
	}
	k := copy(p, e.rest)
	e.rest = e.rest[k:]
	return k, nil
}

// hfStreamTransport answers every request with stream s of *events events.
type hfStreamTransport struct {
	s      hfStream
	events *int
}

func (t hfStreamTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	_, _ = io.Copy(io.Discard, req.Body)
	_ = req.Body.Close()
	return &http.Response{StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"text/event-stream"}}, Body: io.NopCloser(&hfEvents{s: t.s, n: *t.events}),
		ContentLength: -1, Request: req}, nil
}

// discardFlusher is a client's connection that takes every write and flush, and counts the
// writes that hold a delta (" world"), the events the stream was made of.
type discardFlusher struct {
	hdr    http.Header
	code   int
	events int
}

func (d *discardFlusher) Header() http.Header { return d.hdr }
func (d *discardFlusher) WriteHeader(code int) {
	if d.code == 0 {
		d.code = code
	}
}
func (d *discardFlusher) Write(p []byte) (int, error) {
	d.events += bytes.Count(p, []byte(`" world"`))
	return len(p), nil
}
func (d *discardFlusher) Flush() {}

// BenchmarkStreamEvent measures what one relayed event costs, each event read, relayed and
// flushed on its own: one request relays b.N events, so allocs/op is per event, and
// allocs/event is that without the request's own allocations. A stream that passes through
// (the client's dialect is the target's) must cost none.
func BenchmarkStreamEvent(b *testing.B) {
	for _, bc := range []struct {
		name, api, path, body string
		up                    hfStream
	}{
		{"openai", "openai", "/v1/chat/completions", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`, hfOpenAIStream},
		{"anthropic", "anthropic", "/v1/messages", `{"model":"m","stream":true,"max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`, hfAnthropicStream},
		{"anthropic<-openai", "openai", "/v1/messages", `{"model":"m","stream":true,"max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`, hfOpenAIStream},
		{"anthropic<-gemini", "gemini", "/v1/messages", `{"model":"m","stream":true,"max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`, hfGeminiStream},
	} {
		b.Run(bc.name, func(b *testing.B) {
			serve := streamEventServer(b, bc.api, bc.path, bc.body, bc.up)
			serve(1) // warm the pools
			perRequest := streamMallocs(func() { serve(1) })
			b.ReportAllocs()
			b.ResetTimer()
			total := streamMallocs(func() { serve(b.N) })
			b.StopTimer()
			b.ReportMetric(float64(total-min(total, perRequest))/float64(b.N), "allocs/event")
		})
	}
}

// BenchmarkStreamRequest measures a whole streamed request of three events through ServeHTTP:
// what opening and ending a stream costs, for comparison with BenchmarkServeHTTP; a stream
// whose first chunk has only the role costs what one whose first chunk has content does.
func BenchmarkStreamRequest(b *testing.B) {
	for _, bc := range []struct {
		name string
		up   hfStream
	}{{"content first", hfOpenAIStream}, {"role chunk first", hfOpenAIRoleFirst}} {
		b.Run(bc.name, func(b *testing.B) {
			serve := streamEventServer(b, "openai", "/v1/chat/completions",
				`{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`, bc.up)
			serve(3)
			b.ReportAllocs()
			for b.Loop() {
				serve(3)
			}
		})
	}
}

// streamEventServer returns a function that serves one streamed request at path, whose
// upstream of API api answers with stream up of n events, and checks that the client got
// every one.
func streamEventServer(tb testing.TB, api, path, body string, up hfStream) func(n int) {
	var events int
	p := provider("p", "http://p.invalid/v1", []string{"sk-stream-bench"}, "m", "m-up")
	p.API = api
	tr := newTestRouter(tb, &Handler{Providers: []catalog.ProviderConfig{p}})
	for _, t := range tr.targets {
		t.transport = hfStreamTransport{up, &events}
	}
	return func(n int) {
		events = n
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		w := &discardFlusher{hdr: http.Header{}}
		req = caddyhttp.PrepareRequest(req, caddy.NewReplacer(), w, &caddyhttp.Server{})
		if err := tr.ServeHTTP(w, req, nextHandler); err != nil {
			tb.Fatal(err)
		}
		if w.code != http.StatusOK || w.events < n {
			tb.Fatalf("status %d, %d events relayed, want %d", w.code, w.events, n)
		}
	}
}

// streamMallocs is the number of heap allocations f makes.
func streamMallocs(f func()) uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	before := m.Mallocs
	f()
	runtime.ReadMemStats(&m)
	return m.Mallocs - before
}

// TestStreamEventAllocs: relaying an event of a passed-through stream allocates nothing, in
// either dialect, once the stream is open (BenchmarkStreamEvent measures it).
func TestStreamEventAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	for _, tc := range []struct {
		name, api, path, body string
		up                    hfStream
	}{
		{"openai", "openai", "/v1/chat/completions", `{"model":"m","stream":true,"messages":[]}`, hfOpenAIStream},
		{"anthropic", "anthropic", "/v1/messages", `{"model":"m","stream":true,"max_tokens":16,"messages":[]}`, hfAnthropicStream},
	} {
		serve := streamEventServer(t, tc.api, tc.path, tc.body, tc.up)
		serve(1)
		const events = 2000
		short := streamMallocs(func() { serve(1) })
		long := streamMallocs(func() { serve(1 + events) })
		// A collection during the long stream may empty a pool that the stream then refills:
		// a few allocations, never one an event.
		if extra := int64(long) - int64(short); extra > events/100 {
			t.Errorf("%s: %d events cost %d allocations more than one did", tc.name, events, extra)
		}
	}
}

// TestStreamPreludeAllocs: a stream whose first chunk has only the role, which the relay keeps
// until the content's first chunk comes, costs no allocation more than one whose first chunk
// has content: the kept chunk stays in the reader's buffer.
func TestStreamPreludeAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	const body = `{"model":"m","stream":true,"messages":[]}`
	content := streamEventServer(t, "openai", "/v1/chat/completions", body, hfOpenAIStream)
	role := streamEventServer(t, "openai", "/v1/chat/completions", body, hfOpenAIRoleFirst)
	content(1)
	role(1)
	if c, r := testing.AllocsPerRun(50, func() { content(1) }), testing.AllocsPerRun(50, func() { role(1) }); r > c {
		t.Errorf("a stream that opens with a role chunk costs %v allocations, one that opens with content %v", r, c)
	}
}
