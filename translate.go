package llmrouter

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/dialect"
	"github.com/llmrouter/caddy-llm-router/dialect/anthropic"
	"github.com/llmrouter/caddy-llm-router/dialect/gemini"
	"github.com/llmrouter/caddy-llm-router/dialect/responses"
	"github.com/llmrouter/caddy-llm-router/internal/jsonscan"
	"github.com/llmrouter/caddy-llm-router/reqbody"
	"github.com/llmrouter/caddy-llm-router/sse"
)

// Crossing dialects. A target whose provider speaks the client's dialect gets the client's
// bytes with the model spliced (the zero-decode path); any other gets the request translated
// through the pivot, OpenAI chat, and its reply and stream are translated back. The client
// dialects are OpenAI chat (the pivot itself), Anthropic Messages, the Responses API and
// Gemini; the upstream wires are OpenAI (Azure's too), Anthropic and Gemini. Each dialect
// package has one translator each way between its dialect and the pivot, so a request from
// one non-pivot dialect to another crosses twice (client -> pivot -> upstream), and so do its
// reply and stream, back.

// errTranslation marks a request the router could not put in the upstream's dialect: the
// client's fault (dialect/anthropic wraps ErrBadRequest), answered 400, never retried.
var errTranslation = errors.New("request cannot be translated")

// translatedBody is the request in one upstream dialect, with its fields for the model splice.
type translatedBody struct {
	body []byte
	f    reqbody.Fields
	// gemini are the options a Gemini body was translated with: they depend on the target's
	// model, so a target of another model may need its own (the body is not spliced per target).
	gemini gemini.FromOpenAIOptions
	// err is why the request does not translate into this wire (the client's fault); no
	// target of the wire takes it.
	err error
}

// wireIndex indexes call.translated by an API's wire.
func wireIndex(api catalog.API) int {
	switch api.Wire() {
	case catalog.APIAnthropic:
		return 1
	case catalog.APIGemini:
		return 2
	}
	return 0
}

// bodyFor is the request body for target t: the client's body with t's model id spliced in
// when t speaks the client's dialect, else the translated request (translated once per call
// and upstream dialect, then spliced per target). Gemini bodies name no model (it is in the
// URL), so they go as they are.
func (c *call) bodyFor(t *target, includeUsage bool) (reqbody.Body, error) {
	isGemini := t.Provider.API == catalog.APIGemini
	if c.ep.native(t.Provider) {
		if isGemini {
			var rename func([]byte, string) ([]byte, bool, error)
			switch {
			case c.ep == geminiBatchEmbedEndpoint:
				rename = gemini.EmbedModels // each request of the batch names the model
			case c.ep == geminiCountEndpoint:
				rename = gemini.CountModel // so may the request it counts
			case c.p.mixesWires() && c.ep.cap != catalog.CapEmbeddings:
				return c.signedGeminiBody(), nil
			}
			if rename != nil {
				// The body names the public model, which must be the URL's upstream id.
				body, changed, err := rename(c.body, t.Upstream)
				if err != nil {
					return reqbody.Body{}, fmt.Errorf("%w: %w", errTranslation, err)
				}
				if changed {
					return reqbody.Whole(body), nil
				}
			}
			return reqbody.Whole(c.body).WithLease(c.lease), nil
		}
		return c.fitBody(t, reqbody.RewriteQuoted(c.body, c.f, t.upstreamQuoted(), includeUsage).WithLease(c.lease), c.f), nil
	}
	tb, err := c.translation(t)
	if err != nil {
		return reqbody.Body{}, err
	}
	if isGemini {
		return reqbody.Whole(tb.body), nil
	}
	return c.fitBody(t, reqbody.RewriteQuoted(tb.body, tb.f, t.upstreamQuoted(), false), tb.f), nil
}

// translation is the request translated into t's wire (t does not speak the client's
// dialect): translated once per call and wire (and for Gemini, per distinct options), the
// result kept, a failure too. The error wraps errTranslation.
func (c *call) translation(t *target) (*translatedBody, error) {
	if c.translated == nil {
		c.translated = new([3]translatedBody)
	}
	tb := &c.translated[wireIndex(t.Provider.API)]
	if tb.err != nil {
		return nil, tb.err
	}
	isGemini := t.Provider.API == catalog.APIGemini
	var gopts gemini.FromOpenAIOptions
	if isGemini {
		gopts = t.geminiOptions()
	}
	if tb.body == nil || isGemini && tb.gemini != gopts {
		out, err := c.translate(t, gopts)
		if err == nil && !isGemini {
			tb.f, err = reqbody.Scan(out)
		}
		if err != nil {
			tb.err = fmt.Errorf("%w: %w", errTranslation, err)
			return nil, tb.err
		}
		tb.body, tb.gemini = out, gopts
	}
	return tb, nil
}

// translates reports whether the request can go to t: always when t speaks the client's
// dialect, else when it translates into t's wire. A target it does not translate for is
// passed over, as one whose provider does not serve the endpoint is: another target of the
// pool may take the request as it is (OpenAI takes a conversation of system messages alone,
// Anthropic and Gemini do not). The first such error is kept for the client, in case no
// target takes the request.
func (c *call) translates(t *target) bool {
	if c.ep.body != bodyJSON || c.ep.native(t.Provider) {
		return true
	}
	if _, err := c.translation(t); err != nil {
		if c.untranslated == nil {
			c.untranslated = err
		}
		return false
	}
	return true
}

// signedGeminiBody is a Gemini client's body for a Gemini target of a pool that mixes wires:
// a function call that another wire's provider made came to the client without a thought
// signature, and Gemini 3 refuses it replayed so; it gets the dummy one (SignReplayedCalls).
// Worked out once per call; the Gemini slot of c.translated is free, as a Gemini client's
// body is never translated to Gemini.
func (c *call) signedGeminiBody() reqbody.Body {
	if c.translated == nil {
		c.translated = new([3]translatedBody)
	}
	tb := &c.translated[wireIndex(catalog.APIGemini)]
	if tb.body == nil {
		tb.body = gemini.SignReplayedCalls(c.body)
	}
	if len(tb.body) == len(c.body) {
		return reqbody.Whole(c.body).WithLease(c.lease)
	}
	return reqbody.Whole(tb.body)
}

// fitBody is body (scanned as f) fitted to t, where the upstream would refuse it with a 400:
// its output limits lowered to the most t's model writes (its max_output; Claude Code asks
// 32,000 of every model); for an OpenAI reasoning model, max_tokens written as
// max_completion_tokens and the sampling parameters dropped; and reasoning_effort or thinking
// dropped for a model known not to reason, or for a turn Anthropic would refuse to continue
// with thinking (see fitFor). Only a body that needs it is copied.
func (c *call) fitBody(t *target, body reqbody.Body, f reqbody.Fields) reqbody.Body {
	if fit := c.fitFor(t); fit.Needed(f) {
		return reqbody.Whole(reqbody.FitTo(body.Bytes(), fit))
	}
	return body
}

// fitFor is how the call's body is fitted to t: t's own fit, and no thinking for an Anthropic
// client's tool turn that another wire's provider of a mixed pool made. That turn comes back
// without a signed thinking block, and an Anthropic target refuses to continue it with
// thinking on (a 400 the client did not cause); without thinking it answers.
func (c *call) fitFor(t *target) reqbody.Fit {
	fit := t.fit()
	if c.ep == messagesEndpoint && c.f.Reasoning && t.Provider.API.Wire() == catalog.APIAnthropic && c.p.mixesWires() {
		if c.unsignedTurn == 0 {
			c.unsignedTurn = 1
			if anthropic.UnsignedToolTurn(c.body) {
				c.unsignedTurn = 2
			}
		}
		fit.NoReasoning = fit.NoReasoning || c.unsignedTurn == 2
	}
	return fit
}

// fit is how a body in t's wire is fitted to t (see fitBody).
func (t *target) fit() reqbody.Fit {
	reasoner := needsCompletionTokens(t.Upstream)
	openAIReasoner := reasoner && t.Provider.API.Wire() == catalog.APIOpenAI
	// gpt-5-chat-latest takes max_completion_tokens like the others, and a temperature too.
	fit := reqbody.Fit{CompletionTokens: openAIReasoner, NoSampling: openAIReasoner && !strings.Contains(t.Upstream, "-chat")}
	if mi := t.info; mi != nil {
		fit.Limit = int64(mi.MaxOutput)
		fit.NoReasoning = !reasoner && len(mi.Supports) > 0 && !slices.Contains(mi.Supports, "reasoning")
	}
	return fit
}

// fitted says what fitBody changed in the body sent to t, for X-LLM-Router-Fitted; "" for
// nothing, and for a Gemini target, whose body is fitted in its translation.
func (c *call) fitted(t *target) string {
	if c.ep.body != bodyJSON || t.Provider.API == catalog.APIGemini {
		return ""
	}
	f := c.f
	if !c.ep.native(t.Provider) {
		if c.translated == nil {
			return ""
		}
		f = c.translated[wireIndex(t.Provider.API)].f
	}
	return c.fitFor(t).Describe(f)
}

// needsCompletionTokens says an upstream id is one of OpenAI's reasoning models (o1, o3,
// o4-mini, the gpt-5 family), which refuse max_tokens for max_completion_tokens. A vendor-
// prefixed id (`openai/gpt-5` at OpenRouter) is another service's, which takes max_tokens.
func needsCompletionTokens(id string) bool {
	return strings.HasPrefix(id, "gpt-5") || len(id) >= 2 && id[0] == 'o' && id[1] >= '1' && id[1] <= '9'
}

// geminiOptions are the options of a translation for t, a Gemini target: what depends on its
// model.
func (t *target) geminiOptions() gemini.FromOpenAIOptions {
	o := gemini.FromOpenAIOptions{AlwaysThinks: gemini.AlwaysThinks(t.Upstream)}
	if t.info != nil {
		o.MaxOutputTokens = t.info.MaxOutput
	}
	return o
}

// translate puts the client's request in t's dialect: to the pivot (unless the client speaks
// it), then from the pivot to t's wire (unless t speaks it), with gopts for a Gemini target.
func (c *call) translate(t *target, gopts gemini.FromOpenAIOptions) ([]byte, error) {
	pivot, err := c.pivotRequest(t.Upstream)
	if err != nil {
		return nil, err
	}
	switch t.Provider.API.Wire() {
	case catalog.APIAnthropic:
		return anthropic.RequestFromOpenAI(pivot, anthropic.FromOpenAIOptions{Model: t.Upstream})
	case catalog.APIGemini:
		return gemini.RequestFromOpenAI(pivot, gopts)
	}
	return pivot, nil
}

// pivotRequest is the client's request as an OpenAI chat request for the model id upstream
// (spliced per target later): the client's own bytes for an OpenAI client.
func (c *call) pivotRequest(upstream string) ([]byte, error) {
	switch c.ep.dialect {
	case sse.Anthropic:
		return anthropic.RequestToOpenAI(c.body, anthropic.ToOpenAIOptions{Model: upstream})
	case sse.Responses:
		return responses.RequestToOpenAI(c.body, responses.ToOpenAIOptions{Model: upstream})
	case sse.Gemini:
		if c.ep.cap == catalog.CapEmbeddings {
			return gemini.EmbedRequestToOpenAI(c.body, c.ep == geminiBatchEmbedEndpoint, upstream)
		}
		// The pivot request goes only to other wires, none of which replays a thought
		// signature, and OpenAI refuses tool call ids over 40 bytes.
		return gemini.RequestToOpenAI(c.body, gemini.ToOpenAIOptions{Model: upstream, Stream: c.f.Stream, IncludeUsage: true,
			DropSignatures: true})
	}
	return c.body, nil
}

// needsStoredState reports whether a Responses request depends on state kept by the provider
// that made an earlier response: previous_response_id, store: true, or an item_reference input
// item (looked for only when the quoted word is in the body: inside a string its quotes would
// be escaped).
func needsStoredState(body []byte) bool {
	id := jsonscan.ObjectKey(body, "previous_response_id")
	return len(id) > 2 && id[0] == '"' || string(jsonscan.ObjectKey(body, "store")) == "true" ||
		bytes.Contains(body, []byte(`"item_reference"`)) && hasItemReference(jsonscan.ObjectKey(body, "input"))
}

// hasItemReference reports whether an input item list holds an item_reference. The word alone
// says nothing: a tool's schema, or a JSON schema output, may name a property so.
func hasItemReference(input []byte) bool {
	for e, p := jsonscan.Elem(input, 0); e != nil; e, p = jsonscan.Elem(input, p) {
		if string(jsonscan.ObjectKey(e, "type")) == `"item_reference"` {
			return true
		}
	}
	return false
}

func storedStateMessage(model string) string {
	return fmt.Sprintf("previous_response_id, store: true and item_reference inputs need a provider that serves the Responses API natively "+
		"(the provider setting responses), and no provider of the model %q does; send store: false and the whole "+
		"conversation in input instead", clipEcho(model))
}

// responsesReplyOptions are the options of a reply's translation for a Responses client: the
// public model, and the request's namespace and custom tools, whose calls are written back as
// such.
func (c *call) responsesReplyOptions() responses.ReplyOptions {
	o := responses.ReplyOptions{Model: c.p.route.Name}
	o.Namespaces, o.Custom = responses.ToolNames(c.body)
	return o
}

// setDialectHeaders gives an Anthropic upstream the anthropic-version it needs (the client's,
// when an Anthropic client sent one) and keeps Anthropic's headers (anthropic-beta above all,
// whose unknown values OpenAI-compatible upstreams refuse with 400) from every other upstream.
func setDialectHeaders(h http.Header, t *target) {
	for k, v := range t.Provider.ExtraHeaders() {
		h[k] = v
	}
	if t.Provider.API == catalog.APIAnthropic {
		if len(h["Anthropic-Version"]) == 0 {
			h["Anthropic-Version"] = t.conn.anthropicVersion
		}
		return
	}
	for k := range h {
		if len(k) > 10 && k[:10] == "Anthropic-" {
			delete(h, k)
		}
	}
}

// upstreamURL is where the attempt goes: the node, the endpoint's path at that provider's API,
// and for a request that passes through in its own dialect, the client's query (Claude Code's
// `?beta=true`).
func (c *call) upstreamURL(t *target) string {
	u := endpointURL(c.ep, t.Target, c.f.Stream)
	if c.sendsQuery(t) {
		return appendQuery(u, c.r.URL.RawQuery)
	}
	return u
}

// sendsQuery reports whether the attempt at t carries the client's query (see upstreamURL).
func (c *call) sendsQuery(t *target) bool {
	return c.r.URL.RawQuery != "" && c.ep.dialect == sse.Anthropic && c.ep.native(t.Provider)
}

// endpointURL is the URL of endpoint ep at target t, with the provider's extra query: for
// OpenAI and Anthropic the node and the endpoint's path; for Gemini the model's method
// (`/models/{id}:generateContent`, or `:streamGenerateContent?alt=sse` for a stream); for
// Azure the deployment's path with the api-version, or the v1 API's path.
func endpointURL(ep *endpoint, t *catalog.Target, stream bool) string {
	p := t.Provider
	var u string
	switch p.API {
	case catalog.APIGemini:
		method := ep.geminiMethod
		if stream && method == "generateContent" {
			method = "streamGenerateContent?alt=sse"
		}
		u = t.Node + "/" + geminiResource(t.Upstream) + ":" + method
	case catalog.APIAzure:
		if p.APIVersion == catalog.AzureV1 {
			u = t.Node + "/openai/v1" + ep.pathAt(p)
		} else {
			u = t.Node + "/openai/deployments/" + url.PathEscape(t.Upstream) + ep.pathAt(p) + "?api-version=" + url.QueryEscape(p.APIVersion)
		}
	default:
		u = t.Node + ep.pathAt(p)
	}
	if q := p.ExtraQuery(); q != "" {
		u = appendQuery(u, q)
	}
	return u
}

// geminiResource is the resource name of a Gemini model id: `models/{id}`, unless the id
// already names its collection (`models/...`, `tunedModels/...`).
func geminiResource(id string) string {
	if strings.Contains(id, "/") {
		return id
	}
	return "models/" + id
}

func appendQuery(u, q string) string {
	if strings.IndexByte(u, '?') >= 0 {
		return u + "&" + q
	}
	return u + "?" + q
}

// replyFor turns an upstream's whole 2xx reply into the client's dialect: to the pivot from
// the upstream's wire, then from the pivot to the client's dialect.
func (c *call) replyFor(t *target, reply []byte) ([]byte, error) {
	if c.ep.native(t.Provider) {
		return reply, nil
	}
	// An unsigned thinking block that the client replays to an Anthropic target of the same
	// pool would be refused: in a pool with one, reasoning from another upstream is dropped.
	dropReasoning := c.p.hasAPI(catalog.APIAnthropic)
	pivot, err := c.pivotReply(t, reply)
	if err != nil {
		return nil, err
	}
	switch c.ep.dialect {
	case sse.Anthropic:
		return anthropic.ResponseFromOpenAI(pivot, anthropic.ReplyOptions{Model: c.p.route.Name, DropReasoning: dropReasoning})
	case sse.Responses:
		return responses.ResponseFromOpenAI(pivot, c.responsesReplyOptions())
	case sse.Gemini:
		if c.ep.cap == catalog.CapEmbeddings {
			return gemini.EmbedResponseFromOpenAI(pivot, c.ep == geminiBatchEmbedEndpoint)
		}
		return gemini.ResponseFromOpenAI(pivot, gemini.ReplyOptions{Model: c.p.route.Name})
	}
	return pivot, nil
}

// pivotReply is an upstream's whole 2xx reply as a pivot reply: translated from the upstream's
// wire, an OpenAI upstream's as it came.
func (c *call) pivotReply(t *target, reply []byte) ([]byte, error) {
	switch t.Provider.API.Wire() {
	case catalog.APIAnthropic:
		return anthropic.ResponseToOpenAI(reply, anthropic.ReplyOptions{Model: c.p.route.Name})
	case catalog.APIGemini:
		return gemini.ResponseToOpenAI(reply, gemini.ReplyOptions{Model: c.p.route.Name, DropSignatures: c.p.mixesWires()})
	}
	return reply, nil
}

// streamTranslator is the translator of t's stream into the client's dialect, or nil when the
// stream passes through as it is: to the pivot from the upstream's wire, then from the pivot
// to the client's dialect, chained when both are needed.
func (c *call) streamTranslator(t *target, includeUsage bool) dialect.StreamTranslator {
	if c.ep.native(t.Provider) {
		if c.ep.dialect == sse.Gemini {
			// Gemini streams have no terminator of their own to relay by: the passthrough
			// watches for the final chunk (and frames a JSON array when asked).
			return gemini.NewPassthrough(c.route.array)
		}
		return nil
	}
	second := c.streamFromPivot()
	// Chained, the pivot stream is internal: it carries usage for the second translator.
	model, usage := "", true
	if second == nil {
		model, usage = c.p.route.Name, includeUsage || asksUsage(c.body)
	}
	var first dialect.StreamTranslator
	switch t.Provider.API.Wire() {
	case catalog.APIAnthropic:
		first = anthropic.NewStreamToOpenAI(anthropic.StreamToOpenAIOptions{Model: model, IncludeUsage: usage})
	case catalog.APIGemini:
		first = gemini.NewStreamToOpenAI(gemini.StreamToOpenAIOptions{Model: model, IncludeUsage: usage, DropSignatures: c.p.mixesWires()})
	}
	switch {
	case first == nil:
		return second
	case second == nil:
		return first
	}
	return dialect.NewChain(first, second)
}

// streamFromPivot is the translator of a pivot stream into the client's dialect, nil for an
// OpenAI client.
func (c *call) streamFromPivot() dialect.StreamTranslator {
	switch c.ep.dialect {
	case sse.Anthropic:
		// message_start must carry input_tokens (Claude Code fails without), and an OpenAI
		// stream reports usage only at its end: an estimate stands in until message_delta.
		n, _ := anthropic.EstimateTokens(c.body)
		return anthropic.NewStreamFromOpenAI(anthropic.StreamFromOpenAIOptions{Model: c.p.route.Name, InputTokens: n,
			DropReasoning: c.p.hasAPI(catalog.APIAnthropic)})
	case sse.Responses:
		return responses.NewStreamFromOpenAI(c.responsesReplyOptions())
	case sse.Gemini:
		return gemini.NewStreamFromOpenAI(gemini.StreamFromOpenAIOptions{Model: c.p.route.Name, Array: c.route.array})
	}
	return nil
}

// asksUsage reports whether an OpenAI chat request asked for the stream's usage chunk.
func asksUsage(body []byte) bool {
	return string(jsonscan.ObjectKey(jsonscan.ObjectKey(body, "stream_options"), "include_usage")) == "true"
}

// errorBodyIn is an upstream's error body as the client's dialect has it: as it came when the
// upstream speaks that dialect, translated through the pivot when not; nil when the body is no
// error object of the upstream's dialect (the router then wraps what it can say in its own
// error).
func errorBodyIn(d sse.Dialect, api catalog.API, status int, body []byte) []byte {
	var pivot []byte
	switch api.Wire() {
	case catalog.APIAnthropic:
		if _, ok := anthropic.ParseError(body); !ok {
			return nil
		}
		if d == sse.Anthropic {
			return body
		}
		pivot = anthropic.ErrorBodyToOpenAI(status, body)
	case catalog.APIGemini:
		if _, ok := gemini.ParseError(body); !ok {
			return nil
		}
		if d == sse.Gemini {
			return body
		}
		pivot = gemini.ErrorBodyToOpenAI(status, body)
	default:
		if !isOpenAIError(body) {
			return nil
		}
		pivot = body
	}
	switch d {
	case sse.Anthropic:
		return anthropic.ErrorBodyFromOpenAI(status, pivot)
	case sse.Gemini:
		return gemini.ErrorBodyFromOpenAI(status, pivot)
	}
	return pivot // the Responses API's errors are OpenAI's
}

// serveCountEstimate answers a count of tokens (Anthropic's count_tokens, Gemini's
// countTokens) for a pool with no provider of the client's dialect to ask, or none that could
// answer: an estimate (the bytes of what the model reads over four, plus fixed costs per image
// and message), never a 404 or a 5xx, as Claude Code counts in bursts.
func (h *Handler) serveCountEstimate(w http.ResponseWriter, d sse.Dialect, body []byte) {
	var out []byte
	n, err := 0, error(nil)
	if d == sse.Gemini {
		if n, err = gemini.EstimateTokens(body); err == nil {
			out = gemini.AppendCountTokens(nil, n)
		}
	} else if n, err = anthropic.EstimateTokens(body); err == nil {
		out = anthropic.AppendCountTokens(nil, n)
	}
	if err != nil {
		writeError(w, d, http.StatusBadRequest, errInvalidRequest, "invalid_request", err.Error())
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Content-Length", strconv.Itoa(len(out)))
	hdr.Set("X-LLM-Router-Estimate", "true")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

// mixesWires reports whether the pool has targets of more than one wire. Then a Gemini
// target's thought signatures stay out of the tool call ids a client replays: the next turn
// may go to OpenAI, which refuses ids over 40 bytes, and a call that comes back to Gemini
// without its signature gets the dummy one that Gemini accepts.
func (p *pool) mixesWires() bool {
	w := p.apis &^ responsesBit
	return w&(w-1) != 0
}

// hasAPI reports whether any target of the pool speaks api's wire.
func (p *pool) hasAPI(api catalog.API) bool { return p.apis&apiBit(api) != 0 }

// serves reports whether any target of the pool can serve the endpoint.
func (p *pool) serves(ep *endpoint) bool {
	for _, api := range [...]catalog.API{catalog.APIOpenAI, catalog.APIAnthropic, catalog.APIGemini} {
		if p.hasAPI(api) && ep.servedBy(api) {
			return true
		}
	}
	return false
}

// responsesBit is set in pool.apis when a target's provider serves the Responses API itself.
const responsesBit = 8

// servesNatively reports whether any target of the pool serves the Responses API itself.
func (p *pool) servesNatively() bool { return p.apis&responsesBit != 0 }

// apiBit is api's wire's bit in pool.apis.
func apiBit(api catalog.API) uint8 { return 1 << wireIndex(api) }
