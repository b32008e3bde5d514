package gemini

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/llmrouter/caddy-llm-router/dialect"
)

var (
	_ dialect.StreamTranslator = (*StreamToOpenAI)(nil)
	_ dialect.StreamTranslator = (*StreamFromOpenAI)(nil)
	_ dialect.StreamTranslator = (*Passthrough)(nil)
	_ dialect.ErrorEnder       = (*Passthrough)(nil)
	_ dialect.ErrorEnder       = (*StreamFromOpenAI)(nil)
)

// checkSSE splits translator output into data values and reports what is wrong with it:
// every event ends with a blank line, has one data line and no other, and JSON (or [DONE])
// data.
func checkSSE(out []byte) ([]string, string) {
	s := string(out)
	if s == "" {
		return nil, ""
	}
	if !strings.HasSuffix(s, "\n\n") {
		return nil, "output does not end with a blank line"
	}
	var evs []string
	blocks := strings.Split(strings.TrimSuffix(s, "\n\n"), "\n\n")
	for i, block := range blocks {
		if i > 0 && i == len(blocks)-1 && block+"\n\n" == StreamFailedComment && strings.HasPrefix(blocks[i-1], `data: {"error":`) {
			break // what follows an error event
		}
		if strings.Contains(block, "\n") || !strings.HasPrefix(block, "data: ") {
			return nil, "bad event " + quote(block)
		}
		d := block[len("data: "):]
		if d != "[DONE]" && !json.Valid([]byte(d)) {
			return nil, "invalid JSON data: " + quote(d)
		}
		evs = append(evs, d)
	}
	return evs, ""
}

func parseSSE(t testing.TB, out []byte) []string {
	t.Helper()
	evs, msg := checkSSE(out)
	if msg != "" {
		t.Fatalf("%s\noutput:\n%s", msg, out)
	}
	return evs
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

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
	var b bytes.Buffer
	if json.Compact(&b, []byte(s)) != nil {
		return s
	}
	return b.String()
}

// data builds an upstream SSE event as the relay frames it.
func data(s string) []byte { return []byte("data: " + s + "\n\n") }

// splitEvents cuts fuzz input into events the way the relay hands them over.
func splitEvents(in []byte) [][]byte {
	var evs [][]byte
	for _, p := range bytes.Split(in, []byte("\n\n")) {
		if len(p) > 0 {
			evs = append(evs, append(append([]byte(nil), p...), '\n', '\n'))
		}
	}
	return evs
}

type translator interface {
	Event(dst, ev []byte) ([]byte, error)
	Finish(dst []byte) ([]byte, error)
}

func run(tr translator, evs [][]byte) ([]byte, error) {
	var out []byte
	for _, e := range evs {
		var err error
		if out, err = tr.Event(out, e); err != nil {
			return out, err
		}
	}
	return tr.Finish(out)
}
