package llmrouter

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestStateOptionCaddyfile(t *testing.T) {
	for _, tc := range []struct {
		in, err string
	}{
		{in: `llm_router_state { redis }`},
		{in: `llm_router_state { redis { address a:1 b:1
			cluster
			tls }
		}`},
		{in: `llm_router_state extra`, err: "wrong argument count"},
		{in: `llm_router_state { memcached }`, err: "unknown llm_router_state option 'memcached'"},
		{in: `llm_router_state { redis
			redis }`, err: "redis given twice"},
		{in: `llm_router_state { redis { addres a:1 } }`, err: "unknown redis option 'addres'"},
		{in: `llm_router_state { redis { address } }`, err: "wrong argument count"},
		{in: `llm_router_state { redis { db -1 } }`, err: "bad db '-1'"},
		{in: `llm_router_state { redis { read_timeout soon } }`, err: "bad duration 'soon'"},
		{in: `llm_router_state { redis { tls { ca } } }`, err: "wrong argument count"},
		{in: `llm_router_state { redis { tls { client_auth only-cert } } }`, err: "wrong argument count"},
		{in: `llm_router_state { redis { tls { pinning x } } }`, err: "unknown redis tls option 'pinning'"},
	} {
		var app StateApp
		// One line per token group: a Caddyfile closes a block only on a line of its own.
		in := strings.NewReplacer("{ ", "{\n", " }", "\n}").Replace(tc.in)
		err := app.UnmarshalCaddyfile(caddyfile.NewTestDispenser(in))
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.in, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want %q", tc.in, err, tc.err)
		}
	}
	var app StateApp
	if err := app.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`llm_router_state {
		redis {
			address a:1
			read_timeout 20ms
			tls {
				insecure_skip_verify
			}
		}
	}`)); err != nil {
		t.Fatal(err)
	}
	if r := app.Redis; r == nil || len(r.Addresses) != 1 || time.Duration(r.ReadTimeout) != 20*time.Millisecond || r.TLS == nil || !r.TLS.InsecureSkipVerify {
		t.Errorf("parsed %+v", app.Redis)
	}
}
