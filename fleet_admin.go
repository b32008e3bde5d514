package llmrouter

import (
	"context"
	"net/http"
	"strconv"

	"github.com/caddyserver/caddy/v2"

	"github.com/llmrouter/caddy-llm-router/state"
)

// maxUsageDays bounds the days /llm_router/usage reads; usage_retention's default keeps 35.
const maxUsageDays = 35

// liveFleet returns the shared state of a live handler, or nil when none has one. It prefers
// an open backend: during a reload the old config's handlers stay live for a moment after its
// backend closed.
func liveFleet() *fleet {
	live.Lock()
	defer live.Unlock()
	var closed *fleet
	for h := range live.handlers {
		switch {
		case h.shared == nil:
		case !h.shared.r.Closed():
			return h.shared
		default:
			closed = h.shared
		}
	}
	return closed
}

// fleetUsage is the reply of GET /llm_router/usage.
type fleetUsage struct {
	// Shared says whether a shared state backend is configured; without one there is no
	// fleet-wide usage (this instance's counters are on /metrics).
	Shared  bool   `json:"shared"`
	Backend string `json:"backend,omitempty"`
	Up      bool   `json:"up"`
	Error   string `json:"error,omitempty"`
	// Days are the fleet's counters by UTC day, today first; Total sums them.
	Days  []state.DayUsage `json:"days,omitempty"`
	Total *state.DayUsage  `json:"total,omitempty"`
}

// serveAdminUsage answers GET /llm_router/usage[?days=N]: the fleet's usage and cost by model,
// provider and gateway key, as every instance flushed it to Redis.
func serveAdminUsage(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet {
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed}
	}
	days := 7
	if s := r.URL.Query().Get("days"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxUsageDays {
			return caddy.APIError{HTTPStatus: http.StatusBadRequest, Message: "days is 1 to 35"}
		}
		days = n
	}
	f := liveFleet()
	if f == nil {
		return writeAdminJSON(w, fleetUsage{Error: "no llm_router_state redis is configured: this instance's counters are on /metrics"})
	}
	out := fleetUsage{Shared: true, Backend: f.r.String(), Up: f.r.Up()}
	d, err := f.r.Usage(r.Context(), days)
	if err != nil {
		out.Error = "the shared state did not answer"
		w.WriteHeader(http.StatusServiceUnavailable)
		return writeAdminJSON(w, out)
	}
	total := state.Total(d)
	out.Days, out.Total = d, &total
	return writeAdminJSON(w, out)
}

// fleetView is the status page's view of the shared state.
type fleetView struct {
	Backend string
	Up      bool
	Error   string
	Rows    []fleetRow
}

type fleetRow struct {
	Model                         string
	Requests, TokensIn, TokensOut int64
	Cost                          string
}

// fleetView reads today's fleet-wide usage for the status page; nil without a shared state.
func (h *Handler) fleetView(ctx context.Context) *fleetView {
	if h.shared == nil {
		return nil
	}
	v := &fleetView{Backend: h.shared.r.String(), Up: h.shared.r.Up()}
	days, err := h.shared.r.Usage(ctx, 1)
	if err != nil {
		v.Error = "the shared state did not answer: usage is unavailable"
		return v
	}
	for _, m := range state.Names(days[0].Models) {
		c := days[0].Models[m]
		v.Rows = append(v.Rows, fleetRow{Model: m, Requests: c.Requests, TokensIn: c.TokensIn, TokensOut: c.TokensOut,
			Cost: "$" + formatCost(c.CostUSD)})
	}
	return v
}
