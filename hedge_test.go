package llmrouter

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	vroute "github.com/llmrouter/caddy-llm-router/route"
)

// slowFirstEvent is an upstream whose stream opens (headers flushed) and then brings its first
// event only when release is closed, or never; closed reports that the router hung up on it
// (its request context ended, which is the connection closing).
func slowFirstEvent(release <-chan struct{}, closed chan<- struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		_ = http.NewResponseController(w).Flush()
		select {
		case <-release:
			sseReply(cleanStream)(w, r)
		case <-r.Context().Done():
			close(closed)
		}
	}
}

// TestHedgeWinsOverSlowFirstEvent: A brings nothing (it would answer only when the test lets
// it), B answers after 50 ms. With hedge_after 300ms the client's stream is B's, well before A
// would have answered, and A's connection is closed the moment B wins.
func TestHedgeWinsOverSlowFirstEvent(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	aClosed := make(chan struct{})
	a := newFakeUpstream(t, slowFirstEvent(release, aClosed))
	b := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(50 * time.Millisecond)
		sseReply(cleanStream)(w, r)
	})
	tr, rs := newStreamRouter(t, func(h *Handler) { h.HedgeAfter = caddy.Duration(300 * time.Millisecond) }, a, b)
	won := counterValue(t, hedgesTotal.WithLabelValues("m", "won"))

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp := rs.post(t, ctx, streamReq)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	body := string(raw)
	checkStreamHygiene(t, body)
	if got := streamedText(t, body); got != "Hello world" {
		t.Fatalf("text %q, want Hello world; stream:\n%s", got, body)
	}
	if got := resp.Header.Get("X-Llm-Router-Provider"); got != "p2" {
		t.Errorf("X-LLM-Router-Provider %q, want the hedge's p2", got)
	}
	t.Logf("stream read whole in %s (hedge at 300 ms, B answers 50 ms later)", elapsed)
	if elapsed > 3*time.Second { // loosely: hedge at 300 ms + 50 ms; A never answers
		t.Errorf("the stream took %s", elapsed)
	}
	select {
	case <-aClosed:
	case <-time.After(2 * time.Second):
		t.Fatal("A's request is still open after B won")
	}
	if tr.targetCooling(0) {
		t.Error("A lost a race, which is no failure: it must not cool")
	}
	pollUntil(t, "the log line", func() bool { return strings.Contains(tr.logs.String(), `"hedge":{"target":"`) })
	if logs := tr.logs.String(); !strings.Contains(logs, `"won":true`) {
		t.Errorf("the log line does not say the hedge won:\n%s", logs)
	}
	if d := counterValue(t, hedgesTotal.WithLabelValues("m", "won")) - won; d != 1 {
		t.Errorf("hedges_total{outcome=won} grew by %v, want 1", d)
	}
}

// TestNoHedgeWaitsForSlowTarget: without hedge_after the request waits for A, and B is never
// asked.
func TestNoHedgeWaitsForSlowTarget(t *testing.T) {
	release := make(chan struct{})
	aClosed := make(chan struct{})
	a := newFakeUpstream(t, slowFirstEvent(release, aClosed))
	b := newFakeUpstream(t, sseReply(cleanStream))
	_, rs := newStreamRouter(t, nil, a, b)
	var released atomic.Bool
	time.AfterFunc(500*time.Millisecond, func() { released.Store(true); close(release) })
	resp, body := rs.stream(t)
	if !released.Load() {
		t.Errorf("the stream came before A answered")
	}
	if got := resp.Header.Get("X-Llm-Router-Provider"); got != "p1" {
		t.Errorf("provider %q, want p1", got)
	}
	if got := streamedText(t, body); got != "Hello world" {
		t.Errorf("text %q", got)
	}
	if b.calls.Load() != 0 {
		t.Errorf("B was asked %d times without hedging", b.calls.Load())
	}
}

// TestHedgePrimaryWinsWhenItAnswers: the primary answers after the hedge started but first;
// the hedge is cancelled and the client reads the primary's stream once.
func TestHedgePrimaryWinsWhenItAnswers(t *testing.T) {
	bClosed, bArrived := make(chan struct{}), make(chan struct{})
	never := make(chan struct{})
	a := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		// The primary answers once the hedge is on its way, however late a loaded machine
		// starts it.
		select {
		case <-bArrived:
		case <-time.After(5 * time.Second):
			t.Error("the hedge never reached its upstream")
		}
		sseReply(cleanStream)(w, r)
	})
	hedge := slowFirstEvent(never, bClosed)
	b := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		close(bArrived)
		hedge(w, r)
	})
	tr, rs := newStreamRouter(t, func(h *Handler) { h.HedgeAfter = caddy.Duration(50 * time.Millisecond) }, a, b)
	resp, body := rs.stream(t)
	checkStreamHygiene(t, body)
	if got := resp.Header.Get("X-Llm-Router-Provider"); got != "p1" {
		t.Errorf("provider %q, want p1", got)
	}
	if got := streamedText(t, body); got != "Hello world" {
		t.Errorf("text %q", got)
	}
	select {
	case <-bClosed:
	case <-time.After(2 * time.Second):
		t.Fatal("the hedge's request is still open after the primary won")
	}
	pollUntil(t, "the log line", func() bool { return strings.Contains(tr.logs.String(), `"won":false`) })
}

// TestHedgeNotForWholeReplies: a non-streamed request is never hedged.
func TestHedgeNotForWholeReplies(t *testing.T) {
	a := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(100 * time.Millisecond)
		okChat(w, r)
	})
	b := newFakeUpstream(t, okChat)
	tr, _ := newStreamRouter(t, func(h *Handler) { h.HedgeAfter = caddy.Duration(10 * time.Millisecond) }, a, b)
	if rec := tr.chat(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`); rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	if b.calls.Load() != 0 {
		t.Error("a whole reply was hedged")
	}
}

// TestHedgeBothFailThenNext: both racers fail before an answer; the attempt loop goes on to
// the third target, and both failed targets are charged.
func TestHedgeBothFailThenNext(t *testing.T) {
	a := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(100 * time.Millisecond)
		status(http.StatusBadGateway)(w, r)
	})
	b := newFakeUpstream(t, status(http.StatusServiceUnavailable))
	c := newFakeUpstream(t, sseReply(cleanStream))
	tr, rs := newStreamRouter(t, func(h *Handler) { h.HedgeAfter = caddy.Duration(20 * time.Millisecond) }, a, b, c)
	failed := counterValue(t, hedgesTotal.WithLabelValues("m", "failed"))
	resp, body := rs.stream(t)
	if got := resp.Header.Get("X-Llm-Router-Provider"); got != "p3" || streamedText(t, body) != "Hello world" {
		t.Fatalf("provider %q, stream:\n%s", got, body)
	}
	if !tr.targetCooling(0) || !tr.targetCooling(1) {
		t.Error("a racer that failed on its own is not charged")
	}
	if d := counterValue(t, hedgesTotal.WithLabelValues("m", "failed")) - failed; d != 1 {
		t.Errorf("hedges_total{outcome=failed} grew by %v, want 1", d)
	}
}

// TestHedgeInTheExplanation: a virtual model's hedged stream says in its explanation object
// which provider the hedge went to and that it won.
func TestHedgeInTheExplanation(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	a := newFakeUpstream(t, slowFirstEvent(release, make(chan struct{})))
	b := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) { sseReply(cleanStream)(w, r) })
	_, rs := newStreamRouter(t, func(h *Handler) {
		h.HedgeAfter = caddy.Duration(100 * time.Millisecond)
		h.Routers = []vroute.Config{{Name: "auto", Models: []string{"m"}, Optimize: "cost"}}
	}, a, b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp := rs.post(t, ctx, `{"model":"auto","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var explained struct {
		LLMRouter *struct {
			Hedge *struct {
				Provider string
				Won      bool
			}
		} `json:"llm_router"`
	}
	for _, ev := range strings.Split(string(raw), "\n\n") {
		if data, ok := strings.CutPrefix(ev, "data: "); ok && strings.Contains(data, `"llm_router"`) {
			if err := json.Unmarshal([]byte(data), &explained); err != nil {
				t.Fatal(err)
			}
		}
	}
	if e := explained.LLMRouter; e == nil || e.Hedge == nil || e.Hedge.Provider != "p2" || !e.Hedge.Won {
		t.Fatalf("explanation %+v in\n%s", e, raw)
	}
}
