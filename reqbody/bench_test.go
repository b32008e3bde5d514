package reqbody

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"
)

var benchSizes = []struct {
	name string
	size int
}{
	{"1KB", 1 << 10},
	{"200KB", 200 << 10},
}

// BenchmarkScanRewrite is the hot path: find the fields, splice the upstream
// id, and write the body out once as the transport would.
func BenchmarkScanRewrite(b *testing.B) {
	for _, s := range benchSizes {
		body := chatBody(s.size)
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				f, err := Scan(body)
				if err != nil {
					b.Fatal(err)
				}
				r := Rewrite(body, f, "meta/llama-3.3-70b-instruct", true).Reader()
				if _, err := r.WriteTo(io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeEncodeMap is the naive way, for comparison: decode into a
// map, set the model, encode again (which also reorders keys and rounds
// numbers).
func BenchmarkDecodeEncodeMap(b *testing.B) {
	for _, s := range benchSizes {
		body := chatBody(s.size)
		b.Run(s.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				var m map[string]any
				if err := json.Unmarshal(body, &m); err != nil {
					b.Fatal(err)
				}
				m["model"] = "meta/llama-3.3-70b-instruct"
				out, err := json.Marshal(m)
				if err != nil {
					b.Fatal(err)
				}
				_ = out
			}
		})
	}
}

// BenchmarkReadLimited measures reading a 200 KB body into a pooled buffer.
func BenchmarkReadLimited(b *testing.B) {
	body := chatBody(200 << 10)
	r := bytes.NewReader(body)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		r.Reset(body)
		buf, release, err := ReadLimited(r, int64(len(body)), 4<<20)
		if err != nil || len(buf) != len(body) {
			b.Fatal(err)
		}
		release()
	}
}
