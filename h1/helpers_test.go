package h1_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmrouter/caddy-llm-router/h1"
)

// watchdog bounds every wait for something that should take milliseconds, so a broken transport
// fails a test instead of hanging the run. It is never slept on.
const watchdog = 10 * time.Second

// recv waits for one value on ch, failing the test if none comes within the watchdog.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(watchdog):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

// ---- a raw TCP server with a hand-written HTTP responder ----

// rawRequest is one request as a raw server read it.
type rawRequest struct {
	conn int    // 1-based number of the connection it came on
	head string // the request line and header fields, byte for byte, final CRLF included
	req  *http.Request
	body []byte
}

// rawServer accepts TCP connections and hands each to a hand-written responder, for byte-level
// control over framing and over when a connection closes.
type rawServer struct {
	addr     string // host:port, the transport's pool key
	url      string
	accepted atomic.Int32
	done     chan struct{} // closed at cleanup: responders that park wait on it

	ln     net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	closed bool
	conns  []net.Conn
	reqs   []rawRequest
}

// newRawServer starts a raw server; handle runs on its own goroutine for each connection, which
// is closed when handle returns.
func newRawServer(t *testing.T, handle func(s *rawServer, id int, c net.Conn, br *bufio.Reader)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{addr: ln.Addr().String(), url: "http://" + ln.Addr().String(), done: make(chan struct{}), ln: ln}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			id := int(s.accepted.Add(1))
			s.mu.Lock()
			if s.closed {
				s.mu.Unlock()
				_ = c.Close()
				continue
			}
			s.conns = append(s.conns, c)
			s.wg.Add(1)
			s.mu.Unlock()
			go func() {
				defer s.wg.Done()
				defer c.Close()
				handle(s, id, c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		close(s.done)
		_ = ln.Close()
		s.mu.Lock()
		s.closed = true
		for _, c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

// readRequest reads one request (head and Content-Length body) from br and records it. It
// returns the request and its 1-based number across the whole server.
func (s *rawServer) readRequest(id int, br *bufio.Reader) (rawRequest, int, error) {
	head, req, err := readRawHead(br)
	if err != nil {
		return rawRequest{}, 0, err
	}
	if req.ContentLength < 0 {
		return rawRequest{}, 0, errors.New("request without a Content-Length")
	}
	body := make([]byte, req.ContentLength)
	if _, err := io.ReadFull(br, body); err != nil {
		return rawRequest{}, 0, err
	}
	return s.record(rawRequest{conn: id, head: head, req: req, body: body})
}

func (s *rawServer) record(r rawRequest) (rawRequest, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, r)
	return r, len(s.reqs), nil
}

// requests returns a copy of every request recorded so far.
func (s *rawServer) requests() []rawRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]rawRequest(nil), s.reqs...)
}

// readRawHead reads a request head byte for byte and parses it.
func readRawHead(br *bufio.Reader) (string, *http.Request, error) {
	var head strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return "", nil, err
		}
		head.WriteString(line)
		if line == "\r\n" || line == "\n" {
			break
		}
	}
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(head.String())))
	if err != nil {
		return "", nil, err
	}
	return head.String(), req, nil
}

// fieldNames lists the lower-cased field names of a raw head, in order, request line excluded.
func fieldNames(head string) []string {
	lines := strings.Split(strings.TrimSuffix(head, "\r\n\r\n"), "\r\n")
	var names []string
	for _, l := range lines[1:] {
		name, _, _ := strings.Cut(l, ":")
		names = append(names, strings.ToLower(name))
	}
	return names
}

// reply builds a Content-Length framed HTTP/1.1 reply; extra holds whole header lines.
func reply(status int, body string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return b.String()
}

// keepAliveResponder answers every request on a connection with answer(request, number).
func keepAliveResponder(answer func(r rawRequest, n int) string) func(*rawServer, int, net.Conn, *bufio.Reader) {
	return func(s *rawServer, id int, c net.Conn, br *bufio.Reader) {
		for {
			r, n, err := s.readRequest(id, br)
			if err != nil {
				return
			}
			if _, err := io.WriteString(c, answer(r, n)); err != nil {
				return
			}
		}
	}
}

// ---- an httptest server that counts connections ----

type connStats struct {
	opened   atomic.Int32
	closed   atomic.Int32
	closedCh chan struct{} // one value per connection the server saw close
}

func newCountingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *connStats) {
	t.Helper()
	st := &connStats{closedCh: make(chan struct{}, 4096)}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			st.opened.Add(1)
		case http.StateClosed, http.StateHijacked:
			st.closed.Add(1)
			st.closedCh <- struct{}{}
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, st
}

// waitClosed waits until the server has seen n more connections close.
func (st *connStats) waitClosed(t *testing.T, n int) {
	t.Helper()
	for range n {
		recv(t, st.closedCh, "the server to see a connection close")
	}
}

func addrOf(srv *httptest.Server) string { return srv.Listener.Addr().String() }

// ---- client side ----

// newTransport registers tr's idle connections for closing at the end of the test.
func newTransport(t *testing.T, tr *h1.Transport) *h1.Transport {
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// send makes one request, reads the reply to EOF and closes it.
func send(t *testing.T, rt http.RoundTripper, method, url string, body []byte) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	return sendReq(t, rt, req)
}

func sendReq(t *testing.T, rt http.RoundTripper, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatalf("%s %s: reading the reply: %v", req.Method, req.URL, err)
	}
	return resp, string(b)
}

// closeRecorder is a request body that counts its Close calls.
type closeRecorder struct {
	io.Reader
	closes atomic.Int32
}

func (c *closeRecorder) Close() error { c.closes.Add(1); return nil }

func newCloseRecorder(s string) *closeRecorder { return &closeRecorder{Reader: strings.NewReader(s)} }

// countingDialer counts dials and either fails them with err or dials for real.
type countingDialer struct {
	dials atomic.Int32
	err   error
	wrap  func(net.Conn) net.Conn
	mu    sync.Mutex
	addrs []string
}

func (d *countingDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d.dials.Add(1)
	d.mu.Lock()
	d.addrs = append(d.addrs, addr)
	d.mu.Unlock()
	if d.err != nil {
		return nil, d.err
	}
	var nd net.Dialer
	c, err := nd.DialContext(ctx, network, addr)
	if err == nil && d.wrap != nil {
		c = d.wrap(c)
	}
	return c, err
}

// plainConn hides every method but net.Conn's, syscall.Conn included, so the transport cannot
// probe it.
type plainConn struct{ net.Conn }

// fakeClock is a settable clock for Transport.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func itoa(n int) string { return strconv.Itoa(n) }
