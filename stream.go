package llmrouter

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"

	"go.uber.org/zap"

	"github.com/llmrouter/caddy-llm-router/selector"
	"github.com/llmrouter/caddy-llm-router/sse"
)

// relayStream relays an event stream. Until its first event survives the filter nothing is
// sent, so a stream that opens and dies or stays silent is still a retryable failure. After
// that the client has the stream, and an upstream failure ends it with an explicit error event
// in the stream's dialect: never a silent close that a client could take for a complete answer.
func (h *Handler) relayStream(c *call, t *target, n int, resp *http.Response, cancel context.CancelFunc) outcome {
	rt, w, r, ep, p := &h.runtime, c.w, c.r, c.ep, c.p
	wd := startWatchdog(resp.Body, rt.firstEventTimeout, cancel)
	defer wd.stop()
	rd := sse.NewReader(wd, 0)
	defer rd.Release()
	filter := ep.streamFilter(t.Provider)

	var first []byte
	var scratch [512]byte
	for first == nil {
		ev, err := rd.Next()
		if err != nil {
			switch {
			case r.Context().Err() != nil:
				return outcome{done: true, class: selector.ClientGone}
			case wd.fired.Load():
				return outcome{class: selector.UpstreamDown, status: resp.StatusCode, reason: "no event within first_event_timeout"}
			case errors.Is(err, io.EOF):
				return outcome{class: selector.UpstreamDown, status: resp.StatusCode, reason: "stream ended before its first event"}
			}
			return outcome{class: selector.UpstreamDown, status: resp.StatusCode, reason: "stream failed before its first event: " + transportReason(err)}
		}
		// Judged by the endpoint's own filter, not the provider's: a keepalive comment that a
		// provider keeps for its clients is still not an answer, and must not commit the client
		// to a stream that may yet fail. Keepalives before the first event are dropped.
		if len(ep.filter.Append(scratch[:0], ev)) == 0 {
			continue
		}
		if inBandError(ev) {
			// Some providers answer 200 and put the failure in the stream's first event; nothing
			// has reached the client yet, so another target can still answer.
			return outcome{class: selector.UpstreamDown, status: resp.StatusCode, reason: "stream began with an error event"}
		}
		first = ev
	}

	// Commit: from here on the client owns the stream.
	wd.idle = rt.streamIdleTimeout
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

	reason := "upstream stream failed: " + transportReason(err)
	if wd.fired.Load() {
		reason = "upstream stream stalled beyond stream_idle_timeout"
	} else if errors.Is(err, sse.ErrEventTooLarge) {
		reason = "upstream sent an event larger than the relay accepts"
	}
	_, _ = client.Write(sse.ErrorEvent(ep.dialect, errUpstream, reason))
	_ = client.flush()
	out := outcome{class: selector.UpstreamDown, status: resp.StatusCode, reason: reason, usage: usage}
	h.cool(t, out, h.now())
	h.logger.Warn("stream failed after it began",
		zap.String("model", p.route.Name), zap.String("target", t.Label),
		zap.Int("events", stats.Events), zap.String("reason", reason))
	out.done = true
	return out
}

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

// inBandError reports whether an event carries an error object: a data line whose JSON has a
// top-level "error" object (never `"error": null`, which some providers send on success).
func inBandError(ev []byte) bool {
	for line := range bytes.Lines(ev) {
		if data, ok := bytes.CutPrefix(line, []byte("data:")); ok && hasErrorObject(data) {
			return true
		}
	}
	return false
}
