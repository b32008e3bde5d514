package llmrouter

import (
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/h1"
	"github.com/llmrouter/caddy-llm-router/selector"
	"github.com/llmrouter/caddy-llm-router/sse"
)

// upstream is one provider's connection pools and stream settings.
type upstream struct {
	provider *catalog.Provider
	// plain serves http:// nodes: a lean HTTP/1.1 client (cleartext never offers HTTP/2).
	plain *h1.Transport
	// secure serves https:// nodes through net/http, with HTTP/2 where the upstream offers it.
	secure *http.Transport
	// keyHeader is the canonical header that carries the provider's key.
	keyHeader string
	// Metric handles, looked up once so the hot path does no label hashing for them.
	attempts      [selector.ClientGone + 1]prometheus.Counter
	latency, ttft prometheus.Observer
}

const (
	// idlePerHost is the idle connections kept per upstream host. A gateway multiplexes many
	// clients over few upstream hosts: net/http's default of two would make most requests dial.
	idlePerHost = 256
	// idleTimeout closes connections idle for longer; most upstreams drop theirs sooner.
	idleTimeout = 90 * time.Second
)

func newUpstream(p *catalog.Provider, rt runtimeSettings) *upstream {
	dialer := &net.Dialer{Timeout: rt.dialTimeout, KeepAlive: 30 * time.Second}
	u := &upstream{
		provider:  p,
		latency:   upstreamLatency.WithLabelValues(p.Name),
		ttft:      timeToFirstToken.WithLabelValues(p.Name),
		keyHeader: p.KeyHeader,
		plain: &h1.Transport{
			DialContext:           dialer.DialContext,
			ResponseHeaderTimeout: rt.responseHeaderTimeout,
			MaxIdlePerHost:        idlePerHost,
			IdleTimeout:           idleTimeout,
		},
		secure: &http.Transport{
			DialContext:           dialer.DialContext,
			ForceAttemptHTTP2:     true,
			TLSHandshakeTimeout:   rt.dialTimeout,
			ResponseHeaderTimeout: rt.responseHeaderTimeout,
			ExpectContinueTimeout: time.Second,
			MaxIdleConns:          1024,
			MaxIdleConnsPerHost:   idlePerHost,
			IdleConnTimeout:       idleTimeout,
			// Go's 4 KiB read and write buffers: events are small, and a large request body
			// is written after the head in writes of its own.
		},
	}
	for c := range u.attempts {
		u.attempts[c] = attemptsTotal.WithLabelValues(p.Name, selector.Class(c).String())
	}
	return u
}

// transportFor returns the transport for a node (a base URL).
func (u *upstream) transportFor(node string) http.RoundTripper {
	if strings.HasPrefix(node, "http://") {
		return u.plain
	}
	return u.secure
}

func (u *upstream) closeIdleConnections() {
	u.plain.CloseIdleConnections()
	u.secure.CloseIdleConnections()
}

// endpoint is one API the router serves and how its streams are relayed.
type endpoint struct {
	// path is appended to a provider node's base URL.
	path string
	// usage says whether include_usage applies (chat and text completions).
	usage bool
	// filter is the endpoint's default stream filter; providers may keep more.
	filter  sse.Filter
	dialect sse.Dialect
}

var (
	chatEndpoint       = &endpoint{path: "/chat/completions", usage: true}
	completionEndpoint = &endpoint{path: "/completions", usage: true}
	embeddingEndpoint  = &endpoint{path: "/embeddings"}
)

// endpointFor returns the endpoint a request path names, or nil. Paths are accepted with and
// without the /v1 prefix, as clients configured with a bare host send the latter.
func endpointFor(path string) *endpoint {
	switch path {
	case "/v1/chat/completions", "/chat/completions":
		return chatEndpoint
	case "/v1/completions", "/completions":
		return completionEndpoint
	case "/v1/embeddings", "/embeddings":
		return embeddingEndpoint
	}
	return nil
}

// streamFilter combines the endpoint's defaults with the provider's overrides.
func (ep *endpoint) streamFilter(p *catalog.Provider) sse.Filter {
	f := ep.filter
	f.KeepEventNames = f.KeepEventNames || p.SSEKeepEventNames
	f.KeepComments = f.KeepComments || p.SSEKeepComments
	return f
}
