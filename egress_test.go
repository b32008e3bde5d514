package llmrouter

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/h1"
	"github.com/llmrouter/caddy-llm-router/internal/connectproxy"
	"github.com/llmrouter/caddy-llm-router/internal/testpki"
	"github.com/llmrouter/caddy-llm-router/reqbody"
	"github.com/llmrouter/caddy-llm-router/transport"
)

// openConns wraps a target's client's dialer and counts its connections still open.
func openConns(t *testing.T, rt http.RoundTripper) *atomic.Int64 {
	var dialp *func(context.Context, string, string) (net.Conn, error)
	switch tr := rt.(type) {
	case *http.Transport:
		dialp = &tr.DialContext
	case *h1.Transport:
		dialp = &tr.DialContext
	default:
		t.Fatalf("client %T", rt)
	}
	var n atomic.Int64
	dial := *dialp
	*dialp = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		n.Add(1)
		return &trackedConn{Conn: c, n: &n}, nil
	}
	return &n
}

type trackedConn struct {
	net.Conn
	n    *atomic.Int64
	once sync.Once
}

// SyscallConn lets h1 probe the connection through the wrapper, as it does an unwrapped one.
func (c *trackedConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("not a syscall.Conn")
	}
	return sc.SyscallConn()
}

func (c *trackedConn) Close() error {
	c.once.Do(func() { c.n.Add(-1) })
	return c.Conn.Close()
}

// eventually polls cond until it holds or 10 s have passed: it waits for an event, never
// for a fixed time.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func writePEM(t *testing.T, name string, data []byte) string {
	t.Helper()
	p, err := testpki.Write(t.TempDir(), name, data)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A POST the upstream read whole, on a reused connection that then closes without a byte of
// reply (an upstream that crashed mid-generation), reaches that upstream exactly once: the
// transport does not send it again, the failure is counted as an attempt on that target,
// and failover goes to the next target. With an Idempotency-Key from the client, which the
// upstream still gets, net/http would resend it on its own; the router does not let it.
func TestNoResendOfReceivedPOST(t *testing.T) {
	for _, tc := range []struct{ protocol, header string }{
		{"", ""}, {"", "Idempotency-Key"}, {"", "X-Idempotency-Key"}, {"h1", ""}, {"h1", "Idempotency-Key"},
	} {
		header := tc.header
		t.Run("protocol="+tc.protocol+",header="+header, func(t *testing.T) {
			var crash atomic.Bool
			var sawHeader atomic.Bool
			a := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				if header != "" && r.Header.Get(header) == "k-1" {
					sawHeader.Store(true)
				}
				if !crash.Load() {
					okChat(w, r)
					return
				}
				if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
					conn.Close()
				}
			})
			b := newFakeUpstream(t, okChat)
			pa := provider("a", a.URL+"/v1", nil, "m", "m-a")
			pa.Transport = &transport.Config{Protocol: tc.protocol}
			tr := newTestRouter(t, &Handler{Strategy: "priority", Providers: []catalog.ProviderConfig{
				pa, provider("b", b.URL+"/v1", nil, "m", "m-b"),
			}})
			if _, isH1 := tr.targets[0].transport.(*h1.Transport); isH1 != (tc.protocol == "h1") {
				t.Fatalf("protocol %q: client %T", tc.protocol, tr.targets[0].transport)
			}
			const body = `{"model":"m","messages":[{"role":"user","content":"write a long story"}]}`
			if rec := tr.chat(body); rec.Code != http.StatusOK {
				t.Fatalf("warm-up: %d %s", rec.Code, rec.Body)
			}
			crash.Store(true)
			var hdr []string
			if header != "" {
				hdr = []string{header, "k-1"}
			}
			rec := tr.chat(body, hdr...)
			if rec.Code != http.StatusOK || rec.Header().Get("X-LLM-Router-Provider") != "b" {
				t.Fatalf("status %d from %q: %s", rec.Code, rec.Header().Get("X-LLM-Router-Provider"), rec.Body)
			}
			if got := rec.Header().Get("X-LLM-Router-Attempts"); got != "2" {
				t.Errorf("attempts %s, want 2", got)
			}
			if n := a.calls.Load(); n != 2 {
				t.Errorf("upstream a got %d requests, want 2 (warm-up, then the crashed one once)", n)
			}
			if s := tr.targets[0].health.Snapshot(); s.Failures != 1 {
				t.Errorf("target a: %d failures counted, want 1", s.Failures)
			}
			if header != "" && !sawHeader.Load() {
				t.Errorf("the upstream did not get the client's %s", header)
			}
		})
	}
}

// An upstream that closed an idle connection: the transport's read loop notices and drops it,
// and the next request reaches the upstream at the first attempt on a new connection, with
// no cooldown (with a single target, a cooldown would turn an idle timeout into an outage).
// A close that races a request on the wire is an upstream failure like any other: the
// transport cannot tell it from a crash after the request arrived, so it is not resent.
func TestUpstreamClosedIdleConnection(t *testing.T) {
	for _, protocol := range []string{"", "h1"} {
		t.Run("protocol="+protocol, func(t *testing.T) { testUpstreamClosedIdleConnection(t, protocol) })
	}
}

func testUpstreamClosedIdleConnection(t *testing.T, protocol string) {
	up := newUnstartedFakeUpstream(t, okChat)
	conns := countConns(up)
	up.Start()
	p := provider("p", up.URL+"/v1", []string{"sk-p"}, "m", "m-up")
	p.Transport = &transport.Config{Protocol: protocol}
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{p}})
	open := openConns(t, tr.targets[0].transport)
	const body = `{"model":"m","messages":[]}`
	if rec := tr.chat(body); rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	up.CloseClientConnections() // the upstream closes the now idle connection
	eventually(t, "the transport to drop the closed connection", func() bool { return open.Load() == 0 })
	rec := tr.chat(body)
	if rec.Code != http.StatusOK || rec.Header().Get("X-LLM-Router-Attempts") != "1" {
		t.Fatalf("status %d after %s attempts: %s", rec.Code, rec.Header().Get("X-LLM-Router-Attempts"), rec.Body)
	}
	if n := up.calls.Load(); n != 2 {
		t.Errorf("upstream got %d requests, want 2", n)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("upstream accepted %d connections, want 2", n)
	}
	if s := tr.targets[0].health.Snapshot(); s.Failures != 0 || tr.targets[0].cooling(tr.clock.Now().UnixNano()) {
		t.Errorf("target state after an idle close: %+v", s)
	}
	if logs := tr.logs.String(); strings.Contains(logs, "cooldown started") {
		t.Errorf("an idle close was logged as a failure:\n%s", logs)
	}
}

// tlsUpstream is an https upstream whose certificate only its own CA file vouches for.
func tlsUpstream(t *testing.T) (*fakeUpstream, string) {
	t.Helper()
	up := newUnstartedFakeUpstream(t, okChat)
	up.EnableHTTP2 = true
	up.StartTLS()
	return up, writePEM(t, "ca.pem", pemCert(up.Certificate().Raw))
}

// An https upstream with a private CA is reached once the CA file is configured, and is an
// upstream failure (a certificate error, never a cooldown-free success) without it.
func TestPrivateCA(t *testing.T) {
	up, caFile := tlsUpstream(t)
	without := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{
		provider("p", up.URL+"/v1", nil, "m", "m-up"),
	}})
	rec := without.chat(`{"model":"m","messages":[]}`)
	if rec.Code != http.StatusBadGateway || !strings.Contains(rec.Body.String(), "certificate") {
		t.Fatalf("without the CA file: %d %s", rec.Code, rec.Body)
	}
	// Another upstream id: the first router's cooldown of its target is shared state.
	p := provider("p", up.URL+"/v1", nil, "m", "m-up2")
	p.Transport = &transport.Config{TLSTrustedCACerts: []string{caFile}}
	with := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{p}})
	if rec := with.chat(`{"model":"m","messages":[]}`); rec.Code != http.StatusOK {
		t.Fatalf("with the CA file: %d %s", rec.Code, rec.Body)
	}
}

// The router reaches an https upstream through a CONNECT proxy named in the config; the
// proxy URL may be a placeholder, resolved at load.
func TestEgressProxy(t *testing.T) {
	px, err := connectproxy.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.Close)
	up, caFile := tlsUpstream(t)
	t.Setenv("LLM_ROUTER_TEST_PROXY", px.URL)
	p := provider("p", up.URL+"/v1", nil, "m", "m-up")
	p.Transport = &transport.Config{NetworkProxy: "{env.LLM_ROUTER_TEST_PROXY}", TLSTrustedCACerts: []string{caFile}}
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{p}})
	if rec := tr.chat(`{"model":"m","messages":[]}`); rec.Code != http.StatusOK {
		t.Fatalf("through the proxy: %d %s", rec.Code, rec.Body)
	}
	want := "CONNECT " + strings.TrimPrefix(up.URL, "https://")
	if got := px.Requests(); len(got) != 1 || got[0] != want {
		t.Errorf("proxy saw %q, want [%q]", got, want)
	}
	if up.calls.Load() != 1 {
		t.Errorf("upstream got %d requests", up.calls.Load())
	}
}

// By default the proxy comes from the environment (net/http's ProxyFromEnvironment, stood in
// for here: net/http reads the environment once per process; the transport package tests
// the real one in a child process). `none` ignores it.
func TestEgressProxyFromEnvironment(t *testing.T) {
	px, err := connectproxy.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.Close)
	up, caFile := tlsUpstream(t)
	for _, tc := range []struct {
		proxy string
		via   bool
	}{{"", true}, {"env", true}, {"none", false}} {
		var asked atomic.Int64
		p := provider("p", up.URL+"/v1", nil, "m", "m-up")
		p.Transport = &transport.Config{NetworkProxy: tc.proxy, TLSTrustedCACerts: []string{caFile}}
		h := &Handler{Providers: []catalog.ProviderConfig{p}}
		pxURL, _ := urlParse(px.URL)
		h.envProxy = func(*http.Request) (*urlURL, error) { asked.Add(1); return pxURL, nil }
		before := len(px.Requests())
		tr := newTestRouter(t, h)
		if rec := tr.chat(`{"model":"m","messages":[]}`); rec.Code != http.StatusOK {
			t.Fatalf("network_proxy %q: %d %s", tc.proxy, rec.Code, rec.Body)
		}
		if via := len(px.Requests()) > before; via != tc.via || (asked.Load() > 0) != tc.via {
			t.Errorf("network_proxy %q: through the proxy %v (environment asked %d times), want %v", tc.proxy, via, asked.Load(), tc.via)
		}
	}
}

// tls_insecure_skip_verify works, and is warned about at every provision.
func TestInsecureSkipVerifyWarns(t *testing.T) {
	up, _ := tlsUpstream(t)
	for i := range 2 {
		p := provider("p", up.URL+"/v1", nil, "m", "m-up")
		p.Transport = &transport.Config{TLSInsecureSkipVerify: true}
		tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{p}})
		if !strings.Contains(tr.logs.String(), "tls_insecure_skip_verify is on") {
			t.Errorf("provision %d: no warning:\n%s", i, tr.logs.String())
		}
		if rec := tr.chat(`{"model":"m","messages":[]}`); rec.Code != http.StatusOK {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}

// A bad transport setting fails the config load, naming the provider; the error never
// quotes a proxy URL's password.
func TestTransportConfigErrors(t *testing.T) {
	t.Setenv("LLM_ROUTER_TEST_PROXY", "ftp://user:hunter2@proxy.internal:21")
	for _, tc := range []struct {
		c    transport.Config
		want string
	}{
		{transport.Config{NetworkProxy: "{env.LLM_ROUTER_TEST_PROXY}"}, "unsupported scheme"},
		{transport.Config{TLSTrustedCACerts: []string{"/nonexistent/ca.pem"}}, "tls_trusted_ca_certs"},
		{transport.Config{Versions: []string{"h2c", "1.1"}}, "h2c"},
	} {
		p := provider("p", "https://127.0.0.1:1/v1", nil, "m", "m-up")
		p.Transport = &tc.c
		h := &Handler{Providers: []catalog.ProviderConfig{p}}
		h.logger = new(logBuffer).logger()
		err := provisionErr(h)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `"p"`) {
			t.Errorf("%+v: %v, want %q naming the provider", tc.c, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error quotes the proxy password: %v", err)
		}
	}
}

// A small rewritten body goes to the transport as an in-memory copy (net/http then writes
// head and body at once) that does not share the pooled buffer, so the buffer can go back to
// its pool whatever the transport does later; a large one is read from the pooled buffer
// under the lease, which the reader holds until it is closed.
func TestRequestBodyKinds(t *testing.T) {
	small := []byte(`{"model":"m","messages":[]}`)
	f, err := reqbody.Scan(small)
	if err != nil {
		t.Fatal(err)
	}
	released := 0
	lease := reqbody.NewLease(func() { released++ })
	req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:1/", nil)
	setRequestBody(req, reqbody.Rewrite(small, f, "m-up", false).WithLease(lease))
	lease.Done()
	if released != 1 {
		t.Fatalf("the small body holds the lease (released %d)", released)
	}
	copy(small, bytes.Repeat([]byte("x"), len(small))) // the buffer is reused by another request
	got, _ := io.ReadAll(req.Body)
	if string(got) != `{"model":"m-up","messages":[]}` || req.ContentLength != int64(len(got)) {
		t.Errorf("small body %q (length %d)", got, req.ContentLength)
	}
	if !isInMemoryBody(req.Body) {
		t.Errorf("small body is a %T, not an in-memory reader net/http knows", req.Body)
	}
	// GetBody gives the whole body again, as an in-memory reader; with an idempotency header
	// it refuses once some of the body was read.
	small = []byte(`{"model":"m","messages":[]}`)
	for _, guard := range []bool{false, true} {
		req = httptest.NewRequest(http.MethodPost, "http://127.0.0.1:1/", nil)
		if guard {
			req.Header.Set("Idempotency-Key", "k1")
		}
		setRequestBody(req, reqbody.Rewrite(small, f, "m-up", false))
		first, _ := io.ReadAll(req.Body)
		again, err := req.GetBody()
		if guard {
			if !errors.Is(err, errNoResend) {
				t.Errorf("guarded GetBody after a read: %v, want errNoResend", err)
			}
			continue
		}
		if err != nil || !isInMemoryBody(again) {
			t.Fatalf("GetBody: %T, %v", again, err)
		}
		if got, _ := io.ReadAll(again); string(got) != string(first) || len(got) != int(req.ContentLength) {
			t.Errorf("GetBody gave %q, the first reader %q", got, first)
		}
	}
	req = httptest.NewRequest(http.MethodPost, "http://127.0.0.1:1/", nil)
	req.Header.Set("Idempotency-Key", "k1")
	setRequestBody(req, reqbody.Rewrite(small, f, "m-up", false))
	if again, err := req.GetBody(); err != nil || again == nil {
		t.Errorf("guarded GetBody before any read: %v", err)
	}

	large := []byte(`{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("y", 64<<10) + `"}]}`)
	f, _ = reqbody.Scan(large)
	released = 0
	lease = reqbody.NewLease(func() { released++ })
	req = httptest.NewRequest(http.MethodPost, "http://127.0.0.1:1/", nil)
	setRequestBody(req, reqbody.Rewrite(large, f, "m-up", false).WithLease(lease))
	lease.Done()
	if released != 0 {
		t.Fatal("the large body's buffer was released while its reader was open")
	}
	n, _ := io.Copy(io.Discard, req.Body)
	req.Body.Close()
	if released != 1 || n != req.ContentLength {
		t.Errorf("large body: %d of %d bytes, released %d", n, req.ContentLength, released)
	}
}

// versions h2c: the router speaks cleartext HTTP/2 to an http:// upstream that needs it.
func TestH2CUpstream(t *testing.T) {
	var proto atomic.Int32
	up := newUnstartedFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		proto.Store(int32(r.ProtoMajor))
		okChat(w, r)
	})
	up.Config.Protocols = new(http.Protocols)
	up.Config.Protocols.SetUnencryptedHTTP2(true)
	up.Start()
	p := provider("p", up.URL+"/v1", nil, "m", "m-up")
	p.Transport = &transport.Config{Versions: []string{"h2c"}}
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{p}})
	if rec := tr.chat(`{"model":"m","messages":[]}`); rec.Code != http.StatusOK {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if proto.Load() != 2 {
		t.Errorf("the upstream saw HTTP/%d, want 2", proto.Load())
	}
}

// tls_client_auth: the router presents its certificate to an upstream that requires one, and
// the key's content appears in no log.
func TestClientCertificateUpstream(t *testing.T) {
	ca, err := testpki.NewCA("client CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Client("llm-router")
	if err != nil {
		t.Fatal(err)
	}
	var cn atomic.Value
	up := newUnstartedFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		cn.Store(r.TLS.PeerCertificates[0].Subject.CommonName)
		okChat(w, r)
	})
	up.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool()}
	up.StartTLS()
	caFile := writePEM(t, "ca.pem", pemCert(up.Certificate().Raw))
	p := provider("p", up.URL+"/v1", nil, "m", "m-up")
	p.Transport = &transport.Config{TLSTrustedCACerts: []string{caFile},
		TLSClientCertificateFile: writePEM(t, "c.pem", leaf.CertPEM), TLSClientCertificateKeyFile: writePEM(t, "c.key", leaf.KeyPEM)}
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{p}})
	if rec := tr.chat(`{"model":"m","messages":[]}`); rec.Code != http.StatusOK {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if got, _ := cn.Load().(string); got != "llm-router" {
		t.Errorf("upstream saw client certificate %q", got)
	}
	keyLine := strings.Split(string(leaf.KeyPEM), "\n")[1]
	if strings.Contains(tr.logs.String(), keyLine) {
		t.Error("the client key appears in the logs")
	}
}
