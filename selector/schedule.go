package selector

// maxSchedule caps Weighted's schedule (4 bytes an entry). Bigger weight sums are scaled down
// to fit, which keeps the proportions to within one slot per member.
const maxSchedule = 1 << 20

// buildSchedule returns the order in which Weighted visits members: member i appears w_i times
// (weights reduced by their GCD), its k-th turn placed at (k+1/2)/w_i of the cycle and the
// turns of all members merged by that position. This interleaves smoothly: weights 5:1:1 give
// 0 0 0 1 2 0 0, never five 0s in a row. It returns nil when the weights
// are all equal (plain round robin does the same job without the table) or when there are more
// members than schedule slots.
func buildSchedule(ms []Member) []uint32 {
	if len(ms) > maxSchedule || len(ms) < 2 {
		return nil
	}
	var g uint64
	equal := true
	for _, m := range ms {
		g = gcd(uint64(m.Weight), g)
		equal = equal && m.Weight == ms[0].Weight
	}
	if equal {
		return nil
	}
	ws := make([]uint64, len(ms))
	fsum := 0.0 // float: a sum of huge int weights would overflow
	for i, m := range ms {
		ws[i] = uint64(m.Weight) / g
		fsum += float64(ws[i])
	}
	if fsum > maxSchedule {
		// Leave one slot a member for the max(1, ...) round-ups.
		scale := float64(maxSchedule-len(ms)) / fsum
		for i := range ws {
			ws[i] = max(1, uint64(float64(ws[i])*scale))
		}
	}
	var sum uint64
	for _, w := range ws {
		sum += w
	}
	// Merge the members' turns with a min-heap keyed by position: O(len * log n) time and
	// O(n) scratch, where sorting every turn would need a scratch entry per slot.
	h := make(turnHeap, len(ws))
	for i, w := range ws {
		h[i] = turn{num: 1, den: 2 * w, idx: uint32(i)}
	}
	h.init()
	sched := make([]uint32, 0, sum)
	for len(h) > 0 {
		t := &h[0]
		sched = append(sched, t.idx)
		if t.num += 2; t.num < t.den {
			h.down(0)
		} else {
			h.pop()
		}
	}
	return sched
}

// turn is a member's next turn in the schedule, at position num/den of the cycle.
type turn struct {
	num, den uint64
	idx      uint32
}

// before orders turns by position (cross-multiplied; both sides stay below 2^43), then index.
func (a *turn) before(b *turn) bool {
	l, r := a.num*b.den, b.num*a.den
	return l < r || l == r && a.idx < b.idx
}

// turnHeap is a binary min-heap; container/heap would box every turn in an interface.
type turnHeap []turn

func (h turnHeap) init() {
	for i := len(h)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h turnHeap) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && h[r].before(&h[l]) {
			m = r
		}
		if !h[m].before(&h[i]) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}

func (h *turnHeap) pop() {
	old := *h
	n := len(old) - 1
	old[0] = old[n]
	*h = old[:n]
	h.down(0)
}
