package llmrouter

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/llmrouter/caddy-llm-router/dialect"
	"github.com/llmrouter/caddy-llm-router/dialect/anthropic"
	"github.com/llmrouter/caddy-llm-router/dialect/openai"
	"github.com/llmrouter/caddy-llm-router/dialect/responses"
	"github.com/llmrouter/caddy-llm-router/internal/jsonscan"
	"github.com/llmrouter/caddy-llm-router/selector"
	"github.com/llmrouter/caddy-llm-router/sse"
)

// relayStream relays an event stream. Until its first real event arrives nothing is sent, so a
// stream that opens and dies, stays silent, or opens with garbage or an error is still a
// retryable failure. After that the client has the stream, and an upstream failure, or an end
// without the stream's terminator, ends it with an explicit error event in the client's
// dialect: never a silent close that a client could take for a complete answer.
//
// wd is already running: for a streamed request it has bounded the wait since the send.
func (h *Handler) relayStream(c *call, t *target, n int, resp *http.Response, body io.Reader, wd *watchdog, includeUsage bool) outcome {
	rd := sse.NewReader(body, 0)
	defer rd.Release()
	return h.relayEvents(c, t, n, resp, rd, wd, c.streamTranslator(t, includeUsage))
}

// relayEvents relays the stream rd frames: through tr into the client's dialect, or as it
// comes when tr is nil.
func (h *Handler) relayEvents(c *call, t *target, n int, resp *http.Response, rd *sse.Reader, wd *watchdog, tr dialect.StreamTranslator) outcome {
	if tr != nil {
		return h.relayTranslated(c, t, n, resp, rd, wd, tr)
	}
	ep := c.ep
	filter := ep.streamFilter(t.Provider)
	// A chat or Messages stream's first events may be its prelude (a role chunk, message_start,
	// pings): they are kept, unsent, until its answer begins, so that a stream that ends after
	// them alone fails over as a translated one does (dialect.ErrEmpty), instead of reaching
	// the client as a complete empty answer.
	holds := ep == chatEndpoint || ep == messagesEndpoint
	holding := false
	var first []byte
	var scratch [512]byte
	for first == nil {
		ev, err := rd.Next()
		if err != nil {
			return h.readFailed(c, wd, resp.StatusCode, beforeFirstEvent(err))
		}
		// Judged by the endpoint's own filter, not the provider's: a keepalive comment that a
		// provider keeps for its clients is still not an answer, and must not commit the client
		// to a stream that may yet fail.
		if len(ep.filter.Append(scratch[:0], ev)) == 0 {
			continue
		}
		data, reason := firstEvent(ev)
		if holds && (holding && sse.IsDone(ev) || reason == "" && data != nil && endsPrelude(ep.dialect, data)) {
			reason = dialect.ErrEmpty.Error()
		}
		switch {
		case reason != "":
			return outcome{class: selector.UpstreamDown, status: resp.StatusCode, reason: reason}
		case data == nil:
		case holds && inPrelude(ep.dialect, data):
			if !holding {
				// The upstream answered: first_event_timeout is met, as it is by a translated
				// stream's first event. The answer itself may take long to begin (a long
				// prompt, a model that reasons unseen): each wait is bounded as a committed
				// stream's is, not by what is left of first_event_timeout.
				wd.waitEach(t.conn.streamIdleTimeout, reasonStalled)
			}
			rd.Keep()
			holding = true
		case holding:
			first = rd.Kept()
		default:
			first = ev
			h.rememberFirst(c, t, ev)
		}
	}

	client := h.commitStream(c, t, n, resp, wd)
	stats, err := sse.Relay(client, nil, rd, filter, first)
	switch {
	case stats.Done && err == nil:
		h.awaitUpstreamEnd(t, rd, wd)
	case err == nil && !ep.endsAtEOF:
		err = errNoTerminator
	}
	usage := parseUsage(stats.Usage).after(parseUsage(stats.FirstUsage))
	// The final usage comes at the end (the usage chunk, message_delta); before it there is
	// none, or only Anthropic's message_start.
	partial := !stats.Done && stats.FirstUsage == nil && (stats.Usage == nil || ep.dialect == sse.Anthropic)
	return h.endStream(c, t, resp, wd, client, nil, stats.Events, stats.ClientGone, usage, partial, err)
}

// relayTranslated relays a stream in the upstream's dialect as a stream in the client's,
// through tr, under the same contract as relayStream: the upstream's events are judged before
// commit as they are there, and the client is committed by the translator's first output.
func (h *Handler) relayTranslated(c *call, t *target, n int, resp *http.Response, rd *sse.Reader, wd *watchdog, tr dialect.StreamTranslator) outcome {
	var out []byte
	answered := false
	for len(out) == 0 {
		ev, err := rd.Next()
		if err != nil {
			return h.readFailed(c, wd, resp.StatusCode, beforeFirstEvent(err))
		}
		if !answered {
			data, reason := firstEvent(ev)
			if reason != "" {
				return outcome{class: selector.UpstreamDown, status: resp.StatusCode, reason: reason}
			}
			answered = data != nil
		}
		if out, err = tr.Event(out[:0], ev); err != nil {
			return outcome{class: selector.UpstreamDown, status: resp.StatusCode, reason: "stream failed before its first event: " + err.Error()}
		}
	}

	client := h.commitStream(c, t, n, resp, wd)
	events, gone := 0, false
	var err error
	for {
		if len(out) > 0 {
			if _, err = client.Write(out); err != nil {
				gone = true
				break
			}
			events++
		}
		var ev []byte
		rerr := io.EOF
		if tr.Done() {
			h.awaitUpstreamEnd(t, rd, wd) // Finish still closes the client's framing
		} else {
			ev, rerr = rd.Next()
		}
		if rerr == io.EOF {
			if out, err = tr.Finish(out[:0]); len(out) > 0 && err == nil {
				if _, err = client.Write(out); err != nil {
					gone = true
				}
			}
			if errors.Is(err, dialect.ErrIncomplete) {
				err = errNoTerminator
			}
			break
		}
		if rerr != nil {
			err = rerr
			break
		}
		if out, err = tr.Event(out[:0], ev); err != nil {
			break
		}
	}
	return h.endStream(c, t, resp, wd, client, tr, events, gone, pivotUsage(tr.Usage()), !tr.Done() && !dialect.UsageFinal(tr), err)
}

// awaitUpstreamEnd reads the rest of a stream whose terminator was relayed: from a
// well-behaved upstream, only its end, which keeps an HTTP/1.1 connection for reuse. The
// answer is whole, so nothing read here is relayed, no failure here undoes it (the common one
// is a client that closes at the terminator, as the SDKs do, which cancels the read), and an
// upstream that keeps the stream open is cancelled after streamEndGrace: the client's
// response ends when this returns, and some clients (anthropic-sdk-go) read on to its end.
// The first read flushes the terminator to the client; a failed flush is the client's error,
// which the caller's last flush returns.
func (h *Handler) awaitUpstreamEnd(t *target, rd *sse.Reader, wd *watchdog) {
	wd.streamEnded(h.runtime.streamEndGrace)
	for {
		if _, err := rd.Next(); err != nil {
			break
		}
	}
	if wd.fired.Load() { // its connection is lost for reuse, and it will be every time
		h.logger.Debug(wd.why, zap.String("target", t.Label))
	}
}

// beforeFirstEvent says why a stream that failed to bring its first event failed.
func beforeFirstEvent(err error) string {
	if errors.Is(err, io.EOF) {
		return "stream ended before its first event"
	}
	return "stream failed before its first event: " + transportReason(err)
}

// firstEvent judges an upstream event that comes before the stream's first real one: its data
// when it is an answer (a data line of JSON), a reason when it proves the stream is no answer.
// Events with no data (a lone id: or retry:) are neither. Nothing has reached the client yet,
// so another target can still answer: a stream that is only its terminator would read as an
// empty success, one that opens with garbage or an error event (some providers answer 200 and
// put the failure in the stream) as a broken one.
func firstEvent(ev []byte) (data []byte, reason string) {
	data, ok := sse.Data(ev)
	switch {
	case !ok:
		return nil, ""
	case sse.IsDone(ev):
		return nil, "stream ended before its first chunk"
	case !json.Valid(data):
		return nil, "stream's first event is not JSON"
	case bytes.Contains(data, errorKey):
		// An error chunk or event of any dialect, the Responses API's error and
		// response.failed included.
		if msg, failed := failureMessage(data); failed {
			return nil, "stream began with an error event: " + msg
		}
	}
	return data, ""
}

// inPrelude reports whether a passed-through chat or Messages event (its data, valid JSON)
// brings no answer yet: a chat chunk none of whose choices has a delta with more than its
// role, or a finish reason (a role chunk, a usage chunk, Azure's prompt filter results);
// Anthropic's message_start and ping, and a content block's start, delta or stop that carries
// nothing (an empty text or thinking block). Anything else is an answer, an empty one that
// says why it is empty (a finish or stop reason) included: when in doubt, the stream goes out.
func inPrelude(d sse.Dialect, data []byte) bool {
	if d != sse.Anthropic {
		choices := jsonscan.ObjectKey(data, "choices")
		for ch, p := jsonscan.Elem(choices, 0); ch != nil; ch, p = jsonscan.Elem(choices, p) {
			for k, v, q, ok := jsonscan.Field(ch, 0); ok; k, v, q, ok = jsonscan.Field(ch, q) {
				if string(k) == "finish_reason" && string(v) != "null" || string(k) == "delta" && !blankObject(v, "role") {
					return false
				}
			}
		}
		return true
	}
	typ := jsonscan.ObjectKey(data, "type")
	switch string(typ) {
	case `"message_start"`, `"ping"`:
		return true
	case `"content_block_start"`:
		return blankObject(jsonscan.ObjectKey(data, "content_block"), "type")
	case `"content_block_delta"`:
		return blankObject(jsonscan.ObjectKey(data, "delta"), "type")
	case `"content_block_stop"`:
		return true
	}
	return false
}

// endsPrelude reports whether a passed-through Messages event is the stream's end
// (message_stop), which, before any answer, leaves the stream with none. A chat stream's end
// is [DONE], which firstEvent knows.
func endsPrelude(d sse.Dialect, data []byte) bool {
	return d == sse.Anthropic && string(jsonscan.ObjectKey(data, "type")) == `"message_stop"`
}

// blankObject reports whether every member of the JSON object obj but its key except has an
// empty value: null, "", [] or {}. A value that is not an object is not blank.
func blankObject(obj []byte, except string) bool {
	if len(obj) == 0 || obj[0] != '{' {
		return false
	}
	for k, v, p, ok := jsonscan.Field(obj, 0); ok; k, v, p, ok = jsonscan.Field(obj, p) {
		if string(k) == except {
			continue
		}
		switch string(v) {
		case "null", `""`, "[]", "{}":
		default:
			return false
		}
	}
	return true
}

// commitStream sends the stream's head: from here on the client owns the stream, and the
// watchdog bounds the upstream's silence instead of its first event.
func (h *Handler) commitStream(c *call, t *target, n int, resp *http.Response, wd *watchdog) *lazyFlusher {
	w := c.w
	wd.waitEach(t.conn.streamIdleTimeout, reasonStalled)
	client := &lazyFlusher{w: w, rc: *http.NewResponseController(w), dialect: c.ep.dialect, target: t,
		explain: c.streamExplainer(t), tap: h.newStreamTap(c)}
	hdr := w.Header()
	writeReplyHeader(hdr, resp.Header)
	hdr.Del("Content-Length")
	// The head's values are this reply's own, in its flusher: Caddy's header directive rewrites
	// values in place, and a slice shared by every stream would carry one reply's rewrite into
	// all the others.
	client.head = [...]string{"text/event-stream", "no-cache", "no"}
	if c.route.array {
		client.head[0] = "application/json" // Gemini's stream as one JSON array
	}
	hdr["Content-Type"] = client.head[0:1:1]
	hdr["Cache-Control"] = client.head[1:2:2]
	// Tell buffering proxies in front of Caddy (nginx) to pass each event at once.
	hdr["X-Accel-Buffering"] = client.head[2:3:3]
	h.setRouteHeaders(c, t, n)
	c.rec.ttfb = h.now().Sub(c.rec.start)
	t.conn.ttft.Observe(c.rec.ttfb.Seconds())
	w.WriteHeader(resp.StatusCode)
	c.rec.stream = true
	wd.beforeRead = client
	return client
}

// endStream is the outcome of a committed stream that ended with err (nil: its terminator
// came), after the explicit error event when the upstream failed it. tr is the stream's
// translator, nil when it passed through. partial says usage is not the upstream's final
// count: a stream that ends early, its client gone or its upstream broken, is charged
// estimates for what is missing (partialUsage).
func (h *Handler) endStream(c *call, t *target, resp *http.Response, wd *watchdog, client *lazyFlusher,
	tr dialect.StreamTranslator, events int, clientGone bool, usage tokenUsage, partial bool, err error) outcome {
	wd.beforeRead = nil
	if err == nil {
		err = client.flush()
	}
	if err == nil {
		return outcome{done: true, class: selector.Success, status: resp.StatusCode, usage: usage}
	}
	if partial {
		// The upstream billed what it generated, and the client has it, whichever side ended
		// the stream.
		usage = c.partialUsage(usage, client.text.estimate())
	}
	if errors.Is(err, errStreamErrorEvent) {
		// The upstream's error event ended the stream (the tap kept it from the client, or it
		// was relayed): the write that stopped the relay did not fail.
		clientGone = false
	}
	if clientGone || client.err != nil || c.r.Context().Err() != nil {
		return outcome{done: true, class: selector.ClientGone, usage: usage}
	}
	var reason string
	switch {
	case wd.fired.Load():
		reason = wd.why
	case errors.Is(err, errNoTerminator) && client.failure != "":
		reason = "upstream failed the stream: " + client.failure
	case errors.Is(err, errNoTerminator):
		reason = "upstream closed the stream before its end"
	case errors.Is(err, errStreamErrorEvent) && client.failure != "":
		reason = "upstream sent an error event mid-stream: " + client.failure
	case errors.Is(err, errStreamErrorEvent):
		reason = "upstream sent an error event mid-stream"
	case errors.Is(err, sse.ErrEventTooLarge):
		reason = "upstream sent an event larger than the relay accepts"
	case errors.Is(err, sse.ErrMalformedEvent):
		reason = "upstream sent an event that is not JSON mid-stream"
	default:
		reason = "upstream stream failed: " + transportReason(err)
	}
	// An upstream's own error text may quote its key: the client must never see it.
	reason = t.scrubString(reason)
	if client.tap != nil {
		_ = resp.Body.Close() // the broken stream's connection goes before another is opened
		var resumed bool
		if resumed, reason, usage = h.resume(c, t, client, reason, usage); resumed {
			return outcome{done: true, class: selector.UpstreamDown, status: resp.StatusCode, reason: reason, usage: usage, resumed: true}
		}
		if c.r.Context().Err() != nil || client.err != nil {
			return outcome{done: true, class: selector.UpstreamDown, clientGone: true, reason: reason, usage: usage}
		}
		client.tap = nil // the router's own error event goes out
	} else {
		reason = h.notResumable(c, reason)
	}
	switch end, ok := tr.(dialect.ErrorEnder); {
	case client.relayedError: // the client has the upstream's own error event
	case ok:
		_, _ = client.Write(end.AppendError(nil, http.StatusInternalServerError, reason))
	default:
		errType := errUpstream
		if c.ep.dialect == sse.Anthropic || c.ep.dialect == sse.Gemini {
			errType = "" // the dialect's own type for a failure on the server's side
		}
		if code := upstreamErrorCode(err); code != "" && c.ep.dialect == sse.Responses {
			// Codex CLI acts on the code of a failed response: context_length_exceeded makes it
			// say the context is full, rate_limit_exceeded makes it wait and retry.
			errType = code
		}
		_, _ = client.Write(sse.ErrorEvent(c.ep.dialect, errType, reason))
	}
	_ = client.flush()
	h.logger.Warn("stream failed after it began",
		zap.String("model", c.p.route.Name), zap.String("target", t.Label),
		zap.Int("events", events), zap.String("reason", reason))
	// The request is over, but the target is charged: the attempt loop cools it.
	return outcome{done: true, class: selector.UpstreamDown, status: resp.StatusCode, reason: reason, usage: usage}
}

// upstreamErrorCode is the code of the upstream's error chunk that broke a translated stream
// (context_length_exceeded, rate_limit_exceeded, ...), when it is a plain identifier, or the
// code an Anthropic error event's type stands for; "" for any other failure.
func upstreamErrorCode(err error) string {
	var ae *anthropic.Error
	if errors.As(err, &ae) {
		switch {
		case ae.Type == anthropic.ErrRateLimit:
			return "rate_limit_exceeded"
		case ae.Type == anthropic.ErrOverloaded:
			return "server_is_overloaded"
		case ae.ContextFull():
			return openai.CodeContextLength
		}
		return ""
	}
	var se *responses.StreamError
	if !errors.As(err, &se) || len(se.Code) == 0 || len(se.Code) > 64 {
		return ""
	}
	for _, r := range se.Code {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return ""
		}
	}
	return se.Code
}

// failureMessage reads an error event's data: an {"error":{...}} object (OpenAI's chunk,
// Anthropic's and Gemini's events), the Responses API's error event ({"type":"error",
// "message"}) or its response.failed (the message in response.error). failed is false for any
// other event; msg may then be empty.
func failureMessage(data []byte) (msg string, failed bool) {
	e := jsonscan.ObjectKey(data, "error")
	switch typ := string(jsonscan.ObjectKey(data, "type")); {
	case len(e) > 0 && e[0] == '{':
	case typ == `"error"`:
		e = data
	case typ == `"response.failed"`:
		e = jsonscan.ObjectKey(jsonscan.ObjectKey(data, "response"), "error")
	default:
		return "", false
	}
	_ = json.Unmarshal(jsonscan.ObjectKey(e, "message"), &msg)
	return msg, true
}

// reasonStalled is the failure reason of a stream whose upstream went silent for longer than
// stream_idle_timeout.
const reasonStalled = "upstream stream stalled beyond stream_idle_timeout"

// errNoTerminator is a stream that ended cleanly at the transport but without its dialect's
// end ([DONE], message_stop, response.completed): to a client, a cut.
var errNoTerminator = errors.New("stream ended without its terminator")

// lazyFlusher holds the events the relay gives it and sends them just before the relay reads
// the upstream again, that is, before it may wait. No event waits on the upstream, yet events
// that arrived together leave in one write and one flush (one syscall) instead of one each:
// every write to Caddy's ResponseWriter also rearms the connection's write deadline.
type lazyFlusher struct {
	w io.Writer
	// rc is held by value: one allocation fewer per stream.
	rc http.ResponseController
	// dialect is the client's, text the estimate of the model's text written in it: the output
	// of a stream the client leaves before its usage.
	dialect sse.Dialect
	text    textEstimate
	// held is what was written since the last send (nil when nothing is held: a slow stream
	// keeps no buffer between its events).
	held *[]byte
	// dirty says something was written and not flushed.
	dirty bool
	// err is the write or flush error: the client is gone.
	err error
	// target's key is taken out of an error event its upstream sent mid-stream: the message
	// may quote the key, and the event is relayed as it came.
	target *target
	// explain, for a virtual model's stream, adds the explanation to its final chunk.
	explain *streamExplainer
	// tap, when set, reads every event the client gets, so that a broken stream can be
	// resumed (resume.go); it keeps an upstream's error event from the client.
	tap *streamTap
	// relayedError says an error event of the upstream's reached the client: it ended the
	// stream.
	relayedError bool
	// failure is the message of the last error event relayed as it came (an error chunk,
	// Anthropic's error event, the Responses API's error or response.failed), scrubbed: why a
	// stream that then ends without its terminator failed.
	failure string
	// head backs the stream's Content-Type, Cache-Control and X-Accel-Buffering values.
	head [3]string
}

// errorKey is looked for first: the rare event that has it is then parsed.
var errorKey = []byte(`"error"`)

// Write takes one whole event.
func (f *lazyFlusher) Write(p []byte) (int, error) {
	if f.err != nil {
		return 0, f.err
	}
	f.text.see(f.dialect, p)
	if f.tap != nil {
		if err := f.tap.see(p); err != nil {
			return 0, err
		}
	}
	q := p
	if f.explain != nil {
		if e := f.explain.event(p); e != nil {
			q = e
		}
	}
	if f.target != nil && bytes.Contains(q, errorKey) {
		if data, ok := sse.Data(q); ok {
			if msg, failed := failureMessage(data); failed {
				q = f.target.scrub(q)
				f.failure = f.target.scrubString(msg)
				if hasErrorObject(data) {
					// The upstream failed its stream with an error event of the client's dialect
					// that its clients raise (the stream passes through): it goes out, without
					// the key, and ends the stream, which then needs no error event of the
					// router's. A Responses response.failed, which they do not raise, is relayed
					// and the router's own follows at the stream's end.
					f.hold(q)
					f.relayedError = true
					return len(p), errStreamErrorEvent
				}
			}
		}
	}
	f.hold(q)
	if len(*f.held) >= maxHeld {
		// An upstream that sends faster than it can be read holds no more than this.
		if err := f.send(); err != nil {
			return 0, err
		}
	}
	return len(p), nil // the relay counts what it gave, not what an explanation or scrub made
}

// hold appends q to the held events.
func (f *lazyFlusher) hold(q []byte) {
	if f.held == nil {
		f.held = heldPool.Get().(*[]byte)
	}
	*f.held = append(*f.held, q...)
}

// send writes the held events to the client, without flushing.
func (f *lazyFlusher) send() error {
	if f.held == nil || f.err != nil {
		return f.err
	}
	_, f.err = f.w.Write(*f.held)
	if cap(*f.held) <= maxHeld {
		*f.held = (*f.held)[:0]
		heldPool.Put(f.held)
	}
	f.held = nil
	f.dirty = true
	return f.err
}

func (f *lazyFlusher) flush() error {
	if err := f.send(); err != nil || !f.dirty {
		return err
	}
	f.dirty = false
	f.err = f.rc.Flush()
	return f.err
}

const (
	// heldSize is the buffer a stream's held events start in: a burst of chat chunks.
	heldSize = 4 << 10
	// maxHeld is the most a stream holds before it writes (without flushing); a buffer that
	// grew past it for one large event is not pooled.
	maxHeld = 32 << 10
)

var heldPool = sync.Pool{New: func() any {
	b := make([]byte, 0, heldSize)
	return &b
}}

func isEventStream(h http.Header) bool {
	ct := h.Get("Content-Type")
	return len(ct) >= 17 && strings.EqualFold(ct[:17], "text/event-stream")
}

// textEstimate estimates the bytes of the model's text in what a stream wrote, from a sample of
// its writes: a key scan of every event (sse.TextBytes) would cost every stream about as much
// as the relay's own parsing, for an estimate that is needed only when a client leaves early.
// Every write is scanned until text comes (a stream's prelude is a few events of none); after
// that the next write and then one in textSampleEvery are, and their share of text stands for
// the bytes written since.
type textEstimate struct {
	first                int // text bytes of the first write with text; 0: none yet
	written, writes      int // bytes and writes after it
	sampled, sampledText int // bytes and text bytes of the writes scanned after it
}

const textSampleEvery = 16

func (e *textEstimate) see(d sse.Dialect, p []byte) {
	if e.first == 0 {
		e.first = sse.TextBytes(d, p)
		return
	}
	e.writes++
	e.written += len(p)
	if e.writes == 1 || e.writes%textSampleEvery == 0 {
		e.sampled += len(p)
		e.sampledText += sse.TextBytes(d, p)
	}
}

// estimate is the text bytes written, as the sample says.
func (e *textEstimate) estimate() int {
	if e.sampled == 0 {
		return e.first
	}
	return e.first + int(int64(e.written)*int64(e.sampledText)/int64(e.sampled))
}
