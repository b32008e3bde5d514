package reqbody

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
)

var upstreamIDs = []string{
	"llama-3.3-70b-versatile",
	"meta/llama-3.3-70b-instruct",
	"",
	`we"ird\id`,
	"ctl\n\t\x01",
	"ünïcode-東京-😀",
	"bad\xffutf8",
	"\u2028sep",
}

// TestRewriteProperty runs the Rewrite contract over every accepted table
// body and a large chat body, for each upstream id, with and without usage.
func TestRewriteProperty(t *testing.T) {
	bodies := [][]byte{chatBody(4 << 10), []byte(`{"model":"m","stream":true}  ` + "\n")}
	for _, tc := range scanCases {
		if tc.err == nil {
			bodies = append(bodies, []byte(tc.body))
		}
	}
	for _, b := range bodies {
		f, err := Scan(b)
		if err != nil {
			t.Fatalf("Scan(%.40q): %v", b, err)
		}
		for _, id := range upstreamIDs {
			for _, usage := range []bool{false, true} {
				checkRewrite(t, b, f, id, usage)
			}
		}
	}
}

func TestRewriteStreamOptions(t *testing.T) {
	cases := []struct {
		body  string
		usage bool
		want  string
	}{
		{`{"model":"a","stream":true}`, true, `{"model":"b","stream":true,"stream_options":{"include_usage":true}}`},
		{`{"model":"a","stream":true} ` + "\n", true, `{"model":"b","stream":true,"stream_options":{"include_usage":true}} ` + "\n"},
		{`{"model":"a","stream":true}`, false, `{"model":"b","stream":true}`},
		{`{"model":"a","stream":false}`, true, `{"model":"b","stream":false}`},
		{`{"model":"a"}`, true, `{"model":"b"}`},
		{`{"stream":true,"stream_options":{},"model":"a"}`, true, `{"stream":true,"stream_options":{},"model":"b"}`},
		{"{ \"model\" : \"a\" ,\n \"stream\" : true\n}", true, "{ \"model\" : \"b\" ,\n \"stream\" : true\n,\"stream_options\":{\"include_usage\":true}}"},
	}
	for _, tc := range cases {
		f, err := Scan([]byte(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		if got := string(Rewrite([]byte(tc.body), f, "b", tc.usage).Bytes()); got != tc.want {
			t.Errorf("Rewrite(%q, usage=%v) = %q, want %q", tc.body, tc.usage, got, tc.want)
		}
	}
}

func TestRewriteSharesOriginal(t *testing.T) {
	b := []byte(`{"model":"a","x":1}`)
	f, _ := Scan(b)
	body := Rewrite(b, f, "b", false)
	if &body.parts[0][0] != &b[0] || &body.parts[2][0] != &b[f.ModelEnd] {
		t.Fatal("Rewrite copied the original bytes")
	}
	// One allocation: the quoted id.
	if n := testing.AllocsPerRun(50, func() { body = Rewrite(b, f, "some-upstream-id", true) }); n > 1 {
		t.Errorf("Rewrite allocates %v times, want 1", n)
	}
}

func TestBodyReader(t *testing.T) {
	b := chatBody(64 << 10)
	f, _ := Scan(b)
	body := Rewrite(b, f, "upstream/id", true)
	want := body.Bytes()

	// iotest.TestReader exercises short buffers, EOF behaviour and more.
	if err := iotest.TestReader(body.Reader(), want); err != nil {
		t.Fatal(err)
	}
	for name, read := range map[string]func(io.Reader) ([]byte, error){
		"ReadAll":       io.ReadAll,
		"OneByteReader": func(r io.Reader) ([]byte, error) { return io.ReadAll(iotest.OneByteReader(r)) },
		"WriteTo": func(r io.Reader) ([]byte, error) {
			var w bytes.Buffer
			_, err := r.(io.WriterTo).WriteTo(&w)
			return w.Bytes(), err
		},
		"io.Copy":        func(r io.Reader) ([]byte, error) { var w bytes.Buffer; _, err := io.Copy(&w, r); return w.Bytes(), err },
		"half then rest": func(r io.Reader) ([]byte, error) { return io.ReadAll(iotest.HalfReader(r)) },
	} {
		got, err := read(body.Reader())
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, err %v; want %d bytes", name, len(got), err, len(want))
		}
	}
}

type shortWriter struct{ limit int }

func (w *shortWriter) Write(p []byte) (int, error) {
	if len(p) > w.limit {
		return w.limit, nil
	}
	return len(p), nil
}

func TestBodyReaderShortWrite(t *testing.T) {
	b := []byte(`{"model":"a","x":"0123456789"}`)
	f, _ := Scan(b)
	body := Rewrite(b, f, "b", false)
	n, err := body.Reader().WriteTo(&shortWriter{limit: 3})
	if !errors.Is(err, io.ErrShortWrite) || n != 3 {
		t.Fatalf("WriteTo = %d, %v; want 3, ErrShortWrite", n, err)
	}
	errBoom := errors.New("boom")
	if n, err := body.Reader().WriteTo(errWriter{errBoom}); n != 0 || !errors.Is(err, errBoom) {
		t.Fatalf("WriteTo = %d, %v; want 0, boom", n, err)
	}
	r := body.Reader()
	r.Close()
	if _, err := r.WriteTo(io.Discard); !errors.Is(err, ErrReleased) {
		t.Fatalf("WriteTo after Close: %v, want ErrReleased", err)
	}
}

type errWriter struct{ err error }

func (w errWriter) Write([]byte) (int, error) { return 0, w.err }

// TestBodyConcurrentReaders reads one Body from many goroutines, as retries
// and transport goroutines do.
func TestBodyConcurrentReaders(t *testing.T) {
	b := chatBody(32 << 10)
	f, _ := Scan(b)
	body := Rewrite(b, f, "x", true)
	want := body.Bytes()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			got, err := io.ReadAll(body.Reader())
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("concurrent read: %d bytes, %v", len(got), err)
			}
		})
	}
	wg.Wait()
}

func TestLease(t *testing.T) {
	b := []byte(`{"model":"a"}`)
	f, _ := Scan(b)
	var released atomic.Int32
	lease := NewLease(func() { released.Add(1) })
	body := Rewrite(b, f, "b", false).WithLease(lease)

	r1, r2 := body.Reader(), body.Reader()
	if _, err := io.ReadAll(r1); err != nil {
		t.Fatal(err)
	}
	lease.Done() // handler finished while the transport still holds r1 and r2
	if released.Load() != 0 {
		t.Fatal("released while readers are open")
	}
	r1.Close()
	r1.Close() // a second Close must not drop another hold
	if released.Load() != 0 {
		t.Fatal("released while r2 is open")
	}
	r2.Close()
	if released.Load() != 1 {
		t.Fatalf("released %d times, want 1", released.Load())
	}
	if _, err := r2.Read(make([]byte, 8)); !errors.Is(err, ErrReleased) {
		t.Errorf("Read after Close: %v, want ErrReleased", err)
	}
	if _, err := body.Reader().Read(make([]byte, 8)); !errors.Is(err, ErrReleased) {
		t.Errorf("Reader after the lease ended: %v, want ErrReleased", err)
	}
	if released.Load() != 1 {
		t.Fatalf("released %d times, want 1", released.Load())
	}
}

// TestLeaseCloseDuringRead closes readers from another goroutine while they
// are being read, as net/http may; -race checks that no Read touches the
// buffer after release, which here poisons it.
func TestLeaseCloseDuringRead(t *testing.T) {
	for range 50 {
		b := []byte(`{"model":"a","pad":"` + strings.Repeat("p", 4096) + `"}`)
		f, _ := Scan(b)
		var mu sync.Mutex
		freed := false
		lease := NewLease(func() {
			mu.Lock()
			freed = true
			mu.Unlock()
			clear(b) // a reused buffer: any later read would see zeros or race
		})
		body := Rewrite(b, f, "b", false).WithLease(lease)
		r := body.Reader()
		var wg sync.WaitGroup
		wg.Go(func() {
			buf := make([]byte, 64)
			for {
				n, err := r.Read(buf)
				if err != nil {
					return
				}
				for _, c := range buf[:n] {
					if c == 0 {
						t.Error("read released bytes")
						return
					}
				}
			}
		})
		wg.Go(func() { r.Close() })
		lease.Done()
		wg.Wait()
		mu.Lock()
		if !freed {
			t.Fatal("lease never released")
		}
		mu.Unlock()
	}
}

// TestRewriteInsertsModel covers bodies whose URL names the model (Azure's deployment paths):
// Scan reports ErrNoModel, and Rewrite makes the model the first member.
// TestRewriteQuotedShares: RewriteQuoted splices the caller's quoted id itself, with no
// allocation, and says what Rewrite says.
func TestRewriteQuotedShares(t *testing.T) {
	b := []byte(`{"model":"a","x":1,"stream":true}`)
	f, _ := Scan(b)
	quoted := []byte(`"some-upstream-id"`)
	body := RewriteQuoted(b, f, quoted, true)
	if &body.parts[1][0] != &quoted[0] {
		t.Fatal("RewriteQuoted copied the quoted id")
	}
	if got, want := string(body.Bytes()), string(Rewrite(b, f, "some-upstream-id", true).Bytes()); got != want {
		t.Errorf("RewriteQuoted = %s, Rewrite = %s", got, want)
	}
	if n := testing.AllocsPerRun(50, func() { body = RewriteQuoted(b, f, quoted, true) }); n != 0 {
		t.Errorf("RewriteQuoted allocates %v times, want 0", n)
	}
}

func TestRewriteInsertsModel(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"messages":[]}`, `{"model":"dep","messages":[]}`},
		{` { } `, ` {"model":"dep" } `},
		{`{"stream":true}`, `{"model":"dep","stream":true,"stream_options":{"include_usage":true}}`},
		{"{\n}", `{"model":"dep"` + "\n}"},
	} {
		f, err := Scan([]byte(tc.body))
		if !errors.Is(err, ErrNoModel) {
			t.Fatalf("Scan(%q): %v, want ErrNoModel", tc.body, err)
		}
		got, err := io.ReadAll(Rewrite([]byte(tc.body), f, "dep", true).Reader())
		if err != nil || string(got) != tc.want {
			t.Errorf("Rewrite(%q) = %q, %v; want %q", tc.body, got, err, tc.want)
		}
		if _, err := Scan(got); err != nil {
			t.Errorf("Rewrite(%q) = %q does not scan: %v", tc.body, got, err)
		}
	}
	if got, _ := io.ReadAll(Whole([]byte(`{"contents":[]}`)).Reader()); string(got) != `{"contents":[]}` {
		t.Errorf("Whole changed the body: %q", got)
	}
}
