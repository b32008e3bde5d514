package selector

// MaxAttempts bounds the capacity of Tried, and so the attempts one request may make.
const MaxAttempts = 16

// Tried is the set of member indices already tried in one request. It is fixed size and lives
// on the handler's stack, so a request allocates nothing for it; the zero value is empty.
type Tried struct {
	n   int
	idx [MaxAttempts]int
}

// Add puts i in the set. Negative indices (Next's "none"), duplicates and indices beyond
// MaxAttempts distinct entries are ignored.
func (t *Tried) Add(i int) {
	if i < 0 || t.n == MaxAttempts || t.Has(i) {
		return
	}
	t.idx[t.n] = i
	t.n++
}

// Has reports whether i is in the set. A nil *Tried is empty.
func (t *Tried) Has(i int) bool {
	if t == nil {
		return false
	}
	for _, j := range t.idx[:t.n] {
		if j == i {
			return true
		}
	}
	return false
}

// Len returns the number of distinct indices in the set.
func (t *Tried) Len() int {
	if t == nil {
		return 0
	}
	return t.n
}
