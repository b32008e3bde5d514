package llmrouter

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/internal/decompress"
	"github.com/llmrouter/caddy-llm-router/reqbody"
	"github.com/llmrouter/caddy-llm-router/selector"
	"github.com/llmrouter/caddy-llm-router/sse"
)

// The OpenAI endpoints beyond chat: images, audio, moderations, rerank (this file), and the
// stateful files, batches and stored responses (files.go). They share the attempt loop with
// chat: the descriptor says what the body is, how the reply is relayed, and which provider
// capability (catalog.Capability) serves it.

// bodyKind is what a request body is and where its model is.
type bodyKind uint8

const (
	// bodyJSON is a JSON object with a top-level "model" (reqbody.Scan), spliced per target.
	bodyJSON bodyKind = iota
	// bodyMultipart is a multipart/form-data upload with a "model" field (scanMultipart),
	// spliced per target; the Content-Type and its boundary go along.
	bodyMultipart
	// bodyOpaque names no model: it goes to the upstream as it came (files uploads, batch
	// creation, the GET and DELETE calls, which have none).
	bodyOpaque
)

// replyKind is how a 2xx reply reaches the client.
type replyKind uint8

const (
	// replyJSON is read whole (bounded by max_response), checked to be one JSON value, then
	// relayed; an event stream is relayed event by event.
	replyJSON replyKind = iota
	// replyDocument is read whole and relayed, but checked as JSON only when it says it is
	// JSON: transcriptions answer text, srt or vtt when response_format asks.
	replyDocument
	// replyBinary is relayed as it comes, flushed piece by piece, neither scanned for usage nor
	// bounded by max_response: speech audio, file content.
	replyBinary
)

// endpointExt is the part of an endpoint descriptor the endpoints beyond chat set.
type endpointExt struct {
	// cap is the provider capability that serves the endpoint; 0 for the chat-era endpoints,
	// whose capability is capability()'s.
	cap   catalog.Capability
	body  bodyKind
	reply replyKind
	// upload says max_upload bounds the body instead of max_body.
	upload bool
	// endsAtEOF says a stream of this endpoint has no terminator of its own to wait for
	// (image generation, transcription streams): a clean end of the upstream's body ends it.
	endsAtEOF bool
	// records is the sticky kind whose id a 2xx reply carries ("file", "batch"); forgets, the
	// kind a 2xx reply ends (DELETE).
	records, forgets string
}

var (
	imageGenerationEndpoint = &endpoint{openaiPath: "/images/generations",
		endpointExt: endpointExt{cap: catalog.CapImages, endsAtEOF: true}, filter: sse.Filter{KeepEventNames: true}}
	imageEditEndpoint = &endpoint{openaiPath: "/images/edits",
		endpointExt: endpointExt{cap: catalog.CapImages, body: bodyMultipart, upload: true, endsAtEOF: true}, filter: sse.Filter{KeepEventNames: true}}
	imageVariationEndpoint = &endpoint{openaiPath: "/images/variations",
		endpointExt: endpointExt{cap: catalog.CapImages, body: bodyMultipart, upload: true}}
	speechEndpoint = &endpoint{openaiPath: "/audio/speech",
		endpointExt: endpointExt{cap: catalog.CapAudio, reply: replyBinary}}
	transcriptionEndpoint = &endpoint{openaiPath: "/audio/transcriptions",
		endpointExt: endpointExt{cap: catalog.CapAudio, body: bodyMultipart, upload: true, reply: replyDocument, endsAtEOF: true}}
	translationEndpoint = &endpoint{openaiPath: "/audio/translations",
		endpointExt: endpointExt{cap: catalog.CapAudio, body: bodyMultipart, upload: true, reply: replyDocument}}
	moderationEndpoint = &endpoint{openaiPath: "/moderations", endpointExt: endpointExt{cap: catalog.CapModerations}}
	// rerankEndpoint is Cohere's and Jina's rerank (model, query, documents), which
	// OpenAI-compatible servers (vLLM, Jina, Cohere's compatibility API) serve at /rerank.
	rerankEndpoint = &endpoint{openaiPath: "/rerank", endpointExt: endpointExt{cap: catalog.CapRerank}}
)

// modelEndpoints are the endpoints beyond chat that name a model, by path (with and without
// /v1, as endpointFor accepts the chat-era ones).
var modelEndpoints = func() map[string]*endpoint {
	m := make(map[string]*endpoint)
	for _, ep := range []*endpoint{imageGenerationEndpoint, imageEditEndpoint, imageVariationEndpoint, speechEndpoint,
		transcriptionEndpoint, translationEndpoint, moderationEndpoint, rerankEndpoint} {
		m["/v1"+ep.openaiPath] = ep
		m[ep.openaiPath] = ep
	}
	return m
}()

// capability is the provider capability an endpoint needs.
func (ep *endpoint) capability() catalog.Capability {
	switch {
	case ep.cap != 0:
		return ep.cap
	case ep == completionEndpoint:
		return catalog.CapCompletions
	case ep == embeddingEndpoint:
		return catalog.CapEmbeddings
	}
	return catalog.CapChat
}

// bodyLimit is the largest body the endpoint accepts, and the setting that says so.
func (h *Handler) bodyLimit(ep *endpoint) (int64, string) {
	if ep.upload {
		return h.runtime.maxUpload, "max_upload"
	}
	return h.runtime.maxBody, "max_body"
}

// servesEndpoint reports whether some target of the pool can serve the endpoint: its API has
// a path for it and its provider declares the capability.
func (p *pool) servesEndpoint(ep *endpoint) bool {
	return p.serves(ep) && p.caps&ep.capability() != 0
}

// callExt is the part of a call the endpoints beyond chat use.
type callExt struct {
	// contentType is the client's Content-Type, sent on for a body that is not JSON.
	contentType []string
	// path, when set, is the upstream path (after the base URL) instead of the endpoint's: a
	// stateful call names an id in it.
	path string
	// pin restricts the call to targets of one provider key: where a file, batch or stored
	// response lives.
	pin *stickyOwner
	// sticky is the id the call is about (a file's, a batch's, a response's), for forgets.
	sticky string
	// abort says the reply broke after it was committed without a length: the connection
	// must be cut so the client cannot take it for a whole reply.
	abort bool
	// unsignedTurn caches anthropic.UnsignedToolTurn of the client's body: 0 not yet asked,
	// 1 no, 2 yes (see fitFor).
	unsignedTurn uint8
}

// admits reports whether target t may serve the call: its provider's API has the endpoint and
// the provider serves the endpoint's capability, it serves the client's dialect natively when
// the call needs that (stored state), it holds the call's pinned id, if any, and the request
// translates into its dialect (translates). Targets that may not are passed over, never
// counted as attempts.
func (c *call) admits(t *target) bool {
	return c.ep.servedBy(t.Provider.API) && t.Provider.Serves.Has(c.ep.capability()) &&
		(!c.nativeOnly || c.ep.native(t.Provider)) && (c.pin == nil || c.pin.holds(t)) && c.translates(t)
}

// nextAdmitted is the next healthy target not yet tried that the call admits and that also
// satisfies also (nil: any), marked tried; nil when none is left. The hedge and the resume
// pick their targets with it.
func (h *Handler) nextAdmitted(c *call, tried *selector.Tried, also func(*target) bool) *target {
	for {
		i := c.p.sel.Next(h.now().UnixNano(), tried)
		if i < 0 {
			return nil
		}
		tried.Add(i)
		if t := c.p.targets[i]; c.admits(t) && (also == nil || also(t)) {
			return t
		}
	}
}

// requestBody is the body for target t: the JSON body spliced (or translated) per dialect,
// the multipart form with t's upstream id over the model field's value, or an opaque body as
// it came.
func (c *call) requestBody(t *target, includeUsage bool) (reqbody.Body, error) {
	switch c.ep.body {
	case bodyMultipart:
		return reqbody.Splice(c.body, c.f.ModelStart, c.f.ModelEnd, t.Upstream).WithLease(c.lease), nil
	case bodyOpaque:
		return reqbody.Splice(c.body, 0, 0, "").WithLease(c.lease), nil
	}
	return c.bodyFor(t, includeUsage)
}

// urlFor is the attempt's URL: the stateful call's own path, with the client's query (a list's
// paging), or the endpoint's (upstreamURL).
func (c *call) urlFor(t *target) string {
	if c.path == "" {
		return c.upstreamURL(t)
	}
	u := t.Node + c.path
	sep := "?"
	if q := c.r.URL.RawQuery; q != "" {
		u += sep + q
		sep = "&"
	}
	if q := t.Provider.ExtraQuery(); q != "" {
		u += sep + q
	}
	return u
}

// finishRequest gives the upstream request what a body that is not JSON needs: the client's
// method (GET and DELETE on stateful calls), its Content-Type (a multipart boundary), and no
// body at all when there is none.
func (c *call) finishRequest(req *http.Request) {
	if c.ep.body == bodyJSON {
		return
	}
	req.Method = c.r.Method
	if len(c.body) == 0 {
		req.Body, req.GetBody, req.ContentLength = http.NoBody, nil, 0
		delete(req.Header, "Content-Type")
		return
	}
	if c.contentType != nil {
		req.Header["Content-Type"] = c.contentType
	}
}

// streamsText says the endpoint's streams are generated text, which the upstream is asked for
// as chat or text completions (or in its own dialect's equivalent): a streamed request there
// must be answered with a stream. Image and audio streams are not: an upstream may answer those
// whole (whisper-1 ignores "stream"), and their clients take it.
func (ep *endpoint) streamsText() bool {
	return ep.openaiPath == "/chat/completions" || ep == completionEndpoint
}

// wantsJSON says a 2xx reply must be one JSON value to count as an answer.
func (ep *endpoint) wantsJSON(h http.Header) bool {
	return ep.reply != replyDocument || strings.Contains(h.Get("Content-Type"), "json")
}

// scanBody reads the fields the router needs from the client's body: the JSON object's model
// and stream, or the multipart form's model field.
func scanBody(ep *endpoint, r *http.Request, body []byte) (reqbody.Fields, error) {
	if ep.body == bodyMultipart {
		return scanMultipart(r.Header.Get("Content-Type"), body, true)
	}
	return reqbody.Scan(body)
}

// readBody reads the client's body under the endpoint's limit and body_timeout; on failure it
// has answered the client and returns ok false.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, ep *endpoint) (body []byte, lease *reqbody.Lease, ok bool) {
	rt := &h.runtime
	limit, setting := h.bodyLimit(ep)
	// The controller stays on the stack: boundBodyRead only uses it.
	rc := http.NewResponseController(w)
	bounded := boundBodyRead(rc, r, rt.bodyTimeout)
	src, hint := io.Reader(r.Body), r.ContentLength
	coding := strings.Join(r.Header.Values("Content-Encoding"), ",")
	var err error
	if coding != "" {
		// Codex CLI and others compress large bodies (zstd, gzip). The router reads, and sends
		// on, the decoded JSON; max_body bounds what it decodes to, so a small bomb gets 413.
		var dec io.ReadCloser
		if dec, err = decompress.NewReader(coding, r.Body); err == nil {
			defer dec.Close()
			src, hint = dec, -1
		}
	}
	if err == nil {
		// The buffer goes back to its pool only when the handler and every upstream request
		// body reader are done with it: a transport may still read a body after RoundTrip
		// returned.
		body, lease, err = reqbody.ReadLeased(src, hint, limit)
	}
	if bounded {
		_ = rc.SetReadDeadline(time.Time{})
	}
	if err != nil {
		switch {
		case errors.Is(err, decompress.ErrUnsupported):
			w.Header().Set("Accept-Encoding", decompress.Codings)
			writeError(w, ep.dialect, http.StatusUnsupportedMediaType, errInvalidRequest, "unsupported_content_encoding",
				fmt.Sprintf("the request body's Content-Encoding %q is not supported; send it as %s, or uncompressed",
					clipEcho(coding), decompress.Codings))
		case errors.Is(err, reqbody.ErrTooLarge):
			writeError(w, ep.dialect, http.StatusRequestEntityTooLarge, errInvalidRequest, "request_too_large",
				fmt.Sprintf("request body is larger than the limit of %d bytes (%s)", limit, setting))
		case errors.Is(err, os.ErrDeadlineExceeded):
			w.Header().Set("Connection", "close")
			writeError(w, ep.dialect, http.StatusRequestTimeout, errInvalidRequest, "request_timeout",
				fmt.Sprintf("the request body did not arrive within %s", rt.bodyTimeout))
		case r.Context().Err() != nil:
			h.logger.Debug("client went away while sending its request", zap.Int("status", 499))
		case coding != "":
			writeError(w, ep.dialect, http.StatusBadRequest, errInvalidRequest, "invalid_content_encoding",
				fmt.Sprintf("the request body could not be decoded as its Content-Encoding %q says", clipEcho(coding)))
		default:
			writeError(w, ep.dialect, http.StatusBadRequest, errInvalidRequest, "unreadable_body", "could not read the request body")
		}
		return nil, nil, false
	}
	return body, lease, true
}

// forwardCall runs the attempt loop, then cuts the client's connection when a reply broke
// after it was committed without a length (net/http ends a chunked reply cleanly otherwise).
func (h *Handler) forwardCall(c *call) {
	h.forward(c)
	if c.abort {
		panic(http.ErrAbortHandler)
	}
}

// binaryChunk is the most a binary relay reads before it writes and flushes.
const binaryChunk = 32 << 10

// relayBinary relays a binary 2xx reply (speech audio, a file's content) as it comes: its
// first bytes are awaited before anything is sent, so an upstream that answers 200 and then
// nothing is still a retryable failure; after that every piece is written and flushed at once.
// The reply is not scanned for usage and not bounded by max_response.
func (h *Handler) relayBinary(c *call, t *target, n int, resp *http.Response, body io.Reader, wd *watchdog) outcome {
	buf := make([]byte, binaryChunk)
	got, err := io.ReadAtLeast(body, buf, 1)
	switch {
	case c.r.Context().Err() != nil:
		return outcome{done: true, class: selector.ClientGone}
	case err == io.EOF && resp.ContentLength != 0:
		return outcome{class: selector.UpstreamDown, status: resp.StatusCode, reason: "reply ended before its first byte"}
	case err != nil && err != io.EOF:
		return h.readFailed(c, wd, resp.StatusCode, "reply failed before its first byte: "+transportReason(err))
	}
	_, raw := body.(*watchdog) // nothing undone on the way: the upstream's length holds
	hdr := c.w.Header()
	writeReplyHeader(hdr, resp.Header)
	if raw && resp.ContentLength >= 0 {
		hdr.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	h.setRouteHeaders(c, t, n)
	c.rec.ttfb = h.now().Sub(c.rec.start)
	t.conn.ttft.Observe(c.rec.ttfb.Seconds())
	c.w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(c.w)
	for got > 0 {
		if _, werr := c.w.Write(buf[:got]); werr != nil {
			return outcome{done: true, class: selector.ClientGone}
		}
		if rc.Flush() != nil {
			return outcome{done: true, class: selector.ClientGone}
		}
		if err != nil {
			break
		}
		got, err = body.Read(buf)
		if err != nil && err != io.EOF {
			if c.r.Context().Err() != nil {
				return outcome{done: true, class: selector.ClientGone}
			}
			reason := "upstream reply failed after it began: " + transportReason(err)
			if wd.fired.Load() {
				reason = wd.why
			}
			h.logger.Warn("binary reply failed after it began",
				zap.String("model", c.rec.model), zap.String("target", t.Label), zap.String("reason", t.scrubString(reason)))
			c.abort = true
			return outcome{done: true, class: selector.UpstreamDown, status: resp.StatusCode, reason: reason}
		}
	}
	h.remember(c, t, nil)
	return outcome{done: true, class: selector.Success, status: resp.StatusCode}
}
