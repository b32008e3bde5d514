package gate

import (
	"sync"
	"time"
)

// MaxRPM bounds a key's RPM, since a Limiter keeps one timestamp per unit (8 MB at the bound).
const MaxRPM = 1_000_000

// window is the length of the rolling window that RPM counts over.
const window = int64(time.Minute)

// Limiter is one key's request-rate window: a sliding-window log of the last RPM admitted
// requests. Guarantee: for every t, at most RPM requests are admitted with now in [t, t+60s)
// (exact, with no burst allowance at window edges, unlike a token bucket, which can admit up to
// 2*RPM in a rolling minute); and a request is refused only while RPM requests have been
// admitted in the 60 s before it, so a key that pauses for 60 s gets its full RPM back.
//
// The log is a ring of RPM timestamps allocated once by NewLimiter (8 bytes per unit of RPM);
// Allow takes a short mutex and never allocates. A Limiter is safe for concurrent use.
type Limiter struct {
	mu   sync.Mutex
	ring []int64 // admission times, oldest at head once the ring has filled
	head int
	n    int   // entries in use, <= len(ring)
	last int64 // latest now seen, so the ring stays ordered
}

// NewLimiter returns a limiter for rpm requests per minute. rpm <= 0 means unlimited: the
// limiter then admits everything, as does a nil *Limiter. rpm above MaxRPM counts as MaxRPM.
func NewLimiter(rpm int) *Limiter {
	if rpm <= 0 {
		return &Limiter{}
	}
	rpm = min(rpm, MaxRPM)
	return &Limiter{ring: make([]int64, rpm)}
}

// RPM returns the limit the Limiter was made with (0: unlimited). A store that keeps Limiters
// across config reloads compares it with the new config to know when to replace one.
func (l *Limiter) RPM() int {
	if l == nil {
		return 0
	}
	return len(l.ring)
}

// Allow takes one request at now (unix nanoseconds). When refused it returns how long until a
// request would be admitted, rounded up to whole seconds and at least 1 s, ready for a
// Retry-After header. A now older than one already seen counts as that later time, so callers
// whose clocks were read a little out of order cannot reorder the log.
func (l *Limiter) Allow(now int64) (ok bool, retryAfter time.Duration) {
	if l == nil || len(l.ring) == 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if now < l.last {
		now = l.last
	}
	l.last = now
	if l.n < len(l.ring) {
		l.ring[(l.head+l.n)%len(l.ring)] = now
		l.n++
		return true, 0
	}
	oldest := l.ring[l.head]
	if wait := oldest + window - now; wait > 0 {
		return false, ceilSecond(wait)
	}
	l.ring[l.head] = now
	l.head++
	if l.head == len(l.ring) {
		l.head = 0
	}
	return true, 0
}

func ceilSecond(ns int64) time.Duration {
	s := (ns + int64(time.Second) - 1) / int64(time.Second)
	return time.Duration(max(s, 1)) * time.Second
}
