package llmrouter

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/dialect"
	"github.com/llmrouter/caddy-llm-router/dialect/anthropic"
	"github.com/llmrouter/caddy-llm-router/internal/decompress"
	"github.com/llmrouter/caddy-llm-router/internal/jsonscan"
	"github.com/llmrouter/caddy-llm-router/reqbody"
	"github.com/llmrouter/caddy-llm-router/selector"
	"github.com/llmrouter/caddy-llm-router/sse"
)

// Resuming a broken stream (the resume setting). While a stream is relayed, a streamTap reads
// every event the client gets, in the client's dialect: the text so far, the stream's id and
// model, its usage, and anything that makes a continuation unfaithful (a tool call, reasoning,
// a second choice, an answer already finished). When the stream breaks after commit, another
// target of the pool whose provider declares a continuation form is sent the original request
// with that text as a partial assistant turn, and its stream, translated to the client's
// dialect like any other, goes through a stitcher: the stream's own id and model, no second
// role chunk or message_start, block indexes that go on where the client's left off, the
// continuation's first characters held back until an overlap with the text the client has can
// be seen and dropped, usage summed. What the client reads is one stream. OpenAI chat and
// Anthropic Messages clients only: the Responses and Gemini streams end with the error event as
// without resuming.

// seamWindow is how many bytes of a continuation's text are held back before the seam is
// decided: an overlap with the text the client already has is looked for in them.
const seamWindow = 32

// minOverlap is the shortest repeat of the client's last characters that the seam drops: a
// shorter match (a letter, a space) is as likely the continuation's own text.
const minOverlap = 4

// errStreamErrorEvent is an upstream's error event that the tap kept from the client: the
// stream broke, and may yet be resumed.
var errStreamErrorEvent = errors.New("upstream sent an error event")

// streamNotes are what hedging and resuming did in one request, for its log line.
type streamNotes struct {
	hedge struct {
		target  string // the hedge's target, "" when none was started
		won     bool
		failure string // why the losing racer failed on its own, if it did
	}
	resumes []resumeNote
	// notResumed says why a broken stream was not resumed (with resuming on).
	notResumed string
}

// resumeNote is one resume: where the broken stream was continued.
type resumeNote struct {
	target   string
	event    int // the client's events before the seam
	replayed int // characters of text sent as the partial answer
	dropped  int // characters of the continuation dropped at the seam as a repeat
}

// addTo adds what hedging and resuming did to the request line.
func (n *streamNotes) addTo(enc zapcore.ObjectEncoder) {
	if n.hedge.target != "" {
		_ = enc.AddObject("hedge", zapcore.ObjectMarshalerFunc(func(enc zapcore.ObjectEncoder) error {
			enc.AddString("target", n.hedge.target)
			enc.AddBool("won", n.hedge.won)
			if n.hedge.failure != "" {
				enc.AddString("error", n.hedge.failure)
			}
			return nil
		}))
	}
	if len(n.resumes) > 0 {
		_ = enc.AddArray("resumed", zapcore.ArrayMarshalerFunc(func(enc zapcore.ArrayEncoder) error {
			for _, r := range n.resumes {
				_ = enc.AppendObject(zapcore.ObjectMarshalerFunc(func(enc zapcore.ObjectEncoder) error {
					enc.AddString("target", r.target)
					enc.AddInt("event", r.event)
					enc.AddInt("chars_replayed", r.replayed)
					enc.AddInt("chars_dropped", r.dropped)
					return nil
				}))
			}
			return nil
		}))
	}
	if n.notResumed != "" {
		enc.AddString("not_resumed", n.notResumed)
	}
}

// resumable reports whether the call's stream can be resumed at all: resuming is on and the
// client speaks OpenAI chat or Anthropic Messages.
func (h *Handler) resumable(c *call) bool {
	return h.runtime.resumes > 0 && (c.ep == chatEndpoint || c.ep == messagesEndpoint)
}

// notResumable is reason, for a broken stream that resuming does not serve, with why it was
// not resumed.
func (h *Handler) notResumable(c *call, reason string) string {
	if h.runtime.resumes == 0 {
		return reason
	}
	why := "resuming serves OpenAI chat completions and Anthropic messages streams only"
	c.rec.notes.notResumed = why
	resumesTotal.WithLabelValues(c.rec.model, "refused").Inc()
	return reason + " (not resumed: " + why + ")"
}

// newStreamTap is the tap for the call's stream, nil when it is not resumable.
func (h *Handler) newStreamTap(c *call) *streamTap {
	if !h.resumable(c) {
		return nil
	}
	return &streamTap{dialect: c.ep.dialect, lastIndex: -1}
}

// streamTap reads what the client is sent (whole events, in the client's dialect).
type streamTap struct {
	dialect sse.Dialect
	events  int
	text    strings.Builder
	id      string
	model   string
	created json.RawMessage
	// usage is the last usage the client was told: OpenAI's usage object, or Anthropic's
	// message_start input and latest output counts.
	usage tokenUsage
	// unfaithful says why a continuation could not be faithful, "" while it could.
	unfaithful string
	// Anthropic: the index of the last content block started, and whether it is still open.
	lastIndex int
	open      bool
}

// see reads the events of one write to the client. It returns errStreamErrorEvent for an
// upstream's error event, which must not reach the client while the stream may be resumed.
func (tp *streamTap) see(p []byte) error {
	// An error event anywhere in the write keeps the whole write from the client, so nothing
	// of it is taken for the text the client has.
	for q := p; len(q) > 0; {
		n := len(q)
		if i := strings.Index(string(q), "\n\n"); i >= 0 {
			n = i + 2
		}
		if data, ok := sse.Data(q[:n]); ok && isErrorData(tp.dialect, data) {
			return errStreamErrorEvent
		}
		q = q[n:]
	}
	for len(p) > 0 {
		n := len(p)
		if i := strings.Index(string(p), "\n\n"); i >= 0 {
			n = i + 2
		}
		ev := p[:n]
		p = p[n:]
		data, ok := sse.Data(ev)
		if !ok {
			continue
		}
		if sse.IsDone(ev) {
			continue
		}
		var err error
		if tp.dialect == sse.Anthropic {
			err = tp.seeMessages(data)
		} else {
			err = tp.seeChat(data)
		}
		if err != nil {
			return err
		}
		tp.events++
	}
	return nil
}

// chatChunk is what the tap and the stitcher read of an OpenAI chat chunk.
type chatChunk struct {
	ID      string          `json:"id"`
	Model   string          `json:"model"`
	Created json.RawMessage `json:"created"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Content          *string         `json:"content"`
			ToolCalls        json.RawMessage `json:"tool_calls"`
			FunctionCall     json.RawMessage `json:"function_call"`
			ReasoningContent *string         `json:"reasoning_content"`
			Reasoning        *string         `json:"reasoning"`
			Refusal          *string         `json:"refusal"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage json.RawMessage `json:"usage"`
	Error json.RawMessage `json:"error"`
}

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

func (tp *streamTap) seeChat(data []byte) error {
	var ch chatChunk
	if json.Unmarshal(data, &ch) != nil {
		tp.refuse("the stream carried an event the router cannot read")
		return nil
	}
	if !isNull(ch.Error) {
		return errStreamErrorEvent
	}
	if tp.id == "" {
		tp.id, tp.model, tp.created = ch.ID, ch.Model, ch.Created
	}
	if !isNull(ch.Usage) {
		tp.usage = parseUsage(ch.Usage)
	}
	for _, c := range ch.Choices {
		d := &c.Delta
		switch {
		case c.Index != 0:
			tp.refuse("the stream carried several choices")
		case len(d.ToolCalls) > 0 && string(d.ToolCalls) != "null" && string(d.ToolCalls) != "[]", !isNull(d.FunctionCall):
			tp.refuse("a tool call was being streamed")
		case d.ReasoningContent != nil && *d.ReasoningContent != "", d.Reasoning != nil && *d.Reasoning != "":
			tp.refuse("the stream carried reasoning")
		case d.Refusal != nil && *d.Refusal != "":
			tp.refuse("the stream carried a refusal")
		case c.FinishReason != nil:
			tp.refuse("the answer had finished")
		}
		if d.Content != nil {
			tp.text.WriteString(*d.Content)
		}
	}
	return nil
}

// messagesEvent is what the tap and the stitcher read of an Anthropic stream event.
type messagesEvent struct {
	Type    string `json:"type"`
	Index   int    `json:"index"`
	Message struct {
		ID    string          `json:"id"`
		Model string          `json:"model"`
		Usage json.RawMessage `json:"usage"`
	} `json:"message"`
	ContentBlock struct {
		Type string `json:"type"`
	} `json:"content_block"`
	Delta struct {
		Type       string  `json:"type"`
		Text       string  `json:"text"`
		StopReason *string `json:"stop_reason"`
	} `json:"delta"`
	Usage json.RawMessage `json:"usage"`
}

func (tp *streamTap) seeMessages(data []byte) error {
	var ev messagesEvent
	if json.Unmarshal(data, &ev) != nil {
		tp.refuse("the stream carried an event the router cannot read")
		return nil
	}
	switch ev.Type {
	case "error":
		return errStreamErrorEvent
	case "message_start":
		tp.id, tp.model = ev.Message.ID, ev.Message.Model
		tp.usage = parseUsage(ev.Message.Usage)
	case "content_block_start":
		tp.lastIndex, tp.open = ev.Index, true
		switch ev.ContentBlock.Type {
		case "text":
		case "tool_use", "server_tool_use":
			tp.refuse("a tool call was being streamed")
		case "thinking", "redacted_thinking":
			tp.refuse("the stream carried thinking")
		default:
			tp.refuse("the stream carried a " + clipEcho(ev.ContentBlock.Type) + " block")
		}
	case "content_block_delta":
		switch ev.Delta.Type {
		case "text_delta":
			tp.text.WriteString(ev.Delta.Text)
		case "thinking_delta", "signature_delta":
			tp.refuse("the stream carried thinking")
		case "input_json_delta":
			tp.refuse("a tool call was being streamed")
		default:
			tp.refuse("the stream carried a " + clipEcho(ev.Delta.Type))
		}
	case "content_block_stop":
		tp.open = false
	case "message_delta":
		if ev.Delta.StopReason != nil {
			tp.refuse("the answer had finished")
		}
		if u := parseUsage(ev.Usage); u.OutputTokens > 0 {
			tp.usage.OutputTokens = u.OutputTokens
		}
	}
	return nil
}

func (tp *streamTap) refuse(why string) {
	if tp.unfaithful == "" {
		tp.unfaithful = why
	}
}

// resume tries to continue the call's broken stream (reason says how it broke) on other
// targets of the pool, as often as the resume setting allows. It reports whether a
// continuation ended the client's stream well, the reason to give the client when not, and
// the usage of every attempt (usage is the broken one's).
func (h *Handler) resume(c *call, broken *target, client *lazyFlusher, reason string, usage tokenUsage) (bool, string, tokenUsage) {
	tp, rt := client.tap, &h.runtime
	var tried selector.Tried
	for i, t := range c.p.targets {
		if t == broken {
			tried.Add(i)
		}
	}
	asked := 0 // continuations asked since the stream last broke
	refuse := func(why string) (bool, string, tokenUsage) {
		c.rec.notes.notResumed = why
		outcome := "refused"
		if asked > 0 {
			outcome = "failed"
		}
		resumesTotal.WithLabelValues(c.rec.model, outcome).Inc()
		return false, reason + " (not resumed: " + why + ")", usage
	}
	if endsWithAssistant(c.body) {
		return refuse("the request ends with an assistant turn of its own")
	}
	for {
		switch {
		case tp.unfaithful != "":
			return refuse(tp.unfaithful)
		case len(c.rec.notes.resumes) >= rt.resumes:
			return refuse("the resume setting's limit was reached")
		case h.now().Sub(c.rec.start) >= rt.tryDuration:
			return refuse("try_duration was spent")
		case c.r.Context().Err() != nil:
			return false, reason, usage
		}
		t := h.nextAdmitted(c, &tried, func(t *target) bool { return canContinue(t.Provider) })
		if t == nil {
			if asked > 0 {
				return refuse("no target of the pool continued the answer")
			}
			return refuse("no target of the pool can continue the answer")
		}
		asked++
		res := h.continueOn(c, t, client)
		h.settle(t, res.out)
		usage = usage.plus(res.usage)
		if !res.committed {
			if res.noted {
				c.rec.notes.resumes = c.rec.notes.resumes[:len(c.rec.notes.resumes)-1]
			}
			if c.r.Context().Err() != nil {
				return false, reason, usage
			}
			if ce := h.logger.Check(zap.DebugLevel, "continuation failed"); ce != nil {
				ce.Write(zap.String("model", c.rec.model), zap.String("target", t.Label), zap.String("reason", res.out.reason))
			}
			continue // nothing reached the client: the next continuing target
		}
		resumesTotal.WithLabelValues(c.rec.model, "resumed").Inc()
		asked = 0
		if res.out.class == selector.Success {
			return true, reason, usage
		}
		if res.gone {
			return false, reason, usage
		}
		broken, reason = t, t.scrubString(res.out.reason)
	}
}

func canContinue(p *catalog.Provider) bool {
	switch p.Continuation {
	case catalog.ContinueAnthropic:
		return p.API == catalog.APIAnthropic
	case catalog.ContinuePrefix, catalog.ContinueFinalMessage:
		return p.API.Wire() == catalog.APIOpenAI
	}
	return false
}

// continuation is what one continuation attempt came to.
type continuation struct {
	out       outcome
	committed bool // it wrote to the client
	gone      bool // the client went away
	usage     tokenUsage
	note      resumeNote
	// noted says note was added to the call's notes when the continuation was sent (so that
	// an explanation written during its stream tells of it); taken back if it never committed.
	noted bool
}

// continueOn asks t to continue the answer the client has, and stitches its stream into the
// client's.
func (h *Handler) continueOn(c *call, t *target, client *lazyFlusher) (res continuation) {
	tp := client.tap
	have := tp.text.String()
	body, sent, err := c.continuationBody(t, have)
	if err != nil {
		res.out = outcome{class: selector.ClientError, reason: "continuation request: " + err.Error()}
		return res
	}
	ctx, cancel := context.WithCancel(c.r.Context())
	defer cancel()
	req, err := c.newRequest(ctx, t, len(c.r.Header)+2)
	if err != nil {
		res.out = outcome{class: selector.UpstreamDown, reason: "bad upstream url"}
		return res
	}
	copyRequestHeader(req.Header, c.r.Header)
	setDialectHeaders(req.Header, t)
	setRequestBody(req, reqbody.Whole(body))
	if t.auth != nil {
		req.Header[t.conn.keyHeader] = t.auth
	}
	wd := startWatchdog(h.firstEventDeadline(c, t, h.now()), cancel)
	defer wd.stop()
	resp, err := t.transport.RoundTrip(req)
	if err != nil {
		res.out = outcome{class: selector.UpstreamDown, reason: transportReason(err)}
		if wd.fired.Load() {
			res.out.reason = wd.why
		}
		return res
	}
	defer resp.Body.Close()
	wd.src = resp.Body
	src := io.Reader(wd)
	if ce := resp.Header.Get("Content-Encoding"); ce != "" {
		dec, err := decompress.NewReader(ce, io.NopCloser(wd))
		if err != nil {
			res.out = outcome{class: selector.UpstreamDown, status: resp.StatusCode, reason: "reply unreadable: " + err.Error()}
			return res
		}
		defer dec.Close()
		src = dec
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		errBody, _ := io.ReadAll(io.LimitReader(src, maxErrorBody))
		errBody = t.scrub(errBody)
		ra := resp.Header.Get("Retry-After")
		class := selector.Classify(resp.StatusCode, errBody, ra != "")
		res.out = outcome{class: class, status: resp.StatusCode,
			keyInvalid: class == selector.KeyRefused && selector.KeyInvalid(resp.StatusCode, errBody),
			retryAfter: selector.RetryAfter(ra, errBody, h.now()), reason: fmt.Sprintf("continuation refused with %d", resp.StatusCode)}
		return res
	}
	includeUsage := h.IncludeUsage && c.f.Stream
	tr := c.streamTranslator(t, includeUsage)
	if !isEventStream(resp.Header) {
		// A stream labelled otherwise is told by its first bytes, as on a first attempt; a
		// whole reply from a target that ignored "stream" is the rest of the answer, streamed
		// as a whole reply to a first attempt is (streamWhole).
		br := bufio.NewReaderSize(src, 256)
		src = br
		if !beginsSSE(br) {
			chunks, reason := h.wholeContinuation(c, t, br)
			if reason != "" {
				res.out = outcome{class: selector.UpstreamDown, status: resp.StatusCode, reason: reason}
				if wd.fired.Load() {
					res.out.reason = wd.why
				}
				return res
			}
			src, tr = bytes.NewReader(chunks), c.streamFromPivot()
		}
	}
	st := newStitcher(tp, have, sent)
	st.wantUsage = c.ep.dialect == sse.Anthropic || asksUsage(c.body) ||
		h.IncludeUsage && jsonscan.ObjectKey(c.body, "stream_options") == nil
	res.note = resumeNote{target: t.Label, event: tp.events, replayed: len([]rune(sent))}
	c.rec.notes.resumes, res.noted = append(c.rec.notes.resumes, res.note), true
	rd := sse.NewReader(src, 0)
	defer rd.Release()
	// answered: the continuation's first real event came; spoke: its answer began (a
	// translator says by ErrEmpty when it never did).
	answered, spoke := false, tr != nil
	var out, w []byte
	// charged is the continuation's usage: what it reported (its translator's count when the
	// stitched stream carried none: a chat client that asked for no usage chunk), with
	// estimates for what is missing when it reached the client and ended before its final
	// usage, as a broken first part has (partialUsage): its prompt is the request and the
	// answer replayed, its output the text it relayed. One that failed before it reached the
	// client is charged what it reported, as a failed first attempt is.
	textBefore := client.text.estimate()
	charged := func() tokenUsage {
		u := st.usage
		if !u.known() && tr != nil {
			u = pivotUsage(tr.Usage())
		}
		if !res.committed || st.done || st.final || tr != nil && (tr.Done() || dialect.UsageFinal(tr)) {
			return u
		}
		replayed := u.input() == 0
		u = c.partialUsage(u, max(client.text.estimate()-textBefore, 0))
		if replayed {
			u.PromptTokens += int64(len(sent)+3) / 4
		}
		return u
	}
	fail := func(reason string) continuation {
		res.out = outcome{class: selector.UpstreamDown, status: resp.StatusCode, reason: reason}
		if wd.fired.Load() {
			res.out.reason = wd.why
		}
		res.usage = charged()
		return res
	}
	for {
		var ev []byte
		err := io.EOF
		if st.done || tr != nil && tr.Done() {
			h.awaitUpstreamEnd(t, rd, wd) // the answer is whole: only its framing is left to close
		} else {
			ev, err = rd.Next()
		}
		if err == io.EOF && tr != nil {
			out, err = tr.Finish(out[:0])
			if err == nil {
				w, err = st.feedAll(w[:0], out)
			}
			if err == nil {
				w = st.finish(w)
				if len(w) > 0 {
					res.committed = true
					if _, werr := client.Write(w); werr != nil {
						res.gone = true
					}
				}
				if !st.done {
					err = errNoTerminator
				}
			}
			if err == nil {
				err = io.EOF
			}
		}
		if err == io.EOF && tr == nil {
			if w = st.finish(w[:0]); len(w) > 0 {
				res.committed = true
				if _, werr := client.Write(w); werr != nil {
					res.gone = true
				}
			}
			if !st.done {
				err = errNoTerminator
			}
		}
		if err == io.EOF && st.done {
			break
		}
		if err != nil {
			if !answered {
				return fail(beforeFirstEvent(err))
			}
			if errors.Is(err, errNoTerminator) {
				return fail("upstream closed the stream before its end")
			}
			return fail("upstream stream failed: " + transportReason(err))
		}
		if !answered {
			data, reason := firstEvent(ev)
			if reason != "" {
				return fail(reason)
			}
			if data == nil {
				continue
			}
			answered = true
			wd.waitEach(t.conn.streamIdleTimeout, reasonStalled)
		}
		if !spoke {
			// A continuation that ends after its prelude alone would end the client's answer
			// where it broke, as if it were whole.
			data, _ := sse.Data(ev)
			switch {
			case sse.IsDone(ev) || endsPrelude(c.ep.dialect, data):
				return fail(dialect.ErrEmpty.Error())
			case data != nil && !inPrelude(c.ep.dialect, data):
				spoke = true
			}
		}
		in := ev
		if tr != nil {
			if out, err = tr.Event(out[:0], ev); err != nil {
				return fail("upstream stream failed: " + err.Error())
			}
			in = out
		}
		if w, err = st.feedAll(w[:0], in); err != nil {
			return fail(err.Error())
		}
		if len(w) > 0 {
			if !res.committed {
				res.committed = true
				wd.beforeRead = client
			}
			if _, err := client.Write(w); err != nil {
				res.gone = true
				res.out = outcome{done: true, class: selector.ClientGone}
				res.usage = charged()
				return res
			}
		}
	}
	wd.beforeRead = nil
	if err := client.flush(); err != nil {
		res.gone = true
		res.out = outcome{done: true, class: selector.ClientGone}
		res.usage = charged()
		return res
	}
	res.committed = true
	res.note.dropped = st.seam.dropped
	c.rec.notes.resumes[len(c.rec.notes.resumes)-1].dropped = res.note.dropped
	res.out = outcome{done: true, class: selector.Success, status: resp.StatusCode}
	res.usage = charged()
	return res
}

// wholeContinuation reads a continuation that came as a whole reply and returns it as the
// pivot stream it would have come as, with its usage (the stitcher adds it to the client's),
// or why it is no answer.
func (h *Handler) wholeContinuation(c *call, t *target, body io.Reader) (chunks []byte, reason string) {
	buf := getBuffer()
	defer putBuffer(buf)
	err := readAtMost(buf, body, h.runtime.maxResponse+1)
	switch reply := buf.Bytes(); {
	case err != nil:
		return nil, "continuation truncated: " + transportReason(err)
	case int64(len(reply)) > h.runtime.maxResponse:
		return nil, "continuation larger than max_response"
	case !jsonscan.Valid(reply):
		return nil, "continuation is neither a stream nor one whole JSON value"
	case replyUsage(t.Provider.API, reply) == (tokenUsage{}) && hasErrorObject(reply):
		return nil, "continuation is an error: " + snippet(reply)
	}
	if chunks, err = c.replyStream(t, buf.Bytes(), true); err != nil {
		return nil, "continuation not translatable: " + err.Error()
	}
	return chunks, ""
}

// continuationBody is the call's request for t with the answer so far (have) as a partial
// assistant turn in t's continuation form, and the text sent as that turn (have, less the
// trailing whitespace Anthropic refuses). The request's top-level members are decoded and
// encoded again (their order may change; every value is kept as it came).
func (c *call) continuationBody(t *target, have string) ([]byte, string, error) {
	var pivot []byte
	var err error
	native := c.ep.native(t.Provider)
	if native {
		pivot = c.body
	} else if pivot, err = c.pivotRequest(t.Upstream); err != nil {
		return nil, "", err
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(pivot, &top); err != nil {
		return nil, "", err
	}
	var msgs []json.RawMessage
	if err := json.Unmarshal(top["messages"], &msgs); err != nil {
		return nil, "", err
	}
	sent := have
	anthropicWire := t.Provider.API == catalog.APIAnthropic
	if anthropicWire {
		sent = strings.TrimRight(have, " \t\r\n") // Anthropic refuses a prefill that ends in blanks
	}
	// With no text yet (a stream that broke before its first text), the continuation is the
	// answer from its start: the request as it came.
	if sent != "" {
		msg := map[string]any{"role": "assistant", "content": sent}
		switch t.Provider.Continuation {
		case catalog.ContinuePrefix:
			msg["prefix"] = true
		case catalog.ContinueFinalMessage:
			top["continue_final_message"] = json.RawMessage("true")
			top["add_generation_prompt"] = json.RawMessage("false")
		}
		m, _ := json.Marshal(msg)
		msgs = append(msgs, m)
	}
	top["messages"], _ = json.Marshal(msgs)
	model, _ := json.Marshal(t.Upstream)
	top["model"] = model
	top["stream"] = json.RawMessage("true")
	if !anthropicWire && noStreamOptions(top) {
		top["stream_options"] = json.RawMessage(`{"include_usage":true}`)
	}
	out, err := json.Marshal(top)
	if err != nil {
		return nil, "", err
	}
	if anthropicWire && !native {
		if out, err = anthropic.RequestFromOpenAI(out, anthropic.FromOpenAIOptions{Model: t.Upstream}); err != nil {
			return nil, "", err
		}
		if err := json.Unmarshal(out, &top); err != nil {
			return nil, "", err
		}
	}
	if anthropicWire {
		// A prefill is refused with thinking on; a stream that carried thinking is never
		// resumed, so the answer being continued had none.
		delete(top, "thinking")
		if cm, ok := top["context_management"]; ok {
			if cm = reqbody.WithoutThinkingEdits(cm); cm == nil {
				delete(top, "context_management")
			} else {
				top["context_management"] = cm
			}
		}
		delete(top, "stream_options")
		top["stream"] = json.RawMessage("true")
		if out, err = json.Marshal(top); err != nil {
			return nil, "", err
		}
	}
	return out, sent, nil
}

// noStreamOptions says an OpenAI continuation asks for the usage chunk: always, unless the
// request set stream_options itself. The stitcher drops the chunk when the client did not
// ask for it.
func noStreamOptions(top map[string]json.RawMessage) bool {
	_, set := top["stream_options"]
	return !set
}

// endsWithAssistant reports whether a chat or messages request ends with an assistant
// message: a prefill of the client's own, which the text relayed continues.
func endsWithAssistant(body []byte) bool {
	var req struct {
		Messages []struct {
			Role string `json:"role"`
		} `json:"messages"`
	}
	return json.Unmarshal(body, &req) == nil && len(req.Messages) > 0 && req.Messages[len(req.Messages)-1].Role == "assistant"
}

// isErrorData reports whether an event's data is the dialect's error event.
func isErrorData(d sse.Dialect, data []byte) bool {
	if d == sse.Anthropic {
		return string(jsonscan.ObjectKey(data, "type")) == `"error"`
	}
	return hasErrorObject(data)
}
