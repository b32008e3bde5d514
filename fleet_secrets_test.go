package llmrouter

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// No secret reaches Redis (keys, values, members, the channel), the logs or the admin API:
// not a provider key, not a gateway key, not the Redis password, even when Redis refuses it.
func TestFleetSecretsStayOut(t *testing.T) {
	const (
		redisPW    = "redis-pw-s3cret-XYZ-4711"
		wrongPW    = "wrong-pw-s3cret-ABC-0815"
		gatewayKey = "gw-secret-key-QWERTY-123456"
		key1       = "sk-first-secret-AAAAAAAAAA"
		key2       = "sk-second-secret-BBBBBBBBB"
	)
	secrets := []string{redisPW, wrongPW, gatewayKey, key1, key2}
	rs := startRedis(t, "--requirepass", redisPW)
	var sw switchable
	first := newFakeUpstream(t, sw.serve)
	second := newFakeUpstream(t, okChat)
	clock := newFakeClock()
	cfg := fleetConfig(rs.addr)
	cfg.Password = redisPW
	t.Setenv("FLEET_GATEWAY_KEY", gatewayKey)
	fl := newFleetRouters(t, 2, cfg, clock, func() *Handler {
		return &Handler{Strategy: "priority", StatusPage: "/status",
			Providers: []catalog.ProviderConfig{
				provider("first", first.URL, []string{key1}, "m", "up-m"),
				provider("second", second.URL, []string{key2}, "m", "up-m")},
			Auth: &AuthConfig{Keys: []GatewayKey{{Name: "alice", Key: "{env.FLEET_GATEWAY_KEY}", RPM: 1000}}}}
	})
	// Watch the channel as a peer would.
	c := rs.client(redisPW)
	sub := c.Subscribe(context.Background(), "t:cooldowns")
	defer sub.Close()
	if _, err := sub.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}
	auth := []string{"Authorization", "Bearer " + gatewayKey}
	fl[0].chat(`{"model":"m","messages":[]}`, auth...)
	sw.set(status(http.StatusTooManyRequests, "Retry-After", "30"))
	fl[0].chat(`{"model":"m","messages":[]}`, auth...)
	clock.Advance(31 * time.Second)
	sw.set(status(http.StatusUnauthorized))
	fl[1].chat(`{"model":"m","messages":[]}`, auth...)
	fl[0].fleet.sticky.Put("file", "file-1", targetOf(fl[0].Handler, "first").KeyStateID, time.Hour)
	for _, r := range fl {
		r.fleet.r.FlushUsage()
	}
	var seen []string
	for range 2 {
		m, err := sub.ReceiveTimeout(context.Background(), 2*time.Second)
		if err != nil {
			t.Fatalf("channel: %v", err)
		}
		seen = append(seen, m.(interface{ String() string }).String())
	}
	ctx := context.Background()
	for _, k := range allKeys(t, c) {
		seen = append(seen, k)
		switch c.Type(ctx, k).Val() {
		case "string":
			seen = append(seen, c.Get(ctx, k).Val())
		case "hash":
			for f, v := range c.HGetAll(ctx, k).Val() {
				seen = append(seen, f, v)
			}
		case "zset":
			seen = append(seen, c.ZRange(ctx, k, 0, -1).Val()...)
		default:
			t.Errorf("key %q of an unexpected type", k)
		}
	}
	if len(seen) < 8 {
		t.Fatalf("too little written to check: %q", seen)
	}
	// An instance with the wrong password warns, without quoting it.
	logs := new(logBuffer)
	bad := cfg
	bad.Password = wrongPW
	f := newTestFleet(t, bad, "bad/", clock, logs.logger())
	if f.r.Up() {
		t.Fatal("the wrong password was accepted")
	}
	within(t, time.Second, "the warning", func() bool { return strings.Contains(logs.String(), "unavailable") })
	if !strings.Contains(logs.String(), "WRONGPASS") {
		t.Errorf("the warning does not say why: %s", logs)
	}
	rec := httptest.NewRecorder()
	_ = serveAdminUsage(rec, httptest.NewRequest(http.MethodGet, "/llm_router/usage", nil))
	page := fl[0].do(httptest.NewRequest(http.MethodGet, "/status", nil)).Body.String()
	all := strings.Join(seen, "\n") + "\n" + logs.String() + fl[0].logs.String() + fl[1].logs.String() +
		rec.Body.String() + page + fl[0].fleet.r.String()
	for _, s := range secrets {
		// A secret, or any 8-character piece of it.
		for i := 0; i+8 <= len(s); i++ {
			if strings.Contains(all, s[i:i+8]) {
				t.Fatalf("%q (from a secret) appears in what the fleet wrote, logged or served", s[i:i+8])
			}
		}
	}
}
