package llmrouter

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestReadAtMost: readAtMost reads what buf.ReadFrom(io.LimitReader(r, limit)) reads, and
// fails as it does, whatever sizes r's reads come in.
func TestReadAtMost(t *testing.T) {
	boom := errors.New("boom")
	readers := map[string]func(string) io.Reader{
		"whole":    func(s string) io.Reader { return strings.NewReader(s) },
		"one byte": func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) },
		"data+EOF": func(s string) io.Reader { return iotest.DataErrReader(strings.NewReader(s)) },
		"error": func(s string) io.Reader {
			return io.MultiReader(strings.NewReader(s), iotest.ErrReader(boom))
		},
	}
	for _, size := range []int{0, 1, 511, 512, 513, 4096, 70000} {
		src := strings.Repeat("x", size)
		for _, limit := range []int64{1, 512, int64(size), int64(size) + 1, 1 << 20} {
			for name, mk := range readers {
				var want bytes.Buffer
				_, wantErr := want.ReadFrom(io.LimitReader(mk(src), limit))
				got := getBuffer()
				err := readAtMost(got, mk(src), limit)
				if !bytes.Equal(got.Bytes(), want.Bytes()) || !errors.Is(err, wantErr) {
					t.Errorf("%s, %d bytes, limit %d: read %d bytes, %v; want %d bytes, %v",
						name, size, limit, got.Len(), err, want.Len(), wantErr)
				}
				putBuffer(got)
			}
		}
	}
}
