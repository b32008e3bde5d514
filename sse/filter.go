package sse

import "bytes"

// Filter decides which lines of an event reach the client.
//
// The zero value suits OpenAI chat streams: comment lines (starting with ':')
// and "event:" lines are dropped; "data:", "id:" and "retry:" lines are kept.
// Anthropic /v1/messages and the Responses API need KeepEventNames, because
// the Anthropic SDKs silently skip events without a name. Lines with any
// other field name are always dropped: the SSE spec tells clients to ignore
// them, and a client that does not is better off never seeing them.
type Filter struct {
	KeepEventNames bool // keep "event:" lines
	KeepComments   bool // keep ":" comment lines
	// ToolCallsFinish makes Relay write an OpenAI chat chunk's finish_reason "stop" as
	// "tool_calls" when its choice streamed tool calls: for upstreams that end such a turn
	// with "stop", at which OpenAI clients' agents stop instead of running the tools.
	ToolCallsFinish bool
}

// Append appends the filtered event (still ending in a blank line) to dst and
// returns it; when no line survives, dst is returned unchanged (a
// comment-only keepalive becomes nothing). ev should be in the normal form
// Reader.Next returns; any other input is normalised on the way (blank lines
// inside it dropped, a missing terminator added), never passed on broken.
func (f Filter) Append(dst, ev []byte) []byte {
	stop, verbatim := f.scan(ev)
	if verbatim {
		return append(dst, ev...)
	}
	return f.appendFrom(dst, ev, stop)
}

// scan reports whether ev can go to the client as is: in normal form with
// every line kept. If not, ev[:stop] is the run of kept lines before the
// first one that needs work.
func (f Filter) scan(ev []byte) (stop int, verbatim bool) {
	for pos := 0; pos < len(ev); {
		i := bytes.IndexByte(ev[pos:], '\n')
		if i < 0 {
			return pos, false // unterminated: the client would never see it
		}
		if i == 0 {
			// The blank line is fine only as the end of a non-empty event.
			return pos, pos > 0 && pos+1 == len(ev)
		}
		if !f.keep(ev[pos : pos+i]) {
			return pos, false
		}
		pos += i + 1
	}
	return len(ev), false
}

// appendFrom appends ev[:stop] (kept lines) and then the kept lines of the
// rest, terminated by one blank line if anything was kept.
func (f Filter) appendFrom(dst, ev []byte, stop int) []byte {
	n0 := len(dst)
	dst = append(dst, ev[:stop]...)
	for pos := stop; pos < len(ev); {
		end := len(ev)
		if i := bytes.IndexByte(ev[pos:], '\n'); i >= 0 {
			end = pos + i
		}
		if line := ev[pos:end]; len(line) > 0 && f.keep(line) {
			dst = append(dst, line...)
			dst = append(dst, '\n')
		}
		pos = end + 1
	}
	if len(dst) > n0 {
		dst = append(dst, '\n')
	}
	return dst
}

// keep classifies one non-empty line by its field name.
func (f Filter) keep(line []byte) bool {
	if line[0] == ':' {
		return f.KeepComments
	}
	name := line
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name = line[:i]
	}
	switch string(name) {
	case "data", "id", "retry":
		return true
	case "event":
		return f.KeepEventNames
	}
	return false
}
