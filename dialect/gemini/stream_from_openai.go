package gemini

import (
	"bytes"
	"encoding/json"

	"github.com/llmrouter/caddy-llm-router/dialect/internal/wire"
	"github.com/llmrouter/caddy-llm-router/dialect/openai"
	"github.com/llmrouter/caddy-llm-router/internal/jsonstr"
)

// maxTools bounds the tool call index an upstream may use.
const maxTools = 1 << 10

// StreamFromOpenAIOptions configure a StreamFromOpenAI.
type StreamFromOpenAIOptions struct {
	// Model is every chunk's modelVersion (the public name the client asked for); empty keeps
	// the upstream's model id.
	Model string
	// Array selects the framing of :streamGenerateContent without alt=sse: one JSON array
	// written progressively ("[" + the first chunk, ",\r\n" + each next one, "]" after the
	// last) instead of SSE events ("data: {chunk}\n\n").
	Array bool
}

type pendingTool struct {
	id, name string
	args     []byte // unescaped arguments text so far
	emitted  bool
}

// StreamFromOpenAI translates an OpenAI upstream's chunk stream into Gemini stream chunks
// (GenerateContentResponse objects) for a Gemini client, one upstream event at a time. Create
// one per attempt; not safe for concurrent use.
//
// Only choice 0 is translated. Each upstream chunk with content writes one Gemini chunk:
// reasoning_content (or reasoning) a thought part ({"text":…,"thought":true}), content and
// refusal a text part. Tool calls are accumulated per index and written whole, as Gemini
// sends them: a functionCall part (id and thoughtSignature decoded from the pivot id, see
// SplitToolID; args the parsed arguments, {} when empty) at the finish, since the argument
// deltas of parallel calls may alternate. The last chunk, written at [DONE] (or at the upstream's end after a
// finish_reason, for servers that omit [DONE]), carries the finishReason, usageMetadata and
// an empty text part, as Gemini's last chunk does. Nothing is written before the first
// content. SSE events end in "\n\n", which every Gemini SDK reads (Google itself sends
// "\r\n\r\n"; the router's streams are normalised to "\n").
type StreamFromOpenAI struct {
	opts      StreamFromOpenAIOptions
	started   bool // something was written (the array is open)
	done      bool
	finish    string
	sawFinish bool
	called    bool
	calls     wire.ToolCalls
	tools     []pendingTool // the calls in the order they began (calls' numbers)
	usage     openai.Usage
	id, model []byte // raw JSON strings, from the first chunk that has each
	chunkOpen bool
	parts     int // parts written in the open chunk
}

// NewStreamFromOpenAI returns a translator for one stream.
func NewStreamFromOpenAI(opts StreamFromOpenAIOptions) *StreamFromOpenAI {
	return &StreamFromOpenAI{opts: opts}
}

// Done reports whether the last chunk was written.
func (t *StreamFromOpenAI) Done() bool { return t.done }

// Usage returns the usage read so far, in the pivot's terms.
func (t *StreamFromOpenAI) Usage() openai.Usage { return t.usage }

// UsageFinal reports whether the usage chunk was read: an OpenAI stream reports its usage
// once, whole.
func (t *StreamFromOpenAI) UsageFinal() bool {
	u := t.Usage()
	return u.PromptTokens+u.CompletionTokens > 0
}

// Event translates one upstream event in normal form ("data: {...}\n\n" or "data: [DONE]\n\n")
// and appends the resulting Gemini chunks to dst, which it returns. An error chunk
// ({"error":{...}}) returns dst unchanged and an *Error (code from the OpenAI error type);
// end the client's stream with AppendError. Data that is not JSON, or tool call arguments
// that are not, return ErrMalformed; a [DONE] after neither content, a call nor a
// finish_reason returns ErrEmpty, and writes nothing. Events after the end are ignored.
func (t *StreamFromOpenAI) Event(dst, ev []byte) ([]byte, error) {
	_, data, ok := wire.Event(ev)
	if !ok || t.done {
		return dst, nil
	}
	data = bytes.TrimSpace(data)
	if string(data) == "[DONE]" {
		if !t.started && !t.sawFinish && len(t.tools) == 0 {
			// No content, no call and no finish_reason: translated, an empty STOP.
			return dst, ErrEmpty
		}
		return t.end(dst)
	}
	mark, started := len(dst), t.started
	if len(data) == 0 {
		return dst, nil
	}
	if !json.Valid(data) || data[0] != '{' {
		return dst, ErrMalformed
	}
	if wire.Key(data, "error") != nil {
		return dst, errorFromOpenAI(data)
	}
	if u := wire.Key(data, "usage"); u != nil {
		t.readUsage(u)
	}
	// Azure opens with a content-filter chunk whose id and model are empty: take each from the
	// first chunk that has it.
	if t.id == nil {
		if id := wire.Key(data, "id"); wire.IsString(id) && !wire.EmptyString(id) {
			t.id = append(t.id[:0], id...)
		}
	}
	if t.model == nil {
		if m := wire.Key(data, "model"); wire.IsString(m) && !wire.EmptyString(m) {
			t.model = append(t.model[:0], m...)
		}
	}
	choice := wire.FirstChoice(wire.Key(data, "choices"))
	if choice == nil {
		return dst, nil
	}
	delta := wire.Key(choice, "delta")
	r := wire.Key(delta, "reasoning_content")
	if r == nil {
		r = wire.Key(delta, "reasoning") // OpenRouter, vLLM
	}
	if wire.IsString(r) && !wire.EmptyString(r) {
		dst = t.part(dst)
		dst = append(dst, `{"text":`...)
		dst = append(dst, r...)
		dst = append(dst, `,"thought":true}`...)
	}
	for _, key := range [...]string{"content", "refusal"} {
		if c := wire.Key(delta, key); wire.IsString(c) && !wire.EmptyString(c) {
			dst = t.part(dst)
			dst = append(dst, `{"text":`...)
			dst = append(dst, c...)
			dst = append(dst, '}')
		}
	}
	var err error
	tcs := wire.Key(delta, "tool_calls")
	for tc, p := wire.Elem(tcs, 0); tc != nil; tc, p = wire.Elem(tcs, p) {
		if dst, err = t.toolCall(dst, tc); err != nil {
			return t.abandon(dst, mark, started), err
		}
	}
	if fr := wire.Key(choice, "finish_reason"); wire.IsString(fr) {
		t.finish, t.sawFinish = string(fr[1:len(fr)-1]), true
		if dst, err = t.flushTools(dst); err != nil {
			return t.abandon(dst, mark, started), err
		}
	}
	return t.closeChunk(dst, ""), nil
}

// Finish is called when the upstream stream ended (io.EOF). After a finish_reason without
// [DONE] it writes the last chunk; when neither came it returns ErrIncomplete: the relay must
// then end the client's stream with AppendError, not close cleanly.
func (t *StreamFromOpenAI) Finish(dst []byte) ([]byte, error) {
	if t.done {
		return dst, nil
	}
	if t.sawFinish {
		return t.end(dst)
	}
	return dst, ErrIncomplete
}

// AppendError appends what ends this stream with an error for the Gemini client: an SSE
// event "data: {error body}\n\n", or in the array framing the error object as the array's
// next element and "]" (a whole "[{error}]" when nothing was written yet). Nothing is written
// after it.
func (t *StreamFromOpenAI) AppendError(dst []byte, status int, message string) []byte {
	t.done = true
	return appendStreamError(dst, t.opts.Array, t.started, status, message)
}

func appendStreamError(dst []byte, array, started bool, status int, message string) []byte {
	if array && !started {
		dst = append(dst, '[')
		dst = AppendErrorBody(dst, status, message)
		return append(dst, ']')
	}
	return AppendErrorEvent(dst, array, status, message)
}

func (t *StreamFromOpenAI) readUsage(u []byte) {
	t.usage = openai.Usage{
		PromptTokens:     int(wire.Int(wire.Key(u, "prompt_tokens"))),
		CompletionTokens: int(wire.Int(wire.Key(u, "completion_tokens"))),
		TotalTokens:      int(wire.Int(wire.Key(u, "total_tokens"))),
	}
	if c := wire.Int(wire.Path(u, "prompt_tokens_details", "cached_tokens")); c > 0 {
		t.usage.PromptTokensDetails = &openai.PromptTokensDetails{CachedTokens: int(c)}
	}
	if r := wire.Int(wire.Path(u, "completion_tokens_details", "reasoning_tokens")); r > 0 {
		t.usage.CompletionTokensDetails = &openai.CompletionTokensDetails{ReasoningTokens: int(r)}
	}
}

// part opens the event's chunk if needed and separates parts.
func (t *StreamFromOpenAI) part(dst []byte) []byte {
	if !t.chunkOpen {
		t.chunkOpen, t.parts = true, 0
		if t.opts.Array {
			if t.started {
				dst = append(dst, ",\r\n"...)
			} else {
				dst = append(dst, '[')
			}
		} else {
			dst = append(dst, "data: "...)
		}
		t.started = true
		dst = append(dst, `{"candidates":[{"content":{"parts":[`...)
	}
	if t.parts > 0 {
		dst = append(dst, ',')
	}
	t.parts++
	return dst
}

// closeChunk ends the open chunk, if any; finish is the last chunk's finishReason.
func (t *StreamFromOpenAI) closeChunk(dst []byte, finish string) []byte {
	if !t.chunkOpen {
		return dst
	}
	t.chunkOpen = false
	dst = append(dst, `],"role":"model"}`...)
	if finish != "" {
		dst = append(dst, `,"finishReason":"`...)
		dst = append(dst, finish...)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"index":0}]`...)
	if finish != "" {
		dst = append(dst, `,"usageMetadata":`...)
		dst = appendUsageMetadata(dst, usageFromPivot(t.usage))
	}
	dst = append(dst, `,"modelVersion":`...)
	switch {
	case t.opts.Model != "":
		dst = jsonstr.Append(dst, t.opts.Model)
	case t.model != nil:
		dst = append(dst, t.model...)
	default:
		dst = append(dst, `""`...)
	}
	if t.id != nil {
		dst = append(dst, `,"responseId":`...)
		dst = append(dst, t.id...)
	}
	dst = append(dst, '}')
	if !t.opts.Array {
		dst = append(dst, "\n\n"...)
	}
	return dst
}

// abandon drops what the failed event wrote (a half-written chunk): the output stays whole
// events.
func (t *StreamFromOpenAI) abandon(dst []byte, mark int, started bool) []byte {
	t.chunkOpen, t.started = false, started
	return dst[:mark]
}

func (t *StreamFromOpenAI) toolCall(dst, tc []byte) ([]byte, error) {
	call, begun, ok := t.calls.Call(tc, maxTools)
	if !ok {
		return dst, ErrMalformed
	}
	if begun {
		// Earlier calls are not written yet: OpenAI streams parallel calls by index and may
		// alternate their argument deltas, and a Gemini part is written whole, once.
		t.tools = append(t.tools, pendingTool{})
	}
	pt := &t.tools[call]
	if pt.emitted {
		return dst, ErrMalformed // more of a call already written whole
	}
	t.called = true
	if id := wire.Key(tc, "id"); wire.IsString(id) && !wire.EmptyString(id) && pt.id == "" {
		pt.id, _ = wire.Unquote(id)
	}
	if name := wire.Path(tc, "function", "name"); wire.IsString(name) && !wire.EmptyString(name) && pt.name == "" {
		pt.name, _ = wire.Unquote(name)
	}
	if args := wire.Path(tc, "function", "arguments"); wire.IsString(args) && len(args) > 2 {
		var ok bool
		if pt.args, ok = jsonstr.AppendUnquoted(pt.args, args[1:len(args)-1]); !ok {
			return dst, ErrMalformed
		}
	}
	return dst, nil
}

// flushTools writes every pending call as a functionCall part of the open chunk.
func (t *StreamFromOpenAI) flushTools(dst []byte) ([]byte, error) {
	for i := range t.tools {
		pt := &t.tools[i]
		if pt.emitted {
			continue
		}
		pt.emitted = true
		args := bytes.TrimSpace(pt.args)
		switch {
		case len(args) == 0:
			args = []byte("{}")
		case !json.Valid(args):
			return dst, ErrMalformed
		case args[0] != '{':
			args = []byte("{}")
		}
		base, sig := SplitToolID(pt.id)
		dst = t.part(dst)
		dst = append(dst, `{"functionCall":{`...)
		if base != "" {
			dst = append(dst, `"id":`...)
			dst = jsonstr.Append(dst, base)
			dst = append(dst, ',')
		}
		dst = append(dst, `"name":`...)
		dst = jsonstr.Append(dst, pt.name)
		dst = append(dst, `,"args":`...)
		var b bytes.Buffer
		if json.Compact(&b, args) == nil {
			dst = append(dst, b.Bytes()...)
		} else {
			dst = append(dst, "{}"...)
		}
		dst = append(dst, '}')
		if sig != "" {
			dst = append(dst, `,"thoughtSignature":`...)
			dst = jsonstr.Append(dst, sig)
		}
		dst = append(dst, '}')
		pt.args = nil
	}
	return dst, nil
}

// end writes the last chunk: pending calls (or an empty text part), finishReason and usage.
func (t *StreamFromOpenAI) end(dst []byte) ([]byte, error) {
	var err error
	mark, started := len(dst), t.started
	if dst, err = t.flushTools(dst); err != nil {
		return t.abandon(dst, mark, started), err
	}
	if !t.chunkOpen {
		dst = t.part(dst)
		dst = append(dst, `{"text":""}`...)
	}
	t.done = true
	dst = t.closeChunk(dst, FinishReasonFromOpenAI(t.finish))
	if t.opts.Array {
		dst = append(dst, ']')
	}
	return dst, nil
}
