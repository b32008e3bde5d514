// Package llmrouter is a Caddy HTTP handler that puts one OpenAI-compatible endpoint in front of
// many LLM providers: it resolves the model a client names to a pool of targets (provider node x
// API key x upstream model id), picks a healthy one, swaps in its model id and key, forwards,
// fails over on rate limits and outages, and relays streams event by event.
package llmrouter

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/llmrouter/caddy-llm-router/catalog"
	vroute "github.com/llmrouter/caddy-llm-router/route"
	"github.com/llmrouter/caddy-llm-router/selector"
	"github.com/llmrouter/caddy-llm-router/sse"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Defaults of the handler's settings.
const (
	defaultMaxBody               = 10 << 20
	defaultMaxUpload             = 25 << 20
	defaultMaxResponse           = 32 << 20
	defaultBodyTimeout           = 60 * time.Second
	defaultAttempts              = 5
	defaultTryDuration           = 60 * time.Second
	defaultCooldown              = 60 * time.Second
	defaultMaxCooldown           = 10 * time.Minute
	defaultDialTimeout           = 10 * time.Second
	defaultResponseHeaderTimeout = 5 * time.Minute
	defaultFirstEventTimeout     = 30 * time.Second
	defaultStreamIdleTimeout     = 2 * time.Minute
	// defaultStreamEndGrace is how long an upstream has to close a stream after its terminator
	// was relayed. A well-behaved one closes at once; waiting for that keeps its HTTP/1.1
	// connection for reuse, and the client's response ends when the wait does.
	defaultStreamEndGrace = time.Second
)

// Handler is the llm_router HTTP handler. It serves OpenAI's chat completions, completions,
// embeddings, Responses, images, audio, moderations, files and batches endpoints, Anthropic's
// Messages API, a Cohere/Jina-style /v1/rerank and `GET /v1/models` (each also without the
// `/v1` prefix; the README lists them); other paths outside `/v1/` go to the next handler.
type Handler struct {
	// Catalogs are paths of JSON catalog files (providers, models, aliases) merged with the
	// inline config. Placeholders work in the paths.
	Catalogs []string `json:"catalogs,omitempty"`

	// Providers are the upstream services, their nodes, keys and model maps.
	Providers []catalog.ProviderConfig `json:"providers,omitempty"`

	// Models carries metadata (description, context length, prices, strategy) for public models.
	Models []catalog.ModelInfo `json:"models,omitempty"`

	// Aliases are public names for a union of other names.
	Aliases []catalog.AliasConfig `json:"aliases,omitempty"`

	// PriceFiles are paths of JSON price files in LiteLLM's
	// `model_prices_and_context_window.json` format. A public model takes the metadata it
	// does not set itself (prices, cache prices, context length, max output, capabilities)
	// from the first file entry that matches its name, or one of its upstream ids bare or
	// prefixed with its provider (`groq/llama-3.3-70b-versatile`). Placeholders work in the
	// paths. Default: none.
	PriceFiles []string `json:"price_files,omitempty"`

	// Routers are virtual models: public names (`auto`) that pick, for each chat request, one of
	// their candidate models by the request's needs, a tier and a goal, fall back to the next
	// candidate when its pool fails, and explain the choice in the reply. Default: none.
	Routers []vroute.Config `json:"routers,omitempty"`

	// Smart turns on the built-in virtual models smart/cheap, smart/fast, smart/best and
	// smart/balanced (optimize cost, latency, quality and balanced). Default: off.
	Smart *vroute.SmartConfig `json:"smart,omitempty"`

	// Scorecards are paths of JSON files of eval results per model and category, the quality
	// evidence of virtual models (route.Scorecard). Placeholders work in the paths.
	Scorecards []string `json:"scorecards,omitempty"`

	// MaxBody is the largest request body accepted, in bytes; larger ones get 413. A body sent
	// with a Content-Encoding (gzip, deflate, zstd) is measured decoded. Default 10 MiB.
	MaxBody int64 `json:"max_body,omitempty"`

	// MaxUpload is the largest multipart upload accepted, in bytes, on the endpoints that take
	// files: `/v1/audio/transcriptions` and `/translations`, `/v1/images/edits` and
	// `/variations`, and `/v1/files`; larger ones get 413. JSON endpoints keep max_body. The
	// upload is held in memory once while it is forwarded (and failed over). Default 25 MiB,
	// OpenAI's own limit for audio; raise it for large batch input files.
	MaxUpload int64 `json:"max_upload,omitempty"`

	// BodyTimeout bounds the time a client may take to send its whole request body, from when
	// the router starts reading it: a client that sends it slowly (a slow-loris) otherwise holds
	// a handler and up to max_body of memory for as long as it likes, since Caddy sets no
	// read_body timeout by default. A client that runs out of time gets 408 and its connection
	// is closed. A server `timeouts { read_body }` that is shorter wins. Default 60s: a 10 MiB
	// body at 1.4 Mbit/s.
	BodyTimeout caddy.Duration `json:"body_timeout,omitempty"`

	// MaxResponse is the largest non-streamed upstream reply read, in bytes; a larger one counts
	// as an upstream failure. Default 32 MiB.
	MaxResponse int64 `json:"max_response,omitempty"`

	// Strategy picks targets within a pool: `round_robin` (default), `priority` (the first
	// healthy target in config order) or `weighted` (by provider weight). Models and aliases can
	// override it.
	Strategy string `json:"strategy,omitempty"`

	// Attempts is how many targets one request may try before the client sees an error.
	// Default 5, at most 16.
	Attempts int `json:"attempts,omitempty"`

	// TryDuration bounds the time a request spends failing over: no new attempt starts after it,
	// and a streamed attempt in flight that has not brought its first event by then fails.
	// A whole reply in flight is left to finish. Default 60s.
	TryDuration caddy.Duration `json:"try_duration,omitempty"`

	// Cooldown is how long a failed target (or refused key) is left out. Default 60s.
	Cooldown caddy.Duration `json:"cooldown,omitempty"`

	// MaxCooldown bounds a cooldown that an upstream asked for with Retry-After or a retry hint in
	// its error body. Default 10m.
	MaxCooldown caddy.Duration `json:"max_cooldown,omitempty"`

	// DialTimeout bounds connecting to an upstream. Default 10s.
	DialTimeout caddy.Duration `json:"dial_timeout,omitempty"`

	// ResponseHeaderTimeout bounds the wait for an upstream's response headers to a non-streamed
	// request. Such completions send headers only when done, so it is generous. Streamed
	// requests are bounded by first_event_timeout instead. Default 5m.
	ResponseHeaderTimeout caddy.Duration `json:"response_header_timeout,omitempty"`

	// FirstEventTimeout bounds the wait for a stream's headers and first event, counted from
	// the send; a stream that brings none in time is a failed attempt and is retried elsewhere.
	// A whole JSON reply to a streamed request (an upstream that ignored "stream") must bring
	// its headers in this time; its body is then bounded as a whole reply's is, by
	// stream_idle_timeout. A client that gives up on a non-streamed request after waiting this long without a reply
	// charges the silent target, which cools. Default 30s.
	FirstEventTimeout caddy.Duration `json:"first_event_timeout,omitempty"`

	// StreamIdleTimeout ends a reply whose upstream sends nothing for this long once its headers
	// (whole replies and error bodies) or its first event (streams) came: a whole reply is then a
	// failed attempt, a stream ends with an explicit error event. Default 2m.
	StreamIdleTimeout caddy.Duration `json:"stream_idle_timeout,omitempty"`

	// HedgeAfter, when set, hedges a slow stream: a streamed attempt that has brought no first
	// event this long after its send gets one more attempt on another healthy target, in
	// parallel; the first to answer wins the client and the other is cancelled at once (its
	// upstream connection closed). At most one hedge per request, and only before anything was
	// sent to the client; non-streamed requests are never hedged. A hedge can cost the tokens of
	// a second generation. Default 0: off.
	HedgeAfter caddy.Duration `json:"hedge_after,omitempty"`

	// Resume is how many times one streamed request may be resumed after its stream broke once
	// the client had it (cut, stalled beyond stream_idle_timeout, or an error event): another
	// target of the pool whose provider declares a `continuation` is asked to continue the
	// text relayed so far, and its continuation is stitched into the client's stream. A stream
	// that cannot be resumed faithfully (a tool call or reasoning was streamed, no target can
	// continue, try_duration is spent, the resumes are used up) ends with the explicit error
	// event as without it. OpenAI chat and Anthropic Messages clients only. Default 0: off.
	Resume int `json:"resume,omitempty"`

	// IncludeUsage asks upstreams for a usage chunk on streamed chat completions
	// (`stream_options.include_usage`) when the client did not set stream_options itself.
	IncludeUsage bool `json:"include_usage,omitempty"`

	// Auth requires clients to present a gateway key. Without it the router is open to anyone
	// who reaches the site (a warning is logged at start).
	Auth *AuthConfig `json:"auth,omitempty"`

	// Allow is a client IP allowlist of CIDR ranges or addresses. It uses Caddy's client IP, so
	// the server's trusted_proxies setting is honoured behind a load balancer; set
	// trusted_proxies_strict with it, or Caddy takes the leftmost X-Forwarded-For address, which
	// the client wrote itself. Empty: any address.
	Allow []string `json:"allow,omitempty"`

	// StatusPage is a path at which the handler serves an HTML page of providers and their
	// targets' health: counts, and each cooling target with its reason and time left. Off when
	// empty. Subject to auth like any path unless listed as public.
	StatusPage string `json:"status_page,omitempty"`

	// ModelsPage is a path at which the handler serves an HTML catalog of the models and
	// aliases clients can call, with providers, context length and prices. Off when empty.
	ModelsPage string `json:"models_page,omitempty"`

	// CORS lets pages of other origins call the router from the browser: their preflights are
	// answered before auth, and replies to them (errors and streams included) carry
	// Access-Control-Allow-Origin and Access-Control-Expose-Headers. Default: off, no CORS
	// header on any reply and an OPTIONS request treated as any other.
	CORS *CORSConfig `json:"cors,omitempty"`

	logger *zap.Logger
	now    func() time.Time
	// configInfo is the configured metadata by model name; prices the loaded price files.
	configInfo map[string]catalog.ModelInfo
	prices     []catalog.Prices
	// defaults are the models' default body parameters by public name.
	defaults map[string]*bodyDefaults
	cat      *catalog.Catalog
	pools    map[string]*pool
	// wild holds the `model *` providers' pools by provider name; nil when there are none.
	wild map[string]*wildPool
	// wildNames are the `model *` providers in config order, for /v1/models.
	wildNames []string
	conns     []*providerConn
	targets   []*target // every target, in catalog order
	held      heldEntries
	// modelEntries and modelsReply are the prepared /v1/models list and reply.
	modelEntries []modelEntry
	modelsReply  []byte
	runtime      runtimeSettings
	guard        guard
	// cors is the prepared CORS setting; nil when off.
	cors *corsPolicy
	// accounts are the targets of the stateful endpoints (files.go): one per provider x key x
	// node.
	accounts []*target
	// accountCursors are the round-robin cursors of the stateful calls, by their model label.
	accountCursors map[string]*atomic.Uint64
	// sticky, when set, stands in for the process's store of sticky ids (tests).
	sticky stickyStore
	// smart holds the virtual models over the config's pools; nil when there are none. A
	// request decides by smartNow, which may be a discovered set's.
	smart *smartState
	// smartCfgs and smartCards are the virtual models' configs and scorecards, kept to build
	// them again over each discovered set (smartNow).
	smartCfgs  []vroute.Config
	smartCards map[string]*vroute.ScorecardModel
	// envProxy, when set, stands in for the environment's proxy settings (tests).
	envProxy func(*http.Request) (*url.URL, error)
	// streamEndGrace, when set, stands in for defaultStreamEndGrace (tests).
	streamEndGrace time.Duration
	// shared is the fleet's shared state (the llm_router_state app), nil without one; and
	// fleetLimits names the fleet-wide rpm window of each limited gateway key (see fleet.go).
	shared      *fleet
	fleetLimits map[string]string
	// retired is set by Cleanup: the config was replaced, though requests it took may still
	// be finishing (see finish). Made by Provision (a pointer: a Handler is copied as a value).
	retired *atomic.Bool
	// disc holds the discovered models and their refresh loop; nil without discovery.
	disc *discovery
	// discoverTick, when set, wakes the discovery loop instead of its timer, and
	// discoverRounds is told when a round is done (tests).
	discoverTick   <-chan time.Time
	discoverRounds chan struct{}
	// probers are the health-checked providers; probeTick, when set, wakes their loops
	// instead of their tickers (tests).
	probers    []*prober
	probeTick  <-chan time.Time
	probeStop  context.CancelFunc
	probeLoops *sync.WaitGroup
}

// runtimeSettings are the settings with defaults applied, in the types the hot path uses.
type runtimeSettings struct {
	maxBody, maxResponse, maxUpload      int64
	bodyTimeout                          time.Duration
	attempts                             int
	tryDuration, cooldown, maxCooldown   time.Duration
	firstEventTimeout, streamIdleTimeout time.Duration
	streamEndGrace                       time.Duration
	dialTimeout, responseHeaderTimeout   time.Duration
	hedgeAfter                           time.Duration
	resumes                              int
	envProxy                             func(*http.Request) (*url.URL, error)
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.llm_router",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision loads the catalogs, resolves keys, and prepares pools, cooldown state and transports.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.retired = new(atomic.Bool)
	if h.logger == nil { // tests may give their own
		h.logger = ctx.Logger()
	}
	if h.now == nil {
		h.now = time.Now
	}
	h.runtime = runtimeSettings{
		maxBody:               orDefault(h.MaxBody, defaultMaxBody),
		maxResponse:           orDefault(h.MaxResponse, defaultMaxResponse),
		maxUpload:             orDefault(h.MaxUpload, defaultMaxUpload),
		bodyTimeout:           orDefault(time.Duration(h.BodyTimeout), defaultBodyTimeout),
		attempts:              orDefault(h.Attempts, defaultAttempts),
		tryDuration:           orDefault(time.Duration(h.TryDuration), defaultTryDuration),
		cooldown:              orDefault(time.Duration(h.Cooldown), defaultCooldown),
		maxCooldown:           orDefault(time.Duration(h.MaxCooldown), defaultMaxCooldown),
		dialTimeout:           orDefault(time.Duration(h.DialTimeout), defaultDialTimeout),
		responseHeaderTimeout: orDefault(time.Duration(h.ResponseHeaderTimeout), defaultResponseHeaderTimeout),
		firstEventTimeout:     orDefault(time.Duration(h.FirstEventTimeout), defaultFirstEventTimeout),
		streamIdleTimeout:     orDefault(time.Duration(h.StreamIdleTimeout), defaultStreamIdleTimeout),
		streamEndGrace:        orDefault(h.streamEndGrace, defaultStreamEndGrace),
		hedgeAfter:            time.Duration(h.HedgeAfter),
		resumes:               h.Resume,
		envProxy:              h.envProxy,
	}
	if err := h.checkSettings(); err != nil {
		return err
	}

	repl := caddy.NewReplacer()
	resolve := func(s string) string { return repl.ReplaceKnown(s, "") }
	configs := []catalog.Config{{Providers: h.Providers, Models: h.Models, Aliases: h.Aliases}}
	for _, path := range h.Catalogs {
		cfg, err := catalog.LoadFile(resolve(path))
		if err != nil {
			return err
		}
		configs = append(configs, cfg)
	}
	cat, warnings, err := catalog.Build(resolve, configs...)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		h.logger.Warn(w)
	}
	h.cat = cat
	if err := h.loadPrices(resolve, configs); err != nil {
		return err
	}
	var infos []catalog.ModelInfo
	for _, c := range configs {
		infos = append(infos, c.Models...)
	}
	if h.defaults, err = prepareDefaults(infos); err != nil {
		return err
	}
	if len(cat.Providers) == 0 {
		h.logger.Warn("no usable provider: every request will get 404 model_not_found")
	}
	if err := h.provisionFleet(ctx); err != nil {
		return err
	}
	if err := h.provisionGuard(resolve); err != nil {
		return err
	}
	if err := h.provisionCORS(resolve); err != nil {
		return err
	}
	h.prepareFleetLimits()
	if err := h.preparePools(); err != nil {
		return err
	}
	if err := h.provisionSmart(resolve); err != nil {
		return err
	}
	h.prepareAccounts()
	if err := registerMetrics(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	addLive(h)
	h.modelEntries = modelList(cat, h.now())
	h.modelEntries = append(h.modelEntries, virtualEntries(h.smart, h.now().Unix(), h.now().UTC().Format(time.RFC3339))...)
	for _, p := range cat.Providers {
		if p.Wildcard {
			h.wildNames = append(h.wildNames, p.Name)
		}
	}
	h.modelsReply = marshalModelList(h.modelEntries, h.wildNames)
	h.startDiscovery()
	h.startProbes()
	h.logger.Info("llm_router ready",
		zap.Int("providers", len(cat.Providers)),
		zap.Int("targets", len(cat.Targets)),
		zap.Int("models", len(cat.Models)),
		zap.Int("aliases", len(cat.Aliases)))
	return nil
}

func (h *Handler) checkSettings() error {
	rt := &h.runtime
	if rt.attempts < 1 || rt.attempts > selector.MaxAttempts {
		return fmt.Errorf("attempts must be between 1 and %d", selector.MaxAttempts)
	}
	if rt.maxBody < 0 || rt.maxResponse < 0 || rt.maxUpload < 0 {
		return fmt.Errorf("max_body, max_upload and max_response must not be negative")
	}
	if rt.maxCooldown < rt.cooldown {
		return fmt.Errorf("max_cooldown (%s) is shorter than cooldown (%s)", rt.maxCooldown, rt.cooldown)
	}
	if _, err := selector.ParseStrategy(h.Strategy); err != nil {
		return err
	}
	if rt.hedgeAfter < 0 || rt.resumes < 0 || rt.resumes > selector.MaxAttempts {
		return fmt.Errorf("hedge_after must not be negative, resume must be between 0 and %d", selector.MaxAttempts)
	}
	return nil
}

// Validate is a no-op: every setting is checked in Provision, where defaults are known.
func (h *Handler) Validate() error { return nil }

// Cleanup releases this config's share of the state that survives reloads, and idle upstream
// connections. Caddy also calls it right after a Provision that failed half way.
func (h *Handler) Cleanup() error {
	if h.retired != nil {
		h.retired.Store(true)
	}
	removeLive(h)
	forgetSeries(h)
	h.stopProbes()
	discErr := h.stopDiscovery()
	for _, u := range h.conns {
		u.closeIdleConnections()
	}
	errs := []error{discErr}
	for _, wp := range h.wild {
		errs = append(errs, wp.close())
	}
	return errors.Join(append(errs, h.held.release())...)
}

// ServeHTTP routes the request to the matching endpoint, or to next for paths it does not own.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	path := r.URL.Path
	d := dialectOf(path)
	if h.cors != nil && h.cors.serve(w, r, d) {
		return nil // a preflight: it carries no key, and is answered before the gate
	}
	client, ok := h.admit(w, r, d)
	if !ok {
		return nil
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		switch {
		case h.StatusPage != "" && path == h.StatusPage:
			h.serveStatusPage(w, r)
			return nil
		case h.ModelsPage != "" && path == h.ModelsPage:
			h.serveModelsPage(w, r)
			return nil
		}
	}
	if h.serveStateful(w, r, client) {
		return nil
	}
	if rt, ok := routeFor(r); ok {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeError(w, d, http.StatusMethodNotAllowed, errInvalidRequest, "method_not_allowed",
				"use POST for "+clipEcho(path))
			return nil
		}
		h.serveCompletion(w, r, rt, client)
		return nil
	}
	switch path {
	case "/v1/models", "/models", "/v1beta/models", "/openai/v1/models", "/openai/models":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, d, http.StatusMethodNotAllowed, errInvalidRequest, "method_not_allowed", "use GET for "+clipEcho(path))
			return nil
		}
		if d == sse.Gemini {
			h.serveGeminiModels(w, r, client, "")
		} else {
			h.serveModels(w, r, client)
		}
		return nil
	case "/health":
		h.serveHealth(w, r)
		return nil
	}
	if model, ok := strings.CutPrefix(path, "/v1beta/models/"); ok && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		h.serveGeminiModels(w, r, client, model)
		return nil
	}
	if model, ok := modelPath(path); ok && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		h.serveModel(w, r, client, d, model)
		return nil
	}
	// Under the API roots the router owns, an unknown path is an error in the client's
	// dialect, never handed on to a handler that could answer an empty 200.
	for _, root := range [...]string{"/v1/", "/v1beta/", "/openai/"} {
		if strings.HasPrefix(path, root) {
			writeError(w, d, http.StatusNotFound, errInvalidRequest, "unknown_endpoint",
				"this router does not serve "+clipEcho(path))
			return nil
		}
	}
	if client != nil {
		h.guard.keys.DropCredential(r.Header) // the gateway key is the router's, not the next handler's
	}
	return next.ServeHTTP(w, r)
}

// modelPath reads the model of a models.retrieve path: `/v1/models/{id}`, or Azure's
// `/openai/v1/models/{id}` and `/openai/models/{id}`.
func modelPath(path string) (string, bool) {
	for _, prefix := range [...]string{"/v1/models/", "/openai/v1/models/", "/openai/models/"} {
		if id, ok := strings.CutPrefix(path, prefix); ok && id != "" {
			return id, true
		}
	}
	return "", false
}

func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
