package reqbody

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
)

// ErrTooLarge means the body (or its Content-Length) exceeds the cap; the
// handler answers 413.
var ErrTooLarge = errors.New("request body too large")

// Size classes are powers of two from 4 KiB to 64 MiB: a body gets a buffer at
// most twice its size, and buffers of one class are interchangeable. Larger
// bodies get a plain allocation that is left to the garbage collector.
const (
	minClassShift = 12
	maxClassShift = 26
	numClasses    = maxClassShift - minClassShift + 1
)

var pools [numClasses]sync.Pool

// pooled is what the pools hold: a pointer, so Put does not allocate.
type pooled struct {
	buf   []byte
	class int // -1: not pooled
	// gen changes on every release so a stale or repeated release func
	// cannot give back a buffer that another request owns by then.
	gen atomic.Uint32
}

func noRelease() {}

// getBuf returns a buffer of capacity >= size.
func getBuf(size int64) *pooled {
	for c := range numClasses {
		if size <= 1<<(c+minClassShift) {
			if p, _ := pools[c].Get().(*pooled); p != nil {
				return p
			}
			return &pooled{buf: make([]byte, 0, 1<<(c+minClassShift)), class: c}
		}
	}
	return &pooled{buf: make([]byte, 0, size), class: -1}
}

func putBuf(p *pooled) {
	if p.class >= 0 {
		pools[p.class].Put(p)
	}
}

// maxEmptyReads bounds Reads that return neither data nor an error, which
// io.Reader discourages, so a broken reader cannot spin forever.
const maxEmptyReads = 100

// maxPresize is the largest buffer a Content-Length sizes before its bytes arrive: a client
// that announces max_body and sends nothing must not hold max_body of memory for as long as
// body_timeout lets it wait. Chat bodies are mostly below it; a larger body grows its buffer
// as it arrives, doubling, so it costs at most a few copies of itself.
const maxPresize = 64 << 10

// ReadLimited reads r whole into a pooled buffer, failing with ErrTooLarge
// as soon as more than max bytes arrive: it never reads more than max+1
// bytes. contentLength (-1 if unknown) sizes the buffer in one go up to
// maxPresize, and one above max is refused before anything is read; it is
// only a hint, so a body longer or shorter than announced is still measured
// by what arrives.
// Errors from r are returned as they are. The returned release func (never
// nil) gives the buffer back: call it once the request is fully done,
// retries included, or hand it to NewLease. The bytes must not be used after.
func ReadLimited(r io.Reader, contentLength int64, max int64) ([]byte, func(), error) {
	buf, p, err := readPooled(r, contentLength, max)
	if err != nil {
		return nil, noRelease, err
	}
	gen := p.gen.Load()
	return buf, func() {
		if p.gen.CompareAndSwap(gen, gen+1) {
			putBuf(p)
		}
	}, nil
}

// ReadLeased is ReadLimited with the buffer under a new Lease, held once by the
// caller: the buffer goes back to its pool after the lease's last holder is
// done. It costs one allocation less than NewLease over ReadLimited's release
// func. On error the lease is nil.
func ReadLeased(r io.Reader, contentLength int64, max int64) ([]byte, *Lease, error) {
	buf, p, err := readPooled(r, contentLength, max)
	if err != nil {
		return nil, nil, err
	}
	l := &Lease{pooled: p, gen: p.gen.Load()}
	l.refs.Store(1)
	return buf, l, nil
}

// readPooled reads r as ReadLimited says, into the pooled buffer p; p is given back on error.
func readPooled(r io.Reader, contentLength int64, max int64) ([]byte, *pooled, error) {
	if max < 0 {
		max = 0
	}
	if contentLength > max {
		return nil, nil, ErrTooLarge
	}
	size := int64(1) << minClassShift
	if contentLength >= 0 {
		size = min(contentLength+1, maxPresize) // +1 so the final EOF needs no bigger buffer
	}
	p := getBuf(size)
	limit := max + 1
	buf := p.buf[:0]
	empty := 0
	for {
		if len(buf) == cap(buf) {
			// The announced length was too short, or unknown: move up a class.
			q := getBuf(int64(cap(buf)) * 2)
			q.buf = append(q.buf[:0], buf...)
			putBuf(p)
			p, buf = q, q.buf
		}
		end := int64(cap(buf))
		if end > limit {
			end = limit
		}
		n, err := r.Read(buf[len(buf):end])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > max {
			putBuf(p)
			return nil, nil, ErrTooLarge
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			putBuf(p)
			return nil, nil, err
		}
		if n > 0 {
			empty = 0
		} else if empty++; empty >= maxEmptyReads {
			putBuf(p)
			return nil, nil, io.ErrNoProgress
		}
	}
	p.buf = buf[:0]
	return buf, p, nil
}
