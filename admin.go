package llmrouter

import (
	"encoding/json"
	"net/http"
	"sort"
	"time"

	"github.com/caddyserver/caddy/v2"
)

func init() {
	caddy.RegisterModule(adminAPI{})
}

// adminAPI serves the router's state on Caddy's admin endpoint:
// GET /llm_router/targets, GET /llm_router/models and GET /llm_router/usage (fleet-wide usage
// with a shared state, see fleet_admin.go).
type adminAPI struct{}

// CaddyModule returns the Caddy module information.
func (adminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.llm_router",
		New: func() caddy.Module { return new(adminAPI) },
	}
}

// Routes returns the admin routes.
func (adminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{
		{Pattern: "/llm_router/targets", Handler: caddy.AdminHandlerFunc(serveAdminTargets)},
		{Pattern: "/llm_router/models", Handler: caddy.AdminHandlerFunc(serveAdminModels)},
		{Pattern: "/llm_router/usage", Handler: caddy.AdminHandlerFunc(serveAdminUsage)},
	}
}

// targetStatus is one target's public state: never its key, only the key's fingerprint.
type targetStatus struct {
	Provider       string     `json:"provider"`
	Node           string     `json:"node"`
	Model          string     `json:"model"`
	UpstreamModel  string     `json:"upstream_model"`
	Target         string     `json:"target"`
	KeyFingerprint string     `json:"key_fingerprint,omitempty"`
	State          string     `json:"state"` // healthy, cooling, key_cooling
	CoolingUntil   *time.Time `json:"cooling_until,omitempty"`
	LastFailure    string     `json:"last_failure_class,omitempty"`
	LastStatus     int        `json:"last_failure_status,omitempty"`
	Requests       uint64     `json:"requests"`
	Failures       uint64     `json:"failures"`
}

func (h *Handler) targetStatus(t *target, now time.Time) targetStatus {
	snap := t.health.Snapshot()
	ts := targetStatus{
		Provider: t.Provider.Name, Node: t.Node, Model: t.Model, UpstreamModel: t.Upstream,
		Target: t.Label, KeyFingerprint: t.Fingerprint, State: "healthy",
		Requests: snap.Requests, Failures: snap.Failures,
	}
	if snap.Failures > 0 {
		ts.LastFailure, ts.LastStatus = snap.LastClass.String(), snap.LastStatus
	}
	until := int64(0)
	if t.health.Cooling(now.UnixNano()) {
		ts.State, until = "cooling", t.health.CoolUntil()
	}
	if t.key != nil && t.key.Cooling(now.UnixNano()) && t.key.CoolUntil() > until {
		ts.State, until = "key_cooling", t.key.CoolUntil()
	}
	if until > 0 {
		u := time.Unix(0, until).UTC()
		ts.CoolingUntil = &u
	}
	return ts
}

func serveAdminTargets(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed}
	}
	out := []targetStatus{}
	eachLiveTarget(func(h *Handler, t *target) {
		out = append(out, h.targetStatus(t, h.now()))
	})
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Provider != out[j].Provider {
			return out[i].Provider < out[j].Provider
		}
		return out[i].Target < out[j].Target
	})
	return writeAdminJSON(w, map[string]any{"targets": out})
}

func serveAdminModels(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed}
	}
	out := []modelEntry{}
	seen := make(map[string]bool)
	live.Lock()
	for h := range live.handlers {
		for _, e := range h.modelEntries {
			if !seen[e.ID] {
				seen[e.ID] = true
				out = append(out, e)
			}
		}
	}
	live.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return writeAdminJSON(w, map[string]any{"object": "list", "data": out})
}

func writeAdminJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	return json.NewEncoder(w).Encode(v)
}

// Interface guard
var _ caddy.AdminRouter = adminAPI{}
