package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/llmrouter/caddy-llm-router/dialect/internal/wire"
	"github.com/llmrouter/caddy-llm-router/internal/jsonstr"
)

// ChunkWriter writes the chat.completion.chunk events of a stream translated into the pivot,
// without reflection: every chunk has one head (id, object, created, model), built once, and
// the first carries role "assistant". The translators of the other dialects embed one.
type ChunkWriter struct {
	// ID and Model are the upstream's, as raw JSON strings (nil when it sent none): set them
	// before the first chunk. FallbackID (a raw JSON string) stands in for a missing ID.
	ID, Model  []byte
	FallbackID string
	// PublicModel, when set, is written as every chunk's model instead of Model.
	PublicModel string
	// Created is every chunk's created time (unix seconds).
	Created int64
	// Role says the first chunk, which carries the role, was written.
	Role bool
	head []byte
}

// ChunkTail closes a chunk opened by Open whose delta is still open.
const ChunkTail = "},\"finish_reason\":null}]}\n\n"

// Head appends the head of a chunk, up to and including `"choices":[`.
func (w *ChunkWriter) Head(dst []byte) []byte {
	if w.head == nil {
		h := append(make([]byte, 0, 128), `data: {"id":`...)
		if len(w.ID) > 2 && w.ID[0] == '"' {
			h = append(h, w.ID...)
		} else {
			h = append(h, w.FallbackID...)
		}
		h = append(h, `,"object":"chat.completion.chunk","created":`...)
		h = strconv.AppendInt(h, w.Created, 10)
		h = append(h, `,"model":`...)
		switch {
		case w.PublicModel != "":
			h = jsonstr.Append(h, w.PublicModel)
		case len(w.Model) >= 2 && w.Model[0] == '"':
			h = append(h, w.Model...)
		default:
			h = append(h, `""`...)
		}
		w.head = append(h, `,"choices":[`...)
	}
	return append(dst, w.head...)
}

// Open starts a chunk with one choice and an open delta object; the first carries the role.
func (w *ChunkWriter) Open(dst []byte) []byte {
	dst = w.Head(dst)
	dst = append(dst, `{"index":0,"delta":{`...)
	if !w.Role {
		w.Role = true
		dst = append(dst, `"role":"assistant",`...)
	}
	return dst
}

// Content appends a chunk whose delta is one string field: key is `"content":` or
// `"reasoning_content":`, s a raw JSON string.
func (w *ChunkWriter) Content(dst []byte, key string, s []byte) []byte {
	dst = w.Open(dst)
	dst = append(dst, key...)
	dst = append(dst, s...)
	return append(dst, ChunkTail...)
}

// Finish appends the stream's end: the final chunk with its finish reason (carrying the role
// and an empty content when nothing was written, so the stream is still valid), the usage
// chunk (choices: []) when usage is not nil, and [DONE].
func (w *ChunkWriter) Finish(dst []byte, reason string, usage *Usage) []byte {
	dst = w.Open(dst)
	if dst[len(dst)-1] == ',' { // the role was just written: nothing came before
		dst = append(dst, `"content":""`...)
	}
	dst = append(dst, `},"finish_reason":"`...)
	dst = append(dst, reason...)
	dst = append(dst, "\"}]}\n\n"...)
	if usage != nil {
		dst = w.Head(dst)
		dst = append(dst, `],"usage":`...)
		dst = AppendUsage(dst, *usage)
		dst = append(dst, "}\n\n"...)
	}
	return append(dst, "data: [DONE]\n\n"...)
}

// AppendUsage appends u as OpenAI's usage object, its details when they are set.
func AppendUsage(dst []byte, u Usage) []byte {
	dst = append(dst, `{"prompt_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.PromptTokens), 10)
	dst = append(dst, `,"completion_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.CompletionTokens), 10)
	dst = append(dst, `,"total_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.TotalTokens), 10)
	if d := u.PromptTokensDetails; d != nil {
		dst = append(dst, `,"prompt_tokens_details":{"cached_tokens":`...)
		dst = strconv.AppendInt(dst, int64(d.CachedTokens), 10)
		if d.CacheWriteTokens > 0 {
			dst = append(dst, `,"cache_write_tokens":`...)
			dst = strconv.AppendInt(dst, int64(d.CacheWriteTokens), 10)
		}
		dst = append(dst, '}')
	}
	if d := u.CompletionTokensDetails; d != nil {
		dst = append(dst, `,"completion_tokens_details":{"reasoning_tokens":`...)
		dst = strconv.AppendInt(dst, int64(d.ReasoningTokens), 10)
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// ErrNoChoices is a whole reply without a choice: as a stream it would be only [DONE], which
// clients take for an empty success.
var ErrNoChoices = errors.New("openai: reply without choices")

// ReplyChunks appends the stream that a whole chat.completion reply (valid JSON) would have
// come as, for an upstream that answered a streamed request whole. Per choice: a chunk with
// the role and the reasoning (reasoning_content, or reasoning as OpenRouter and vLLM name
// it), one per content text (a string, or each text part), one with the refusal, one per tool
// call (index, id, type, name and the whole arguments) and one with the finish reason; then
// the usage chunk when includeUsage and the reply has usage, and [DONE]. Values are copied as
// they came, strings still escaped; a reply written over several lines is compacted first, so
// that each event is one data line.
func ReplyChunks(dst, reply []byte, includeUsage bool) ([]byte, error) {
	if bytes.ContainsAny(reply, "\r\n") {
		var b bytes.Buffer
		if err := json.Compact(&b, reply); err != nil {
			return dst, fmt.Errorf("openai: reply: %w", err)
		}
		reply = b.Bytes()
	}
	choices := wire.Key(reply, "choices")
	if len(choices) == 0 || choices[0] != '[' {
		return dst, ErrNoChoices
	}
	w := ChunkWriter{ID: wire.Key(reply, "id"), Model: wire.Key(reply, "model"), FallbackID: `"chatcmpl-whole"`,
		Created: wire.Int(wire.Key(reply, "created"))}
	n := 0
	for c, p := wire.Elem(choices, 0); c != nil; c, p = wire.Elem(choices, p) {
		index := wire.Key(c, "index")
		if index == nil {
			index = strconv.AppendInt(nil, int64(n), 10)
		}
		n++
		// open starts a chunk of this choice with an open delta.
		open := func() {
			dst = w.Head(dst)
			dst = append(dst, `{"index":`...)
			dst = append(dst, index...)
			dst = append(dst, `,"delta":{`...)
		}
		said := false
		// say writes a chunk whose delta is key and the JSON string s, unless s is empty.
		say := func(key string, s []byte) {
			if wire.IsString(s) && !wire.EmptyString(s) {
				open()
				dst = append(append(append(dst, key...), s...), ChunkTail...)
				said = true
			}
		}
		msg := wire.Key(c, "message")
		open()
		dst = append(dst, `"role":"assistant"`...)
		if r := wire.Key(msg, "reasoning_content"); wire.IsString(r) && !wire.EmptyString(r) {
			dst, said = append(append(dst, `,"reasoning_content":`...), r...), true
		} else if r = wire.Key(msg, "reasoning"); wire.IsString(r) && !wire.EmptyString(r) {
			dst, said = append(append(dst, `,"reasoning":`...), r...), true
		}
		dst = append(dst, ChunkTail...)
		content := wire.Key(msg, "content")
		say(`"content":`, content)
		for part, q := wire.Elem(content, 0); part != nil; part, q = wire.Elem(content, q) {
			if wire.Is(wire.Key(part, "type"), "text") {
				say(`"content":`, wire.Key(part, "text"))
			}
		}
		say(`"refusal":`, wire.Key(msg, "refusal"))
		calls := 0
		tools := wire.Key(msg, "tool_calls")
		for tc, q := wire.Elem(tools, 0); tc != nil; tc, q = wire.Elem(tools, q) {
			open()
			dst = append(dst, `"tool_calls":[{"index":`...)
			dst = strconv.AppendInt(dst, int64(calls), 10)
			calls++
			if id := wire.Key(tc, "id"); wire.IsString(id) {
				dst = append(append(dst, `,"id":`...), id...)
			}
			typ := wire.Key(tc, "type")
			if !wire.IsString(typ) {
				typ = []byte(`"function"`)
			}
			dst = append(append(dst, `,"type":`...), typ...)
			fn := wire.Key(tc, "function")
			dst = append(dst, `,"function":{"name":`...)
			if name := wire.Key(fn, "name"); wire.IsString(name) {
				dst = append(dst, name...)
			} else {
				dst = append(dst, `""`...)
			}
			dst = append(dst, `,"arguments":`...)
			switch args := wire.Key(fn, "arguments"); {
			case wire.IsString(args):
				dst = append(dst, args...)
			case args == nil:
				dst = append(dst, `""`...)
			default: // an object where its string belongs: the string it should have been
				dst = jsonstr.Append(dst, string(args))
			}
			dst = append(dst, "}}]"+ChunkTail...)
			said = true
		}
		if !said {
			// An empty answer: its stream still says so in a content delta, as a streamed one does.
			open()
			dst = append(dst, `"content":""`+ChunkTail...)
		}
		reason := wire.Key(c, "finish_reason")
		switch {
		case wire.IsString(reason):
		case calls > 0:
			reason = []byte(`"` + FinishToolCalls + `"`)
		default:
			reason = []byte(`"` + FinishStop + `"`)
		}
		open()
		dst = append(dst, `},"finish_reason":`...)
		dst = append(append(dst, reason...), "}]}\n\n"...)
	}
	if n == 0 {
		return dst, ErrNoChoices
	}
	if u := wire.Key(reply, "usage"); includeUsage && len(u) > 0 && u[0] == '{' {
		dst = append(w.Head(dst), `],"usage":`...)
		dst = append(append(dst, u...), "}\n\n"...)
	}
	return append(dst, "data: [DONE]\n\n"...), nil
}

// CompletionChunks appends the stream that a whole text_completion reply (valid JSON) would
// have come as. A completions stream's chunk has the reply's own shape (choices with text,
// index, logprobs and finish_reason; the SDKs read both as one type), so the reply, less its
// usage, is the stream's one chunk; then the usage chunk (the reply's id, object, created and
// model, no choices) when includeUsage and the reply has usage, and [DONE]. Values are copied
// as they came; a reply written over several lines is compacted first.
func CompletionChunks(dst, reply []byte, includeUsage bool) ([]byte, error) {
	if bytes.ContainsAny(reply, "\r\n") {
		var b bytes.Buffer
		if err := json.Compact(&b, reply); err != nil {
			return dst, fmt.Errorf("openai: reply: %w", err)
		}
		reply = b.Bytes()
	}
	if c, _ := wire.Elem(wire.Key(reply, "choices"), 0); c == nil {
		return dst, ErrNoChoices
	}
	var usage []byte
	dst = append(dst, "data: {"...)
	n := 0
	for k, v, p, ok := wire.Field(reply, 0); ok; k, v, p, ok = wire.Field(reply, p) {
		if string(k) == "usage" {
			usage = v
			continue
		}
		dst = appendMember(dst, n, k, v)
		n++
	}
	dst = append(dst, "}\n\n"...)
	if includeUsage && len(usage) > 0 && usage[0] == '{' {
		dst = append(dst, "data: {"...)
		n = 0
		for k, v, p, ok := wire.Field(reply, 0); ok; k, v, p, ok = wire.Field(reply, p) {
			switch string(k) {
			case "id", "object", "created", "model", "system_fingerprint":
				dst = appendMember(dst, n, k, v)
				n++
			}
		}
		dst = appendMember(dst, n, []byte("choices"), []byte("[]"))
		dst = appendMember(dst, 1, []byte("usage"), usage)
		dst = append(dst, "}\n\n"...)
	}
	return append(dst, "data: [DONE]\n\n"...), nil
}

// appendMember appends the object member key (as written, without its quotes) and value, after
// a comma unless it is the object's first (n == 0).
func appendMember(dst []byte, n int, key, val []byte) []byte {
	if n > 0 {
		dst = append(dst, ',')
	}
	dst = append(append(append(dst, '"'), key...), `":`...)
	return append(dst, val...)
}
