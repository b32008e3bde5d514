package llmrouter

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"golang.org/x/net/http/httpguts"

	"github.com/llmrouter/caddy-llm-router/sse"
)

// CORSConfig lets web pages on other origins call the router from the browser: the openai and
// @anthropic-ai/sdk npm packages with dangerouslyAllowBrowser, @google/genai, chat UIs that run
// in the page. The router answers their preflights before its gate, and marks every reply to
// an allowed origin, errors and streams included, as readable by the page. It never allows
// credentials (cookies, HTTP auth): gateway keys travel in headers.
type CORSConfig struct {
	// Origins are the origins whose pages may call the router, each as a browser sends it in
	// the Origin header: `scheme://host[:port]` without a path (`https://chat.example.com`,
	// `http://localhost:5173`, `chrome-extension://<id>`); or `*` alone, for any origin.
	// Placeholders work. Required.
	Origins []string `json:"origins"`

	// AllowHeaders are request headers a page may send beyond those the SDKs send, which are
	// always allowed: Authorization, Content-Type, Accept, User-Agent, x-api-key, api-key,
	// x-goog-api-key, Idempotency-Key, traceparent, tracestate, baggage, HTTP-Referer, X-Title,
	// and every anthropic-*, openai-*, x-stainless-*, x-goog-* and x-llm-router-* header.
	// Default: none.
	AllowHeaders []string `json:"allow_headers,omitempty"`

	// MaxAge is how long a browser may reuse a preflight's answer. Default 2h, the longest
	// Chromium keeps one (Firefox keeps one up to 24h).
	MaxAge caddy.Duration `json:"max_age,omitempty"`
}

const defaultCORSMaxAge = 2 * time.Hour

// corsHeaders are the request headers a page may send without allow_headers: what the OpenAI,
// Anthropic and Google SDKs and OpenRouter-style clients send. Lowercase, as browsers list them
// in Access-Control-Request-Headers.
var corsHeaders = map[string]bool{
	"accept": true, "accept-language": true, "content-language": true, "content-type": true,
	"authorization": true, "x-api-key": true, "api-key": true, "x-goog-api-key": true,
	"idempotency-key": true, "traceparent": true, "tracestate": true, "baggage": true,
	"http-referer": true, "x-title": true, "x-request-id": true,
	// The SDKs set User-Agent; Firefox lets a page do that, so it asks for it in the preflight.
	"user-agent": true,
}

// corsHeaderPrefixes are the header families a page may send: the SDKs' own (x-stainless-os,
// anthropic-dangerous-direct-browser-access, openai-beta, x-goog-api-client, ...) and the
// router's request headers (smart.go, files.go).
var corsHeaderPrefixes = [...]string{"anthropic-", "openai-", "x-stainless-", "x-goog-", "x-llm-router-"}

// maxCORSRequestHeaders bounds how many names of a preflight's Access-Control-Request-Headers
// are read: an SDK asks for about fifteen.
const maxCORSRequestHeaders = 64

var (
	corsAnyOrigin = []string{"*"}
	corsMethods   = []string{"GET, HEAD, POST, DELETE"}
	// corsExpose lets the page read every reply header: `*` in the browsers that know it (all
	// current ones, for requests without credentials, which is all the router allows), the
	// router's own headers by name for those that do not.
	corsExpose = []string{"*, X-LLM-Router-Model, X-LLM-Router-Provider, X-LLM-Router-Upstream-Model, " +
		"X-LLM-Router-Target, X-LLM-Router-Attempts, X-LLM-Router-Failures, X-LLM-Router-Fitted, " +
		"X-LLM-Router-Cost, X-LLM-Router-Estimate, X-LLM-Router-Route, X-LLM-Router-Route-Reason, " +
		"X-LLM-Router-Whole-Reply, Retry-After, WWW-Authenticate, X-Request-Id, Request-Id"}
	corsVary          = []string{"Origin"}
	corsPreflightVary = []string{"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"}
)

// corsPolicy is the prepared cors setting.
type corsPolicy struct {
	anyOrigin bool
	origins   map[string]bool
	extra     map[string]bool // allow_headers, lowercase
	maxAge    []string
}

func newCORSPolicy(c *CORSConfig, resolve func(string) string) (*corsPolicy, error) {
	p := &corsPolicy{origins: make(map[string]bool), extra: make(map[string]bool)}
	if len(c.Origins) == 0 {
		return nil, fmt.Errorf("cors: name at least one origin, or *")
	}
	for _, o := range c.Origins {
		o = resolve(o)
		if o == "*" {
			p.anyOrigin = true
			continue
		}
		norm, err := parseOrigin(o)
		if err != nil {
			return nil, fmt.Errorf("cors: origin %q: %w", o, err)
		}
		p.origins[norm] = true
	}
	if p.anyOrigin && len(p.origins) > 0 {
		return nil, fmt.Errorf("cors: * already allows every origin; list origins or give * alone")
	}
	for _, name := range c.AllowHeaders {
		if !httpguts.ValidHeaderFieldName(name) {
			return nil, fmt.Errorf("cors: allow_headers: %q is not a header name", name)
		}
		p.extra[strings.ToLower(name)] = true
	}
	maxAge := time.Duration(c.MaxAge)
	if maxAge < 0 {
		return nil, fmt.Errorf("cors: max_age must not be negative")
	}
	if maxAge == 0 {
		maxAge = defaultCORSMaxAge
	}
	p.maxAge = []string{strconv.FormatInt(int64(maxAge/time.Second), 10)}
	return p, nil
}

func (h *Handler) provisionCORS(resolve func(string) string) error {
	if h.CORS == nil {
		return nil
	}
	p, err := newCORSPolicy(h.CORS, resolve)
	if err != nil {
		return err
	}
	if p.anyOrigin && h.guard.keys == nil {
		h.logger.Warn("cors * without auth: any web page a visitor opens can use this router through the visitor's browser, from the visitor's network")
	}
	h.cors = p
	return nil
}

// parseOrigin checks an origin of the config and returns it as browsers serialize it: the
// scheme and host in lowercase.
func parseOrigin(o string) (string, error) {
	if o == "null" {
		return "", fmt.Errorf("the null origin is any sandboxed page or local file; it cannot be allowed alone (use *)")
	}
	u, err := url.Parse(o)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("write it as scheme://host[:port], such as https://chat.example.com")
	}
	if u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(o, "?") || strings.HasSuffix(o, "#") {
		return "", fmt.Errorf("an origin has no path, query or user: write %s://%s", u.Scheme, u.Host)
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host), nil
}

// serve applies the policy to a request before the gate. It answers a preflight itself, and
// returns true then; on any other request it sets the reply's CORS headers, which every
// answer that follows keeps (errors and streams too), and returns false.
func (p *corsPolicy) serve(w http.ResponseWriter, r *http.Request, d sse.Dialect) bool {
	hdr := w.Header()
	origin := r.Header["Origin"]
	preflight := r.Method == http.MethodOptions && len(origin) > 0 && r.Header["Access-Control-Request-Method"] != nil
	if !preflight {
		// The reply depends on Origin, so a shared cache must keep one per origin.
		hdr["Vary"] = corsVary
		if len(origin) > 0 && p.allows(origin[0]) {
			p.allowOrigin(hdr, origin)
			hdr["Access-Control-Expose-Headers"] = corsExpose
		}
		return false
	}
	hdr["Vary"] = corsPreflightVary
	if !p.allows(origin[0]) {
		writeError(w, d, http.StatusForbidden, errPermission, "cors_origin_not_allowed",
			fmt.Sprintf("pages of the origin %q may not call this router: its cors setting does not list it", clipEcho(origin[0])))
		return true
	}
	p.allowOrigin(hdr, origin)
	hdr["Access-Control-Allow-Methods"] = corsMethods
	if asked := r.Header["Access-Control-Request-Headers"]; len(asked) > 0 {
		if allowed := p.allowedHeaders(asked); allowed != "" {
			hdr["Access-Control-Allow-Headers"] = []string{allowed}
		}
	}
	hdr["Access-Control-Max-Age"] = p.maxAge
	w.WriteHeader(http.StatusNoContent)
	return true
}

func (p *corsPolicy) allows(origin string) bool {
	return p.anyOrigin || p.origins[origin]
}

func (p *corsPolicy) allowOrigin(hdr http.Header, origin []string) {
	if p.anyOrigin {
		hdr["Access-Control-Allow-Origin"] = corsAnyOrigin
		return
	}
	hdr["Access-Control-Allow-Origin"] = origin[:1:1]
}

// allowedHeaders is the part of a preflight's Access-Control-Request-Headers the router
// accepts, echoed. A name left out makes the browser refuse the request, and its console says
// which header it was.
func (p *corsPolicy) allowedHeaders(asked []string) string {
	var b strings.Builder
	n := 0
	for _, line := range asked {
		for line != "" && n < maxCORSRequestHeaders {
			var name string
			name, line, _ = strings.Cut(line, ",")
			name = strings.ToLower(strings.TrimSpace(name))
			n++
			if name == "" || !p.acceptsHeader(name) {
				continue
			}
			if b.Len() > 0 {
				b.WriteString(", ")
			}
			b.WriteString(name)
		}
	}
	return b.String()
}

func (p *corsPolicy) acceptsHeader(name string) bool {
	if corsHeaders[name] || p.extra[name] {
		return true
	}
	for _, prefix := range corsHeaderPrefixes {
		if len(name) > len(prefix) && strings.HasPrefix(name, prefix) {
			return httpguts.ValidHeaderFieldName(name)
		}
	}
	return false
}

// mergeVary adds an upstream's Vary values to those the router set (Origin, with cors on),
// which a plain copy of the upstream's header would replace.
func mergeVary(dst http.Header, v []string) {
	if old := dst["Vary"]; len(old) > 0 {
		v = append(append(make([]string, 0, len(old)+len(v)), old...), v...)
	}
	dst["Vary"] = v
}
