package llmrouter

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// startCluster starts a three-master Redis Cluster (no replicas) and returns a seed address.
func startCluster(t *testing.T) []string {
	t.Helper()
	var nodes []*redisServer
	for range 3 {
		nodes = append(nodes, startRedis(t, "--cluster-enabled", "yes", "--cluster-config-file",
			t.TempDir()+"/nodes.conf", "--cluster-node-timeout", "2000"))
	}
	ctx := context.Background()
	per := 16384 / 3
	for i, n := range nodes {
		lo, hi := i*per, (i+1)*per-1
		if i == 2 {
			hi = 16383
		}
		c := n.client("")
		if err := c.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", lo, hi).Err(); err != nil {
			t.Fatalf("addslots: %v", err)
		}
		if i > 0 {
			host, port, _ := strings.Cut(n.addr, ":")
			if err := nodes[0].client("").Do(ctx, "CLUSTER", "MEET", host, port).Err(); err != nil {
				t.Fatalf("meet: %v", err)
			}
		}
	}
	within(t, 15*time.Second, "the cluster agrees", func() bool {
		for _, n := range nodes {
			info, _ := n.client("").ClusterInfo(ctx).Result()
			if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:3") {
				return false
			}
		}
		return true
	})
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.addr
	}
	return addrs
}

// The fleet works the same on a Redis Cluster: cooldowns reach the peer, limits are exact,
// sticky ids and usage are shared, and resynchronisation scans every master.
func TestFleetOnRedisCluster(t *testing.T) {
	addrs := startCluster(t)
	var sw switchable
	first := newFakeUpstream(t, sw.serve)
	second := newFakeUpstream(t, okChat)
	clock := newFakeClock()
	cfg := fleetConfig(addrs[0])
	cfg.Cluster = true
	mk := func() *Handler {
		h := twoProviders(first.URL, second.URL)()
		h.Auth = &AuthConfig{Keys: []GatewayKey{{Name: "alice", Key: "gw-literal-key-0000001", RPM: 10}}}
		return h
	}
	fl := newFleetRouters(t, 2, cfg, clock, mk)
	a, b := fl[0], fl[1]
	within(t, 5*time.Second, "connected", func() bool { return a.fleet.r.Up() && b.fleet.r.Up() })
	auth := []string{"Authorization", "Bearer gw-literal-key-0000001"}
	sw.set(status(http.StatusTooManyRequests, "Retry-After", "30"))
	if rec := a.chat(`{"model":"m","messages":[]}`, auth...); rec.Code != 200 {
		t.Fatalf("A: %d", rec.Code)
	}
	tb := targetOf(b.Handler, "first")
	within(t, time.Second, "B learns A's cooldown", func() bool { return tb.cooling(clock.Now().UnixNano()) })
	passed := 1
	for i := range 20 {
		if rec := fl[i%2].chat(`{"model":"m","messages":[]}`, auth...); rec.Code == 200 {
			passed++
		}
	}
	if passed != 10 {
		t.Errorf("%d passed rpm 10", passed)
	}
	a.fleet.sticky.Put("file", "file-c1", "00aa", time.Hour)
	if o, ok := b.fleet.sticky.Get("file", "file-c1"); !ok || o != "00aa" {
		t.Errorf("sticky through B: %q %v", o, ok)
	}
	// A flush is skipped while an instance takes Redis for down (a slow reply on a loaded
	// machine): flush until both instances' counts are in, or the bound.
	var counted int64
	within(t, 5*time.Second, "both instances' usage flushed", func() bool {
		a.fleet.r.FlushUsage()
		b.fleet.r.FlushUsage()
		days, err := b.fleet.r.Usage(context.Background(), 1)
		if err != nil || len(days) == 0 || days[0].Models["m"] == nil {
			return false
		}
		counted = days[0].Models["m"].Requests
		return counted >= int64(passed)
	})
	if counted != int64(passed) {
		t.Errorf("usage counts %d requests, want %d", counted, passed)
	}
	// A third instance, started now, learns the cooldown by its first resynchronisation, which
	// scans every master.
	c := newFleetRouters(t, 1, cfg, clock, mk)[0]
	within(t, 5*time.Second, "C resynchronised", func() bool { return c.fleet.r.Resyncs() > 0 })
	if !targetOf(c.Handler, "first").cooling(clock.Now().UnixNano()) {
		t.Error("C does not know the cooldown")
	}
}
