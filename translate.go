package llmrouter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/dialect"
	"github.com/llmrouter/caddy-llm-router/dialect/anthropic"
	"github.com/llmrouter/caddy-llm-router/dialect/responses"
	"github.com/llmrouter/caddy-llm-router/internal/jsonscan"
	"github.com/llmrouter/caddy-llm-router/reqbody"
	"github.com/llmrouter/caddy-llm-router/sse"
)

// Crossing dialects. A target whose provider speaks the client's dialect gets the client's
// bytes with the model spliced (the zero-decode path); any other gets the request translated
// through the pivot, OpenAI chat, and its reply and stream are translated back. The dialects
// are OpenAI chat (the pivot itself), Anthropic Messages (dialect/anthropic, one translator
// each way) and the Responses API (dialect/responses: to the pivot and back; an Anthropic
// target is reached through the pivot, so its request, reply and stream cross twice).

// errTranslation marks a request the router could not put in the upstream's dialect: the
// client's fault (dialect/anthropic wraps ErrBadRequest), answered 400, never retried.
var errTranslation = errors.New("request cannot be translated")

// translatedBody is the request in one upstream dialect, with its fields for the model splice.
type translatedBody struct {
	body []byte
	f    reqbody.Fields
}

// apiIndex indexes call.translated.
func apiIndex(api catalog.API) int {
	if api == catalog.APIAnthropic {
		return 1
	}
	return 0
}

// bodyFor is the request body for target t: the client's body with t's model id spliced in
// when t speaks the client's dialect, else the translated request (translated once per call
// and upstream dialect, then spliced per target).
func (c *call) bodyFor(t *target, includeUsage bool) (reqbody.Body, error) {
	if c.ep.native(t.Provider) {
		return reqbody.Rewrite(c.body, c.f, t.Upstream, includeUsage).WithLease(c.lease), nil
	}
	tb := &c.translated[apiIndex(t.Provider.API)]
	if tb.body == nil {
		out, err := c.translate(t)
		if err == nil {
			tb.f, err = reqbody.Scan(out)
		}
		if err != nil {
			return reqbody.Body{}, fmt.Errorf("%w: %w", errTranslation, err)
		}
		tb.body = out
	}
	return reqbody.Rewrite(tb.body, tb.f, t.Upstream, false), nil
}

// translate puts the client's request in t's dialect. A Responses request goes through the
// pivot, and on to the Messages API for an Anthropic target.
func (c *call) translate(t *target) ([]byte, error) {
	switch c.ep.dialect {
	case sse.Anthropic:
		return anthropic.RequestToOpenAI(c.body, anthropic.ToOpenAIOptions{Model: t.Upstream})
	case sse.Responses:
		out, err := responses.RequestToOpenAI(c.body, responses.ToOpenAIOptions{Model: t.Upstream})
		if err != nil || t.Provider.API != catalog.APIAnthropic {
			return out, err
		}
		return anthropic.RequestFromOpenAI(out, anthropic.FromOpenAIOptions{Model: t.Upstream})
	}
	return anthropic.RequestFromOpenAI(c.body, anthropic.FromOpenAIOptions{Model: t.Upstream})
}

// needsStoredState reports whether a Responses request depends on state kept by the provider
// that made an earlier response: previous_response_id, store: true, or an item_reference input
// item (the quoted word can only be a JSON token there: inside a string its quotes would be
// escaped).
func needsStoredState(body []byte) bool {
	id := jsonscan.ObjectKey(body, "previous_response_id")
	return len(id) > 2 && id[0] == '"' || string(jsonscan.ObjectKey(body, "store")) == "true" ||
		bytes.Contains(body, []byte(`"item_reference"`))
}

func storedStateMessage(model string) string {
	return fmt.Sprintf("previous_response_id, store: true and item_reference inputs need a provider that serves the Responses API natively "+
		"(the provider setting responses), and no provider of the model %q does; send store: false and the whole "+
		"conversation in input instead", clipEcho(model))
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
	u := t.Node + c.ep.pathAt(t.Provider)
	sep := "?"
	if q := c.r.URL.RawQuery; q != "" && c.ep.dialect == sse.Anthropic && c.ep.native(t.Provider) {
		u += sep + q
		sep = "&"
	}
	if q := t.Provider.ExtraQuery(); q != "" {
		u += sep + q
	}
	return u
}

// replyFor turns an upstream's whole 2xx reply into the client's dialect.
func (c *call) replyFor(t *target, reply []byte) ([]byte, error) {
	if c.ep.native(t.Provider) {
		return reply, nil
	}
	if c.ep.dialect == sse.Responses {
		ropts := responses.ReplyOptions{Model: c.p.route.Name}
		if t.Provider.API != catalog.APIAnthropic {
			return responses.ResponseFromOpenAI(reply, ropts)
		}
		var r anthropic.Response
		if err := json.Unmarshal(reply, &r); err != nil || r.Type != "" && r.Type != "message" {
			return nil, errors.New("anthropic reply is not a message")
		}
		return responses.AppendResponse(nil, anthropic.ToOpenAIResponse(&r, anthropic.ReplyOptions{}), ropts), nil
	}
	// An unsigned thinking block that the client replays to an Anthropic target of the same
	// pool would be refused: in a pool with one, reasoning from an OpenAI upstream is dropped.
	opts := anthropic.ReplyOptions{Model: c.p.route.Name, DropReasoning: c.p.hasAPI(catalog.APIAnthropic)}
	if c.ep.dialect == sse.Anthropic {
		return anthropic.ResponseFromOpenAI(reply, opts)
	}
	return anthropic.ResponseToOpenAI(reply, opts)
}

// streamTranslator is the translator of t's stream into the client's dialect, or nil when the
// stream passes through.
func (c *call) streamTranslator(t *target, includeUsage bool) dialect.StreamTranslator {
	if c.ep.native(t.Provider) {
		return nil
	}
	if c.ep.dialect == sse.Responses {
		tr := responses.NewStreamFromOpenAI(responses.ReplyOptions{Model: c.p.route.Name})
		if t.Provider.API != catalog.APIAnthropic {
			return tr
		}
		return &dialect.Chain{First: anthropic.NewStreamToOpenAI(anthropic.StreamToOpenAIOptions{IncludeUsage: true}), Second: tr}
	}
	if c.ep.dialect == sse.Anthropic {
		// message_start must carry input_tokens (Claude Code fails without), and an OpenAI
		// stream reports usage only at its end: an estimate stands in until message_delta.
		n, _ := anthropic.EstimateTokens(c.body)
		return anthropic.NewStreamFromOpenAI(anthropic.StreamFromOpenAIOptions{Model: c.p.route.Name, InputTokens: n,
			DropReasoning: c.p.hasAPI(catalog.APIAnthropic)})
	}
	return anthropic.NewStreamToOpenAI(anthropic.StreamToOpenAIOptions{Model: c.p.route.Name,
		IncludeUsage: includeUsage || asksUsage(c.body)})
}

// asksUsage reports whether an OpenAI chat request asked for the stream's usage chunk.
func asksUsage(body []byte) bool {
	return string(jsonscan.ObjectKey(jsonscan.ObjectKey(body, "stream_options"), "include_usage")) == "true"
}

// errorBodyIn is an upstream's error body as the client's dialect has it: as it came when the
// upstream speaks that dialect, translated when not; nil when the body is no error object of
// the upstream's dialect (the router then wraps what it can say in its own error).
func errorBodyIn(d sse.Dialect, api catalog.API, status int, body []byte) []byte {
	switch {
	case api == catalog.APIAnthropic:
		if _, ok := anthropic.ParseError(body); !ok {
			return nil
		}
		if d == sse.Anthropic {
			return body
		}
		return anthropic.ErrorBodyToOpenAI(status, body)
	case !isOpenAIError(body):
		return nil
	case d == sse.Anthropic:
		return anthropic.ErrorBodyFromOpenAI(status, body)
	}
	return body
}

// serveCountEstimate answers /v1/messages/count_tokens for a pool with no Anthropic provider
// to ask: an estimate (dialect/anthropic.EstimateTokens: the bytes of what the model reads over
// four, plus fixed costs per image and message), never a 404, as Claude Code counts in bursts.
func (h *Handler) serveCountEstimate(w http.ResponseWriter, body []byte) {
	n, err := anthropic.EstimateTokens(body)
	if err != nil {
		writeError(w, sse.Anthropic, http.StatusBadRequest, errInvalidRequest, "invalid_request", err.Error())
		return
	}
	out := anthropic.AppendCountTokens(nil, n)
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Content-Length", strconv.Itoa(len(out)))
	hdr.Set("X-LLM-Router-Estimate", "true")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

// hasAPI reports whether any target of the pool speaks api.
func (p *pool) hasAPI(api catalog.API) bool { return p.apis&apiBit(api) != 0 }

// serves reports whether any target of the pool can serve the endpoint.
func (p *pool) serves(ep *endpoint) bool {
	return (ep.openaiPath != "" && p.hasAPI(catalog.APIOpenAI)) ||
		(ep.anthropicPath != "" && p.hasAPI(catalog.APIAnthropic))
}

// responsesBit is set in pool.apis when a target's provider serves the Responses API itself.
const responsesBit = 4

// servesNatively reports whether any target of the pool serves the Responses API itself.
func (p *pool) servesNatively() bool { return p.apis&responsesBit != 0 }

func apiBit(api catalog.API) uint8 {
	if api == catalog.APIAnthropic {
		return 2
	}
	return 1
}
