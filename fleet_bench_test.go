package llmrouter

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/redis/go-redis/v9"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// fleetBenchHandler is a 10-target handler answered in memory, with a gateway key limited to
// rpm requests a minute when rpm > 0.
func fleetBenchHandler(rpm int) func() *Handler {
	return func() *Handler {
		var keys []string
		for i := range 5 {
			keys = append(keys, "sk-bench-"+strconv.Itoa(i))
		}
		h := &Handler{Providers: []catalog.ProviderConfig{
			provider("bench-a", "http://bench-a.invalid/v1", keys, "bench-model", "bench-model-a"),
			provider("bench-b", "https://bench-b.invalid/v1", keys, "bench-model", "bench-model-b"),
		}}
		if rpm > 0 {
			h.Auth = &AuthConfig{Keys: []GatewayKey{{Name: "bench", Key: "gw-bench-key-0000000001", RPM: rpm}}}
		}
		return h
	}
}

// serveLoop measures one non-streamed request, with header, through ServeHTTP.
func serveLoop(b *testing.B, tr *testRouter, header ...string) {
	body := hfBenchBody("bench-model")
	rd := bytes.NewReader(body)
	serve := func() *httptest.ResponseRecorder {
		rd.Reset(body)
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", rd)
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		rec := httptest.NewRecorder()
		req = caddyhttp.PrepareRequest(req, caddy.NewReplacer(), rec, &caddyhttp.Server{})
		if err := tr.ServeHTTP(rec, req, nextHandler); err != nil {
			b.Fatal(err)
		}
		return rec
	}
	if rec := serve(); rec.Code != http.StatusOK {
		b.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if rec := serve(); rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkFleet compares a request without shared state and with Redis on loopback: a
// healthy pool (no round trip: the same cost) and a request of an rpm-limited key (one Lua
// call: the added latency of a limited request).
func BenchmarkFleet(b *testing.B) {
	for _, limited := range []bool{false, true} {
		rpm, header, name := 0, []string(nil), "healthy"
		if limited {
			rpm, header, name = 1_000_000, []string{"Authorization", "Bearer gw-bench-key-0000000001"}, "limited"
		}
		b.Run(name+"/local", func(b *testing.B) {
			tr := newTestRouter(b, fleetBenchHandler(rpm)())
			hfUseMemTransport(tr.Handler)
			serveLoop(b, tr, header...)
		})
		b.Run(name+"/redis", func(b *testing.B) {
			rs := startRedis(b)
			cfg := fleetConfig(rs.addr)
			cfg.FlushInterval = time.Second
			tr := newFleetRouters(b, 1, cfg, newFakeClock(), fleetBenchHandler(rpm))[0]
			hfUseMemTransport(tr.Handler)
			serveLoop(b, tr.testRouter, header...)
		})
	}
}

// commandCalls sums Redis's per-command call counts, except PING (the health checks).
func commandCalls(t testing.TB, c *redis.Client) int64 {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, line := range strings.Split(info, "\n") {
		// cmdstat_get:calls=3,usec=...
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok || name == "cmdstat_ping" || name == "cmdstat_info" {
			continue
		}
		calls, _, _ := strings.Cut(rest, ",")
		v, _ := strconv.ParseInt(calls, 10, 64)
		n += v
	}
	return n
}

// A healthy pool's request makes no Redis round trip: Redis counts no command while 200
// requests go through (usage is flushed on its interval, here longer than the test).
func TestFleetHealthyPathMakesNoRoundTrip(t *testing.T) {
	rs := startRedis(t)
	cfg := fleetConfig(rs.addr)
	cfg.FlushInterval = time.Hour
	up := newFakeUpstream(t, okChat)
	tr := newFleetRouters(t, 1, cfg, newFakeClock(), func() *Handler {
		return &Handler{Providers: []catalog.ProviderConfig{provider("p", up.URL, []string{"sk-p-key-000000001"}, "m", "up-m")}}
	})[0]
	within(t, 2*time.Second, "connected", tr.fleet.r.Up)
	within(t, 2*time.Second, "first resync", func() bool { return tr.fleet.r.Resyncs() > 0 })
	c := rs.client("")
	before := commandCalls(t, c)
	for range 200 {
		if rec := tr.chat(`{"model":"m","messages":[]}`); rec.Code != 200 {
			t.Fatalf("%d", rec.Code)
		}
	}
	if d := commandCalls(t, c) - before; d != 0 {
		t.Errorf("200 healthy requests made %d Redis commands, want 0", d)
	}
	// The usage they counted is written by one flush.
	tr.fleet.r.FlushUsage()
	if d := commandCalls(t, c) - before; d == 0 {
		t.Error("the flush wrote nothing: the check above could not fail")
	}
}
