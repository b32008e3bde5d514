package wire

import "bytes"

// ToolCalls tells which call each tool call delta of an OpenAI chat stream belongs to, for the
// translators that turn such a stream into another dialect's. The zero value is ready; one per
// stream.
type ToolCalls struct {
	slot []int    // a delta's index -> its latest call, -1 before its first
	ids  [][]byte // each call's raw JSON id; nil when it began without one
}

// Call returns the call (numbered from 0 in the order the calls began) that the tool call
// delta tc belongs to, and begun when tc begins it. A delta with an index belongs to the
// latest call under that index, unless it carries another id: Ollama gives every parallel
// call of a turn index 0, each with its own id, and gluing their arguments would lose both.
// A delta without an index (some servers send none) belongs to the last call, unless it
// carries another id. ok is false for an index outside [0, max), or a call beyond max.
func (c *ToolCalls) Call(tc []byte, max int) (call int, begun, ok bool) {
	id := Key(tc, "id")
	if !IsString(id) || EmptyString(id) {
		id = nil
	}
	var idx int
	if raw := Key(tc, "index"); raw != nil {
		idx = int(Int(raw))
	} else if len(c.slot) == 0 || !c.same(c.slot[len(c.slot)-1], id) {
		idx = len(c.slot)
	} else {
		idx = len(c.slot) - 1
	}
	if idx < 0 || idx >= max {
		return 0, false, false
	}
	for idx >= len(c.slot) {
		c.slot = append(c.slot, -1)
	}
	if call = c.slot[idx]; call >= 0 && c.same(call, id) {
		return call, false, true
	}
	if len(c.ids) >= max {
		return 0, false, false
	}
	call = len(c.ids)
	c.slot[idx] = call
	c.ids = append(c.ids, bytes.Clone(id))
	return call, true, true
}

// same reports whether call has the raw id, or one of the two has none to compare; a call of
// -1 (none yet) is the same as any.
func (c *ToolCalls) same(call int, id []byte) bool {
	return call < 0 || id == nil || c.ids[call] == nil || bytes.Equal(c.ids[call], id)
}
