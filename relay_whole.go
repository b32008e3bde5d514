package llmrouter

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"

	"github.com/llmrouter/caddy-llm-router/dialect"
	"github.com/llmrouter/caddy-llm-router/dialect/anthropic"
	"github.com/llmrouter/caddy-llm-router/dialect/gemini"
	"github.com/llmrouter/caddy-llm-router/dialect/openai"
	"github.com/llmrouter/caddy-llm-router/dialect/responses"
	"github.com/llmrouter/caddy-llm-router/embeddings"
	"github.com/llmrouter/caddy-llm-router/internal/jsonscan"
	"github.com/llmrouter/caddy-llm-router/selector"
	"github.com/llmrouter/caddy-llm-router/sse"
)

// upstreamError classifies a non-2xx reply; a client error is passed through as it is, but for
// the target's own key if the upstream quoted it.
func (h *Handler) upstreamError(c *call, t *target, n int, resp *http.Response, body io.Reader) outcome {
	w := c.w
	errBody, readErr := io.ReadAll(io.LimitReader(body, maxErrorBody))
	if readErr != nil && c.r.Context().Err() != nil {
		return outcome{done: true, class: selector.ClientGone}
	}
	// Some upstreams quote the key they refused, whole, cut or masked; neither the client nor
	// a log may see any of it. This body is all that is kept of the reply, for the passed-through
	// client error, the last reply in fail() and its snippet.
	errBody = t.scrub(errBody)
	ra := resp.Header.Get("Retry-After")
	class := selector.Classify(resp.StatusCode, errBody, ra != "")
	if class == selector.ClientError {
		h.setRouteHeaders(c, t, n)
		if !c.ep.native(t.Provider) {
			// The client reads errors in its own dialect: the upstream's, translated.
			if b := errorBodyIn(c.ep.dialect, t.Provider.API, resp.StatusCode, errBody); b != nil {
				writeJSONBody(w, resp.StatusCode, b)
			} else {
				writeError(w, c.ep.dialect, resp.StatusCode, errInvalidRequest, "upstream_rejected",
					"the upstream refused the request: "+snippet(errBody))
			}
			return outcome{done: true, class: class, status: resp.StatusCode}
		}
		writeReplyHeader(w.Header(), resp.Header)
		w.Header().Set("Content-Length", strconv.Itoa(len(errBody)))
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(errBody)
		return outcome{done: true, class: class, status: resp.StatusCode}
	}
	return outcome{
		class:      class,
		status:     resp.StatusCode,
		keyInvalid: class == selector.KeyRefused && selector.KeyInvalid(resp.StatusCode, errBody),
		retryAfter: selector.RetryAfter(ra, errBody, h.now()),
		reply:      &upstreamReply{status: resp.StatusCode, body: errBody, api: t.Provider.API},
	}
}

// relayWhole reads a non-streamed reply whole before sending anything, so a truncated reply
// is still a retryable failure, then forwards it untouched.
func (h *Handler) relayWhole(c *call, t *target, n int, resp *http.Response, body io.Reader, wd *watchdog) outcome {
	w := c.w
	buf := getBuffer()
	defer putBuffer(buf)
	err := readAtMost(buf, body, h.runtime.maxResponse+1)
	switch {
	case c.r.Context().Err() != nil:
		return outcome{done: true, class: selector.ClientGone}
	case err != nil:
		return h.readFailed(c, wd, resp.StatusCode, "reply truncated: "+transportReason(err))
	case int64(buf.Len()) > h.runtime.maxResponse:
		return outcome{class: selector.UpstreamDown, status: resp.StatusCode, reason: "reply larger than max_response"}
	case c.ep.wantsJSON(resp.Header) && !jsonscan.Valid(buf.Bytes()):
		// A reply framed by the connection's close and cut short, or garbage with a 200, would
		// otherwise reach the client as a success; another target can still answer.
		return outcome{class: selector.UpstreamDown, status: resp.StatusCode, reason: "reply is not one whole JSON value"}
	}
	reply := buf.Bytes()
	usage := replyUsage(t.Provider.API, reply)
	responsesObject := c.ep == responsesEndpoint && t.Provider.Responses
	if usage == (tokenUsage{}) && !responsesObject && hasErrorObject(reply) {
		// Some upstreams (and the proxies in front of them) put a failure in a 200: passed on, it
		// is an error with a success status, and translated, an empty answer. An answer reports
		// its usage, so only a reply without one pays for this look. A Responses object that
		// passes through is left alone: its "error" member is part of its own schema.
		return outcome{class: selector.UpstreamDown, status: resp.StatusCode, reason: "a 2xx reply that is an error: " + snippet(reply)}
	}
	if c.f.Stream && c.ep.streamsText() {
		// An upstream that ignored "stream": relayed, the client's SDK would read a stream
		// without events and return an empty answer with no error.
		return h.streamWhole(c, t, n, resp, reply, wd, usage)
	}
	if reply, err = c.replyFor(t, reply); err != nil {
		return outcome{class: selector.UpstreamDown, status: resp.StatusCode, reason: "reply not translatable: " + err.Error()}
	}
	h.remember(c, t, reply)
	if c.ep == embeddingEndpoint && asksBase64(c.body) {
		// An upstream that ignored encoding_format would leave the openai Node SDK with empty
		// embeddings and no error.
		reply, _ = embeddings.ToBase64(reply)
	}
	reply = c.explainWhole(t, reply)
	hdr := w.Header()
	writeReplyHeader(hdr, resp.Header)
	h.setRouteHeaders(c, t, n)
	if cost := t.cost(usage); cost > 0 {
		hdr["X-Llm-Router-Cost"] = []string{formatCost(cost)}
	}
	hdr.Set("Content-Length", strconv.Itoa(len(reply)))
	c.rec.ttfb = h.now().Sub(c.rec.start)
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(reply)
	return outcome{done: true, class: selector.Success, status: resp.StatusCode, usage: usage}
}

// streamWhole answers a streamed request whose upstream answered whole, as some
// OpenAI-compatible servers and the proxies in front of them do: the answer is there and paid
// for, so it goes to the client as the stream it asked for instead of failing over; see
// wholeStream. X-LLM-Router-Whole-Reply says so. The stream's usage is the reply's.
func (h *Handler) streamWhole(c *call, t *target, n int, resp *http.Response, reply []byte, wd *watchdog, usage tokenUsage) outcome {
	chunks, tr, err := c.wholeStream(t, reply, h.IncludeUsage && c.ep.includeUsage || asksUsage(c.body))
	if err != nil {
		return outcome{class: selector.UpstreamDown, status: resp.StatusCode, reason: "reply not translatable: " + err.Error()}
	}
	hdr := c.w.Header()
	hdr["X-Llm-Router-Whole-Reply"] = wholeReplyValue
	rd := sse.NewReader(bytes.NewReader(chunks), 0)
	defer rd.Release()
	out := h.relayEvents(c, t, n, resp, rd, wd, tr)
	if !out.done {
		delete(hdr, "X-Llm-Router-Whole-Reply") // the next attempt's reply is its own
	}
	out.usage = usage
	return out
}

// wholeStream is t's whole reply (valid JSON) as a stream, in a buffer of its own, and the
// translator it goes through to the client (nil: as it is). From a provider of the client's
// own dialect, Anthropic's, Gemini's or the Responses API's, it is the stream that provider
// would have sent (anthropic.ReplyEvents, gemini.ReplyChunk, responses.ReplyEvents), relayed
// as such a stream is: every block, part and item reaches the client as it is, the thinking
// signatures and encrypted reasoning that the pivot has no room for included; a Responses
// object that failed is an error, and fails over. Any other reply becomes pivot chunks
// (openai.ReplyChunks; a text completion is its own stream's one chunk,
// openai.CompletionChunks), which the client's dialect gets through its stream translator, as
// any pivot stream; the usage chunk is in it when the translator needs it or includeUsage says
// the client's stream would have had it.
func (c *call) wholeStream(t *target, reply []byte, includeUsage bool) ([]byte, dialect.StreamTranslator, error) {
	if c.ep.native(t.Provider) {
		switch c.ep.dialect {
		case sse.Anthropic:
			chunks, err := anthropic.ReplyEvents(nil, reply)
			return chunks, nil, err
		case sse.Gemini:
			if chunks, ok := gemini.ReplyChunk(nil, reply); ok {
				return chunks, gemini.NewPassthrough(c.route.array), nil
			}
		case sse.Responses:
			chunks, err := responses.ReplyEvents(nil, reply)
			return chunks, nil, err
		}
	}
	tr := c.streamFromPivot()
	includeUsage = includeUsage || tr != nil
	if c.ep == completionEndpoint {
		chunks, err := openai.CompletionChunks(nil, reply, includeUsage)
		return chunks, tr, err
	}
	chunks, err := c.replyStream(t, reply, includeUsage)
	return chunks, tr, err
}

// replyStream is t's whole reply (valid JSON) as the pivot stream it would have come as
// (openai.ReplyChunks), in a buffer of its own.
func (c *call) replyStream(t *target, reply []byte, includeUsage bool) ([]byte, error) {
	pivot, err := c.pivotReply(t, reply)
	if err != nil {
		return nil, err
	}
	return openai.ReplyChunks(nil, pivot, includeUsage)
}

var wholeReplyValue = []string{"true"}

// readAtMost reads r into buf until EOF or until buf holds limit bytes, and returns r's error
// other than EOF: buf.ReadFrom(io.LimitReader(r, limit)), without the limited reader, which
// ReadFrom would move to the heap.
func readAtMost(buf *bytes.Buffer, r io.Reader, limit int64) error {
	for int64(buf.Len()) < limit {
		buf.Grow(bytes.MinRead)
		free := buf.AvailableBuffer()
		free = free[:min(int64(cap(free)), limit-int64(buf.Len()))]
		n, err := r.Read(free)
		buf.Write(free[:n])
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// asksBase64 reports whether an embeddings request asked for base64-encoded vectors.
func asksBase64(body []byte) bool {
	return string(jsonscan.ObjectKey(body, "encoding_format")) == `"base64"`
}

// isOpenAIError reports whether body is a JSON object with an "error" object, the shape every
// OpenAI client parses.
func isOpenAIError(body []byte) bool {
	return hasErrorObject(body) && json.Valid(body)
}

// hasErrorObject reports whether doc is a JSON object with a top-level "error" object.
func hasErrorObject(doc []byte) bool {
	e := jsonscan.ObjectKey(doc, "error")
	return len(e) > 0 && e[0] == '{'
}

var replyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuffer() *bytes.Buffer { return replyBuffers.Get().(*bytes.Buffer) }

func putBuffer(b *bytes.Buffer) {
	// Very large buffers are left to the collector, so one huge reply does not pin memory.
	if b.Cap() > 4<<20 {
		return
	}
	b.Reset()
	replyBuffers.Put(b)
}
