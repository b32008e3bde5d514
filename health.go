package llmrouter

import (
	"fmt"
	"net/http"
)

// serveHealth says whether the router can serve at all: it has at least one target.
func (h *Handler) serveHealth(w http.ResponseWriter, r *http.Request) {
	status, state := http.StatusOK, "ok"
	if len(h.cat.Targets) == 0 {
		status, state = http.StatusServiceUnavailable, "no_targets"
	}
	body := fmt.Appendf(nil, `{"status":%q,"providers":%d,"targets":%d,"models":%d}`+"\n",
		state, len(h.cat.Providers), len(h.cat.Targets), len(h.cat.Models))
	writeJSON(w, r, status, body)
}
