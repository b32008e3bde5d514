// Package connectproxy is a small forward proxy for tests: it answers CONNECT by tunnelling
// to the named host, and forwards plain-HTTP proxy requests (absolute URLs). It records what
// it was asked, so a test can tell that traffic went through it. Loopback only.
package connectproxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"sync"
)

// Proxy is a running forward proxy.
type Proxy struct {
	ln net.Listener
	// URL is the proxy's address as an http:// URL.
	URL string

	mu       sync.Mutex
	requests []string // "CONNECT host:port" or "POST http://..."
	wg       sync.WaitGroup
	conns    map[net.Conn]struct{}
	closed   bool
	hosts    map[string]string
}

// Map makes the proxy connect to addr when it is asked for host (host:port): a test can name
// an upstream that the client never resolves itself (environment proxies skip loopback
// addresses), and still reach only 127.0.0.1.
func (p *Proxy) Map(host, addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hosts == nil {
		p.hosts = map[string]string{}
	}
	p.hosts[host] = addr
}

// Start listens on 127.0.0.1 and serves until Close.
func Start() (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, URL: "http://" + ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Requests returns what the proxy was asked, in order.
func (p *Proxy) Requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.requests...)
}

// Close stops the proxy and every tunnel, and waits for them.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	_ = p.ln.Close()
	p.wg.Wait()
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			continue
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.handle(c)
		}()
	}
}

func (p *Proxy) handle(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		p.mu.Lock()
		p.requests = append(p.requests, req.Method+" "+req.RequestURI)
		p.mu.Unlock()
		if req.Method == http.MethodConnect {
			p.tunnel(c, br, req.Host)
			return
		}
		// A plain-HTTP proxy request: forward it and copy the reply back.
		req.RequestURI = ""
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			_, _ = io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
			return
		}
		err = resp.Write(c)
		resp.Body.Close()
		if err != nil {
			return
		}
	}
}

func (p *Proxy) tunnel(c net.Conn, br *bufio.Reader, host string) {
	p.mu.Lock()
	if a, ok := p.hosts[host]; ok {
		host = a
	}
	p.mu.Unlock()
	up, err := net.Dial("tcp", host)
	if err != nil {
		_, _ = io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
		return
	}
	if !p.track(up) {
		return
	}
	defer up.Close()
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(up, br) // what the client sent after CONNECT, buffered or not
		if tc, ok := up.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		close(done)
	}()
	_, _ = io.Copy(c, up)
	_ = c.Close()
	<-done
}
