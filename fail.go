package llmrouter

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/llmrouter/caddy-llm-router/selector"
	"github.com/llmrouter/caddy-llm-router/sse"
)

// fail answers a request whose every attempt failed, or that found no healthy target.
func (h *Handler) fail(w http.ResponseWriter, d sse.Dialect, rec *record, p *pool, failures []attemptInfo, last *upstreamReply) (status int, outcome string) {
	model := rec.model
	now := h.now()
	hdr := w.Header()
	hdr.Set("X-LLM-Router-Model", model)
	hdr.Set("X-LLM-Router-Attempts", strconv.Itoa(len(failures)))
	var wait time.Duration
	if r := p.sel.Recovery(now.UnixNano()); r > 0 {
		wait = time.Duration(r - now.UnixNano())
		hdr.Set("Retry-After", retryAfterSeconds(wait))
	}
	if len(failures) > 0 {
		hdr.Set("X-LLM-Router-Failures", failureSummary(failures))
	}
	switch {
	case len(failures) == 0:
		// Nothing was tried: every target was already cooling. Say why, so a client (and the log)
		// can tell a provider that refused every key from a passing rate limit.
		causes := p.coolingCauses(now.UnixNano())
		rec.cooling = causes.String()
		status, typ := http.StatusServiceUnavailable, errUnavailable
		if causes.only(selector.RateLimited) {
			status, typ = http.StatusTooManyRequests, errRateLimit
		}
		why := " (" + rec.cooling + ")"
		if causes.only(selector.KeyRefused) {
			why = ": the provider refused every key (401, 402, 403 or exhausted quota)"
		}
		writeAPIError(w, d, status, apiError{Type: typ, Code: "pool_exhausted",
			Message: fmt.Sprintf("every target of %q is cooling down%s; the first recovers in %ss", model, why, retryAfterSeconds(wait))})
		return status, "exhausted"
	case last != nil:
		// The last attempt got an upstream reply: the client sees its status and error, as if
		// it had called that provider, with what the router tried alongside.
		if b := errorBodyIn(d, last.api, last.status, last.body); b != nil {
			writeJSONBody(w, last.status, b)
			return last.status, "failed"
		}
		writeAPIError(w, d, last.status, apiError{Type: errUpstream, Code: "upstream_failed", Attempts: failures,
			Message: fmt.Sprintf("every attempt failed; the last upstream answered %d: %s", last.status, snippet(last.body))})
		return last.status, "failed"
	}
	writeAPIError(w, d, http.StatusBadGateway, apiError{Type: errUpstream, Code: "upstream_failed", Attempts: failures,
		Message: fmt.Sprintf("every attempt failed; the last: %s", failures[len(failures)-1].Error)})
	return http.StatusBadGateway, "failed"
}

// coolingCounts counts a pool's cooling targets by the class of the failure that cooled them;
// unknown counts those whose cause is not known.
type coolingCounts struct {
	by      [selector.ClientGone + 1]int
	unknown int
}

// coolingCauses says why each target of the pool is out of rotation at now. A target whose key
// is cooling counts as key_refused (only a refusal cools a key), else by its own cooldown's
// cause: not by its latest failure, which may be older than the cooldown in force.
func (p *pool) coolingCauses(now int64) coolingCounts {
	var n coolingCounts
	for _, t := range p.targets {
		if t.key != nil && t.key.Cooling(now) {
			n.by[selector.KeyRefused]++
			continue
		}
		if c, ok := t.health.CoolingCause(now); ok {
			n.by[c]++
		} else {
			n.unknown++
		}
	}
	return n
}

// only reports whether every target cools for the class c (and there is at least one).
func (n coolingCounts) only(c selector.Class) bool {
	total := n.unknown
	for _, v := range n.by {
		total += v
	}
	return total > 0 && n.by[c] == total
}

// String lists the counts, e.g. "2 key_refused, 1 rate_limited".
func (n coolingCounts) String() string {
	var sb strings.Builder
	add := func(count int, what string) {
		if count == 0 {
			return
		}
		if sb.Len() > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(strconv.Itoa(count))
		sb.WriteByte(' ')
		sb.WriteString(what)
	}
	for c, v := range n.by {
		add(v, selector.Class(c).String())
	}
	add(n.unknown, "of unknown cause")
	return sb.String()
}

func snippet(body []byte) string {
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if s == "" {
		s = "(empty body)"
	}
	return s
}

func failureSummary(failures []attemptInfo) string {
	var sb strings.Builder
	for i, f := range failures {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(f.Target)
		sb.WriteByte(' ')
		if f.Status > 0 {
			sb.WriteString(strconv.Itoa(f.Status))
			sb.WriteByte(' ')
		}
		sb.WriteString(f.Class)
	}
	return sb.String()
}
