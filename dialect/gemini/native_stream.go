package gemini

import (
	"bytes"
	"encoding/json"

	"github.com/llmrouter/caddy-llm-router/dialect/internal/wire"
	"github.com/llmrouter/caddy-llm-router/dialect/openai"
	"github.com/llmrouter/caddy-llm-router/internal/jsonscan"
)

// Passthrough relays a Gemini upstream's alt=sse stream to a Gemini client as it came,
// watching it for what the relay needs and Gemini does not send: an end (a stream has no
// terminator event; the chunk with a finishReason is its last) and the usage (cumulative
// usageMetadata, the last one counts). With array framing it re-frames the events as the JSON
// array that :streamGenerateContent without alt=sse returns: "[" + the first chunk, then
// ",\r\n" + each next one, "]" at the end. It writes nothing for events without data, an
// error object returns an *Error, as StreamToOpenAI does, and data that is not one JSON value
// returns ErrMalformed. Create one per attempt; not safe for concurrent use.
type Passthrough struct {
	array, opened, done bool
	usage               rawUsage
}

// NewPassthrough returns a Passthrough; array selects the JSON array framing.
func NewPassthrough(array bool) *Passthrough { return &Passthrough{array: array} }

// Event appends ev (in normal form) to dst as the client's framing has it.
func (p *Passthrough) Event(dst, ev []byte) ([]byte, error) {
	_, data, ok := wire.Event(ev)
	data = bytes.TrimSpace(data)
	if !ok || len(data) == 0 || p.done {
		return dst, nil
	}
	if data[0] != '{' {
		if e, ok := ParseError(data); ok {
			return dst, &e
		}
		return dst, ErrMalformed
	}
	if !jsonscan.Valid(data) {
		// Google's SDKs fail on it with a parse error (and it would break the array the
		// client parses), while the stream might go on to a finishing chunk as if whole.
		return dst, ErrMalformed
	}
	if wire.Key(data, "error") != nil {
		e, _ := ParseError(data)
		if e.Message == "" {
			e.Message = "upstream stream error"
		}
		return dst, &e
	}
	if u := wire.Key(data, "usageMetadata"); u != nil {
		p.usage.read(u)
	}
	p.done = finishes(data)
	if !p.array {
		return append(dst, ev...), nil
	}
	if p.opened {
		dst = append(dst, ",\r\n"...)
	} else {
		dst, p.opened = append(dst, '['), true
	}
	return append(dst, data...), nil
}

// Finish closes the array; it returns ErrIncomplete when no chunk finished the stream.
func (p *Passthrough) Finish(dst []byte) ([]byte, error) {
	if !p.done {
		return dst, ErrIncomplete
	}
	if p.array {
		if !p.opened {
			dst = append(dst, '[')
		}
		dst = append(dst, ']')
	}
	return dst, nil
}

// AppendError ends a broken stream in the client's framing (see AppendErrorEvent).
func (p *Passthrough) AppendError(dst []byte, status int, message string) []byte {
	if p.array && !p.opened {
		dst, p.opened = append(dst, '['), true
		dst = AppendErrorBody(dst, status, message)
		return append(dst, ']')
	}
	return AppendErrorEvent(dst, p.array, status, message)
}

// Done reports whether the chunk that ends the stream came.
func (p *Passthrough) Done() bool { return p.done }

// Usage is the last usageMetadata in the pivot's terms.
func (p *Passthrough) Usage() openai.Usage { return p.usage.pivot() }

// finishes reports whether a response chunk (valid JSON) is its stream's last: its first
// candidate has a finishReason, or the prompt was blocked (no candidates, no finish reason,
// the end all the same).
func finishes(data []byte) bool {
	cand := wire.FirstChoice(wire.Key(data, "candidates"))
	if fr := wire.Key(cand, "finishReason"); wire.IsString(fr) && !wire.EmptyString(fr) {
		return true
	}
	br := wire.Path(data, "promptFeedback", "blockReason")
	return cand == nil && wire.IsString(br) && !wire.EmptyString(br)
}

// ReplyChunk appends to dst a whole generateContent reply as the alt=sse stream it would
// have come as, for a streamed request that an upstream answered whole: its one event, the
// reply as it is (compacted to fit a data: line), every part with its thought flag and
// signature, which the pivot would not all keep. ok is false, and dst unchanged, when the
// reply is not a JSON object, or is no stream's end (no finishReason, no blocked prompt): a
// Passthrough would end such a stream as broken.
func ReplyChunk(dst, reply []byte) (out []byte, ok bool) {
	var buf bytes.Buffer
	if json.Compact(&buf, reply) != nil || buf.Bytes()[0] != '{' || !finishes(buf.Bytes()) {
		return dst, false
	}
	dst = append(dst, "data: "...)
	dst = append(dst, buf.Bytes()...)
	return append(dst, "\n\n"...), true
}
