// Package decompress undoes the content codings an upstream may put on a reply, asked or not,
// so that the relay frames and checks the bytes the upstream meant, and those a client puts on
// its request body, so that the router reads the JSON the client meant.
package decompress

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// ErrUnsupported is wrapped by NewReader for a coding it cannot undo.
var ErrUnsupported = errors.New("unsupported content-encoding")

// Codings lists what NewReader undoes, as an Accept-Encoding value.
const Codings = "gzip, deflate, zstd"

// NewReader returns a reader of body with the codings listed in contentEncoding (the header's
// value, codings in the order they were applied) undone; body itself when there is nothing to
// undo. Closing the result closes the decoders and body.
//
// It understands gzip (and x-gzip), deflate (zlib-wrapped, or raw as some servers send it),
// zstd and identity. Brotli is refused with ErrUnsupported: no maintained decoder is in the
// module graph, and the router never asks for it.
func NewReader(contentEncoding string, body io.ReadCloser) (io.ReadCloser, error) {
	codings := strings.Split(contentEncoding, ",")
	var r io.Reader = body
	var closers []io.Closer
	// Codings are listed in the order they were applied; undo them last first.
	for i := len(codings) - 1; i >= 0; i-- {
		c := strings.ToLower(strings.TrimSpace(codings[i]))
		var err error
		switch c {
		case "", "identity":
			continue
		case "gzip", "x-gzip":
			var zr *gzip.Reader
			if zr, err = gzip.NewReader(r); err == nil {
				// A stream is consumed as it comes; members concatenated by an upstream that
				// restarts its compressor are read as one body, as the spec allows.
				r, closers = zr, append(closers, zr)
			}
		case "deflate":
			r, err = newDeflateReader(r)
			if err == nil {
				closers = append(closers, r.(io.Closer))
			}
		case "zstd":
			var zr *zstd.Decoder
			// One goroutine (none of its own) and a bounded window: an upstream reply is small,
			// and a hostile one must not make the router reserve large buffers.
			if zr, err = zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
				zstd.WithDecoderMaxWindow(8<<20)); err == nil {
				r, closers = zr, append(closers, zstdCloser{zr})
			}
		default:
			err = fmt.Errorf("%w %q", ErrUnsupported, c)
		}
		if err != nil {
			for _, cl := range closers {
				_ = cl.Close()
			}
			if errors.Is(err, ErrUnsupported) {
				return nil, err
			}
			return nil, fmt.Errorf("%s body: %w", c, err)
		}
	}
	if len(closers) == 0 {
		return body, nil
	}
	return &reader{Reader: r, closers: closers, body: body}, nil
}

// newDeflateReader reads HTTP's "deflate", which is zlib by the spec but raw DEFLATE from some
// servers: the first two bytes tell which (a zlib header is a multiple of 31 with method 8).
func newDeflateReader(r io.Reader) (io.Reader, error) {
	var head [2]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, err
	}
	r = io.MultiReader(bytes.NewReader(head[:]), r)
	if head[0]&0x0f == 8 && (uint16(head[0])<<8|uint16(head[1]))%31 == 0 {
		return zlib.NewReader(r)
	}
	return flate.NewReader(r), nil
}

type zstdCloser struct{ d *zstd.Decoder }

func (z zstdCloser) Close() error { z.d.Close(); return nil }

// reader reads the decoded body and closes every decoder and the body once.
type reader struct {
	io.Reader
	closers []io.Closer
	body    io.Closer
}

func (r *reader) Close() error {
	for _, c := range r.closers {
		_ = c.Close()
	}
	return r.body.Close()
}
