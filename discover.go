package llmrouter

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/selector"
)

// Discovery, in short: each `discover` provider's last good model list lives in the reloadStore
// (keyed by a hash of the provider's name, API, nodes and discover settings, never a key), so a
// reload starts serving it at once and refetches only when it is due. A config load with no
// list kept waits for the first fetches at most their timeout (they run at once). A goroutine
// per config fetches the lists that are due, builds the pools of what they hold off the hot
// path, and swaps them in with one atomic store: a request finds a discovered model with an
// atomic load and a map lookup, no lock. A failed fetch keeps the last good list, and is logged
// once until a fetch succeeds again.

// maxModelListBytes bounds one page of a model list (OpenRouter's is about 1 MB).
const maxModelListBytes = 16 << 20

// maxModelListPages bounds the pages of one fetch (Gemini and Anthropic page their lists).
const maxModelListPages = 50

// discoverRetry is the wait after a failed fetch, when the interval is longer.
const discoverRetry = 30 * time.Second

// discoveredEntry is one provider's last good list, shared across reloads.
type discoveredEntry struct {
	mu     sync.Mutex
	models []catalog.DiscoveredModel
	// at is when models was fetched (unix nanos; 0: never); next when a fetch is due.
	at, next int64
	// failing says the last fetch failed and that was logged; busy that a fetch is running.
	failing, busy bool
}

func (*discoveredEntry) Destruct() error { return nil }

func (s *heldEntries) discovered(id string) *discoveredEntry {
	v, _, _ := reloadStore.LoadOrNew(id, func() (caddy.Destructor, error) { return new(discoveredEntry), nil })
	s.ids = append(s.ids, id)
	return v.(*discoveredEntry)
}

// discoverer is one `discover` provider of a config.
type discoverer struct {
	wp    *wildPool
	entry *discoveredEntry
}

// discovery is a config's discovered models and the goroutine that refreshes them.
type discovery struct {
	providers []*discoverer
	set       atomic.Pointer[discoveredSet]
	// rebuild serializes building and swapping sets.
	rebuild sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
}

// discoveredSet is the prepared form of every discovered list of a config: swapped whole.
type discoveredSet struct {
	pools   map[string]*pool
	entries []modelEntry
	reply   []byte
	models  int
	refs    heldEntries
	// ats are the fetch times of the lists it was built from, by provider: a list another
	// config's loop stored since (during a reload) makes it stale.
	ats []int64
	// smart is the virtual models built over this set, when some candidate is discovered
	// (discoveredRouters); nil: the config's (Handler.smart).
	smart *smartState
}

// discoveredNames are the names of the discovered pools now served (for metrics cleanup).
func (h *Handler) discoveredNames() []string {
	if h.disc == nil {
		return nil
	}
	s := h.disc.set.Load()
	if s == nil {
		return nil
	}
	names := make([]string, 0, len(s.pools))
	for n := range s.pools {
		names = append(names, n)
	}
	return names
}

// listing is the model list to serve: the catalog's, with the discovered models.
func (h *Handler) listing() ([]modelEntry, []byte) {
	if h.disc != nil {
		if s := h.disc.set.Load(); s != nil {
			return s.entries, s.reply
		}
	}
	return h.modelEntries, h.modelsReply
}

// addDiscoverer registers provider wp's discovery (called while the pools are prepared).
func (h *Handler) addDiscoverer(wp *wildPool) {
	if h.disc == nil {
		h.disc = new(discovery)
	}
	p := wp.prov
	cfg, _ := json.Marshal(p.Discover)
	sum := sha256.New()
	for _, part := range append([]string{p.Name, string(p.API), string(cfg)}, p.Nodes...) {
		sum.Write([]byte(part))
		sum.Write([]byte{0})
	}
	id := "llm_router/discovered/" + hex.EncodeToString(sum.Sum(nil)[:16])
	h.disc.providers = append(h.disc.providers, &discoverer{wp: wp, entry: h.held.discovered(id)})
}

// startDiscovery serves the kept lists, fetches the missing ones within their timeout, and
// starts the refresh loop. Called at the end of Provision.
func (h *Handler) startDiscovery() {
	if h.disc == nil {
		return
	}
	now := h.now().UnixNano()
	var first []*discoverer
	for _, d := range h.disc.providers {
		d.entry.mu.Lock()
		if d.entry.at == 0 && d.entry.next <= now {
			first = append(first, d)
		}
		d.entry.mu.Unlock()
	}
	h.fetchAll(context.Background(), first)
	h.swapDiscovered()
	ctx, cancel := context.WithCancel(context.Background())
	h.disc.cancel, h.disc.done = cancel, make(chan struct{})
	go h.discoverLoop(ctx)
}

// stopDiscovery ends the refresh loop and releases the discovered pools' state.
func (h *Handler) stopDiscovery() error {
	if h.disc == nil {
		return nil
	}
	if h.disc.cancel != nil {
		h.disc.cancel()
		<-h.disc.done
	}
	h.disc.rebuild.Lock()
	defer h.disc.rebuild.Unlock()
	if s := h.disc.set.Swap(nil); s != nil {
		return s.refs.release()
	}
	return nil
}

// discoverLoop fetches the lists that are due, whenever one is (or, in tests, at each tick).
func (h *Handler) discoverLoop(ctx context.Context) {
	defer close(h.disc.done)
	for {
		wake := h.discoverTick
		var timer *time.Timer
		if wake == nil {
			timer = time.NewTimer(h.nextDiscovery())
			wake = timer.C
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return
		case <-wake:
		}
		now := h.now().UnixNano()
		var due []*discoverer
		for _, d := range h.disc.providers {
			d.entry.mu.Lock()
			if d.entry.next <= now {
				due = append(due, d)
			}
			d.entry.mu.Unlock()
		}
		if h.fetchAll(ctx, due) > 0 || h.staleSet() {
			h.swapDiscovered()
		}
		if h.discoverRounds != nil {
			select {
			case h.discoverRounds <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
	}
}

// staleSet reports whether a kept list is newer than the one the served set was built from.
func (h *Handler) staleSet() bool {
	s := h.disc.set.Load()
	if s == nil {
		return true
	}
	for i, d := range h.disc.providers {
		d.entry.mu.Lock()
		at := d.entry.at
		d.entry.mu.Unlock()
		if i >= len(s.ats) || s.ats[i] != at {
			return true
		}
	}
	return false
}

// nextDiscovery is the wait until the earliest fetch is due, at least a second and at most
// discoverRetry (so a list another config's loop fetched is picked up soon).
func (h *Handler) nextDiscovery() time.Duration {
	now := h.now().UnixNano()
	wait := time.Duration(1<<62 - 1)
	for _, d := range h.disc.providers {
		d.entry.mu.Lock()
		wait = min(wait, time.Duration(d.entry.next-now))
		d.entry.mu.Unlock()
	}
	return min(max(wait, time.Second), discoverRetry)
}

// fetchAll fetches the lists of ds at once, each within its timeout, and reports how many
// brought a new list.
func (h *Handler) fetchAll(ctx context.Context, ds []*discoverer) int {
	var wg sync.WaitGroup
	var good atomic.Int32
	for _, d := range ds {
		d.entry.mu.Lock()
		if d.entry.busy { // another config's loop (during a reload) is at it
			d.entry.mu.Unlock()
			continue
		}
		d.entry.busy = true
		d.entry.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if h.refresh(ctx, d) {
				good.Add(1)
			}
		}()
	}
	wg.Wait()
	return int(good.Load())
}

// refresh fetches d's list and stores it, or keeps the last good one and logs the failure
// (once until a fetch succeeds again). It reports whether it stored a list.
func (h *Handler) refresh(ctx context.Context, d *discoverer) bool {
	dc := d.wp.prov.Discover
	fctx, cancel := context.WithTimeout(ctx, time.Duration(dc.Timeout))
	models, err := h.fetchModels(fctx, d.wp)
	cancel()
	now := h.now().UnixNano()
	e := d.entry
	e.mu.Lock()
	defer e.mu.Unlock()
	e.busy = false
	if err != nil {
		e.next = now + int64(min(time.Duration(dc.Interval), discoverRetry))
		if !e.failing && ctx.Err() == nil {
			e.failing = true
			h.logger.Warn("model discovery failed; serving the last good list",
				zap.String("provider", d.wp.prov.Name), zap.Int("kept", len(e.models)), zap.Error(err))
		}
		return false
	}
	if e.failing {
		h.logger.Info("model discovery works again", zap.String("provider", d.wp.prov.Name))
	}
	e.failing = false
	e.models, e.at, e.next = models, now, now+int64(dc.Interval)
	return true
}

// discoverError is a failed fetch, worded without the key, the provider's extra headers and
// query, or the upstream's body.
type discoverError struct {
	status int
	class  selector.Class
	cause  string
}

func (e *discoverError) Error() string {
	if e.status != 0 {
		return fmt.Sprintf("the model list answered %d (%s)", e.status, e.class)
	}
	return "the model list could not be fetched: " + e.cause
}

// fetchModels fetches the provider's model list, page by page, from its nodes and keys in
// turn until one answers.
func (h *Handler) fetchModels(ctx context.Context, wp *wildPool) ([]catalog.DiscoveredModel, error) {
	var errs []error
	for i, ct := range wp.prov.WildcardTargets("x") {
		if i == 3 || ctx.Err() != nil {
			break
		}
		models, err := h.fetchFrom(ctx, wp, ct)
		if err == nil {
			return models, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, &discoverError{cause: "timed out"}
	}
	return nil, errs[0]
}

// fetchFrom reads one node's list with one key, page by page. An id a list names twice is
// kept once (its first entry), and reading stops at catalog.MaxDiscoveredIDs distinct ids.
func (h *Handler) fetchFrom(ctx context.Context, wp *wildPool, ct *catalog.Target) ([]catalog.DiscoveredModel, error) {
	var all []catalog.DiscoveredModel
	seen := make(map[string]struct{})
	page := ""
	for range maxModelListPages {
		status, _, body, err := h.getList(ctx, wp, ct, wp.prov.ModelsURL(ct.Node, page))
		if err != nil {
			return nil, err
		}
		if status != http.StatusOK {
			return nil, &discoverError{status: status, class: selector.Classify(status, body, false)}
		}
		models, next, err := catalog.ParseModelList(wp.prov.API, body)
		if err != nil {
			return nil, &discoverError{cause: err.Error()}
		}
		for _, m := range models {
			if _, dup := seen[m.ID]; dup {
				continue
			}
			if len(all) == catalog.MaxDiscoveredIDs {
				h.logger.Warn("model discovery: the list names more models than are read; the rest were left",
					zap.String("provider", wp.prov.Name), zap.Int("read", len(all)))
				return all, nil
			}
			seen[m.ID] = struct{}{}
			all = append(all, m)
		}
		if next == "" || next == page {
			return all, nil
		}
		page = next
	}
	return all, nil
}

// getList sends one authenticated GET to a provider node (model lists, health probes) and
// reads the reply, bounded. Its errors are scrubbed of the key and the provider's secrets.
func (h *Handler) getList(ctx context.Context, wp *wildPool, ct *catalog.Target, url string) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, nil, &discoverError{cause: "bad URL"}
	}
	for k, v := range wp.prov.ExtraHeaders() {
		req.Header[k] = v
	}
	t := &target{Target: ct, conn: wp.conn}
	if k := wp.keys[ct.KeyStateID]; k != nil {
		req.Header[wp.conn.keyHeader] = k.auth
		t.secret = k.secret
	}
	if wp.prov.API == catalog.APIAnthropic {
		req.Header["Anthropic-Version"] = wp.conn.anthropicVersion
	}
	req.Header.Set("Accept", "application/json")
	resp, err := wp.conn.transportFor(ct.Node).RoundTrip(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, nil, &discoverError{cause: "timed out"}
		}
		return 0, nil, nil, &discoverError{cause: t.scrubString(err.Error())}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxModelListBytes+1))
	if err != nil {
		return 0, nil, nil, &discoverError{cause: "the reply was cut: " + t.scrubString(err.Error())}
	}
	if len(body) > maxModelListBytes {
		return 0, nil, nil, &discoverError{cause: "the reply is larger than " + strconv.Itoa(maxModelListBytes>>20) + " MiB"}
	}
	return resp.StatusCode, resp.Header, body, nil
}

// swapDiscovered builds the pools of every kept list off the hot path and swaps them in.
func (h *Handler) swapDiscovered() {
	h.disc.rebuild.Lock()
	defer h.disc.rebuild.Unlock()
	set := h.buildDiscovered()
	if old := h.disc.set.Swap(set); old != nil {
		// After the new set took its references, so shared state is never dropped in between.
		_ = old.refs.release()
	}
}

// buildDiscovered prepares the discovered models: a public name for each kept id that no
// configured model, alias or other name already has (served by every provider that found it),
// and `<provider>/<id>` for each.
func (h *Handler) buildDiscovered() *discoveredSet {
	set := &discoveredSet{pools: make(map[string]*pool)}
	defStrategy, _ := selector.ParseStrategy(h.Strategy)
	type public struct {
		info      *catalog.ModelInfo
		cts       []*catalog.Target
		targets   []*target
		members   []selector.Member
		providers []string
	}
	publics := make(map[string]*public)
	var order []string
	taken := func(name string) bool { return h.pools[name] != nil || h.cat.Lookup(name) != nil }
	for _, d := range h.disc.providers {
		d.entry.mu.Lock()
		models := d.entry.models
		set.ats = append(set.ats, d.entry.at)
		d.entry.mu.Unlock()
		p, dc := d.wp.prov, d.wp.prov.Discover
		kept := 0
		// seen are the ids kept from this list: one it names twice counts once against the limit.
		seen := make(map[string]bool)
		for _, m := range models {
			if kept == dc.Limit {
				break
			}
			if seen[m.ID] || !dc.Accept(m.ID) {
				continue
			}
			name := dc.PublicName(m.ID)
			if catalog.CheckUpstreamID(name) != nil || taken(p.Name+"/"+m.ID) {
				continue // a configured model of this provider maps the id already: it wins
			}
			seen[m.ID] = true
			kept++
			pub := publics[name]
			if pub == nil && !taken(name) {
				pub = &public{info: h.discoveredInfo(name, p, m)}
				publics[name] = pub
				order = append(order, name)
			}
			info := h.discoveredInfo(name, p, m)
			if pub != nil {
				info = pub.info
			}
			cts := p.DiscoveredTargets(name, m.ID)
			targets, members := d.wp.makeTargets(cts, &set.refs)
			for _, t := range targets {
				t.info = info
			}
			if pname := p.Name + "/" + m.ID; set.pools[pname] == nil {
				set.pools[pname] = h.discoveredPoolOf(pname, catalog.KindProviderModel, cts, targets, members, info, defStrategy, set)
			}
			if pub != nil {
				pub.cts = append(pub.cts, cts...)
				pub.targets = append(pub.targets, targets...)
				pub.members = append(pub.members, members...)
				pub.providers = append(pub.providers, p.Name)
			}
		}
	}
	created, createdAt := h.now().Unix(), h.now().UTC().Format(time.RFC3339)
	set.entries = append(set.entries, h.modelEntries...)
	for _, name := range order {
		pub := publics[name]
		set.pools[name] = h.discoveredPoolOf(name, catalog.KindModel, pub.cts, pub.targets, pub.members, pub.info, defStrategy, set)
		set.entries = append(set.entries, newModelEntry(pub.info, pub.providers, pub.cts, created, createdAt))
	}
	h.discoveredAliases(set, defStrategy)
	h.discoveredRouters(set, created, createdAt)
	set.models = len(order)
	set.reply = marshalModelList(set.entries, h.wildNames)
	return set
}

// discoveredAliases adds to set the pool of each alias with discovered members: its listed
// targets, then those of each member the lists have, each once; its /v1/models entry names
// their providers. A member no list has is logged, as a typo would be at load time.
func (h *Handler) discoveredAliases(set *discoveredSet, strategy selector.Strategy) {
	for _, a := range h.cat.Aliases {
		if len(a.Deferred) == 0 {
			continue
		}
		var (
			cts     []*catalog.Target
			targets []*target
			members []selector.Member
			missing []string
		)
		seen := make(map[*selector.State]bool)
		add := func(p *pool) {
			for i, t := range p.targets {
				if !seen[t.health] {
					seen[t.health] = true
					cts, targets = append(cts, p.route.Targets[i]), append(targets, t)
					members = append(members, selector.Member{Target: t.health, Key: t.key, Weight: t.Provider.Weight})
				}
			}
		}
		if p := h.pools[a.Name]; p != nil {
			add(p)
		}
		for _, name := range a.Deferred {
			if p := set.pools[name]; p != nil {
				add(p)
			} else {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			h.logger.Warn("alias members are in no discovered list", zap.String("alias", a.Name), zap.Strings("members", missing))
		}
		if len(targets) == len(a.Targets) {
			continue // nothing discovered: the listed pool, if any, is the whole alias
		}
		s := strategy
		if a.Strategy != "" {
			s, _ = selector.ParseStrategy(a.Strategy)
		}
		route := &catalog.Route{Name: a.Name, Kind: catalog.KindAlias, Targets: cts, Strategy: a.Strategy, Deferred: a.Deferred}
		set.pools[a.Name] = newPool(route, targets, members, s, set.refs.cursor("llm_router/cursor/"+a.Name))
		for i := range set.entries {
			if set.entries[i].ID == a.Name {
				set.entries[i].Providers, set.entries[i].Serves = providerNames(cts), familiesServed(cts)
			}
		}
	}
}

// discoveredRouters builds the virtual models again over set when some candidate may be, or
// include, a discovered model (smartState.rebuildOnDiscovery), keeping their measurements,
// and lists them as they are now.
func (h *Handler) discoveredRouters(set *discoveredSet, created int64, createdAt string) {
	if h.smart == nil || !h.smart.rebuildOnDiscovery {
		return
	}
	prev := h.smart.stats
	if old := h.disc.set.Load(); old != nil && old.smart != nil {
		prev = old.smart.stats
	}
	s, err := h.buildSmart(func(name string) *pool { return h.poolIn(set, name) }, prev, false)
	if err != nil {
		h.logger.Warn("virtual models not rebuilt over the discovered models", zap.Error(err))
		return
	}
	set.smart = s
	entries := set.entries[:0:0]
	for _, e := range set.entries {
		if e.Router == nil {
			entries = append(entries, e)
		}
	}
	set.entries = append(entries, virtualEntries(s, created, createdAt)...)
}

func (h *Handler) discoveredPoolOf(name string, kind catalog.RouteKind, cts []*catalog.Target, targets []*target,
	members []selector.Member, info *catalog.ModelInfo, strategy selector.Strategy, set *discoveredSet) *pool {
	if info.Strategy != "" {
		if s, err := selector.ParseStrategy(info.Strategy); err == nil {
			strategy = s
		}
	}
	route := &catalog.Route{Name: name, Kind: kind, Targets: cts, Strategy: info.Strategy, Info: info}
	return newPool(route, targets, members, strategy, set.refs.cursor("llm_router/cursor/"+name))
}

// discoveredInfo is a discovered model's metadata: its configured metadata, then the price
// files', then what the list said.
func (h *Handler) discoveredInfo(name string, p *catalog.Provider, m catalog.DiscoveredModel) *catalog.ModelInfo {
	mi := h.configInfo[name]
	mi.Name = name
	for _, ps := range h.prices {
		if pm, ok := ps[name]; ok {
			mi.FillFrom(pm)
			break
		}
		if pm, ok := ps.ForUpstream(p, m.ID); ok {
			mi.FillFrom(pm)
			break
		}
	}
	mi.FillFrom(m.Info)
	return &mi
}
