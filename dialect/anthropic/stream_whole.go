package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/llmrouter/caddy-llm-router/dialect/internal/wire"
	"github.com/llmrouter/caddy-llm-router/internal/jsonstr"
)

// errNotMessage is a whole reply that ReplyEvents cannot stream: not a message object with
// a content array.
var errNotMessage = errors.New("anthropic: reply is not a message")

// ReplyEvents appends to dst the Messages stream that a whole reply (a message object) would
// have come as, for a streamed request that an upstream answered whole. The pivot is not
// used: it has no room for a thinking block's signature, nor for redacted thinking, and a
// client that replays a turn without them is refused. The stream is message_start with the
// message as it is, but its content empty, no stop reason or sequence yet and no output
// tokens; then each content block at its index, as content_block_start, its deltas and
// content_block_stop; message_delta with the stop reason, stop sequence (stop details and
// container when the reply has them) and the reply's usage (a message_delta's counts are
// totals); message_stop.
//
// A block starts as it is with its streamed members empty, which its deltas then carry
// whole: a text block's text (text_delta) and citations (one citations_delta each), a
// thinking block's thinking (thinking_delta) and then its signature (signature_delta), and
// the input of a block that has one (tool_use, server_tool_use, mcp_tool_use:
// input_json_delta, the input as one JSON string). Any other block (redacted_thinking, a
// server tool's result) starts whole and has no delta. Values are copied as they came, without
// unescaping; every event has its event: line. A reply that is not JSON, or not a message,
// returns an error, and dst as it was.
func ReplyEvents(dst, reply []byte) ([]byte, error) {
	// A pretty-printed reply has newlines between its values, which a data: line cannot hold.
	var buf bytes.Buffer
	if err := json.Compact(&buf, reply); err != nil {
		return dst, fmt.Errorf("anthropic: reply: %w", err)
	}
	msg := buf.Bytes()
	content := wire.Key(msg, "content")
	if typ := wire.Key(msg, "type"); msg[0] != '{' || typ != nil && !wire.Is(typ, "message") || len(content) == 0 || content[0] != '[' {
		return dst, errNotMessage
	}

	start := len(dst)
	dst = append(dst, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{"...)
	n := 0
	for k, v, p, ok := wire.Field(msg, 0); ok; k, v, p, ok = wire.Field(msg, p) {
		dst = appendMember(dst, n, k)
		n++
		switch string(k) {
		case "content":
			dst = append(dst, "[]"...)
		case "stop_reason", "stop_sequence", "stop_details":
			dst = append(dst, "null"...)
		case "usage":
			dst = appendStartUsage(dst, v)
		default:
			dst = append(dst, v...)
		}
	}
	dst = append(dst, "}}\n\n"...)

	index := 0
	for b, p := wire.Elem(content, 0); b != nil; b, p = wire.Elem(content, p) {
		if b[0] != '{' {
			return dst[:start], errNotMessage
		}
		dst = appendBlock(dst, index, b)
		index++
	}

	dst = append(dst, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"...)
	dst = appendOrNull(dst, wire.Key(msg, "stop_reason"))
	dst = append(dst, `,"stop_sequence":`...)
	dst = appendOrNull(dst, wire.Key(msg, "stop_sequence"))
	for _, k := range [...]string{"stop_details", "container"} {
		if v := wire.Key(msg, k); v != nil {
			dst = appendMember(dst, 1, []byte(k))
			dst = append(dst, v...)
		}
	}
	dst = append(dst, `},"usage":`...)
	if u := wire.Key(msg, "usage"); len(u) > 0 && u[0] == '{' {
		dst = append(dst, u...)
	} else {
		dst = append(dst, `{"output_tokens":0}`...)
	}
	return append(dst, "}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"...), nil
}

// appendBlock appends the events of one content block (see ReplyEvents).
func appendBlock(dst []byte, index int, b []byte) []byte {
	typ := wire.Key(b, "type")
	text, thinking := wire.Is(typ, "text"), wire.Is(typ, "thinking")
	var streamed [3][]byte // the text or thinking, the signature, the input
	var citations []byte
	dst = append(dst, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":"...)
	dst = strconv.AppendInt(dst, int64(index), 10)
	dst = append(dst, `,"content_block":{`...)
	n := 0
	for k, v, p, ok := wire.Field(b, 0); ok; k, v, p, ok = wire.Field(b, p) {
		dst = appendMember(dst, n, k)
		n++
		switch key := string(k); {
		case text && key == "text" && wire.IsString(v), thinking && key == "thinking" && wire.IsString(v):
			streamed[0], v = v, []byte(`""`)
		case thinking && key == "signature" && wire.IsString(v):
			streamed[1], v = v, []byte(`""`)
		case key == "input" && v[0] == '{':
			streamed[2], v = v, []byte(`{}`)
		case text && key == "citations" && v[0] == '[':
			citations, v = v, []byte(`[]`)
		}
		dst = append(dst, v...)
	}
	dst = append(dst, "}}\n\n"...)

	for c, p := wire.Elem(citations, 0); c != nil; c, p = wire.Elem(citations, p) {
		dst = appendDelta(dst, index, `"citations_delta","citation":`, c)
	}
	if !wire.EmptyString(streamed[0]) {
		kv := `"text_delta","text":`
		if thinking {
			kv = `"thinking_delta","thinking":`
		}
		dst = appendDelta(dst, index, kv, streamed[0])
	}
	if !wire.EmptyString(streamed[1]) {
		dst = appendDelta(dst, index, `"signature_delta","signature":`, streamed[1])
	}
	if streamed[2] != nil {
		// The input whole, as the one fragment of its JSON text.
		dst = append(dst, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":"...)
		dst = strconv.AppendInt(dst, int64(index), 10)
		dst = append(dst, `,"delta":{"type":"input_json_delta","partial_json":`...)
		dst = jsonstr.Append(dst, string(streamed[2]))
		dst = append(dst, "}}\n\n"...)
	}
	dst = append(dst, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":"...)
	dst = strconv.AppendInt(dst, int64(index), 10)
	return append(dst, "}\n\n"...)
}

// appendDelta appends a content_block_delta for block index; kv is the delta's type value and
// value key, v the raw JSON value.
func appendDelta(dst []byte, index int, kv string, v []byte) []byte {
	dst = append(dst, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":"...)
	dst = strconv.AppendInt(dst, int64(index), 10)
	dst = append(dst, `,"delta":{"type":`...)
	dst = append(dst, kv...)
	dst = append(dst, v...)
	return append(dst, "}}\n\n"...)
}

// appendStartUsage appends message_start's usage: the reply's, with no output yet.
func appendStartUsage(dst, u []byte) []byte {
	if len(u) == 0 || u[0] != '{' {
		return append(dst, u...)
	}
	dst = append(dst, '{')
	n := 0
	for k, v, p, ok := wire.Field(u, 0); ok; k, v, p, ok = wire.Field(u, p) {
		dst = appendMember(dst, n, k)
		n++
		if string(k) == "output_tokens" {
			v = []byte("0")
		}
		dst = append(dst, v...)
	}
	return append(dst, '}')
}

// appendMember appends an object member's key (raw, as written) and colon, after a comma
// unless it is the object's first (n == 0).
func appendMember(dst []byte, n int, key []byte) []byte {
	if n > 0 {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, key...)
	return append(dst, '"', ':')
}

func appendOrNull(dst, v []byte) []byte {
	if v == nil {
		return append(dst, "null"...)
	}
	return append(dst, v...)
}
