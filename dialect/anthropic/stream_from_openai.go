package anthropic

import (
	"encoding/json"
	"errors"
	"strconv"

	"github.com/llmrouter/caddy-llm-router/dialect/internal/wire"
	"github.com/llmrouter/caddy-llm-router/dialect/openai"
	"github.com/llmrouter/caddy-llm-router/internal/jsonstr"
)

// ErrInterleaved is returned by StreamFromOpenAI when an upstream sends argument deltas for a
// tool call whose block was already closed (text came between): Anthropic's stream has no way
// to reopen a finished block, and dropping the arguments would be a silent loss. Parallel
// calls whose deltas alternate are not this: the later ones are held (see StreamFromOpenAI).
var ErrInterleaved = errors.New("anthropic: tool call arguments interleaved with a later block")

// maxTools bounds the tool call index an upstream may use.
const maxTools = 1 << 10

// StreamFromOpenAIOptions configure a StreamFromOpenAI.
type StreamFromOpenAIOptions struct {
	// Model is message_start's message.model (the public name the client asked for); empty
	// keeps the upstream's model id.
	Model string
	// MessageID is the message id; empty makes it "msg_" + the upstream's chunk id.
	MessageID string
	// InputTokens is message_start's usage.input_tokens when the first chunk carries no usage
	// (OpenAI reports usage only at the end of a stream): pass EstimateTokens' count, or 0.
	// The true counts go in message_delta; when the upstream reports none, it repeats this.
	InputTokens int
	// DropReasoning drops reasoning_content instead of writing thinking blocks. The router
	// never forges a signature, so a thinking block it writes has none; a client that replays
	// it to a real Anthropic upstream is refused.
	DropReasoning bool
}

type toolState struct {
	args bool // an arguments delta was written (held: received)
	// held: the call began while another call's block was open. OpenAI streams parallel calls
	// by index and may alternate their argument deltas; an Anthropic block cannot be reopened,
	// so a held call is written whole when the open one closes.
	held     bool
	id, name []byte // held: the raw JSON id (nil when the upstream sent none) and name
	parts    []byte // held: the argument fragments' raw JSON strings, back to back
	ends     []int  // held: where each fragment in parts ends
}

// StreamFromOpenAI translates an OpenAI upstream's chunk stream into Anthropic Messages events
// for an Anthropic client, one upstream event at a time. Create one per attempt; not safe for
// concurrent use.
//
// Every event is written with its "event:" line (the Anthropic SDKs skip unnamed events).
// message_start (usage with input_tokens and a cache_creation object: Claude Code fails
// without them) is written just before the first block or at [DONE], so a chunk with only the
// role writes nothing and a relay that commits on its first written byte can still retry an
// error that follows it. Text, reasoning and each tool call are content blocks with
// consecutive indexes: a block is started when the kind of content changes or a new tool call
// appears (a new index, or an index reused under another id, as Ollama sends), and stopped
// before the next one starts, so every delta matches its open block's type (text_delta,
// thinking_delta, input_json_delta). A call that begins while another call's block is open
// is held and written whole when that block closes, so parallel calls whose argument deltas
// alternate keep every fragment in its own block. finish_reason closes the open block; usage (also a
// usage-only chunk with choices: []) is kept; [DONE] writes message_delta (stop_reason,
// usage) and message_stop. A turn that called tools has stop_reason tool_use even
// when the upstream said "stop", and one that only refused (OpenAI's refusal deltas) refusal.
type StreamFromOpenAI struct {
	opts       StreamFromOpenAIOptions
	started    bool
	done       bool
	open       int // index of the open block, -1 when none
	openKind   blockKind
	openTool   int // tools index of the open tool call
	next       int // next block index
	calls      wire.ToolCalls
	tools      []toolState // the calls in the order they began (calls' numbers)
	calledTool bool
	answered   bool // a content delta was written
	refused    bool // a refusal delta was written
	finish     string
	usage      rawUsage
	haveUsage  bool
	prompt     rawUsage // the upstream's prompt counts before its usage chunk (TakePrompt)
	havePrompt bool
	id, model  []byte // raw JSON values from the first chunk
}

// NewStreamFromOpenAI returns a translator for one stream.
func NewStreamFromOpenAI(opts StreamFromOpenAIOptions) *StreamFromOpenAI {
	return &StreamFromOpenAI{opts: opts, open: -1}
}

// Done reports whether [DONE] was translated (message_stop written).
func (t *StreamFromOpenAI) Done() bool { return t.done }

// Usage returns the usage read so far, in the pivot's terms.
func (t *StreamFromOpenAI) Usage() openai.Usage { return t.usage.pivot() }

// UsageFinal reports whether the usage chunk was read: an OpenAI stream reports its usage
// once, whole.
func (t *StreamFromOpenAI) UsageFinal() bool {
	u := t.Usage()
	return u.PromptTokens+u.CompletionTokens > 0
}

// Event translates one upstream event in normal form ("data: {...}\n\n" or "data: [DONE]\n\n")
// and appends the resulting Anthropic events to dst, which it returns. An error chunk
// ({"error":{...}}) returns dst unchanged and an *Error whose Type is the Anthropic type for
// the upstream's error (end the client's stream with AppendErrorEvent); data that is not JSON
// returns ErrMalformed; a [DONE] after neither content nor a finish_reason returns ErrEmpty,
// and writes nothing. Events after [DONE] are ignored.
func (t *StreamFromOpenAI) Event(dst, ev []byte) ([]byte, error) {
	_, data, ok := wire.Event(ev)
	if !ok || t.done {
		return dst, nil
	}
	if string(data) == "[DONE]" {
		if !t.started && t.finish == "" {
			// A role chunk, usage, [DONE]: nothing to answer with, and no finish_reason to say
			// the answer is empty.
			return dst, ErrEmpty
		}
		return t.end(dst), nil
	}
	if !json.Valid(data) {
		return dst, ErrMalformed
	}
	if raw := wire.Key(data, "error"); raw != nil {
		return dst, errorFromOpenAI(data)
	}
	u := wire.Key(data, "usage")
	if u != nil {
		t.readUsage(u)
	}
	// Azure opens with a content-filter chunk whose id and model are empty: take each from the
	// first chunk that has it.
	if t.id == nil {
		if id := wire.Key(data, "id"); wire.IsString(id) && !wire.EmptyString(id) {
			t.id = append(make([]byte, 0, 48), id...)
		}
	}
	if t.model == nil {
		if m := wire.Key(data, "model"); wire.IsString(m) && !wire.EmptyString(m) {
			t.model = append(make([]byte, 0, 32), m...)
		}
	}
	choice := wire.FirstChoice(wire.Key(data, "choices"))
	if choice == nil {
		return dst, nil
	}
	delta := wire.Key(choice, "delta")
	var err error
	if !t.opts.DropReasoning {
		r := wire.Key(delta, "reasoning_content")
		if r == nil {
			r = wire.Key(delta, "reasoning") // OpenRouter, vLLM
		}
		if wire.IsString(r) && !wire.EmptyString(r) {
			dst = t.ensure(dst, kindThinking)
			dst = t.delta(dst, `"thinking_delta","thinking":`, r)
		}
	}
	for i, key := range [...]string{"content", "refusal"} {
		if c := wire.Key(delta, key); wire.IsString(c) && !wire.EmptyString(c) {
			dst = t.ensure(dst, kindText)
			dst = t.delta(dst, `"text_delta","text":`, c)
			t.answered, t.refused = t.answered || i == 0, t.refused || i == 1
		}
	}
	tcs := wire.Key(delta, "tool_calls")
	for tc, p := wire.Elem(tcs, 0); tc != nil; tc, p = wire.Elem(tcs, p) {
		if dst, err = t.toolCall(dst, tc); err != nil {
			return dst, err
		}
	}
	if fr := wire.Key(choice, "finish_reason"); wire.IsString(fr) {
		dst = t.closeOpen(dst)
		t.finish = string(fr[1 : len(fr)-1])
	}
	return dst, nil
}

// Finish is called when the upstream stream ended (io.EOF). It returns ErrIncomplete when
// [DONE] never came: the relay must then write an error event (AppendErrorEvent), not close
// cleanly.
func (t *StreamFromOpenAI) Finish(dst []byte) ([]byte, error) {
	if t.done {
		return dst, nil
	}
	return dst, ErrIncomplete
}

func errorFromOpenAI(data []byte) *Error {
	oe, _ := openai.ParseError(data)
	e := &Error{Type: ErrAPI, Message: oe.Message}
	switch oe.Type {
	case "invalid_request_error":
		e.Type = ErrInvalidRequest
	case "rate_limit_error", "rate_limit_exceeded", "tokens", "requests":
		e.Type = ErrRateLimit
	case "authentication_error":
		e.Type = ErrAuthentication
	case "permission_error":
		e.Type = ErrPermission
	}
	if oe.Code == "rate_limit_exceeded" {
		e.Type = ErrRateLimit
	}
	if e.Message == "" {
		e.Message = "upstream stream error"
	}
	return e
}

func (t *StreamFromOpenAI) readUsage(u []byte) {
	prompt := wire.Int(wire.Key(u, "prompt_tokens"))
	d := wire.Key(u, "prompt_tokens_details")
	cached := wire.Int(wire.Key(d, "cached_tokens"))
	write := wire.Int(wire.Key(d, "cache_write_tokens"))
	t.haveUsage = true
	t.usage = rawUsage{
		input:      max(prompt-cached-write, 0),
		output:     wire.Int(wire.Key(u, "completion_tokens")),
		cacheRead:  cached,
		cacheWrite: write,
	}
}

func (t *StreamFromOpenAI) start(dst []byte) []byte {
	t.started = true
	dst = append(dst, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":"...)
	if t.opts.MessageID != "" {
		dst = jsonstr.Append(dst, t.opts.MessageID)
	} else if wire.IsString(t.id) && !wire.EmptyString(t.id) {
		dst = append(dst, `"msg_`...)
		dst = append(dst, t.id[1:]...)
	} else {
		dst = append(dst, `"msg_router"`...)
	}
	dst = append(dst, `,"type":"message","role":"assistant","model":`...)
	if t.opts.Model == "" && wire.IsString(t.model) {
		dst = append(dst, t.model...)
	} else {
		dst = jsonstr.Append(dst, t.opts.Model)
	}
	u := t.reported()
	dst = append(dst, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":`...)
	dst = strconv.AppendInt(dst, u.input, 10)
	dst = append(dst, `,"cache_creation_input_tokens":`...)
	dst = strconv.AppendInt(dst, u.cacheWrite, 10)
	dst = append(dst, `,"cache_read_input_tokens":`...)
	dst = strconv.AppendInt(dst, u.cacheRead, 10)
	dst = append(dst, `,"cache_creation":{"ephemeral_5m_input_tokens":`...)
	dst = strconv.AppendInt(dst, u.cacheWrite, 10)
	dst = append(dst, `,"ephemeral_1h_input_tokens":0},"output_tokens":0}}}`+"\n\n"...)
	return dst
}

// reported is the usage the client is told: the upstream's, else its prompt counts from
// TakePrompt, else the estimate of the input when the upstream reported none (a server that
// ignores stream_options), as message_delta's counts replace message_start's in the client.
func (t *StreamFromOpenAI) reported() rawUsage {
	switch {
	case t.haveUsage:
		return t.usage
	case t.havePrompt:
		return t.prompt
	}
	return rawUsage{input: int64(t.opts.InputTokens)}
}

// TakePrompt replaces the estimate of InputTokens with the upstream's own prompt counts, known
// before the pivot's usage chunk (a Gemini stream's first chunk has them): clients such as
// LangChain's ChatAnthropic read input tokens from message_start only.
func (t *StreamFromOpenAI) TakePrompt(u openai.Usage) {
	var cached, write int64
	if d := u.PromptTokensDetails; d != nil {
		cached, write = int64(d.CachedTokens), int64(d.CacheWriteTokens)
	}
	t.prompt = rawUsage{input: max(int64(u.PromptTokens)-cached-write, 0), cacheRead: cached, cacheWrite: write}
	t.havePrompt = true
}

// ensure makes an open block of kind k (text or thinking), closing another one first.
func (t *StreamFromOpenAI) ensure(dst []byte, k blockKind) []byte {
	if t.open >= 0 && t.openKind == k {
		return dst
	}
	dst = t.closeOpen(dst)
	dst = t.startBlock(dst)
	if k == kindText {
		dst = append(dst, `"text","text":""}}`+"\n\n"...)
	} else {
		dst = append(dst, `"thinking","thinking":"","signature":""}}`+"\n\n"...)
	}
	t.openKind = k
	return dst
}

// startBlock writes a content_block_start up to the content block's type value and opens the
// next index.
func (t *StreamFromOpenAI) startBlock(dst []byte) []byte {
	if !t.started {
		dst = t.start(dst)
	}
	t.open = t.next
	t.next++
	dst = append(dst, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":"...)
	dst = strconv.AppendInt(dst, int64(t.open), 10)
	return append(dst, `,"content_block":{"type":`...)
}

// delta writes a content_block_delta for the open block; kv is the delta's type value and
// value key, s a raw JSON string.
func (t *StreamFromOpenAI) delta(dst []byte, kv string, s []byte) []byte {
	dst = append(dst, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":"...)
	dst = strconv.AppendInt(dst, int64(t.open), 10)
	dst = append(dst, `,"delta":{"type":`...)
	dst = append(dst, kv...)
	dst = append(dst, s...)
	return append(dst, "}}\n\n"...)
}

func (t *StreamFromOpenAI) closeOpen(dst []byte) []byte {
	if t.open < 0 {
		return dst
	}
	wasTool := t.openKind == kindTool
	dst = t.stopBlock(dst)
	if wasTool {
		// The calls held while this one was open, each whole, in the order they began.
		for i := range t.tools {
			st := &t.tools[i]
			if !st.held {
				continue
			}
			dst = t.startTool(dst, i, st.id, st.name)
			for p, end := 0, 0; p < len(st.ends); p++ {
				start := end
				end = st.ends[p]
				dst = t.delta(dst, `"input_json_delta","partial_json":`, st.parts[start:end])
			}
			*st = toolState{args: st.args}
			dst = t.stopBlock(dst)
		}
	}
	return dst
}

// stopBlock writes the open block's content_block_stop.
func (t *StreamFromOpenAI) stopBlock(dst []byte) []byte {
	if t.openKind == kindTool && !t.tools[t.openTool].args {
		// A call without arguments still gets an input: clients that saw no input_json_delta
		// have been seen to run the tool with empty input.
		dst = t.delta(dst, `"input_json_delta","partial_json":`, []byte(`"{}"`))
	}
	dst = append(dst, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":"...)
	dst = strconv.AppendInt(dst, int64(t.open), 10)
	dst = append(dst, "}\n\n"...)
	t.open = -1
	return dst
}

// startTool opens a tool_use block for call; id and name are raw JSON strings or nil.
func (t *StreamFromOpenAI) startTool(dst []byte, call int, id, name []byte) []byte {
	dst = t.startBlock(dst)
	t.openKind, t.openTool = kindTool, call
	dst = append(dst, `"tool_use","id":`...)
	if id != nil {
		dst = appendToolID(dst, id)
	} else {
		dst = append(dst, `"toolu_`...)
		dst = strconv.AppendInt(dst, int64(t.open), 10)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"name":`...)
	if name != nil {
		dst = append(dst, name...)
	} else {
		dst = append(dst, `""`...)
	}
	return append(dst, `,"input":{}}}`+"\n\n"...)
}

func (t *StreamFromOpenAI) toolCall(dst, tc []byte) ([]byte, error) {
	call, begun, ok := t.calls.Call(tc, maxTools)
	if !ok {
		return dst, ErrMalformed
	}
	if begun {
		t.tools = append(t.tools, toolState{})
		t.calledTool = true
		id := wire.Key(tc, "id")
		if !wire.IsString(id) || wire.EmptyString(id) {
			id = nil
		}
		name := wire.Path(tc, "function", "name")
		if !wire.IsString(name) {
			name = nil
		}
		if t.open >= 0 && t.openKind == kindTool {
			st := &t.tools[call]
			st.held = true
			st.id, st.name = append([]byte(nil), id...), append([]byte(nil), name...)
		} else {
			dst = t.closeOpen(dst)
			dst = t.startTool(dst, call, id, name)
		}
	}
	args := wire.Path(tc, "function", "arguments")
	if !wire.IsString(args) || wire.EmptyString(args) {
		return dst, nil
	}
	if st := &t.tools[call]; st.held {
		st.args = true
		st.parts = append(st.parts, args...)
		st.ends = append(st.ends, len(st.parts))
		return dst, nil
	}
	if t.open < 0 || t.openKind != kindTool || t.openTool != call {
		return dst, ErrInterleaved
	}
	t.tools[call].args = true
	return t.delta(dst, `"input_json_delta","partial_json":`, args), nil
}

func (t *StreamFromOpenAI) end(dst []byte) []byte {
	if !t.started {
		dst = t.start(dst)
	}
	dst = t.closeOpen(dst)
	t.done = true
	dst = append(dst, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\""...)
	finish := t.finish
	if finish == "stop" && t.refused && !t.answered {
		finish = "content_filter" // a turn that only refused, as ResponseFromOpenAI has it
	}
	dst = append(dst, StopReason(finish, t.calledTool)...)
	u := t.reported()
	dst = append(dst, `","stop_sequence":null},"usage":{"input_tokens":`...)
	dst = strconv.AppendInt(dst, u.input, 10)
	dst = append(dst, `,"output_tokens":`...)
	dst = strconv.AppendInt(dst, u.output, 10)
	dst = append(dst, `,"cache_creation_input_tokens":`...)
	dst = strconv.AppendInt(dst, u.cacheWrite, 10)
	dst = append(dst, `,"cache_read_input_tokens":`...)
	dst = strconv.AppendInt(dst, u.cacheRead, 10)
	dst = append(dst, "}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"...)
	return dst
}
