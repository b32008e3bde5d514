package sse

import (
	"bytes"
	"errors"
	"io"
)

// ErrMalformedEvent is returned by Relay for an event whose data is neither "[DONE]" nor one
// JSON value: every SDK fails on it with a parse error, so it is not relayed, and the stream
// is broken there.
var ErrMalformedEvent = errors.New("sse: event data is not JSON")

// Stats is what a relay saw.
type Stats struct {
	Events int   // events written to the client
	Bytes  int64 // bytes written to the client
	// Done is set by the normal end of a stream: "data: [DONE]", an
	// Anthropic message_stop or a Responses API response.completed event.
	Done bool
	// Usage is the raw JSON of the last non-null usage object (see Usage)
	// read from upstream, copied; nil if none. It is taken before the event
	// is written, so it counts what the upstream billed even if the client
	// is gone.
	Usage []byte
	// FirstUsage is the first usage object, copied, when later ones followed it: Anthropic
	// reports input tokens in message_start and output tokens in message_delta, so the last
	// alone would lose the input. Nil when there was at most one.
	FirstUsage []byte
	// ClientGone says the returned error came from w or flush, not from
	// the upstream: the client cannot be told anything more.
	ClientGone bool
}

// Relay writes first (already-read events in normal form, one after another, as
// Reader.Kept returns them; may be nil) and then every further event of r, each filtered, written whole with ONE Write
// call, and followed by flush() (nil means no flush). An event the filter
// empties is neither written nor flushed. An event whose data a client cannot
// parse (ErrMalformedEvent) ends the relay before it is written: the data is
// checked as JSON in one pass, not decoded. It returns when r ends (nil error
// on io.EOF), once the stream's terminator is written (Stats.Done: the answer
// is whole, and what an upstream sends after it is not relayed; the caller
// reads the upstream's end), or on the first read, write or flush error; a
// short write counts as io.ErrShortWrite. It never writes a partial event and never writes
// anything after an error: the caller decides the terminal error event
// (ErrorEvent), unless Stats.ClientGone says there is nobody to tell.
//
// Nothing is allocated per event: events whose lines all survive the filter
// are written straight from the Reader's buffer, and the others are built in
// one pooled output buffer, taken on the first such event.
func Relay(w io.Writer, flush func() error, r *Reader, f Filter, first []byte) (Stats, error) {
	var (
		st   Stats
		outp *[]byte
		// called and fixed serve f.ToolCallsFinish: the choices (by index) that streamed
		// tool calls, and the rewritten event.
		called uint64
		fixed  []byte
		// joined holds a multi-line event's data while it is checked.
		joined []byte
	)
	defer func() {
		if outp != nil && cap(*outp) == initialBuf {
			bufPool.Put(outp)
		}
	}()
	ev, first := cutEvent(first)
	for {
		if len(ev) > 0 {
			terminal, valid := inspect(ev, &joined)
			if !valid {
				return st, ErrMalformedEvent
			}
			if f.ToolCallsFinish {
				if out, ok := toolCallsFinish(fixed[:0], ev, &called); ok {
					ev, fixed = out, out
				}
			}
			st.Done = st.Done || terminal
			if u := Usage(ev); u != nil {
				if st.Usage != nil && st.FirstUsage == nil {
					st.FirstUsage = st.Usage
					st.Usage = nil
				}
				st.Usage = append(st.Usage[:0], u...)
			}
			p := ev
			if stop, verbatim := f.scan(ev); !verbatim {
				if outp == nil {
					outp = bufPool.Get().(*[]byte)
				}
				p = f.appendFrom((*outp)[:0], ev, stop)
				*outp = p // keep the grown buffer
			}
			if len(p) > 0 {
				n, err := w.Write(p)
				st.Bytes += int64(n)
				if err == nil && n != len(p) {
					err = io.ErrShortWrite
				}
				if err != nil {
					st.ClientGone = true
					return st, err
				}
				st.Events++
				if flush != nil {
					if err := flush(); err != nil {
						st.ClientGone = true
						return st, err
					}
				}
			}
			if st.Done {
				return st, nil
			}
		}
		if len(first) > 0 {
			ev, first = cutEvent(first)
			continue
		}
		var err error
		ev, err = r.Next()
		if err == io.EOF {
			return st, nil
		}
		if err != nil {
			return st, err
		}
	}
}

var blankLine = []byte("\n\n")

// cutEvent cuts the first event off events in normal form: it ends at the first blank line.
func cutEvent(events []byte) (ev, rest []byte) {
	if i := bytes.Index(events, blankLine); i >= 0 {
		return events[:i+2], events[i+2:]
	}
	return events, nil
}
