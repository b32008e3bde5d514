package llmrouter

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// A Redis that answers PING but refuses the router's commands (a replica that a failover left
// behind the address, an ACL user without scripts) is away for the router until the refusal
// ends: one warning, requests counted locally, and no flapping back to "connected" on every
// health check's PONG, each with a warning and a resynchronisation. Once the cause is fixed,
// it is back.
func TestFleetRefusingRedisStaysDown(t *testing.T) {
	cases := []struct {
		name string
		// start returns the router's Redis, its config, and a fix for the refusal.
		start func(t *testing.T) (addr, user, pw string, fix func(*redis.Client) error)
	}{
		{"replica", func(t *testing.T) (string, string, string, func(*redis.Client) error) {
			primary := startRedis(t)
			host, port, _ := net.SplitHostPort(primary.addr)
			replica := startRedis(t, "--replicaof", host, port)
			return replica.addr, "", "", func(c *redis.Client) error {
				return c.Do(context.Background(), "REPLICAOF", "NO", "ONE").Err()
			}
		}},
		{"acl without scripts", func(t *testing.T) (string, string, string, func(*redis.Client) error) {
			rs := startRedis(t, "--user", "llm", "on", ">llm-refused-pw", "~*", "&*", "+@all", "-@scripting")
			return rs.addr, "llm", "llm-refused-pw", func(c *redis.Client) error {
				return c.Do(context.Background(), "ACL", "SETUSER", "llm", "+@scripting").Err()
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr, user, pw, fix := tc.start(t)
			up := newFakeUpstream(t, okChat)
			clock := newFakeClock()
			cfg := fleetConfig(addr)
			cfg.Username, cfg.Password = user, pw
			t.Setenv("FLEET_GATEWAY_KEY", "gw-fleet-secret-key-123456")
			fl := newFleetRouters(t, 1, cfg, clock, func() *Handler {
				return &Handler{
					Providers: []catalog.ProviderConfig{provider("p", up.URL, []string{"sk-p-key-000000001"}, "m", "up-m")},
					Auth:      &AuthConfig{Keys: []GatewayKey{{Name: "alice", Key: "{env.FLEET_GATEWAY_KEY}", RPM: 100_000}}},
				}
			})
			r := fl[0]
			limited := func() {
				t.Helper()
				if rec := r.chat(`{"model":"m","messages":[]}`, "Authorization", "Bearer gw-fleet-secret-key-123456"); rec.Code != 200 {
					t.Fatalf("request: %d %s", rec.Code, rec.Body)
				}
			}
			// A second of requests: long enough for several health checks (100 ms apart at first).
			for start := time.Now(); time.Since(start) < time.Second; time.Sleep(2 * time.Millisecond) {
				limited()
			}
			logs := r.logs.String()
			if n := strings.Count(logs, "shared state (redis) unavailable"); n != 1 {
				t.Errorf("%d warnings for one refusal, want 1", n)
			}
			if n := strings.Count(logs, "shared state (redis) connected"); n > 1 {
				t.Errorf("%d times connected again while Redis refused", n-1)
			}
			if r.fleet.r.Up() {
				t.Error("up while Redis refuses the router's commands")
			}

			admin := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
			defer admin.Close()
			if err := fix(admin); err != nil {
				t.Fatal(err)
			}
			within(t, 10*time.Second, "back once Redis accepts the commands", r.fleet.r.Up)
			fallbacks := counterValue(t, sharedFallbacks)
			limited()
			if d := counterValue(t, sharedFallbacks) - fallbacks; d != 0 {
				t.Errorf("after the fix the request was counted locally")
			}
		})
	}
}
