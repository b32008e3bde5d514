// Package h1 is a lean HTTP/1.1 client transport for cleartext upstreams: local and in-cluster
// model servers, sidecars, internal gateways. The router uses it only for the http:// nodes of
// a provider that opts in (`transport h1`); every other node goes through net/http.
//
// net/http's Transport hands every request to two goroutines per connection (one writes, one
// reads). This transport writes head and body in one syscall and reads the reply on the
// caller's goroutine; its connection pool is a stack per host. On the router's loopback load
// test that is about 20% more throughput than a tuned net/http Transport.
//
// It keeps net/http's rules where they matter: a request is sent again on a new connection
// only when none of it was written (whatever its method or headers: the caller retries
// elsewhere, and counts it); idle connections are probed before reuse and reaped when the
// upstream closes them; req.Close sends "Connection: close" and the connection is not reused.
//
// It sends no Accept-Encoding, so replies come back as the upstream wrote them, uncompressed.
// It uses no proxy. It implements http.RoundTripper for "http" URLs only.
package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// inlineBody is the largest body written in the same syscall as the request head (and kept for
// a retry); a larger body follows the head in writes of its own.
const inlineBody = 64 << 10

// ErrResponseHeaderTimeout is returned when an upstream takes longer than
// ResponseHeaderTimeout to start its reply. It matches context.DeadlineExceeded.
var ErrResponseHeaderTimeout = fmt.Errorf("h1: timeout awaiting response headers: %w", context.DeadlineExceeded)

// Transport is an HTTP/1.1 RoundTripper with keep-alive connections. Its zero value is usable;
// its fields must not change after first use.
type Transport struct {
	// DialContext opens connections; nil uses a net.Dialer with DialTimeout.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// DialTimeout bounds a dial when DialContext is nil; 0 means no bound beyond the context's.
	DialTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for a reply's head once the request is written.
	ResponseHeaderTimeout time.Duration
	// MaxIdlePerHost is how many idle connections are kept per host (default 2, as net/http).
	MaxIdlePerHost int
	// IdleTimeout closes a connection idle for longer (0: never).
	IdleTimeout time.Duration
	// Now is the clock for idle ages (nil: time.Now); tests set it.
	Now func() time.Time
	// ReapInterval is how often idle connections are checked for a close by the upstream;
	// those it closed are dropped from the pool (and closed on this side: no CLOSE_WAIT
	// sockets kept). 0 means every second.
	ReapInterval time.Duration

	mu   sync.Mutex
	idle map[string][]*conn // per host, most recently used last
	// closeIdle refuses connections that end after CloseIdleConnections (an old config's
	// requests finishing after a reload) until the next request asks for one.
	closeIdle bool
	// reaping is set while a reap is scheduled.
	reaping bool
}

// maxReplyHead bounds what is read while a reply's head is parsed, so an upstream that sends
// headers without end cannot make the router buffer them without end.
const maxReplyHead = 1 << 20

// ErrReplyHeadTooLarge is returned for a reply whose head exceeds 1 MiB.
var ErrReplyHeadTooLarge = errors.New("h1: reply head larger than 1 MiB")

// conn is one upstream connection and its read buffer; the two live and die together.
type conn struct {
	nc net.Conn
	br *bufio.Reader // reads through conn.Read
	// headLeft is what may still be read before the reply head ends; -1 once it has.
	headLeft  int64
	host      string
	idleSince time.Time
	reused    bool
	probe     *prober // nil where the platform cannot probe
}

var (
	errScheme     = errors.New("h1: only http URLs are supported")
	errBodyClosed = errors.New("h1: read on a closed response body")
)

func (t *Transport) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

// RoundTrip sends req and reads the head of its reply. The request body is always closed before
// RoundTrip returns. The reply body must be read to EOF or closed; reading it to EOF returns the
// connection to the pool. Cancelling req's context aborts the call, a blocked body read included.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.roundTrip(req)
	if req.Body != nil {
		_ = req.Body.Close()
	}
	return resp, err
}

func (t *Transport) roundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil || req.URL.Scheme != "http" {
		return nil, errScheme
	}
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	wb := getWriteBuffer()
	defer putWriteBuffer(wb)
	var body io.Reader
	n := req.ContentLength
	if req.Body != nil && req.Body != http.NoBody {
		body = req.Body
	} else {
		n = 0
	}
	if body != nil && n <= 0 {
		// An unknown length (net/http's reading of 0 with a body): this transport does not
		// send chunked requests, so it learns the length by reading the body.
		data, err := io.ReadAll(body)
		if err != nil {
			return nil, fmt.Errorf("h1: reading the request body: %w", err)
		}
		body, n = bytes.NewReader(data), int64(len(data))
	}
	msg, err := appendHead(wb.b[:0], req, n, body != nil)
	if err != nil {
		return nil, err
	}
	if body != nil && n <= inlineBody {
		// The whole message goes out in one write, and is there to send again on a fresh
		// connection if a pooled one turns out to be closed.
		start := len(msg)
		msg = append(msg, make([]byte, n)...)
		if _, err := io.ReadFull(body, msg[start:]); err != nil {
			return nil, fmt.Errorf("h1: reading the request body: %w", err)
		}
		body = nil
	}
	wb.b = msg[:0]

	addr := hostPort(req.URL.Host)
	for try := 0; ; try++ {
		c, err := t.getConn(ctx, addr)
		if err != nil {
			return nil, err
		}
		resp, err := t.exchange(ctx, c, req, msg, body, n)
		if err == nil {
			return resp, nil
		}
		// A pooled connection that failed before a byte of the request left (the write
		// itself failed at once: the upstream had closed it while it was idle) is replaced,
		// once, by a new one. Once any byte was written the upstream may have the request:
		// it is not sent again, whatever the method; the caller decides, and counts it. The
		// probe in getConn and the reaper make a dead pooled connection rare.
		if try == 0 && c.reused && errors.Is(err, errNothingWritten) && ctx.Err() == nil {
			if body == nil {
				continue
			}
			if req.GetBody != nil {
				rc, err := req.GetBody()
				if err == nil {
					defer rc.Close()
					body = rc
					continue
				}
			}
		}
		return nil, unwrapNoReply(err)
	}
}

// errNoReply marks a failure on a connection that gave no byte of reply; errNothingWritten
// one where, besides, no byte of the request was written.
var (
	errNoReply        = errors.New("connection closed before any reply")
	errNothingWritten = errors.New("no byte of the request was written")
)

type noReplyError struct {
	err            error
	nothingWritten bool
}

func (e *noReplyError) Error() string { return e.err.Error() }
func (e *noReplyError) Unwrap() []error {
	if e.nothingWritten {
		return []error{e.err, errNoReply, errNothingWritten}
	}
	return []error{e.err, errNoReply}
}
func unwrapNoReply(err error) error {
	var nr *noReplyError
	if errors.As(err, &nr) {
		return nr.err
	}
	return err
}

// exchange writes the request on c and reads the reply's head. On failure c is closed.
// body, when not nil, is the rest of the message: n bytes sent after msg.
func (t *Transport) exchange(ctx context.Context, c *conn, req *http.Request, msg []byte, body io.Reader, n int64) (*http.Response, error) {
	stop := context.AfterFunc(ctx, func() { _ = c.nc.Close() })
	fail := func(err error) (*http.Response, error) {
		stop()
		_ = c.nc.Close()
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		return nil, err
	}
	written, werr := c.nc.Write(msg)
	if werr == nil && body != nil {
		src := &errorRecorder{r: body}
		_, werr = io.CopyN(c.nc, src, n)
		switch {
		case src.err != nil:
			// The upstream cannot answer a request it did not get whole; no resend either.
			return fail(fmt.Errorf("h1: reading the request body: %w", src.err))
		case errors.Is(werr, io.EOF):
			return fail(errors.New("h1: request body shorter than its ContentLength"))
		}
	}
	if d := t.ResponseHeaderTimeout; d > 0 {
		_ = c.nc.SetReadDeadline(time.Now().Add(d))
	}
	// Whether any byte of reply came decides whether the request may be sent again.
	c.headLeft = maxReplyHead
	_, perr := c.br.Peek(1)
	err := perr
	var resp *http.Response
	if perr == nil {
		resp, err = readResponse(c.br, req)
	}
	c.headLeft = -1
	if err != nil {
		switch {
		case werr != nil:
			// The write failed and no reply came: the write error says more.
			err = werr
		case isTimeout(err):
			err = ErrResponseHeaderTimeout
		}
		if perr != nil && (werr != nil || isClosedByPeer(perr)) {
			err = &noReplyError{err: err, nothingWritten: written == 0 && werr != nil}
		}
		return fail(err)
	}
	// A reply that came while the body was still being written (an early 413, say) is still a
	// reply, but that connection cannot be trusted again; nor one a 101 gave to another protocol.
	keep := werr == nil && !resp.Close && !req.Close && resp.StatusCode != http.StatusSwitchingProtocols
	if t.ResponseHeaderTimeout > 0 {
		_ = c.nc.SetReadDeadline(time.Time{})
	}
	b := &responseBody{t: t, c: c, ctx: ctx, rc: resp.Body, stop: stop, keep: keep}
	if resp.Body == http.NoBody {
		b.finish(keep)
		return resp, nil
	}
	resp.Body = b
	return resp, nil
}

// readResponse reads a reply's head, skipping informational (1xx) replies.
func readResponse(br *bufio.Reader, req *http.Request) (*http.Response, error) {
	for {
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, nil
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isClosedByPeer reports an EOF or reset: what a pooled connection the upstream already closed
// gives.
func isClosedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || isReset(err)
}

// responseBody hands the connection back to the pool when the reply has been read to its end.
// Like any response body, Read and Close are not for concurrent use; cancel the request's
// context to abort a blocked Read.
type responseBody struct {
	t    *Transport
	c    *conn
	ctx  context.Context
	rc   io.ReadCloser
	stop func() bool
	keep bool
	done bool
	err  error // what Read returns once done
}

func (b *responseBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, b.err
	}
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		b.finish(b.keep)
	case err != nil:
		if cerr := b.ctx.Err(); cerr != nil {
			err = cerr
		}
		b.finish(false)
		b.err = err
	}
	return n, err
}

// Close ends the reply; a connection whose reply was not read to its end is closed, not pooled.
func (b *responseBody) Close() error {
	if !b.done {
		b.finish(false)
		b.err = errBodyClosed
	}
	return nil
}

func (b *responseBody) finish(reuse bool) {
	b.done, b.err = true, io.EOF
	// stop is false when the context's cancellation already closed the connection. Bytes past
	// the reply's end (a wrong Content-Length, a smuggled second reply) would be read as the
	// next request's reply: such a connection is closed.
	if b.stop() && reuse && b.c.br.Buffered() == 0 {
		b.t.putIdle(b.c)
		return
	}
	_ = b.c.nc.Close()
}

// getConn pops the most recently used live idle connection to addr, or dials a new one.
func (t *Transport) getConn(ctx context.Context, addr string) (*conn, error) {
	for {
		c := t.popIdle(addr)
		if c == nil {
			break
		}
		if c.probe != nil && !c.probe.alive() {
			_ = c.nc.Close()
			continue
		}
		c.reused = true
		return c, nil
	}
	nc, err := t.dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	c := &conn{nc: nc, host: addr, probe: newProber(nc), headLeft: -1}
	c.br = bufio.NewReaderSize(c, 4<<10)
	return c, nil
}

// Read reads the connection for br, within the head's budget while a head is being read.
func (c *conn) Read(p []byte) (int, error) {
	if c.headLeft < 0 {
		return c.nc.Read(p)
	}
	if c.headLeft == 0 {
		return 0, ErrReplyHeadTooLarge
	}
	if int64(len(p)) > c.headLeft {
		p = p[:c.headLeft]
	}
	n, err := c.nc.Read(p)
	c.headLeft -= int64(n)
	return n, err
}

func (t *Transport) dial(ctx context.Context, addr string) (net.Conn, error) {
	if t.DialContext != nil {
		return t.DialContext(ctx, "tcp", addr)
	}
	d := net.Dialer{Timeout: t.DialTimeout, KeepAlive: 30 * time.Second}
	return d.DialContext(ctx, "tcp", addr)
}

func (t *Transport) popIdle(addr string) *conn {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closeIdle = false
	stack := t.idle[addr]
	n := len(stack)
	if n == 0 {
		return nil
	}
	c := stack[n-1]
	if t.IdleTimeout > 0 && now.Sub(c.idleSince) > t.IdleTimeout {
		// The freshest is too old, so is everything below it.
		for _, old := range stack {
			_ = old.nc.Close()
		}
		clear(stack)
		t.idle[addr] = stack[:0]
		return nil
	}
	stack[n-1] = nil
	t.idle[addr] = stack[:n-1]
	return c
}

func (t *Transport) putIdle(c *conn) {
	c.idleSince = t.now()
	max := t.MaxIdlePerHost
	if max <= 0 {
		max = 2
	}
	t.mu.Lock()
	if t.closeIdle {
		t.mu.Unlock()
		_ = c.nc.Close()
		return
	}
	if t.idle == nil {
		t.idle = make(map[string][]*conn)
	}
	stack := t.idle[c.host]
	var evicted *conn
	if len(stack) >= max {
		// The oldest goes: the stack's bottom.
		evicted = stack[0]
		copy(stack, stack[1:])
		stack = stack[:len(stack)-1]
	}
	t.idle[c.host] = append(stack, c)
	schedule := !t.reaping
	t.reaping = true
	t.mu.Unlock()
	if evicted != nil {
		_ = evicted.nc.Close()
	}
	if schedule {
		time.AfterFunc(t.reapInterval(), t.reap)
	}
}

func (t *Transport) reapInterval() time.Duration {
	if t.ReapInterval > 0 {
		return t.ReapInterval
	}
	return time.Second
}

// reap drops the idle connections the upstream has closed, and those past IdleTimeout, and
// runs again while any idle connection is left. Without it a connection the upstream closed
// would stay pooled (in CLOSE_WAIT) until a request found it, which under a trickle of
// requests on the freshest connection is never. A probe is one non-blocking syscall; probes
// run under the pool's lock, so no request can be using a connection being probed.
func (t *Transport) reap() {
	now := t.now()
	var dead []*conn
	t.mu.Lock()
	for host, stack := range t.idle {
		live := stack[:0]
		for _, c := range stack {
			if (t.IdleTimeout > 0 && now.Sub(c.idleSince) > t.IdleTimeout) || (c.probe != nil && !c.probe.alive()) {
				dead = append(dead, c)
				continue
			}
			live = append(live, c)
		}
		clear(stack[len(live):])
		t.idle[host] = live
	}
	again := false
	for _, stack := range t.idle {
		if len(stack) > 0 {
			again = true
			break
		}
	}
	t.reaping = again
	t.mu.Unlock()
	for _, c := range dead {
		_ = c.nc.Close()
	}
	if again {
		time.AfterFunc(t.reapInterval(), t.reap)
	}
}

// CloseIdleConnections closes every idle connection, and connections in use when their reply
// ends, until the next request: after it the transport still works and pools again.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle, t.closeIdle = nil, true
	t.mu.Unlock()
	for _, stack := range idle {
		for _, c := range stack {
			_ = c.nc.Close()
		}
	}
}

// IdleConns is how many idle connections the pool holds for addr ("host:port").
func (t *Transport) IdleConns(addr string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.idle[addr])
}

// hostPort adds the default port to a URL host that has none.
func hostPort(host string) string {
	if h, port, err := net.SplitHostPort(host); err == nil {
		if port != "" {
			return host
		}
		return net.JoinHostPort(h, "80")
	}
	if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		return host + ":80"
	}
	return net.JoinHostPort(host, "80")
}

// appendHead writes the request line and headers. Header names and values are checked, so a
// value with a line break cannot smuggle a header or a second request; the error never quotes
// a value, as values carry keys.
func appendHead(b []byte, req *http.Request, contentLength int64, hasBody bool) ([]byte, error) {
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	uri := req.URL.RequestURI()
	if !validToken(method) || !validValue(host) || !validURI(uri) {
		// Never quoted: a query string may carry a key (?key=).
		return nil, errors.New("h1: invalid method, host or request target")
	}
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, uri...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\n"...)
	for k, vs := range req.Header {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Connection", "Trailer":
			continue // this transport frames the message itself
		}
		if !validToken(k) {
			return nil, fmt.Errorf("h1: invalid header name %q", k)
		}
		for _, v := range vs {
			if !validValue(v) {
				return nil, fmt.Errorf("h1: invalid value for header %s", k)
			}
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	if req.Close {
		b = append(b, "Connection: close\r\n"...)
	}
	if hasBody || method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, contentLength, 10)
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...), nil
}

// validToken reports whether s is an HTTP token (RFC 9110, section 5.6.2).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || !tokenChars[c] {
			return false
		}
	}
	return true
}

var tokenChars = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// validValue refuses control characters other than tab (RFC 9110, section 5.5).
func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// validURI refuses spaces and control characters, which would end or split the request line.
func validURI(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return s != ""
}

// errorRecorder keeps the error of the reader it wraps, so a failing request body can be told
// from a failing connection.
type errorRecorder struct {
	r   io.Reader
	err error
}

func (e *errorRecorder) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// writeBuffer holds a request head (and an inlined body) while it is written.
type writeBuffer struct{ b []byte }

var writeBuffers = sync.Pool{New: func() any { return &writeBuffer{b: make([]byte, 0, 4<<10)} }}

func getWriteBuffer() *writeBuffer { return writeBuffers.Get().(*writeBuffer) }

func putWriteBuffer(wb *writeBuffer) {
	if cap(wb.b) > 2*inlineBody {
		return // an unusually large head: let it go
	}
	wb.b = wb.b[:0]
	writeBuffers.Put(wb)
}
