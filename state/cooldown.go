package state

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Cooldown is one target's or one provider key's cooldown, as instances share it.
type Cooldown struct {
	// Key is true for a provider key's cooldown, false for a target's.
	Key bool
	// ID is the catalog StateID (target) or KeyStateID (key): a hash, never a key.
	ID string
	// Until is the deadline in unix nanoseconds.
	Until int64
	// Class is the failure class that started it (selector.Class).
	Class uint8
}

func (c Cooldown) kind() string {
	if c.Key {
		return "k"
	}
	return "t"
}

// validID reports whether id can be a StateID: hex digits, so a message or a key never carries
// anything else into the local state.
func validID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// coolScript writes a cooldown only when none is in force (NX: the first failure sets the
// deadline, later ones never extend it) and publishes it only then, in one round trip.
var coolScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('PUBLISH', ARGV[3], ARGV[4])
  return 1
end
return 0`)

// Cooled shares a cooldown that just started locally. It never blocks: the publish is queued
// for the publisher, and dropped when the queue is full or Redis is away (the resynchronisation
// after a reconnect writes every local cooldown still in force). A closed backend hands it to
// the backend that shares its sticky store and was started last (its successor across a
// reload): the request that failed outlived its config.
func (r *Redis) Cooled(c Cooldown) {
	if r.closed.Load() {
		if next := r.sticky.current(); next != nil && next != r {
			next.enqueue(c)
			return
		}
	}
	r.enqueue(c)
}

// enqueue queues c for the publisher.
func (r *Redis) enqueue(c Cooldown) {
	if !validID(c.ID) || !r.up.Load() {
		r.dropped.Add(1)
		return
	}
	select {
	case r.queue <- c:
	default:
		r.dropped.Add(1)
	}
}

// publisher sends queued cooldowns in pipelined batches.
func (r *Redis) publisher() {
	defer r.wg.Done()
	batch := make([]Cooldown, 0, 256)
	for {
		select {
		case <-r.ctx.Done():
			return
		case c := <-r.queue:
			batch = append(batch[:0], c)
		}
	drain:
		for len(batch) < cap(batch) {
			select {
			case c := <-r.queue:
				batch = append(batch, c)
			default:
				break drain
			}
		}
		if !r.up.Load() {
			r.dropped.Add(uint64(len(batch)))
			continue
		}
		ctx, cancel := context.WithTimeout(r.ctx, r.opTimeout()+r.cfg.WriteTimeout*time.Duration(len(batch)/64))
		if err := r.writeCooldowns(ctx, batch); err != nil {
			r.failed(err)
		}
		cancel()
	}
}

// flushCooldowns writes what is left in the queue, once the publisher has stopped (Close).
func (r *Redis) flushCooldowns() {
	var batch []Cooldown
	for {
		select {
		case c := <-r.queue:
			batch = append(batch, c)
			continue
		default:
		}
		break
	}
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.opTimeout()+r.cfg.WriteTimeout*time.Duration(len(batch)/64))
	defer cancel()
	if err := r.writeCooldowns(ctx, batch); err != nil {
		r.dropped.Add(uint64(len(batch)))
	}
}

// flushEnds sends the ends waiting, once the syncer has stopped (Close); what Redis does not
// answer stays for the successor.
func (r *Redis) flushEnds() {
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), r.opTimeout()+r.cfg.WriteTimeout*time.Duration(r.PendingEnds()/64))
	defer cancel()
	_ = r.sendEnds(ctx)
}

// writeCooldowns runs coolScript for each cooldown still in force, in one pipeline.
func (r *Redis) writeCooldowns(ctx context.Context, cs []Cooldown) error {
	now := r.opt.Now().UnixNano()
	pipe := r.client.Pipeline()
	n := 0
	for _, c := range cs {
		ttl := (c.Until - now + int64(time.Millisecond) - 1) / int64(time.Millisecond)
		if ttl <= 0 {
			continue
		}
		val := strconv.FormatInt(c.Until, 10) + " " + strconv.Itoa(int(c.Class))
		msg := c.kind() + " " + c.ID + " " + val + " " + r.origin
		coolScript.Run(ctx, pipe, []string{r.key(cooldownKeys, c.kind(), ":", c.ID)}, val, ttl, r.key(channelName), msg)
		n++
	}
	if n == 0 {
		return nil
	}
	return r.execScripts(ctx, pipe, coolScript)
}

// execScripts runs a pipeline of script's calls.
func (r *Redis) execScripts(ctx context.Context, pipe redis.Pipeliner, script *redis.Script) error {
	cmds, err := pipe.Exec(ctx)
	if err != nil && isNoScript(err) {
		// Redis restarted and lost its script cache: load the script once and send again.
		if err := script.Load(ctx, r.client).Err(); err != nil {
			return err
		}
		pipe = r.client.Pipeline()
		for _, c := range cmds {
			_ = pipe.Process(ctx, c)
		}
		_, err = pipe.Exec(ctx)
	}
	return err
}

// isReplyError reports whether err is Redis's reply to a command that says nothing of the
// connection (see failed).
func isReplyError(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && !isConnError(re.Error())
}

func isNoScript(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT")
}

// MaxPendingEnds bounds the ended cooldowns a backend keeps while Redis has not had them
// (away, or not yet connected); an end beyond it is refused (ErrEndsFull) and its record in
// Redis lasts until its deadline.
const MaxPendingEnds = 16_384

// endScript deletes a cooldown's record if it still holds the deadline that was ended, and
// publishes the end only then: a record with another deadline is a cooldown that started
// apart from the one ended (a failure after the end), and stays.
var endScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v or string.match(v, '^%d+') ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[2], ARGV[3] .. ' ' .. v .. ' ' .. ARGV[4])
return 1`)

// ErrEndsFull is EndCooldowns's error when Redis is away and MaxPendingEnds ends already wait
// for it.
var ErrEndsFull = errors.New("too many ended cooldowns wait for the shared state")

// EndCooldowns shares cooldowns ended early (the admin API, a health check), each named by the
// deadline it ended (Until): their record in Redis is deleted, so that the next failure of
// those targets or keys is written and published again instead of being held back by the
// ended deadline's key, and the end is published, so that the other instances end them too
// (those that hold the same deadline). A record with another deadline is left alone: that
// cooldown started apart from the one ended.
//
// While Redis is away (or before the first connect) the ends are kept, at most MaxPendingEnds,
// and sent once it answers, before the resynchronisation writes or reads any cooldown, so that
// it cannot bring them back; the error says they wait (errAway) or that some were refused
// (ErrEndsFull). It waits at most the timeouts, and for a resynchronisation under way. A
// closed backend sends them through its successor, as Cooled does.
func (r *Redis) EndCooldowns(cs []Cooldown) error {
	if r.closed.Load() {
		if next := r.sticky.current(); next != nil && next != r {
			return next.endCooldowns(cs)
		}
	}
	return r.endCooldowns(cs)
}

func (r *Redis) endCooldowns(cs []Cooldown) error {
	full := !r.holdEnds(cs)
	if !r.up.Load() {
		if full {
			return ErrEndsFull
		}
		return errAway
	}
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	ctx, cancel := context.WithTimeout(r.ctx, r.opTimeout()+r.cfg.WriteTimeout*time.Duration(r.PendingEnds()/64))
	defer cancel()
	if err := r.sendEnds(ctx); err != nil {
		r.failed(err)
		return err
	}
	if full {
		return ErrEndsFull
	}
	return nil
}

// holdEnds adds cs to the ends to send, and reports false if the bound refused one.
func (r *Redis) holdEnds(cs []Cooldown) bool {
	now := r.opt.Now().UnixNano()
	r.endsMu.Lock()
	defer r.endsMu.Unlock()
	if r.ends == nil {
		r.ends = make(map[Cooldown]struct{})
	}
	ok, pruned := true, false
	for _, c := range cs {
		c.Class = 0
		if !validID(c.ID) || c.Until <= now {
			continue // a record whose deadline passed has expired in Redis too
		}
		if _, held := r.ends[c]; !held && len(r.ends) >= MaxPendingEnds && !pruned {
			pruned = true
			for e := range r.ends {
				if e.Until <= now {
					delete(r.ends, e)
				}
			}
		}
		if len(r.ends) >= MaxPendingEnds {
			if _, held := r.ends[c]; !held {
				ok = false
				continue
			}
		}
		r.ends[c] = struct{}{}
	}
	return ok
}

// takeEnds empties the ends to send and returns those still in force.
func (r *Redis) takeEnds() []Cooldown {
	now := r.opt.Now().UnixNano()
	r.endsMu.Lock()
	defer r.endsMu.Unlock()
	cs := make([]Cooldown, 0, len(r.ends))
	for c := range r.ends {
		if c.Until > now {
			cs = append(cs, c)
		}
	}
	r.ends = nil
	return cs
}

// PendingEnds counts the ended cooldowns waiting for Redis.
func (r *Redis) PendingEnds() int {
	r.endsMu.Lock()
	defer r.endsMu.Unlock()
	return len(r.ends)
}

// sendEnds runs endScript for each end waiting, in pipelines, and drops those Redis answered
// (an error reply to one command is an answer too: sending it again would not help, and the
// record expires at its deadline). What Redis did not answer waits for the next time. Each
// end is applied locally again (OnEnd): a resynchronisation that ran between the end and now
// may have read it back. The caller holds syncMu.
func (r *Redis) sendEnds(ctx context.Context) error {
	cs := r.takeEnds()
	for len(cs) > 0 {
		n := min(len(cs), 512)
		if err := r.writeEnds(ctx, cs[:n]); err != nil && !isReplyError(err) {
			r.holdEnds(cs)
			return err
		}
		for _, c := range cs[:n] {
			if r.opt.OnEnd != nil {
				r.opt.OnEnd(c)
			}
		}
		cs = cs[n:]
	}
	return nil
}

// writeEnds runs endScript for each of cs, in one pipeline.
func (r *Redis) writeEnds(ctx context.Context, cs []Cooldown) error {
	pipe := r.client.Pipeline()
	for _, c := range cs {
		endScript.Run(ctx, pipe, []string{r.key(cooldownKeys, c.kind(), ":", c.ID)},
			strconv.FormatInt(c.Until, 10), r.key(channelName), c.kind()+" "+c.ID, r.origin+" end")
	}
	return r.execScripts(ctx, pipe, endScript)
}

// parseCooldown reads "<until> <class>".
func parseCooldown(key bool, id, val string) (Cooldown, bool) {
	until, class, ok := strings.Cut(val, " ")
	if !ok || !validID(id) {
		return Cooldown{}, false
	}
	u, err := strconv.ParseInt(until, 10, 64)
	k, err2 := strconv.ParseUint(class, 10, 8)
	if err != nil || err2 != nil || u <= 0 {
		return Cooldown{}, false
	}
	return Cooldown{Key: key, ID: id, Until: u, Class: uint8(k)}, true
}

// parseMessage reads "<t|k> <id> <until> <class> <origin>", a cooldown's start, or the same
// and "end", its early end. (An instance of a version without ends skips an end: it has six
// fields.)
func parseMessage(s string) (c Cooldown, origin string, end, ok bool) {
	f := strings.Fields(s)
	if len(f) == 6 && f[5] == "end" {
		end, f = true, f[:5]
	}
	if len(f) != 5 || (f[0] != "t" && f[0] != "k") {
		return Cooldown{}, "", false, false
	}
	c, ok = parseCooldown(f[0] == "k", f[1], f[2]+" "+f[3])
	return c, f[4], end, ok
}

// apply hands a peer's cooldown to the router, if it is still in force.
func (r *Redis) apply(c Cooldown) {
	if r.opt.OnCooldown != nil && c.Until > r.opt.Now().UnixNano() {
		r.opt.OnCooldown(c)
	}
}

// applyEnd hands a peer's early end of a cooldown to the router, if the cooldown would still
// be in force.
func (r *Redis) applyEnd(c Cooldown) {
	if r.opt.OnEnd != nil && c.Until > r.opt.Now().UnixNano() {
		r.opt.OnEnd(c)
	}
}

// subscriber applies peers' cooldowns as they are published. go-redis reconnects and
// resubscribes by itself when the connection fails; every (re)subscription asks for a
// resynchronisation, since messages published while the connection was away are lost. A
// connection that goes silent without failing (a middlebox that dropped the flow: our writes
// still succeed, nothing comes back) is noticed by its unanswered ping, and replaced.
func (r *Redis) subscriber() {
	defer r.wg.Done()
	backoff := minBackoff
	pinged := false // a ping was sent and nothing came back since
	for r.ctx.Err() == nil {
		ps := r.pubsub()
		msg, err := ps.ReceiveTimeout(r.ctx, healthEvery)
		if err != nil {
			if r.ctx.Err() != nil {
				return
			}
			if isTimeout(err) {
				if pinged {
					pinged = false
					r.opt.Logger.Debug("shared state subscription silent: subscribing again on a new connection")
					r.resubscribe(ps)
					continue
				}
				// A quiet channel: make sure the connection is alive. A dead one fails the ping
				// and go-redis reconnects on the next receive; a silent one leaves it unanswered.
				pinged = ps.Ping(r.ctx) == nil
				continue
			}
			pinged = false
			select {
			case <-r.ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, maxBackoff)
			continue
		}
		backoff, pinged = minBackoff, false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				r.askResync()
			}
		case *redis.Message:
			switch c, origin, end, ok := parseMessage(m.Payload); {
			case !ok || origin == r.origin:
			case end:
				r.applyEnd(c)
			default:
				r.apply(c)
			}
		}
	}
}

// pubsub is the subscriber's current subscription.
func (r *Redis) pubsub() *redis.PubSub {
	r.psMu.Lock()
	defer r.psMu.Unlock()
	return r.ps
}

// resubscribe closes old and subscribes on a new connection, unless Close has begun.
func (r *Redis) resubscribe(old *redis.PubSub) {
	_ = old.Close()
	r.psMu.Lock()
	defer r.psMu.Unlock()
	if r.ctx.Err() == nil {
		r.ps = r.client.Subscribe(r.ctx, r.key(channelName))
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// syncer runs the resynchronisations that markUp and the subscriber ask for.
func (r *Redis) syncer() {
	defer r.wg.Done()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-r.resync:
		}
		if !r.up.Load() {
			continue // markUp asks again
		}
		if err := r.resynchronise(); err != nil {
			if r.ctx.Err() != nil {
				return
			}
			r.opt.Logger.Debug("shared state resynchronisation failed", zap.String("error", r.scrub(err.Error())))
			r.failed(err)
			continue
		}
		r.resyncs.Add(1)
	}
}

// resynchronise sends the ends of cooldowns Redis missed (so that what follows cannot bring
// them back), writes every local cooldown in force (a restarted Redis learns them again; SET
// NX keeps any deadline a peer wrote first) and the sticky ids Redis missed, then reads every
// shared cooldown, at most ResyncLimit of them, and applies those of peers.
func (r *Redis) resynchronise() error {
	timeout := 10 * time.Second
	ctx, cancel := context.WithTimeout(r.ctx, timeout)
	defer cancel()
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	if err := r.sendEnds(ctx); err != nil {
		return err
	}
	if r.opt.LocalCooldowns != nil {
		local := r.opt.LocalCooldowns(r.opt.Now().UnixNano())
		for len(local) > 0 {
			n := min(len(local), 512)
			if err := r.writeCooldowns(ctx, local[:n]); err != nil {
				return err
			}
			local = local[n:]
		}
	}
	if err := r.sticky.writeMissed(ctx, r); err != nil {
		return err
	}
	// ForEachMaster scans the masters of a cluster concurrently: the count is shared.
	var read atomic.Int64
	scan := func(ctx context.Context, c *redis.Client) error {
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, r.key(cooldownKeys, "*"), 512).Result()
			if err != nil {
				return err
			}
			if err := r.applyKeys(ctx, c, keys); err != nil {
				return err
			}
			n := read.Add(int64(len(keys)))
			if cursor = next; cursor == 0 || n >= int64(r.cfg.ResyncLimit) {
				return nil
			}
		}
	}
	switch c := r.client.(type) {
	case *redis.ClusterClient:
		return c.ForEachMaster(ctx, scan)
	case *redis.Client:
		return scan(ctx, c)
	}
	return nil
}

// applyKeys reads the cooldown keys and applies each.
func (r *Redis) applyKeys(ctx context.Context, c *redis.Client, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	pipe := c.Pipeline()
	gets := make([]*redis.StringCmd, len(keys))
	for i, k := range keys {
		gets[i] = pipe.Get(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return err
	}
	base := r.key(cooldownKeys)
	for i, k := range keys {
		val, err := gets[i].Result()
		if err != nil {
			continue // expired between SCAN and GET
		}
		rest := strings.TrimPrefix(k, base) // "t:<id>" or "k:<id>"
		if len(rest) < 3 || rest[1] != ':' || (rest[0] != 't' && rest[0] != 'k') {
			continue
		}
		if cd, ok := parseCooldown(rest[0] == 'k', rest[2:], val); ok {
			r.apply(cd)
		}
	}
	return nil
}
