//go:build unix

package h1

import (
	"net"
	"runtime"
	"testing"
	"time"
)

// TestProber protects the liveness probe that keeps stale pooled connections from failing
// requests: an idle healthy connection is alive; one with bytes waiting (a protocol error) is
// not, and probing consumes nothing; one the peer closed is not; a wrapped conn cannot be probed.
func TestProber(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	var server net.Conn
	select {
	case server = <-accepted:
	case <-time.After(10 * time.Second):
		t.Fatal("no accept")
	}
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { server.Close() })

	if newProber(struct{ net.Conn }{client}) != nil {
		t.Error("newProber probed a conn that does not expose its descriptor")
	}
	p := newProber(client)
	if p == nil {
		t.Fatal("newProber(*net.TCPConn) = nil")
	}
	if !p.alive() {
		t.Fatal("idle healthy connection reported dead")
	}

	if _, err := server.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	// The byte's arrival is the kernel's business: poll, bounded.
	waitUntil(t, "the probe to see the stray byte", func() bool { return !p.alive() })
	buf := make([]byte, 1)
	if n, err := client.Read(buf); n != 1 || buf[0] != 'x' {
		t.Fatalf("Read after probing = %d %q, %v; the probe consumed data", n, buf[:n], err)
	}
	if !p.alive() {
		t.Fatal("connection reported dead once the stray byte was read")
	}

	server.Close()
	waitUntil(t, "the probe to see the peer's close", func() bool { return !p.alive() })
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
