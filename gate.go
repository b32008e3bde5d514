package llmrouter

import (
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/llmrouter/caddy-llm-router/catalog"
	"github.com/llmrouter/caddy-llm-router/gate"
	"github.com/llmrouter/caddy-llm-router/sse"
)

// AuthConfig is the gateway's own client authentication: clients hold gateway keys, the router
// holds the provider keys.
type AuthConfig struct {
	// Keys are the gateway keys clients may present as `Authorization: Bearer <key>`,
	// `x-api-key` or `api-key`.
	Keys []GatewayKey `json:"keys,omitempty"`

	// Public are paths that need no key: exact paths, or prefixes written with a trailing `*`.
	// Default: `/health`, `/v1/models` and `/models`.
	Public []string `json:"public,omitempty"`
}

// GatewayKey is one client credential with its permissions.
type GatewayKey struct {
	// Name identifies the key in logs, metrics and the `{http.llm_router.client}` placeholder.
	// Required and unique.
	Name string `json:"name"`

	// Key is a reference to the secret, resolved at load time: `{env.NAME}` or `{file./path}`.
	// A literal works but then shows in the adapted config and the admin API; one that reads
	// as a reference left unresolved (`$NAME`, `env.NAME`, `{ENV.NAME}`) is a config error.
	Key string `json:"key"`

	// Models are the public model names and aliases this key may use. Empty: all.
	Models []string `json:"models,omitempty"`

	// RPM limits the key to this many requests in any rolling minute. 0: unlimited.
	RPM int `json:"rpm,omitempty"`
}

var defaultPublicPaths = []string{"/health", "/v1/models", "/models"}

// guard is the prepared gate: nil fields mean that check is off.
type guard struct {
	keys     *gate.Keys
	public   gate.PublicPaths
	allow    gate.Allowlist
	limiters map[string]*gate.Limiter // by client name
	// names are the clients' names boxed once, for the {http.llm_router.client} placeholder: a
	// string stored in an interface per request would be a heap object per request.
	names map[*gate.Client]any
	// keyLogWarned is set once the access-log warning (see warnKeyHeaderLogged) was given.
	// A pointer: Handler is copied by value (CaddyModule, tests) and an atomic must not be.
	keyLogWarned *atomic.Bool
}

type limiterEntry struct{ *gate.Limiter }

func (limiterEntry) Destruct() error { return nil }

func (h *Handler) provisionGuard(resolve catalog.Resolver) error {
	allow, err := gate.ParseAllowlist(h.Allow)
	if err != nil {
		return fmt.Errorf("allow: %w", err)
	}
	h.guard.allow = allow
	h.guard.keyLogWarned = new(atomic.Bool)
	if h.Auth == nil || len(h.Auth.Keys) == 0 {
		h.logger.Warn("no auth configured: anyone who reaches this site can use every provider key")
		return nil
	}
	keys := make([]gate.Key, len(h.Auth.Keys))
	for i, k := range h.Auth.Keys {
		secret := resolve(k.Key)
		if err := catalog.CheckKeyReference(k.Key, secret); err != nil {
			return fmt.Errorf("auth: gateway key %q: %w", k.Name, err)
		}
		keys[i] = gate.Key{Name: k.Name, Secret: secret, Models: k.Models, RPM: k.RPM}
	}
	if h.guard.keys, err = gate.NewKeys(keys); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	public := h.Auth.Public
	if public == nil {
		public = defaultPublicPaths
	}
	h.guard.public = gate.NewPublicPaths(public)
	h.guard.limiters = make(map[string]*gate.Limiter)
	h.guard.names = make(map[*gate.Client]any)
	for _, c := range h.guard.keys.Clients() {
		h.guard.names[c] = c.Name
		if c.RPM == 0 {
			continue
		}
		// The store key carries the rpm, so a reload that changes the limit starts a new window,
		// and the key's fingerprint, never the key.
		id := h.held.ns + "llm_router/limiter/" + c.Name + "/" + c.Fingerprint + "/" + strconv.Itoa(c.RPM)
		v, _, _ := reloadStore.LoadOrNew(id, func() (caddy.Destructor, error) { return limiterEntry{gate.NewLimiter(c.RPM)}, nil })
		h.held.ids = append(h.held.ids, id)
		h.guard.limiters[c.Name] = v.(limiterEntry).Limiter
	}
	return nil
}

// admit runs the checks that need no body: the IP allowlist, then the key unless the path is
// public. It answers the client itself and returns false when the request may not go on.
func (h *Handler) admit(w http.ResponseWriter, r *http.Request, d sse.Dialect) (*gate.Client, bool) {
	g := &h.guard
	if len(g.allow) > 0 {
		ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
		addr, err := netip.ParseAddr(ip)
		if err != nil || !g.allow.Allows(addr) {
			writeError(w, d, http.StatusForbidden, errPermission, "ip_not_allowed", "your address may not use this gateway")
			return nil, false
		}
	}
	if g.keyLogWarned != nil && !g.keyLogWarned.Load() {
		h.warnKeyHeaderLogged(r)
	}
	if g.keys == nil {
		return nil, true
	}
	// A public path needs no key, but a valid one still names the client and its scope
	// (a scoped key's /v1/models lists only what it may use).
	c, reason := g.keys.Authenticate(credentialHeader(r, d))
	if c == nil && g.public.Match(r.URL.Path) {
		return nil, true
	}
	if c == nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="llm_router"`)
		writeError(w, d, http.StatusUnauthorized, errAuthentication, "invalid_api_key", reason+": send a gateway key as Authorization: Bearer <key>")
		return nil, false
	}
	if repl, ok := r.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer); ok {
		name, ok := g.names[c]
		if !ok {
			name = c.Name
		}
		repl.Set("http.llm_router.client", name)
	}
	return c, true
}

// credentialHeader is the request's header, with for a Gemini client a key sent as the `key`
// query parameter (as Google's REST examples do) standing as x-goog-api-key.
func credentialHeader(r *http.Request, d sse.Dialect) http.Header {
	if d != sse.Gemini || r.Header["X-Goog-Api-Key"] != nil || !strings.Contains(r.URL.RawQuery, "key=") {
		return r.Header
	}
	k := r.URL.Query().Get("key")
	if k == "" {
		return r.Header
	}
	h := r.Header.Clone()
	h["X-Goog-Api-Key"] = []string{k}
	return h
}

// warnKeyHeaderLogged warns, once per config, when a client sends a key in x-api-key or
// api-key to a server that writes an access log. Caddy copies the request for that log before any
// handler runs and redacts only Authorization and cookies, so the router cannot mask these
// headers itself; only a log filter in the site's config keeps them out.
func (h *Handler) warnKeyHeaderLogged(r *http.Request) {
	if r.Header["X-Api-Key"] == nil && r.Header["Api-Key"] == nil && r.Header["X-Goog-Api-Key"] == nil &&
		!strings.Contains(r.URL.RawQuery, "key=") {
		return
	}
	srv, _ := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	if srv == nil || srv.Logs == nil || srv.Logs.ShouldLogCredentials {
		return
	}
	if h.guard.keyLogWarned.CompareAndSwap(false, true) {
		h.logger.Warn("a client sent its key in an x-api-key, api-key or x-goog-api-key header or a key query parameter, and this server writes an access log: " +
			"Caddy logs those verbatim unless the site's log has " +
			"format filter { request>headers>X-Api-Key delete; request>headers>Api-Key delete; request>headers>X-Goog-Api-Key delete; " +
			"request>uri query { delete key } } (see the README)")
	}
}

// permit checks a client's model scope once the model is known. It comes before the lookup of
// the model, so a scoped key cannot learn which models outside its scope exist.
func (h *Handler) permit(w http.ResponseWriter, d sse.Dialect, c *gate.Client, model string) bool {
	if c == nil || c.Allows(model) {
		return true
	}
	writeError(w, d, http.StatusForbidden, errPermission, "model_not_allowed",
		fmt.Sprintf("the key %q may not use the model %q", c.Name, clipEcho(model)))
	return false
}

// charge takes one request from the client's rate limit, once the request is known to be
// servable: a malformed body or an unknown model is no request to the upstreams.
func (h *Handler) charge(w http.ResponseWriter, d sse.Dialect, c *gate.Client) bool {
	if c == nil {
		return true
	}
	if l := h.guard.limiters[c.Name]; l != nil {
		if ok, wait := h.allow(c, l); !ok {
			w.Header().Set("Retry-After", retryAfterSeconds(wait))
			writeError(w, d, http.StatusTooManyRequests, errRateLimit, "rate_limit_exceeded",
				fmt.Sprintf("the key %q is limited to %d requests a minute; retry in %ss", c.Name, c.RPM, retryAfterSeconds(wait)))
			return false
		}
	}
	return true
}
