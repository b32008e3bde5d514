package llmrouter

import (
	"context"
	"net/http"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// seriesWith returns, by metric name, the values of the router's series that carry the label
// name=value.
func seriesWith(t *testing.T, name, value string) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	if err := registerMetrics(reg); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]float64)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == name && l.GetValue() == value {
					v := m.GetCounter().GetValue() + float64(m.GetHistogram().GetSampleCount()) + m.GetGauge().GetValue()
					out[mf.GetName()+" "+m.String()] = v
				}
			}
		}
	}
	return out
}

// TestMetricsReloadDropsRemovedProviders: a reload that removes a provider (and a model only it
// served) deletes their series; the provider and model that stay keep theirs, counts included.
// Caddy's order is followed: the new config is provisioned, then the old one cleaned up.
func TestMetricsReloadDropsRemovedProviders(t *testing.T) {
	up := newFakeUpstream(t, okChat)
	cfg := func(names ...string) *Handler {
		h := &Handler{Strategy: "priority"}
		for _, n := range names {
			h.Providers = append(h.Providers, provider(n, up.URL+"/v1", []string{"k-" + n}, "mr-shared", "mr-shared", "mr-only-"+n, "mr-only-"+n))
		}
		return h
	}
	old := cfg("mr-stays", "mr-goes")
	tr := &testRouter{Handler: old, clock: newFakeClock(), logs: new(logBuffer)}
	old.now, old.logger = tr.clock.Now, tr.logs.logger()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	if err := old.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = old.Cleanup() })
	for _, m := range []string{"mr-shared", "mr-only-mr-stays", "mr-only-mr-goes"} {
		if rec := tr.chat(`{"model":"` + m + `"}`); rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", m, rec.Code, rec.Body)
		}
	}
	stays := seriesWith(t, "provider", "mr-stays")
	if len(stays) == 0 || len(seriesWith(t, "provider", "mr-goes")) == 0 || len(seriesWith(t, "model", "mr-only-mr-goes")) == 0 {
		t.Fatal("the requests made no series")
	}

	cur := newTestRouter(t, cfg("mr-stays"))
	if err := old.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if s := seriesWith(t, "provider", "mr-goes"); len(s) != 0 {
		t.Errorf("series of the removed provider remain: %v", s)
	}
	if s := seriesWith(t, "model", "mr-only-mr-goes"); len(s) != 0 {
		t.Errorf("series of the removed model remain: %v", s)
	}
	after := seriesWith(t, "provider", "mr-stays")
	for k, v := range stays {
		if after[k] != v {
			t.Errorf("%s: %v after the reload, want %v kept", k, after[k], v)
		}
	}
	if len(seriesWith(t, "model", "mr-shared")) == 0 {
		t.Error("the kept model lost its series")
	}
	if rec := cur.chat(`{"model":"mr-shared"}`); rec.Code != http.StatusOK {
		t.Fatalf("after the reload: %d", rec.Code)
	}
}
