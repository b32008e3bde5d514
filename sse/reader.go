// Package sse is the streaming relay of the router: it frames an upstream's
// Server-Sent Events into whole events, filters the lines clients choke on,
// writes and flushes each event whole, captures the usage chunk and builds
// the terminal error event.
//
// Events leave the Reader in normal form, which every SDK measured in
// docs/clients.md accepts: lines end in "\n" only, no BOM, and every event
// ends with exactly one blank line.
package sse

import (
	"bytes"
	"errors"
	"io"
	"sync"
)

// ErrEventTooLarge is returned by Reader.Next when one event exceeds the
// Reader's bound; the stream cannot be relayed further.
var ErrEventTooLarge = errors.New("sse: event too large")

// errReleased guards against use after Release handed the buffer to another
// stream, which would otherwise corrupt that stream silently.
var errReleased = errors.New("sse: reader used after Release")

// errBadRead reports a source that broke the io.Reader contract; trusting
// its count would read outside the buffer.
var errBadRead = errors.New("sse: invalid Read count")

const (
	// defaultMaxEvent is generous because a single chunk can carry a whole
	// tool call's arguments or an image as base64.
	defaultMaxEvent = 8 << 20
	// initialBuf covers typical chat chunks (a few hundred bytes) many times
	// over while keeping idle streams cheap.
	initialBuf = 4 << 10
	// maxIdleBuf is the most a stream keeps after its big event passed;
	// beyond it the buffer shrinks back, so a long stream does not pin
	// megabytes. Only initialBuf-sized buffers go back to the pool, so that
	// every stream starts at 4 KiB.
	maxIdleBuf = 64 << 10
	// maxEmptyReads mirrors bufio: a source that keeps returning 0, nil is
	// broken, and spinning on it forever would hang the request.
	maxEmptyReads = 100
)

var bufPool = sync.Pool{New: func() any {
	b := make([]byte, initialBuf)
	return &b
}}

var bom = []byte("\xef\xbb\xbf")

// Reader frames an SSE byte stream into events. Not safe for concurrent use.
//
// It normalises in place in one buffer: normalising only ever removes bytes,
// so the event being built (buf[evStart:w]) never overtakes the raw bytes
// still to be read (buf[r:e]).
type Reader struct {
	src  io.Reader
	bufp *[]byte // kept so Release can return it to the pool without allocating
	buf  []byte
	max  int

	evStart, w int // normalised event in progress
	r, e       int // raw bytes not yet framed

	// Scan caches make framing linear even when a stream mixes line ends
	// (a bare-CR stream would otherwise rescan the buffer for '\n' per line).
	lfAt      int // index of the next '\n' at or after r, valid while >= r
	lfScanned int // no '\n' in buf[r:lfScanned]
	crScanned int // no '\r' in buf[r:crScanned]

	// keeping says the events from kept on stay in buf, one after another, while Next frames
	// the next one behind them (Keep).
	keeping bool
	kept    int

	started bool  // BOM check done
	skipLF  bool  // last line ended in '\r': a following '\n' belongs to it
	srcErr  error // error from src, acted on once the buffered bytes are framed
	err     error // sticky error returned by Next
}

// NewReader reads from src; maxEvent bounds one event's size (<= 0 means 8 MiB).
// Its buffer comes from a sync.Pool and starts small (4 KiB), growing only for
// big events.
func NewReader(src io.Reader, maxEvent int) *Reader {
	if maxEvent <= 0 {
		maxEvent = defaultMaxEvent
	}
	bp := bufPool.Get().(*[]byte)
	return &Reader{src: src, bufp: bp, buf: (*bp)[:cap(*bp)], max: maxEvent, lfAt: -1}
}

// Keep holds the event Next returned last, and every event Next returns after it, in the
// Reader's buffer until Kept: a caller that cannot tell what to do with an event before it saw
// the next ones reads on without copying. The kept events count against the Reader's bound,
// as if they were one event.
func (r *Reader) Keep() {
	if !r.keeping {
		r.keeping, r.kept = true, r.evStart
	}
}

// Kept ends Keep and returns the events it held, the last one Next returned included, one
// after another in normal form; nil when nothing is kept. It is valid until the next call of
// Next.
func (r *Reader) Kept() []byte {
	if !r.keeping {
		return nil
	}
	r.keeping = false
	return r.buf[r.kept:r.w]
}

// Release returns the buffer to the pool; the Reader must not be used after.
func (r *Reader) Release() {
	if r.bufp == nil {
		return
	}
	if cap(r.buf) == initialBuf {
		*r.bufp = r.buf
		bufPool.Put(r.bufp)
	}
	r.bufp, r.buf, r.src = nil, nil, nil
	r.err = errReleased
}

// Next returns the next event in normal form: every line ends with "\n" (CRLF,
// bare CR and LF are all accepted, including a CRLF split across reads), the
// event ends with exactly one blank line, a UTF-8 BOM at the very start of the
// stream is dropped and runs of blank lines produce no empty events. A final
// event that the stream ends without its blank line is returned terminated.
// The slice is valid until the next call. At the end of the stream: io.EOF. A
// read error from src (other than io.EOF) is returned as is; a partial event
// buffered at that moment is dropped because it is not known to be whole. An
// event over maxEvent bytes (counting its blank line): ErrEventTooLarge.
// Errors are sticky.
func (r *Reader) Next() ([]byte, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.keeping {
		r.evStart = r.w // framed right behind the kept events: normalising writes never pass r
	} else {
		r.shrink()
		r.evStart, r.w = r.r, r.r
	}
	empty := 0
	for {
		if ev, ok := r.frame(); ok {
			if len(ev) > r.max {
				r.err = ErrEventTooLarge
				return nil, r.err
			}
			return ev, nil
		}
		if r.srcErr != nil {
			return r.finish()
		}
		n, err := r.fill()
		if err != nil {
			r.err = err
			return nil, err
		}
		if n == 0 && r.srcErr == nil {
			if empty++; empty >= maxEmptyReads {
				r.err = io.ErrNoProgress
				return nil, r.err
			}
		} else {
			empty = 0
		}
	}
}

// frame consumes complete lines from buf[r:e] into the event in progress and
// reports whether a whole event is ready.
func (r *Reader) frame() ([]byte, bool) {
	if !r.started {
		avail := r.buf[r.r:r.e]
		if len(avail) < len(bom) && bytes.HasPrefix(bom, avail) && r.srcErr == nil {
			return nil, false // cannot tell a split BOM from data yet
		}
		if bytes.HasPrefix(avail, bom) {
			r.r += len(bom)
			r.evStart, r.w = r.r, r.r
		}
		r.started = true
	}
	for {
		if r.skipLF && r.r < r.e {
			if r.buf[r.r] == '\n' {
				r.r++
			}
			r.skipLF = false
		}
		lf := r.nextLF()
		limit := r.e
		if lf >= 0 {
			limit = lf
		}
		end, cr := -1, false
		if from := max(r.r, r.crScanned); from < limit {
			if i := bytes.IndexByte(r.buf[from:limit], '\r'); i >= 0 {
				end, cr = from+i, true
			} else {
				r.crScanned = limit
			}
		}
		if end < 0 {
			if lf < 0 {
				return nil, false
			}
			end = lf
		}
		n := end - r.r
		if n == 0 {
			// Blank line: it ends the event, or is one more of a run.
			r.r = end + 1
			r.skipLF = cr
			if r.w == r.evStart {
				if !r.keeping {
					r.evStart, r.w = r.r, r.r
				}
				continue
			}
			r.buf[r.w] = '\n' // w < r here: at least the line end was consumed
			r.w++
			return r.buf[r.evStart:r.w], true
		}
		if r.w != r.r {
			copy(r.buf[r.w:], r.buf[r.r:end])
		}
		r.w += n
		r.buf[r.w] = '\n'
		r.w++
		r.r = end + 1
		r.skipLF = cr
	}
}

// nextLF returns the index of the next '\n' in buf[r:e], or -1.
func (r *Reader) nextLF() int {
	if r.lfAt >= r.r {
		return r.lfAt
	}
	from := max(r.r, r.lfScanned)
	if i := bytes.IndexByte(r.buf[from:r.e], '\n'); i >= 0 {
		r.lfAt = from + i
		return r.lfAt
	}
	r.lfScanned = r.e
	r.lfAt = -1
	return -1
}

// fill reads more bytes into the buffer, first closing the gaps left by
// normalisation and finished events, then growing if the event needs it.
// It is only called when buf[r:e] holds no line end.
func (r *Reader) fill() (int, error) {
	if r.e == len(r.buf) {
		r.compact()
		if r.e == len(r.buf) {
			// Everything held is one event plus its unfinished line, which
			// will take at least a line end and the blank line more.
			if r.e+2 > r.max {
				return 0, ErrEventTooLarge
			}
			r.grow(min(2*len(r.buf), r.max))
		}
	}
	n, err := r.src.Read(r.buf[r.e:])
	if n < 0 || n > len(r.buf)-r.e {
		return 0, errBadRead
	}
	r.e += n
	if err != nil {
		r.srcErr = err
	}
	return n, nil
}

// compact moves the event in progress (after the kept events, if any) to the front and the
// raw bytes right behind it.
func (r *Reader) compact() {
	from := r.evStart
	if r.keeping {
		from = r.kept
	}
	if from == 0 && r.w == r.r {
		return
	}
	n := copy(r.buf, r.buf[from:r.w])
	m := copy(r.buf[n:], r.buf[r.r:r.e])
	r.kept -= from
	r.evStart -= from
	r.w, r.r, r.e = n, n, n+m
	// Nothing in the raw bytes was a line end, or fill would not run.
	r.lfAt, r.lfScanned, r.crScanned = -1, r.e, r.e
}

func (r *Reader) grow(size int) {
	nb := make([]byte, size)
	copy(nb, r.buf[:r.e])
	r.buf = nb
}

// shrink drops a buffer that grew for one big event once the stream is back
// to small events, so a long stream does not hold megabytes while idle.
func (r *Reader) shrink() {
	if len(r.buf) <= maxIdleBuf || r.e-r.r > initialBuf/2 {
		return
	}
	nb := make([]byte, initialBuf)
	r.e = copy(nb, r.buf[r.r:r.e])
	r.lfAt -= r.r
	r.lfScanned -= r.r
	r.crScanned -= r.r
	r.r = 0
	r.buf = nb
}

// finish handles the end of the source once every whole event is out.
func (r *Reader) finish() ([]byte, error) {
	if r.srcErr != io.EOF {
		// The partial event may be cut anywhere: relaying it as if whole
		// could turn a failure into a silent success.
		r.err = r.srcErr
		return nil, r.err
	}
	r.err = io.EOF
	r.started = true
	partial := r.e - r.r
	size := r.w - r.evStart + partial
	if size == 0 {
		return nil, io.EOF
	}
	if partial > 0 {
		size++
	}
	size++
	if size > r.max {
		r.err = ErrEventTooLarge
		return nil, r.err
	}
	if r.evStart+size > len(r.buf) {
		r.compact()
		if r.evStart+size > len(r.buf) {
			r.grow(r.evStart + size)
		}
	}
	if partial > 0 {
		r.w += copy(r.buf[r.w:], r.buf[r.r:r.e])
		r.buf[r.w] = '\n'
		r.w++
	}
	r.r = r.e
	r.buf[r.w] = '\n'
	r.w++
	return r.buf[r.evStart:r.w], nil
}
