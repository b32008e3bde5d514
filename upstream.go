package llmrouter

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/h1"
	"github.com/llmrouter/caddy-llm-router/internal/redact"
	"github.com/llmrouter/caddy-llm-router/reqbody"
	"github.com/llmrouter/caddy-llm-router/selector"
	"github.com/llmrouter/caddy-llm-router/transport"
)

// providerConn is one provider's connection pool and stream settings.
type providerConn struct {
	provider *catalog.Provider
	// transport serves every node of the provider, http:// and https://, with the provider's
	// egress settings: net/http, HTTP/2 over TLS where offered, h2c where configured.
	transport *http.Transport
	// plain, when the provider opted into `protocol h1`, serves its http:// nodes instead.
	plain *h1.Transport
	// anthropicVersion is the anthropic-version header value for an API Anthropic provider.
	anthropicVersion []string
	// keyHeader is the canonical header that carries the provider's key.
	keyHeader string
	// extraSecrets are the provider's header and query values that came from placeholders,
	// removed from upstream text like its keys (set by preparePools).
	extraSecrets []*redact.Secret
	// firstEventTimeout and streamIdleTimeout are the router's, or the provider's overrides.
	firstEventTimeout, streamIdleTimeout time.Duration
	// Metric handles, looked up once so the hot path does no label hashing for them.
	attempts      [selector.ClientGone + 1]prometheus.Counter
	latency, ttft prometheus.Observer
}

func newProviderConn(p *catalog.Provider, rt runtimeSettings) (*providerConn, error) {
	if p.ResponseHeaderTimeout > 0 {
		rt.responseHeaderTimeout = p.ResponseHeaderTimeout
	}
	opts := transport.Options{
		DialTimeout:           rt.dialTimeout,
		ResponseHeaderTimeout: rt.responseHeaderTimeout,
		EnvProxy:              rt.envProxy,
	}
	tr, err := transport.New(p.Transport, opts)
	if err != nil {
		return nil, err
	}
	u := &providerConn{
		provider:          p,
		transport:         tr,
		latency:           upstreamLatency.WithLabelValues(p.Name),
		ttft:              timeToFirstToken.WithLabelValues(p.Name),
		keyHeader:         p.KeyHeader,
		anthropicVersion:  []string{p.AnthropicVersion},
		firstEventTimeout: orDefault(p.FirstEventTimeout, rt.firstEventTimeout),
		streamIdleTimeout: orDefault(p.StreamIdleTimeout, rt.streamIdleTimeout),
	}
	if p.Transport.UsesH1() {
		u.plain = transport.NewH1(p.Transport, opts)
	}
	for c := range u.attempts {
		u.attempts[c] = attemptsTotal.WithLabelValues(p.Name, selector.Class(c).String())
	}
	return u, nil
}

// transportFor returns the client for a node (a base URL).
func (u *providerConn) transportFor(node string) http.RoundTripper {
	if u.plain != nil && strings.HasPrefix(node, "http://") {
		return u.plain
	}
	return u.transport
}

func (u *providerConn) closeIdleConnections() {
	u.transport.CloseIdleConnections()
	if u.plain != nil {
		u.plain.CloseIdleConnections()
	}
}

// inlineBodyMax is the largest rewritten body sent from one in-memory copy: with room for the
// head in the transport's write buffer, the head and the body leave in one write. net/http
// flushes the head on its own unless the body is a *bytes.Reader (or another reader it knows
// to be in memory), so the rewritten parts are copied; a larger body is sent from the pooled
// buffer, under the lease, and its head flush is one write among several.
const inlineBodyMax = transport.WriteBufferSize - 2<<10

// errNoResend is what the transport gets when it asks for a body again after some of it went
// out. The attempt then fails, is counted, and the attempt loop tries another target.
var errNoResend = errors.New("request may have reached the upstream: not sent again")

// setRequestBody gives req the body b. The transport may ask for the body again (GetBody) to
// resend the request on a new connection: it does so only when nothing was written, unless
// the request carries an idempotency header, for which net/http also resends a request it
// did write. Those headers are the client's, sent on to the upstream; a resend of a POST the
// upstream may have received is never the transport's call: it fails, and failover to
// another target happens in the attempt loop, where it is counted.
func setRequestBody(req *http.Request, b reqbody.Body) {
	req.ContentLength = b.Len()
	guard := hasIdempotencyHeader(req.Header)
	if b.Len() <= inlineBodyMax {
		// A per-attempt copy the collector owns: the transport may read it after RoundTrip
		// returned without holding the pooled buffer.
		ib := &inlineBody{buf: b.Bytes(), guard: guard}
		ib.first.Reset(ib.buf)
		ib.cur = &ib.first
		req.Body = io.NopCloser(ib.cur)
		req.GetBody = ib.again
		return
	}
	setLeasedBody(req, b, guard)
}

// setLeasedBody gives req the large body b, read from the pooled buffer under b's lease. It is
// apart from setRequestBody so that only large bodies move b to the heap for GetBody's closure.
func setLeasedBody(req *http.Request, b reqbody.Body, guard bool) {
	cur := b.Reader()
	req.Body = cur
	req.GetBody = func() (io.ReadCloser, error) {
		if guard && cur.Started() {
			return nil, errNoResend
		}
		cur = b.Reader()
		return cur, nil
	}
}

// inlineBody is a small request body's in-memory copy and the reader the transport has of it,
// in one allocation.
type inlineBody struct {
	buf   []byte
	cur   *bytes.Reader // the reader handed out last
	first bytes.Reader
	guard bool // refuse a resend once some of the body was read (see setRequestBody)
}

// again is the request's GetBody.
func (ib *inlineBody) again() (io.ReadCloser, error) {
	if ib.guard && ib.cur.Len() < len(ib.buf) {
		return nil, errNoResend
	}
	ib.cur = bytes.NewReader(ib.buf)
	return io.NopCloser(ib.cur), nil
}

// hasIdempotencyHeader reports whether h has a header that makes net/http treat a POST as
// replayable.
func hasIdempotencyHeader(h http.Header) bool {
	_, a := h["Idempotency-Key"]
	_, b := h["X-Idempotency-Key"]
	return a || b
}
