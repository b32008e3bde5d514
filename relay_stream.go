package llmrouter

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/llmrouter/caddy-llm-router/selector"
	"github.com/llmrouter/caddy-llm-router/sse"
)

// relayStream relays an event stream. Until its first real event arrives nothing is sent, so a
// stream that opens and dies, stays silent, or opens with garbage or an error is still a
// retryable failure. After that the client has the stream, and an upstream failure, or an end
// without the stream's terminator, ends it with an explicit error event in the stream's
// dialect: never a silent close that a client could take for a complete answer.
//
// wd is already running: for a streamed request it has bounded the wait since the send.
func (h *Handler) relayStream(c *call, t *target, n int, resp *http.Response, body io.Reader, wd *watchdog) outcome {
	rt, w, r, ep, p := &h.runtime, c.w, c.r, c.ep, c.p
	rd := sse.NewReader(body, 0)
	defer rd.Release()
	filter := ep.streamFilter(t.Provider)

	var first []byte
	var scratch [512]byte
	for first == nil {
		ev, err := rd.Next()
		if err != nil {
			reason := "stream failed before its first event: " + transportReason(err)
			if errors.Is(err, io.EOF) {
				reason = "stream ended before its first event"
			}
			return h.readFailed(c, wd, resp.StatusCode, reason)
		}
		// Judged by the endpoint's own filter, not the provider's: a keepalive comment that a
		// provider keeps for its clients is still not an answer, and must not commit the client
		// to a stream that may yet fail. Keepalives before the first event are dropped, and so
		// are events with no data (a lone id: or retry:), which answer nothing either.
		if len(ep.filter.Append(scratch[:0], ev)) == 0 {
			continue
		}
		data, ok := sse.Data(ev)
		if !ok {
			continue
		}
		// Nothing has reached the client yet, so another target can still answer: a stream that
		// is only its terminator would read as an empty success, one that opens with garbage or
		// an error event (some providers answer 200 and put the failure in the stream) as a
		// broken one.
		switch {
		case sse.IsDone(ev):
			return outcome{class: selector.UpstreamDown, status: resp.StatusCode, reason: "stream ended before its first chunk"}
		case !json.Valid(data):
			return outcome{class: selector.UpstreamDown, status: resp.StatusCode, reason: "stream's first event is not JSON"}
		case hasErrorObject(data):
			return outcome{class: selector.UpstreamDown, status: resp.StatusCode, reason: "stream began with an error event"}
		}
		first = ev
	}

	// Commit: from here on the client owns the stream.
	wd.idle, wd.why = rt.streamIdleTimeout, "upstream stream stalled beyond stream_idle_timeout"
	wd.timer.Reset(rt.streamIdleTimeout)
	hdr := w.Header()
	writeReplyHeader(hdr, resp.Header)
	hdr.Del("Content-Length")
	hdr["Content-Type"] = eventStreamContentType
	hdr["Cache-Control"] = noCache
	// Tell buffering proxies in front of Caddy (nginx) to pass each event at once.
	hdr["X-Accel-Buffering"] = accelNo
	h.setRouteHeaders(c, t, n)
	c.rec.ttfb = h.now().Sub(c.rec.start)
	t.up.ttft.Observe(c.rec.ttfb.Seconds())
	w.WriteHeader(resp.StatusCode)
	client := &lazyFlusher{w: w, rc: http.NewResponseController(w)}
	wd.beforeRead = client.flush
	stats, err := sse.Relay(client, nil, rd, filter, first)
	wd.beforeRead = nil
	if err == nil && !stats.Done {
		err = errNoTerminator
	}
	if err == nil {
		err = client.flush()
	}
	usage := parseUsage(stats.Usage)
	if err == nil {
		return outcome{done: true, class: selector.Success, status: resp.StatusCode, usage: usage}
	}
	if stats.ClientGone || client.err != nil || r.Context().Err() != nil {
		return outcome{done: true, class: selector.ClientGone, usage: usage}
	}

	var reason string
	switch {
	case wd.fired.Load():
		reason = wd.why
	case errors.Is(err, errNoTerminator):
		reason = "upstream closed the stream before its end"
	case errors.Is(err, sse.ErrEventTooLarge):
		reason = "upstream sent an event larger than the relay accepts"
	default:
		reason = "upstream stream failed: " + transportReason(err)
	}
	_, _ = client.Write(sse.ErrorEvent(ep.dialect, errUpstream, reason))
	_ = client.flush()
	h.logger.Warn("stream failed after it began",
		zap.String("model", p.route.Name), zap.String("target", t.Label),
		zap.Int("events", stats.Events), zap.String("reason", reason))
	// The request is over, but the target is charged: the attempt loop cools it.
	return outcome{done: true, class: selector.UpstreamDown, status: resp.StatusCode, reason: reason, usage: usage}
}

// errNoTerminator is a stream that ended cleanly at the transport but without its dialect's
// end ([DONE], message_stop, response.completed): to a client, a cut.
var errNoTerminator = errors.New("stream ended without its terminator")

// lazyFlusher writes each event to the client at once and flushes just before the relay reads
// the upstream again, that is, before it may wait. No event waits on the upstream, yet events
// that arrived together leave in one flush (one syscall) instead of one each.
type lazyFlusher struct {
	w     io.Writer
	rc    *http.ResponseController
	dirty bool
	// err is the flush error: the client is gone.
	err error
}

func (f *lazyFlusher) Write(p []byte) (int, error) {
	f.dirty = true
	return f.w.Write(p)
}

func (f *lazyFlusher) flush() error {
	if !f.dirty || f.err != nil {
		return f.err
	}
	f.dirty = false
	f.err = f.rc.Flush()
	return f.err
}

var (
	eventStreamContentType = []string{"text/event-stream"}
	noCache                = []string{"no-cache"}
	accelNo                = []string{"no"}
)

func isEventStream(h http.Header) bool {
	ct := h.Get("Content-Type")
	return len(ct) >= 17 && strings.EqualFold(ct[:17], "text/event-stream")
}
