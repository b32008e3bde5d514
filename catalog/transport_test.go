package catalog

import (
	"reflect"
	"strings"
	"testing"

	"github.com/llmrouter/caddy-llm-router/transport"
)

// A provider's transport settings reach its Provider with placeholders resolved, and the
// config they came from keeps the placeholders: it is what the admin API serves, and a proxy
// URL may hold a password.
func TestTransportSettingsResolved(t *testing.T) {
	tc := &transport.Config{
		NetworkProxy:                "{env.PROXY}",
		TLSTrustedCACerts:           []string{"{env.CA}", "/etc/ssl/b.pem"},
		TLSClientCertificateFile:    "{env.CERT}",
		TLSClientCertificateKeyFile: "{env.KEY}",
		TLSServerName:               "api.internal",
		Versions:                    []string{"2"},
		MaxConnsPerHost:             3,
	}
	orig := *tc
	orig.TLSTrustedCACerts = append([]string(nil), tc.TLSTrustedCACerts...)
	pc := ProviderConfig{Name: "p", BaseURLs: []string{"https://api.internal/v1"}, Models: []ModelRoute{{Name: "m"}}, Transport: tc}
	resolve := mapResolver(map[string]string{
		"{env.PROXY}": "http://user:hunter2@proxy.internal:3128",
		"{env.CA}":    "/etc/ssl/a.pem",
		"{env.CERT}":  "/etc/ssl/c.pem",
		"{env.KEY}":   "/etc/ssl/c.key",
	})
	cat, _ := mustBuild(t, resolve, Config{Providers: []ProviderConfig{pc}})
	got := cat.Providers[0].Transport
	want := transport.Config{
		NetworkProxy:                "http://user:hunter2@proxy.internal:3128",
		TLSTrustedCACerts:           []string{"/etc/ssl/a.pem", "/etc/ssl/b.pem"},
		TLSClientCertificateFile:    "/etc/ssl/c.pem",
		TLSClientCertificateKeyFile: "/etc/ssl/c.key",
		TLSServerName:               "api.internal",
		Versions:                    []string{"2"},
		MaxConnsPerHost:             3,
	}
	if got == nil || !reflect.DeepEqual(*got, want) {
		t.Errorf("resolved %+v\nwant %+v", got, want)
	}
	if !reflect.DeepEqual(*tc, orig) {
		t.Errorf("the config was changed in place: %+v", *tc)
	}

	// A resolved value that is not valid fails the build, naming the provider and never
	// quoting the password.
	bad := mapResolver(map[string]string{"{env.PROXY}": "ftp://user:hunter2@proxy.internal:21"})
	_, _, err := Build(bad, Config{Providers: []ProviderConfig{pc}})
	if err == nil || !strings.Contains(err.Error(), `provider "p"`) || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("bad proxy: %v", err)
	}
}
