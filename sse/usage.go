package sse

import (
	"bytes"
	"encoding/json"

	"github.com/llmrouter/caddy-llm-router/internal/jsonscan"
)

var doneData = []byte("[DONE]")

// mentionsUsage is bytes.Contains(ev, []byte(`"usage"`)) made several
// times faster on JSON: bytes.Index hunts for the first byte, and a quote
// is everywhere in JSON, while 'g' is the rarest letter of the word.
func mentionsUsage(ev []byte) bool {
	for i := 4; i+2 < len(ev); {
		j := bytes.IndexByte(ev[i:len(ev)-2], 'g')
		if j < 0 {
			return false
		}
		i += j
		if string(ev[i-4:i+3]) == `"usage"` {
			return true
		}
		i++
	}
	return false
}

// Usage returns the raw JSON value of the "usage" key of the event's data
// (nil if absent, null or malformed). The key is looked for at the top level
// of the data object first and then one level down, inside a top-level
// "response" or "message" object: the Responses API reports usage only in
// response.completed's "response", and Anthropic reports input tokens in
// message_start's "message". Events without the quoted word "usage" (nearly
// all) cost one pre-check as cheap as a bytes.Contains.
func Usage(ev []byte) []byte {
	if !mentionsUsage(ev) {
		return nil
	}
	data, ok := singleData(ev)
	if !ok {
		data = joinData(ev)
	}
	u := findUsage(data)
	if u == nil || !json.Valid(u) {
		return nil
	}
	return u
}

// Data returns the event's data as a client sees it: the value of its only data line, or its
// data lines joined with "\n" (which allocates, for the rare multi-line event). ok is false
// when the event has no data line.
func Data(ev []byte) (data []byte, ok bool) {
	if data, ok = singleData(ev); ok {
		return data, true
	}
	data = joinData(ev)
	return data, data != nil
}

// IsDone reports whether the event's data is "[DONE]".
func IsDone(ev []byte) bool {
	d, ok := singleData(ev)
	return ok && bytes.Equal(d, doneData)
}

// inspect reads ev's lines once. terminal says ev is the normal end of a stream in any dialect
// the router relays: OpenAI chat's "[DONE]", Anthropic's message_stop or the Responses API's
// response.completed (response.incomplete: a whole response cut by max_output_tokens). valid
// says its data, when it has any, looks like what the client's SDK can parse: "[DONE]" (or
// data that begins so) or a JSON value by wholeJSON. joined, reused across calls, holds the
// data of a multi-line event joined as a client joins it.
func inspect(ev []byte, joined *[]byte) (terminal, valid bool) {
	var data []byte
	datas := 0
	for pos := 0; pos < len(ev); {
		end := len(ev)
		if i := bytes.IndexByte(ev[pos:], '\n'); i >= 0 {
			end = pos + i
		}
		name, val := field(ev[pos:end])
		switch string(name) {
		case "data":
			if datas == 1 {
				*joined = append((*joined)[:0], data...)
			}
			if datas >= 1 {
				*joined = append(append(*joined, '\n'), val...)
			}
			data = val
			datas++
		case "event":
			if string(val) == "message_stop" || string(val) == "response.completed" || string(val) == "response.incomplete" {
				terminal = true
			}
		}
		pos = end + 1
	}
	switch {
	case datas == 0:
		return terminal, true
	case datas > 1:
		return terminal, wholeJSON(*joined)
	case bytes.Equal(data, doneData):
		return true, true
	case bytes.HasPrefix(data, doneData):
		// Not the terminator, but the SDKs take it for one (they test the prefix): nothing they
		// fail to parse.
		return terminal, true
	}
	return terminal, wholeJSON(data)
}

// wholeJSON is the relay's check of a passed-through event's data: an object must begin with
// '{' and a key's quote (or be empty) and end with '}', an array begin with '[' and end with
// ']'; anything else must be valid JSON. That catches what breaks streams in practice (a cut
// chunk, an empty data line, a Python dict, an HTML page, plain text) in a few byte
// compares: a full validation of every event (jsonscan.Valid) tripled the relay's cost per
// event. What passes the check and is still not JSON (NaN, a stray brace) is relayed.
func wholeJSON(d []byte) bool {
	d = bytes.TrimSpace(d)
	if len(d) < 2 {
		return len(d) == 1 && d[0] >= '0' && d[0] <= '9'
	}
	switch d[0] {
	case '{':
		inner := bytes.TrimLeft(d[1:], " \t\r\n")
		return d[len(d)-1] == '}' && len(inner) > 0 && (inner[0] == '"' || inner[0] == '}')
	case '[':
		return d[len(d)-1] == ']'
	}
	return jsonscan.Valid(d)
}

// field splits an SSE line into its field name and value, dropping the one
// space the spec allows after the colon.
func field(line []byte) (name, val []byte) {
	i := bytes.IndexByte(line, ':')
	if i < 0 {
		return line, nil
	}
	val = line[i+1:]
	if len(val) > 0 && val[0] == ' ' {
		val = val[1:]
	}
	return line[:i], val
}

// singleData returns the value of the event's only data line; ok is false
// when there is none or more than one.
func singleData(ev []byte) (data []byte, ok bool) {
	for pos := 0; pos < len(ev); {
		end := len(ev)
		if i := bytes.IndexByte(ev[pos:], '\n'); i >= 0 {
			end = pos + i
		}
		if name, val := field(ev[pos:end]); string(name) == "data" {
			if ok {
				return nil, false
			}
			data, ok = val, true
		}
		pos = end + 1
	}
	return data, ok
}

// joinData joins the data lines with "\n" as a client would; it allocates,
// which is fine for the rare multi-line event that mentions usage.
func joinData(ev []byte) []byte {
	var out []byte
	n := 0
	for pos := 0; pos < len(ev); {
		end := len(ev)
		if i := bytes.IndexByte(ev[pos:], '\n'); i >= 0 {
			end = pos + i
		}
		if name, val := field(ev[pos:end]); string(name) == "data" {
			if n > 0 {
				out = append(out, '\n')
			}
			out = append(out, val...)
			n++
		}
		pos = end + 1
	}
	return out
}

// findUsage looks for "usage" in the top-level object, then inside a
// top-level "response" or "message" object. Rescanning for each key keeps
// this simple; it runs only on the few events that mention usage.
func findUsage(data []byte) []byte {
	if u := jsonscan.ObjectKey(data, "usage"); u != nil {
		return u
	}
	for _, k := range [...]string{"response", "message"} {
		if u := jsonscan.ObjectKey(jsonscan.ObjectKey(data, k), "usage"); u != nil {
			return u
		}
	}
	return nil
}
