// Package transport builds the one upstream transport of the router, Go's net/http Transport,
// from a provider's egress settings: the proxy, TLS trust and client certificate, HTTP
// versions (h2c included) and connection pool limits. It has no Caddy imports; the root
// package resolves placeholders before it calls New.
package transport

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"time"

	"github.com/llmrouter/caddy-llm-router/h1"
)

// Defaults of the settings.
const (
	// DefaultIdleConnsPerHost is the idle connections kept per upstream host. A gateway
	// multiplexes many clients over few upstream hosts: net/http's default of two would make
	// most requests dial.
	DefaultIdleConnsPerHost = 256
	// DefaultIdleTimeout closes connections idle for longer; most upstreams drop theirs sooner.
	DefaultIdleTimeout = 90 * time.Second
	// WriteBufferSize is the size of a connection's write buffer. A request whose head and body
	// fit in it leaves in one write: the router's chat requests are mostly a few KiB. It is
	// allocated per connection, so it is not larger than that.
	WriteBufferSize = 16 << 10
	// tcpKeepAlive is the interval of TCP keepalive probes on upstream connections.
	tcpKeepAlive = 30 * time.Second
	// http2PingAfter is how long an HTTP/2 connection may go without a frame from the
	// upstream before the transport pings it, and http2PingTimeout how long the ping has to be
	// answered before the connection is closed. One HTTP/2 connection carries every concurrent
	// request of a provider to a host, and a dead one (a NAT or firewall that dropped it
	// without a reset) is otherwise kept until TCP's keepalive gives up, minutes later: every
	// request sent on it until then waits out its header timeout.
	http2PingAfter   = 15 * time.Second
	http2PingTimeout = 10 * time.Second
	// http2WriteTimeout closes an HTTP/2 connection on which written bytes have not moved for
	// this long (the upstream stopped reading TCP, not HTTP/2's flow control).
	http2WriteTimeout = 30 * time.Second
)

// Config is one provider's egress settings. The zero value is the default: the proxy from the
// environment, the system's trusted roots, HTTP/2 over TLS where the upstream offers it and
// HTTP/1.1 otherwise, 256 idle connections per host kept for 90 s, no limit on connections.
type Config struct {
	// Protocol is the client that serves the provider's http:// nodes: `http` (the default
	// when empty) is Go's net/http, like every https:// node; `h1` is the router's own
	// HTTP/1.1 client (package h1), which writes a request in one syscall and reads the reply
	// on the request's goroutine: about 20% more throughput through the router on a loopback
	// load test, for cleartext upstreams that take a heavy load (Ollama, vLLM, sidecars).
	// With h1, http:// nodes are reached directly (no proxy, not even from the environment)
	// over HTTP/1.1, and MaxConnsPerHost is not available; https:// nodes keep net/http.
	Protocol string `json:"protocol,omitempty"`

	// NetworkProxy is the proxy that upstream connections go through: `env` (the default when
	// empty) takes it from the HTTPS_PROXY, HTTP_PROXY and NO_PROXY environment variables (and
	// their lowercase forms), `none` connects directly, and a URL (`http://`, `https://` or
	// `socks5://`, with optional user:password) names the proxy. An https:// upstream is
	// reached through an HTTP proxy with CONNECT. Placeholders such as `{env.PROXY_URL}` work
	// and are resolved when the config loads; write credentials that way, as the config itself
	// is served by the admin API.
	NetworkProxy string `json:"network_proxy,omitempty"`

	// TLSTrustedCACerts are PEM files of certificate authorities trusted for https://
	// upstreams in addition to the system's roots (Caddy's reverse_proxy replaces the system's
	// roots with its list; this adds to them). Default: the system's roots only. Placeholders
	// work in the paths.
	TLSTrustedCACerts []string `json:"tls_trusted_ca_certs,omitempty"`

	// TLSClientCertificateFile is a PEM certificate (chain) the router presents to https://
	// upstreams that ask for one (mutual TLS). It needs TLSClientCertificateKeyFile. Default:
	// none. Placeholders work in the path.
	TLSClientCertificateFile string `json:"tls_client_certificate_file,omitempty"`

	// TLSClientCertificateKeyFile is the PEM private key of TLSClientCertificateFile. The key
	// is read when the config loads and never logged. Placeholders work in the path.
	TLSClientCertificateKeyFile string `json:"tls_client_certificate_key_file,omitempty"`

	// TLSServerName is the name sent in TLS's server name indication and checked against the
	// upstream's certificate. Default: the host of the node's base URL.
	TLSServerName string `json:"tls_server_name,omitempty"`

	// TLSInsecureSkipVerify turns off the verification of upstream certificates, which lets
	// anyone on the path read and change requests, keys included. Default false; a warning is
	// logged at every config load while it is on.
	TLSInsecureSkipVerify bool `json:"tls_insecure_skip_verify,omitempty"`

	// Versions are the HTTP versions spoken to upstreams: `1.1`, `2` (over TLS, where the
	// upstream offers it in ALPN) and `h2c` (HTTP/2 in cleartext, with prior knowledge, for
	// http:// nodes that need it, such as gRPC-style gateways). Default: `1.1 2`. `h2c` cannot
	// be combined with `1.1`: it replaces HTTP/1.1 for every node of the provider, so its
	// https:// nodes then speak HTTP/2 only.
	Versions []string `json:"versions,omitempty"`

	// MaxConnsPerHost limits the connections (idle, active and dialing) to one upstream host;
	// a request over the limit waits for a connection. Default 0: no limit.
	MaxConnsPerHost int `json:"max_conns_per_host,omitempty"`

	// KeepAliveIdleConnsPerHost is the number of idle connections kept per upstream host for
	// reuse. Default 256.
	KeepAliveIdleConnsPerHost int `json:"keepalive_idle_conns_per_host,omitempty"`

	// KeepAlive is how long an idle connection is kept before it is closed. In JSON a number
	// of nanoseconds or a duration string such as "90s", as Caddy's durations. Default 90s.
	KeepAlive Duration `json:"keepalive,omitempty"`
}

// Options are the router-wide settings a transport also needs.
type Options struct {
	// DialTimeout bounds connecting to an upstream, and its TLS handshake.
	DialTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for an upstream's response headers after the
	// request was written. 0: no bound.
	ResponseHeaderTimeout time.Duration
	// HTTP2PingAfter replaces the http2PingAfter constant, and the ping's timeout with it
	// (tests). 0: the constants.
	HTTP2PingAfter time.Duration
	// EnvProxy replaces http.ProxyFromEnvironment for NetworkProxy `env` (tests). net/http
	// reads the environment once per process, so tests cannot change it between cases.
	EnvProxy func(*http.Request) (*url.URL, error)
}

// Validate checks c without reading any file.
func (c *Config) Validate() error {
	if c == nil {
		return nil
	}
	if _, err := c.protocols(); err != nil {
		return err
	}
	switch c.Protocol {
	case "", "http":
	case "h1":
		switch {
		case c.NetworkProxy != "" && c.NetworkProxy != "env" && c.NetworkProxy != "none":
			return errors.New("protocol h1 connects directly: it cannot use network_proxy")
		case slices.Contains(c.Versions, "h2c"):
			return errors.New("protocol h1 speaks HTTP/1.1: it cannot use versions h2c")
		case c.MaxConnsPerHost > 0:
			return errors.New("protocol h1 has no max_conns_per_host")
		}
	default:
		return fmt.Errorf("unknown protocol %q: use http or h1", c.Protocol)
	}
	switch c.NetworkProxy {
	case "", "env", "none":
	default:
		if _, err := parseProxyURL(c.NetworkProxy); err != nil {
			return err
		}
	}
	if (c.TLSClientCertificateFile == "") != (c.TLSClientCertificateKeyFile == "") {
		return errors.New("tls_client_auth needs both a certificate file and a key file")
	}
	if c.MaxConnsPerHost < 0 || c.KeepAliveIdleConnsPerHost < 0 || c.KeepAlive < 0 {
		return errors.New("max_conns_per_host, keepalive_idle_conns_per_host and keepalive must not be negative")
	}
	return nil
}

// protocols turns Versions into net/http's protocol set.
func (c *Config) protocols() (*http.Protocols, error) {
	p := new(http.Protocols)
	if c == nil || len(c.Versions) == 0 {
		p.SetHTTP1(true)
		p.SetHTTP2(true)
		return p, nil
	}
	for _, v := range c.Versions {
		switch v {
		case "1.1":
			p.SetHTTP1(true)
		case "2":
			p.SetHTTP2(true)
		case "h2c":
			p.SetUnencryptedHTTP2(true)
			p.SetHTTP2(true)
		default:
			return nil, fmt.Errorf("unknown HTTP version %q: use 1.1, 2 or h2c", v)
		}
	}
	if p.UnencryptedHTTP2() && p.HTTP1() {
		// net/http would speak HTTP/1.1 to http:// nodes and never h2c.
		return nil, errors.New("versions: h2c cannot be combined with 1.1")
	}
	return p, nil
}

// parseProxyURL checks a proxy URL. Its error never quotes the URL, which may carry a
// password.
func parseProxyURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return nil, errors.New("network_proxy: not a URL (want env, none, or a URL such as http://proxy.internal:3128)")
	}
	switch u.Scheme {
	case "http", "https", "socks5", "socks5h":
	default:
		return nil, fmt.Errorf("network_proxy: unsupported scheme %q (want http, https or socks5)", u.Scheme)
	}
	return u, nil
}

// New returns the transport for c (nil means the defaults). Files named in c are read now.
// Errors name files but never quote their contents or a proxy URL.
func New(c *Config, o Options) (*http.Transport, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c == nil {
		c = new(Config)
	}
	protocols, _ := c.protocols()
	dialer := &net.Dialer{Timeout: o.DialTimeout, KeepAlive: tcpKeepAlive}
	t := &http.Transport{
		DialContext:           dialer.DialContext,
		Protocols:             protocols,
		TLSHandshakeTimeout:   o.DialTimeout,
		ResponseHeaderTimeout: o.ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		MaxConnsPerHost:       c.MaxConnsPerHost,
		MaxIdleConnsPerHost:   orDefault(c.KeepAliveIdleConnsPerHost, DefaultIdleConnsPerHost),
		IdleConnTimeout:       orDefault(time.Duration(c.KeepAlive), DefaultIdleTimeout),
		WriteBufferSize:       WriteBufferSize,
		HTTP2: &http.HTTP2Config{
			SendPingTimeout:  orDefault(o.HTTP2PingAfter, http2PingAfter),
			PingTimeout:      orDefault(o.HTTP2PingAfter, http2PingTimeout),
			WriteByteTimeout: http2WriteTimeout,
		},
	}
	t.MaxIdleConns = max(1024, t.MaxIdleConnsPerHost)

	switch c.NetworkProxy {
	case "", "env":
		t.Proxy = http.ProxyFromEnvironment
		if o.EnvProxy != nil {
			t.Proxy = o.EnvProxy
		}
	case "none":
	default:
		u, err := parseProxyURL(c.NetworkProxy)
		if err != nil {
			return nil, err
		}
		t.Proxy = http.ProxyURL(u)
	}

	tc, err := c.tlsConfig()
	if err != nil {
		return nil, err
	}
	t.TLSClientConfig = tc
	return t, nil
}

// UsesH1 reports whether http:// nodes go through the h1 client.
func (c *Config) UsesH1() bool { return c != nil && c.Protocol == "h1" }

// NewH1 returns the h1 client for c's http:// nodes (see Protocol).
func NewH1(c *Config, o Options) *h1.Transport {
	if c == nil {
		c = new(Config)
	}
	dialer := &net.Dialer{Timeout: o.DialTimeout, KeepAlive: tcpKeepAlive}
	return &h1.Transport{
		DialContext:           dialer.DialContext,
		ResponseHeaderTimeout: o.ResponseHeaderTimeout,
		MaxIdlePerHost:        orDefault(c.KeepAliveIdleConnsPerHost, DefaultIdleConnsPerHost),
		IdleTimeout:           orDefault(time.Duration(c.KeepAlive), DefaultIdleTimeout),
	}
}

// tlsConfig returns the client TLS settings, or nil for Go's defaults.
func (c *Config) tlsConfig() (*tls.Config, error) {
	if len(c.TLSTrustedCACerts) == 0 && c.TLSClientCertificateFile == "" && c.TLSServerName == "" && !c.TLSInsecureSkipVerify {
		return nil, nil
	}
	tc := &tls.Config{
		ServerName:         c.TLSServerName,
		InsecureSkipVerify: c.TLSInsecureSkipVerify, //nolint:gosec // explicit opt-in, warned about at every load
		MinVersion:         tls.VersionTLS12,
	}
	if len(c.TLSTrustedCACerts) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		for _, f := range c.TLSTrustedCACerts {
			pem, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("tls_trusted_ca_certs: %w", err)
			}
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("tls_trusted_ca_certs: %s holds no PEM certificate", f)
			}
		}
		tc.RootCAs = pool
	}
	if c.TLSClientCertificateFile != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSClientCertificateFile, c.TLSClientCertificateKeyFile)
		if err != nil {
			// LoadX509KeyPair's errors describe the PEM blocks, never the key's bytes.
			return nil, fmt.Errorf("tls_client_auth: %s, %s: %w", c.TLSClientCertificateFile, c.TLSClientCertificateKeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Duration is a time.Duration that reads from JSON as Caddy's durations do: a number of
// nanoseconds, or a string such as "90s" or "1h30m". It writes as a number.
type Duration time.Duration

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("bad duration %q: %w", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("a duration is a number of nanoseconds or a string such as \"90s\": %w", err)
	}
	*d = Duration(n)
	return nil
}
