package llmrouter

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
)

// isHopByHop reports whether a canonical header name is hop-by-hop (RFC 9110 section 7.6.1):
// it describes one connection and never crosses a proxy, in either direction.
func isHopByHop(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
		"Proxy-Authenticate", "Proxy-Authorization":
		return true
	}
	return false
}

// connectionNamed reports whether the Connection header values conn name the header k. A sender
// lists there the extra headers meant for the next hop only (RFC 9110 section 7.6.1).
func connectionNamed(conn []string, k string) bool {
	for _, v := range conn {
		for v != "" {
			var tok string
			tok, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.TrimSpace(tok), k) {
				return true
			}
		}
	}
	return false
}

// copyRequestHeader copies the client's headers that an upstream may see: never its
// credentials, cookies, hop-by-hop headers (those named by its Connection header too), its
// address or a browser's Origin (the router, not the page, is the upstream's client: Anthropic
// refuses a request with an Origin as a browser call), nor the framing of its body
// (Content-Length, Content-Encoding): the router sends a body of its own, decoded, spliced or
// translated.
func copyRequestHeader(dst, src http.Header) {
	conn := src["Connection"]
	for k, v := range src {
		if isHopByHop(k) || (conn != nil && connectionNamed(conn, k)) {
			continue
		}
		switch k {
		case "Authorization", "X-Api-Key", "Api-Key", "X-Goog-Api-Key", "Cookie",
			"Content-Length", "Content-Encoding", "Accept-Encoding", "Host", "Expect",
			"Openai-Organization", "Openai-Project", "Origin",
			"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip":
			continue
		}
		if len(k) > 13 && k[:13] == "X-Llm-Router-" {
			continue // the router's own instructions (smart.go)
		}
		dst[k] = v
	}
	dst["Content-Type"] = jsonContentType
}

var jsonContentType = []string{"application/json"}

// writeReplyHeader copies an upstream reply's end-to-end headers, except those that describe
// the router's own provider account (rate-limit counters) or that the router sets itself (its
// own CORS policy decides what a browser may read, whatever the upstream's is). An
// upstream that is itself a router sends X-LLM-Router-* headers about its own hop (its
// failures, route, cost): passed on, they would describe this hop falsely, or stand in for
// headers this hop did not set.
func writeReplyHeader(dst, src http.Header) {
	conn := src["Connection"]
	for k, v := range src {
		if isHopByHop(k) || (conn != nil && connectionNamed(conn, k)) {
			continue
		}
		switch k {
		case "Content-Length", "Set-Cookie", "Alt-Svc", "Server", "Date":
			continue
		}
		if strings.HasPrefix(k, "X-Ratelimit-") || strings.HasPrefix(k, "Anthropic-Ratelimit-") ||
			strings.HasPrefix(k, "X-Llm-Router-") || strings.HasPrefix(k, "Access-Control-") {
			continue
		}
		if k == "Vary" {
			mergeVary(dst, v)
			continue
		}
		dst[k] = v
	}
}

// setRouteHeaders tells the client, and Caddy's logs through placeholders, where its request went.
func (h *Handler) setRouteHeaders(c *call, t *target, n int) {
	hdr := c.w.Header()
	// The five values share one backing array, the call's own: no allocation for them.
	c.routeVals = [...]string{c.p.route.Name, t.Provider.Name, t.Upstream, t.Label, strconv.Itoa(n)}
	vals := c.routeVals[:]
	hdr["X-Llm-Router-Model"] = vals[0:1:1]
	hdr["X-Llm-Router-Provider"] = vals[1:2:2]
	hdr["X-Llm-Router-Upstream-Model"] = vals[2:3:3]
	hdr["X-Llm-Router-Target"] = vals[3:4:4]
	hdr["X-Llm-Router-Attempts"] = vals[4:5:5]
	if c.smart != nil {
		c.setSmartHeaders(hdr)
	}
	if len(c.rec.attempts) > 0 {
		// The attempts that failed before this one, as README promises on every reply.
		hdr["X-Llm-Router-Failures"] = []string{failureSummary(c.rec.attempts)}
	}
	if c.rec.fitted = c.fitted(t); c.rec.fitted != "" {
		hdr["X-Llm-Router-Fitted"] = []string{c.rec.fitted}
	}
	if repl, ok := c.r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		// Served on demand: most configs never read them, so nothing is boxed per request.
		repl.Map(func(key string) (any, bool) {
			switch key {
			case "http.llm_router.model":
				return vals[0], true
			case "http.llm_router.provider":
				return vals[1], true
			case "http.llm_router.upstream_model":
				return vals[2], true
			case "http.llm_router.target":
				return vals[3], true
			case "http.llm_router.attempts":
				return vals[4], true
			}
			return nil, false
		})
	}
}
