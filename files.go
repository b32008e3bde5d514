package llmrouter

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/gate"
	"github.com/llmrouter/caddy-llm-router/internal/jsonscan"
	"github.com/llmrouter/caddy-llm-router/internal/jsonstr"
	"github.com/llmrouter/caddy-llm-router/internal/redact"
	"github.com/llmrouter/caddy-llm-router/selector"
	"github.com/llmrouter/caddy-llm-router/sse"
)

// Stateful endpoints: /v1/files, /v1/batches and the stored responses of /v1/responses/{id}.
// They name no model; what they act on lives at one provider key (see sticky.go). Their
// attempts go to account targets: one per provider x key x node, with a health of their own
// (a files call that fails does not cool a model) and the key's shared health (a key refused
// here is refused for chat too).
//
// Which provider key a call reaches:
//   - a call on an id (GET/DELETE /v1/files/{id}, /content, /v1/batches/{id}, /cancel,
//     /v1/responses/{id}, /cancel, /input_items) goes to the key that created the id, on any of
//     its provider's nodes; an id the router did not create (or forgot) is a 404;
//   - POST /v1/batches goes to the key that holds its input_file_id;
//   - POST /v1/files goes to a provider that serves files: of the model named in the
//     X-LLM-Router-Model request header when there is one, else any, by the router's strategy;
//   - GET /v1/files and /v1/batches ask every key of every provider that serves them and merge
//     the lists, keeping only the ids the router created there.

var (
	fileUploadEndpoint  = statefulEndpoint("/files", catalog.CapFiles, replyJSON, stickyFile, "")
	fileListEndpoint    = statefulEndpoint("/files", catalog.CapFiles, replyJSON, "", "")
	fileGetEndpoint     = statefulEndpoint("/files", catalog.CapFiles, replyJSON, "", "")
	fileContentEndpoint = statefulEndpoint("/files", catalog.CapFiles, replyBinary, "", "")
	fileDeleteEndpoint  = statefulEndpoint("/files", catalog.CapFiles, replyJSON, "", stickyFile)
	batchCreateEndpoint = statefulEndpoint("/batches", catalog.CapBatches, replyJSON, stickyBatch, "")
	batchListEndpoint   = statefulEndpoint("/batches", catalog.CapBatches, replyJSON, "", "")
	batchGetEndpoint    = statefulEndpoint("/batches", catalog.CapBatches, replyJSON, "", "")
	responseGetEndpoint = statefulEndpoint("/responses", catalog.CapChat, replyJSON, "", "")
	responseDelEndpoint = statefulEndpoint("/responses", catalog.CapChat, replyJSON, "", stickyResponse)
)

func statefulEndpoint(path string, c catalog.Capability, reply replyKind, records, forgets string) *endpoint {
	ep := &endpoint{openaiPath: path, endpointExt: endpointExt{cap: c, body: bodyOpaque, reply: reply, records: records, forgets: forgets}}
	switch path {
	case "/files":
		ep.upload = true
	case "/responses":
		// GET /v1/responses/{id}?stream=true replays the response's events: their names matter
		// to its clients, and its end is response.completed, as on POST /v1/responses.
		ep.dialect, ep.filter = sse.Responses, sse.Filter{KeepEventNames: true}
	}
	return ep
}

// statefulOp is one method on one stateful path.
type statefulOp struct {
	method string
	ep     *endpoint
	// list says the call is a list, merged over the accounts (serveList).
	list bool
}

// statefulRoute is a stateful path, parsed: its ops, and the id it names (of kind).
type statefulRoute struct {
	ops      []statefulOp
	kind, id string
	// upstream is the path after a node's base URL.
	upstream string
	// azure says the path came under Azure's /openai prefix.
	azure bool
}

// matchStateful parses a stateful path (with or without /v1, and under Azure's /openai, where
// Azure clients send them: azure is then set).
func matchStateful(path string) (statefulRoute, bool) {
	rest, azure := strings.CutPrefix(path, "/openai")
	rest = strings.TrimPrefix(rest, "/v1")
	// Every request passes here: the common paths are told apart without allocating.
	if !strings.HasPrefix(rest, "/files") && !strings.HasPrefix(rest, "/batches") && !strings.HasPrefix(rest, "/responses/") {
		return statefulRoute{}, false
	}
	seg := strings.Split(strings.TrimPrefix(rest, "/"), "/")
	if len(seg) > 3 || len(seg) > 1 && seg[1] == "" {
		return statefulRoute{}, false
	}
	sr := statefulRoute{upstream: rest, azure: azure}
	switch {
	case seg[0] == "files" && len(seg) == 1:
		sr.ops = []statefulOp{{http.MethodPost, fileUploadEndpoint, false}, {http.MethodGet, fileListEndpoint, true}}
	case seg[0] == "files" && len(seg) == 2:
		sr.ops = []statefulOp{{http.MethodGet, fileGetEndpoint, false}, {http.MethodDelete, fileDeleteEndpoint, false}}
	case seg[0] == "files" && len(seg) == 3 && seg[2] == "content":
		sr.ops = []statefulOp{{http.MethodGet, fileContentEndpoint, false}}
	case seg[0] == "batches" && len(seg) == 1:
		sr.ops = []statefulOp{{http.MethodPost, batchCreateEndpoint, false}, {http.MethodGet, batchListEndpoint, true}}
	case seg[0] == "batches" && len(seg) == 2:
		sr.ops = []statefulOp{{http.MethodGet, batchGetEndpoint, false}}
	case seg[0] == "batches" && len(seg) == 3 && seg[2] == "cancel":
		sr.ops = []statefulOp{{http.MethodPost, batchGetEndpoint, false}}
	case seg[0] == "responses" && len(seg) == 2:
		sr.ops = []statefulOp{{http.MethodGet, responseGetEndpoint, false}, {http.MethodDelete, responseDelEndpoint, false}}
	case seg[0] == "responses" && len(seg) == 3 && (seg[2] == "cancel" || seg[2] == "input_items"):
		m := http.MethodPost
		if seg[2] == "input_items" {
			m = http.MethodGet
		}
		sr.ops = []statefulOp{{m, responseGetEndpoint, false}}
	default:
		return statefulRoute{}, false
	}
	if len(seg) > 1 {
		sr.id = seg[1]
		switch seg[0] {
		case "files":
			sr.kind = stickyFile
		case "batches":
			sr.kind = stickyBatch
		default:
			sr.kind = stickyResponse
		}
	}
	return sr, true
}

// statefulModel is the model label of stateful calls in logs, metrics and X-LLM-Router-Model
// ('@' is in no provider name, so no provider/model route can look like it).
func statefulModel(ep *endpoint) string {
	return "@" + strings.TrimPrefix(ep.openaiPath, "/")
}

// modelHeader names the public model whose providers a files upload may go to.
const modelHeader = "X-Llm-Router-Model"

// serveStateful serves a stateful path; it reports false for any other path.
func (h *Handler) serveStateful(w http.ResponseWriter, r *http.Request, client *gate.Client) bool {
	sr, ok := matchStateful(r.URL.Path)
	if !ok {
		return false
	}
	if sr.azure && r.URL.RawQuery != "" {
		// An Azure client's api-version is Azure's: the provider that holds the id is reached
		// as OpenAI's API (an azure provider's own api-version is its ExtraQuery).
		q := r.URL.Query()
		q.Del("api-version")
		r.URL.RawQuery = q.Encode()
	}
	var op *statefulOp
	allow := make([]string, 0, 2)
	for i := range sr.ops {
		allow = append(allow, sr.ops[i].method)
		if sr.ops[i].method == r.Method {
			op = &sr.ops[i]
		}
	}
	if op == nil {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, sse.OpenAI, http.StatusMethodNotAllowed, errInvalidRequest, "method_not_allowed",
			"use "+strings.Join(allow, " or ")+" for "+clipEcho(r.URL.Path))
		return true
	}
	ep := op.ep
	body, lease, ok := h.readBody(w, r, ep)
	if !ok {
		return true
	}
	defer lease.Done()

	var pin *stickyOwner
	var sticky string
	switch {
	case sr.id != "":
		o, ok := h.lookupSticky(sr.kind, sr.id, clientName(client))
		if !ok {
			writeError(w, sse.OpenAI, http.StatusNotFound, errInvalidRequest, sr.kind+"_not_found", unknownIDMessage(sr.kind, sr.id))
			return true
		}
		pin, sticky = &o, sr.id
	case ep == batchCreateEndpoint:
		fileID := jsonString(jsonscan.ObjectKey(body, "input_file_id"))
		if fileID == "" {
			writeError(w, sse.OpenAI, http.StatusBadRequest, errInvalidRequest, "missing_input_file_id",
				`a batch needs an "input_file_id": a file uploaded through this router with purpose "batch"`)
			return true
		}
		o, ok := h.lookupSticky(stickyFile, fileID, clientName(client))
		if !ok {
			writeError(w, sse.OpenAI, http.StatusNotFound, errInvalidRequest, "file_not_found", unknownIDMessage(stickyFile, fileID))
			return true
		}
		pin = &o
	}
	var providers map[string]bool
	if m := r.Header.Get(modelHeader); m != "" && pin == nil {
		if !h.permit(w, sse.OpenAI, client, m) {
			return true
		}
		p := h.namedPool(m)
		if p == nil {
			writeError(w, sse.OpenAI, http.StatusNotFound, errInvalidRequest, "model_not_found",
				fmt.Sprintf("the model %q named in X-LLM-Router-Model does not exist; GET /v1/models lists them", clipEcho(m)))
			return true
		}
		providers = make(map[string]bool)
		for _, t := range p.targets {
			providers[t.Provider.Name] = true
		}
	}
	if providers == nil && pin == nil && client != nil && !client.Allows(statefulModel(ep)) {
		// A scoped key reaches a provider only through a model it may use.
		writeError(w, sse.OpenAI, http.StatusForbidden, errPermission, "model_not_allowed",
			fmt.Sprintf("the key %q is scoped to models: name one it may use in X-LLM-Router-Model, or add %s to its models",
				client.Name, statefulModel(ep)))
		return true
	}
	if !h.charge(w, sse.OpenAI, client) {
		return true
	}
	var accounts []*target
	for _, t := range h.accounts {
		if t.Provider.Serves.Has(ep.capability()) && (pin == nil || pin.holds(t)) &&
			(providers == nil || providers[t.Provider.Name]) &&
			(sr.kind != stickyResponse || t.Provider.Responses) {
			accounts = append(accounts, t)
		}
	}
	rec := record{model: statefulModel(ep), start: h.now()}
	if client != nil {
		rec.client = client.Name
	}
	if len(accounts) == 0 {
		what := "no provider serves " + strings.TrimPrefix(ep.openaiPath, "/")
		if providers != nil {
			what += " for the model " + fmt.Sprintf("%q", clipEcho(r.Header.Get(modelHeader)))
		}
		if pin != nil {
			what = fmt.Sprintf("the provider %q that holds it is no longer configured (or serves no %s)", pin.provider, strings.TrimPrefix(ep.openaiPath, "/"))
		}
		writeError(w, sse.OpenAI, http.StatusBadRequest, errInvalidRequest, "unsupported_endpoint", what)
		return true
	}
	if op.list {
		h.serveList(w, r, ep, sr, accounts, &rec)
		return true
	}
	p := accountPool(rec.model, accounts, h.Strategy, h.accountCursors[rec.model])
	if pin != nil && h.pinnedCooling(w, pin, accounts, sr) {
		return true
	}
	c := &call{w: w, r: r, ep: ep, body: body, lease: lease, p: p, rec: rec,
		callExt: callExt{contentType: r.Header["Content-Type"], path: sr.upstream, pin: pin, sticky: sticky}}
	h.forwardCall(c)
	return true
}

// clientName is the gateway key's name, "" without auth.
func clientName(c *gate.Client) string {
	if c == nil {
		return ""
	}
	return c.Name
}

// unknownIDMessage is the 404 for an id the router has no owner for.
func unknownIDMessage(kind, id string) string {
	return fmt.Sprintf("no %s %q was created through this router (or it expired): the router sends a call on an id only to the provider key that created it",
		kind, clipEcho(id))
}

// pinnedCooling answers, and reports true, when every target that holds a pinned id is
// cooling: no other provider holds it, so the client is told when it is back instead of
// being sent elsewhere.
func (h *Handler) pinnedCooling(w http.ResponseWriter, pin *stickyOwner, ts []*target, sr statefulRoute) bool {
	now := h.now().UnixNano()
	first := int64(0)
	label := ""
	for _, t := range ts {
		if !t.cooling(now) {
			return false
		}
		u := t.health.CoolUntil()
		if t.key != nil {
			u = max(u, t.key.CoolUntil())
		}
		if first == 0 || u < first {
			first = u
		}
		label = t.Label
	}
	wait := time.Duration(first - now)
	w.Header().Set("Retry-After", retryAfterSeconds(wait))
	what := "the request"
	if sr.id != "" {
		what = fmt.Sprintf("the %s %q", sr.kind, clipEcho(sr.id))
	}
	writeError(w, sse.OpenAI, http.StatusServiceUnavailable, errUnavailable, "owner_cooling",
		fmt.Sprintf("%s lives at provider %q (%s), which is cooling down and is back in %ss; no other provider holds it",
			what, pin.provider, label, retryAfterSeconds(wait)))
	return true
}

// accountPool is a pool over account targets, made per call.
func accountPool(name string, ts []*target, strategy string, cursor *atomic.Uint64) *pool {
	s, _ := selector.ParseStrategy(strategy)
	members := make([]selector.Member, len(ts))
	for i, t := range ts {
		members[i] = selector.Member{Target: t.health, Key: t.key, Weight: t.Provider.Weight}
	}
	return newPool(&catalog.Route{Name: name}, ts, members, s, cursor)
}

// prepareAccounts makes the account targets: one per provider x key x node, with the key's
// shared health and a health of their own, both in the store that survives reloads.
func (h *Handler) prepareAccounts() {
	conns := make(map[*catalog.Provider]*providerConn, len(h.conns))
	for _, u := range h.conns {
		conns[u.provider] = u
	}
	type keyParts struct {
		entry  *healthEntry
		secret *redact.Secret
		auth   []string
	}
	keys := make(map[string]*keyParts)
	h.accountCursors = make(map[string]*atomic.Uint64)
	for _, ep := range []*endpoint{fileUploadEndpoint, batchCreateEndpoint, responseGetEndpoint} {
		name := statefulModel(ep)
		h.accountCursors[name] = h.held.cursor("llm_router/cursor/" + name)
	}
	// The key health entries preparePools loaded are shared, not loaded again: each config
	// holds one reference to an entry.
	for _, t := range h.targets {
		if t.keyEntry != nil && keys[t.KeyStateID] == nil {
			keys[t.KeyStateID] = &keyParts{entry: t.keyEntry, secret: t.secret, auth: t.auth}
		}
	}
	for _, wp := range h.wild {
		for ks, k := range wp.keys {
			if keys[ks] == nil {
				keys[ks] = &keyParts{entry: k.entry, secret: k.secret, auth: k.auth}
			}
		}
	}
	for _, p := range h.cat.Providers {
		u := conns[p]
		for _, ct := range p.WildcardTargets("") {
			ct.Model, ct.Upstream = "", ""
			t := &target{Target: ct, conn: u, transport: u.transportFor(ct.Node)}
			t.healthEntry = h.held.health("llm_router/account/" + ct.StateID)
			t.health = &t.healthEntry.State
			if ct.KeyStateID != "" {
				k := keys[ct.KeyStateID]
				if k == nil {
					k = &keyParts{entry: h.held.health("llm_router/key/" + ct.KeyStateID), secret: redact.New(ct.Key())}
					if p.Bearer {
						k.auth = []string{"Bearer " + ct.Key()}
					} else {
						k.auth = []string{ct.Key()}
					}
					keys[ct.KeyStateID] = k
				}
				t.keyEntry, t.key, t.secret, t.auth = k.entry, &k.entry.State, k.secret, k.auth
			}
			h.accounts = append(h.accounts, t)
		}
	}
}

// stickyStore is the handler's store of sticky ids: the fleet's when a shared state is
// configured (any instance routes a follow-up on an id another made), else the process's,
// or the one a test gave the handler.
func (h *Handler) stickyStore() stickyStore {
	if s := h.sharedSticky(); s != nil {
		return s
	}
	if h.sticky != nil {
		return h.sticky
	}
	return stickyIDs
}

// jsonString is a raw JSON string value's text, or "" for anything else.
func jsonString(raw []byte) string {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return ""
	}
	out, ok := jsonstr.AppendUnquoted(nil, raw[1:len(raw)-1])
	if !ok {
		return ""
	}
	return string(out)
}

// remember records the id a 2xx reply created (a file, a batch, a stored response passed
// through from a provider that serves the Responses API), and forgets the id a DELETE ended.
// reply is nil for a binary reply.
func (h *Handler) remember(c *call, t *target, reply []byte) {
	if c.ep.forgets != "" && c.sticky != "" {
		h.stickyStore().Delete(c.ep.forgets, c.sticky)
	}
	kind := c.ep.records
	if c.ep == responsesEndpoint && t.Provider.Responses {
		kind = stickyResponse
	}
	if kind == "" || reply == nil {
		return
	}
	if id := jsonString(jsonscan.ObjectKey(reply, "id")); id != "" {
		h.stickyStore().Put(kind, id, ownerOf(t, c.rec.client).String(), stickyTTL)
	}
}

// rememberFirst records the response id of a passed-through Responses stream from its first
// event (response.created carries the response).
func (h *Handler) rememberFirst(c *call, t *target, ev []byte) {
	if c.ep != responsesEndpoint || !t.Provider.Responses {
		return
	}
	if data, ok := sse.Data(ev); ok {
		if id := jsonString(jsonscan.ObjectKey(jsonscan.ObjectKey(data, "response"), "id")); id != "" {
			h.stickyStore().Put(stickyResponse, id, ownerOf(t, c.rec.client).String(), stickyTTL)
		}
	}
}

// pinPreviousResponse sends a Responses request with a previous_response_id the router saw
// created to the provider key that holds it: only that key's targets of the pool are tried.
// When none of them serves the model, or all are cooling, the client is told so (false) rather
// than sent to a provider that does not have the history. An id the router did not see goes
// on as before, to any provider that serves the Responses API itself.
func (h *Handler) pinPreviousResponse(c *call) bool {
	id := jsonString(jsonscan.ObjectKey(c.body, "previous_response_id"))
	if id == "" {
		return true
	}
	pin, mine := h.lookupSticky(stickyResponse, id, c.rec.client)
	if !mine && pin.provider != "" {
		writeError(c.w, c.ep.dialect, http.StatusNotFound, errInvalidRequest, "response_not_found", unknownIDMessage(stickyResponse, id))
		return false
	}
	if !mine {
		return true
	}
	var held []*target
	for _, t := range c.p.targets {
		if pin.holds(t) {
			held = append(held, t)
		}
	}
	if len(held) == 0 && !h.hasOwner(pin) {
		return true // its provider key is no longer configured: nothing better to do than before
	}
	if len(held) == 0 {
		writeError(c.w, c.ep.dialect, http.StatusBadRequest, errInvalidRequest, "response_elsewhere",
			fmt.Sprintf("the previous response %q was made by provider %q, which does not serve the model %q here; send the model it was made with",
				clipEcho(id), pin.provider, clipEcho(c.f.Model)))
		return false
	}
	if h.pinnedCooling(c.w, &pin, held, statefulRoute{kind: stickyResponse, id: id}) {
		return false
	}
	c.pin = &pin
	return true
}

// hasOwner reports whether the provider key o is still configured.
func (h *Handler) hasOwner(o stickyOwner) bool {
	for _, t := range h.accounts {
		if o.holds(t) {
			return true
		}
	}
	return false
}

// listReply is the part of an OpenAI list the merge reads.
type listReply struct {
	Data    []json.RawMessage `json:"data"`
	HasMore bool              `json:"has_more"`
}

// serveList answers GET /v1/files or /v1/batches: every key of every provider that serves them
// is asked once (on its first node that is not cooling; the client's query, its paging, goes
// along), and the lists are merged, keeping only the ids the router created at that key.
// has_more is set when any list had more. A key that fails is left out and logged; when every
// one fails the client gets 502.
func (h *Handler) serveList(w http.ResponseWriter, r *http.Request, ep *endpoint, sr statefulRoute, accounts []*target, rec *record) {
	kind := stickyFile
	if ep == batchListEndpoint {
		kind = stickyBatch
	}
	now := h.now().UnixNano()
	asked := make(map[stickyOwner]bool)
	data := make([]json.RawMessage, 0)
	hasMore, answered := false, 0
	var failures []attemptInfo
	for _, t := range accounts {
		o := ownerOf(t, rec.client)
		if asked[o] || t.cooling(now) {
			continue
		}
		asked[o] = true
		list, err := h.fetchList(r, t, sr.upstream)
		if err != "" {
			failures = append(failures, attemptInfo{Provider: t.Provider.Name, Target: t.Label, Class: "failed", Error: err})
			h.logger.Warn("list failed at one key", zap.String("target", t.Label), zap.String("reason", err))
			continue
		}
		answered++
		owner := o.String()
		for _, item := range list.Data {
			id := jsonString(jsonscan.ObjectKey(item, "id"))
			if got, ok := h.stickyStore().Get(kind, id); ok && got == owner {
				data = append(data, item)
			}
		}
		hasMore = hasMore || list.HasMore
	}
	rec.attempts = failures
	defer h.finish(rec)
	if answered == 0 && len(failures) > 0 {
		rec.status, rec.outcome = http.StatusBadGateway, "failed"
		writeAPIError(w, sse.OpenAI, http.StatusBadGateway, apiError{Type: errUpstream, Code: "upstream_failed", Attempts: failures,
			Message: "no provider key answered the list"})
		return
	}
	out := struct {
		Object  string            `json:"object"`
		Data    []json.RawMessage `json:"data"`
		HasMore bool              `json:"has_more"`
		FirstID string            `json:"first_id,omitempty"`
		LastID  string            `json:"last_id,omitempty"`
	}{Object: "list", Data: data, HasMore: hasMore}
	if len(data) > 0 {
		out.FirstID = jsonString(jsonscan.ObjectKey(data[0], "id"))
		out.LastID = jsonString(jsonscan.ObjectKey(data[len(data)-1], "id"))
	}
	b, _ := json.Marshal(out)
	w.Header().Set("X-LLM-Router-Model", rec.model)
	if len(failures) > 0 {
		w.Header().Set("X-LLM-Router-Failures", failureSummary(failures))
	}
	rec.status, rec.outcome = http.StatusOK, "success"
	writeJSONBody(w, http.StatusOK, b)
}

// fetchList GETs one key's list; the error is for logs and the client, scrubbed of the key.
func (h *Handler) fetchList(r *http.Request, t *target, path string) (listReply, string) {
	ctx, cancel := context.WithTimeout(r.Context(), h.runtime.tryDuration)
	defer cancel()
	u := t.Node + path
	sep := "?"
	if q := r.URL.RawQuery; q != "" {
		u += sep + q
		sep = "&"
	}
	if q := t.Provider.ExtraQuery(); q != "" {
		u += sep + q
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return listReply{}, "bad upstream url"
	}
	copyRequestHeader(req.Header, r.Header)
	delete(req.Header, "Content-Type")
	setDialectHeaders(req.Header, t)
	if t.auth != nil {
		req.Header[t.conn.keyHeader] = t.auth
	}
	resp, err := t.transport.RoundTrip(req)
	if err != nil {
		return listReply{}, t.scrubString(transportReason(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, h.runtime.maxResponse))
	if err != nil {
		return listReply{}, t.scrubString("reply truncated: " + transportReason(err))
	}
	if resp.StatusCode/100 != 2 {
		return listReply{}, fmt.Sprintf("upstream answered %d: %s", resp.StatusCode, snippet(t.scrub(body)))
	}
	var list listReply
	if err := json.Unmarshal(body, &list); err != nil {
		return listReply{}, "reply is not a list"
	}
	return list, ""
}
