package llmrouter

import (
	"strings"
	"sync"
	"time"
)

// Sticky ids. A file, a batch or a stored response lives at one provider key: the one that
// created it. The router records, for every such id it saw created, its owner (the provider's
// name and the key's state id, a hash: never the key), and routes every later call on that id
// there. The store is an interface so that a fleet can share it (a Redis backend); the default
// keeps the ids in the process, across config reloads.

// The sticky kinds.
const (
	stickyFile     = "file"
	stickyBatch    = "batch"
	stickyResponse = "response"
)

// stickyStore maps (kind, id) to the owner that holds it. Implementations are safe for
// concurrent use. Put replaces an existing owner; an entry past its ttl is gone. Owners are
// strings made by stickyOwner.String, with no secret in them, so a shared backend may store
// them as they are.
type stickyStore interface {
	Put(kind, id, owner string, ttl time.Duration)
	Get(kind, id string) (owner string, ok bool)
	Delete(kind, id string)
}

// stickyTTL is how long an id is remembered after it was created: OpenAI keeps stored
// responses for 30 days, and files and batches need their id as long as they exist.
const stickyTTL = 30 * 24 * time.Hour

// stickyLimit bounds the ids kept in memory per kind; beyond it the oldest is dropped first.
const stickyLimit = 100_000

// stickyIDs is the process's store: package-level, so every config (and every reload) of the
// router shares it, as cooldowns are shared through reloadStore.
var stickyIDs stickyStore = newMemorySticky(stickyLimit, time.Now)

// memorySticky is the in-process stickyStore: a map per kind with an insertion-ordered ring
// for eviction, bounded by limit entries per kind.
type memorySticky struct {
	mu    sync.Mutex
	limit int
	now   func() time.Time
	kinds map[string]*stickyKind
}

type stickyKind struct {
	ids map[string]stickyEntry
	// order holds ids oldest first; an id deleted or replaced stays in it until reached, and is
	// skipped then by its seq.
	order []stickySeq
	seq   uint64
}

type stickyEntry struct {
	owner   string
	expires int64
	seq     uint64
}

type stickySeq struct {
	id  string
	seq uint64
}

func newMemorySticky(limit int, now func() time.Time) *memorySticky {
	return &memorySticky{limit: limit, now: now, kinds: make(map[string]*stickyKind)}
}

func (m *memorySticky) Put(kind, id, owner string, ttl time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := m.kinds[kind]
	if k == nil {
		k = &stickyKind{ids: make(map[string]stickyEntry)}
		m.kinds[kind] = k
	}
	k.seq++
	k.ids[id] = stickyEntry{owner: owner, expires: m.now().Add(ttl).UnixNano(), seq: k.seq}
	k.order = append(k.order, stickySeq{id, k.seq})
	for len(k.ids) > m.limit {
		k.dropOldest()
	}
	if len(k.order) > 2*m.limit+16 {
		k.compact()
	}
}

// dropOldest forgets the oldest live id.
func (k *stickyKind) dropOldest() {
	for len(k.order) > 0 {
		o := k.order[0]
		k.order = k.order[1:]
		if e, ok := k.ids[o.id]; ok && e.seq == o.seq {
			delete(k.ids, o.id)
			return
		}
	}
}

// compact drops the order entries of ids deleted or replaced since.
func (k *stickyKind) compact() {
	live := k.order[:0:0]
	for _, o := range k.order {
		if e, ok := k.ids[o.id]; ok && e.seq == o.seq {
			live = append(live, o)
		}
	}
	k.order = live
}

func (m *memorySticky) Get(kind, id string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := m.kinds[kind]
	if k == nil {
		return "", false
	}
	e, ok := k.ids[id]
	if !ok {
		return "", false
	}
	if e.expires <= m.now().UnixNano() {
		delete(k.ids, id)
		return "", false
	}
	return e.owner, true
}

func (m *memorySticky) Delete(kind, id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if k := m.kinds[kind]; k != nil {
		delete(k.ids, id)
	}
}

// stickyOwner is the provider key an id lives at: the provider's name and the key's state id
// (catalog.Target.KeyStateID, a hash; "" for a keyless provider); and the gateway key (its
// name, "" without auth) that made it: only that client may use the id.
type stickyOwner struct {
	provider, keyState, client string
}

func ownerOf(t *target, client string) stickyOwner {
	return stickyOwner{t.Provider.Name, t.KeyStateID, client}
}

// String is the owner as the store keeps it. Provider names and state ids hold no '/'.
func (o stickyOwner) String() string { return o.provider + "/" + o.keyState + "/" + o.client }

func parseOwner(s string) stickyOwner {
	p, rest, _ := strings.Cut(s, "/")
	k, c, _ := strings.Cut(rest, "/")
	return stickyOwner{p, k, c}
}

// lookupSticky is the owner of an id the client made; false for an id the router does not
// know, and for one another gateway key made, which the client is told does not exist.
func (h *Handler) lookupSticky(kind, id, client string) (stickyOwner, bool) {
	s, ok := h.stickyStore().Get(kind, id)
	if !ok {
		return stickyOwner{}, false
	}
	o := parseOwner(s)
	return o, o.client == client
}

// holds reports whether t uses the owner's provider and key.
func (o *stickyOwner) holds(t *target) bool {
	return t.Provider.Name == o.provider && t.KeyStateID == o.keyState
}
