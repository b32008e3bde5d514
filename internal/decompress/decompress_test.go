package decompress

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"testing"

	"github.com/klauspost/compress/zstd"
)

const text = `data: {"choices":[{"delta":{"content":"hello"}}]}` + "\n\n" + "data: [DONE]\n\n"

func encode(t *testing.T, coding string, p []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	switch coding {
	case "gzip":
		w = gzip.NewWriter(&buf)
	case "zlib":
		w = zlib.NewWriter(&buf)
	case "raw-deflate":
		w, _ = flate.NewWriter(&buf, flate.DefaultCompression)
	case "zstd":
		w, _ = zstd.NewWriter(&buf)
	default:
		t.Fatalf("no encoder for %q", coding)
	}
	if _, err := w.Write(p); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type closeCounter struct {
	io.Reader
	closed int
}

func (c *closeCounter) Close() error { c.closed++; return nil }

func TestNewReaderDecodes(t *testing.T) {
	gz := encode(t, "gzip", []byte(text))
	for _, tc := range []struct {
		header string
		body   []byte
	}{
		{"gzip", gz},
		{"x-gzip", gz},
		{" GZIP ", gz},
		{"deflate", encode(t, "zlib", []byte(text))},
		{"deflate", encode(t, "raw-deflate", []byte(text))},
		{"zstd", encode(t, "zstd", []byte(text))},
		{"identity", []byte(text)},
		{"", []byte(text)},
		// Applied gzip first, then zstd: undone in the reverse order.
		{"gzip, zstd", encode(t, "zstd", gz)},
	} {
		src := &closeCounter{Reader: bytes.NewReader(tc.body)}
		r, err := NewReader(tc.header, src)
		if err != nil {
			t.Errorf("%q: %v", tc.header, err)
			continue
		}
		got, err := io.ReadAll(r)
		if err != nil || string(got) != text {
			t.Errorf("%q: got %q, %v; want %q", tc.header, got, err, text)
		}
		if err := r.Close(); err != nil || src.closed != 1 {
			t.Errorf("%q: Close = %v, body closed %d times; want once", tc.header, err, src.closed)
		}
	}
}

func TestNewReaderRefuses(t *testing.T) {
	for _, h := range []string{"br", "compress", "gzip, br"} {
		_, err := NewReader(h, io.NopCloser(bytes.NewReader(nil)))
		if !errors.Is(err, ErrUnsupported) {
			t.Errorf("%q: err = %v, want ErrUnsupported", h, err)
		}
	}
	// A body that says gzip and is not: an error at once (the gzip header), not garbage later.
	if _, err := NewReader("gzip", io.NopCloser(bytes.NewReader([]byte("plain text")))); err == nil {
		t.Error("a body that is not gzip was accepted as gzip")
	}
}

// TestNewReaderStreamsIncrementally: a compressed stream is decoded as its bytes arrive, so an
// event reaches the client before the upstream has sent the rest.
func TestNewReaderStreamsIncrementally(t *testing.T) {
	pr, pw := io.Pipe()
	zw := gzip.NewWriter(pw)
	go func() {
		_, _ = zw.Write([]byte("data: one\n\n"))
		_ = zw.Flush() // the upstream flushes per event, then waits
	}()
	r, err := NewReader("gzip", pr)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := r.Read(buf)
	if err != nil || string(buf[:n]) != "data: one\n\n" {
		t.Fatalf("first read = %q, %v; want the first event before the stream ends", buf[:n], err)
	}
	_ = pw.Close()
	_ = r.Close()
}
