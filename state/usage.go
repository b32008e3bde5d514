package state

import (
	"context"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
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

// usageBuffer sums usage between flushes, so a request costs a map update, not a round trip.
type usageBuffer struct {
	mu sync.Mutex
	m  map[UsageKey]*usageDelta
}

func (b *usageBuffer) init() { b.m = make(map[UsageKey]*usageDelta) }

// AddUsage counts one finished request of a series: its tokens and cost in USD.
func (r *Redis) AddUsage(k UsageKey, in, out int64, costUSD float64) {
	b := &r.usage
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
// counter requests, tokens_in, tokens_out or cost_nano_usd.
var counters = [...]string{"requests", "tokens_in", "tokens_out", "cost_nano_usd"}

// flushUsage sends the summed counts in one transaction (HINCRBY per field, EXPIRE on the
// day's key). When it fails the counts are put back for the next flush; a reply lost after
// Redis applied the transaction counts that flush twice.
func (r *Redis) flushUsage(parent context.Context) {
	b := &r.usage
	b.mu.Lock()
	if len(b.m) == 0 {
		b.mu.Unlock()
		return
	}
	taken := b.m
	b.m = make(map[UsageKey]*usageDelta, len(taken))
	b.mu.Unlock()

	sums := make(map[string]int64)
	kept := make(map[UsageKey]float64) // the cost below one nano-USD, kept for the next flush
	for k, d := range taken {
		nano := math.Floor(d.nanoUSD)
		kept[k] = d.nanoUSD - nano
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
	key := r.key(usageKeys, r.opt.Now().UTC().Format(time.DateOnly))
	ctx, cancel := context.WithTimeout(parent, r.opTimeout()+r.cfg.WriteTimeout)
	defer cancel()
	pipe := r.client.TxPipeline()
	for f, v := range sums {
		pipe.HIncrBy(ctx, key, f, v)
	}
	pipe.Expire(ctx, key, r.cfg.UsageRetention)
	_, err := pipe.Exec(ctx)
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, d := range taken {
		if err == nil {
			d = &usageDelta{nanoUSD: kept[k]}
			if d.nanoUSD == 0 {
				continue
			}
		}
		if cur := b.m[k]; cur != nil {
			cur.requests += d.requests
			cur.in += d.in
			cur.out += d.out
			cur.nanoUSD += d.nanoUSD
		} else if len(b.m) < maxUsageSeries {
			b.m[k] = d
		}
	}
	if err != nil {
		r.failed(err)
	}
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
