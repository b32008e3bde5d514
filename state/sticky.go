package state

import (
	"context"
	"sync"
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
// The Redis key holds a hash of kind and id; the value is the owner, which callers must make a
// hash too (a key's StateID), never a key.
type RedisSticky struct {
	r     *Redis
	local Memory
	// missed are the writes Redis did not get (away, or failed), by id: true a Put, false a
	// Delete. The resynchronisation after a reconnect sends them, so that the other instances
	// find the ids this one made during an outage. Bounded by MaxMemoryEntries.
	mu     sync.Mutex
	missed map[stickyKey]bool
}

// Sticky returns the backend's Sticky store.
func (r *Redis) Sticky() *RedisSticky { return r.sticky }

func newRedisSticky(r *Redis) *RedisSticky {
	s := &RedisSticky{r: r}
	s.local.Now = r.opt.Now
	return s
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

// writeMissed sends the writes Redis missed: each id's owner, for what is left of its ttl, or
// its deletion. What is not written (an error) is kept for the next time.
func (s *RedisSticky) writeMissed(ctx context.Context) error {
	s.mu.Lock()
	missed := s.missed
	s.missed = nil
	s.mu.Unlock()
	if len(missed) == 0 {
		return nil
	}
	pipe := s.r.client.Pipeline()
	for k, put := range missed {
		if !put {
			pipe.Del(ctx, s.key(k.kind, k.id))
			continue
		}
		if owner, ttl, ok := s.local.entry(k); ok {
			pipe.Set(ctx, s.key(k.kind, k.id), owner, ttl)
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

func (s *RedisSticky) key(kind, id string) string {
	return s.r.key(stickyKeys, Hash(kind), ":", Hash(kind, id))
}

// Put records owner for (kind, id) for ttl, in Redis and locally.
func (s *RedisSticky) Put(kind, id, owner string, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	s.local.Put(kind, id, owner, ttl)
	if !s.r.up.Load() {
		s.miss(stickyKey{kind, id}, true)
		return
	}
	ctx, cancel := s.r.opContext()
	defer cancel()
	if err := s.r.client.Set(ctx, s.key(kind, id), owner, ttl).Err(); err != nil {
		s.miss(stickyKey{kind, id}, true)
		s.r.failed(err)
	}
}

// Get returns the owner of (kind, id).
func (s *RedisSticky) Get(kind, id string) (string, bool) {
	if s.r.up.Load() {
		ctx, cancel := s.r.opContext()
		owner, err := s.r.client.Get(ctx, s.key(kind, id)).Result()
		cancel()
		if err == nil {
			return owner, true
		}
		s.r.failed(err)
	}
	return s.local.Get(kind, id)
}

// Delete forgets (kind, id), in Redis and locally.
func (s *RedisSticky) Delete(kind, id string) {
	s.local.Delete(kind, id)
	if !s.r.up.Load() {
		s.miss(stickyKey{kind, id}, false)
		return
	}
	ctx, cancel := s.r.opContext()
	defer cancel()
	if err := s.r.client.Del(ctx, s.key(kind, id)).Err(); err != nil {
		s.miss(stickyKey{kind, id}, false)
		s.r.failed(err)
	}
}

// Interface guards
var (
	_ Sticky = (*Memory)(nil)
	_ Sticky = (*RedisSticky)(nil)
)
