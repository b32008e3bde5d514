package llmrouter

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/llmrouter/caddy-llm-router/transport"
)

// A provider's transport block: every option, the names reverse_proxy's transport http uses.
func TestCaddyfileTransport(t *testing.T) {
	for _, tc := range []struct {
		name, block string
		want        transport.Config
	}{
		{"empty", `transport {
		}`, transport.Config{}},
		{"http argument", `transport http {
			network_proxy none
		}`, transport.Config{NetworkProxy: "none"}},
		{"everything", `transport {
			network_proxy {env.EGRESS_PROXY}
			tls_trusted_ca_certs /etc/ssl/corp-ca.pem {env.EXTRA_CA}
			tls_trusted_ca_certs /etc/ssl/other.pem
			tls_client_auth /etc/ssl/router.pem /etc/ssl/router.key
			tls_server_name api.internal
			tls_insecure_skip_verify
			versions 2 h2c
			max_conns_per_host 64
			keepalive_idle_conns_per_host 32
			keepalive 30s
		}`, transport.Config{
			NetworkProxy:                "{env.EGRESS_PROXY}",
			TLSTrustedCACerts:           []string{"/etc/ssl/corp-ca.pem", "{env.EXTRA_CA}", "/etc/ssl/other.pem"},
			TLSClientCertificateFile:    "/etc/ssl/router.pem",
			TLSClientCertificateKeyFile: "/etc/ssl/router.key",
			TLSServerName:               "api.internal",
			TLSInsecureSkipVerify:       true,
			Versions:                    []string{"2", "h2c"},
			MaxConnsPerHost:             64,
			KeepAliveIdleConnsPerHost:   32,
			KeepAlive:                   transport.Duration(30 * time.Second),
		}},
		{"reverse_proxy's network_proxy url form", `transport {
			network_proxy url http://proxy.internal:3128
		}`, transport.Config{NetworkProxy: "http://proxy.internal:3128"}},
		{"h1", `transport h1 {
			keepalive_idle_conns_per_host 512
		}`, transport.Config{Protocol: "h1", KeepAliveIdleConnsPerHost: 512}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := parseRouter("llm_router {\nprovider p {\nbase_url http://127.0.0.1:1/v1\nmodel m\n" + tc.block + "\n}\n}")
			if err != nil {
				t.Fatal(err)
			}
			got := h.Providers[0].Transport
			if got == nil || !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestCaddyfileTransportErrors(t *testing.T) {
	for _, tc := range []struct{ block, want string }{
		{"transport fastcgi {\n}", "unknown transport 'fastcgi'"},
		{"transport {\nversions 3\n}", "unknown HTTP version"},
		{"transport {\nversions 1.1 h2c\n}", "h2c cannot be combined with 1.1"},
		{"transport {\ntls_client_auth only-a-cert.pem\n}", "tls_client_auth takes a certificate file and a key file"},
		{"transport {\nnetwork_proxy ftp://user:hunter2@proxy:21\n}", "unsupported scheme"},
		{"transport {\nnetwork_proxy\n}", "network_proxy takes env, none or a URL"},
		{"transport {\nmax_conns_per_host -1\n}", "whole number"},
		{"transport {\nkeepalive forever\n}", "bad duration"},
		{"transport {\nbogus\n}", "unrecognized transport option 'bogus'"},
		{"transport h1 {\nnetwork_proxy http://proxy:3128\n}", "h1 connects directly"},
		{"transport h1 {\nversions h2c\n}", "h1 speaks HTTP/1.1"},
		{"transport {\n}\ntransport {\n}", "transport given twice"},
	} {
		_, err := parseRouter("llm_router {\nprovider p {\nbase_url http://127.0.0.1:1/v1\nmodel m\n" + tc.block + "\n}\n}")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.block, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%q: the error quotes the proxy password: %v", tc.block, err)
		}
	}
}
