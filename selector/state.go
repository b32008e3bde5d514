package selector

import "sync/atomic"

// State is the health of one target or one key. The zero value is healthy. It is safe for
// concurrent use and lock-free: every field is its own atomic.
//
// The cooldown deadline only ever grows (see Cool); Pool's caches depend on that, so nothing
// lowers it but EndCooldown, whose callers reset those caches (Pool.ForgetCaches).
type State struct {
	coolUntil atomic.Int64 // unix nanos; healthy at now when coolUntil <= now
	requests  atomic.Uint64
	failures  atomic.Uint64
	last      atomic.Uint64 // class<<32 | uint32(status), one word so a Snapshot never mixes two failures
	// cause is why the cooldown ending at cause.until started. It is written after the deadline,
	// so a reader that finds another deadline in coolUntil knows the cause is not yet written.
	cause atomic.Pointer[cooldown]
}

// cooldown is a deadline with the class of the failure that started it.
type cooldown struct {
	until  int64
	class  Class
	status int
}

// Snapshot is a copy of a State for status pages and the admin API.
type Snapshot struct {
	// Requests counts the attempts recorded, except those whose client went away.
	Requests uint64
	// Failures counts the attempts whose class was Retryable (the target's or key's fault).
	Failures uint64
	// LastClass is the class of the latest failure; Success when there was none.
	LastClass Class
	// LastStatus is the HTTP status of the latest failure; 0 when there was none or no reply.
	LastStatus int
	// CoolUntil is the cooldown deadline in unix nanos; the state is healthy at or after it.
	CoolUntil int64
}

// Cool marks the state cooling until `until` (unix nanos) if it is not cooling at `now`, and
// reports whether it started a new cooldown. A state that is still cooling keeps its deadline,
// so a flapping target recovers on time instead of being pushed back by every failure that
// raced with the first one. until <= now starts nothing. No goroutines, no timers.
func (s *State) Cool(now, until int64) (started bool) {
	if until <= now {
		return false
	}
	for {
		old := s.coolUntil.Load()
		if old > now {
			return false
		}
		// old <= now < until: the deadline only ever moves forward.
		if s.coolUntil.CompareAndSwap(old, until) {
			return true
		}
	}
}

// CoolFor is Cool that also records why the cooldown started, for CoolingCause.
func (s *State) CoolFor(now, until int64, cause Class) (started bool) {
	return s.CoolForStatus(now, until, cause, 0)
}

// CoolForStatus is CoolFor that also records the HTTP status of the failure (0: none), for
// CoolingStatus: a key refused with 401 differs from one out of quota (402, 429).
func (s *State) CoolForStatus(now, until int64, cause Class, status int) (started bool) {
	if started = s.Cool(now, until); started {
		s.cause.Store(&cooldown{until: until, class: cause, status: status})
	}
	return started
}

// CoolingStatus is CoolingCause with the HTTP status of the failure that started the
// cooldown (0 when it had none or it is not known).
func (s *State) CoolingStatus(now int64) (c Class, status int, ok bool) {
	until := s.coolUntil.Load()
	if until <= now {
		return Success, 0, false
	}
	if cd := s.cause.Load(); cd != nil && cd.until == until {
		return cd.class, cd.status, true
	}
	return Success, 0, false
}

// CoolingCause returns the class of the failure that started the cooldown in force at now.
// ok is false when the state is healthy at now, or the cooldown's cause is not known (it was
// started by Cool, or CoolFor has set the deadline and not yet the cause).
//
// Unlike Snapshot's LastClass, which is the latest failure whenever it happened, this says why
// the state is out of rotation now.
func (s *State) CoolingCause(now int64) (c Class, ok bool) {
	until := s.coolUntil.Load()
	if until <= now {
		return Success, false
	}
	if cd := s.cause.Load(); cd != nil && cd.until == until {
		return cd.class, true
	}
	return Success, false
}

// CoolUntil returns the cooldown deadline in unix nanos (0 if the state never cooled).
func (s *State) CoolUntil() int64 { return s.coolUntil.Load() }

// Cooling reports whether the state is cooling at now (unix nanos).
func (s *State) Cooling(now int64) bool { return s.coolUntil.Load() > now }

// Record counts one attempt's outcome. ClientGone is not counted at all: a client hanging up
// says nothing about the upstream. ClientError counts as a request, not as a failure.
func (s *State) Record(c Class, status int) {
	if c == ClientGone {
		return
	}
	s.requests.Add(1)
	if c.Retryable() {
		s.failures.Add(1)
		s.last.Store(uint64(c)<<32 | uint64(uint32(int32(status))))
	}
}

// Snapshot returns a copy of the counters and the deadline. The fields are read one by one,
// so under load Requests and Failures may come from slightly different instants.
func (s *State) Snapshot() Snapshot {
	last := s.last.Load()
	return Snapshot{
		Requests:   s.requests.Load(),
		Failures:   s.failures.Load(),
		LastClass:  Class(last >> 32),
		LastStatus: int(int32(uint32(last))),
		CoolUntil:  s.coolUntil.Load(),
	}
}

// EndCooldown ends the cooldown in force at now, as when an active health check proves its
// cause gone, and reports whether there was one. It is the one exception to "deadlines only
// grow": pools that cached the old deadline must be told with Pool.ForgetCaches, or they keep
// skipping the member until the old deadline (which is no worse than not ending it). A
// failure that races with it may start a new cooldown at once, as after any recovery.
func (s *State) EndCooldown(now int64) bool { return s.EndCooldownUntil(now) != 0 }

// EndCooldownUntil is EndCooldown that returns the deadline it ended, 0 when no cooldown was
// in force: the deadline names that cooldown to the other instances of a fleet.
func (s *State) EndCooldownUntil(now int64) (until int64) {
	for {
		old := s.coolUntil.Load()
		if old <= now {
			return 0
		}
		if s.coolUntil.CompareAndSwap(old, now) {
			return old
		}
	}
}
