package openai

import (
	"strconv"

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
