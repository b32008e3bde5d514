package llmrouter

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/llmrouter/caddy-llm-router/selector"
)

// Hedging a slow first token (hedge_after). A streamed attempt that has brought nothing by
// hedge_after gets a twin on another healthy target; both run at once, each on its own copy
// of the call and its own upstream context, and each writes to the client only through a
// hedgeGate: the first to send its head wins the client, and the gate cancels the other at
// that moment, which closes its upstream connection. The loser reads the cancellation as a
// client that left: it is not charged. One hedge per request, only before commit; a
// non-streamed request is never hedged (a whole reply takes as long as the answer is long, so
// any threshold would double the cost of every long answer), and neither is a streamed attempt
// whose upstream's head said it answers whole.

// tryTarget is one turn of the attempt loop: the attempt on t, hedged when hedge_after is set.
// It returns the outcome to account and the target it belongs to (the hedge's, when it won).
func (h *Handler) tryTarget(c *call, t *target, n int, tried *selector.Tried) (outcome, *target) {
	if h.runtime.hedgeAfter <= 0 || !c.f.Stream || c.rec.notes.hedge.target != "" {
		return h.attempt(c, t, n), t
	}
	return h.hedged(c, t, n, tried)
}

// racer is one of the two attempts of a hedged turn.
type racer struct {
	c      *call
	t      *target
	cancel context.CancelFunc
	out    outcome
}

func (h *Handler) hedged(c *call, t *target, n int, tried *selector.Tried) (outcome, *target) {
	g := &hedgeGate{w: c.w}
	done := make(chan *racer, 2)
	start := func(t *target, wholeHead chan struct{}) *racer {
		// The replacer is hidden from the racers: its Map is not safe for two at once. The
		// winner's placeholders are set below, once the race is over.
		ctx, cancel := context.WithCancel(context.WithValue(c.r.Context(), caddy.ReplacerCtxKey, nil))
		cc := *c
		if c.translated != nil {
			// Each racer fills its own cache: the two run at once.
			own := *c.translated
			cc.translated = &own
		}
		cc.r = c.r.WithContext(ctx)
		cc.wholeHead = wholeHead
		rc := &racer{c: &cc, t: t, cancel: cancel}
		cc.w = g.writer(rc)
		go func() {
			defer cancel()
			rc.out = h.attempt(rc.c, t, n)
			done <- rc
		}()
		return rc
	}
	wholeHead := make(chan struct{})
	start(t, wholeHead)
	timer := time.NewTimer(h.runtime.hedgeAfter)
	var second *racer
	select {
	case rc := <-done:
		timer.Stop()
		return h.raceOver(c, n, g, rc, nil)
	case <-wholeHead:
		// The upstream answers whole: its first event comes when the whole answer is done.
		timer.Stop()
		return h.raceOver(c, n, g, <-done, nil)
	case <-timer.C:
	}
	if t2 := h.nextAdmitted(c, tried, nil); t2 != nil && g.winner() == nil {
		c.rec.notes.hedge.target = t2.Label
		hedgesTotal.WithLabelValues(c.rec.model, "started").Inc()
		second = start(t2, nil)
	}
	a := <-done
	if second == nil {
		return h.raceOver(c, n, g, a, nil)
	}
	b := <-done
	return h.raceOver(c, n, g, a, b)
}

// raceOver settles a hedged turn once its racers returned: the winner's call state becomes
// the call's, the loser is accounted here (forward accounts the winner), and the winner's
// placeholders are set.
func (h *Handler) raceOver(c *call, n int, g *hedgeGate, a, b *racer) (outcome, *target) {
	win := g.winner()
	if win == nil {
		// Nobody wrote: both failed before an answer (or the client left). The one that is
		// done, if any, ends the request; else the first one's failure goes to the loop.
		win = a
		if b != nil && b.out.done && !a.out.done {
			win = b
		}
	}
	lose := a
	if win == a {
		lose = b
	}
	w, r, hedge := c.w, c.r, c.rec.notes.hedge
	*c = *win.c
	c.w, c.r, c.rec.notes.hedge, c.wholeHead = w, r, hedge, nil
	if lose != nil {
		hn := &c.rec.notes.hedge
		hn.won = g.winner() != nil && win.t.Label == hn.target
		h.settle(lose.t, lose.out)
		if lose.out.class.Retryable() {
			hn.failure = t2scrub(lose)
		}
		outcome := "lost"
		switch {
		case g.winner() == nil:
			outcome = "failed" // neither answered: the attempt loop goes on
		case hn.won:
			outcome = "won"
		}
		hedgesTotal.WithLabelValues(c.rec.model, outcome).Inc()
	}
	if g.winner() != nil {
		h.setRouteHeaders(c, win.t, n) // the head is sent: this sets the placeholders
	}
	return win.out, win.t
}

// settle accounts an attempt's outcome to its target, as the attempt loop does for the
// attempts it sees itself: health, the attempts metric, and a cooldown for a failure.
func (h *Handler) settle(t *target, out outcome) {
	out.reason = t.scrubString(out.reason)
	if out.class == selector.ClientGone {
		return
	}
	t.health.Record(out.class, out.status)
	t.conn.attempts[out.class].Inc()
	if out.class.Retryable() {
		h.cool(t, out, h.now())
	}
}

func t2scrub(rc *racer) string { return rc.t.scrubString(rc.out.reason) }

// errHedgeLost is what the losing racer's writes return: the other one has the client.
var errHedgeLost = errors.New("the hedged attempt lost the race")

// hedgeGate lets one of the racers at the client: the first that sends the head.
type hedgeGate struct {
	w      http.ResponseWriter
	mu     sync.Mutex
	won    *racer
	racers []*racer
}

func (g *hedgeGate) writer(rc *racer) *gatedWriter {
	g.mu.Lock()
	g.racers = append(g.racers, rc)
	g.mu.Unlock()
	return &gatedWriter{g: g, rc: rc, hdr: make(http.Header)}
}

func (g *hedgeGate) winner() *racer {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.won
}

// take makes rc the winner if there is none yet, cancelling the others; it reports whether
// rc holds the client.
func (g *hedgeGate) take(rc *racer, hdr http.Header, code int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.won == nil {
		g.won = rc
		dst := g.w.Header()
		for k, v := range hdr {
			if k == "Vary" {
				mergeVary(dst, v) // the router's Vary: Origin stays
				continue
			}
			dst[k] = v
		}
		g.w.WriteHeader(code)
		for _, o := range g.racers {
			if o != rc {
				o.cancel() // its upstream call ends now: the connection is closed
			}
		}
	}
	return g.won == rc
}

// gatedWriter is a racer's ResponseWriter: its head stays its own until it wins the gate.
type gatedWriter struct {
	g   *hedgeGate
	rc  *racer
	hdr http.Header
	// mine is set once the racer holds the client; only the racer's goroutine touches it.
	mine, lost bool
}

func (w *gatedWriter) Header() http.Header {
	if w.mine {
		return w.g.w.Header()
	}
	return w.hdr
}

func (w *gatedWriter) WriteHeader(code int) {
	if w.mine || w.lost {
		return
	}
	w.mine = w.g.take(w.rc, w.hdr, code)
	w.lost = !w.mine
}

func (w *gatedWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	if !w.mine {
		return 0, errHedgeLost
	}
	return w.g.w.Write(p)
}

// FlushError flushes the client's stream for the winner (http.ResponseController calls it).
func (w *gatedWriter) FlushError() error {
	if !w.mine {
		return errHedgeLost
	}
	return http.NewResponseController(w.g.w).Flush()
}
