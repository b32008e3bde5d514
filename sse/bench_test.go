package sse

import (
	"io"
	"runtime"
	"strings"
	"testing"
)

// chunkEvent is a typical OpenAI chat chunk, about 230 bytes.
const chunkEvent = `data: {"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{"content":" world"},"logprobs":null,"finish_reason":null}]}` + "\n\n"

// loopReader replays the same bytes forever, so a benchmark can read any
// number of events without setup inside the loop.
type loopReader struct {
	data string
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], l.data[l.off:])
		n += c
		l.off = (l.off + c) % len(l.data)
	}
	return n, nil
}

func benchStream(ev string) *loopReader {
	return &loopReader{data: strings.Repeat(ev, 64)}
}

func BenchmarkReaderNext(b *testing.B) {
	for _, bc := range []struct{ name, ev string }{
		{"lf", chunkEvent},
		{"crlf", strings.ReplaceAll(chunkEvent, "\n", "\r\n")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := NewReader(benchStream(bc.ev), 0)
			defer r.Release()
			b.SetBytes(int64(len(bc.ev)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Next(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReaderBigLine frames a 2 MB line arriving in 32 KiB reads, as
// from an HTTP body; framing must stay linear in the event's size.
func BenchmarkReaderBigLine(b *testing.B) {
	ev := line2M + "\n\n"
	b.SetBytes(int64(len(ev)))
	b.ReportAllocs()
	for b.Loop() {
		r := NewReader(&chunked{s: ev, n: 32 << 10}, 0)
		if got, err := r.Next(); err != nil || len(got) != len(ev) {
			b.Fatal(err)
		}
		r.Release()
	}
}

// chunked hands out s n bytes per Read.
type chunked struct {
	s string
	n int
}

func (c *chunked) Read(p []byte) (int, error) {
	if len(c.s) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), c.n)], c.s)
	c.s = c.s[k:]
	return k, nil
}

// BenchmarkRelay measures one event per iteration: framing, filter, usage
// and done checks, one Write and one flush.
func BenchmarkRelay(b *testing.B) {
	for _, bc := range []struct {
		name string
		ev   string
		f    Filter
	}{
		{"openai", chunkEvent, Filter{}},
		{"openai+event line", "event: chunk\n" + chunkEvent, Filter{}},
		{"anthropic", "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" world\"}}\n\n", Filter{KeepEventNames: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := NewReader(benchStream(bc.ev), 0)
			defer r.Release()
			// A failing flush makes Relay return after exactly one event.
			flush := func() error { return errFlush }
			b.SetBytes(int64(len(bc.ev)))
			b.ReportAllocs()
			for b.Loop() {
				if st, err := Relay(io.Discard, flush, r, bc.f, nil); err != errFlush || st.Events != 1 {
					b.Fatal(st, err)
				}
			}
		})
	}
}

func BenchmarkUsage(b *testing.B) {
	for _, bc := range []struct{ name, ev string }{
		{"without usage", chunkEvent},
		{"with usage", `data: {"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21}}` + "\n\n"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ev := []byte(bc.ev)
			b.ReportAllocs()
			for b.Loop() {
				Usage(ev)
			}
		})
	}
}

func BenchmarkFilterAppend(b *testing.B) {
	ev := []byte(": keepalive\nevent: chunk\n" + chunkEvent)
	var dst []byte
	b.ReportAllocs()
	for b.Loop() {
		dst = Filter{}.Append(dst[:0], ev)
	}
}

// idleStreamBytes measures the heap held per idle stream: a Reader that
// has relayed one typical event and waits for the next.
func idleStreamBytes(n int) float64 {
	runtime.GC()
	runtime.GC() // two cycles empty the sync.Pool, so every buffer is new
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	readers := make([]*Reader, n)
	for i := range readers {
		readers[i] = NewReader(strings.NewReader(chunkEvent+chunkEvent), 0)
		if _, err := readers[i].Next(); err != nil {
			panic(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(readers)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}

// TestIdleStreamMemory documents and bounds what an idle stream holds in
// this package: 1,000 concurrent streams hold about 1000 * 4.3 KB = 4.3 MB.
func TestIdleStreamMemory(t *testing.T) {
	per := idleStreamBytes(1000)
	t.Logf("idle stream holds %.0f bytes (1,000 streams: %.1f MB)", per, per*1000/1e6)
	if per < initialBuf || per > initialBuf+1024 {
		t.Fatalf("idle stream holds %.0f bytes, want the 4 KiB buffer plus a small Reader", per)
	}
}

func BenchmarkIdleStream(b *testing.B) {
	b.ReportAllocs()
	var per float64
	for b.Loop() {
		per = idleStreamBytes(1000)
	}
	b.ReportMetric(per, "B/stream")
}

var _ io.Reader = (*loopReader)(nil)
