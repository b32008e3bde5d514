package anthropic

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/llmrouter/caddy-llm-router/dialect/internal/wire"
	"github.com/llmrouter/caddy-llm-router/dialect/openai"
	"github.com/llmrouter/caddy-llm-router/internal/jsonstr"
)

// maxBlocks bounds the content block index a stream may use; a hostile index must not make the
// translator allocate without bound.
const maxBlocks = 1 << 12

// StreamToOpenAIOptions configure a StreamToOpenAI.
type StreamToOpenAIOptions struct {
	// Model is written as every chunk's model (the public name the client asked for); empty
	// keeps the upstream's model id.
	Model string
	// IncludeUsage says the client asked for stream_options.include_usage: one usage chunk
	// (choices: []) is written before [DONE].
	IncludeUsage bool
	// Created is every chunk's created time (unix seconds); 0 means the time of NewStreamToOpenAI.
	Created int64
}

type blockKind uint8

const (
	kindOther blockKind = iota
	kindText
	kindThinking
	kindTool
)

type blockState struct {
	kind blockKind
	tool int  // the pivot tool_calls index of a tool_use block
	args bool // the tool_use block's arguments were written
}

// StreamToOpenAI translates an Anthropic upstream's stream into OpenAI chat.completion.chunk
// events, one upstream event at a time. Create one per attempt; not safe for concurrent use.
//
// Mapping: message_start gives the id, model and input usage and writes nothing, so a relay
// that commits on its first written byte can still retry an error that arrives right after it;
// the first content writes the first chunk, which carries role "assistant"; text_delta becomes
// content, thinking_delta reasoning_content; each tool_use block becomes one tool call with its
// own index (counted over tool_use blocks only, so a thinking or text block before it does not
// shift it) whose first chunk has id and name, and each input_json_delta becomes an arguments
// delta of that index (a call without input gets arguments "{}" at its content_block_stop);
// message_delta gives the stop reason and output usage; message_stop writes the final chunk
// (empty delta, mapped finish_reason), then the usage chunk when asked for, then [DONE].
// ping, signature_delta, citations and server-tool blocks write nothing.
type StreamToOpenAI struct {
	opts StreamToOpenAIOptions
	// w writes the chunks; its id and model come from message_start.
	w      openai.ChunkWriter
	blocks []blockState
	tools  int
	done   bool
	stop   string
	usage  rawUsage
	// final says message_delta's output count was read.
	final bool
}

// rawUsage holds Anthropic's counts; input excludes cached input.
type rawUsage struct {
	input, output, cacheRead, cacheWrite int64
}

func (u *rawUsage) read(obj []byte) {
	if obj == nil {
		return
	}
	if v := wire.Key(obj, "input_tokens"); v != nil {
		u.input = wire.Int(v)
	}
	if v := wire.Key(obj, "output_tokens"); v != nil {
		u.output = wire.Int(v)
	}
	if v := wire.Key(obj, "cache_read_input_tokens"); v != nil {
		u.cacheRead = wire.Int(v)
	}
	if v := wire.Key(obj, "cache_creation_input_tokens"); v != nil {
		u.cacheWrite = wire.Int(v)
	}
}

// pivot returns the counts as OpenAI reports them: prompt tokens include the cached input.
func (u rawUsage) pivot() openai.Usage {
	p := int(u.input + u.cacheRead + u.cacheWrite)
	c := int(u.output)
	ou := openai.Usage{PromptTokens: p, CompletionTokens: c, TotalTokens: p + c}
	if u.cacheRead > 0 || u.cacheWrite > 0 {
		ou.PromptTokensDetails = &openai.PromptTokensDetails{CachedTokens: int(u.cacheRead), CacheWriteTokens: int(u.cacheWrite)}
	}
	return ou
}

// NewStreamToOpenAI returns a translator for one stream.
func NewStreamToOpenAI(opts StreamToOpenAIOptions) *StreamToOpenAI {
	if opts.Created == 0 {
		opts.Created = time.Now().Unix()
	}
	return &StreamToOpenAI{opts: opts, w: openai.ChunkWriter{FallbackID: `"msg"`, PublicModel: opts.Model, Created: opts.Created}}
}

// Done reports whether message_stop was translated ([DONE] written).
func (t *StreamToOpenAI) Done() bool { return t.done }

// Usage returns the usage read so far, in the pivot's terms.
func (t *StreamToOpenAI) Usage() openai.Usage { return t.usage.pivot() }

// UsageFinal reports whether message_delta's usage was read: message_start's counts the output
// only so far.
func (t *StreamToOpenAI) UsageFinal() bool { return t.final }

// Event translates one upstream event in normal form ("event: x\ndata: {...}\n\n") and appends
// the resulting chunks ("data: {...}\n\n", and "data: [DONE]\n\n" at message_stop) to dst,
// which it returns; many events append nothing. An `event: error` returns dst unchanged and an
// *Error with the upstream's type and message (classify it with FaultOf; after commit, end the
// client's stream with an OpenAI error event). Data that is not JSON returns ErrMalformed;
// a message_stop after neither content nor message_delta's stop reason returns ErrEmpty, and
// writes nothing. Events after message_stop are ignored.
func (t *StreamToOpenAI) Event(dst, ev []byte) ([]byte, error) {
	name, data, ok := wire.Event(ev)
	if !ok || t.done {
		return dst, nil
	}
	if !json.Valid(data) {
		return dst, ErrMalformed
	}
	typ := wire.Key(data, "type")
	if len(typ) >= 2 && typ[0] == '"' {
		name = typ[1 : len(typ)-1]
	}
	switch string(name) {
	case "message_start":
		msg := wire.Key(data, "message")
		t.w.ID = append(t.w.ID[:0], wire.Key(msg, "id")...)
		t.w.Model = append(t.w.Model[:0], wire.Key(msg, "model")...)
		t.usage.read(wire.Key(msg, "usage"))
	case "content_block_start":
		b, err := t.block(data)
		if err != nil {
			return dst, err
		}
		cb := wire.Key(data, "content_block")
		switch ct := wire.Key(cb, "type"); {
		case wire.Is(ct, "text"):
			b.kind = kindText
			if s := wire.Key(cb, "text"); wire.IsString(s) && !wire.EmptyString(s) {
				dst = t.w.Content(dst, `"content":`, s)
			}
		case wire.Is(ct, "thinking"):
			b.kind = kindThinking
			if s := wire.Key(cb, "thinking"); wire.IsString(s) && !wire.EmptyString(s) {
				dst = t.w.Content(dst, `"reasoning_content":`, s)
			}
		case wire.Is(ct, "tool_use"):
			b.kind, b.tool = kindTool, t.tools
			t.tools++
			dst, b.args = t.toolStart(dst, b.tool, wire.Key(cb, "id"), wire.Key(cb, "name"), wire.Key(cb, "input"))
		default:
			b.kind = kindOther
		}
	case "content_block_delta":
		b, err := t.block(data)
		if err != nil {
			return dst, err
		}
		d := wire.Key(data, "delta")
		switch dt := wire.Key(d, "type"); {
		case wire.Is(dt, "text_delta"):
			if s := wire.Key(d, "text"); wire.IsString(s) && !wire.EmptyString(s) {
				dst = t.w.Content(dst, `"content":`, s)
			}
		case wire.Is(dt, "thinking_delta"):
			if s := wire.Key(d, "thinking"); wire.IsString(s) && !wire.EmptyString(s) {
				dst = t.w.Content(dst, `"reasoning_content":`, s)
			}
		case wire.Is(dt, "input_json_delta"):
			if s := wire.Key(d, "partial_json"); b.kind == kindTool && wire.IsString(s) && !wire.EmptyString(s) {
				b.args = true
				dst = t.toolArgs(dst, b.tool, s)
			}
		}
	case "content_block_stop":
		b, err := t.block(data)
		if err != nil {
			return dst, err
		}
		if b.kind == kindTool && !b.args {
			// A call without input streams only an empty partial_json: its arguments are "{}",
			// as OpenAI sends them, not "", which OpenAI clients fail to parse.
			b.args = true
			dst = t.toolArgs(dst, b.tool, []byte(`"{}"`))
		}
	case "message_delta":
		if sr := wire.Path(data, "delta", "stop_reason"); wire.IsString(sr) {
			t.stop = string(sr[1 : len(sr)-1])
		}
		u := wire.Key(data, "usage")
		t.usage.read(u)
		t.final = t.final || wire.Key(u, "output_tokens") != nil
	case "message_stop":
		if !t.w.Role && t.stop == "" {
			// message_start and message_stop alone (pings, empty blocks between them): Anthropic
			// always sends message_delta, and an empty answer has its stop reason there.
			return dst, ErrEmpty
		}
		dst = t.finish(dst)
	case "error":
		e := &Error{Type: ErrAPI, Message: "upstream stream error"}
		if raw := wire.Key(data, "error"); raw != nil {
			_ = json.Unmarshal(raw, e)
		}
		return dst, e
	}
	return dst, nil
}

// Finish is called when the upstream stream ended (io.EOF). It returns ErrIncomplete when
// message_stop never came: the relay must then write an error event, not close cleanly.
func (t *StreamToOpenAI) Finish(dst []byte) ([]byte, error) {
	if t.done {
		return dst, nil
	}
	return dst, ErrIncomplete
}

func (t *StreamToOpenAI) block(data []byte) (*blockState, error) {
	raw := wire.Key(data, "index")
	i := wire.Int(raw)
	if raw == nil || i < 0 || i >= maxBlocks {
		return nil, ErrMalformed
	}
	for int(i) >= len(t.blocks) {
		t.blocks = append(t.blocks, blockState{})
	}
	return &t.blocks[i], nil
}

// toolStart writes a tool call's first chunk, and reports whether it carried the arguments.
func (t *StreamToOpenAI) toolStart(dst []byte, idx int, id, name, input []byte) ([]byte, bool) {
	dst = t.w.Open(dst)
	dst = append(dst, `"tool_calls":[{"index":`...)
	dst = strconv.AppendInt(dst, int64(idx), 10)
	dst = append(dst, `,"id":`...)
	if wire.IsString(id) {
		dst = append(dst, id...)
	} else {
		dst = append(dst, `"call_`...)
		dst = strconv.AppendInt(dst, int64(idx), 10)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"type":"function","function":{"name":`...)
	if wire.IsString(name) {
		dst = append(dst, name...)
	} else {
		dst = append(dst, `""`...)
	}
	dst = append(dst, `,"arguments":`...)
	// Streamed tool_use blocks start with input {} and send the input as deltas; a block that
	// starts with its whole input (some compatible servers) gives it as the first arguments.
	args := len(input) > 0 && input[0] == '{' && string(input) != "{}"
	if args {
		dst = jsonstr.Append(dst, string(input))
	} else {
		dst = append(dst, `""`...)
	}
	dst = append(dst, "}}]"...)
	return append(dst, openai.ChunkTail...), args
}

func (t *StreamToOpenAI) toolArgs(dst []byte, idx int, partial []byte) []byte {
	dst = t.w.Open(dst)
	dst = append(dst, `"tool_calls":[{"index":`...)
	dst = strconv.AppendInt(dst, int64(idx), 10)
	dst = append(dst, `,"function":{"arguments":`...)
	dst = append(dst, partial...)
	dst = append(dst, "}}]"...)
	return append(dst, openai.ChunkTail...)
}

func (t *StreamToOpenAI) finish(dst []byte) []byte {
	t.done = true
	var usage *openai.Usage
	if t.opts.IncludeUsage {
		u := t.usage.pivot()
		usage = &u
	}
	return t.w.Finish(dst, FinishReason(t.stop), usage)
}
