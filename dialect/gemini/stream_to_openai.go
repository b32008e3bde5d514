package gemini

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"

	"github.com/llmrouter/caddy-llm-router/dialect/internal/wire"
	"github.com/llmrouter/caddy-llm-router/dialect/openai"
	"github.com/llmrouter/caddy-llm-router/internal/jsonstr"
)

// StreamToOpenAIOptions configure a StreamToOpenAI.
type StreamToOpenAIOptions struct {
	// Model is written as every chunk's model (the public name the client asked for); empty
	// keeps the upstream's modelVersion.
	Model string
	// IncludeUsage says the client asked for stream_options.include_usage: one usage chunk
	// (choices: []) is written before [DONE].
	IncludeUsage bool
	// Created is every chunk's created time (unix seconds); 0 means the time of
	// NewStreamToOpenAI.
	Created int64
	// DropSignatures is ReplyOptions.DropSignatures for the stream.
	DropSignatures bool
}

// StreamToOpenAI translates a Gemini upstream's stream (:streamGenerateContent?alt=sse, each
// event one GenerateContentResponse) into OpenAI chat.completion.chunk events, one upstream
// event at a time. Create one per attempt; not safe for concurrent use.
//
// Only candidate 0 is translated. Nothing is written before the first content, so a relay
// that commits on its first written byte can still retry an error that comes first; the first
// chunk written carries role "assistant". Text parts become content deltas, thought parts
// reasoning_content deltas; each functionCall part (Gemini sends calls whole) becomes one
// tool_calls delta with its index (counted over calls only, across chunks), id (Gemini's, or
// generated as in ResponseToOpenAI, with the part's thought signature encoded, see ToolID),
// type, name and whole arguments. Gemini has no terminator event: the chunk that carries the
// candidate's finishReason (or a promptFeedback.blockReason) ends the stream: after its
// content, one final chunk with an empty delta and the only finish_reason (tool_calls when any
// chunk called a function and the reason is STOP), the usage chunk when asked for, and [DONE].
// usageMetadata is cumulative; the last one read counts.
type StreamToOpenAI struct {
	opts StreamToOpenAIOptions
	// w writes the chunks; its id and model come from the first chunk.
	w           openai.ChunkWriter
	responseID  string
	tools       int
	done        bool
	usage       rawUsage
	args        bytes.Buffer
	initialized bool
}

// NewStreamToOpenAI returns a translator for one stream.
func NewStreamToOpenAI(opts StreamToOpenAIOptions) *StreamToOpenAI {
	if opts.Created == 0 {
		opts.Created = time.Now().Unix()
	}
	return &StreamToOpenAI{opts: opts, w: openai.ChunkWriter{FallbackID: `"chatcmpl-gemini"`, PublicModel: opts.Model, Created: opts.Created}}
}

// Done reports whether a finishReason was read ([DONE] written).
func (t *StreamToOpenAI) Done() bool { return t.done }

// Usage returns the usage read so far, in the pivot's terms.
func (t *StreamToOpenAI) Usage() openai.Usage { return t.usage.pivot() }

// Event translates one upstream event in normal form ("data: {...}\n\n") and appends the
// resulting chunks to dst, which it returns. An error object ({"error":{...}}, also in an
// array) returns dst unchanged and an *Error; data that is not a JSON object returns
// ErrMalformed. Events without data, and every event after the finish, are ignored.
func (t *StreamToOpenAI) Event(dst, ev []byte) ([]byte, error) {
	_, data, ok := wire.Event(ev)
	if !ok || t.done {
		return dst, nil
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 || string(data) == "[DONE]" { // Gemini sends no [DONE]; proxies may
		return dst, nil
	}
	if !json.Valid(data) {
		return dst, ErrMalformed
	}
	if data[0] == '[' {
		if e, ok := ParseError(data); ok {
			return dst, &e
		}
		return dst, ErrMalformed
	}
	if data[0] != '{' {
		return dst, ErrMalformed
	}
	if wire.Key(data, "error") != nil {
		e, ok := ParseError(data)
		if !ok || e.Message == "" {
			e.Message = "upstream stream error"
		}
		if e.Status == "" {
			e.Status = StatusInternal
		}
		return dst, &e
	}
	if !t.initialized {
		t.initialized = true
		if id := wire.Key(data, "responseId"); wire.IsString(id) {
			t.w.ID = append(t.w.ID[:0], id...)
			t.responseID, _ = wire.Unquote(id)
		}
		if m := wire.Key(data, "modelVersion"); wire.IsString(m) {
			t.w.Model = append(t.w.Model[:0], m...)
		}
	}
	if u := wire.Key(data, "usageMetadata"); u != nil {
		t.usage.read(u)
	}
	cand := wire.FirstChoice(wire.Key(data, "candidates"))
	if cand == nil {
		if br := wire.Path(data, "promptFeedback", "blockReason"); wire.IsString(br) && !wire.EmptyString(br) {
			return t.finish(dst, "content_filter"), nil
		}
		return dst, nil
	}
	parts := wire.Path(cand, "content", "parts")
	for p, pos := wire.Elem(parts, 0); p != nil; p, pos = wire.Elem(parts, pos) {
		if fc := wire.Key(p, "functionCall"); fc != nil {
			dst = t.toolCall(dst, fc, wire.Key(p, "thoughtSignature"))
			continue
		}
		s := wire.Key(p, "text")
		if !wire.IsString(s) || wire.EmptyString(s) {
			continue
		}
		if wire.Is(wire.Key(p, "thought"), "true") || string(wire.Key(p, "thought")) == "true" {
			dst = t.w.Content(dst, `"reasoning_content":`, s)
		} else {
			dst = t.w.Content(dst, `"content":`, s)
		}
	}
	if fr := wire.Key(cand, "finishReason"); wire.IsString(fr) && !wire.EmptyString(fr) {
		dst = t.finish(dst, FinishReason(string(fr[1:len(fr)-1]), t.tools > 0))
	}
	return dst, nil
}

// Finish is called when the upstream stream ended (io.EOF). It returns ErrIncomplete when no
// finishReason came: the relay must then write an error event, not close cleanly.
func (t *StreamToOpenAI) Finish(dst []byte) ([]byte, error) {
	if t.done {
		return dst, nil
	}
	return dst, ErrIncomplete
}

func (t *StreamToOpenAI) toolCall(dst, fc, sig []byte) []byte {
	idx := t.tools
	t.tools++
	name, _ := wire.Unquote(wire.Key(fc, "name"))
	t.args.Reset()
	if a := wire.Key(fc, "args"); len(a) > 0 && a[0] == '{' {
		_ = json.Compact(&t.args, a)
	}
	if t.args.Len() == 0 {
		t.args.WriteString("{}")
	}
	base, _ := wire.Unquote(wire.Key(fc, "id"))
	if base == "" {
		base = callID(t.responseID, name, t.args.Bytes(), idx)
	}
	signature, _ := wire.Unquote(sig)
	if t.opts.DropSignatures {
		signature = ""
	}
	dst = t.w.Open(dst)
	dst = append(dst, `"tool_calls":[{"index":`...)
	dst = strconv.AppendInt(dst, int64(idx), 10)
	dst = append(dst, `,"id":`...)
	dst = jsonstr.Append(dst, ToolID(base, signature))
	dst = append(dst, `,"type":"function","function":{"name":`...)
	dst = jsonstr.Append(dst, name)
	dst = append(dst, `,"arguments":`...)
	dst = jsonstr.Append(dst, t.args.String())
	dst = append(dst, "}}]"...)
	return append(dst, openai.ChunkTail...)
}

func (t *StreamToOpenAI) finish(dst []byte, reason string) []byte {
	t.done = true
	var usage *openai.Usage
	if t.opts.IncludeUsage {
		u := t.usage.pivot()
		usage = &u
	}
	return t.w.Finish(dst, reason, usage)
}
