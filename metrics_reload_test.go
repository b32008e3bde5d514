package llmrouter

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/llmrouter/caddy-llm-router/catalog"
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

// TestMetricsReloadMidStreamKeepsRemovedProviderGone: a stream in flight on a provider that a
// reload removes ends after the old config was cleaned up; its end is not counted into series
// of the removed provider and model, which would stay on /metrics, frozen, until a restart.
func TestMetricsReloadMidStreamKeepsRemovedProviderGone(t *testing.T) {
	release := make(chan struct{})
	goes := newFakeUpstream(t, heldUntil(release))
	stays := newFakeUpstream(t, okChat)
	old := &Handler{Providers: []catalog.ProviderConfig{
		provider("mrs-goes", goes.URL+"/v1", []string{"k-mrs-goes"}, "mrs-only-goes", "mrs-only-goes"),
		provider("mrs-stays", stays.URL+"/v1", []string{"k-mrs-stays"}, "mrs-stays", "mrs-stays"),
	}}
	tr := &testRouter{Handler: old, clock: newFakeClock(), logs: new(logBuffer)}
	old.now, old.logger = tr.clock.Now, tr.logs.logger()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	if err := old.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = old.Cleanup() })
	rs := serveRouter(t, tr)
	done := make(chan string, 1)
	go func() {
		resp, err := http.Post(rs.URL+"/v1/chat/completions", "application/json",
			strings.NewReader(`{"model":"mrs-only-goes","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
		if err != nil {
			done <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- string(b)
	}()
	pollUntil(t, "the stream to reach its upstream", func() bool { return goes.calls.Load() == 1 })

	_ = newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{
		provider("mrs-stays", stays.URL+"/v1", []string{"k-mrs-stays"}, "mrs-stays", "mrs-stays"),
	}})
	if err := old.Cleanup(); err != nil {
		t.Fatal(err)
	}
	close(release)
	if body := <-done; !strings.HasSuffix(body, doneEv) {
		t.Fatalf("the stream in flight was cut: %q", body)
	}
	if s := seriesWith(t, "provider", "mrs-goes"); len(s) != 0 {
		t.Errorf("series of the removed provider came back: %v", s)
	}
	if s := seriesWith(t, "model", "mrs-only-goes"); len(s) != 0 {
		t.Errorf("series of the removed model came back: %v", s)
	}
}
