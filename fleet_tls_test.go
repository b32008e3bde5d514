package llmrouter

import (
	"context"
	"crypto/tls"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/llmrouter/caddy-llm-router/internal/testpki"
)

// The app connects to a redis-server that takes TLS only and requires a client certificate,
// with the CA, certificate and key files the config names; without the certificate it stays
// away, with one warning.
func TestStateAppTLS(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		skipOrFail(t, "redis-server not found: install it (Debian/Ubuntu: apt-get install redis-server) to run the fleet tests")
	}
	dir := t.TempDir()
	ca, err := testpki.NewCA("redis test CA")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Server("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cli, err := ca.Client("llm_router")
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p, err := testpki.Write(dir, name, b)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile, srvCert, srvKey := write("ca.pem", ca.PEM), write("srv.pem", srv.CertPEM), write("srv.key", srv.KeyPEM)
	cliCert, cliKey := write("cli.pem", cli.CertPEM), write("cli.key", cli.KeyPEM)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("redis-server", "--port", "0", "--tls-port", port, "--bind", "127.0.0.1",
		"--tls-cert-file", srvCert, "--tls-key-file", srvKey, "--tls-ca-cert-file", caFile,
		"--tls-auth-clients", "yes", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	within(t, 10*time.Second, "redis-server listens for TLS", func() bool {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{cli.TLS}})
		if err != nil {
			return false
		}
		_ = c.Close()
		return true
	})

	provision := func(tlsCfg *RedisTLS) *StateApp {
		t.Helper()
		app := &StateApp{Redis: &RedisConfig{Addresses: []string{addr}, Prefix: "tls:", TLS: tlsCfg,
			DialTimeout: caddy.Duration(time.Second), ReadTimeout: caddy.Duration(time.Second), WriteTimeout: caddy.Duration(time.Second)}}
		ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
		t.Cleanup(cancel)
		if err := app.Provision(ctx); err != nil {
			t.Fatal(err)
		}
		if err := app.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = app.Stop() })
		return app
	}
	t.Setenv("LLMR_REDIS_CA", caFile)
	good := provision(&RedisTLS{CA: "{env.LLMR_REDIS_CA}", Cert: cliCert, Key: cliKey})
	within(t, 3*time.Second, "connected over mutual TLS", good.fleet.r.Up)
	noCert := provision(&RedisTLS{CA: caFile})
	time.Sleep(300 * time.Millisecond)
	if noCert.fleet.r.Up() {
		t.Error("connected without the client certificate the server requires")
	}
	wrongCA := provision(&RedisTLS{Cert: cliCert, Key: cliKey})
	time.Sleep(300 * time.Millisecond)
	if wrongCA.fleet.r.Up() {
		t.Error("connected to a server whose CA is not trusted")
	}
	if _, err := (&RedisConfig{TLS: &RedisTLS{CA: dir + "/missing.pem"}}).resolve(func(s string) string { return s }); err == nil || !strings.Contains(err.Error(), "redis tls ca") {
		t.Errorf("a missing CA file: %v", err)
	}
}
