package llmrouter

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/internal/jsonstr"
	"github.com/llmrouter/caddy-llm-router/internal/redact"
	"github.com/llmrouter/caddy-llm-router/selector"
)

// reloadStore keeps target and key health and pool cursors across config reloads. Caddy
// provisions the new config before it cleans up the old one, so an entry that both configs use
// is never dropped in between. Entries are keyed by hashes (catalog StateIDs), never by raw
// keys.
var reloadStore = caddy.NewUsagePool()

type healthEntry struct {
	selector.State
	// ended is the last cooldown deadline whose end was logged, so each end is logged once,
	// by whichever request first finds the state healthy again.
	ended atomic.Int64
}

func (*healthEntry) Destruct() error { return nil }

type cursorEntry struct{ atomic.Uint64 }

func (*cursorEntry) Destruct() error { return nil }

// heldEntries remembers exactly the reloadStore entries one Provision loaded, so Cleanup releases
// those and nothing else (releasing an entry twice would steal another config's reference).
type heldEntries struct {
	ids []string
	// ns prefixes every id: "" but in tests that run several fleet instances in one process.
	ns string
}

func (s *heldEntries) health(id string) *healthEntry {
	id = s.ns + id
	v, _, _ := reloadStore.LoadOrNew(id, func() (caddy.Destructor, error) { return new(healthEntry), nil })
	s.ids = append(s.ids, id)
	return v.(*healthEntry)
}

// recovered reports, once per cooldown, that a cooldown which has passed is not yet logged.
func (e *healthEntry) recovered(now int64) (until int64, ok bool) {
	until = e.CoolUntil()
	if until == 0 || until > now {
		return 0, false
	}
	old := e.ended.Load()
	return until, old != until && e.ended.CompareAndSwap(old, until)
}

func (s *heldEntries) cursor(id string) *atomic.Uint64 {
	id = s.ns + id
	v, _, _ := reloadStore.LoadOrNew(id, func() (caddy.Destructor, error) { return new(cursorEntry), nil })
	s.ids = append(s.ids, id)
	return &v.(*cursorEntry).Uint64
}

func (s *heldEntries) release() error {
	var errs []error
	for _, k := range s.ids {
		if _, err := reloadStore.Delete(k); err != nil {
			errs = append(errs, err)
		}
	}
	s.ids = nil
	return errors.Join(errs...)
}

// target is a catalog target with what the hot path needs ready: its health, its key's
// health, its upstream transport and the header value that carries its key.
type target struct {
	*catalog.Target
	health *selector.State
	key    *selector.State // nil for a keyless provider
	// healthEntry and keyEntry hold health and key, with their cooldown-end log marks.
	healthEntry, keyEntry *healthEntry
	conn                  *providerConn
	// transport is up's client for the target's node.
	transport http.RoundTripper
	// reqs are the node's upstream requests, one per endpoint (see reqKey), made at load time
	// so that no attempt parses, or even builds, a URL (see newRequest). Targets on the same
	// node share them.
	reqs map[reqKey]*http.Request
	// auth is the value of up's key header, prepared once so no request builds it.
	auth []string
	// upstreamJSON is Upstream as a JSON string, quoted once for the bodies it is spliced
	// into (see quoteUpstream); nil when the target was made without it.
	upstreamJSON []byte
	// info is the public model's metadata (prices for cost), or nil.
	info *catalog.ModelInfo
	// secret removes the target's key and its fragments from upstream text; nil when keyless.
	secret *redact.Secret
	// success holds the target's series for successful requests (see finish).
	success successSeries
}

// scrub removes the target's key, and any fragment of it that would narrow it down, from text
// an upstream sent, before a client or a log may see it (the rule is in package redact).
func (t *target) scrub(text []byte) []byte {
	text = t.secret.Redact(text)
	for _, s := range t.conn.extraSecrets {
		text = s.Redact(text)
	}
	return text
}

// scrubString is scrub for a short string, such as a transport error that quotes the upstream.
func (t *target) scrubString(s string) string {
	if t.secret == nil && len(t.conn.extraSecrets) == 0 || s == "" {
		return s
	}
	return string(t.scrub([]byte(s)))
}

// cooling reports whether the target is out of rotation, by its own or its key's cooldown.
func (t *target) cooling(now int64) bool {
	return t.health.Cooling(now) || (t.key != nil && t.key.Cooling(now))
}

// pool is the prepared form of one catalog route.
type pool struct {
	route   *catalog.Route
	targets []*target
	sel     *selector.Pool
	// apis has a bit for each provider API among the targets (apiBit), so that an endpoint
	// no target can serve is answered at once.
	apis uint8
	// metricName, when set, stands for the route's name in metrics (a wildcard id's pool).
	metricName string
	// caps are the capabilities of the targets' providers, together (catalog.Provider.Serves).
	caps catalog.Capability
}

// newPool is the pool of route r over targets (r.Targets' own, in order), picked among
// members (one per target) by strategy.
func newPool(r *catalog.Route, targets []*target, members []selector.Member, strategy selector.Strategy, cursor *atomic.Uint64) *pool {
	p := &pool{route: r, targets: targets}
	for _, t := range targets {
		p.apis |= apiBit(t.Provider.API)
		p.caps |= t.Provider.Serves
		if t.Provider.Responses {
			p.apis |= responsesBit
		}
	}
	p.sel = selector.NewPool(members, strategy, cursor)
	return p
}

// recordName is the model name a request on p is recorded under in logs and metrics.
func (p *pool) recordName() string {
	if p.metricName != "" {
		return p.metricName
	}
	return p.route.Name
}

func (h *Handler) preparePools() error {
	defStrategy, _ := selector.ParseStrategy(h.Strategy)
	ups := make(map[*catalog.Provider]*providerConn, len(h.cat.Providers))
	for _, p := range h.cat.Providers {
		u, err := newProviderConn(p, h.runtime)
		if err != nil {
			return fmt.Errorf("provider %q: %w", p.Name, err)
		}
		if p.Transport != nil && p.Transport.TLSInsecureSkipVerify {
			h.logger.Warn("tls_insecure_skip_verify is on: upstream certificates are not verified, so anyone on the path can read and change requests and keys",
				zap.String("provider", p.Name))
		}
		for _, s := range p.SecretValues() {
			u.extraSecrets = append(u.extraSecrets, redact.New(s))
		}
		ups[p] = u
		h.conns = append(h.conns, u)
	}
	infos := make(map[string]*catalog.ModelInfo, len(h.cat.Models))
	for _, m := range h.cat.Models {
		infos[m.Info.Name] = &m.Info
	}
	keyStates := make(map[string]*healthEntry)
	secrets := make(map[string]*redact.Secret)
	targets := make(map[*catalog.Target]*target, len(h.cat.Targets))
	type nodeKey struct {
		p    *catalog.Provider
		node string
	}
	reqsByNode := make(map[nodeKey]map[reqKey]*http.Request)
	byState := make(map[string]*healthEntry, len(h.cat.Targets))
	quoted := make(map[string][]byte)
	for _, ct := range h.cat.Targets {
		t := &target{Target: ct, conn: ups[ct.Provider], info: infos[ct.Model]}
		t.quoteUpstream(quoted)
		t.transport = t.conn.transportFor(ct.Node)
		if t.reqs = reqsByNode[nodeKey{ct.Provider, ct.Node}]; t.reqs == nil {
			t.reqs = make(map[reqKey]*http.Request)
			reqsByNode[nodeKey{ct.Provider, ct.Node}] = t.reqs
		}
		prepareRequests(t.reqs, ct)
		// Two public models may map to the same upstream id on the same node and key: they are
		// one real target and share its health.
		if t.healthEntry = byState[ct.StateID]; t.healthEntry == nil {
			t.healthEntry = h.held.health("llm_router/target/" + ct.StateID)
			byState[ct.StateID] = t.healthEntry
		}
		t.health = &t.healthEntry.State
		if ct.KeyStateID != "" {
			if t.keyEntry = keyStates[ct.KeyStateID]; t.keyEntry == nil {
				t.keyEntry = h.held.health("llm_router/key/" + ct.KeyStateID)
				keyStates[ct.KeyStateID] = t.keyEntry
			}
			t.key = &t.keyEntry.State
			if t.secret = secrets[ct.KeyStateID]; t.secret == nil {
				t.secret = redact.New(ct.Key())
				secrets[ct.KeyStateID] = t.secret
			}
			if ct.Provider.Bearer {
				t.auth = []string{"Bearer " + ct.Key()}
			} else {
				t.auth = []string{ct.Key()}
			}
		}
		targets[ct] = t
		h.targets = append(h.targets, t)
	}

	routes := h.cat.Routes()
	h.pools = make(map[string]*pool, len(routes))
	for _, r := range routes {
		if len(r.Targets) == 0 {
			continue // an alias of discovered models only: the discovered set has its pool
		}
		strategy := defStrategy
		if r.Strategy != "" {
			s, err := selector.ParseStrategy(r.Strategy)
			if err != nil {
				return err
			}
			strategy = s
		}
		ts := make([]*target, len(r.Targets))
		members := make([]selector.Member, len(r.Targets))
		for i, ct := range r.Targets {
			t := targets[ct]
			ts[i] = t
			members[i] = selector.Member{Target: t.health, Key: t.key, Weight: ct.Provider.Weight}
		}
		h.pools[r.Name] = newPool(r, ts, members, strategy, h.held.cursor("llm_router/cursor/"+r.Name))
	}
	h.prepareWildcards(ups, defStrategy, keyStates, secrets)
	return nil
}

// preparedEndpoints are the endpoints whose upstream requests are made at load time; an
// endpoint missing here still works, its URL parsed by every attempt.
var preparedEndpoints = []*endpoint{chatEndpoint, completionEndpoint, embeddingEndpoint,
	messagesEndpoint, countTokensEndpoint, responsesEndpoint, geminiCountEndpoint, geminiEmbedEndpoint, geminiBatchEmbedEndpoint,
	imageGenerationEndpoint, imageEditEndpoint, imageVariationEndpoint, speechEndpoint,
	transcriptionEndpoint, translationEndpoint, moderationEndpoint, rerankEndpoint}

// reqKey names a request template in its node's map (provider and node are the map's): the
// endpoint, whether the URL is a stream's (Gemini's generateContent only), and the upstream
// id where the provider's URLs name the model (modelInURL). It is what endpointURL depends
// on, so an attempt finds its template without making the URL.
type reqKey struct {
	ep     *endpoint
	stream bool
	model  string
}

// templateKey is the key of endpoint ep's template at target t, streamed or not.
func templateKey(ep *endpoint, t *catalog.Target, stream bool) reqKey {
	k := reqKey{ep: ep, stream: stream && t.Provider.API == catalog.APIGemini && ep.geminiMethod == "generateContent"}
	if modelInURL(t.Provider) {
		k.model = t.Upstream
	}
	return k
}

// prepareRequests adds to reqs, a node's request templates, one for each prepared endpoint
// that target t can serve, whole and streamed: POST with no header, body or context. Targets of
// a node share its map; the set is fixed when the config loads, so a URL no endpoint names (a
// stateful call's, one with a client's query) is made and parsed per attempt.
func prepareRequests(reqs map[reqKey]*http.Request, t *catalog.Target) {
	for _, ep := range preparedEndpoints {
		if !ep.servedBy(t.Provider.API) || !t.Provider.Serves.Has(ep.capability()) {
			continue // never asked for at this provider
		}
		for _, stream := range [...]bool{false, true} {
			k := templateKey(ep, t, stream)
			if reqs[k] != nil {
				continue
			}
			if req, err := http.NewRequest(http.MethodPost, endpointURL(ep, t, stream), nil); err == nil {
				reqs[k] = req
			}
		}
	}
}

// modelInURL reports whether provider p's URLs name the model (Gemini's, and Azure's
// deployments API), so that a template serves only that model's targets.
func modelInURL(p *catalog.Provider) bool {
	return p.API == catalog.APIGemini || p.API == catalog.APIAzure && p.APIVersion != catalog.AzureV1
}

// quoteUpstream sets t.upstreamJSON, one copy for every target of the same upstream id in
// seen.
func (t *target) quoteUpstream(seen map[string][]byte) {
	q, ok := seen[t.Upstream]
	if !ok {
		q = jsonstr.Append(nil, t.Upstream)
		seen[t.Upstream] = q
	}
	t.upstreamJSON = q
}

// upstreamQuoted is t.Upstream as a JSON string, for reqbody.RewriteQuoted.
func (t *target) upstreamQuoted() []byte {
	if t.upstreamJSON == nil {
		return jsonstr.Append(nil, t.Upstream)
	}
	return t.upstreamJSON
}

// newRequest returns the request for one attempt of c at t: a copy of the prepared template
// with ctx and an empty header map sized for n headers, or a new request when the call's URL
// has no template. The template's *url.URL is shared by every copy; nothing on the way
// (net/http, h1) writes to it.
func (c *call) newRequest(ctx context.Context, t *target, n int) (*http.Request, error) {
	var tmpl *http.Request
	if c.path == "" && !c.sendsQuery(t) {
		tmpl = t.reqs[templateKey(c.ep, t.Target, c.f.Stream)]
	}
	if tmpl == nil {
		return http.NewRequestWithContext(ctx, http.MethodPost, c.urlFor(t), nil)
	}
	req := tmpl.WithContext(ctx)
	req.Header = make(http.Header, n)
	return req, nil
}
