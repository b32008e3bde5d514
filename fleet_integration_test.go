package llmrouter

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A real Caddy with the llm_router_state global option: the handler finds the app, its
// requests are counted in Redis and read back through the admin API, the gauge says up, and
// the Redis password from the environment is nowhere in /config/.
func TestIntegrationSharedStateRedis(t *testing.T) {
	const pw = "it-redis-pw-s3cret-9q8w7e"
	rs := startRedis(t, "--requirepass", pw)
	t.Setenv("LLMR_IT_REDIS_ADDR", rs.addr)
	t.Setenv("LLMR_IT_REDIS_PW", pw)
	up := newFakeUpstream(t, okChat)
	it := newIntegration(t)
	port := freePort(t)
	config := it.globals(port, `	llm_router_state {
		redis {
			address {env.LLMR_IT_REDIS_ADDR}
			password {env.LLMR_IT_REDIS_PW}
			prefix it:
			flush_interval 50ms
			`+roomyRedisTimeouts+`
		}
	}
`) + fmt.Sprintf(`http://localhost:%d {
	llm_router {
		provider p {
			base_url %s/v1
			model it-shared-m
		}
	}
}
`, port, up.URL)
	it.load(config)
	if r := it.post(fmt.Sprintf("http://localhost:%d/v1/chat/completions", port), `{"model":"it-shared-m","messages":[]}`); r.status != 200 {
		t.Fatalf("request: %d %s", r.status, r.body)
	}
	var got fleetUsage
	within(t, 5*time.Second, "the request counted in Redis", func() bool {
		code, body := it.adminDo(http.MethodGet, "/llm_router/usage?days=1", "", "")
		got = fleetUsage{}
		_ = json.Unmarshal([]byte(body), &got)
		return code == 200 && len(got.Days) == 1 && got.Days[0].Models["it-shared-m"] != nil && got.Days[0].Models["it-shared-m"].Requests == 1
	})
	if !got.Shared || !got.Up {
		t.Errorf("usage reply %+v", got)
	}
	_, metrics := it.adminDo(http.MethodGet, "/metrics", "", "")
	if v := metricValue(metrics, "caddy_llm_router_shared_state_up"); v != 1 {
		t.Errorf("shared_state_up = %v", v)
	}
	_, cfg := it.adminDo(http.MethodGet, "/config/", "", "")
	if strings.Contains(cfg, pw) || !strings.Contains(cfg, "{env.LLMR_IT_REDIS_PW}") {
		t.Errorf("/config/ holds %s", cfg)
	}
	// A reload makes a new app and stops the old one; the new config counts on.
	it.load(strings.Replace(config, "flush_interval 50ms", "flush_interval 60ms", 1))
	if r := it.post(fmt.Sprintf("http://localhost:%d/v1/chat/completions", port), `{"model":"it-shared-m","messages":[]}`); r.status != 200 {
		t.Fatalf("request after the reload: %d %s", r.status, r.body)
	}
	within(t, 5*time.Second, "the second request counted", func() bool {
		_, body := it.adminDo(http.MethodGet, "/llm_router/usage?days=1", "", "")
		got = fleetUsage{}
		_ = json.Unmarshal([]byte(body), &got)
		return len(got.Days) == 1 && got.Days[0].Models["it-shared-m"] != nil && got.Days[0].Models["it-shared-m"].Requests == 2
	})
	if !got.Up {
		t.Error("down after the reload")
	}
	keys := allKeys(t, rs.client(pw))
	if len(keys) == 0 {
		t.Fatal("nothing in Redis")
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "it:") {
			t.Errorf("key %q outside the prefix", k)
		}
	}
}
