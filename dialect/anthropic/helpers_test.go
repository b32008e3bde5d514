package anthropic

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// sseEvent is one parsed output event.
type sseEvent struct {
	Name string
	Data string
}

// parseSSE splits translator output into events and fails unless it is well-formed SSE:
// every event ends with a blank line, has only "event:" and "data:" lines, exactly one data
// line, and data that is JSON (or [DONE]).
func parseSSE(t testing.TB, out []byte) []sseEvent {
	t.Helper()
	evs, err := checkSSE(out)
	if err != "" {
		t.Fatalf("%s\noutput:\n%s", err, out)
	}
	return evs
}

func checkSSE(out []byte) ([]sseEvent, string) {
	s := string(out)
	if s == "" {
		return nil, ""
	}
	if !strings.HasSuffix(s, "\n\n") {
		return nil, "output does not end with a blank line"
	}
	var evs []sseEvent
	for _, block := range strings.Split(strings.TrimSuffix(s, "\n\n"), "\n\n") {
		var ev sseEvent
		datas := 0
		for _, line := range strings.Split(block, "\n") {
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.Name = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				ev.Data = line[len("data: "):]
				datas++
			default:
				return nil, "bad line " + strconvQuote(line)
			}
		}
		if datas != 1 {
			return nil, "event without exactly one data line: " + strconvQuote(block)
		}
		if ev.Data != "[DONE]" && !json.Valid([]byte(ev.Data)) {
			return nil, "invalid JSON data: " + strconvQuote(ev.Data)
		}
		evs = append(evs, ev)
	}
	return evs, ""
}

func strconvQuote(s string) string { b, _ := json.Marshal(s); return string(b) }

// jsonEq decodes both documents and compares them semantically.
func jsonEq(t testing.TB, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("got is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want is not JSON: %v\n%s", err, want)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("JSON differs\n got: %s\nwant: %s", compact(got), compact(want))
	}
}

func compact(s string) string {
	var v any
	if json.Unmarshal([]byte(s), &v) != nil {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// ev builds an Anthropic upstream event as the relay frames it.
func ev(name, data string) []byte { return []byte("event: " + name + "\ndata: " + data + "\n\n") }

// chunk builds an OpenAI upstream event.
func chunk(data string) []byte { return []byte("data: " + data + "\n\n") }
