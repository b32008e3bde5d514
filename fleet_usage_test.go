package llmrouter

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/state"
)

// Usage and cost counted by two instances are summed in Redis and read fleet-wide from the
// admin API and the status page.
func TestFleetUsageIsReadableFleetWide(t *testing.T) {
	rs := startRedis(t)
	up := newFakeUpstream(t, okChat)
	clock := newFakeClock()
	t.Setenv("FLEET_GATEWAY_KEY", "gw-fleet-secret-key-123456")
	fl := newFleetRouters(t, 2, fleetConfig(rs.addr), clock, func() *Handler {
		return &Handler{
			StatusPage: "/status",
			Providers:  []catalog.ProviderConfig{provider("p", up.URL, []string{"sk-p-key-000000001"}, "m", "up-m")},
			Models:     []catalog.ModelInfo{{Name: "m", InputPrice: 1, OutputPrice: 2}},
			Auth: &AuthConfig{Keys: []GatewayKey{{Name: "alice", Key: "{env.FLEET_GATEWAY_KEY}"}},
				Public: []string{"/status"}},
		}
	})
	for i := range 5 {
		if rec := fl[i%2].chat(`{"model":"m","messages":[]}`, "Authorization", "Bearer gw-fleet-secret-key-123456"); rec.Code != 200 {
			t.Fatalf("request %d: %d", i, rec.Code)
		}
	}
	for _, r := range fl {
		r.fleet.r.FlushUsage()
	}
	rec := httptest.NewRecorder()
	if err := serveAdminUsage(rec, httptest.NewRequest(http.MethodGet, "/llm_router/usage?days=2", nil)); err != nil {
		t.Fatal(err)
	}
	var got fleetUsage
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, rec.Body)
	}
	if !got.Shared || !got.Up || len(got.Days) != 2 || got.Total == nil {
		t.Fatalf("reply %s", rec.Body)
	}
	today := got.Days[0]
	if today.Day != "2026-01-01" {
		t.Errorf("day %q", today.Day)
	}
	want := state.Counts{Requests: 5, TokensIn: 15, TokensOut: 5, CostUSD: (15*1 + 5*2) / 1e6}
	for what, c := range map[string]*state.Counts{"model": today.Models["m"], "provider": today.Providers["p"], "client": today.Clients["alice"], "total": got.Total.Models["m"]} {
		if c == nil || c.Requests != want.Requests || c.TokensIn != want.TokensIn || c.TokensOut != want.TokensOut || math.Abs(c.CostUSD-want.CostUSD) > 1e-9 {
			t.Errorf("%s: %+v, want %+v", what, c, want)
		}
	}
	page := fl[1].do(httptest.NewRequest(http.MethodGet, "/status", nil))
	body := page.Body.String()
	if page.Code != 200 || !strings.Contains(body, "Fleet usage today") || !strings.Contains(body, `<td>m</td><td class="n">5</td><td class="n">15</td><td class="n">5</td><td class="n">$0.000025</td>`) {
		t.Errorf("status page %d:\n%s", page.Code, body)
	}
}

// Without a shared state the admin API says so, and the status page has no fleet section.
func TestFleetUsageWithoutSharedState(t *testing.T) {
	up := newFakeUpstream(t, okChat)
	tr := newTestRouter(t, &Handler{StatusPage: "/status",
		Providers: []catalog.ProviderConfig{provider("p", up.URL, []string{"sk-p-key-000000001"}, "m", "up-m")}})
	if tr.shared != nil {
		t.Fatal("a shared state without configuration")
	}
	rec := httptest.NewRecorder()
	if err := serveAdminUsage(rec, httptest.NewRequest(http.MethodGet, "/llm_router/usage", nil)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rec.Body.String(), `"shared":false`) {
		t.Errorf("reply %s", rec.Body)
	}
	if body := tr.do(httptest.NewRequest(http.MethodGet, "/status", nil)).Body.String(); strings.Contains(body, "Fleet usage") {
		t.Error("a fleet section without a shared state")
	}
}

// The app resolves its placeholders at provision: the password that comes from the
// environment authenticates, and the config (what the admin API serves) still holds only the
// placeholder.
func TestStateAppResolvesPlaceholders(t *testing.T) {
	const pw = "redis-pw-s3cret-XYZ-4711"
	rs := startRedis(t, "--requirepass", pw)
	t.Setenv("FLEET_REDIS_ADDR", rs.addr)
	t.Setenv("FLEET_REDIS_PW", pw)
	app := &StateApp{Redis: &RedisConfig{Addresses: []string{"{env.FLEET_REDIS_ADDR}"}, Password: "{env.FLEET_REDIS_PW}", Prefix: "app:"}}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	if err := app.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = app.Stop() }()
	within(t, 2*time.Second, "connected with the resolved password", app.fleet.r.Up)
	raw, _ := json.Marshal(app)
	if strings.Contains(string(raw), pw) || !strings.Contains(string(raw), "{env.FLEET_REDIS_PW}") {
		t.Errorf("config JSON %s", raw)
	}
	if s := app.fleet.r.String(); strings.Contains(s, pw) {
		t.Errorf("backend description %q", s)
	}
}

// With no app configured, a provisioned handler has no shared state at all.
func TestNoStateAppNoSharedState(t *testing.T) {
	up := newFakeUpstream(t, okChat)
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{provider("p", up.URL, nil, "m", "up-m")}})
	if tr.shared != nil || tr.fleetLimits != nil || tr.held.ns != "" {
		t.Error("shared state without configuration")
	}
}

func TestRedisConfigErrors(t *testing.T) {
	id := func(s string) string { return s }
	for name, c := range map[string]RedisConfig{
		"several without mode": {Addresses: []string{"a:1", "b:1"}},
		"sentinel and cluster": {Addresses: []string{"a:1"}, SentinelMaster: "m", Cluster: true},
		"url":                  {Addresses: []string{"redis://user:pw@a:1"}},
		"cluster db":           {Addresses: []string{"a:1"}, Cluster: true, DB: 1},
	} {
		if _, err := c.resolve(id); err == nil {
			t.Errorf("%s: no error", name)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("%s: error quotes the address: %v", name, err)
		}
	}
	for name, c := range map[string]RedisConfig{
		"default":  {},
		"sentinel": {Addresses: []string{"a:26379", "b:26379"}, SentinelMaster: "m"},
		"cluster":  {Addresses: []string{"a:1 b:1,c:1"}, Cluster: true},
	} {
		cfg, err := c.resolve(id)
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if name == "cluster" && len(cfg.Addrs) != 3 {
			t.Errorf("cluster addresses %v", cfg.Addrs)
		}
	}
}

// During a reload, between the old config's Stop (its backend closed) and its handlers'
// Cleanup, both configs' handlers are live: the admin API reads the usage through the open
// backend, not the closed one.
func TestFleetUsageDuringReloadReadsTheOpenBackend(t *testing.T) {
	rs := startRedis(t)
	up := newFakeUpstream(t, okChat)
	clock := newFakeClock()
	mk := func() *Handler {
		return &Handler{Providers: []catalog.ProviderConfig{provider("p", up.URL, []string{"sk-p-key-000000001"}, "m", "up-m")}}
	}
	const ns = "usage-reload/"
	cfg := fleetConfig(rs.addr)
	oldFleet, _ := startGeneration(t, cfg, ns, clock, mk)
	newFleet, _ := startGeneration(t, cfg, ns, clock, mk)
	within(t, 5*time.Second, "the new backend up", newFleet.r.Up)
	if err := oldFleet.r.Close(); err != nil { // the old app's Stop; its handlers are still live
		t.Fatal(err)
	}
	// The handler is picked from a map: ask often enough that a closed pick cannot hide.
	for i := range 32 {
		rec := httptest.NewRecorder()
		if err := serveAdminUsage(rec, httptest.NewRequest(http.MethodGet, "/llm_router/usage?days=1", nil)); err != nil {
			t.Fatal(err)
		}
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"up":true`) {
			t.Fatalf("ask %d during the reload: %d %s", i, rec.Code, rec.Body)
		}
	}
}
