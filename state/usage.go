package state

import (
	"context"
	"errors"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// maxUsageSeries bounds the distinct (model, provider, client) series summed between two
// flushes; Add drops what comes beyond it (the labels are configured names, so only a config
// with thousands of models and keys could reach it).
const maxUsageSeries = 10_000

// UsageKey is one series of usage counters.
type UsageKey struct{ Model, Provider, Client string }

// usageDelta is what a series counted since the last flush.
type usageDelta struct {
	requests, in, out int64
	nanoUSD           float64
}

// UsageBuffer sums usage between flushes, so a request costs a map update, not a round trip.
// Backends that replace one another across a config reload share one (Options.Usage): a
// request that finishes on the old config after its backend closed is flushed by the new one.
// Make it with NewUsageBuffer; it is safe for concurrent use.
type UsageBuffer struct {
	mu sync.Mutex
	m  map[UsageKey]*usageDelta

	// flushMu serialises flushes: Redis applies a batch only when its sequence number is
	// above the last one it applied from its backend, so batches must arrive in order. A
	// pending batch keeps the marker of the backend that took it, so the successor that
	// shares the buffer after a reload can write it again.
	flushMu sync.Mutex
	// pending is the batch whose write failed: it is written again, as the same batch,
	// before anything newer, so Redis can tell a retry from new counts.
	pending *usageBatch
	// seq numbers this instance's batches (guarded by flushMu).
	seq uint64
}

// usageBatch is one flush's increments, fixed when it is taken from the buffer.
type usageBatch struct {
	key string // the day's hash, of the day the batch was taken
	seq uint64
	// args are usageScript's arguments: the marker field, seq, the TTL, then field,
	// increment pairs.
	args []any
	// requests is how many requests the batch counts (for the line that says it was dropped).
	requests int64
	// refusals counts the error replies Redis gave the batch (see usageRefused).
	refusals int
}

// maxUsageTries bounds the writes of a batch that Redis refuses with an error reply: one it
// can never apply (WRONGTYPE: the day's key holds another kind of value) would otherwise hold
// back every later batch for good. At the default flush_interval it is ten seconds.
const maxUsageTries = 10

// NewUsageBuffer returns an empty buffer.
func NewUsageBuffer() *UsageBuffer {
	return &UsageBuffer{m: make(map[UsageKey]*usageDelta)}
}

// AddUsage counts one finished request of a series: its tokens and cost in USD.
func (r *Redis) AddUsage(k UsageKey, in, out int64, costUSD float64) {
	b := r.usage
	b.mu.Lock()
	d := b.m[k]
	if d == nil {
		if len(b.m) >= maxUsageSeries {
			b.mu.Unlock()
			return
		}
		d = new(usageDelta)
		b.m[k] = d
	}
	d.requests++
	d.in += in
	d.out += out
	d.nanoUSD += costUSD * 1e9
	b.mu.Unlock()
}

// flusher writes the summed usage every FlushInterval.
func (r *Redis) flusher() {
	defer r.wg.Done()
	t := time.NewTicker(r.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
		if r.up.Load() {
			r.flushUsage(r.ctx)
		}
	}
}

// usage field names: "<dimension>:<name>:<counter>", dimension model, provider or client,
// counter requests, tokens_in, tokens_out or cost_nano_usd; and one "flush:<origin>" field per
// instance, the sequence number of the last batch applied from it.
var counters = [...]string{"requests", "tokens_in", "tokens_out", "cost_nano_usd"}

// usageScript applies one batch to a day's hash, once: a batch whose sequence number is not
// above the last one applied from its instance is a retry of one Redis already applied
// (its reply was lost), and changes nothing. The marker lives in the hash itself, so the
// script touches one key (one hash slot on a cluster) and the marker expires with the counts.
//
// KEYS[1] the day's hash; ARGV[1] the marker field, ARGV[2] the batch's sequence number,
// ARGV[3] the hash's TTL in ms, then field, increment pairs.
var usageScript = redis.NewScript(`
local last = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or 0)
if last >= tonumber(ARGV[2]) then
  return 0
end
for i = 4, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`)

// flushUsage writes a failed batch again, then the counts summed since, each as one batch
// applied once (usageScript): a write whose reply is lost after Redis applied it is retried
// without counting twice. A batch that fails stays pending, and the counts go on summing in
// the buffer until it is written.
func (r *Redis) flushUsage(parent context.Context) {
	b := r.usage
	b.flushMu.Lock()
	defer b.flushMu.Unlock()
	if b.pending != nil {
		if err := r.writeUsage(parent, b.pending); err != nil {
			r.usageFailed(err)
			return
		}
		b.pending = nil
	}
	batch := r.takeUsage()
	if batch == nil {
		return
	}
	if err := r.writeUsage(parent, batch); err != nil {
		b.pending = batch
		r.usageFailed(err)
	}
}

// usageFailed handles the failed write of the pending batch. A connection failure (or a
// reply that means Redis cannot serve now: LOADING, READONLY, ...) marks Redis down, and the
// batch waits for the reconnect however long it takes. Any other error reply (OOM, WRONGTYPE,
// a script error) is the batch's own: it is tried again at the next flushes, and after
// maxUsageTries refusals dropped with an error line, so that the usage counted after it
// still flows. (NOSCRIPT, after a SCRIPT FLUSH, never gets here: the script is sent again.)
func (r *Redis) usageFailed(err error) {
	var re redis.Error
	if !errors.As(err, &re) || isConnError(re.Error()) {
		r.failed(err)
		return
	}
	b := r.usage
	p := b.pending
	p.refusals++
	drop := p.refusals >= maxUsageTries
	if r.opt.OnUsageRefused != nil {
		r.opt.OnUsageRefused(drop)
	}
	msg := r.scrub(err.Error())
	switch {
	case drop:
		b.pending = nil
		r.opt.Logger.Error("shared state (redis) refused a usage flush every time: its counts are dropped, later ones are written",
			zap.String("error", msg), zap.Int("tries", p.refusals), zap.String("key", p.key), zap.Int64("requests", p.requests))
	case p.refusals == 1:
		r.opt.Logger.Warn("shared state (redis) refused a usage flush: it is tried again at the next flushes",
			zap.String("error", msg), zap.Int("tries_left", maxUsageTries-1), zap.String("key", p.key))
	}
}

// takeUsage empties the buffer into a new batch for today's hash, nil when nothing was
// counted. The cost below one nano-USD stays in the buffer for a later batch.
func (r *Redis) takeUsage() *usageBatch {
	b := r.usage
	b.mu.Lock()
	if len(b.m) == 0 {
		b.mu.Unlock()
		return nil
	}
	taken := b.m
	b.m = make(map[UsageKey]*usageDelta, len(taken))
	b.mu.Unlock()

	sums := make(map[string]int64)
	kept := make(map[UsageKey]float64)
	var requests int64
	for k, d := range taken {
		requests += d.requests
		nano := math.Floor(d.nanoUSD)
		if d.nanoUSD > nano {
			kept[k] = d.nanoUSD - nano
		}
		vals := [4]int64{d.requests, d.in, d.out, int64(nano)}
		for _, dim := range [3][2]string{{"model", k.Model}, {"provider", k.Provider}, {"client", k.Client}} {
			if dim[1] == "" {
				continue
			}
			for i, c := range counters {
				if vals[i] != 0 {
					sums[dim[0]+":"+dim[1]+":"+c] += vals[i]
				}
			}
		}
	}
	if len(kept) > 0 {
		b.mu.Lock()
		for k, nano := range kept {
			if cur := b.m[k]; cur != nil {
				cur.nanoUSD += nano
			} else if len(b.m) < maxUsageSeries {
				b.m[k] = &usageDelta{nanoUSD: nano}
			}
		}
		b.mu.Unlock()
	}
	if len(sums) == 0 {
		return nil // only fractions of a nano-USD
	}
	b.seq++
	batch := &usageBatch{key: r.key(usageKeys, r.opt.Now().UTC().Format(time.DateOnly)), seq: b.seq,
		args: make([]any, 0, 3+2*len(sums)), requests: requests}
	batch.args = append(batch.args, "flush:"+r.origin, batch.seq, r.cfg.UsageRetention.Milliseconds())
	for f, v := range sums {
		batch.args = append(batch.args, f, v)
	}
	return batch
}

// writeUsage applies one batch, bounded by the timeouts.
func (r *Redis) writeUsage(parent context.Context, batch *usageBatch) error {
	ctx, cancel := context.WithTimeout(parent, r.opTimeout()+r.cfg.WriteTimeout)
	defer cancel()
	return usageScript.Run(ctx, r.client, []string{batch.key}, batch.args...).Err()
}

// Counts are one name's usage counters.
type Counts struct {
	Requests  int64   `json:"requests"`
	TokensIn  int64   `json:"tokens_in"`
	TokensOut int64   `json:"tokens_out"`
	CostUSD   float64 `json:"cost_usd"`
}

// DayUsage is the fleet's usage on one UTC day, by model, provider and gateway key.
type DayUsage struct {
	Day       string             `json:"day"`
	Models    map[string]*Counts `json:"models"`
	Providers map[string]*Counts `json:"providers"`
	Clients   map[string]*Counts `json:"clients"`
}

// Usage reads the fleet's usage of the last days days (today first), as flushed so far by
// every instance. It takes one round trip, bounded by the timeouts.
func (r *Redis) Usage(ctx context.Context, days int) ([]DayUsage, error) {
	if !r.up.Load() {
		return nil, errAway
	}
	ctx, cancel := context.WithTimeout(ctx, r.opTimeout()+r.cfg.ReadTimeout)
	defer cancel()
	today := r.opt.Now().UTC()
	pipe := r.client.Pipeline()
	out := make([]DayUsage, days)
	for i := range out {
		out[i] = DayUsage{Day: today.AddDate(0, 0, -i).Format(time.DateOnly),
			Models: map[string]*Counts{}, Providers: map[string]*Counts{}, Clients: map[string]*Counts{}}
	}
	cmds := make([]interface {
		Result() (map[string]string, error)
	}, days)
	for i := range out {
		cmds[i] = pipe.HGetAll(ctx, r.key(usageKeys, out[i].Day))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		r.failed(err)
		return nil, err
	}
	for i := range out {
		m, _ := cmds[i].Result()
		for f, v := range m {
			dim, rest, ok1 := strings.Cut(f, ":")
			i2 := strings.LastIndexByte(rest, ':')
			n, err := strconv.ParseInt(v, 10, 64)
			if !ok1 || i2 < 0 || err != nil {
				continue
			}
			name, counter := rest[:i2], rest[i2+1:]
			var by map[string]*Counts
			switch dim {
			case "model":
				by = out[i].Models
			case "provider":
				by = out[i].Providers
			case "client":
				by = out[i].Clients
			default:
				continue
			}
			c := by[name]
			if c == nil {
				c = new(Counts)
				by[name] = c
			}
			switch counter {
			case "requests":
				c.Requests += n
			case "tokens_in":
				c.TokensIn += n
			case "tokens_out":
				c.TokensOut += n
			case "cost_nano_usd":
				c.CostUSD += float64(n) / 1e9
			}
		}
	}
	return out, nil
}

// Total sums days by name.
func Total(days []DayUsage) DayUsage {
	t := DayUsage{Day: "total", Models: map[string]*Counts{}, Providers: map[string]*Counts{}, Clients: map[string]*Counts{}}
	add := func(into, from map[string]*Counts) {
		for n, c := range from {
			s := into[n]
			if s == nil {
				s = new(Counts)
				into[n] = s
			}
			s.Requests += c.Requests
			s.TokensIn += c.TokensIn
			s.TokensOut += c.TokensOut
			s.CostUSD += c.CostUSD
		}
	}
	for _, d := range days {
		add(t.Models, d.Models)
		add(t.Providers, d.Providers)
		add(t.Clients, d.Clients)
	}
	return t
}

// Names returns the keys of m sorted.
func Names(m map[string]*Counts) []string {
	out := make([]string, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// FlushUsage writes the usage summed so far now, instead of at the next interval (tests,
// and Close).
func (r *Redis) FlushUsage() {
	if r.up.Load() {
		r.flushUsage(r.ctx)
	}
}
