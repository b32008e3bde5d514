package llmrouter

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/internal/redact"
	"github.com/llmrouter/caddy-llm-router/selector"
	"github.com/llmrouter/caddy-llm-router/sse"
)

// wildPool holds the pools of a `model *` provider, one per upstream id a client sent, made on
// first use: they cannot be expanded when the config loads. At most limit ids are kept; their
// target state lives in the shared store under the same StateIDs a listed model of that id would
// use, so cooldowns are shared with it and survive reloads (Provision carries the ids the old
// config had over to the new one before the old one is cleaned up).
type wildPool struct {
	prov     *catalog.Provider
	conn     *providerConn
	strategy selector.Strategy
	// keys holds each key's health, redactor and header value, by KeyStateID: loaded once per
	// config, like a listed model's.
	keys map[string]*wildKey
	// reqs are each node's request templates (see call.newRequest), shared by its targets.
	reqs map[string]map[reqKey]*http.Request

	mu     sync.RWMutex
	ids    map[string]*wildEntry
	closed bool
}

type wildKey struct {
	entry  *healthEntry
	secret *redact.Secret
	auth   []string
}

// wildEntry is one upstream id's pool and the store references it holds.
type wildEntry struct {
	pool *pool
	refs heldEntries
	// used is when the id was last asked for (unix nanos), for least-recently-used eviction.
	used atomic.Int64
}

// errWildcardFull says every kept id is cooling, so none can make room for a new one.
var errWildcardFull = errors.New("wildcard ids full")

// wildcardMetricName is the model label of a wildcard provider's requests in metrics: the ids
// are the clients' strings, so they are not label values (logs and headers carry them).
func wildcardMetricName(provider string) string { return provider + "/" + catalog.Wildcard }

// prepareWildcards sets up a wildPool for each `model *` provider, and brings over the ids that
// the live (older) configs keep for a provider of the same name, most recently used first, so
// their cooldowns outlive the reload.
func (h *Handler) prepareWildcards(ups map[*catalog.Provider]*providerConn, strategy selector.Strategy,
	keyStates map[string]*healthEntry, secrets map[string]*redact.Secret) {
	for _, p := range h.cat.Providers {
		if !p.Wildcard && p.Discover == nil && p.HealthCheck == nil {
			continue
		}
		wp := &wildPool{prov: p, conn: ups[p], strategy: strategy, keys: make(map[string]*wildKey),
			ids: make(map[string]*wildEntry), reqs: make(map[string]map[reqKey]*http.Request)}
		for _, node := range p.Nodes {
			// Targets are made on demand and share the map, which must not change after the
			// load: where the URL names the model, attempts parse their own.
			wp.reqs[node] = make(map[reqKey]*http.Request)
			if !modelInURL(p) {
				prepareRequests(wp.reqs[node], &catalog.Target{Provider: p, Node: node})
			}
		}
		for _, ct := range p.WildcardTargets("x") { // one target per key and node: the keys
			if ct.KeyStateID == "" || wp.keys[ct.KeyStateID] != nil {
				continue
			}
			k := &wildKey{entry: keyStates[ct.KeyStateID], secret: secrets[ct.KeyStateID]}
			if k.entry == nil {
				k.entry = h.held.health("llm_router/key/" + ct.KeyStateID)
				keyStates[ct.KeyStateID] = k.entry
			}
			if k.secret == nil {
				k.secret = redact.New(ct.Key())
				secrets[ct.KeyStateID] = k.secret
			}
			if p.Bearer {
				k.auth = []string{"Bearer " + ct.Key()}
			} else {
				k.auth = []string{ct.Key()}
			}
			wp.keys[ct.KeyStateID] = k
		}
		if p.Discover != nil {
			h.addDiscoverer(wp)
		}
		if p.HealthCheck != nil {
			h.addProber(wp)
		}
		if !p.Wildcard {
			continue
		}
		if h.wild == nil {
			h.wild = make(map[string]*wildPool)
		}
		h.wild[p.Name] = wp
	}
	if len(h.wild) == 0 {
		return
	}
	type kept struct {
		id   string
		used int64
	}
	carry := make(map[string][]kept)
	live.Lock()
	for o := range live.handlers {
		for name, owp := range o.wild {
			if h.wild[name] == nil {
				continue
			}
			owp.mu.RLock()
			for id, e := range owp.ids {
				carry[name] = append(carry[name], kept{id, e.used.Load()})
			}
			owp.mu.RUnlock()
		}
	}
	live.Unlock()
	for name, ks := range carry {
		wp := h.wild[name]
		// Most recent first; an id kept by two older configs comes once.
		sort.Slice(ks, func(i, j int) bool { return ks[i].used > ks[j].used })
		for _, k := range ks {
			if len(wp.ids) >= wp.prov.WildcardLimit {
				break
			}
			if wp.ids[k.id] == nil {
				e := wp.newEntry(k.id)
				e.used.Store(k.used)
				wp.ids[k.id] = e
			}
		}
	}
}

// wildcardPool resolves `<provider>/<upstream-id>` on a `model *` provider. It returns nil, nil
// when name is not such a name, and an error for an id that is not valid or does not fit.
func (h *Handler) wildcardPool(name string) (*pool, error) {
	prov, id, ok := strings.Cut(name, "/")
	if !ok {
		return nil, nil
	}
	wp := h.wild[prov]
	if wp == nil {
		return nil, nil
	}
	if err := catalog.CheckUpstreamID(id); err != nil {
		return nil, err
	}
	now := h.now().UnixNano()
	wp.mu.RLock()
	e := wp.ids[id]
	wp.mu.RUnlock()
	if e != nil {
		e.used.Store(now)
		return e.pool, nil
	}
	wp.mu.Lock()
	defer wp.mu.Unlock()
	if e = wp.ids[id]; e != nil {
		e.used.Store(now)
		return e.pool, nil
	}
	if wp.closed {
		// The config is being replaced: serve the request with state of its own, keep nothing.
		return wp.newPool(id, nil), nil
	}
	if len(wp.ids) >= wp.prov.WildcardLimit && !wp.evict(now) {
		return nil, errWildcardFull
	}
	e = wp.newEntry(id)
	e.used.Store(now)
	wp.ids[id] = e
	return e.pool, nil
}

// evict forgets the least recently used id none of whose targets is cooling, releasing its
// state. It reports false when every id is cooling. wp.mu is held.
func (wp *wildPool) evict(now int64) bool {
	var victim string
	var oldest int64
	for id, e := range wp.ids {
		if u := e.used.Load(); (victim == "" || u < oldest) && !e.cooling(now) {
			victim, oldest = id, u
		}
	}
	if victim == "" {
		return false
	}
	_ = wp.ids[victim].refs.release()
	delete(wp.ids, victim)
	return true
}

func (e *wildEntry) cooling(now int64) bool {
	for _, t := range e.pool.targets {
		if t.health.Cooling(now) {
			return true
		}
	}
	return false
}

// newEntry makes the pool for id with its state in the store, held by the entry's references.
func (wp *wildPool) newEntry(id string) *wildEntry {
	e := new(wildEntry)
	e.pool = wp.newPool(id, &e.refs)
	return e
}

// newPool makes the pool for id. With refs nil its state is its own, not in the store.
func (wp *wildPool) newPool(id string, refs *heldEntries) *pool {
	cts := wp.prov.WildcardTargets(id)
	name := wp.prov.Name + "/" + id
	targets, members := wp.makeTargets(cts, refs)
	var cursor *atomic.Uint64
	if refs != nil {
		cursor = refs.cursor("llm_router/cursor/" + name)
	} else {
		cursor = new(atomic.Uint64)
	}
	p := newPool(&catalog.Route{Name: name, Kind: catalog.KindProviderModel, Targets: cts}, targets, members, wp.strategy, cursor)
	p.metricName = wildcardMetricName(wp.prov.Name)
	return p
}

// makeTargets prepares the targets cts of the provider for the hot path, with their health in
// the store held by refs (or their own when refs is nil), and their selector members.
func (wp *wildPool) makeTargets(cts []*catalog.Target, refs *heldEntries) ([]*target, []selector.Member) {
	targets := make([]*target, len(cts))
	members := make([]selector.Member, len(cts))
	byState := make(map[string]*healthEntry, len(cts))
	quoted := make(map[string][]byte, 1)
	for i, ct := range cts {
		t := &target{Target: ct, conn: wp.conn, transport: wp.conn.transportFor(ct.Node), reqs: wp.reqs[ct.Node]}
		t.quoteUpstream(quoted)
		if t.healthEntry = byState[ct.StateID]; t.healthEntry == nil {
			if refs != nil {
				t.healthEntry = refs.health("llm_router/target/" + ct.StateID)
			} else {
				t.healthEntry = new(healthEntry)
			}
			byState[ct.StateID] = t.healthEntry
		}
		t.health = &t.healthEntry.State
		if k := wp.keys[ct.KeyStateID]; k != nil {
			t.keyEntry, t.key, t.secret, t.auth = k.entry, &k.entry.State, k.secret, k.auth
		}
		targets[i] = t
		members[i] = selector.Member{Target: t.health, Key: t.key, Weight: wp.prov.Weight}
	}
	return targets, members
}

// close releases every id's state; later requests get pools of their own. Called by Cleanup.
func (wp *wildPool) close() error {
	wp.mu.Lock()
	defer wp.mu.Unlock()
	wp.closed = true
	var errs []error
	for id, e := range wp.ids {
		errs = append(errs, e.refs.release())
		delete(wp.ids, id)
	}
	return errors.Join(errs...)
}

// wildcardRefused answers a wildcard name whose id is not valid (400) or does not fit (429).
// Only a bounded prefix of the client's name is echoed.
func (h *Handler) wildcardRefused(w http.ResponseWriter, d sse.Dialect, name string, err error) {
	if errors.Is(err, errWildcardFull) {
		w.Header().Set("Retry-After", strconv.Itoa(int(h.runtime.cooldown.Seconds())))
		writeError(w, d, http.StatusTooManyRequests, errRateLimit, "too_many_model_ids",
			fmt.Sprintf("the provider of %q keeps too many distinct model ids, every one cooling; try again later or a listed model", clipEcho(name)))
		return
	}
	writeError(w, d, http.StatusBadRequest, errInvalidRequest, "invalid_model",
		fmt.Sprintf("the model %q: %v", clipEcho(name), err))
}
