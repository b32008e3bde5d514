package llmrouter

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// A key refused with a 401 on A is cooling on every instance; when A's health check finds it
// accepted again, the end reaches Redis and the other instances, which use the key again at
// once instead of waiting out the cooldown. Nothing on the way names the key.
func TestFleetHealthCheckEndsKeyRefusalOnPeers(t *testing.T) {
	rs := startRedis(t)
	g := &keyGate{status: map[string]int{hcKeyA: http.StatusUnauthorized}}
	up := newFakeUpstream(t, g.handler)
	clock := newFakeClock()
	fl := newFleetRouters(t, 2, fleetConfig(rs.addr), clock, func() *Handler {
		p := provider("p", up.URL+"/v1", []string{hcKeyA, hcKeyB}, "m", "m-up")
		p.HealthCheck = &catalog.HealthCheckConfig{}
		// No ticker: the test runs A's probes, and B's never run.
		return &Handler{Providers: []catalog.ProviderConfig{p}, Strategy: "priority", probeTick: make(chan time.Time)}
	})
	a, b := fl[0], fl[1]
	sub := rs.client("").Subscribe(context.Background(), "t:cooldowns")
	defer sub.Close()
	if _, err := sub.Receive(context.Background()); err != nil {
		t.Fatal(err)
	}
	now := func() int64 { return clock.Now().UnixNano() }

	if rec := a.chat(`{"model":"m","messages":[]}`); rec.Code != http.StatusOK {
		t.Fatalf("A: %d %s", rec.Code, rec.Body)
	}
	var keyA *target
	for _, tg := range a.targets {
		if tg.Key() == hcKeyA {
			keyA = tg
		}
	}
	redisKey := "t:cd:k:" + keyA.KeyStateID
	within(t, 5*time.Second, "B learns the key refusal", func() bool { return keyOf(b.testRouter, hcKeyA).Cooling(now()) })

	g.set(hcKeyA, http.StatusOK)
	a.runProbes(context.Background(), a.probers[0])
	if keyOf(a.testRouter, hcKeyA).Cooling(now()) {
		t.Fatal("A's probe did not end the refusal")
	}
	within(t, 5*time.Second, "B learns the end", func() bool { return !keyOf(b.testRouter, hcKeyA).Cooling(now()) })
	if v := cooldownValue(t, rs, redisKey); v != "" {
		t.Errorf("the ended refusal is still in Redis: %q", v)
	}
	before := len(up.received())
	if rec := b.chat(`{"model":"m","messages":[]}`); rec.Code != http.StatusOK {
		t.Fatalf("B: %d", rec.Code)
	}
	if got := up.received()[before:]; len(got) != 1 || got[0].Header.Get("Authorization") != "Bearer "+hcKeyA {
		t.Errorf("B's pool still skips the recovered key (%d requests)", len(got))
	}

	// What went over the channel: the start and the end, each naming the key by its hash.
	var seen []string
	for range 2 {
		m, err := sub.ReceiveTimeout(context.Background(), 2*time.Second)
		if err != nil {
			t.Fatalf("channel: %v (so far %q)", err, seen)
		}
		seen = append(seen, m.(interface{ String() string }).String())
	}
	all := strings.Join(seen, "\n")
	if strings.Count(all, keyA.KeyStateID) != 2 {
		t.Errorf("the messages do not name the key by its hash: %q", seen)
	}
	for _, s := range []string{hcKeyA, hcKeyB} {
		for i := 0; i+8 <= len(s); i++ {
			if strings.Contains(all, s[i:i+8]) {
				t.Fatalf("%q (from a provider key) went over the channel: %q", s[i:i+8], seen)
			}
		}
	}
}
