package llmrouter

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/llmrouter/caddy-llm-router/gate"
	"github.com/llmrouter/caddy-llm-router/selector"
	"github.com/llmrouter/caddy-llm-router/state"
)

func init() {
	caddy.RegisterModule(StateApp{})
}

// StateApp is the `llm_router_state` app: the state that every `llm_router` handler in the
// process shares with the other instances of a fleet. Without it (the default) every instance
// keeps its state to itself and no Redis code runs. With `redis` set, target and key cooldowns,
// gateway-key rpm windows, sticky ids and usage counters are shared through Redis (see the
// README's "Running several instances").
type StateApp struct {
	// Redis is the Redis deployment the fleet shares. Required.
	Redis *RedisConfig `json:"redis,omitempty"`

	fleet  *fleet
	logger *zap.Logger
}

// RedisConfig locates and authenticates to Redis. Every string field takes placeholders
// (`{env.X}`, `{file.X}`), resolved when the config loads: write credentials that way so they
// never appear in the adapted config or the admin API.
type RedisConfig struct {
	// Addresses are `host:port` addresses: one server; with `cluster`, a Redis Cluster's seed
	// nodes; with `sentinel_master`, the Sentinels. Default `localhost:6379`.
	Addresses []string `json:"addresses,omitempty"`

	// SentinelMaster is the name of the master set the Sentinels at Addresses watch. Off when
	// empty.
	SentinelMaster string `json:"sentinel_master,omitempty"`

	// Cluster says that Addresses are nodes of a Redis Cluster. Default false.
	Cluster bool `json:"cluster,omitempty"`

	// Username is the ACL user. Default none (the `default` user).
	Username string `json:"username,omitempty"`

	// Password authenticates the user. Write it as a placeholder. Default none.
	Password string `json:"password,omitempty"`

	// SentinelUsername is the ACL user for the Sentinels, when they need one. Default none.
	SentinelUsername string `json:"sentinel_username,omitempty"`

	// SentinelPassword is the Sentinels' password. Write it as a placeholder. Default none.
	SentinelPassword string `json:"sentinel_password,omitempty"`

	// DB is the database number (not with a cluster). Default 0.
	DB int `json:"db,omitempty"`

	// TLS, when present, makes every connection TLS (an empty object: the system's roots).
	TLS *RedisTLS `json:"tls,omitempty"`

	// Prefix starts every key the router writes and its channel's name, so that several fleets
	// can share one Redis. Default `llm_router:`.
	Prefix string `json:"prefix,omitempty"`

	// DialTimeout bounds connecting to Redis. Default 50ms.
	DialTimeout caddy.Duration `json:"dial_timeout,omitempty"`

	// ReadTimeout bounds the wait for a reply. A limited request waits at most
	// write_timeout + read_timeout for Redis, then counts locally. Default 50ms.
	ReadTimeout caddy.Duration `json:"read_timeout,omitempty"`

	// WriteTimeout bounds writing a command. Default 50ms.
	WriteTimeout caddy.Duration `json:"write_timeout,omitempty"`

	// PoolSize is the number of connections kept per Redis node. Default 10 per CPU.
	PoolSize int `json:"pool_size,omitempty"`

	// FlushInterval is how often usage counters summed in the process are written to Redis.
	// Default 1s.
	FlushInterval caddy.Duration `json:"flush_interval,omitempty"`

	// UsageRetention is how long a day's usage counters are kept in Redis. Default 35 days
	// (840h).
	UsageRetention caddy.Duration `json:"usage_retention,omitempty"`
}

// RedisTLS configures TLS to Redis. File paths take placeholders.
type RedisTLS struct {
	// CA is a PEM file of CAs trusted in addition to the system's roots. Default none.
	CA string `json:"ca,omitempty"`

	// Cert is a PEM file of a client certificate (chain), for mutual TLS, with Key. Default
	// none.
	Cert string `json:"cert,omitempty"`

	// Key is the PEM file of Cert's private key. Default none.
	Key string `json:"key,omitempty"`

	// ServerName is the name sent in SNI and checked. Default: the address's host.
	ServerName string `json:"server_name,omitempty"`

	// InsecureSkipVerify turns off the certificate check (a warning is logged). Default false.
	InsecureSkipVerify bool `json:"insecure_skip_verify,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (StateApp) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "llm_router_state",
		New: func() caddy.Module { return new(StateApp) },
	}
}

// Provision resolves the configuration and makes the backend; it does not connect (Start does).
func (a *StateApp) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	if a.Redis == nil {
		return nil
	}
	repl := caddy.NewReplacer()
	cfg, err := a.Redis.resolve(func(s string) string { return repl.ReplaceKnown(s, "") })
	if err != nil {
		return err
	}
	if cfg.TLS != nil && cfg.TLS.InsecureSkipVerify {
		a.logger.Warn("redis tls insecure_skip_verify is on: the Redis certificate is not verified")
	}
	state.SetLibraryLogger(a.logger.Named("redis"))
	f, err := newFleet(cfg, "", time.Now, a.logger)
	if err != nil {
		return err
	}
	a.fleet = f
	if err := registerFleetMetrics(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	return nil
}

// resolve turns the config into state.Config, replacing placeholders with resolve.
func (c *RedisConfig) resolve(resolve func(string) string) (state.Config, error) {
	cfg := state.Config{
		MasterName:       resolve(c.SentinelMaster),
		Cluster:          c.Cluster,
		Username:         resolve(c.Username),
		Password:         resolve(c.Password),
		SentinelUsername: resolve(c.SentinelUsername),
		SentinelPassword: resolve(c.SentinelPassword),
		DB:               c.DB,
		Prefix:           resolve(c.Prefix),
		DialTimeout:      time.Duration(c.DialTimeout),
		ReadTimeout:      time.Duration(c.ReadTimeout),
		WriteTimeout:     time.Duration(c.WriteTimeout),
		PoolSize:         c.PoolSize,
		FlushInterval:    time.Duration(c.FlushInterval),
		UsageRetention:   time.Duration(c.UsageRetention),
	}
	for _, a := range c.Addresses {
		cfg.Addrs = append(cfg.Addrs, strings.FieldsFunc(resolve(a), func(r rune) bool { return r == ' ' || r == ',' || r == '\n' })...)
	}
	if len(cfg.Addrs) == 0 {
		cfg.Addrs = []string{"localhost:6379"}
	}
	if c.TLS != nil {
		t, err := c.TLS.config(resolve)
		if err != nil {
			return cfg, err
		}
		cfg.TLS = t
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

func (t *RedisTLS) config(resolve func(string) string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: resolve(t.ServerName), InsecureSkipVerify: t.InsecureSkipVerify}
	if ca := resolve(t.CA); ca != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("redis tls ca: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("redis tls ca: no certificate in the file")
		}
		cfg.RootCAs = pool
	}
	if cert, key := resolve(t.Cert), resolve(t.Key); cert != "" || key != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			// The error names the files, never their contents.
			return nil, fmt.Errorf("redis tls client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// Start connects to Redis and starts the shared state's background work.
func (a *StateApp) Start() error {
	if a.fleet != nil {
		a.fleet.r.Start()
	}
	return nil
}

// Stop stops it and closes the connections.
func (a *StateApp) Stop() error {
	if a.fleet != nil {
		return a.fleet.r.Close()
	}
	return nil
}

// Cleanup closes the backend of a config that was provisioned but never started (a load that
// failed half way; after Stop that is done) and releases what it shares with its successor.
func (a *StateApp) Cleanup() error {
	if a.fleet != nil {
		return a.fleet.close()
	}
	return nil
}

// fleet is one instance's shared state: the Redis backend and the local state its peers'
// cooldowns are applied to.
type fleet struct {
	r      *state.Redis
	sticky *state.RedisSticky
	// ns prefixes this instance's reloadStore ids. It is "" in a real process; tests that run
	// several instances in one process give each its own, so that they share only what goes
	// through Redis.
	ns  string
	now func() time.Time
	// releaseShared drops this instance's reference to the sharedEntry, once.
	releaseShared sync.Once
}

// sharedStoreID names, in reloadStore, what the backend of the config being replaced and
// that of its successor share: the usage buffer and the sticky store, one a process. A
// request in flight across a reload adds its usage and records its ids after the old backend
// closed; the new one writes them.
const sharedStoreID = "llm_router/shared"

type sharedEntry struct {
	usage  *state.UsageBuffer
	sticky *state.RedisSticky
}

func (*sharedEntry) Destruct() error { return nil }

func newFleet(cfg state.Config, ns string, now func() time.Time, logger *zap.Logger) (*fleet, error) {
	f := &fleet{ns: ns, now: now}
	v, _, _ := reloadStore.LoadOrNew(ns+sharedStoreID, func() (caddy.Destructor, error) {
		return &sharedEntry{usage: state.NewUsageBuffer(), sticky: state.NewSticky(now)}, nil
	})
	shared := v.(*sharedEntry)
	r, err := state.New(cfg, state.Options{
		Usage:          shared.usage,
		Sticky:         shared.sticky,
		Logger:         logger,
		Now:            now,
		OnCooldown:     f.applyPeer,
		OnEnd:          f.applyEnd,
		LocalCooldowns: f.local,
		OnUp: func(up bool) {
			if up {
				sharedStateUp.Set(1)
			} else {
				sharedStateUp.Set(0)
			}
		},
		OnUsageRefused: func(dropped bool) {
			if dropped {
				sharedUsageRefused.WithLabelValues("dropped").Inc()
			} else {
				sharedUsageRefused.WithLabelValues("retried").Inc()
			}
		},
	})
	if err != nil {
		f.release()
		return nil, err
	}
	f.r = r
	f.sticky = r.Sticky()
	return f, nil
}

// close stops the backend and releases the sharedEntry.
func (f *fleet) close() error {
	err := f.r.Close()
	f.release()
	return err
}

func (f *fleet) release() {
	f.releaseShared.Do(func() { _, _ = reloadStore.Delete(f.ns + sharedStoreID) })
}

const (
	targetStorePrefix = "llm_router/target/"
	keyStorePrefix    = "llm_router/key/"
)

// applyPeer applies a peer's cooldown to the local state of the target or key, if this
// process holds it. Taking and releasing a reference keeps the entry's lifetime to the configs
// that use it.
func (f *fleet) applyPeer(c state.Cooldown) {
	f.withEntry(c, func(e *healthEntry) {
		e.CoolFor(f.now().UnixNano(), c.Until, selector.Class(c.Class))
	})
}

// withEntry calls fn with the local state of the target or key that c names, holding a
// reference to it meanwhile.
func (f *fleet) withEntry(c state.Cooldown, fn func(e *healthEntry)) {
	id := f.ns + targetStorePrefix + c.ID
	if c.Key {
		id = f.ns + keyStorePrefix + c.ID
	}
	v, _, _ := reloadStore.LoadOrNew(id, func() (caddy.Destructor, error) { return new(healthEntry), nil })
	defer func() { _, _ = reloadStore.Delete(id) }()
	if e, ok := v.(*healthEntry); ok {
		fn(e)
	}
}

// applyEnd ends the local cooldown of the target or key that c names, if its deadline is the
// one ended: a cooldown with another deadline started apart from it (a later failure), and
// stays. Pools that skip the member are told, since its deadline went down.
func (f *fleet) applyEnd(c state.Cooldown) {
	ended := false
	f.withEntry(c, func(e *healthEntry) {
		ended = e.CoolUntil() == c.Until && e.EndCooldown(f.now().UnixNano())
	})
	if !ended {
		return
	}
	for _, h := range liveHandlers() {
		h.forgetPoolCaches()
	}
}

// local lists the cooldowns in force in this instance's state.
func (f *fleet) local(now int64) []state.Cooldown {
	var out []state.Cooldown
	reloadStore.Range(func(k, v any) bool {
		id, _ := k.(string)
		e, ok := v.(*healthEntry)
		if !ok || !strings.HasPrefix(id, f.ns) {
			return true
		}
		id = id[len(f.ns):]
		var c state.Cooldown
		switch {
		case strings.HasPrefix(id, targetStorePrefix):
			c.ID = id[len(targetStorePrefix):]
		case strings.HasPrefix(id, keyStorePrefix):
			c.Key, c.ID = true, id[len(keyStorePrefix):]
		default:
			return true
		}
		if c.Until = e.CoolUntil(); c.Until > now {
			cause, _ := e.CoolingCause(now)
			c.Class = uint8(cause)
			out = append(out, c)
		}
		return true
	})
	return out
}

// provisionFleet finds the shared state, if one is configured, and prepares this handler's use
// of it. Tests set h.shared themselves.
func (h *Handler) provisionFleet(ctx caddy.Context) error {
	if h.shared == nil {
		app, err := ctx.AppIfConfigured("llm_router_state")
		switch {
		case errors.Is(err, caddy.ErrNotConfigured):
			return nil
		case err != nil:
			return err
		}
		h.shared = app.(*StateApp).fleet
		if h.shared == nil {
			return nil // the app without redis: local state
		}
	}
	h.held.ns = h.shared.ns
	return nil
}

// prepareFleetLimits names each limited gateway key's fleet-wide window.
func (h *Handler) prepareFleetLimits() {
	if h.shared == nil || h.guard.keys == nil {
		return
	}
	h.fleetLimits = make(map[string]string)
	for _, c := range h.guard.keys.Clients() {
		if c.RPM > 0 {
			h.fleetLimits[c.Name] = state.LimitID(c.Name, c.Fingerprint, c.RPM)
		}
	}
}

// allow takes one request from a gateway key's rpm limit: fleet-wide in Redis when it is
// configured and answers, else (and while it is away) in this process's own window.
func (h *Handler) allow(c *gate.Client, l *gate.Limiter) (bool, time.Duration) {
	now := h.now()
	if h.shared != nil {
		if id := h.fleetLimits[c.Name]; id != "" {
			ok, wait, err := h.shared.r.Allow(id, c.RPM, now)
			if err == nil {
				return ok, wait
			}
			sharedFallbacks.Inc()
		}
	}
	return l.Allow(now.UnixNano())
}

// sharedSticky is the fleet's sticky store (kind/id -> owner, with a TTL) when a shared state
// is configured, else nil: the caller then keeps its in-memory store. The owner stored must be
// a hash (a key's StateID), never a key.
func (h *Handler) sharedSticky() state.Sticky {
	if h.shared == nil {
		return nil
	}
	return h.shared.sticky
}

// shareCooldown tells the fleet of a cooldown that started here. It never blocks.
func (h *Handler) shareCooldown(t *target, key bool, until time.Time, class selector.Class) {
	if h.shared == nil {
		return
	}
	id := t.StateID
	if key {
		id = t.KeyStateID
	}
	h.shared.r.Cooled(state.Cooldown{Key: key, ID: id, Until: until.UnixNano(), Class: uint8(class)})
}

// shareEnd tells the fleet of a cooldown ended here early (a health check found its cause
// gone): Redis forgets it and the other instances end it too, at once or, while Redis is away,
// once it answers. It waits at most the timeouts.
func (h *Handler) shareEnd(c state.Cooldown) {
	if h.shared == nil {
		return
	}
	if err := h.shared.r.EndCooldowns([]state.Cooldown{c}); err != nil {
		logSharedEnd(h.logger, err, 1)
	}
}

// shareUsage adds a finished request to the fleet's usage counters (summed here, flushed on an
// interval).
func (h *Handler) shareUsage(rec *record, provider string) {
	if h.shared == nil {
		return
	}
	h.shared.r.AddUsage(state.UsageKey{Model: rec.model, Provider: provider, Client: rec.client},
		rec.usage.input(), rec.usage.output(), rec.cost)
}

var (
	sharedStateUp = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "caddy", Subsystem: "llm_router", Name: "shared_state_up",
		Help: "1 while the shared state backend (Redis) answers, 0 while requests run on local state.",
	})
	sharedFallbacks = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "llm_router", Name: "shared_state_fallbacks_total",
		Help: "Rate-limited requests counted locally because the shared state did not answer.",
	})
	sharedUsageRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "caddy", Subsystem: "llm_router", Name: "shared_usage_refused_total",
		Help: "Usage flushes the shared state refused with an error reply (OOM, WRONGTYPE, a script error), by what became of the batch: retried, or dropped after its last try.",
	}, []string{"batch"})
)

func registerFleetMetrics(reg *prometheus.Registry) error {
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{sharedStateUp, sharedFallbacks, sharedUsageRefused} {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if !errors.As(err, &already) {
				return err
			}
		}
	}
	return nil
}

// Interface guards
var (
	_ caddy.App          = (*StateApp)(nil)
	_ caddy.Provisioner  = (*StateApp)(nil)
	_ caddy.CleanerUpper = (*StateApp)(nil)
)
