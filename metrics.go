package llmrouter

import (
	"errors"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/llmrouter/caddy-llm-router/selector"
)

// Collectors are created once and registered into each config's registry on Provision, so
// counts carry across reloads. Label values are configured names only (models, aliases,
// providers) and fixed words: never a key, never unbounded client input.
var (
	requestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "llm_router", Name: "requests_total",
		Help: "Model requests by requested model, serving provider and outcome.",
	}, []string{"model", "provider", "outcome"})

	attemptsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "llm_router", Name: "attempts_total",
		Help: "Upstream attempts by provider and outcome class.",
	}, []string{"provider", "class"})

	tokensTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "llm_router", Name: "tokens_total",
		Help: "Tokens reported by upstreams, by model, provider and direction (input, output).",
	}, []string{"model", "provider", "direction"})

	costTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "llm_router", Name: "cost_usd_total",
		Help: "Cost in USD computed from reported usage and catalog prices.",
	}, []string{"model", "provider"})

	upstreamLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "caddy", Subsystem: "llm_router", Name: "upstream_latency_seconds",
		Help:    "Time from sending a request upstream to its response headers.",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
	}, []string{"provider"})

	timeToFirstToken = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "caddy", Subsystem: "llm_router", Name: "time_to_first_token_seconds",
		Help:    "Time from the client's request to the first streamed event sent to it.",
		Buckets: []float64{.05, .1, .25, .5, 1, 2, 4, 8, 15, 30, 60},
	}, []string{"provider"})

	routeSelected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "llm_router", Name: "route_selected_total",
		Help: "Requests to virtual models by virtual model and the model that answered (none: no answer).",
	}, []string{"router", "model"})

	hedgesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "llm_router", Name: "hedges_total",
		Help: "Hedged stream attempts by model and outcome: started, then won (the hedge answered first), lost (the first attempt did) or failed (neither answered).",
	}, []string{"model", "outcome"})

	resumesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "llm_router", Name: "resumes_total",
		Help: "Broken streams by model and what resuming did: resumed (a continuation took over), refused (it could not be faithful) or failed (no continuation answered).",
	}, []string{"model", "outcome"})

	coolingTargets = &coolingCollector{desc: prometheus.NewDesc(
		"caddy_llm_router_targets_cooling",
		"Targets currently left out of rotation (target or key cooling), by provider.",
		[]string{"provider"}, nil)}
)

func registerMetrics(reg *prometheus.Registry) error {
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{requestsTotal, attemptsTotal, tokensTotal, costTotal,
		upstreamLatency, timeToFirstToken, routeSelected, hedgesTotal, resumesTotal, coolingTargets} {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				return err
			}
		}
	}
	return nil
}

// live holds the provisioned handlers, for the cooling gauge and the admin API. During a
// reload the old and the new config are both here for a moment; readers deduplicate targets
// by their state.
var live struct {
	sync.Mutex
	handlers map[*Handler]struct{}
}

func addLive(h *Handler) {
	live.Lock()
	defer live.Unlock()
	if live.handlers == nil {
		live.handlers = make(map[*Handler]struct{})
	}
	live.handlers[h] = struct{}{}
}

func removeLive(h *Handler) {
	live.Lock()
	defer live.Unlock()
	delete(live.handlers, h)
}

// forgetSeries deletes the series of the providers and models that h served and no live
// handler serves any more, once h is no longer live. Caddy provisions a new config before it
// cleans up the old one, so a reload that keeps a provider keeps its series and counts, and one
// that drops a provider drops its series instead of exporting them, frozen, until a restart.
func forgetSeries(h *Handler) {
	live.Lock()
	defer live.Unlock() // no handler becomes live, creating series, while these are deleted
	providers := make(map[string]bool)
	models := make(map[string]bool)
	for o := range live.handlers {
		for _, u := range o.conns {
			providers[u.provider.Name] = true
		}
		for m := range o.pools {
			models[m] = true
		}
		for _, m := range o.discoveredNames() {
			models[m] = true
		}
	}
	for _, u := range h.conns {
		if p := u.provider.Name; !providers[p] {
			providers[p] = true // a provider twice in h is deleted once
			l := prometheus.Labels{"provider": p}
			requestsTotal.DeletePartialMatch(l)
			attemptsTotal.DeletePartialMatch(l)
			tokensTotal.DeletePartialMatch(l)
			costTotal.DeletePartialMatch(l)
			upstreamLatency.DeletePartialMatch(l)
			timeToFirstToken.DeletePartialMatch(l)
		}
	}
	mine := slices.Collect(maps.Keys(h.pools))
	for _, m := range append(mine, h.discoveredNames()...) {
		if !models[m] {
			l := prometheus.Labels{"model": m}
			requestsTotal.DeletePartialMatch(l)
			tokensTotal.DeletePartialMatch(l)
			costTotal.DeletePartialMatch(l)
			hedgesTotal.DeletePartialMatch(l)
			resumesTotal.DeletePartialMatch(l)
		}
	}
	forgetSmartSeries(h)
}

// eachLiveTarget calls f once per distinct target of every live handler.
func eachLiveTarget(f func(h *Handler, t *target)) {
	seen := make(map[*selector.State]bool)
	for _, h := range liveHandlers() {
		h.eachTarget(seen, func(t *target) { f(h, t) })
	}
}

// liveHandlers are the handlers of the configs in use: two during a reload.
func liveHandlers() []*Handler {
	live.Lock()
	defer live.Unlock()
	handlers := make([]*Handler, 0, len(live.handlers))
	for h := range live.handlers {
		handlers = append(handlers, h)
	}
	return handlers
}

// eachTarget calls f once per target of h not in seen, and adds it there: the listed ones,
// then those of discovered models and of the wildcard ids in use. A target is known by its
// health, which a reload's new config shares with the old.
func (h *Handler) eachTarget(seen map[*selector.State]bool, f func(t *target)) {
	each := func(ts []*target) {
		for _, t := range ts {
			if !seen[t.health] {
				seen[t.health] = true
				f(t)
			}
		}
	}
	each(h.targets)
	if h.disc != nil {
		if s := h.disc.set.Load(); s != nil {
			for _, p := range s.pools {
				each(p.targets)
			}
		}
	}
	for _, name := range h.wildNames {
		wp := h.wild[name]
		wp.mu.RLock()
		pools := make([]*pool, 0, len(wp.ids))
		for _, e := range wp.ids {
			pools = append(pools, e.pool)
		}
		wp.mu.RUnlock()
		for _, p := range pools {
			each(p.targets) // f may take locks of its own: not under wp.mu
		}
	}
}

// coolingCollector counts cooling targets at scrape time, so no request pays for the gauge.
type coolingCollector struct{ desc *prometheus.Desc }

func (c *coolingCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *coolingCollector) Collect(ch chan<- prometheus.Metric) {
	counts := make(map[string]int)
	eachLiveTarget(func(h *Handler, t *target) {
		n := counts[t.Provider.Name] // make the provider appear even with nothing cooling
		if t.cooling(h.now().UnixNano()) {
			n++
		}
		counts[t.Provider.Name] = n
	})
	for p, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), p)
	}
}

// cachedCounter is one series of a CounterVec, looked up on first use and then kept, so the
// hot path hashes no label values for it. It is made on first use, not at load, so /metrics
// shows only the series something was counted in, as with WithLabelValues.
type cachedCounter struct{ v atomic.Value }

// get returns vec's series for the label values a, b, d: the kept one, or, on a nil
// cachedCounter, a lookup.
func (c *cachedCounter) get(vec *prometheus.CounterVec, a, b, d string) prometheus.Counter {
	if c == nil {
		return vec.WithLabelValues(a, b, d)
	}
	if m, ok := c.v.Load().(prometheus.Counter); ok {
		return m
	}
	m := vec.WithLabelValues(a, b, d)
	c.v.Store(m)
	return m
}

// successSeries are a target's series for its successful requests of its own model: the
// request count and the two token counts (see finish).
type successSeries [3]cachedCounter

const (
	seriesRequests = iota
	seriesTokensIn
	seriesTokensOut
)

// at returns one of the series, or nil (a plain lookup) on a nil successSeries.
func (s *successSeries) at(i int) *cachedCounter {
	if s == nil {
		return nil
	}
	return &s[i]
}
