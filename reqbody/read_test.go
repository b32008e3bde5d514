package reqbody

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
)

// countingReader serves n bytes of a (n < 0: forever) and counts what it gave.
type countingReader struct {
	n    int64
	read int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	if r.n >= 0 && r.read >= r.n {
		return 0, io.EOF
	}
	if r.n >= 0 && int64(len(p)) > r.n-r.read {
		p = p[:r.n-r.read]
	}
	for i := range p {
		p[i] = 'a'
	}
	r.read += int64(len(p))
	return len(p), nil
}

type failReader struct{ t *testing.T }

func (r failReader) Read([]byte) (int, error) {
	r.t.Error("body read although Content-Length was over the cap")
	return 0, io.EOF
}

// stallReader returns (0, nil) forever.
type stallReader struct{}

func (stallReader) Read([]byte) (int, error) { return 0, nil }

func TestReadLimited(t *testing.T) {
	const max = 100 << 10
	errBoom := errors.New("boom")
	cases := []struct {
		name string
		size int64 // bytes the client really sends
		cl   int64 // Content-Length, -1 unknown
		wrap func(io.Reader) io.Reader
		max  int64
		err  error
	}{
		{name: "exactly max, known length", size: max, cl: max},
		{name: "exactly max, unknown length", size: max, cl: -1},
		{name: "max+1, known length", size: max + 1, cl: max + 1, err: ErrTooLarge},
		{name: "max+1, unknown length", size: max + 1, cl: -1, err: ErrTooLarge},
		{name: "small", size: 17, cl: 17},
		{name: "empty", size: 0, cl: 0},
		{name: "empty, unknown length", size: 0, cl: -1},
		{name: "zero cap, empty", size: 0, cl: -1, max: -1},
		{name: "zero cap, one byte", size: 1, cl: -1, max: -1, err: ErrTooLarge},
		{name: "length says less, body fits", size: 50 << 10, cl: 10},
		{name: "length says less, body too large", size: max + 5000, cl: 10, err: ErrTooLarge},
		{name: "length says more", size: 10, cl: 50 << 10},
		{name: "one byte per read", size: 20 << 10, cl: -1, wrap: iotest.OneByteReader},
		{name: "half reads", size: 30 << 10, cl: 30 << 10, wrap: iotest.HalfReader},
		{name: "data with EOF", size: 5000, cl: -1, wrap: iotest.DataErrReader},
		{name: "one byte per read, too large", size: max + 1, cl: -1, wrap: iotest.OneByteReader, err: ErrTooLarge},
		{name: "reader error", size: 10 << 10, cl: -1, wrap: func(r io.Reader) io.Reader {
			return io.MultiReader(io.LimitReader(r, 5000), iotest.ErrReader(errBoom))
		}, err: errBoom},
		{name: "timeout on second read", size: 10 << 10, cl: -1, wrap: iotest.TimeoutReader, err: iotest.ErrTimeout},
		{name: "no progress", size: 0, cl: -1, wrap: func(io.Reader) io.Reader { return stallReader{} }, err: io.ErrNoProgress},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			limit := int64(max)
			if tc.max != 0 {
				limit = tc.max
			}
			src := bytes.Repeat([]byte("0123456789abcdef"), int(tc.size/16)+1)[:tc.size]
			var r io.Reader = bytes.NewReader(src)
			if tc.wrap != nil {
				r = tc.wrap(r)
			}
			got, release, err := ReadLimited(r, tc.cl, limit)
			if release == nil {
				t.Fatal("release is nil")
			}
			defer release()
			if tc.err != nil {
				if !errors.Is(err, tc.err) || got != nil {
					t.Fatalf("ReadLimited = %d bytes, %v; want %v", len(got), err, tc.err)
				}
				return
			}
			if err != nil || !bytes.Equal(got, src) {
				t.Fatalf("ReadLimited = %d bytes, %v; want the %d bytes sent", len(got), err, len(src))
			}
		})
	}
}

func TestReadLimitedRejectsContentLengthFirst(t *testing.T) {
	got, release, err := ReadLimited(failReader{t}, 1<<20, 1000)
	if !errors.Is(err, ErrTooLarge) || got != nil {
		t.Fatalf("ReadLimited = %q, %v; want ErrTooLarge", got, err)
	}
	release()
}

// TestReadLimitedStopsEarly checks an endless body costs max+1 bytes, not more.
func TestReadLimitedStopsEarly(t *testing.T) {
	for _, max := range []int64{0, 1, 4095, 4096, 100000, 3 << 20} {
		for _, cl := range []int64{-1, 0, max / 2} {
			r := &countingReader{n: -1}
			if _, _, err := ReadLimited(r, cl, max); !errors.Is(err, ErrTooLarge) {
				t.Fatalf("max %d: err %v, want ErrTooLarge", max, err)
			}
			if r.read > max+1 {
				t.Errorf("max %d, cl %d: read %d bytes, want at most %d", max, cl, r.read, max+1)
			}
		}
	}
}

// TestReadLimitedReuse shows release gives the buffer back: in steady state
// only the release func is allocated, never the buffer.
func TestReadLimitedReuse(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops buffers at random under -race")
	}
	src := bytes.Repeat([]byte("x"), 60<<10)
	r := bytes.NewReader(src)
	allocs := testing.AllocsPerRun(50, func() { // runs with GOMAXPROCS=1
		r.Reset(src)
		b, release, err := ReadLimited(r, int64(len(src)), 1<<20)
		if err != nil || len(b) != len(src) {
			t.Fatal(err)
		}
		release()
	})
	if allocs > 1 {
		t.Errorf("ReadLimited allocates %v times per call in steady state, want 1 (buffers not reused?)", allocs)
	}
}

// TestReadLimitedStaleRelease checks a release func called twice, late, does
// not give away a buffer that another request owns by then.
func TestReadLimitedStaleRelease(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops buffers at random under -race")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // one P: Put then Get is deterministic
	read := func() ([]byte, func()) {
		b, release, err := ReadLimited(strings.NewReader("hello"), 5, 100)
		if err != nil {
			t.Fatal(err)
		}
		return b, release
	}
	b1, rel1 := read()
	rel1()
	b2, rel2 := read()
	if &b1[0] != &b2[0] {
		t.Fatal("the released buffer was not reused")
	}
	rel1() // stale: b2 owns the buffer now
	b3, rel3 := read()
	if &b3[0] == &b2[0] {
		t.Fatal("a stale release gave away a buffer in use")
	}
	rel2()
	rel3()
}

// TestReadLimitedConcurrent reads, checks and releases from many goroutines
// at once; -race reports any buffer handed to two owners.
func TestReadLimitedConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 60 {
				size := (g*7919 + i*104729) % (20 << 10) // spans several size classes
				want := bytes.Repeat([]byte{byte('a' + g)}, size)
				cl := int64(size)
				if i%3 == 0 {
					cl = -1
				}
				got, release, err := ReadLimited(bytes.NewReader(want), cl, 1<<20)
				if err != nil {
					t.Error(err)
					return
				}
				// Write through it as a caller owning the buffer may.
				for j := range got {
					got[j]++
				}
				for j := range got {
					if got[j] != want[j]+1 {
						t.Errorf("goroutine %d: byte %d changed under us", g, j)
						return
					}
				}
				release()
				release()
			}
		})
	}
	wg.Wait()
}

// TestReadLimitedDoesNotTrustAnnouncedLength: a Content-Length is only a hint, so it sizes no
// buffer beyond maxPresize before the bytes arrive. A client that announces 10 MiB and sends
// a few bytes would otherwise hold a 16 MiB buffer per connection.
func TestReadLimitedDoesNotTrustAnnouncedLength(t *testing.T) {
	const body = `{"model":"m"}`
	got, release, err := ReadLimited(strings.NewReader(body), 10<<20, 10<<20)
	if err != nil || string(got) != body {
		t.Fatalf("ReadLimited = %q, %v", got, err)
	}
	defer release()
	if c := cap(got); c > maxPresize {
		t.Errorf("a %d-byte body that announced 10 MiB got a %d-byte buffer, want at most %d", len(body), c, maxPresize)
	}
	// A body as long as it says still arrives whole, past the presized buffer.
	big := strings.Repeat("a", 3<<20)
	got2, release2, err := ReadLimited(strings.NewReader(big), int64(len(big)), 10<<20)
	if err != nil || string(got2) != big {
		t.Fatalf("ReadLimited of 3 MiB = %d bytes, %v", len(got2), err)
	}
	release2()
}

// TestReadLeased: the lease's buffer goes back to the pool after its last holder, a reader
// included, and never twice: a late Done does not give away a buffer another request owns.
func TestReadLeased(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops buffers at random under -race")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // one P: Put then Get is deterministic
	read := func() ([]byte, *Lease) {
		b, l, err := ReadLeased(strings.NewReader(`{"model":"m"}`), 13, 100)
		if err != nil || string(b) != `{"model":"m"}` {
			t.Fatalf("ReadLeased = %q, %v", b, err)
		}
		return b, l
	}
	b1, l1 := read()
	r := Whole(b1).WithLease(l1).Reader()
	l1.Done() // the handler is done; the transport still holds r
	b2, l2 := read()
	if &b2[0] == &b1[0] {
		t.Fatal("the buffer was given back while a reader held it")
	}
	r.Close()
	b3, l3 := read()
	if &b3[0] != &b1[0] {
		t.Fatal("the buffer was not given back after the last holder")
	}
	l1.Done() // stale: b3 owns the buffer now
	b4, l4 := read()
	if &b4[0] == &b3[0] {
		t.Fatal("a stale Done gave away a buffer in use")
	}
	l2.Done()
	l3.Done()
	l4.Done()

	if _, l, err := ReadLeased(strings.NewReader("toolong"), -1, 3); !errors.Is(err, ErrTooLarge) || l != nil {
		t.Errorf("too large: lease %v, %v; want nil, ErrTooLarge", l, err)
	}
	allocs := testing.AllocsPerRun(50, func() {
		_, l := read()
		l.Done()
	})
	if allocs > 2 { // the lease, and the test's strings.Reader
		t.Errorf("ReadLeased allocates %v times per call in steady state, want 2", allocs)
	}
}
