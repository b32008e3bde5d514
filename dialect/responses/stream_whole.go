package responses

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/llmrouter/caddy-llm-router/dialect/internal/wire"
)

var errNotResponse = errors.New("responses: reply is not a response object")

// ReplyEvents appends to dst the event stream that a provider serving the Responses API would
// have sent for reply, its whole response object (valid JSON): for a streamed request that
// the upstream (or a buffering proxy in front of it) answered whole. Every event has its
// "event:" line and a sequence_number from 0: response.created and response.in_progress (the
// response in progress, without output or usage), then for each output item
// response.output_item.added (the item in progress, without its content), its content as one
// delta each (output_text and refusal parts with their content_part events, a reasoning item's
// summary parts and reasoning text, a function call's arguments, a custom tool call's input),
// response.output_item.done with the item as it came, and last response.completed
// (response.incomplete for status incomplete) with the response as it came: ids, encrypted
// reasoning, annotations and usage included. An item of another type (a hosted tool's call)
// is added and done as it came. A response that failed (or of another status, or with an
// error) and a body that is not a response object are errors: classify them as an upstream
// failure.
func ReplyEvents(dst, reply []byte) ([]byte, error) {
	resp := reply
	if bytes.ContainsAny(reply, "\r\n") {
		// A pretty-printed reply has newlines between its values, which a data: line cannot hold.
		var buf bytes.Buffer
		if err := json.Compact(&buf, reply); err != nil {
			return dst, fmt.Errorf("responses: reply: %w", err)
		}
		resp = buf.Bytes()
	}
	if len(resp) == 0 {
		return dst, errNotResponse
	}
	output := wire.Key(resp, "output")
	if obj := wire.Key(resp, "object"); resp[0] != '{' || obj != nil && !wire.Is(obj, "response") || len(output) == 0 || output[0] != '[' {
		return dst, errNotResponse
	}
	terminal := "response.completed"
	switch status := wire.Key(resp, "status"); {
	case wire.Key(resp, "error") != nil:
		return dst, errors.New("responses: the response is an error")
	case status == nil || wire.Is(status, "completed"):
	case wire.Is(status, "incomplete"):
		terminal = "response.incomplete"
	default:
		if len(status) > 32 {
			status = status[:32]
		}
		return dst, fmt.Errorf("responses: a response of status %s", status)
	}
	for it, p := wire.Elem(output, 0); it != nil; it, p = wire.Elem(output, p) {
		if it[0] != '{' {
			return dst, errNotResponse
		}
	}

	e := wholeEvents{dst: dst}
	for _, name := range [...]string{"response.created", "response.in_progress"} {
		e.start(name)
		e.dst = append(e.dst, `,"response":`...)
		e.dst = appendWith(e.dst, resp, "status", `"in_progress"`, "output", "[]", "usage", "null",
			"completed_at", "null", "incomplete_details", "null")
		e.end()
	}
	i := 0
	for it, p := wire.Elem(output, 0); it != nil; it, p = wire.Elem(output, p) {
		e.item(i, it)
		i++
	}
	e.start(terminal)
	e.dst = append(e.dst, `,"response":`...)
	e.dst = append(e.dst, resp...)
	e.end()
	return e.dst, nil
}

// wholeEvents writes the events of a whole response (see ReplyEvents).
type wholeEvents struct {
	dst []byte
	seq int64
}

// start starts the next event; end closes it.
func (e *wholeEvents) start(name string) {
	e.dst = appendEventStart(e.dst, name, e.seq)
	e.seq++
}

func (e *wholeEvents) end() { e.dst = append(e.dst, "}\n\n"...) }

// ref writes the item_id (id, a raw JSON string; "" when nil) and output_index fields.
func (e *wholeEvents) ref(id []byte, idx int) {
	e.dst = append(e.dst, `,"item_id":`...)
	if id == nil {
		id = []byte(`""`)
	}
	e.dst = append(e.dst, id...)
	e.index(idx)
}

func (e *wholeEvents) index(idx int) {
	e.dst = append(e.dst, `,"output_index":`...)
	e.dst = strconv.AppendInt(e.dst, int64(idx), 10)
}

// field writes ,"key":v, with v raw JSON ("" when nil).
func (e *wholeEvents) field(key string, v []byte) {
	e.dst = append(e.dst, `,"`...)
	e.dst = append(e.dst, key...)
	e.dst = append(e.dst, `":`...)
	if v == nil {
		v = []byte(`""`)
	}
	e.dst = append(e.dst, v...)
}

// item writes the events of output item idx, it.
func (e *wholeEvents) item(idx int, it []byte) {
	id := wire.Key(it, "id")
	typ := wire.Key(it, "type")
	e.start("response.output_item.added")
	e.index(idx)
	e.dst = append(e.dst, `,"item":`...)
	switch {
	case wire.Is(typ, "message"):
		e.dst = appendWith(e.dst, it, "status", `"in_progress"`, "content", "[]")
	case wire.Is(typ, "reasoning"):
		e.dst = appendWith(e.dst, it, "status", `"in_progress"`, "summary", "[]", "content", "[]")
	case wire.Is(typ, "function_call"):
		e.dst = appendWith(e.dst, it, "status", `"in_progress"`, "arguments", `""`)
	case wire.Is(typ, "custom_tool_call"):
		e.dst = appendWith(e.dst, it, "status", `"in_progress"`, "input", `""`)
	default:
		e.dst = appendWith(e.dst, it, "status", `"in_progress"`)
	}
	e.end()

	switch {
	case wire.Is(typ, "message"):
		e.message(id, idx, wire.Key(it, "content"))
	case wire.Is(typ, "reasoning"):
		e.reasoning(id, idx, wire.Key(it, "summary"), wire.Key(it, "content"))
	case wire.Is(typ, "function_call"):
		args := wire.Key(it, "arguments")
		e.delta("response.function_call_arguments.delta", id, idx, -1, "", args, "")
		e.start("response.function_call_arguments.done")
		e.ref(id, idx)
		e.field("name", wire.Key(it, "name"))
		e.field("arguments", args)
		e.end()
	case wire.Is(typ, "custom_tool_call"):
		input := wire.Key(it, "input")
		e.delta("response.custom_tool_call_input.delta", id, idx, -1, "", input, "")
		e.start("response.custom_tool_call_input.done")
		e.ref(id, idx)
		e.field("input", input)
		e.end()
	}

	e.start("response.output_item.done")
	e.index(idx)
	e.dst = append(e.dst, `,"item":`...)
	e.dst = append(e.dst, it...)
	e.end()
}

// intField writes ,"key":n.
func (e *wholeEvents) intField(key string, n int) {
	e.dst = append(e.dst, `,"`...)
	e.dst = append(e.dst, key...)
	e.dst = append(e.dst, `":`...)
	e.dst = strconv.AppendInt(e.dst, int64(n), 10)
}

// delta writes a delta event of item id (at output index idx) whose delta is the raw JSON
// string s, unless s is empty; indexKey and index (when not -1) say which part it is of, and
// tail is the event's further fields.
func (e *wholeEvents) delta(name string, id []byte, idx, index int, indexKey string, s []byte, tail string) {
	if wire.EmptyString(s) || !wire.IsString(s) {
		return
	}
	e.start(name)
	e.ref(id, idx)
	if index >= 0 {
		e.intField(indexKey, index)
	}
	e.field("delta", s)
	e.dst = append(e.dst, tail...)
	e.end()
}

// message writes the events of a message's content parts: output_text and refusal parts
// streamed, any other part added and done as it is.
func (e *wholeEvents) message(id []byte, idx int, content []byte) {
	j := 0
	for part, p := wire.Elem(content, 0); part != nil; part, p = wire.Elem(content, p) {
		typ := wire.Key(part, "type")
		// text is the key of the part's streamed text, tail what its events have besides it.
		text, value, name, tail := "", []byte(nil), "", ""
		switch {
		case wire.Is(typ, "output_text"):
			text, value, name, tail = "text", wire.Key(part, "text"), "response.output_text", `,"logprobs":[]`
		case wire.Is(typ, "refusal"):
			text, value, name = "refusal", wire.Key(part, "refusal"), "response.refusal"
		}
		e.start("response.content_part.added")
		e.ref(id, idx)
		e.intField("content_index", j)
		e.dst = append(e.dst, `,"part":`...)
		if text != "" {
			e.dst = appendWith(e.dst, part, text, `""`, "annotations", "[]")
		} else {
			e.dst = append(e.dst, part...)
		}
		e.end()
		if text != "" {
			e.delta(name+".delta", id, idx, j, "content_index", value, tail)
			e.start(name + ".done")
			e.ref(id, idx)
			e.intField("content_index", j)
			e.field(text, value)
			e.dst = append(e.dst, tail...)
			e.end()
		}
		e.start("response.content_part.done")
		e.ref(id, idx)
		e.intField("content_index", j)
		e.field("part", part)
		e.end()
		j++
	}
}

// reasoning writes the events of a reasoning item's summary parts and reasoning text; its
// encrypted content is in the item, at output_item.done.
func (e *wholeEvents) reasoning(id []byte, idx int, summary, content []byte) {
	k := 0
	for part, p := wire.Elem(summary, 0); part != nil; part, p = wire.Elem(summary, p) {
		text := wire.Key(part, "text")
		e.start("response.reasoning_summary_part.added")
		e.ref(id, idx)
		e.intField("summary_index", k)
		e.dst = append(e.dst, `,"part":`...)
		e.dst = appendWith(e.dst, part, "text", `""`)
		e.end()
		e.delta("response.reasoning_summary_text.delta", id, idx, k, "summary_index", text, "")
		e.start("response.reasoning_summary_text.done")
		e.ref(id, idx)
		e.intField("summary_index", k)
		e.field("text", text)
		e.end()
		e.start("response.reasoning_summary_part.done")
		e.ref(id, idx)
		e.intField("summary_index", k)
		e.field("part", part)
		e.end()
		k++
	}
	j := 0
	for part, p := wire.Elem(content, 0); part != nil; part, p = wire.Elem(content, p) {
		if wire.Is(wire.Key(part, "type"), "reasoning_text") {
			text := wire.Key(part, "text")
			e.delta("response.reasoning_text.delta", id, idx, j, "content_index", text, "")
			e.start("response.reasoning_text.done")
			e.ref(id, idx)
			e.intField("content_index", j)
			e.field("text", text)
			e.end()
		}
		j++
	}
}

// appendWith appends the JSON object obj with the values of some of its members replaced:
// subs are pairs of a key and its new raw value. Members obj does not have are not added.
func appendWith(dst, obj []byte, subs ...string) []byte {
	dst = append(dst, '{')
	n := 0
	for k, v, p, ok := wire.Field(obj, 0); ok; k, v, p, ok = wire.Field(obj, p) {
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = append(dst, '"')
		dst = append(dst, k...)
		dst = append(dst, '"', ':')
		sub := -1
		for i := 0; i+1 < len(subs) && sub < 0; i += 2 {
			if string(k) == subs[i] {
				sub = i + 1
			}
		}
		if sub >= 0 {
			dst = append(dst, subs[sub]...)
		} else {
			dst = append(dst, v...)
		}
	}
	return append(dst, '}')
}
