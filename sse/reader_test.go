package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// streamCase is one upstream byte stream with what the client must get.
type streamCase struct {
	name   string
	in     string
	events []string // Reader.Next, in order
	openai string   // all events through Filter{}
	anthro string   // all events through Filter{KeepEventNames: true}
}

var (
	line200K = "data: " + strings.Repeat("x", 200<<10)
	line2M   = "data: {\"c\":\"" + strings.Repeat("é", 1<<20) + "\"}"
)

var streamCases = []streamCase{
	{
		name:   "lf",
		in:     "data: a\n\ndata: b\n\n",
		events: []string{"data: a\n\n", "data: b\n\n"},
		openai: "data: a\n\ndata: b\n\n",
		anthro: "data: a\n\ndata: b\n\n",
	},
	{
		name:   "crlf",
		in:     "data: a\r\n\r\nevent: e\r\ndata: b\r\ndata: c\r\n\r\n",
		events: []string{"data: a\n\n", "event: e\ndata: b\ndata: c\n\n"},
		openai: "data: a\n\ndata: b\ndata: c\n\n",
		anthro: "data: a\n\nevent: e\ndata: b\ndata: c\n\n",
	},
	{
		name:   "bare cr",
		in:     "data: a\r\rdata: b\r\r",
		events: []string{"data: a\n\n", "data: b\n\n"},
		openai: "data: a\n\ndata: b\n\n",
		anthro: "data: a\n\ndata: b\n\n",
	},
	{
		name:   "mixed line ends",
		in:     "data: a\r\n\ndata: b\r\r\ndata: c\n\r\nid: 4\rdata: d\r\n\n",
		events: []string{"data: a\n\n", "data: b\n\n", "data: c\n\n", "id: 4\ndata: d\n\n"},
		openai: "data: a\n\ndata: b\n\ndata: c\n\nid: 4\ndata: d\n\n",
		anthro: "data: a\n\ndata: b\n\ndata: c\n\nid: 4\ndata: d\n\n",
	},
	{
		name:   "multi-line data",
		in:     "data: {\"a\":\ndata: 1}\n\ndata\ndata:x\n\n",
		events: []string{"data: {\"a\":\ndata: 1}\n\n", "data\ndata:x\n\n"},
		openai: "data: {\"a\":\ndata: 1}\n\ndata\ndata:x\n\n",
		anthro: "data: {\"a\":\ndata: 1}\n\ndata\ndata:x\n\n",
	},
	{
		name:   "openrouter comments",
		in:     ": OPENROUTER PROCESSING\n\n: OPENROUTER PROCESSING\n\ndata: {\"id\":\"1\"}\n\n",
		events: []string{": OPENROUTER PROCESSING\n\n", ": OPENROUTER PROCESSING\n\n", "data: {\"id\":\"1\"}\n\n"},
		openai: "data: {\"id\":\"1\"}\n\n",
		anthro: "data: {\"id\":\"1\"}\n\n",
	},
	{
		name:   "keepalive inside event",
		in:     ": keepalive\ndata: x\n: keepalive\n\n",
		events: []string{": keepalive\ndata: x\n: keepalive\n\n"},
		openai: "data: x\n\n",
		anthro: "data: x\n\n",
	},
	{
		name: "anthropic event names",
		in: "event: message_start\ndata: {\"type\":\"message_start\"}\n\n" +
			"event: ping\ndata: {\"type\": \"ping\"}\n\n" +
			"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
		events: []string{
			"event: message_start\ndata: {\"type\":\"message_start\"}\n\n",
			"event: ping\ndata: {\"type\": \"ping\"}\n\n",
			"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
		},
		openai: "data: {\"type\":\"message_start\"}\n\ndata: {\"type\": \"ping\"}\n\ndata: {\"type\":\"message_stop\"}\n\n",
		anthro: "event: message_start\ndata: {\"type\":\"message_start\"}\n\n" +
			"event: ping\ndata: {\"type\": \"ping\"}\n\n" +
			"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
	},
	{
		// An event: ping without data must vanish on OpenAI endpoints.
		name:   "event-only ping",
		in:     "event: ping\n\ndata: a\n\n",
		events: []string{"event: ping\n\n", "data: a\n\n"},
		openai: "data: a\n\n",
		anthro: "event: ping\n\ndata: a\n\n",
	},
	{
		name:   "id and retry",
		in:     "retry: 3000\nid: 7\ndata: x\n\nid\n\n",
		events: []string{"retry: 3000\nid: 7\ndata: x\n\n", "id\n\n"},
		openai: "retry: 3000\nid: 7\ndata: x\n\nid\n\n",
		anthro: "retry: 3000\nid: 7\ndata: x\n\nid\n\n",
	},
	{
		name:   "unknown fields dropped",
		in:     "foo: bar\ndata: x\nevents: y\n\n",
		events: []string{"foo: bar\ndata: x\nevents: y\n\n"},
		openai: "data: x\n\n",
		anthro: "data: x\n\n",
	},
	{
		name:   "bom",
		in:     "\xef\xbb\xbfdata: a\r\n\r\n",
		events: []string{"data: a\n\n"},
		openai: "data: a\n\n",
		anthro: "data: a\n\n",
	},
	{
		// Only the stream's first BOM is a BOM; a later one makes an unknown
		// field that the filter drops.
		name:   "bom later",
		in:     "data: a\n\n\xef\xbb\xbfdata: b\n\n",
		events: []string{"data: a\n\n", "\xef\xbb\xbfdata: b\n\n"},
		openai: "data: a\n\n",
		anthro: "data: a\n\n",
	},
	{
		name:   "bom prefix only",
		in:     "\xef\xbbdata: a\n\n",
		events: []string{"\xef\xbbdata: a\n\n"},
		openai: "",
		anthro: "",
	},
	{
		name:   "bom alone",
		in:     "\xef\xbb\xbf",
		events: nil,
	},
	{
		name:   "final event without blank line",
		in:     "data: a\n\ndata: b\n",
		events: []string{"data: a\n\n", "data: b\n\n"},
		openai: "data: a\n\ndata: b\n\n",
		anthro: "data: a\n\ndata: b\n\n",
	},
	{
		name:   "final line without line end",
		in:     "data: a\n\nevent: message_stop\ndata: {}",
		events: []string{"data: a\n\n", "event: message_stop\ndata: {}\n\n"},
		openai: "data: a\n\ndata: {}\n\n",
		anthro: "data: a\n\nevent: message_stop\ndata: {}\n\n",
	},
	{
		name:   "final bare cr",
		in:     "data: a\r",
		events: []string{"data: a\n\n"},
		openai: "data: a\n\n",
		anthro: "data: a\n\n",
	},
	{
		name:   "extra blank lines",
		in:     "\n\r\n\r\ndata: a\n\n\n\n\r\n\rdata: b\n\n\n",
		events: []string{"data: a\n\n", "data: b\n\n"},
		openai: "data: a\n\ndata: b\n\n",
		anthro: "data: a\n\ndata: b\n\n",
	},
	{
		name:   "empty",
		in:     "",
		events: nil,
	},
	{
		name:   "blank lines only",
		in:     "\n\r\n\r\r\n",
		events: nil,
	},
	{
		name:   "utf-8",
		in:     "data: {\"c\":\"héllo 😀 世界\"}\r\n\r\ndata: [DONE]\r\n\r\n",
		events: []string{"data: {\"c\":\"héllo 😀 世界\"}\n\n", "data: [DONE]\n\n"},
		openai: "data: {\"c\":\"héllo 😀 世界\"}\n\ndata: [DONE]\n\n",
		anthro: "data: {\"c\":\"héllo 😀 世界\"}\n\ndata: [DONE]\n\n",
	},
	{
		name:   "done",
		in:     "data: {\"id\":\"x\",\"choices\":[]}\n\ndata: [DONE]\n\n",
		events: []string{"data: {\"id\":\"x\",\"choices\":[]}\n\n", "data: [DONE]\n\n"},
		openai: "data: {\"id\":\"x\",\"choices\":[]}\n\ndata: [DONE]\n\n",
		anthro: "data: {\"id\":\"x\",\"choices\":[]}\n\ndata: [DONE]\n\n",
	},
	{
		name:   "200 KB line",
		in:     "data: a\n\n" + line200K + "\r\n\r\ndata: [DONE]\n\n",
		events: []string{"data: a\n\n", line200K + "\n\n", "data: [DONE]\n\n"},
		openai: "data: a\n\n" + line200K + "\n\ndata: [DONE]\n\n",
		anthro: "data: a\n\n" + line200K + "\n\ndata: [DONE]\n\n",
	},
	{
		name:   "2 MB line",
		in:     ": x\n\n" + line2M + "\n\ndata: [DONE]",
		events: []string{": x\n\n", line2M + "\n\n", "data: [DONE]\n\n"},
		openai: line2M + "\n\ndata: [DONE]\n\n",
		anthro: line2M + "\n\ndata: [DONE]\n\n",
	},
}

// readAll frames every event of src.
func readAll(t testing.TB, src io.Reader, maxEvent int) ([]string, error) {
	t.Helper()
	r := NewReader(src, maxEvent)
	defer r.Release()
	var evs []string
	for {
		ev, err := r.Next()
		if err != nil {
			if ev != nil {
				t.Fatalf("Next returned %q with error %v", ev, err)
			}
			return evs, err
		}
		evs = append(evs, string(ev))
	}
}

// readKept frames every event of src as readAll does, keeping them from the first one on
// (Keep), and returns what Kept held at the end of the stream.
func readKept(t testing.TB, src io.Reader) (evs []string, kept string, err error) {
	t.Helper()
	r := NewReader(src, 0)
	defer r.Release()
	for {
		ev, err := r.Next()
		if err != nil {
			return evs, string(r.Kept()), err
		}
		evs = append(evs, string(ev))
		r.Keep()
	}
}

// splits returns where to cut in: every position for small inputs. For the
// big inputs every position would take hours, so there it is every position
// near a non-filler byte (line ends, field names, the ends of the input),
// around each power of two (where the buffer grows) and a stride through the
// long runs.
func splits(in string) []int {
	if len(in) <= 4<<10 {
		s := make([]int, len(in)+1)
		for i := range s {
			s[i] = i
		}
		return s
	}
	window := 300
	if len(in) > 256<<10 {
		window = 16
	}
	keep := make([]bool, len(in)+1)
	mark := func(c, w int) {
		for i := max(0, c-w); i <= min(len(in), c+w); i++ {
			keep[i] = true
		}
	}
	mark(0, window)
	mark(len(in), window)
	for p := 1 << 10; p < len(in); p <<= 1 {
		mark(p, 2)
	}
	stride := len(in) / 16
	for i := 0; i < len(in); i++ {
		if c := in[i]; c != 'x' && c != 0xc3 && c != 0xa9 {
			mark(i, window)
		}
		if i%stride == 0 {
			keep[i] = true
		}
	}
	var s []int
	for i, k := range keep {
		if k {
			s = append(s, i)
		}
	}
	return s
}

// feeds returns the same bytes cut in every way the tests use.
func feeds(in string) map[string]func() io.Reader {
	m := map[string]func() io.Reader{
		"whole":    func() io.Reader { return strings.NewReader(in) },
		"one byte": func() io.Reader { return iotest.OneByteReader(strings.NewReader(in)) },
		"half":     func() io.Reader { return iotest.HalfReader(strings.NewReader(in)) },
		"data+EOF": func() io.Reader { return iotest.DataErrReader(strings.NewReader(in)) },
	}
	for _, k := range splits(in) {
		m[fmt.Sprintf("split %d", k)] = func() io.Reader {
			return io.MultiReader(strings.NewReader(in[:k]), strings.NewReader(in[k:]))
		}
	}
	return m
}

func short(s string) string {
	if len(s) > 80 {
		return fmt.Sprintf("%q...(%d bytes)", s[:80], len(s))
	}
	return fmt.Sprintf("%q", s)
}

func TestReaderAndFilterEverySplit(t *testing.T) {
	for _, tc := range streamCases {
		t.Run(tc.name, func(t *testing.T) {
			for how, src := range feeds(tc.in) {
				r := NewReader(src(), 0)
				i := 0
				for ; ; i++ {
					ev, err := r.Next()
					if err == io.EOF && ev == nil {
						break
					}
					if err != nil || i >= len(tc.events) || string(ev) != tc.events[i] {
						t.Fatalf("%s: event %d = %s, %v; want %d events %s", how, i, short(string(ev)), err, len(tc.events), short(fmt.Sprint(tc.events)))
					}
				}
				r.Release()
				if i != len(tc.events) {
					t.Fatalf("%s: %d events, want %d", how, i, len(tc.events))
				}
				// Kept, the same events stay in the buffer, one after another, across its
				// compactions and growth.
				evs, kept, err := readKept(t, src())
				if err != io.EOF || !slices.Equal(evs, tc.events) || kept != strings.Join(tc.events, "") {
					t.Fatalf("%s, kept: events %s, kept %s, %v; want %s", how, short(fmt.Sprint(evs)), short(kept), err, short(fmt.Sprint(tc.events)))
				}
			}
			// The filter is a pure function of the events, which every way of
			// cutting the input has just been shown to leave identical.
			var oa, an []byte
			for _, ev := range tc.events {
				oa = Filter{}.Append(oa, []byte(ev))
				an = Filter{KeepEventNames: true}.Append(an, []byte(ev))
			}
			if string(oa) != tc.openai {
				t.Errorf("openai filter = %s, want %s", short(string(oa)), short(tc.openai))
			}
			if string(an) != tc.anthro {
				t.Errorf("anthropic filter = %s, want %s", short(string(an)), short(tc.anthro))
			}
		})
	}
}

var errBoom = errors.New("boom")

// dataErr returns its data and err from the same Read call, as a
// connection reset after a last packet does.
type dataErr struct {
	data string
	err  error
	done bool
}

func (d *dataErr) Read(p []byte) (int, error) {
	if d.done {
		return 0, d.err
	}
	d.done = true
	return copy(p, d.data), d.err
}

func TestReaderReadError(t *testing.T) {
	tests := []struct {
		name string
		src  func() io.Reader
		want []string
	}{
		{
			name: "partial event dropped",
			src: func() io.Reader {
				return io.MultiReader(strings.NewReader("data: a\n\ndata: b\n"), iotest.ErrReader(errBoom))
			},
			want: []string{"data: a\n\n"},
		},
		{
			name: "partial line dropped",
			src: func() io.Reader {
				return io.MultiReader(strings.NewReader("data: a\n\ndata: {\"cho"), iotest.ErrReader(errBoom))
			},
			want: []string{"data: a\n\n"},
		},
		{
			name: "whole events with the error still delivered",
			src:  func() io.Reader { return &dataErr{data: "data: a\n\ndata: b\r\n\r\ndata: c", err: errBoom} },
			want: []string{"data: a\n\n", "data: b\n\n"},
		},
		{
			name: "error first",
			src:  func() io.Reader { return iotest.ErrReader(errBoom) },
			want: nil,
		},
		{
			name: "unexpected EOF is not a clean end",
			src: func() io.Reader {
				return io.MultiReader(strings.NewReader("data: a\n\ndata: b"), iotest.ErrReader(io.ErrUnexpectedEOF))
			},
			want: []string{"data: a\n\n"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(tc.src(), 0)
			defer r.Release()
			var got []string
			var err error
			for {
				var ev []byte
				if ev, err = r.Next(); err != nil {
					break
				}
				got = append(got, string(ev))
			}
			if err == io.EOF || err == nil {
				t.Fatalf("err = %v, want the source's error", err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("events = %q, want %q", got, tc.want)
			}
			if _, again := r.Next(); again != err {
				t.Fatalf("error not sticky: %v then %v", err, again)
			}
		})
	}
}

// endless yields the same byte forever, like an upstream that never sends
// a line end.
type endless byte

func (e endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(e)
	}
	return len(p), nil
}

func TestReaderEventTooLarge(t *testing.T) {
	const max = 64
	exact := "data: " + strings.Repeat("y", max-len("data: ")-2) // with "\n\n": exactly max
	tests := []struct {
		name string
		src  io.Reader
		want []string
		err  error
	}{
		{"exactly max", strings.NewReader(exact + "\n\n"), []string{exact + "\n\n"}, io.EOF},
		{"exactly max at EOF", strings.NewReader(exact), []string{exact + "\n\n"}, io.EOF},
		{"exactly max from crlf", strings.NewReader(exact + "\r\n\r\n"), []string{exact + "\n\n"}, io.EOF},
		{"one over", strings.NewReader(exact + "y\n\n"), nil, ErrEventTooLarge},
		{"one over at EOF", strings.NewReader(exact + "y"), nil, ErrEventTooLarge},
		{"one over with final line end", strings.NewReader(exact + "y\n"), nil, ErrEventTooLarge},
		{"after a good event", strings.NewReader("data: a\n\n" + exact + "y\n\n"), []string{"data: a\n\n"}, ErrEventTooLarge},
		{"many lines", strings.NewReader(strings.Repeat("data: 12345\n", 20) + "\n"), nil, ErrEventTooLarge},
		{"endless line stops early", endless('x'), nil, ErrEventTooLarge},
		{"endless comment lines", io.MultiReader(strings.NewReader("data: a\n\n"), &endlessLines{}), []string{"data: a\n\n"}, ErrEventTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(t, tc.src, max)
			if err != tc.err {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("events = %q, want %q", got, tc.want)
			}
		})
	}
}

// endlessLines is an event that never ends: one comment line after another.
type endlessLines struct{ n int }

func (e *endlessLines) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ":\n"[e.n%2]
		e.n++
	}
	return len(p), nil
}

func TestReaderDefaultBound(t *testing.T) {
	r := NewReader(endless('x'), 0)
	defer r.Release()
	if _, err := r.Next(); err != ErrEventTooLarge {
		t.Fatalf("err = %v, want ErrEventTooLarge", err)
	}
	if len(r.buf) != defaultMaxEvent {
		t.Fatalf("buffer grew to %d, want the 8 MiB bound", len(r.buf))
	}
}

// stalled returns 0, nil forever.
type stalled struct{}

func (stalled) Read([]byte) (int, error) { return 0, nil }

// lying claims more bytes than it was given room for.
type lying struct{}

func (lying) Read(p []byte) (int, error) { return len(p) + 1, nil }

func TestReaderBrokenSource(t *testing.T) {
	tests := []struct {
		name string
		src  io.Reader
		want error
	}{
		{"no progress", stalled{}, io.ErrNoProgress},
		{"bad count", lying{}, errBadRead},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := readAll(t, tc.src, 0); err != tc.want {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestReaderRelease(t *testing.T) {
	r := NewReader(strings.NewReader("data: a\n\n"), 0)
	r.Release()
	r.Release() // harmless
	if ev, err := r.Next(); err != errReleased || ev != nil {
		t.Fatalf("Next after Release = %q, %v", ev, err)
	}
}

// A stream that once carried a huge event must not keep its huge buffer.
func TestReaderShrinksAfterBigEvent(t *testing.T) {
	in := "data: a\n\n" + line200K + "\n\ndata: b\n\ndata: c\n\n"
	r := NewReader(strings.NewReader(in), 0)
	defer r.Release()
	want := []string{"data: a\n\n", line200K + "\n\n", "data: b\n\n", "data: c\n\n"}
	var peak int
	for i, w := range want {
		ev, err := r.Next()
		if err != nil || string(ev) != w {
			t.Fatalf("event %d = %s, %v; want %s", i, short(string(ev)), err, short(w))
		}
		peak = max(peak, len(r.buf))
	}
	if peak <= maxIdleBuf {
		t.Fatalf("buffer never grew (peak %d): the test does not exercise shrinking", peak)
	}
	if len(r.buf) != initialBuf {
		t.Fatalf("buffer is %d bytes after the big event, want %d", len(r.buf), initialBuf)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("err = %v, want io.EOF", err)
	}
}

// refEvents is the obviously right, slow framing the Reader must match.
func refEvents(in []byte) []string {
	s := strings.TrimPrefix(string(in), "\xef\xbb\xbf")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	var evs []string
	var cur strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if l == "" {
			if cur.Len() > 0 {
				evs = append(evs, cur.String()+"\n")
				cur.Reset()
			}
			continue
		}
		cur.WriteString(l + "\n")
	}
	if cur.Len() > 0 {
		evs = append(evs, cur.String()+"\n")
	}
	return evs
}

func TestRefEventsAgreesOnCases(t *testing.T) {
	for _, tc := range streamCases {
		if got := refEvents([]byte(tc.in)); !slices.Equal(got, tc.events) {
			t.Errorf("%s: reference model = %s, want %s", tc.name, short(fmt.Sprint(got)), short(fmt.Sprint(tc.events)))
		}
	}
}

func FuzzReader(f *testing.F) {
	for _, tc := range streamCases {
		if len(tc.in) < 1<<10 {
			f.Add([]byte(tc.in), uint16(len(tc.in)/2), uint8(0))
		}
	}
	f.Add([]byte("\xef\xbb\xbf\xef\xbb\xbfdata: a\r"), uint16(1), uint8(12))
	f.Add([]byte("data: "+strings.Repeat("z", 100)+"\r\n\r\n"), uint16(9), uint8(40))
	f.Fuzz(func(t *testing.T, in []byte, cut uint16, maxEvent uint8) {
		k := int(cut) % (len(in) + 1)
		bound := int(maxEvent) // small bounds exercise ErrEventTooLarge; 0 is the default
		want := refEvents(in)
		var wantErr error = io.EOF
		if bound > 0 {
			for i, ev := range want {
				if len(ev) > bound {
					want, wantErr = want[:i], ErrEventTooLarge
					break
				}
			}
		}
		for how, src := range map[string]io.Reader{
			"whole":    bytes.NewReader(in),
			"split":    io.MultiReader(bytes.NewReader(in[:k]), bytes.NewReader(in[k:])),
			"one byte": iotest.OneByteReader(bytes.NewReader(in)),
		} {
			got, err := readAll(t, src, bound)
			if err != wantErr {
				t.Fatalf("%s: err = %v, want %v", how, err, wantErr)
			}
			for i, ev := range got {
				switch {
				case len(ev) < 2 || ev == "\n\n":
					t.Fatalf("%s: event %d is empty: %q", how, i, ev)
				case !strings.HasSuffix(ev, "\n\n") || strings.Contains(ev[:len(ev)-1], "\n\n"):
					t.Fatalf("%s: event %d not terminated by exactly one blank line: %q", how, i, ev)
				case strings.Contains(ev, "\r"):
					t.Fatalf("%s: event %d has a CR: %q", how, i, ev)
				case i == 0 && bytes.HasPrefix(in, bom) && strings.HasPrefix(ev, string(bom)) &&
					!bytes.HasPrefix(bytes.TrimLeft(in[len(bom):], "\r\n"), bom):
					t.Fatalf("%s: the stream's BOM reached the client: %q", how, ev)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s: events %q, want %q", how, got, want)
			}
		}
		if bound == 0 {
			src := io.MultiReader(bytes.NewReader(in[:k]), bytes.NewReader(in[k:]))
			if got, kept, err := readKept(t, iotest.HalfReader(src)); err != io.EOF || !slices.Equal(got, want) || kept != strings.Join(want, "") {
				t.Fatalf("kept: events %q, kept %q, %v; want %q", got, kept, err, want)
			}
		}
	})
}

// Every stream starts at 4 KiB, even after another stream's big event.
func TestReaderStartsSmall(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // keep the pool's contents
	for range 3 {
		r := NewReader(strings.NewReader(line200K+"\n\n"), 0)
		if ev, err := r.Next(); err != nil || len(ev) != len(line200K)+2 {
			t.Fatalf("Next = %d bytes, %v", len(ev), err)
		}
		if len(r.buf) <= initialBuf {
			t.Fatalf("buffer did not grow for a 200 KB event")
		}
		r.Release()
		r = NewReader(strings.NewReader(""), 0)
		if len(r.buf) != initialBuf {
			t.Fatalf("new Reader starts with %d bytes, want %d", len(r.buf), initialBuf)
		}
		r.Release()
	}
}
