// Package wire holds the small byte-level helpers the dialect stream translators share: splitting
// one SSE event into its name and data, and reading values out of a JSON object without decoding
// it. Values are returned as sub-slices of the input (raw JSON), so a translator can copy a JSON
// string from one dialect's event into another's without unescaping and re-escaping it.
//
// Callers validate an event's data once with json.Valid before scanning it: the scanners below
// trust their input to be well-formed and never allocate.
package wire

import (
	"bytes"
	"strconv"

	"github.com/llmrouter/caddy-llm-router/internal/jsonscan"
)

// Event splits an SSE event in normal form (lines ending in "\n", see sse.Reader) into the value
// of its event line and its data. An event with several data lines has them joined with "\n" as
// a client would (this allocates; real upstreams send one data line). ok is false when the event
// has no data line.
func Event(ev []byte) (name, data []byte, ok bool) {
	n := 0
	var joined []byte
	for pos := 0; pos < len(ev); {
		end := len(ev)
		if i := bytes.IndexByte(ev[pos:], '\n'); i >= 0 {
			end = pos + i
		}
		line := ev[pos:end]
		pos = end + 1
		field, val := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, val = line[:i], line[i+1:]
			if len(val) > 0 && val[0] == ' ' {
				val = val[1:]
			}
		}
		switch string(field) {
		case "event":
			name = val
		case "data":
			switch n {
			case 0:
				data = val
			case 1:
				joined = append(append(append(joined, data...), '\n'), val...)
			default:
				joined = append(append(joined, '\n'), val...)
			}
			n++
		}
	}
	if n > 1 {
		data = joined
	}
	return name, data, n > 0
}

// Key returns the raw value of key in the JSON object obj (nil when absent, null or obj is not
// an object).
func Key(obj []byte, key string) []byte { return jsonscan.ObjectKey(obj, key) }

// Path follows keys through nested objects: Path(d, "a", "b") is d.a.b.
func Path(obj []byte, keys ...string) []byte {
	for _, k := range keys {
		obj = jsonscan.ObjectKey(obj, k)
		if obj == nil {
			return nil
		}
	}
	return obj
}

// Is reports whether raw is the JSON string whose text is lit (compared as written; lit must
// need no escaping).
func Is(raw []byte, lit string) bool {
	return len(raw) == len(lit)+2 && raw[0] == '"' && string(raw[1:len(raw)-1]) == lit
}

// IsString reports whether raw is a JSON string.
func IsString(raw []byte) bool { return len(raw) >= 2 && raw[0] == '"' }

// EmptyString reports whether raw is absent, null or the empty JSON string.
func EmptyString(raw []byte) bool {
	return len(raw) == 0 || string(raw) == `""` || string(raw) == "null"
}

// Int returns raw as an integer, or 0 when it is not one (fractions are truncated).
func Int(raw []byte) int64 {
	if len(raw) == 0 {
		return 0
	}
	if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
		return n
	}
	if f, err := strconv.ParseFloat(string(raw), 64); err == nil {
		return int64(f)
	}
	return 0
}

// Elem is jsonscan.Elem: the array element at or after pos, and the position after it.
func Elem(arr []byte, pos int) (elem []byte, next int) { return jsonscan.Elem(arr, pos) }

// Field is jsonscan.Field: the object member at or after pos, and the position after it.
func Field(obj []byte, pos int) (key, val []byte, next int, ok bool) { return jsonscan.Field(obj, pos) }

// FirstChoice returns the chunk's or reply's choice with index 0 (or without an index) from its
// choices array: the one choice a translated message or response has room for when n > 1.
func FirstChoice(choices []byte) []byte {
	for c, p := Elem(choices, 0); c != nil; c, p = Elem(choices, p) {
		if i := Key(c, "index"); i == nil || Int(i) == 0 {
			return c
		}
	}
	return nil
}
