package reqbody

import (
	"bytes"
	"errors"
	"io"
	"sync/atomic"

	"github.com/llmrouter/caddy-llm-router/internal/jsonstr"
)

// streamOptionsUsage asks OpenAI-style upstreams for a final usage chunk, so
// streamed requests can be metered like buffered ones.
var streamOptionsUsage = []byte(`,"stream_options":{"include_usage":true}`)

// ErrReleased is returned by a reader whose body buffer was already given
// back (read after Close, or a Reader made after the Lease ended).
var ErrReleased = errors.New("reqbody: body buffer already released")

// Body is a request body made of byte slices sent in order, without copying
// the original. It is immutable; hand each upstream attempt its own Reader.
type Body struct {
	parts [5][]byte
	n     int64
	lease *Lease
}

// Rewrite returns b with the model value replaced by the JSON-quoted
// upstreamModel. When includeUsage is set, f.Stream is true and the client
// sent no "stream_options", it also inserts
// `,"stream_options":{"include_usage":true}` before the closing '}'.
// f must come from Scan(b). b is shared, not copied: it must stay unchanged
// while the Body or any of its readers is in use.
//
// A body without a model (f.ModelEnd 0: Scan's ErrNoModel, for a request whose URL names the
// model) gets one as its first member.
func Rewrite(b []byte, f Fields, upstreamModel string, includeUsage bool) Body {
	return RewriteQuoted(b, f, jsonstr.Append(make([]byte, 0, len(upstreamModel)+2), upstreamModel), includeUsage)
}

// RewriteQuoted is Rewrite with the upstream model given as a JSON string, quotes included
// (`"gpt-4o"`), which the Body shares like b: a caller that sends many bodies to one model
// quotes it once, not per request. quoted must stay unchanged while the Body is in use.
func RewriteQuoted(b []byte, f Fields, quoted []byte, includeUsage bool) Body {
	var out Body
	if f.ModelEnd == 0 {
		open := bytes.IndexByte(b, '{') + 1
		m := make([]byte, 0, len(quoted)+9)
		m = append(append(m, `"model":`...), quoted...)
		if len(bytes.TrimSpace(b[open:f.End])) > 0 {
			m = append(m, ',')
		}
		out.parts[0], out.parts[1], out.parts[2] = b[:open], m, b[open:f.End]
	} else {
		out.parts[0] = b[:f.ModelStart]
		out.parts[1] = quoted
		out.parts[2] = b[f.ModelEnd:f.End]
	}
	if includeUsage && f.Stream && !f.HasStreamOptions {
		out.parts[3] = streamOptionsUsage // shared: readers only reslice it
	}
	out.parts[4] = b[f.End:]
	for _, p := range out.parts {
		out.n += int64(len(p))
	}
	return out
}

// Whole is b as a Body, unchanged: a request whose model is named by its URL, not its body
// (Gemini's). b is shared, not copied, as in Rewrite.
func Whole(b []byte) Body {
	var out Body
	out.parts[0], out.n = b, int64(len(b))
	return out
}

// Len is the body's length in bytes, for Content-Length.
func (b Body) Len() int64 { return b.n }

// Bytes returns the body as one new slice: one allocation and one copy. The router hands
// small bodies to net/http this way, as a *bytes.Reader, which it writes with the head.
func (b Body) Bytes() []byte {
	out := make([]byte, 0, b.n)
	for _, p := range b.parts {
		out = append(out, p...)
	}
	return out
}

// WithLease returns b tied to l: every Reader of the result holds l until it
// is closed, so the pooled buffer under b is given back only after the last
// reader is done, even when net/http closes a request body after RoundTrip
// has returned.
func (b Body) WithLease(l *Lease) Body {
	b.lease = l
	return b
}

// Reader returns a fresh reader over the whole body, one per upstream attempt
// (and per GetBody call). It costs one allocation.
func (b Body) Reader() *BodyReader {
	r := &BodyReader{parts: b.parts, lease: b.lease}
	if b.lease != nil && !b.lease.acquire() {
		r.parts = [5][]byte{}
		r.state.Store(closedBit)
		r.done.Store(true) // nothing acquired, nothing to give back
	}
	return r
}

// BodyReader reads a Body. It implements io.ReadCloser and io.WriterTo.
// Read and WriteTo must not be called concurrently with each other, but
// Close may be called from any goroutine at any time: the transport closes
// bodies from its own goroutines.
type BodyReader struct {
	parts [5][]byte
	lease *Lease
	// state is closedBit | 2*(Read/WriteTo calls in progress). Close only
	// releases the lease once no call is using the buffer.
	state atomic.Int64
	done  atomic.Bool
	// started is set by the first Read or WriteTo: some of the body may have been sent.
	started atomic.Bool
}

const closedBit = 1

// enter marks a Read or WriteTo in progress; false means the reader is closed.
func (r *BodyReader) enter() bool {
	if r.state.Add(2)&closedBit != 0 {
		r.exit()
		return false
	}
	return true
}

func (r *BodyReader) exit() {
	if r.state.Add(-2) == closedBit {
		r.finish()
	}
}

func (r *BodyReader) finish() {
	if r.done.CompareAndSwap(false, true) && r.lease != nil {
		r.lease.Done()
	}
}

// Started reports whether Read or WriteTo was called: a transport that asks for the body
// again after that may already have sent some of it. It is safe from any goroutine.
func (r *BodyReader) Started() bool { return r.started.Load() }

// Read implements io.Reader.
func (r *BodyReader) Read(p []byte) (int, error) {
	if !r.enter() {
		return 0, ErrReleased
	}
	defer r.exit()
	r.started.Store(true)
	n := 0
	for k := range r.parts {
		if n == len(p) {
			break
		}
		c := copy(p[n:], r.parts[k])
		r.parts[k] = r.parts[k][c:]
		n += c
	}
	if n == 0 && len(p) > 0 {
		return 0, io.EOF
	}
	return n, nil
}

// WriteTo implements io.WriterTo, so io.Copy writes the parts directly
// without an intermediate buffer.
func (r *BodyReader) WriteTo(w io.Writer) (int64, error) {
	if !r.enter() {
		return 0, ErrReleased
	}
	defer r.exit()
	r.started.Store(true)
	var total int64
	for k := range r.parts {
		if len(r.parts[k]) == 0 {
			continue
		}
		n, err := w.Write(r.parts[k])
		total += int64(n)
		r.parts[k] = r.parts[k][n:]
		if err != nil {
			return total, err
		}
		if len(r.parts[k]) > 0 {
			return total, io.ErrShortWrite
		}
	}
	return total, nil
}

// Close ends the reader; later reads fail with ErrReleased. It never fails
// and may be called more than once.
func (r *BodyReader) Close() error {
	for {
		s := r.state.Load()
		if s&closedBit != 0 {
			return nil
		}
		if r.state.CompareAndSwap(s, s|closedBit) {
			if s == 0 {
				r.finish()
			}
			return nil
		}
	}
}

// Lease counts the holders of a pooled body buffer: the handler and every
// open BodyReader. The buffer goes back to the pool when the count reaches
// zero. Per net/http's RoundTripper contract a transport may close (and still
// read) a request body after RoundTrip returned, so the handler alone cannot
// tell when the buffer is free.
type Lease struct {
	refs    atomic.Int32
	release func()
	// pooled, for a lease made by ReadLeased, is the buffer to give back, as
	// of its generation gen (see ReadLimited's release).
	pooled *pooled
	gen    uint32
}

// NewLease returns a lease held once by the caller, who must call Done when
// it is finished with the body; release runs once, after the last holder.
func NewLease(release func()) *Lease {
	l := &Lease{release: release}
	l.refs.Store(1)
	return l
}

// acquire adds a holder unless the lease has already ended.
func (l *Lease) acquire() bool {
	for {
		n := l.refs.Load()
		if n <= 0 {
			return false
		}
		if l.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Done drops one hold; the caller of NewLease calls it exactly once.
func (l *Lease) Done() {
	if l.refs.Add(-1) != 0 {
		return
	}
	switch {
	case l.release != nil:
		l.release()
	case l.pooled != nil && l.pooled.gen.CompareAndSwap(l.gen, l.gen+1):
		putBuf(l.pooled)
	}
}
