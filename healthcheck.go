package llmrouter

import (
	"context"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/selector"
	"github.com/llmrouter/caddy-llm-router/state"
)

// Active health checks: each `health_check` provider's node x key pairs (never its models:
// a provider of 500 models and 10 keys is 10 probes a node) are probed with an authenticated
// `GET <base_url>/models` on an interval, at most `concurrency` at once, each within its
// timeout. A failed probe cools what its class says: a key refusal the key (every target of
// it, wildcard and discovered ones too), a rate limit or an outage the node x key's targets.
// A 200 ends a cooldown early only where it proves the cause gone: a key refused with 401 or
// 403, or refused as invalid under another status (Gemini's 400 API_KEY_INVALID), is accepted
// again. A key out of quota (402, a quota 429 or 400) and a model's rate limit or 5xx are left
// to run out: a model list answering says nothing of them.

// prober is one provider's health check.
type prober struct {
	wp     *wildPool
	probes []*probe
}

// probe is one node x key of a provider, and the listed targets on it.
type probe struct {
	ct      *catalog.Target
	targets []*target
	key     *healthEntry // nil for a keyless provider
}

// addProber registers provider wp's health check (called while the pools are prepared, after
// the listed targets are).
func (h *Handler) addProber(wp *wildPool) {
	pr := &prober{wp: wp}
	byPair := make(map[[2]string]*probe)
	for _, ct := range wp.prov.WildcardTargets("-") {
		pb := &probe{ct: ct}
		if k := wp.keys[ct.KeyStateID]; k != nil {
			pb.key = k.entry
		}
		byPair[[2]string{ct.Node, ct.KeyStateID}] = pb
		pr.probes = append(pr.probes, pb)
	}
	for _, t := range h.targets {
		if t.Provider == wp.prov {
			if pb := byPair[[2]string{t.Node, t.KeyStateID}]; pb != nil {
				pb.targets = append(pb.targets, t)
			}
		}
	}
	h.probers = append(h.probers, pr)
}

// startProbes starts one loop per provider with a health check; stopProbes ends them.
func (h *Handler) startProbes() {
	if len(h.probers) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.probeStop, h.probeLoops = cancel, new(sync.WaitGroup)
	for _, pr := range h.probers {
		h.probeLoops.Add(1)
		go func() {
			defer h.probeLoops.Done()
			tick := h.probeTick
			if tick == nil {
				t := time.NewTicker(time.Duration(pr.wp.prov.HealthCheck.Interval))
				defer t.Stop()
				tick = t.C
			}
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick:
					h.runProbes(ctx, pr)
				}
			}
		}()
	}
}

func (h *Handler) stopProbes() {
	if h.probeStop != nil {
		h.probeStop()
		h.probeLoops.Wait()
	}
}

// runProbes probes every node x key of a provider once, bounded, and returns when done.
func (h *Handler) runProbes(ctx context.Context, pr *prober) {
	hc := pr.wp.prov.HealthCheck
	sem := make(chan struct{}, max(hc.Concurrency, 1))
	var wg sync.WaitGroup
	ended := false
	var mu sync.Mutex
	for _, pb := range pr.probes {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if h.probeOne(ctx, pr, pb, time.Duration(hc.Timeout)) {
				mu.Lock()
				ended = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ended {
		h.forgetPoolCaches()
	}
}

// probeOne sends one probe and acts on its outcome; it reports whether it ended a cooldown.
func (h *Handler) probeOne(ctx context.Context, pr *prober, pb *probe, timeout time.Duration) bool {
	pctx, cancel := context.WithTimeout(ctx, timeout)
	status, hdr, body, err := h.getList(pctx, pr.wp, pb.ct, pr.wp.prov.ProbeURL(pb.ct.Node))
	cancel()
	if ctx.Err() != nil {
		return false // the config is going away: say nothing of the upstream
	}
	now := h.now()
	class, reason := selector.Success, ""
	switch {
	case err != nil:
		class, reason = selector.UpstreamDown, err.Error()
	case status == http.StatusOK:
	default:
		class = selector.Classify(status, body, hdr.Get("Retry-After") != "")
		reason = "health check answered " + http.StatusText(status)
	}
	prov := pr.wp.prov.Name
	switch class {
	case selector.Success:
		if pb.key == nil {
			return false
		}
		if c, st, ok := pb.key.CoolingStatus(now.UnixNano()); ok && c == selector.KeyRefused &&
			(st == http.StatusUnauthorized || st == http.StatusForbidden) {
			if until := pb.key.EndCooldownUntil(now.UnixNano()); until != 0 {
				h.logger.Info("cooldown ended early: the health check's authenticated call succeeded",
					zap.String("scope", "key"), zap.String("provider", prov), zap.String("target", pb.ct.Label))
				h.shareEnd(state.Cooldown{Key: true, ID: pb.ct.KeyStateID, Until: until})
				return true
			}
		}
	case selector.KeyRefused:
		if pb.key == nil {
			return false
		}
		until := now.Add(h.runtime.cooldown)
		if pb.key.CoolForStatus(now.UnixNano(), until.UnixNano(), class, refusalStatus(status, selector.KeyInvalid(status, body))) {
			h.logger.Info("cooldown started", zap.String("scope", "key"), zap.String("provider", prov),
				zap.String("target", pb.ct.Label), zap.String("class", class.String()), zap.Int("status", status),
				zap.String("reason", reason), zap.Time("until", until))
		}
	case selector.RateLimited, selector.UpstreamDown:
		d := h.runtime.cooldown
		if ra := selector.RetryAfter(hdr.Get("Retry-After"), body, now); ra > 0 {
			d = min(ra, h.runtime.maxCooldown)
		}
		until := now.Add(d)
		started := 0
		for _, t := range pb.targets {
			if t.health.CoolForStatus(now.UnixNano(), until.UnixNano(), class, status) {
				started++
			}
		}
		if started > 0 {
			h.logger.Info("cooldown started", zap.String("scope", "node_key"), zap.String("provider", prov),
				zap.String("target", pb.ct.Label), zap.Int("targets", started), zap.String("class", class.String()),
				zap.Int("status", status), zap.String("reason", reason), zap.Time("until", until))
		}
	}
	return false
}

// refusalStatus is the status a key's cooldown records: that of the reply, or 401 for a
// refusal of the key itself under another status (Gemini's 400 API_KEY_INVALID), so that a
// good probe ends it as it ends a 401's.
func refusalStatus(status int, keyInvalid bool) int {
	if keyInvalid && status != http.StatusUnauthorized && status != http.StatusForbidden {
		return http.StatusUnauthorized
	}
	return status
}

// forgetPoolCaches tells every pool that a cooldown ended early (see State.EndCooldown).
func (h *Handler) forgetPoolCaches() {
	for _, p := range h.pools {
		p.sel.ForgetCaches()
	}
	if h.disc != nil {
		if s := h.disc.set.Load(); s != nil {
			for _, p := range s.pools {
				p.sel.ForgetCaches()
			}
		}
	}
	for _, wp := range h.wild {
		wp.mu.RLock()
		for _, e := range wp.ids {
			e.pool.sel.ForgetCaches()
		}
		wp.mu.RUnlock()
	}
}
