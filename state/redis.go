package state

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"go.uber.org/zap"
)

// Defaults of Config.
const (
	DefaultPrefix         = "llm_router:"
	DefaultDialTimeout    = 50 * time.Millisecond
	DefaultReadTimeout    = 50 * time.Millisecond
	DefaultWriteTimeout   = 50 * time.Millisecond
	DefaultFlushInterval  = time.Second
	DefaultUsageRetention = 35 * 24 * time.Hour
	DefaultResyncLimit    = 100_000
	// queueSize bounds the cooldown publishes waiting for the publisher; one more is dropped
	// (and still reaches Redis at the next resynchronisation, from the local state).
	queueSize = 4096
	// healthEvery is how often a connected backend is pinged; minBackoff and maxBackoff bound
	// the wait between probes of a backend that is away.
	healthEvery = time.Second
	minBackoff  = 100 * time.Millisecond
	maxBackoff  = 5 * time.Second
)

// Config is a resolved Redis configuration: placeholders are already replaced.
type Config struct {
	// Addrs are host:port addresses: one server, a cluster's seed nodes (Cluster), or the
	// Sentinels (MasterName).
	Addrs []string
	// MasterName, when set, makes Addrs Sentinels that name the master of this set.
	MasterName string
	// Cluster makes Addrs the seed nodes of a Redis Cluster.
	Cluster bool
	// Username and Password authenticate to Redis (ACL user, or password only).
	Username, Password string
	// SentinelUsername and SentinelPassword authenticate to the Sentinels.
	SentinelUsername, SentinelPassword string
	// DB is the database number (not with Cluster).
	DB int
	// TLS, when set, is used for every connection.
	TLS *tls.Config
	// Prefix starts every key and the channel name. Default DefaultPrefix.
	Prefix string
	// DialTimeout, ReadTimeout and WriteTimeout bound each connect, read and write.
	DialTimeout, ReadTimeout, WriteTimeout time.Duration
	// PoolSize is the number of connections per node; 0: go-redis's default (10 per CPU).
	PoolSize int
	// FlushInterval is how often summed usage counters are written. Default 1s.
	FlushInterval time.Duration
	// UsageRetention is how long a day's usage counters are kept. Default 35 days.
	UsageRetention time.Duration
	// ResyncLimit bounds the cooldown keys read at one resynchronisation. Default 100,000.
	ResyncLimit int
}

func (c *Config) defaults() {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.UsageRetention <= 0 {
		c.UsageRetention = DefaultUsageRetention
	}
	if c.ResyncLimit <= 0 {
		c.ResyncLimit = DefaultResyncLimit
	}
}

// Validate checks the combination of settings.
func (c *Config) Validate() error {
	switch {
	case len(c.Addrs) == 0:
		return errors.New("redis: no address")
	case c.MasterName != "" && c.Cluster:
		return errors.New("redis: sentinel and cluster exclude each other")
	case len(c.Addrs) > 1 && c.MasterName == "" && !c.Cluster:
		return errors.New("redis: several addresses are a cluster's nodes or Sentinels: say cluster or sentinel <master>")
	case c.Cluster && c.DB != 0:
		return errors.New("redis: a cluster has only database 0")
	}
	for _, a := range c.Addrs {
		if strings.Contains(a, "://") || strings.Contains(a, "@") {
			return errors.New("redis: an address is host:port (give credentials as username and password)")
		}
	}
	return nil
}

// options is the go-redis configuration for c. Retries are off: a failed command is answered
// from local state at once, never retried on the request path.
func (c *Config) options() *redis.UniversalOptions {
	return &redis.UniversalOptions{
		Addrs:            c.Addrs,
		MasterName:       c.MasterName,
		IsClusterMode:    c.Cluster,
		Username:         c.Username,
		Password:         c.Password,
		SentinelUsername: c.SentinelUsername,
		SentinelPassword: c.SentinelPassword,
		DB:               c.DB,
		TLSConfig:        c.TLS,
		DialTimeout:      c.DialTimeout,
		ReadTimeout:      c.ReadTimeout,
		WriteTimeout:     c.WriteTimeout,
		// A request that finds every connection busy waits no longer than a read.
		PoolTimeout:           c.ReadTimeout,
		PoolSize:              c.PoolSize,
		MaxRetries:            -1,
		ContextTimeoutEnabled: true,
		Protocol:              2,
		DisableIdentity:       true,
		MaintNotificationsConfig: &maintnotifications.Config{
			Mode: maintnotifications.ModeDisabled,
		},
	}
}

// Options are the hooks between a Redis backend and the router that uses it.
type Options struct {
	// Logger gets one warning when Redis goes away and one line when it is back; never a
	// secret. Default: no logging.
	Logger *zap.Logger
	// Now is the clock cooldown deadlines are compared with. Default time.Now.
	Now func() time.Time
	// OnCooldown applies a peer's cooldown to the local state. It is called from the
	// subscriber and the resynchronisation (on a cluster, once per master at the same time), so
	// it must be safe for concurrent use.
	OnCooldown func(Cooldown)
	// OnEnd ends the local cooldown that c names by its deadline (c.Until), if it is the one
	// in force: a peer ended it early, or this backend has just sent its own end to Redis
	// (a resynchronisation may have read it back in between). Called like OnCooldown.
	OnEnd func(Cooldown)
	// LocalCooldowns lists the local cooldowns in force at now (unix ns), written back to Redis
	// after a reconnect, so a restarted Redis learns them again.
	LocalCooldowns func(now int64) []Cooldown
	// OnUp is told every change of the connection state (for a gauge).
	OnUp func(up bool)
	// OnUsageRefused is told each usage flush Redis refused with an error reply (OOM,
	// WRONGTYPE, a script error), and whether its batch was then dropped (for a counter).
	OnUsageRefused func(dropped bool)
	// Usage is the buffer AddUsage sums into and the flusher empties. Default: one of its own.
	Usage *UsageBuffer
	// Sticky is the sticky store the backend serves from Start on (see RedisSticky). Backends
	// that share one also hand the cooldowns started or ended after their Close to the one
	// started last.
	// Default: one of its own.
	Sticky *RedisSticky
}

// Redis is the Redis backend of one router instance. Create it with New, start its background
// work with Start, and stop it with Close. Its methods are safe for concurrent use, and work
// (from local state) before Start and after Close.
type Redis struct {
	cfg    Config
	opt    Options
	client redis.UniversalClient
	// origin names this instance in published messages, so it skips its own.
	origin string
	up     atomic.Bool
	// queue holds cooldown publishes for the publisher; Cooled never blocks on it.
	queue   chan Cooldown
	dropped atomic.Uint64
	// resync asks the syncer for a resynchronisation (buffered: one pending request is enough).
	resync chan struct{}
	// syncMu lets one resynchronisation or one sending of ends run at a time: an end sent
	// while a resynchronisation runs would be undone by its writes and reads.
	syncMu sync.Mutex
	// ends are the cooldowns ended early that Redis has not been told of (EndCooldowns), by
	// kind, id and the deadline ended (Class is 0); at most MaxPendingEnds. endsMu guards it.
	endsMu sync.Mutex
	ends   map[Cooldown]struct{}
	// probe wakes the monitor early, when a command failed.
	probe chan struct{}
	usage *UsageBuffer
	// sticky is the Sticky store this backend serves once started; its writes missed during
	// an outage are sent by the resynchronisation.
	sticky *RedisSticky
	// ps is the subscriber's connection, made by Start and replaced by the subscriber when it
	// goes silent; psMu guards the field.
	psMu sync.Mutex
	ps   *redis.PubSub

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// started is set by Start, closed by Close.
	started, closed atomic.Bool
	// warned is set once the warning for the current outage was logged.
	warned atomic.Bool
	// refused is set when Redis answered a command with a refusal (see isConnError) and
	// cleared once the health check's probe write succeeds.
	refused atomic.Bool

	// resyncs counts finished resynchronisations (tests).
	resyncs atomic.Uint64
}

// New returns a backend for cfg. It does not connect: Start does.
func New(cfg Config, opt Options) (*Redis, error) {
	cfg.defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opt.Logger == nil {
		opt.Logger = zap.NewNop()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	r := &Redis{
		cfg:    cfg,
		opt:    opt,
		client: redis.NewUniversalClient(cfg.options()),
		origin: hex.EncodeToString(id[:]),
		queue:  make(chan Cooldown, queueSize),
		resync: make(chan struct{}, 1),
		probe:  make(chan struct{}, 1),
		usage:  opt.Usage,
	}
	if r.usage == nil {
		r.usage = NewUsageBuffer()
	}
	if r.sticky = opt.Sticky; r.sticky == nil {
		r.sticky = NewSticky(opt.Now)
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r, nil
}

// Start connects (waiting at most one dial and one ping) and starts the background work:
// the health monitor, the publisher, the subscriber, the resynchronisation and the usage
// flusher. A Redis that is away at Start is not an error: the router starts on local state and
// the monitor keeps trying.
func (r *Redis) Start() {
	if !r.started.CompareAndSwap(false, true) {
		return
	}
	r.sticky.attach(r)
	if err := r.ping(); err != nil {
		r.markDown(err)
	} else {
		r.markUp()
	}
	r.psMu.Lock()
	r.ps = r.client.Subscribe(r.ctx, r.key(channelName))
	r.psMu.Unlock()
	r.wg.Add(5)
	go r.monitor()
	go r.publisher()
	go r.subscriber()
	go r.syncer()
	go r.flusher()
}

// Close stops the background work, writes the cooldowns still queued and the usage summed so
// far (each bounded by the timeouts) and closes the connections.
func (r *Redis) Close() error {
	if !r.closed.CompareAndSwap(false, true) {
		return nil
	}
	if r.started.Load() {
		r.sticky.detach(r)
	}
	r.cancel()
	if ps := r.pubsub(); ps != nil {
		_ = ps.Close() // unblocks the subscriber's receive
	}
	r.wg.Wait()
	if r.started.Load() && r.up.Load() {
		r.flushCooldowns()
		r.flushEnds()
		r.flushUsage(context.Background())
	}
	// Ends Redis has not had go to the successor, if there is one.
	if cs := r.takeEnds(); len(cs) > 0 {
		if next := r.sticky.current(); next != nil && next != r {
			_ = next.endCooldowns(cs)
		}
	}
	// Handlers of the config being replaced may still call in: they go local, quietly.
	r.warned.Store(true)
	r.up.Store(false)
	return r.client.Close()
}

// Up reports whether Redis answered the last command or health check.
func (r *Redis) Up() bool { return r.up.Load() }

// Closed reports whether Close has begun.
func (r *Redis) Closed() bool { return r.closed.Load() }

// Prefix is the prefix of every key this backend writes.
func (r *Redis) Prefix() string { return r.cfg.Prefix }

// Dropped counts cooldown publishes dropped because the queue was full or Redis was away.
func (r *Redis) Dropped() uint64 { return r.dropped.Load() }

// Resyncs counts the resynchronisations done since Start.
func (r *Redis) Resyncs() uint64 { return r.resyncs.Load() }

// opTimeout bounds one command on the request path: a write and a read.
func (r *Redis) opTimeout() time.Duration { return r.cfg.WriteTimeout + r.cfg.ReadTimeout }

func (r *Redis) opContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.ctx, r.opTimeout())
}

func (r *Redis) ping() error {
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.DialTimeout+r.opTimeout())
	defer cancel()
	if err := r.client.Ping(ctx).Err(); err != nil {
		return err
	}
	if !r.refused.Load() {
		return nil
	}
	// Redis refused a command (a replica's READONLY, an ACL without scripts or writes): a
	// PING proves nothing of that, so the probe is a script that writes, as the router's are.
	if err := probeScript.Run(ctx, r.client, []string{r.key(probeKey)}).Err(); err != nil {
		return err
	}
	r.refused.Store(false)
	return nil
}

// probeScript is the health check's write after a refusal: one short-lived key.
var probeScript = redis.NewScript(`return redis.call('SET', KEYS[1], '1', 'PX', 1000)`)

// failed notes the error of a command. Redis's own replies to a command (a script error, a
// wrong type) say nothing of the connection; anything else marks the backend down.
func (r *Redis) failed(err error) {
	if err == nil || errors.Is(err, redis.Nil) {
		return
	}
	var re redis.Error
	if errors.As(err, &re) {
		if !isConnError(re.Error()) {
			return
		}
		r.refused.Store(true)
	}
	r.markDown(err)
}

// isConnError reports whether a Redis error reply means the server cannot serve us now
// (loading, a failover, a wrong password), as opposed to a problem with one command.
func isConnError(msg string) bool {
	for _, p := range []string{"LOADING", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "NOAUTH", "WRONGPASS", "NOPERM"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// markDown records that Redis is away, with one warning for the transition, and wakes the
// monitor.
func (r *Redis) markDown(err error) {
	wasUp := r.up.CompareAndSwap(true, false)
	if r.warned.CompareAndSwap(false, true) {
		r.opt.Logger.Warn("shared state (redis) unavailable: requests go on with this instance's local state; rate limits count locally until it is back",
			zap.String("error", r.scrub(err.Error())))
		wasUp = true // the first failure also tells OnUp
	}
	if wasUp && r.opt.OnUp != nil {
		r.opt.OnUp(false)
	}
	select {
	case r.probe <- struct{}{}:
	default:
	}
}

// markUp records that Redis answers; on the transition it logs once and asks for a
// resynchronisation.
func (r *Redis) markUp() {
	if !r.up.CompareAndSwap(false, true) {
		return
	}
	r.warned.Store(false)
	r.opt.Logger.Info("shared state (redis) connected", zap.Strings("addresses", r.cfg.Addrs))
	if r.opt.OnUp != nil {
		r.opt.OnUp(true)
	}
	r.askResync()
}

func (r *Redis) askResync() {
	select {
	case r.resync <- struct{}{}:
	default:
	}
}

// scrub removes the configured passwords from an error text, in case a library ever quotes
// one.
func (r *Redis) scrub(s string) string {
	for _, p := range []string{r.cfg.Password, r.cfg.SentinelPassword} {
		if p != "" {
			s = strings.ReplaceAll(s, p, "[redacted]")
		}
	}
	return s
}

// monitor pings Redis every healthEvery while it is up, and with a growing backoff while it is
// away; a command that failed wakes it at once.
func (r *Redis) monitor() {
	defer r.wg.Done()
	backoff := minBackoff
	for {
		wait := healthEvery
		if !r.up.Load() {
			wait = backoff
		}
		t := time.NewTimer(wait)
		select {
		case <-r.ctx.Done():
			t.Stop()
			return
		case <-r.probe:
			t.Stop()
			if r.up.Load() {
				continue
			}
			// a fresh failure: wait the backoff before the probe
			select {
			case <-r.ctx.Done():
				return
			case <-time.After(backoff):
			}
		case <-t.C:
		}
		if err := r.ping(); err != nil {
			if r.ctx.Err() != nil {
				return
			}
			r.markDown(err)
			backoff = min(backoff*2, maxBackoff)
			continue
		}
		backoff = minBackoff
		r.markUp()
	}
}

func (r *Redis) key(parts ...string) string {
	return r.cfg.Prefix + strings.Join(parts, "")
}

// String describes the backend for logs: its addresses and mode, never a credential.
func (r *Redis) String() string {
	mode := "single"
	switch {
	case r.cfg.MasterName != "":
		mode = "sentinel " + r.cfg.MasterName
	case r.cfg.Cluster:
		mode = "cluster"
	}
	return fmt.Sprintf("redis %s %s", mode, strings.Join(r.cfg.Addrs, ","))
}

// SetLibraryLogger sends go-redis's own log lines (it logs some reconnects and pool events
// to the standard logger) to logger at debug level, so an outage is one warning, not many
// lines. It is process-wide, as go-redis's logger is.
func SetLibraryLogger(logger *zap.Logger) {
	redis.SetLogger(libraryLogger{logger})
}

type libraryLogger struct{ l *zap.Logger }

func (l libraryLogger) Printf(_ context.Context, format string, v ...any) {
	if ce := l.l.Check(zap.DebugLevel, "go-redis"); ce != nil {
		ce.Write(zap.String("message", fmt.Sprintf(format, v...)))
	}
}

// errAway is the error of a command not sent because Redis is known to be away.
var errAway = errors.New("shared state unavailable")
