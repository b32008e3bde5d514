package state

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// limitWindow is the rolling window rpm limits count over, as in package gate.
const limitWindow = time.Minute

// limitScript is an exact sliding-window log, the one gate.Limiter keeps in memory, for the
// whole fleet: a sorted set of admission times (µs). Expired admissions are dropped; while fewer
// than rpm remain, the request is admitted and recorded; otherwise the reply is the wait (µs)
// until the oldest admission leaves the window. One round trip, atomic in Redis.
var limitScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local win = tonumber(ARGV[2])
local rpm = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - win)
if redis.call('ZCARD', KEYS[1]) < rpm then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], math.floor(win / 1000) + 1000)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, math.ceil(tonumber(oldest[2]) + win - now))`)

// seq makes admission members unique within an instance (origin makes them unique across).
var seq atomic.Uint64

// Allow takes one request at now from the fleet-wide window id (a hash: see LimitID) of rpm
// requests a minute. When refused, retryAfter is the wait rounded up to whole seconds (at least
// 1 s), as gate.Limiter gives it. err is set when Redis could not answer within the timeout or
// is known to be away (then without a round trip): the caller counts locally instead.
func (r *Redis) Allow(id string, rpm int, now time.Time) (ok bool, retryAfter time.Duration, err error) {
	if !r.up.Load() {
		return false, 0, errAway
	}
	ctx, cancel := r.opContext()
	defer cancel()
	us := now.UnixMicro()
	member := r.origin + ":" + strconv.FormatUint(seq.Add(1), 36)
	wait, err := limitScript.Run(ctx, r.client, []string{r.key(limitKeys, id)},
		us, limitWindow.Microseconds(), rpm, member).Int64()
	if err != nil {
		r.failed(err)
		return false, 0, err
	}
	if wait == 0 {
		return true, 0, nil
	}
	return false, ceilSecond(time.Duration(wait) * time.Microsecond), nil
}

// LimitID is the id of a gateway key's window: a hash of its name, fingerprint and rpm, so a
// changed limit starts a new window and no key is ever part of it.
func LimitID(name, fingerprint string, rpm int) string {
	return Hash("limit", name, fingerprint, strconv.Itoa(rpm))
}

func ceilSecond(d time.Duration) time.Duration {
	s := (d + time.Second - 1) / time.Second
	return max(s, 1) * time.Second
}
