package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmrouter/caddy-llm-router/internal/connectproxy"
	"github.com/llmrouter/caddy-llm-router/internal/testpki"
)

var opts = Options{DialTimeout: 5 * time.Second, ResponseHeaderTimeout: 10 * time.Second}

func newTransport(t *testing.T, c *Config, o Options) *http.Transport {
	t.Helper()
	tr, err := New(c, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

func post(t *testing.T, rt http.RoundTripper, url string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"model":"m"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rt.RoundTrip(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

func okHandler(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	_, _ = io.WriteString(w, `{"ok":true}`)
}

// The defaults are today's pool settings, a write buffer that holds a typical request, and
// the proxy from the environment.
func TestDefaults(t *testing.T) {
	tr := newTransport(t, nil, opts)
	if tr.MaxIdleConnsPerHost != 256 || tr.IdleConnTimeout != 90*time.Second || tr.MaxConnsPerHost != 0 {
		t.Errorf("pool: idle per host %d, idle timeout %s, max per host %d", tr.MaxIdleConnsPerHost, tr.IdleConnTimeout, tr.MaxConnsPerHost)
	}
	if tr.WriteBufferSize != WriteBufferSize || tr.Proxy == nil || tr.TLSClientConfig != nil {
		t.Errorf("write buffer %d, proxy set %v, tls %v", tr.WriteBufferSize, tr.Proxy != nil, tr.TLSClientConfig)
	}
	if p := tr.Protocols; p == nil || !p.HTTP1() || !p.HTTP2() || p.UnencryptedHTTP2() {
		t.Errorf("protocols %v", p)
	}
	if h := tr.HTTP2; h == nil || h.SendPingTimeout != http2PingAfter || h.PingTimeout != http2PingTimeout || h.WriteByteTimeout != http2WriteTimeout {
		t.Errorf("HTTP/2 health checks %+v", h)
	}
	tr = newTransport(t, &Config{MaxConnsPerHost: 8, KeepAliveIdleConnsPerHost: 4, KeepAlive: Duration(time.Second), NetworkProxy: "none"}, opts)
	if tr.MaxIdleConnsPerHost != 4 || tr.IdleConnTimeout != time.Second || tr.MaxConnsPerHost != 8 || tr.Proxy != nil {
		t.Errorf("configured pool: %d %s %d, proxy %v", tr.MaxIdleConnsPerHost, tr.IdleConnTimeout, tr.MaxConnsPerHost, tr.Proxy != nil)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{Versions: []string{"3"}}, "unknown HTTP version"},
		{Config{Versions: []string{"h2c", "1.1"}}, "h2c cannot be combined"},
		{Config{NetworkProxy: "ftp://user:hunter2@proxy:21"}, "unsupported scheme"},
		{Config{NetworkProxy: "http://user:hunter2@"}, "not a URL"},
		{Config{TLSClientCertificateFile: "c.pem"}, "needs both"},
		{Config{MaxConnsPerHost: -1}, "negative"},
	} {
		err := tc.c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.c, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error quotes the proxy's password: %v", err)
		}
	}
	for _, ok := range []Config{{}, {NetworkProxy: "env"}, {NetworkProxy: "none"}, {NetworkProxy: "socks5://127.0.0.1:1080"},
		{Versions: []string{"h2c"}}, {Versions: []string{"1.1"}}, {Versions: []string{"2", "h2c"}}} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
}

func TestDurationJSON(t *testing.T) {
	var c Config
	for in, want := range map[string]time.Duration{`{"keepalive":"1m30s"}`: 90 * time.Second, `{"keepalive":5000000000}`: 5 * time.Second} {
		c = Config{}
		if err := jsonUnmarshal(in, &c); err != nil || time.Duration(c.KeepAlive) != want {
			t.Errorf("%s: %v, %v", in, time.Duration(c.KeepAlive), err)
		}
	}
	if err := jsonUnmarshal(`{"keepalive":"soon"}`, &c); err == nil {
		t.Error("a bad duration was accepted")
	}
}

// An upstream whose certificate comes from a private CA is trusted only through the CA file;
// without it the handshake fails, and the system's roots are still trusted beside it.
func TestTrustedCAFile(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(okHandler))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	dir := t.TempDir()
	caFile, err := testpki.Write(dir, "ca.pem", pemOf(srv.Certificate().Raw))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := post(t, newTransport(t, nil, opts), srv.URL); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the CA file: %v, want a certificate error", err)
	}
	tr := newTransport(t, &Config{TLSTrustedCACerts: []string{caFile}}, opts)
	resp, err := post(t, tr, srv.URL)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("with the CA file: %v", err)
	}
	if resp.ProtoMajor != 2 {
		t.Errorf("https upstream spoke HTTP/%d, want HTTP/2 (offered in ALPN)", resp.ProtoMajor)
	}
	if tr.TLSClientConfig.RootCAs.Equal(testCAOnly(srv)) {
		t.Error("the CA file replaced the system's roots instead of adding to them")
	}

	bad, _ := testpki.Write(dir, "bad.pem", []byte("not a certificate"))
	if _, err := New(&Config{TLSTrustedCACerts: []string{bad}}, opts); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("a file without a certificate: %v", err)
	}
	if _, err := New(&Config{TLSTrustedCACerts: []string{dir + "/missing.pem"}}, opts); err == nil {
		t.Error("a missing CA file was accepted")
	}
}

// tls_server_name is what the certificate is checked against: a certificate for another name
// is accepted only when that name is configured.
func TestServerName(t *testing.T) {
	ca, err := testpki.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Server("upstream.internal")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(okHandler))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLS}}
	srv.StartTLS()
	defer srv.Close()
	caFile, _ := testpki.Write(t.TempDir(), "ca.pem", ca.PEM)
	if _, err := post(t, newTransport(t, &Config{TLSTrustedCACerts: []string{caFile}}, opts), srv.URL); err == nil {
		t.Fatal("a certificate for upstream.internal was accepted for 127.0.0.1")
	}
	tr := newTransport(t, &Config{TLSTrustedCACerts: []string{caFile}, TLSServerName: "upstream.internal"}, opts)
	if _, err := post(t, tr, srv.URL); err != nil {
		t.Fatalf("with tls_server_name: %v", err)
	}
	// tls_insecure_skip_verify accepts it without the CA.
	if _, err := post(t, newTransport(t, &Config{TLSInsecureSkipVerify: true}, opts), srv.URL); err != nil {
		t.Fatalf("with tls_insecure_skip_verify: %v", err)
	}
}

// A client certificate is presented to an upstream that requires one (mutual TLS).
func TestClientCertificate(t *testing.T) {
	ca, err := testpki.NewCA("client CA")
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.Client("llm-router")
	if err != nil {
		t.Fatal(err)
	}
	var peer atomic.Value
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer.Store(r.TLS.PeerCertificates[0].Subject.CommonName)
		okHandler(w, r)
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool()}
	srv.StartTLS()
	defer srv.Close()
	srv.Config.ErrorLog = nil
	dir := t.TempDir()
	caFile, _ := testpki.Write(dir, "server-ca.pem", pemOf(srv.Certificate().Raw))
	certFile, _ := testpki.Write(dir, "client.pem", client.CertPEM)
	keyFile, _ := testpki.Write(dir, "client.key", client.KeyPEM)

	if _, err := post(t, newTransport(t, &Config{TLSTrustedCACerts: []string{caFile}}, opts), srv.URL); err == nil {
		t.Fatal("the upstream accepted a client without a certificate")
	}
	tr := newTransport(t, &Config{TLSTrustedCACerts: []string{caFile},
		TLSClientCertificateFile: certFile, TLSClientCertificateKeyFile: keyFile}, opts)
	if _, err := post(t, tr, srv.URL); err != nil {
		t.Fatalf("with the client certificate: %v", err)
	}
	if cn, _ := peer.Load().(string); cn != "llm-router" {
		t.Errorf("upstream saw client certificate %q", cn)
	}

	// A key that does not match is refused at load, and the error does not quote the key.
	other, _ := ca.Client("other")
	otherKey, _ := testpki.Write(dir, "other.key", other.KeyPEM)
	_, err = New(&Config{TLSClientCertificateFile: certFile, TLSClientCertificateKeyFile: otherKey}, opts)
	if err == nil {
		t.Fatal("a mismatched key was accepted")
	}
	if strings.Contains(err.Error(), string(other.KeyPEM[30:60])) {
		t.Errorf("the error quotes the private key: %v", err)
	}
}

// versions h2c speaks HTTP/2 in cleartext to an http:// upstream; the default is HTTP/1.1.
func TestH2C(t *testing.T) {
	var proto atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proto.Store(int32(r.ProtoMajor))
		okHandler(w, r)
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	defer srv.Close()

	resp, err := post(t, newTransport(t, &Config{Versions: []string{"h2c"}}, opts), srv.URL)
	if err != nil || resp.ProtoMajor != 2 || proto.Load() != 2 {
		t.Fatalf("h2c: %v, reply HTTP/%d, upstream saw HTTP/%d", err, protoOf(resp), proto.Load())
	}
	resp, err = post(t, newTransport(t, nil, opts), srv.URL)
	if err != nil || resp.ProtoMajor != 1 || proto.Load() != 1 {
		t.Fatalf("default: %v, reply HTTP/%d, upstream saw HTTP/%d", err, protoOf(resp), proto.Load())
	}
}

func protoOf(r *http.Response) int {
	if r == nil {
		return 0
	}
	return r.ProtoMajor
}

// An explicit proxy URL: an https:// upstream is reached through CONNECT, an http:// one with
// an absolute-URL request; `none` goes direct.
func TestProxyURL(t *testing.T) {
	px, err := connectproxy.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	tlsUp := httptest.NewTLSServer(http.HandlerFunc(okHandler))
	defer tlsUp.Close()
	plainUp := httptest.NewServer(http.HandlerFunc(okHandler))
	defer plainUp.Close()
	caFile, _ := testpki.Write(t.TempDir(), "ca.pem", pemOf(tlsUp.Certificate().Raw))

	tr := newTransport(t, &Config{NetworkProxy: px.URL, TLSTrustedCACerts: []string{caFile}}, opts)
	if _, err := post(t, tr, tlsUp.URL+"/v1/chat/completions"); err != nil {
		t.Fatalf("https through the proxy: %v", err)
	}
	if _, err := post(t, tr, plainUp.URL+"/v1/chat/completions"); err != nil {
		t.Fatalf("http through the proxy: %v", err)
	}
	want := []string{"CONNECT " + strings.TrimPrefix(tlsUp.URL, "https://"), "POST " + plainUp.URL + "/v1/chat/completions"}
	if got := px.Requests(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("proxy saw %q, want %q", got, want)
	}

	direct := newTransport(t, &Config{NetworkProxy: "none", TLSTrustedCACerts: []string{caFile}}, Options{
		DialTimeout: time.Second,
		EnvProxy:    func(*http.Request) (*url.URL, error) { t.Error("none consulted the environment"); return nil, nil },
	})
	if _, err := post(t, direct, tlsUp.URL); err != nil {
		t.Fatalf("none: %v", err)
	}
	if n := len(px.Requests()); n != 2 {
		t.Errorf("none went through the proxy: %q", px.Requests())
	}
}

// env (the default) takes the proxy from HTTPS_PROXY and NO_PROXY. net/http reads the
// environment once per process, so each case runs in a child process of the test binary with
// its own environment. Environment proxies are never used for loopback addresses, so the
// upstream is named example.com (which the test server's certificate covers); the proxy maps
// it to 127.0.0.1, and the child refuses to dial anything but the proxy.
func TestProxyFromEnvironment(t *testing.T) {
	if os.Getenv("TRANSPORT_ENV_CHILD") == "1" {
		envChild(t)
		return
	}
	px, err := connectproxy.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	up := httptest.NewTLSServer(http.HandlerFunc(okHandler))
	defer up.Close()
	port := up.URL[strings.LastIndexByte(up.URL, ':')+1:]
	px.Map("example.com:"+port, "127.0.0.1:"+port)
	caFile, _ := testpki.Write(t.TempDir(), "ca.pem", pemOf(up.Certificate().Raw))
	for _, tc := range []struct {
		noProxy, want string
	}{{"", "ok"}, {"example.com", "direct example.com:" + port}} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestProxyFromEnvironment$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "TRANSPORT_ENV_CHILD=1", "UPSTREAM_URL=https://example.com:"+port,
			"CA_FILE="+caFile, "PROXY_ADDR="+strings.TrimPrefix(px.URL, "http://"),
			"HTTPS_PROXY="+px.URL, "https_proxy="+px.URL, "NO_PROXY="+tc.noProxy, "no_proxy="+tc.noProxy)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("NO_PROXY=%q: child failed: %v\n%s", tc.noProxy, err, out)
		}
		if !strings.Contains(string(out), "result: "+tc.want+"\n") {
			t.Errorf("NO_PROXY=%q: want result %q, child said:\n%s", tc.noProxy, tc.want, out)
		}
	}
	if got, want := px.Requests(), []string{"CONNECT example.com:" + port}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("proxy saw %q, want %q", got, want)
	}
}

func envChild(t *testing.T) {
	tr := newTransport(t, &Config{TLSTrustedCACerts: []string{os.Getenv("CA_FILE")}}, opts)
	dial := tr.DialContext
	var direct atomic.Value
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr != os.Getenv("PROXY_ADDR") {
			direct.Store(addr)
			return nil, errors.New("test: no dialing outside loopback")
		}
		return dial(ctx, network, addr)
	}
	_, err := post(t, tr, os.Getenv("UPSTREAM_URL"))
	switch a, _ := direct.Load().(string); {
	case a != "":
		fmt.Printf("result: direct %s\n", a)
	case err != nil:
		t.Fatal(err)
	default:
		fmt.Printf("result: ok\n")
	}
}

// connCounter wraps a transport's dialer and counts the client connections still open.
type connCounter struct {
	open, dialed atomic.Int64
}

func (c *connCounter) wrap(tr *http.Transport) {
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		c.open.Add(1)
		c.dialed.Add(1)
		return &countedConn{Conn: conn, c: c}, nil
	}
}

type countedConn struct {
	net.Conn
	c    *connCounter
	once sync.Once
}

func (cc *countedConn) Close() error {
	cc.once.Do(func() { cc.c.open.Add(-1) })
	return cc.Conn.Close()
}

// waitFor polls cond until it holds or 10 s have passed: it waits for an event (the
// transport noticing a close), not for a fixed time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// Idle connections that the upstream closed are dropped from the pool as soon as the close
// arrives (net/http's read loop sees it), not left in CLOSE_WAIT until a request trips on
// them: after the server closed 39 of 40 idle connections, one stays open, and a trickle of
// requests works without an error.
func TestIdleConnectionsClosedByServerAreReaped(t *testing.T) {
	const n = 40
	var (
		mu      sync.Mutex
		srvConn []net.Conn
		arrived sync.WaitGroup
		release = make(chan struct{})
	)
	arrived.Add(n)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		okHandler(w, r)
		if r.Header.Get("X-Hold") == "1" {
			arrived.Done()
			<-release
		}
	}))
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			srvConn = append(srvConn, c)
			mu.Unlock()
		}
	}
	srv.Start()
	defer srv.Close()
	tr := newTransport(t, nil, opts)
	var cc connCounter
	cc.wrap(tr)

	// n requests held at the same time: n connections, then all idle in the pool.
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("{}"))
			req.Header.Set("X-Hold", "1")
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		})
	}
	arrived.Wait()
	close(release)
	wg.Wait()
	if got := cc.open.Load(); got != n {
		t.Fatalf("%d connections open, want %d", got, n)
	}
	mu.Lock()
	for _, c := range srvConn[1:] {
		_ = c.Close()
	}
	mu.Unlock()
	waitFor(t, "the transport to close the 39 connections the server closed", func() bool { return cc.open.Load() == 1 })
	dialed := cc.dialed.Load()
	for i := range 5 {
		if _, err := post(t, tr, srv.URL); err != nil {
			t.Fatalf("trickle request %d: %v", i, err)
		}
	}
	if d := cc.dialed.Load() - dialed; d != 0 {
		t.Errorf("the trickle dialed %d new connections; the one left open should serve it", d)
	}
}

// An HTTP/2 connection that went dead without a reset (a NAT or firewall dropped it: writes
// vanish, nothing arrives) is pinged once it has been silent, and closed when the ping goes
// unanswered, so the next request dials a new connection instead of waiting out its header
// timeout on the dead one.
func TestDeadHTTP2ConnectionClosedByPing(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(okHandler))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	tr := newTransport(t, nil, Options{DialTimeout: 5 * time.Second, HTTP2PingAfter: 50 * time.Millisecond})
	tr.TLSClientConfig = &tls.Config{RootCAs: testCAOnly(srv)}
	var cc connCounter
	cc.wrap(tr)
	var dead atomic.Bool
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &blackHoleConn{Conn: conn, dead: &dead}, nil
	}

	resp, err := post(t, tr, srv.URL)
	if err != nil || resp.ProtoMajor != 2 {
		t.Fatalf("first request: %v (want it over HTTP/2)", err)
	}
	dead.Store(true)
	waitFor(t, "the transport to close the dead HTTP/2 connection", func() bool { return cc.open.Load() == 0 })
	dead.Store(false)
	if _, err := post(t, tr, srv.URL); err != nil {
		t.Fatalf("after the dead connection: %v", err)
	}
	if d := cc.dialed.Load(); d != 2 {
		t.Errorf("%d connections dialed, want 2", d)
	}
}

// blackHoleConn is a connection whose path died silently while dead is set: what is written
// is lost and what arrives is never delivered.
type blackHoleConn struct {
	net.Conn
	dead *atomic.Bool
}

func (c *blackHoleConn) Write(p []byte) (int, error) {
	if c.dead.Load() {
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *blackHoleConn) Read(p []byte) (int, error) {
	for {
		n, err := c.Conn.Read(p)
		if err != nil || !c.dead.Load() {
			return n, err
		}
	}
}

// req.Close is honoured: the request says Connection: close and its connection is not reused.
func TestRequestClose(t *testing.T) {
	var sawClose atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawClose.Store(r.Close)
		okHandler(w, r)
	}))
	defer srv.Close()
	tr := newTransport(t, nil, opts)
	var cc connCounter
	cc.wrap(tr)
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("{}"))
	req.Close = true
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if !sawClose.Load() {
		t.Error("the upstream did not see Connection: close")
	}
	waitFor(t, "the connection to close", func() bool { return cc.open.Load() == 0 })
	if _, err := post(t, tr, srv.URL); err != nil {
		t.Fatal(err)
	}
	if d := cc.dialed.Load(); d != 2 {
		t.Errorf("%d connections dialed, want 2: a req.Close connection was reused", d)
	}
}

// A POST that the upstream read whole, on a reused connection that then closes without a
// reply, is not sent again: it reaches the upstream once and RoundTrip fails.
func TestNoResendOfReceivedPOST(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if calls.Add(1) == 1 {
			_, _ = io.WriteString(w, "{}") // the first request makes the connection a reused one
			return
		}
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close() // crashed mid-generation: no byte of reply
		}
	}))
	defer srv.Close()
	tr := newTransport(t, nil, opts)
	if _, err := post(t, tr, srv.URL); err != nil {
		t.Fatal(err)
	}
	_, err := post(t, tr, srv.URL)
	if err == nil {
		t.Fatal("a request without a reply succeeded")
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("the upstream got %d requests, want 2: the second was sent again", n)
	}
	if errors.Is(err, context.Canceled) {
		t.Errorf("unexpected error %v", err)
	}
}
