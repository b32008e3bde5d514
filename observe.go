package llmrouter

import (
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// record is what one request did: the log line and the metrics are made from it.
type record struct {
	model    string
	client   string
	start    time.Time
	target   *target // the target that answered, or nil
	attempts []attemptInfo
	outcome  string
	status   int
	usage    tokenUsage
	cost     float64
	ttfb     time.Duration // to the first byte sent to the client
	// cooling says why every target was out of rotation when the pool was exhausted, e.g.
	// "2 key_refused": a provider that refused every key shows in the log line.
	cooling string
	// smart holds a virtual model's decision; nil for a model that is not virtual.
	smart *smartScratch
	// stream says the reply was a stream (for the latency measurements).
	stream bool
	// notes are what hedging and resuming did, if anything.
	notes streamNotes
	// fitted says what the body sent to the target that answered was fitted to (see fitBody).
	fitted string
	// took is the request's duration, and line the log line's one field (see finish).
	took time.Duration
	line [1]zap.Field
}

// finish counts and logs a request once it is over. The log line is built only when its level
// is enabled.
func (h *Handler) finish(rec *record) {
	provider := "none"
	var kept *successSeries // nil: look the series up
	if t := rec.target; t != nil {
		provider = t.Provider.Name
		if rec.outcome == "success" && rec.model == t.Model {
			kept = &t.success // the common case
		}
		if rec.usage.known() {
			kept.at(seriesTokensIn).get(tokensTotal, rec.model, provider, "input").Add(float64(rec.usage.input()))
			kept.at(seriesTokensOut).get(tokensTotal, rec.model, provider, "output").Add(float64(rec.usage.output()))
			if rec.cost > 0 {
				costTotal.WithLabelValues(rec.model, provider).Add(rec.cost)
			}
		}
	}
	kept.at(seriesRequests).get(requestsTotal, rec.model, provider, rec.outcome).Inc()
	h.shareUsage(rec, provider)
	h.observeLatency(rec, rec.stream)
	if sc := rec.smart; sc != nil {
		d := &sc.d
		selected := "none"
		if rec.target != nil {
			selected = d.Selected().Name
		}
		routeSelected.WithLabelValues(d.Router.Name, selected).Inc()
		defer sc.health.s.put(sc)
	}
	if h.retired != nil && h.retired.Load() {
		// A request that outlived its config's Cleanup (in flight across a reload) may have
		// made series again of a provider or model the reload removed: delete them again.
		forgetSeries(h)
	}

	level := zapcore.InfoLevel
	if rec.outcome == "failed" || rec.outcome == "exhausted" {
		level = zapcore.WarnLevel
	}
	ce := h.logger.Check(level, "llm request")
	if ce == nil {
		return
	}
	rec.took = h.now().Sub(rec.start)
	// The fields are added by the record itself as zap encodes the line: a slice of fifteen
	// fields would cost every request a kilobyte of heap. The one field lives in the record,
	// which is on the heap already.
	rec.line[0] = zap.Inline(rec)
	ce.Write(rec.line[:]...)
}

// MarshalLogObject adds the request line's fields (see finish).
func (rec *record) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("model", rec.model)
	enc.AddString("outcome", rec.outcome)
	enc.AddInt("status", rec.status)
	enc.AddInt("attempts", len(rec.attempts)+boolInt(rec.target != nil))
	enc.AddDuration("duration", rec.took)
	if rec.target != nil {
		enc.AddString("provider", rec.target.Provider.Name)
		enc.AddString("upstream_model", rec.target.Upstream)
		enc.AddString("target", rec.target.Label)
		enc.AddDuration("ttfb", rec.ttfb)
	}
	if rec.client != "" {
		enc.AddString("client", rec.client)
	}
	if rec.fitted != "" {
		enc.AddString("fitted", rec.fitted)
	}
	if rec.usage.known() {
		enc.AddInt64("tokens_in", rec.usage.input())
		enc.AddInt64("tokens_out", rec.usage.output())
	}
	if rec.cost > 0 {
		enc.AddFloat64("cost_usd", rec.cost)
	}
	if len(rec.attempts) > 0 {
		_ = enc.AddArray("failures", failureList(rec.attempts))
	}
	if rec.cooling != "" {
		enc.AddString("cooling", rec.cooling)
	}
	if rec.smart != nil {
		d := &rec.smart.d
		if m := d.Selected(); m != nil && rec.target != nil {
			enc.AddString("selected", m.Name)
		}
		enc.AddString("route_goal", d.Goal.String())
		enc.AddString("route_tier", d.Tier.String())
		enc.AddString("route_reason", d.Reason())
		enc.AddInt("route_fallbacks", d.NFallbacks)
	}
	rec.notes.addTo(enc)
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

type failureList []attemptInfo

func (l failureList) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	for _, a := range l {
		_ = enc.AppendObject(a)
	}
	return nil
}

// MarshalLogObject lets zap log an attempt without reflection.
func (a attemptInfo) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("provider", a.Provider)
	enc.AddString("target", a.Target)
	if a.Status > 0 {
		enc.AddInt("status", a.Status)
	}
	enc.AddString("class", a.Class)
	if a.Error != "" {
		enc.AddString("error", a.Error)
	}
	return nil
}
