package llmrouter

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// startSentinel starts a Sentinel that watches master as "mymaster" and returns its address.
func startSentinel(t *testing.T, master string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	_, port, _ := net.SplitHostPort(addr)
	mhost, mport, _ := net.SplitHostPort(master)
	conf := filepath.Join(t.TempDir(), "sentinel.conf") // Sentinel rewrites its config file
	if err := os.WriteFile(conf, fmt.Appendf(nil, "port %s\nbind 127.0.0.1\nsentinel monitor mymaster %s %s 1\n", port, mhost, mport), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("redis-server", conf, "--sentinel")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	s := redis.NewSentinelClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { _ = s.Close() })
	within(t, 10*time.Second, "the Sentinel knows the master", func() bool {
		a, err := s.GetMasterAddrByName(context.Background(), "mymaster").Result()
		return err == nil && len(a) == 2 && a[1] == mport
	})
	return addr
}

// Through Sentinel: the instances find the master by name and share cooldowns and limits.
func TestFleetThroughSentinel(t *testing.T) {
	rs := startRedis(t)
	sentinel := startSentinel(t, rs.addr)
	var sw switchable
	first := newFakeUpstream(t, sw.serve)
	second := newFakeUpstream(t, okChat)
	clock := newFakeClock()
	cfg := fleetConfig(sentinel)
	cfg.MasterName = "mymaster"
	fl := newFleetRouters(t, 2, cfg, clock, func() *Handler {
		h := twoProviders(first.URL, second.URL)()
		h.Auth = &AuthConfig{Keys: []GatewayKey{{Name: "alice", Key: "gw-literal-key-0000001", RPM: 5}}}
		return h
	})
	a, b := fl[0], fl[1]
	within(t, 5*time.Second, "connected", func() bool { return a.fleet.r.Up() && b.fleet.r.Up() })
	auth := []string{"Authorization", "Bearer gw-literal-key-0000001"}
	sw.set(status(http.StatusTooManyRequests, "Retry-After", "30"))
	if rec := a.chat(`{"model":"m","messages":[]}`, auth...); rec.Code != 200 {
		t.Fatalf("A: %d", rec.Code)
	}
	within(t, time.Second, "B learns A's cooldown", func() bool { return targetOf(b.Handler, "first").cooling(clock.Now().UnixNano()) })
	passed := 1
	for range 10 {
		if rec := b.chat(`{"model":"m","messages":[]}`, auth...); rec.Code == 200 {
			passed++
		}
	}
	if passed != 5 {
		t.Errorf("%d passed rpm 5", passed)
	}
	if n := len(allKeys(t, rs.client(""))); n == 0 {
		t.Error("nothing written to the master")
	}
}
