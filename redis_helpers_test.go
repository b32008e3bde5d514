package llmrouter

import (
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/llmrouter/caddy-llm-router/state"
)

// redisServer is a real redis-server started for one test on a free port, without
// persistence, killed when the test ends.
type redisServer struct {
	t    testing.TB
	addr string
	args []string
	mu   sync.Mutex
	cmd  *exec.Cmd
}

// startRedis starts redis-server with extra args (e.g. "--requirepass", "x"). Without a
// redis-server it skips the test (fails in CI).
func startRedis(t testing.TB, args ...string) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		skipOrFail(t, "redis-server not found: install it (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) to run the fleet tests")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	s := &redisServer{t: t, addr: addr, args: args}
	s.start()
	t.Cleanup(s.kill)
	return s
}

func (s *redisServer) start() {
	s.t.Helper()
	_, port, _ := net.SplitHostPort(s.addr)
	args := append([]string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}, s.args...)
	cmd := exec.Command("redis-server", args...)
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("redis-server: %v", err)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.addr, 100*time.Millisecond)
		if err == nil {
			_, _ = c.Write([]byte("PING\r\n"))
			buf := make([]byte, 64)
			_ = c.SetReadDeadline(time.Now().Add(time.Second))
			n, _ := c.Read(buf)
			_ = c.Close()
			// +PONG, or -NOAUTH from a server with a password: both mean it is serving.
			if n > 0 && (strings.HasPrefix(string(buf[:n]), "+PONG") || strings.HasPrefix(string(buf[:n]), "-NOAUTH")) {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on %s did not answer PING", s.addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill stops the server at once (SIGKILL: a crash, not a shutdown).
func (s *redisServer) kill() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
}

// client is a plain client for inspecting what the router wrote.
func (s *redisServer) client(password string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.addr, Password: password, Protocol: 2, DisableIdentity: true})
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// allKeys returns every key in the server.
func allKeys(t testing.TB, c *redis.Client) []string {
	t.Helper()
	keys, err := c.Keys(context.Background(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// fleetConfig is a Redis config for tests: generous timeouts, so a loaded machine running
// -race does not make a request fall back to local counting where a test counts exactly.
// roomyRedisTimeouts, in a Caddyfile redis block, replaces the 50ms defaults with bounds a
// loaded machine running -race meets: a whole-Caddy test that is not about Redis timeouts
// must not see Redis as away (a 503 from the usage API, a lost count) because a reply was late.
const roomyRedisTimeouts = "dial_timeout 5s\n\t\t\tread_timeout 5s\n\t\t\twrite_timeout 5s"

func fleetConfig(addr string) state.Config {
	return state.Config{Addrs: []string{addr}, Prefix: "t:", DialTimeout: time.Second,
		ReadTimeout: time.Second, WriteTimeout: time.Second, FlushInterval: 50 * time.Millisecond}
}

// newTestFleet makes and starts one instance's shared state, in namespace ns of reloadStore.
func newTestFleet(t testing.TB, cfg state.Config, ns string, clock *fakeClock, logger *zap.Logger) *fleet {
	t.Helper()
	f := newUnstartedFleet(t, cfg, ns, clock, logger)
	f.r.Start()
	return f
}

// newUnstartedFleet is newTestFleet without the Start.
func newUnstartedFleet(t testing.TB, cfg state.Config, ns string, clock *fakeClock, logger *zap.Logger) *fleet {
	t.Helper()
	if logger == nil {
		logger = zap.NewNop()
	}
	f, err := newFleet(cfg, ns, clock.Now, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.close() })
	return f
}

// fleetRouter is one instance of a fleet: a handler with its shared state.
type fleetRouter struct {
	*testRouter
	fleet *fleet
}

var fleetSeq struct {
	sync.Mutex
	n int
}

// newFleetRouters provisions n instances of the handler that mk makes, sharing the Redis at
// cfg and the clock, each in its own namespace so that they share only what goes through Redis.
func newFleetRouters(t testing.TB, n int, cfg state.Config, clock *fakeClock, mk func() *Handler) []*fleetRouter {
	t.Helper()
	out := make([]*fleetRouter, n)
	for i := range out {
		fleetSeq.Lock()
		fleetSeq.n++
		ns := "fleet" + strconv.Itoa(fleetSeq.n) + "/"
		fleetSeq.Unlock()
		logs := new(logBuffer)
		f := newUnstartedFleet(t, cfg, ns, clock, logs.logger())
		h := mk()
		h.shared = f
		tr := newTestRouterClock(t, h, clock, logs)
		// As in Caddy: apps start once every handler is provisioned.
		f.r.Start()
		out[i] = &fleetRouter{testRouter: tr, fleet: f}
	}
	return out
}

// newTestRouterClock is newTestRouter with a given clock and log capture.
func newTestRouterClock(t testing.TB, h *Handler, clock *fakeClock, logs *logBuffer) *testRouter {
	t.Helper()
	tr := &testRouter{Handler: h, clock: clock, logs: logs}
	h.now = clock.Now
	h.logger = logs.logger()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	if err := h.Provision(ctx); err != nil {
		t.Fatalf("provision: %v", err)
	}
	t.Cleanup(func() { _ = h.Cleanup() })
	return tr
}

// within polls cond every 5 ms until it holds or d has passed, and reports how long it
// took.
func within(t testing.TB, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

func (s *redisServer) String() string { return fmt.Sprintf("redis-server %s", s.addr) }

// redisProxy forwards TCP connections to a Redis. cut closes every connection through it and
// refuses new ones until restore: Redis is unreachable for the router, as in a network
// partition, while it keeps its data (a restarted redis-server in these tests would not).
type redisProxy struct {
	l     net.Listener
	to    string
	mu    sync.Mutex
	off   bool
	conns []net.Conn
}

func startRedisProxy(t testing.TB, to string) *redisProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &redisProxy{l: l, to: to}
	t.Cleanup(func() {
		_ = l.Close()
		p.cut()
	})
	go p.accept()
	return p
}

func (p *redisProxy) addr() string { return p.l.Addr().String() }

func (p *redisProxy) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.off {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.to)
		if err != nil {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
		go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
	}
}

// cut closes every connection and refuses new ones.
func (p *redisProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.off = true
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

// restore lets connections through again.
func (p *redisProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.off = false
}
