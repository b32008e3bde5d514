package llmrouter

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/transport"
)

func TestModelDefaultsInsertedWhenAbsent(t *testing.T) {
	up := newFakeUpstream(t, okChat)
	tr := newTestRouter(t, &Handler{
		Providers: []catalog.ProviderConfig{provider("p", up.URL+"/v1", nil, "m", "m-up", "plain", "plain-up")},
		Models: []catalog.ModelInfo{{Name: "m", Defaults: map[string]json.RawMessage{
			"max_tokens": json.RawMessage(`1024`), "temperature": json.RawMessage(`0.2`)}}},
	})
	for _, c := range []struct{ model, body, want string }{
		{"m", `{"model":"m","messages":[]}`, `{"model":"m-up","messages":[],"max_tokens":1024,"temperature":0.2}`},
		// The client's own value stays, every other byte too.
		{"m", `{"model":"m", "temperature": 1, "messages":[{"content":"max_tokens"}]}`,
			`{"model":"m-up", "temperature": 1, "messages":[{"content":"max_tokens"}],"max_tokens":1024}`},
		// Through provider/model too.
		{"p/m", `{"model":"p/m","max_tokens":5,"temperature":0}`, `{"model":"m-up","max_tokens":5,"temperature":0}`},
		{"plain", `{"model":"plain","messages":[]}`, `{"model":"plain-up","messages":[]}`},
	} {
		if rec := tr.chat(c.body); rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", c.body, rec.Code, rec.Body)
		}
		got := up.received()
		if body := string(got[len(got)-1].Body); body != c.want {
			t.Errorf("%s\n got %s\nwant %s", c.body, body, c.want)
		}
	}
}

func TestModelDefaultsRefused(t *testing.T) {
	for _, d := range []map[string]json.RawMessage{{"model": json.RawMessage(`"x"`)}, {"stream": json.RawMessage(`true`)}, {"t": json.RawMessage(`{`)}} {
		err := provisionErr(&Handler{
			Providers: []catalog.ProviderConfig{provider("p", "http://127.0.0.1:1/v1", nil, "m", "m")},
			Models:    []catalog.ModelInfo{{Name: "m", Defaults: d}},
		})
		if err == nil {
			t.Errorf("%v accepted", d)
		}
	}
}

// TestProviderTimeoutOverride: a provider's first_event_timeout replaces the router's for its
// targets only.
func TestProviderTimeoutOverride(t *testing.T) {
	fast := provider("fast", "http://127.0.0.1:1/v1", nil, "m", "m")
	fast.FirstEventTimeout = transport.Duration(3 * time.Second)
	fast.StreamIdleTimeout = transport.Duration(4 * time.Second)
	fast.ResponseHeaderTimeout = transport.Duration(5 * time.Second)
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{fast, provider("slow", "http://127.0.0.1:1/v1", nil, "m", "m")}})
	for _, c := range tr.conns {
		first, idle, head := c.firstEventTimeout, c.streamIdleTimeout, c.transport.ResponseHeaderTimeout
		want := [3]time.Duration{defaultFirstEventTimeout, defaultStreamIdleTimeout, defaultResponseHeaderTimeout}
		if c.provider.Name == "fast" {
			want = [3]time.Duration{3 * time.Second, 4 * time.Second, 5 * time.Second}
		}
		if [3]time.Duration{first, idle, head} != want {
			t.Errorf("%s: %v %v %v, want %v", c.provider.Name, first, idle, head, want)
		}
	}
}

// TestProviderFirstEventTimeoutFires: a provider whose stream never brings its first event
// fails over after its own first_event_timeout, long before the router's.
func TestProviderFirstEventTimeoutFires(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	stalled := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	good := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write([]byte("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n"))
	})
	slow := provider("slow", stalled.URL+"/v1", nil, "m", "m")
	slow.FirstEventTimeout = transport.Duration(100 * time.Millisecond)
	tr := newTestRouter(t, &Handler{Strategy: "priority", Providers: []catalog.ProviderConfig{slow, provider("good", good.URL+"/v1", nil, "m", "m")}})
	start := time.Now()
	rec := tr.chat(`{"model":"m","stream":true,"messages":[]}`)
	if rec.Code != http.StatusOK || rec.Header().Get("X-LLM-Router-Provider") != "good" || rec.Header().Get("X-LLM-Router-Attempts") != "2" {
		t.Fatalf("%d via %q after %q attempts: %s", rec.Code, rec.Header().Get("X-LLM-Router-Provider"), rec.Header().Get("X-LLM-Router-Attempts"), rec.Body)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("failed over after %s: the router's 30s bound, not the provider's", took)
	}
}

// TestPreludeMeetsFirstEventTimeout: a stream whose prelude comes at once (a role chunk,
// message_start) and whose answer begins only later (a long prompt, a model that reasons
// unseen) has met first_event_timeout, as it did before preludes were held: its answer is
// waited for under stream_idle_timeout, not failed over when first_event_timeout runs out.
func TestPreludeMeetsFirstEventTimeout(t *testing.T) {
	for _, tc := range []struct{ name, api, path, body, prelude, answer string }{
		{"chat", "openai", "/v1/chat/completions", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			roleChunkEv(""), chunkEv("Hello") + stopEv + doneEv},
		{"messages", "anthropic", "/v1/messages", `{"model":"m","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			anthropicHelloStream[0], strings.Join(anthropicHelloStream[1:], "")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each waits out its own bound: side by side, the two cost one wait
			// The prelude must come within the bound even under -race on a loaded machine
			// (at 100ms that was a close margin); the answer comes 2*firstEvent after it, past
			// the bound either way, which is what the test protects.
			const firstEvent = 250 * time.Millisecond
			up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				_, _ = io.WriteString(w, tc.prelude)
				w.(http.Flusher).Flush()
				select { // the answer begins after first_event_timeout
				case <-time.After(2 * firstEvent):
				case <-r.Context().Done():
					return
				}
				_, _ = io.WriteString(w, tc.answer)
			})
			p := provider("p1", up.URL+"/v1", nil, "m", "m-up")
			p.API = tc.api
			p.FirstEventTimeout = transport.Duration(firstEvent)
			rs := serveRouter(t, newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{p}}))
			_, body := rs.postOK(t, tc.path, tc.body)
			if !strings.HasPrefix(body, tc.prelude) || !strings.Contains(body, "Hel") {
				t.Fatalf("the stream is not the upstream's, prelude first:\n%s", body)
			}
		})
	}
}
