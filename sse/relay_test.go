package sse

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// recorder logs every Write (copied, as the caller may reuse the slice) and
// every flush, in order. failAt makes the nth Write (1-based) fail; short
// makes it also report fewer bytes; flushFailAt does the same for flushes.
type recorder struct {
	log         []string
	writes      int
	flushes     int
	failAt      int
	short       bool
	flushFailAt int
}

var errWrite = errors.New("client gone")
var errFlush = errors.New("flush failed")

func (r *recorder) Write(p []byte) (int, error) {
	r.writes++
	if r.writes == r.failAt {
		r.log = append(r.log, "FAILED")
		if r.short {
			return len(p) / 2, nil
		}
		return 3, errWrite
	}
	r.log = append(r.log, string(p))
	return len(p), nil
}

func (r *recorder) flush() error {
	r.flushes++
	r.log = append(r.log, "FLUSH")
	if r.flushes == r.flushFailAt {
		return errFlush
	}
	return nil
}

const anthropicStream = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n" +
	"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"Hi\"}}\n\n" +
	"event: ping\ndata: {\"type\": \"ping\"}\n\n" +
	anthropicDelta +
	"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"

func TestRelay(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		first string
		f     Filter
		log   []string // what the client sees, write by write
		stats Stats
	}{
		{
			name: "openai with usage chunk",
			in: ": OPENROUTER PROCESSING\n\n" +
				"data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\r\n\r\n" +
				"event: chunk\ndata: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n" +
				openaiFinal + "data: [DONE]\n\n",
			log: []string{
				"data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n", "FLUSH",
				"data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n", "FLUSH",
				openaiFinal, "FLUSH",
				"data: [DONE]\n\n", "FLUSH",
			},
			stats: Stats{Events: 4, Done: true, Usage: []byte(openaiUsage)},
		},
		{
			name: "anthropic keeps event names",
			in:   anthropicStream,
			f:    Filter{KeepEventNames: true},
			log: []string{
				"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n", "FLUSH",
				"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"Hi\"}}\n\n", "FLUSH",
				"event: ping\ndata: {\"type\": \"ping\"}\n\n", "FLUSH",
				anthropicDelta, "FLUSH",
				"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n", "FLUSH",
			},
			stats: Stats{Events: 5, Done: true, Usage: []byte(`{"output_tokens":15}`)},
		},
		{
			name:  "first event goes first",
			first: "data: 1\n\n",
			in:    "data: 2\n\n",
			log:   []string{"data: 1\n\n", "FLUSH", "data: 2\n\n", "FLUSH"},
			stats: Stats{Events: 2},
		},
		{
			name:  "filtered first event",
			first: ": hi\n\n",
			in:    "data: 2\n\n",
			log:   []string{"data: 2\n\n", "FLUSH"},
			stats: Stats{Events: 1},
		},
		{
			name:  "no done, no usage",
			in:    "data: \"a\"\n\ndata: \"b\"",
			log:   []string{"data: \"a\"\n\n", "FLUSH", "data: \"b\"\n\n", "FLUSH"},
			stats: Stats{Events: 2},
		},
		{
			name:  "keepalives only",
			in:    ": keepalive\n\n: keepalive\n\nevent: ping\n\n",
			log:   nil,
			stats: Stats{},
		},
		{
			name:  "empty stream",
			in:    "",
			log:   nil,
			stats: Stats{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for how, src := range map[string]io.Reader{
				"whole":    strings.NewReader(tc.in),
				"one byte": iotest.OneByteReader(strings.NewReader(tc.in)),
			} {
				rec := &recorder{}
				r := NewReader(src, 0)
				var first []byte
				if tc.first != "" {
					first = []byte(tc.first)
				}
				st, err := Relay(rec, rec.flush, r, tc.f, first)
				r.Release()
				if err != nil {
					t.Fatalf("%s: err = %v", how, err)
				}
				if !slices.Equal(rec.log, tc.log) {
					t.Fatalf("%s: client saw\n%q\nwant\n%q", how, rec.log, tc.log)
				}
				want := tc.stats
				for _, l := range tc.log {
					if l != "FLUSH" {
						want.Bytes += int64(len(l))
					}
				}
				if st.Events != want.Events || st.Bytes != want.Bytes || st.Done != want.Done || string(st.Usage) != string(want.Usage) {
					t.Fatalf("%s: stats = %+v (usage %s), want %+v (usage %s)", how, st, st.Usage, want, want.Usage)
				}
			}
		})
	}
}

// The client gets exactly the upstream's bytes when nothing is filtered and
// the stream is already in normal form.
func TestRelayPassesBytesUntouched(t *testing.T) {
	var sb strings.Builder
	for range 50 {
		sb.WriteString("event: content_block_delta\nid: 3\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"\\u00e9 \\\"q\\\" 😀\"}}\n\n")
	}
	sb.WriteString(": comment\n\n")
	sb.WriteString(anthropicStream)
	in := sb.String()
	var got strings.Builder
	r := NewReader(iotest.HalfReader(strings.NewReader(in)), 0)
	defer r.Release()
	st, err := Relay(&got, nil, r, Filter{KeepEventNames: true, KeepComments: true}, nil)
	if err != nil || got.String() != in || st.Bytes != int64(len(in)) {
		t.Fatalf("relay changed the stream (err %v, %d of %d bytes)", err, st.Bytes, len(in))
	}
}

func TestRelayStopsOnError(t *testing.T) {
	in := "data: 1\n\ndata: 2\n\ndata: 3\n\n"
	tests := []struct {
		name string
		rec  *recorder
		src  io.Reader
		err  error
		log  []string
		st   Stats
	}{
		{
			name: "write error",
			rec:  &recorder{failAt: 2},
			src:  strings.NewReader(in),
			err:  errWrite,
			log:  []string{"data: 1\n\n", "FLUSH", "FAILED"},
			st:   Stats{Events: 1, Bytes: 9 + 3, ClientGone: true},
		},
		{
			name: "short write",
			rec:  &recorder{failAt: 1, short: true},
			src:  strings.NewReader(in),
			err:  io.ErrShortWrite,
			log:  []string{"FAILED"},
			st:   Stats{Events: 0, Bytes: 4, ClientGone: true},
		},
		{
			name: "flush error",
			rec:  &recorder{flushFailAt: 2},
			src:  strings.NewReader(in),
			err:  errFlush,
			log:  []string{"data: 1\n\n", "FLUSH", "data: 2\n\n", "FLUSH"},
			st:   Stats{Events: 2, Bytes: 18, ClientGone: true},
		},
		{
			name: "read error mid-stream",
			rec:  &recorder{},
			src:  io.MultiReader(strings.NewReader("data: 1\n\ndata: 2\n\ndata: {\"cut"), iotest.ErrReader(errBoom)),
			err:  errBoom,
			log:  []string{"data: 1\n\n", "FLUSH", "data: 2\n\n", "FLUSH"},
			st:   Stats{Events: 2, Bytes: 18},
		},
		{
			// The answer is whole at its terminator: nothing after it is read or relayed.
			name: "events after the terminator",
			rec:  &recorder{},
			src:  io.MultiReader(strings.NewReader("data: 1\n\ndata: [DONE]\n\ndata: 3\n\n"), iotest.ErrReader(errBoom)),
			log:  []string{"data: 1\n\n", "FLUSH", "data: [DONE]\n\n", "FLUSH"},
			st:   Stats{Events: 2, Bytes: 23, Done: true},
		},
		{
			// A client's SDK fails on the event with a parse error, and the stream would go on
			// to its terminator as if whole: it ends before the event instead.
			name: "malformed event mid-stream",
			rec:  &recorder{},
			src:  strings.NewReader("data: 1\n\ndata: {\"id\":\"c1\",\"choices\":[{\"delta\":\n\ndata: 3\n\ndata: [DONE]\n\n"),
			err:  ErrMalformedEvent,
			log:  []string{"data: 1\n\n", "FLUSH"},
			st:   Stats{Events: 1, Bytes: 9},
		},
		{
			name: "garbage after a valid multi-line event",
			rec:  &recorder{},
			src:  strings.NewReader("data: {\"a\":\ndata: 1}\n\ndata: <html>\n\ndata: [DONE]\n\n"),
			err:  ErrMalformedEvent,
			log:  []string{"data: {\"a\":\ndata: 1}\n\n", "FLUSH"},
			st:   Stats{Events: 1, Bytes: 22},
		},
		{
			// Joined, the lines are a cut object.
			name: "multi-line event cut",
			rec:  &recorder{},
			src:  strings.NewReader("data: 1\n\ndata: {\"a\":1,\ndata: \"b\":\n\ndata: [DONE]\n\n"),
			err:  ErrMalformedEvent,
			log:  []string{"data: 1\n\n", "FLUSH"},
			st:   Stats{Events: 1, Bytes: 9},
		},
		{
			name: "empty data",
			rec:  &recorder{},
			src:  strings.NewReader("data: 1\n\ndata:\n\ndata: [DONE]\n\n"),
			err:  ErrMalformedEvent,
			log:  []string{"data: 1\n\n", "FLUSH"},
			st:   Stats{Events: 1, Bytes: 9},
		},
		{
			name: "event too large",
			rec:  &recorder{},
			src:  strings.NewReader("data: 1\n\ndata: " + strings.Repeat("x", 100) + "\n\ndata: 3\n\n"),
			err:  ErrEventTooLarge,
			log:  []string{"data: 1\n\n", "FLUSH"},
			st:   Stats{Events: 1, Bytes: 9},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(tc.src, 64)
			defer r.Release()
			st, err := Relay(tc.rec, tc.rec.flush, r, Filter{}, nil)
			if err != tc.err {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if !slices.Equal(tc.rec.log, tc.log) {
				t.Fatalf("client saw %q, want %q", tc.rec.log, tc.log)
			}
			if st.Events != tc.st.Events || st.Bytes != tc.st.Bytes || st.Done != tc.st.Done || st.ClientGone != tc.st.ClientGone {
				t.Fatalf("stats = %+v, want %+v", st, tc.st)
			}
		})
	}
}

// Usage must survive the Reader reusing its buffer for later events.
func TestRelayUsageIsCopied(t *testing.T) {
	in := openaiFinal + strings.Repeat("data: {\"choices\":[{\"delta\":{\"content\":\"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\"}}]}\n\n", 200)
	r := NewReader(strings.NewReader(in), 0)
	defer r.Release()
	st, err := Relay(io.Discard, nil, r, Filter{}, nil)
	if err != nil || string(st.Usage) != openaiUsage {
		t.Fatalf("usage = %q, %v; want %q", st.Usage, err, openaiUsage)
	}
}

// Steady-state relaying allocates nothing per event, filtered or not.
func TestRelayAllocations(t *testing.T) {
	tests := []struct {
		name string
		ev   string
		f    Filter
	}{
		{"verbatim", "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n", Filter{}},
		{"filtered", "event: x\ndata: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n", Filter{}},
		{"crlf", "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\r\n\r\n", Filter{}},
		{"keepalive", ": keepalive\n\n", Filter{}},
		{"tool calls finish, text", "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n", Filter{ToolCallsFinish: true}},
	}
	// A collection empties the sync.Pool and would make a run allocate.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			relay := func(n int) float64 {
				src := strings.NewReader(strings.Repeat(tc.ev, n))
				var r *Reader
				return testing.AllocsPerRun(5, func() {
					src.Seek(0, io.SeekStart)
					r = NewReader(src, 0)
					if _, err := Relay(io.Discard, nil, r, tc.f, nil); err != nil {
						t.Fatal(err)
					}
					r.Release()
				})
			}
			// A per-event allocation would add a thousand; the race
			// detector's sync.Pool drops items at random, adding a few.
			few, many := relay(10), relay(1000)
			if many > few+4 {
				t.Fatalf("allocations grow with events: %v for 10, %v for 1000", few, many)
			}
		})
	}
}

// TestRelayToolCallsFinish: with ToolCallsFinish, a "stop" that ends a choice which streamed
// tool calls is written "tool_calls", in its own chunk or with the calls; every other chunk
// passes as it came.
func TestRelayToolCallsFinish(t *testing.T) {
	const head = `data: {"id":"c","object":"chat.completion.chunk","choices":[`
	for _, tc := range []struct{ name, in, want string }{
		{"finish in a chunk of its own",
			head + `{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]}}]}` + "\n\n" +
				head + `{"index":0,"delta":{},"finish_reason": "stop"}]}` + "\n\ndata: [DONE]\n\n",
			head + `{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]}}]}` + "\n\n" +
				head + `{"index":0,"delta":{},"finish_reason": "tool_calls"}]}` + "\n\ndata: [DONE]\n\n"},
		{"finish with the calls, two choices",
			head + `{"index":1,"delta":{"content":"no call"}},{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1"}]},"finish_reason":"stop"}]}` + "\n\n" +
				head + `{"index":1,"delta":{},"finish_reason":"stop"}]}` + "\n\n",
			head + `{"index":1,"delta":{"content":"no call"}},{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1"}]},"finish_reason":"tool_calls"}]}` + "\n\n" +
				head + `{"index":1,"delta":{},"finish_reason":"stop"}]}` + "\n\n"},
		{"text that names tool_calls is text",
			head + `{"index":0,"delta":{"content":"tool_calls"}}]}` + "\n\n" + head + `{"index":0,"delta":{"tool_calls":[]},"finish_reason":"stop"}]}` + "\n\n", ""},
		{"length stays length",
			head + `{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c1"}]}}]}` + "\n\n" + head + `{"index":0,"delta":{},"finish_reason":"length"}]}` + "\n\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.want
			if want == "" {
				want = tc.in
			}
			var got strings.Builder
			r := NewReader(strings.NewReader(tc.in), 0)
			defer r.Release()
			if _, err := Relay(&got, nil, r, Filter{ToolCallsFinish: true}, nil); err != nil || got.String() != want {
				t.Fatalf("%v\ngot  %s\nwant %s", err, got.String(), want)
			}
			// Without the setting, the stream passes as it came.
			got.Reset()
			r2 := NewReader(strings.NewReader(tc.in), 0)
			defer r2.Release()
			if _, err := Relay(&got, nil, r2, Filter{}, nil); err != nil || got.String() != tc.in {
				t.Fatalf("without ToolCallsFinish: %v %s", err, got.String())
			}
		})
	}
}

// FuzzToolCallsFinish: any event, no panic; the rewrite only ever turns a "stop" into
// "tool_calls", and a JSON chunk stays JSON.
func FuzzToolCallsFinish(f *testing.F) {
	f.Add([]byte("data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{}]},\"finish_reason\":\"stop\"}]}\n\n"))
	f.Add([]byte("data: {\"choices\":[{\"index\":63,\"delta\":{\"tool_calls\":[1]}},{\"index\":63,\"finish_reason\" : \"stop\"}]}\n\n"))
	f.Add([]byte("data: {\"choices\":[{\"index\":-1,\"finish_reason\":\"stop\"}],\"choices\":{}}\n\n"))
	f.Fuzz(func(t *testing.T, ev []byte) {
		called := uint64(1) // choice 0 called a tool in an earlier chunk
		out, ok := toolCallsFinish(nil, ev, &called)
		if !ok {
			return
		}
		if !bytes.Equal(bytes.ReplaceAll(out, []byte(`"tool_calls"`), []byte(`"stop"`)), bytes.ReplaceAll(ev, []byte(`"tool_calls"`), []byte(`"stop"`))) {
			t.Fatalf("changed beyond a finish reason:\n%q\n%q", ev, out)
		}
		if _, data, _ := strings.Cut(string(ev), "data: "); json.Valid([]byte(strings.TrimSpace(data))) {
			if _, d2, _ := strings.Cut(string(out), "data: "); !json.Valid([]byte(strings.TrimSpace(d2))) {
				t.Fatalf("not JSON after the rewrite: %q", out)
			}
		}
	})
}

// TestRelayKeptEvents: events a caller kept before it began the relay (Reader.Keep) each go
// out as the events after them do, filtered, one write and one flush each, in order, and the
// usage of the first of them (Anthropic's message_start) is the stream's first usage.
func TestRelayKeptEvents(t *testing.T) {
	r := NewReader(strings.NewReader(anthropicStream), 0)
	defer r.Release()
	for range 3 { // message_start, the first delta, the ping
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
		r.Keep()
	}
	rec := &recorder{}
	st, err := Relay(rec, rec.flush, r, Filter{}, r.Kept())
	if err != nil || !st.Done || st.Events != 5 {
		t.Fatalf("stats %+v, %v", st, err)
	}
	want := []string{
		"data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n", "FLUSH",
		"data: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"Hi\"}}\n\n", "FLUSH",
		"data: {\"type\": \"ping\"}\n\n", "FLUSH",
		"data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":15}}\n\n", "FLUSH",
		"data: {\"type\":\"message_stop\"}\n\n", "FLUSH",
	}
	if !slices.Equal(rec.log, want) {
		t.Errorf("writes\n got %q\nwant %q", rec.log, want)
	}
	if string(st.FirstUsage) != `{"input_tokens":25,"output_tokens":1}` {
		t.Errorf("first usage %s, want message_start's", st.FirstUsage)
	}
}
