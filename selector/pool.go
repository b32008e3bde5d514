package selector

import (
	"math"
	"sync/atomic"
)

const (
	// A block summarises 64 consecutive members: when a scan saw all of them cooling it keeps
	// their earliest deadline, so later scans skip the block with one load. This bounds the
	// rescans Priority makes after a recovery to about n/64 loads.
	blockShift = 6
	blockSize  = 1 << blockShift

	// maxProbes bounds the quasi-random probes Weighted makes before a linear scan.
	maxProbes = 128

	// never is a deadline that is never reached.
	never = int64(math.MaxInt64)
)

// Member is one pool entry: the state of its target and the state of its key. Key is shared by
// every target of the same key, and nil when the provider has no key. A member is healthy when
// neither is cooling. Weight is used by Weighted; <= 0 means 1.
type Member struct {
	Target, Key *State
	Weight      int
}

// until returns the deadline before which the member cannot be healthy.
func (m *Member) until() int64 {
	u := m.Target.coolUntil.Load()
	if m.Key != nil {
		if k := m.Key.coolUntil.Load(); k > u {
			u = k
		}
	}
	return u
}

// prefixHint says that members [0, k) are all unhealthy before until.
type prefixHint struct {
	k     int
	until int64
}

// Pool hands out the next healthy member of one public model's targets. It is safe for
// concurrent use; selection takes no lock and, on its fast paths, allocates nothing.
//
// Every cache below holds a statement of the form "these members are unhealthy before T",
// built from deadlines a scan saw. Deadlines only move forward (State.Cool), so such a
// statement, once true, stays true: caches are only ever raised and need no invalidation.
type Pool struct {
	members  []Member
	cursor   *atomic.Uint64
	strategy Strategy
	// stride walks members in a quasi-random order (a step near n/phi, coprime with n) when the
	// cursor's member is unusable: a run of cooling neighbours (one provider's targets are
	// contiguous) is then left in O(1/healthy fraction) probes, and its share of traffic is
	// spread over the healthy members instead of all landing on the one after the run.
	stride uint64
	// sched is Weighted's order of member indices; nil when weights are all equal.
	sched       []uint32
	schedStride uint64
	// allUntil: no member is healthy before it.
	allUntil atomic.Int64
	// prefix is Priority's hint, so that a long cooling head of the list costs O(1) per call.
	prefix atomic.Pointer[prefixHint]
	// blocks[b]: members [b*64, b*64+64) are unhealthy before it.
	blocks []atomic.Int64
}

// NewPool builds a pool over a copy of members. cursor is owned by the caller (it lives in a
// store that survives config reloads, so rotation does not restart at member 0 on every
// reload); nil means the pool makes its own. A member with a nil Target gets a private State,
// and an unknown strategy means RoundRobin.
func NewPool(members []Member, s Strategy, cursor *atomic.Uint64) *Pool {
	ms := make([]Member, len(members))
	copy(ms, members)
	for i := range ms {
		if ms[i].Target == nil {
			ms[i].Target = new(State)
		}
		if ms[i].Weight <= 0 {
			ms[i].Weight = 1
		}
	}
	if cursor == nil {
		cursor = new(atomic.Uint64)
	}
	if s > Weighted {
		s = RoundRobin
	}
	p := &Pool{
		members:  ms,
		cursor:   cursor,
		strategy: s,
		stride:   coprimeStride(uint64(len(ms))),
		blocks:   make([]atomic.Int64, len(ms)>>blockShift),
	}
	if s == Weighted {
		p.sched = buildSchedule(ms)
		p.schedStride = coprimeStride(uint64(len(p.sched)))
	}
	return p
}

// Len returns the number of members.
func (p *Pool) Len() int { return len(p.members) }

// Strategy returns the pool's strategy.
func (p *Pool) Strategy() Strategy { return p.strategy }

// Next returns the index of the next healthy member that is not in tried, or -1 if none.
// now is unix nanos; tried may be nil.
func (p *Pool) Next(now int64, tried *Tried) int {
	i, _ := p.next(now, tried)
	return i
}

// next is Next that also reports how many members and blocks it examined, so tests can hold
// the selection to its cost bounds.
func (p *Pool) next(now int64, tried *Tried) (int, int) {
	if len(p.members) == 0 {
		return -1, 0
	}
	switch p.strategy {
	case Priority:
		return p.nextPriority(now, tried)
	case Weighted:
		if p.sched != nil {
			return p.nextWeighted(now, tried)
		}
	}
	return p.nextRoundRobin(now, tried)
}

// usable reports whether member i is healthy at now and not yet tried.
func (p *Pool) usable(i int, now int64, tried *Tried) bool {
	return p.members[i].until() <= now && !tried.Has(i)
}

func (p *Pool) nextRoundRobin(now int64, tried *Tried) (int, int) {
	c := p.cursor.Add(1) - 1
	n := uint64(len(p.members))
	r := c % n
	if p.usable(int(r), now, tried) {
		return int(r), 1
	}
	if now < p.allUntil.Load() {
		return -1, 1
	}
	// Alternate the walk's direction by lap so that, in a small pool, a cooling member's turns
	// go to both neighbours rather than always the same one.
	step := p.stride
	if (c/n)&1 == 1 {
		step = n - step
	}
	i, probes := p.walk(now, tried, r, step)
	return i, 1 + probes
}

// walk visits every member once, from start in steps of step (coprime with n), and returns
// the first usable one. When it saw every member cooling it raises allUntil.
func (p *Pool) walk(now int64, tried *Tried, start, step uint64) (int, int) {
	n := uint64(len(p.members))
	minU := never
	healthy := false
	i := start
	for k := range n {
		u := p.members[i].until()
		if u <= now {
			if !tried.Has(int(i)) {
				return int(i), int(k + 1)
			}
			healthy = true
		} else if u < minU {
			minU = u
		}
		if i += step; i >= n {
			i -= n
		}
	}
	// A member skipped only because it was tried is healthy: caching then would hide it from
	// the next request.
	if !healthy {
		raise(&p.allUntil, minU)
	}
	return -1, int(n)
}

func (p *Pool) nextWeighted(now int64, tried *Tried) (int, int) {
	c := p.cursor.Add(1) - 1
	l := uint64(len(p.sched))
	pos := c % l
	if i := int(p.sched[pos]); p.usable(i, now, tried) {
		return i, 1
	}
	if now < p.allUntil.Load() {
		return -1, 1
	}
	step := p.schedStride
	if (c/l)&1 == 1 {
		step = l - step
	}
	first := int(p.sched[pos])
	lim := min(l, maxProbes)
	for k := uint64(1); k < lim; k++ {
		if pos += step; pos >= l {
			pos -= l
		}
		if i := int(p.sched[pos]); p.usable(i, now, tried) {
			return i, int(k + 1)
		}
	}
	// So few members are usable that sampling missed them: find one for sure, in member order.
	i, probes := p.scanAll(now, tried, first)
	return i, int(lim) + probes
}

func (p *Pool) nextPriority(now int64, tried *Tried) (int, int) {
	n := len(p.members)
	start, bound := 0, never
	h := p.prefix.Load()
	if h != nil && now < h.until {
		start, bound = h.k, h.until
	}
	if start >= n {
		return -1, 1
	}
	if p.usable(start, now, tried) {
		return start, 1
	}
	if now < p.allUntil.Load() {
		return -1, 1
	}
	i, first, minU, probes := p.scanRange(now, tried, start, n)
	if first > 0 {
		hint := &prefixHint{k: first, until: min(bound, minU)}
		if h == nil || now >= h.until || first > h.k {
			// Losing this race only costs a later rescan: the winner's hint is true as well.
			p.prefix.CompareAndSwap(h, hint)
		}
		if first == n {
			raise(&p.allUntil, hint.until)
		}
	}
	return i, 1 + probes
}

// scanAll scans every member in order from start, wrapping, and returns the first usable one.
// When it saw every member cooling it raises allUntil.
func (p *Pool) scanAll(now int64, tried *Tried, start int) (int, int) {
	n := len(p.members)
	i, first, minU, probes := p.scanRange(now, tried, start, n)
	if i >= 0 {
		return i, probes
	}
	j, first2, minU2, probes2 := p.scanRange(now, tried, 0, start)
	if j >= 0 {
		return j, probes + probes2
	}
	if first == n && first2 == start {
		raise(&p.allUntil, min(minU, minU2))
	}
	return -1, probes + probes2
}

// scanRange scans members [lo, hi) in order. It returns the first usable member (or -1), the
// first healthy member whether tried or not (or hi), the earliest deadline among the members
// before that one, and the number of loads it made. Whole blocks are skipped or summarised.
func (p *Pool) scanRange(now int64, tried *Tried, lo, hi int) (idx, first int, minU int64, probes int) {
	first, minU = hi, never
	for i := lo; i < hi; {
		if i&(blockSize-1) != 0 || i+blockSize > hi {
			probes++
			if u := p.members[i].until(); u > now {
				if first == hi {
					minU = min(minU, u)
				}
			} else {
				first = min(first, i)
				if !tried.Has(i) {
					return i, first, minU, probes
				}
			}
			i++
			continue
		}
		b := &p.blocks[i>>blockShift]
		probes++
		if u := b.Load(); u > now {
			if first == hi {
				minU = min(minU, u)
			}
			i += blockSize
			continue
		}
		bmin, healthy := never, false
		for end := i + blockSize; i < end; i++ {
			probes++
			if u := p.members[i].until(); u > now {
				bmin = min(bmin, u)
				if first == hi {
					minU = min(minU, u)
				}
			} else {
				healthy = true
				first = min(first, i)
				if !tried.Has(i) {
					return i, first, minU, probes
				}
			}
		}
		if !healthy {
			raise(b, bmin)
		}
	}
	return -1, first, minU, probes
}

// Recovery returns the earliest unix-nanos time at which a member of the pool becomes healthy
// again (the later of its target's and key's deadlines), or 0 if some member is healthy now or
// the pool is empty. It is O(1) while the pool is known to be all cooling, which is when the
// handler asks (to set Retry-After after Next returned -1). It may be early, never late: a key
// that started cooling after the pool's last scan can hold a member past the cached time.
func (p *Pool) Recovery(now int64) int64 {
	if len(p.members) == 0 {
		return 0
	}
	if u := p.allUntil.Load(); u > now {
		return u
	}
	if i, _ := p.scanAll(now, nil, 0); i >= 0 {
		return 0
	}
	return p.allUntil.Load()
}

// raise moves a to v if v is later. Every value stored is a true bound, so keeping the
// latest one only saves work.
func raise(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// coprimeStride returns a step near n/phi that is coprime with n, so that stepping by it
// visits every index once, in a well-spread order.
func coprimeStride(n uint64) uint64 {
	if n < 3 {
		return 1
	}
	s := uint64(float64(n)/math.Phi + 0.5)
	for gcd(s, n) != 1 {
		s++ // stops at n-1 at the latest
	}
	return s
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// ForgetCaches drops every "unhealthy before" statement the pool cached, so members whose
// cooldown was ended early (State.EndCooldown) are considered again. Later scans rebuild the
// caches. A scan that races with it may cache an old deadline once more: the member is then
// skipped until that deadline, as it would have been.
func (p *Pool) ForgetCaches() {
	p.allUntil.Store(0)
	p.prefix.Store(nil)
	for i := range p.blocks {
		p.blocks[i].Store(0)
	}
}
