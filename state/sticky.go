package state

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Sticky remembers which owner (a provider key's StateID) holds an object a client created
// through the router: a file, a batch, a stored response. kind names the sort of object, id is
// the upstream's id for it. Entries expire after their ttl.
type Sticky interface {
	Put(kind, id, owner string, ttl time.Duration)
	Get(kind, id string) (owner string, ok bool)
	Delete(kind, id string)
}

// MaxMemoryEntries bounds a Memory store; a Put beyond it first drops expired entries, then
// any one entry.
const MaxMemoryEntries = 100_000

// Memory is an in-process Sticky: the single-instance default, and the fallback of
// RedisSticky while Redis is away. The zero value is ready; it is safe for concurrent use.
type Memory struct {
	mu sync.Mutex
	m  map[stickyKey]memEntry
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

type stickyKey struct{ kind, id string }

type memEntry struct {
	owner   string
	expires int64
}

func (m *Memory) now() int64 {
	if m.Now != nil {
		return m.Now().UnixNano()
	}
	return time.Now().UnixNano()
}

// Put records owner for (kind, id) for ttl.
func (m *Memory) Put(kind, id, owner string, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = make(map[stickyKey]memEntry)
	}
	k := stickyKey{kind, id}
	if _, ok := m.m[k]; !ok && len(m.m) >= MaxMemoryEntries {
		for k2, e := range m.m {
			if e.expires <= now {
				delete(m.m, k2)
			}
		}
		for k2 := range m.m {
			if len(m.m) < MaxMemoryEntries {
				break
			}
			delete(m.m, k2)
		}
	}
	m.m[k] = memEntry{owner: owner, expires: now + int64(ttl)}
}

// Get returns the owner of (kind, id), if it has one that has not expired.
func (m *Memory) Get(kind, id string) (string, bool) {
	owner, _, ok := m.entry(stickyKey{kind, id})
	return owner, ok
}

// entry is k's owner and remaining ttl, if it has not expired.
func (m *Memory) entry(k stickyKey) (owner string, ttl time.Duration, ok bool) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.m[k]
	if !ok || e.expires <= now {
		return "", 0, false
	}
	return e.owner, time.Duration(e.expires - now), true
}

// Delete forgets (kind, id).
func (m *Memory) Delete(kind, id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, stickyKey{kind, id})
}

// RedisSticky is a Sticky shared by the fleet: every entry is written to Redis (a key per id,
// holding the owner, with the ttl as its TTL) and to a local Memory. Get asks Redis, and the
// local Memory when Redis does not know the id or is away, so ids made by this instance keep
// working through an outage; those writes reach Redis after the reconnect. Each call waits at
// most the backend's write and read timeouts.
//
// It talks to the backend started last (Options.Sticky): the backends that replace one
// another across config reloads share one, so an id recorded by a request that outlived its
// config reaches Redis through the new backend, and the local copy outlives the reload.
//
// The Redis key holds a hash of kind and id; the value is the owner, which callers must make a
// hash too (a key's StateID), never a key.
type RedisSticky struct {
	// cur is the backend started last of those not closed (started, under mu), nil when none
	// is: a new config's start and a failed one's rollback both leave the right one.
	cur     atomic.Pointer[Redis]
	started []*Redis
	local   Memory
	// missed are the writes Redis did not get (away, or failed), by id: true a Put, false a
	// Delete. The resynchronisation after a reconnect sends them, so that the other instances
	// find the ids this one made during an outage. Bounded by MaxMemoryEntries.
	mu     sync.Mutex
	missed map[stickyKey]bool
}

// NewSticky returns a fleet Sticky store with no backend yet; now is its clock (nil:
// time.Now).
func NewSticky(now func() time.Time) *RedisSticky {
	s := new(RedisSticky)
	s.local.Now = now
	return s
}

// Sticky returns the backend's Sticky store.
func (r *Redis) Sticky() *RedisSticky { return r.sticky }

// attach makes r, just started, the backend.
func (s *RedisSticky) attach(r *Redis) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started = append(s.started, r)
	s.cur.Store(r)
}

// detach drops r, closing, and goes back to the backend started before it if r was current.
func (s *RedisSticky) detach(r *Redis) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, b := range s.started {
		if b == r {
			s.started = append(s.started[:i], s.started[i+1:]...)
			break
		}
	}
	if s.cur.Load() == r {
		var last *Redis
		if n := len(s.started); n > 0 {
			last = s.started[n-1]
		}
		s.cur.Store(last)
	}
}

// current is the backend started last of those not closed, nil when none is. A closed
// backend hands it the cooldowns it is told of (Cooled, EndCooldowns).
func (s *RedisSticky) current() *Redis { return s.cur.Load() }

// backend is the backend to send to, nil while none is up.
func (s *RedisSticky) backend() *Redis {
	if r := s.cur.Load(); r != nil && r.up.Load() {
		return r
	}
	return nil
}

// miss records a write that Redis did not get.
func (s *RedisSticky) miss(k stickyKey, put bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.missed == nil {
		s.missed = make(map[stickyKey]bool)
	}
	if _, ok := s.missed[k]; ok || len(s.missed) < MaxMemoryEntries {
		s.missed[k] = put
	}
}

// writeMissed sends the writes Redis missed through r: each id's owner, for what is left of
// its ttl, or its deletion. What is not written (an error) is kept for the next time.
func (s *RedisSticky) writeMissed(ctx context.Context, r *Redis) error {
	s.mu.Lock()
	missed := s.missed
	s.missed = nil
	s.mu.Unlock()
	if len(missed) == 0 {
		return nil
	}
	pipe := r.client.Pipeline()
	for k, put := range missed {
		if !put {
			pipe.Del(ctx, stickyRedisKey(r, k))
			continue
		}
		if owner, ttl, ok := s.local.entry(k); ok {
			pipe.Set(ctx, stickyRedisKey(r, k), owner, ttl)
		}
	}
	_, err := pipe.Exec(ctx)
	if err == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.missed == nil {
		s.missed = make(map[stickyKey]bool)
	}
	for k, put := range missed {
		if _, newer := s.missed[k]; !newer && len(s.missed) < MaxMemoryEntries {
			s.missed[k] = put
		}
	}
	return err
}

func stickyRedisKey(r *Redis, k stickyKey) string {
	return r.key(stickyKeys, Hash(k.kind), ":", Hash(k.kind, k.id))
}

// Put records owner for (kind, id) for ttl, in Redis and locally.
func (s *RedisSticky) Put(kind, id, owner string, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	k := stickyKey{kind, id}
	s.local.Put(kind, id, owner, ttl)
	r := s.backend()
	if r == nil {
		s.miss(k, true)
		return
	}
	ctx, cancel := r.opContext()
	defer cancel()
	if err := r.client.Set(ctx, stickyRedisKey(r, k), owner, ttl).Err(); err != nil {
		s.miss(k, true)
		r.failed(err)
	}
}

// Get returns the owner of (kind, id).
func (s *RedisSticky) Get(kind, id string) (string, bool) {
	if r := s.backend(); r != nil {
		ctx, cancel := r.opContext()
		owner, err := r.client.Get(ctx, stickyRedisKey(r, stickyKey{kind, id})).Result()
		cancel()
		if err == nil {
			return owner, true
		}
		r.failed(err)
	}
	return s.local.Get(kind, id)
}

// Delete forgets (kind, id), in Redis and locally.
func (s *RedisSticky) Delete(kind, id string) {
	k := stickyKey{kind, id}
	s.local.Delete(kind, id)
	r := s.backend()
	if r == nil {
		s.miss(k, false)
		return
	}
	ctx, cancel := r.opContext()
	defer cancel()
	if err := r.client.Del(ctx, stickyRedisKey(r, k)).Err(); err != nil {
		s.miss(k, false)
		r.failed(err)
	}
}

// Interface guards
var (
	_ Sticky = (*Memory)(nil)
	_ Sticky = (*RedisSticky)(nil)
)
