package llmrouter

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/gate"
	"github.com/llmrouter/caddy-llm-router/internal/decompress"
	"github.com/llmrouter/caddy-llm-router/reqbody"
	vroute "github.com/llmrouter/caddy-llm-router/route"
	"github.com/llmrouter/caddy-llm-router/selector"
)

// maxErrorBody bounds how much of an upstream error reply is read to classify it and pass it on.
const maxErrorBody = 1 << 20

// serveCompletion handles one model call: read and parse the body, resolve the model, and try
// targets until one answers.
func (h *Handler) serveCompletion(w http.ResponseWriter, r *http.Request, route route, client *gate.Client) {
	ep := route.ep
	body, lease, ok := h.readBody(w, r, ep)
	if !ok {
		return
	}
	defer lease.Done()

	f, err := scanBody(ep, r, body)
	if route.model != "" {
		// The URL names the model (Gemini, Azure) and, for Gemini, whether it streams; a model
		// in the body, if any, is replaced by the upstream id like any other.
		if errors.Is(err, reqbody.ErrNoModel) {
			err = nil
		}
		f.Model, f.Stream = route.model, f.Stream || route.stream
	}
	if err != nil {
		code := "invalid_json"
		switch {
		case errors.Is(err, errBadMultipart):
			code = "invalid_multipart"
		case errors.Is(err, reqbody.ErrNoModel):
			code = "missing_model"
		case errors.Is(err, reqbody.ErrModelNotString), errors.Is(err, reqbody.ErrDuplicateModel):
			code = "invalid_model"
		case errors.Is(err, reqbody.ErrStreamNotBool):
			code = "invalid_stream"
		}
		writeError(w, ep.dialect, http.StatusBadRequest, errInvalidRequest, code, err.Error())
		return
	}
	body, f, sc, vp, ok := h.smartRequest(w, r, route, body, f, client)
	if !ok {
		return
	}
	if !h.permit(w, ep.dialect, client, f.Model) {
		return
	}
	p := vp
	if p == nil {
		p = h.namedPool(f.Model)
	}
	if p == nil && h.wild != nil {
		var err error
		if p, err = h.wildcardPool(f.Model); err != nil {
			h.wildcardRefused(w, ep.dialect, f.Model, err)
			return
		}
	}
	if p == nil && h.cat.Lookup(f.Model) != nil {
		// An alias of discovered models only, before any list had one of them.
		writeError(w, ep.dialect, http.StatusServiceUnavailable, errUnavailable, "model_not_discovered",
			fmt.Sprintf("the alias %q names discovered models only, and no provider's list has one of them yet", clipEcho(f.Model)))
		return
	}
	if p == nil {
		writeError(w, ep.dialect, http.StatusNotFound, errInvalidRequest, "model_not_found",
			fmt.Sprintf("the model %q does not exist or has no usable provider; GET /v1/models lists them", clipEcho(f.Model)))
		return
	}
	// Charged only now: a request for a model that does not exist, or with a body that could
	// not be read, costs the key nothing.
	if !h.charge(w, ep.dialect, client) {
		return
	}
	if !p.servesEndpoint(ep) && ep != countTokensEndpoint && ep != geminiCountEndpoint {
		writeError(w, ep.dialect, http.StatusBadRequest, errInvalidRequest, "unsupported_endpoint",
			fmt.Sprintf("no provider of the model %q serves %s", clipEcho(f.Model), clipEcho(r.URL.Path)))
		return
	}
	if ep == countTokensEndpoint && !p.hasAPI(catalog.APIAnthropic) || ep == geminiCountEndpoint && !p.hasAPI(catalog.APIGemini) {
		h.serveCountEstimate(w, ep.dialect, body)
		return
	}
	if h.defaults != nil && p.route.Info != nil && defaultsEndpoint(ep) {
		if d := h.defaults[p.route.Info.Name]; d != nil {
			body, f = d.apply(body, f)
		}
	}
	c := &call{w: w, r: r, ep: ep, route: route, body: body, lease: lease, f: f, p: p,
		rec: record{model: p.recordName(), start: h.now()}}
	if sc != nil {
		c.smart, c.rec.model, c.rec.smart = &sc.d, f.Model, sc
	}
	if ep.body == bodyMultipart {
		c.contentType = r.Header["Content-Type"]
	}
	if client != nil {
		c.rec.client = client.Name
	}
	if ep == responsesEndpoint {
		if c.nativeOnly = needsStoredState(body); c.nativeOnly && !p.servesNatively() {
			writeError(w, ep.dialect, http.StatusBadRequest, errInvalidRequest, "stored_state_unsupported", storedStateMessage(f.Model))
			return
		}
		if !h.pinPreviousResponse(c) {
			return
		}
	}
	h.forwardCall(c)
}

// namedPool is the pool of a configured or discovered name, or nil (virtual models and
// wildcard ids have their own lookups). No lock: a map lookup and, with discovery, an
// atomic load.
func (h *Handler) namedPool(name string) *pool {
	var set *discoveredSet
	if h.disc != nil {
		set = h.disc.set.Load()
	}
	return h.poolIn(set, name)
}

// poolIn is namedPool with the discovered set (nil: none).
func (h *Handler) poolIn(set *discoveredSet, name string) *pool {
	p := h.pools[name]
	if (p == nil || len(p.route.Deferred) > 0) && set != nil {
		// An alias with discovered members has its whole pool in the discovered set.
		if dp := set.pools[name]; dp != nil {
			p = dp
		}
	}
	return p
}

// boundBodyRead sets a read deadline for the request body through rc, unless the server's own
// read timeout is as short, and reports whether it did: the caller lifts it again once the body
// is read. The deadline is wall-clock time, for the kernel: never the handler's clock.
func boundBodyRead(rc *http.ResponseController, r *http.Request, d time.Duration) bool {
	if d <= 0 || r.ContentLength == 0 {
		return false
	}
	if srv, ok := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server); ok &&
		srv.ReadTimeout > 0 && time.Duration(srv.ReadTimeout) <= d {
		return false
	}
	// An error: not supported here (a test recorder, HTTP/3): Caddy's read_body is the bound.
	return rc.SetReadDeadline(time.Now().Add(d)) == nil
}

// call is one client request on its way through the attempt loop.
type call struct {
	w     http.ResponseWriter
	r     *http.Request
	ep    *endpoint
	route route
	body  []byte
	lease *reqbody.Lease
	f     reqbody.Fields
	p     *pool
	rec   record
	// translated caches the request in each other dialect (by wireIndex) with its fields for
	// the model splice: translated once, sent to every target of that dialect. It is made on
	// the first translation: most calls need none, and every call's struct is allocated.
	translated *[3]translatedBody
	// nativeOnly says the request needs a provider that serves its dialect natively (a
	// Responses request with stored state): the other targets are passed over.
	nativeOnly bool
	// smart is a virtual model's decision: c.p is its selected candidate's pool.
	smart *vroute.Decision
	// untranslated is the first translation error of a target passed over for it (see
	// translates): the client's answer when no target takes the request.
	untranslated error
	// routeVals back the route headers and placeholders (see setRouteHeaders).
	routeVals [5]string
	// wholeHead, when set, is closed by the attempt whose upstream's head says its reply to
	// the stream is whole: a hedged turn does not race it (see hedged).
	wholeHead chan struct{}
	callExt
}

// outcome is what one attempt came to.
type outcome struct {
	// done means the request is over: a reply was written, or the client went away.
	done bool
	// class is what the attempt says of the target. A done outcome may still carry a failure
	// class (a stream cut after it began; a client that gave up on a silent target): the target
	// is charged and cooled, but the request does not go on.
	class selector.Class
	// clientGone says the client went away; class may still blame the target.
	clientGone bool
	status     int
	// keyInvalid says a key refusal is of the key itself, not of its quota (see
	// selector.KeyInvalid), whatever its status: Gemini refuses a bad key with a 400.
	keyInvalid bool
	// reason explains a failure without a status (connection error, timeout, truncation).
	reason string
	// retryAfter is the cooldown the upstream asked for.
	retryAfter time.Duration
	// reply is the failed upstream reply, kept so the last one can be passed on.
	reply *upstreamReply
	// usage is what a successful reply reported.
	usage tokenUsage
	// resumed says a stream that broke after it began was resumed on another target and
	// ended well: the request succeeded, though class charges the target that broke it.
	resumed bool
}

// upstreamReply is a failed upstream answer, kept so the last one can be shown to the client.
type upstreamReply struct {
	status int
	body   []byte
	// api is the dialect the body is in.
	api catalog.API
}

// forward is the retry loop: each attempt goes to a different healthy target until one
// answers, the attempts or the try duration run out, or the pool is exhausted.
func (h *Handler) forward(c *call) {
	rt := &h.runtime
	var tried selector.Tried
	// The failed attempts, for the reply headers, the error body and the log line. Most
	// requests succeed at once, so the list is only made when the first attempt fails (a
	// [MaxAttempts] array here would cost every request 1 KiB of zeroed heap).
	var failures []attemptInfo
	var last *upstreamReply
	defer func() { h.finish(&c.rec) }()
	poolStart := 0 // attempts before the current pool (a virtual model falls back to others)
	for n := 0; n < rt.attempts; {
		now := h.now()
		if n > 0 && now.Sub(c.rec.start) >= rt.tryDuration {
			break
		}
		i := c.p.sel.Next(now.UnixNano(), &tried)
		if i < 0 {
			if c.nextCandidate(h, n > poolStart) {
				tried, poolStart = selector.Tried{}, n
				continue
			}
			break
		}
		tried.Add(i)
		t := c.p.targets[i]
		if !c.admits(t) {
			continue // its provider cannot serve this endpoint: passed over, not an attempt
		}
		n++
		h.logRecovery(t, now)
		var out outcome
		out, t = h.tryTarget(c, t, n, &tried)
		// A transport error can quote the upstream's own bytes (net/http's "malformed HTTP
		// response" quotes its status line), and those may hold the key: scrub before the reason
		// reaches a log line or the client's error.
		out.reason = t.scrubString(out.reason)
		if out.class != selector.ClientGone {
			t.health.Record(out.class, out.status)
			t.conn.attempts[out.class].Inc()
		}
		if out.class.Retryable() {
			h.cool(t, out, h.now())
		}
		if out.done {
			c.rec.target, c.rec.status, c.rec.usage = t, out.status, out.usage
			c.rec.cost = t.cost(out.usage)
			switch {
			case out.clientGone || out.class == selector.ClientGone:
				c.rec.outcome, c.rec.status = "client_gone", 499
			case out.class == selector.Success, out.resumed:
				c.rec.outcome = "success"
			case out.class == selector.ClientError:
				c.rec.outcome = "client_error"
			default: // a stream that failed after it began
				c.rec.outcome = "failed"
			}
			return
		}
		if failures == nil {
			failures = make([]attemptInfo, 0, rt.attempts)
		}
		failures = append(failures, attemptInfo{Provider: t.Provider.Name, Target: t.Label, Status: out.status,
			Class: out.class.String(), Error: out.reason})
		c.rec.attempts = failures
		if out.reply != nil {
			last = out.reply
		} else {
			last = nil
		}
		if ce := h.logger.Check(zap.DebugLevel, "attempt failed"); ce != nil {
			ce.Write(zap.String("model", c.rec.model), zap.String("target", t.Label), zap.Int("attempt", n),
				zap.Int("status", out.status), zap.String("class", out.class.String()), zap.String("reason", out.reason))
		}
	}
	if failures == nil && c.untranslated != nil {
		// No target was tried, and one was passed over because the request does not
		// translate into its dialect: that is what the client can fix.
		writeError(c.w, c.ep.dialect, http.StatusBadRequest, errInvalidRequest, "invalid_request", c.untranslated.Error())
		c.rec.status, c.rec.outcome = http.StatusBadRequest, "client_error"
		return
	}
	if c.ep == countTokensEndpoint || c.ep == geminiCountEndpoint {
		// No provider could count: the estimate, marked as one, serves a client that only sizes
		// its context (Claude Code counts before its turns) better than an error would.
		if len(failures) > 0 {
			c.w.Header().Set("X-LLM-Router-Failures", failureSummary(failures))
		}
		h.serveCountEstimate(c.w, c.ep.dialect, c.body)
		c.rec.status, c.rec.outcome = http.StatusOK, "estimated"
		return
	}
	c.rec.status, c.rec.outcome = h.fail(c.w, c.ep.dialect, &c.rec, c.p, failures, last)
}

// attempt sends the request to one target. Nothing reaches the client unless the upstream
// answered 2xx (then its reply is relayed) or a client error (passed through as is).
func (h *Handler) attempt(c *call, t *target, n int) outcome {
	r := c.r
	// A stream's first event is bounded by a watchdog that must abort the call before the
	// reply's head: that takes a context of the attempt's own. A whole reply's head is bounded
	// by the transport (response_header_timeout), and a stall of its body is ended by closing
	// the body, so it goes out under the client's context: one cancelable context fewer per
	// request. h1's bodies are aborted by their context only.
	ctx, cancel := r.Context(), context.CancelFunc(nil)
	if c.f.Stream || t.conn.plain != nil {
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
	}
	includeUsage := h.IncludeUsage && c.ep.includeUsage && c.f.Stream
	b, err := c.requestBody(t, includeUsage)
	if err != nil {
		writeError(c.w, c.ep.dialect, http.StatusBadRequest, errInvalidRequest, "invalid_request", err.Error())
		return outcome{done: true, class: selector.ClientError, status: http.StatusBadRequest}
	}
	req, err := c.newRequest(ctx, t, len(r.Header)+2)
	if err != nil {
		return outcome{class: selector.UpstreamDown, reason: "bad upstream url"}
	}
	copyRequestHeader(req.Header, r.Header)
	setDialectHeaders(req.Header, t)
	setRequestBody(req, b)
	c.finishRequest(req)
	if t.auth != nil {
		req.Header[t.conn.keyHeader] = t.auth
	}

	sent := h.now()
	// A stream's headers and first event must come within first_event_timeout of the send, and
	// within what is left of try_duration: a silent target must not hold the client for the
	// generous header timeout that whole replies need.
	var wd *watchdog
	if c.f.Stream {
		wd = startWatchdog(h.firstEventDeadline(c, t, sent), cancel)
		defer wd.stop()
	}
	resp, err := t.transport.RoundTrip(req)
	if err != nil {
		switch {
		case r.Context().Err() != nil:
			return h.clientLeft(t, sent)
		case wd != nil && wd.fired.Load():
			return outcome{class: selector.UpstreamDown, reason: wd.why}
		}
		return outcome{class: selector.UpstreamDown, reason: transportReason(err)}
	}
	defer resp.Body.Close()
	t.conn.latency.Observe(h.now().Sub(sent).Seconds())
	if wd == nil {
		// Whole replies (and error bodies) must keep arriving.
		wd = startBodyWatchdog(timeout{t.conn.streamIdleTimeout, reasonWholeStalled}, cancel, resp.Body)
		wd.idle = t.conn.streamIdleTimeout
		defer wd.stop()
	}
	wd.src = resp.Body
	body := io.Reader(wd)
	if ce := resp.Header.Get("Content-Encoding"); ce != "" {
		// net/http undoes the gzip it asked for itself; this is any other coding an upstream
		// sent, asked or not. It is undone before framing, so the relay sees the real events.
		dec, err := decompress.NewReader(ce, io.NopCloser(wd))
		if err != nil {
			return h.readFailed(c, wd, resp.StatusCode, "reply unreadable: "+err.Error())
		}
		defer dec.Close()
		body = dec
		delete(resp.Header, "Content-Encoding")
		delete(resp.Header, "Content-Length")
	}

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return h.upstreamError(c, t, n, resp, body)
	}
	if c.ep.reply == replyBinary {
		return h.relayBinary(c, t, n, resp, body, wd)
	}
	if isEventStream(resp.Header) {
		return h.relayStream(c, t, n, resp, body, wd, includeUsage)
	}
	if c.f.Stream && c.ep.streamsText() {
		if strings.Contains(resp.Header.Get("Content-Type"), "json") {
			// The head says the reply is whole, from an upstream that ignored "stream": it
			// answered, and, as for a non-streamed request, its body comes when the generation
			// is done, which first_event_timeout (a stream's quick failover) does not allow for.
			// Each wait is bounded as a whole reply's is.
			wd.waitEach(t.conn.streamIdleTimeout, reasonWholeStalled)
			if c.wholeHead != nil {
				close(c.wholeHead)
				c.wholeHead = nil
			}
		}
		// Some servers label their stream application/json, or nothing: a body that begins as
		// server-sent events is one. (A whole reply is made a stream: see streamWhole.)
		br := bufio.NewReaderSize(body, 256)
		if beginsSSE(br) {
			return h.relayStream(c, t, n, resp, br, wd, includeUsage)
		}
		body = br
	}
	return h.relayWhole(c, t, n, resp, body, wd)
}

// beginsSSE reports whether br's body begins (blank lines skipped) with a server-sent event's
// field (data, event, id or retry) or a comment. It waits for the first bytes only, never for
// more than the first event may hold, so a slow stream's first event is not delayed.
func beginsSSE(br *bufio.Reader) bool {
	if _, err := br.Peek(1); err != nil {
		return false
	}
	p, _ := br.Peek(br.Buffered())
	if trimmed := bytes.TrimLeft(p, "\r\n"); len(trimmed) < len("retry:") && len(p) < br.Size() {
		p, _ = br.Peek(min(br.Size(), len(p)+len("retry:"))) // a read that brought a few bytes
	}
	p = bytes.TrimLeft(p, "\r\n")
	for _, f := range [...]string{"data:", "event:", "id:", "retry:", ":"} {
		if bytes.HasPrefix(p, []byte(f)) {
			return true
		}
	}
	return false
}

// reasonWholeStalled is the failure reason of a whole reply (or error body) whose upstream went
// silent for longer than stream_idle_timeout.
const reasonWholeStalled = "reply stalled beyond stream_idle_timeout"

// timeout is a watchdog's bound and what to say when it fires.
type timeout struct {
	d   time.Duration
	why string
}

// firstEventDeadline is how long a stream attempt sent at sent may wait for its first event:
// first_event_timeout, or less when try_duration runs out first.
func (h *Handler) firstEventDeadline(c *call, t *target, sent time.Time) timeout {
	rt := &h.runtime
	if left := rt.tryDuration - sent.Sub(c.rec.start); left < t.conn.firstEventTimeout {
		return timeout{max(left, 0), "try_duration ran out before the stream's first event"}
	}
	return timeout{t.conn.firstEventTimeout, "no event within first_event_timeout"}
}

// clientLeft is the outcome of an attempt whose client went away before any reply. A target
// that kept it waiting past first_event_timeout is charged with that, so it stops getting
// traffic, even though the request is over.
func (h *Handler) clientLeft(t *target, sent time.Time) outcome {
	if waited := h.now().Sub(sent); waited >= t.conn.firstEventTimeout {
		return outcome{done: true, clientGone: true, class: selector.UpstreamDown,
			reason: fmt.Sprintf("no reply in %s, after which the client gave up", waited.Round(time.Millisecond))}
	}
	return outcome{done: true, class: selector.ClientGone}
}

// readFailed is the outcome of a reply whose body could not be read before anything was
// relayed: the client left, the watchdog fired, or the upstream sent what cannot be read.
// reason is what to say when neither of the first two explains it.
func (h *Handler) readFailed(c *call, wd *watchdog, status int, reason string) outcome {
	switch {
	case c.r.Context().Err() != nil:
		return outcome{done: true, class: selector.ClientGone}
	case wd.fired.Load():
		return outcome{class: selector.UpstreamDown, status: status, reason: wd.why}
	}
	return outcome{class: selector.UpstreamDown, status: status, reason: reason}
}

// cool takes a failed target (or its whole key) out of rotation. A target that is already
// cooling keeps its deadline.
func (h *Handler) cool(t *target, out outcome, now time.Time) {
	rt := &h.runtime
	d := rt.cooldown
	if out.retryAfter > 0 {
		d = min(out.retryAfter, rt.maxCooldown)
	}
	until := now.Add(d)
	state, scope := t.health, "target"
	if out.class == selector.KeyRefused && t.key != nil {
		state, scope = t.key, "key"
	}
	if state.CoolForStatus(now.UnixNano(), until.UnixNano(), out.class, refusalStatus(out.status, out.keyInvalid)) {
		h.shareCooldown(t, scope == "key", until, out.class)
		h.logger.Info("cooldown started",
			zap.String("scope", scope),
			zap.String("provider", t.Provider.Name),
			zap.String("target", t.Label),
			zap.String("class", out.class.String()),
			zap.Int("status", out.status),
			zap.String("reason", out.reason),
			zap.Time("until", until))
	}
}

// logRecovery logs, once per cooldown, that a target (or its key) is back in rotation. It
// happens when the target is next picked: there is no timer per cooldown.
func (h *Handler) logRecovery(t *target, now time.Time) {
	for _, e := range [2]*healthEntry{t.healthEntry, t.keyEntry} {
		if e == nil {
			continue
		}
		if until, ok := e.recovered(now.UnixNano()); ok {
			scope := "target"
			if e == t.keyEntry {
				scope = "key"
			}
			h.logger.Info("cooldown ended",
				zap.String("scope", scope),
				zap.String("provider", t.Provider.Name),
				zap.String("target", t.Label),
				zap.Time("until", time.Unix(0, until)))
		}
	}
}

// transportReason describes a transport error for logs and error bodies. Upstream URLs carry
// no credentials (the catalog refuses them), so the error text is safe to show.
func transportReason(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed mid-reply"
	}
	return err.Error()
}
