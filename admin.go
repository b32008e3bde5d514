package llmrouter

import (
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/llmrouter/caddy-llm-router/state"
)

func init() {
	caddy.RegisterModule(adminAPI{})
}

// adminAPI serves the router's state on Caddy's admin endpoint:
// GET /llm_router/targets, GET /llm_router/models, GET /llm_router/usage (fleet-wide usage
// with a shared state, see fleet_admin.go) and DELETE /llm_router/cooldowns.
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
		{Pattern: "/llm_router/cooldowns", Handler: caddy.AdminHandlerFunc(serveAdminCooldowns)},
	}
}

// serveAdminCooldowns ends cooldowns early: DELETE /llm_router/cooldowns, optionally
// ?provider=NAME and ?target=LABEL (as /llm_router/targets lists them). An operator who has
// fixed a key or an upstream need not wait out a 10-minute cooldown. Each target's and each
// key's cooldown in this instance ends; the reply counts them. With a shared state the ends
// are shared too (state.Redis.EndCooldowns).
func serveAdminCooldowns(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodDelete {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Message: "use DELETE to end cooldowns"}
	}
	provider, label := r.URL.Query().Get("provider"), r.URL.Query().Get("target")
	cleared := 0
	// The fleet's record of each ended cooldown goes too: left in Redis, it would hold back
	// the next failure's cooldown from the peers (SET NX) until the ended deadline.
	type ends struct {
		logger *zap.Logger
		cs     []state.Cooldown
	}
	ended := make(map[*fleet]*ends)
	end := func(h *Handler, c state.Cooldown) {
		if h.shared == nil {
			return
		}
		e := ended[h.shared]
		if e == nil {
			e = &ends{logger: h.logger}
			ended[h.shared] = e
		}
		e.cs = append(e.cs, c)
	}
	eachLiveTarget(func(h *Handler, t *target) {
		if provider != "" && t.Provider.Name != provider || label != "" && t.Label != label {
			return
		}
		now := h.now().UnixNano()
		if until := t.health.EndCooldownUntil(now); until != 0 {
			cleared++
			end(h, state.Cooldown{ID: t.StateID, Until: until})
		}
		if t.key != nil {
			if until := t.key.EndCooldownUntil(now); until != 0 {
				cleared++
				end(h, state.Cooldown{Key: true, ID: t.KeyStateID, Until: until})
			}
		}
	})
	for f, e := range ended {
		if err := f.r.EndCooldowns(e.cs); err != nil {
			logSharedEnd(e.logger, err, len(e.cs))
		}
	}
	if cleared > 0 {
		// Every config's pools, as a reload's two share their targets' state.
		for i, h := range liveHandlers() {
			h.forgetPoolCaches()
			if i == 0 {
				h.logger.Info("cooldowns ended early through the admin API",
					zap.String("provider", provider), zap.String("target", label), zap.Int("cleared", cleared))
			}
		}
	}
	return writeAdminJSON(w, map[string]int{"cleared": cleared})
}

// logSharedEnd says what became of ended cooldowns the shared state did not take at once.
func logSharedEnd(logger *zap.Logger, err error, n int) {
	if errors.Is(err, state.ErrEndsFull) {
		logger.Warn("too many ended cooldowns wait for the shared state: some stay in Redis until their deadlines, and a new failure of those targets reaches the other instances only then",
			zap.Int("cooldowns", n))
		return
	}
	logger.Warn("the shared state did not answer: the ended cooldowns are ended in Redis, and on the other instances, once it does",
		zap.Int("cooldowns", n))
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
		entries, _ := h.listing()
		for _, e := range entries {
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
