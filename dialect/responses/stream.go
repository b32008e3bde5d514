package responses

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/llmrouter/caddy-llm-router/dialect/internal/wire"
	"github.com/llmrouter/caddy-llm-router/dialect/openai"
	"github.com/llmrouter/caddy-llm-router/internal/jsonstr"
)

// maxTools bounds the tool call index an upstream may use.
const maxTools = 1 << 10

// StreamFromOpenAI translates a chat-only upstream's chunk stream into the Responses API's
// event sequence, one upstream event at a time. Create one per attempt; not safe for
// concurrent use.
//
// Every event has its "event:" line and a sequence_number from 0. response.created and
// response.in_progress are written just before the first output item (or at [DONE]), so a
// chunk with only the role writes nothing and a relay that commits on its first written byte
// can still retry an error that follows it. Reasoning deltas open a reasoning item (summary
// part and summary text events), text deltas a message item (content_part.added, then
// output_text.delta), each new tool call index a function_call item (its arguments as
// function_call_arguments.delta), or a custom_tool_call item for a custom tool's function
// (ReplyOptions.Custom: its input, read out of the arguments {"input":"..."} as they come, as
// custom_tool_call_input.delta, then .done). A message or reasoning item is closed (its .done
// events and output_item.done) when another item opens; function calls stay open, each delta
// going to its own item by output_index, until finish_reason closes every open item. [DONE]
// writes response.completed (response.incomplete for finish_reason length or content_filter)
// with the whole output and the usage.
type StreamFromOpenAI struct {
	opts     ReplyOptions
	h        head
	started  bool
	done     bool
	seq      int64
	items    []outItem
	open     int // index of the open message or reasoning item, -1 when none
	calls    wire.ToolCalls
	tools    []int // each call's output index
	finish   string
	u        usage
	haveID   bool
	usagePiv openai.Usage
}

// NewStreamFromOpenAI returns a translator for one stream.
func NewStreamFromOpenAI(opts ReplyOptions) *StreamFromOpenAI {
	return &StreamFromOpenAI{opts: opts, open: -1}
}

// Done reports whether [DONE] was translated (response.completed written).
func (t *StreamFromOpenAI) Done() bool { return t.done }

// Usage returns the usage read so far, in the pivot's terms.
func (t *StreamFromOpenAI) Usage() openai.Usage { return t.usagePiv }

// UsageFinal reports whether the usage chunk was read: an OpenAI stream reports its usage
// once, whole.
func (t *StreamFromOpenAI) UsageFinal() bool {
	u := t.Usage()
	return u.PromptTokens+u.CompletionTokens > 0
}

// Event translates one upstream event in normal form and appends the resulting Responses
// events to dst, which it returns. An error chunk ({"error":{...}}) returns dst unchanged and
// a *StreamError; data that is not JSON returns ErrMalformed; a [DONE] after neither output
// nor a finish_reason returns ErrEmpty, and writes nothing. Events after [DONE] are ignored.
func (t *StreamFromOpenAI) Event(dst, ev []byte) ([]byte, error) {
	_, data, ok := wire.Event(ev)
	if !ok || t.done {
		return dst, nil
	}
	if string(data) == "[DONE]" {
		if !t.started && t.finish == "" {
			// No output and no finish_reason: translated, an empty completed response.
			return dst, ErrEmpty
		}
		return t.end(dst), nil
	}
	if !json.Valid(data) {
		return dst, ErrMalformed
	}
	if raw := wire.Key(data, "error"); raw != nil {
		oe, _ := openai.ParseError(data)
		if oe.Message == "" {
			oe.Message = "upstream stream error"
		}
		return dst, &StreamError{Type: oe.Type, Code: oe.Code, Message: oe.Message}
	}
	if u := wire.Key(data, "usage"); u != nil {
		t.readUsage(u)
	}
	if !t.haveID {
		t.haveID = true
		if id := wire.Key(data, "id"); wire.IsString(id) && !wire.EmptyString(id) {
			t.h.id = append([]byte("resp_"), id[1:len(id)-1]...)
		} else {
			t.h.id = []byte("resp_router")
		}
		if t.opts.Model == "" {
			if m := wire.Key(data, "model"); wire.IsString(m) {
				t.h.model = append([]byte(nil), m...)
			}
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
		dst = t.ensure(dst, kindReasoning)
		dst = t.textDelta(dst, r)
	}
	for _, key := range [...]string{"content", "refusal"} {
		if c := wire.Key(delta, key); wire.IsString(c) && !wire.EmptyString(c) {
			dst = t.ensure(dst, kindMessage)
			dst = t.textDelta(dst, c)
		}
	}
	tcs := wire.Key(delta, "tool_calls")
	var err error
	for tc, p := wire.Elem(tcs, 0); tc != nil; tc, p = wire.Elem(tcs, p) {
		if dst, err = t.toolCall(dst, tc); err != nil {
			return dst, err
		}
	}
	if fr := wire.Key(choice, "finish_reason"); wire.IsString(fr) {
		t.finish = string(fr[1 : len(fr)-1])
		dst = t.closeAll(dst)
	}
	return dst, nil
}

// Finish is called when the upstream stream ended (io.EOF). It returns ErrIncomplete when
// [DONE] never came: the relay must then end the client's stream with an error event.
func (t *StreamFromOpenAI) Finish(dst []byte) ([]byte, error) {
	if t.done {
		return dst, nil
	}
	return dst, ErrIncomplete
}

func (t *StreamFromOpenAI) readUsage(u []byte) {
	p := openai.Usage{
		PromptTokens:     int(wire.Int(wire.Key(u, "prompt_tokens"))),
		CompletionTokens: int(wire.Int(wire.Key(u, "completion_tokens"))),
		TotalTokens:      int(wire.Int(wire.Key(u, "total_tokens"))),
	}
	if d := wire.Key(u, "prompt_tokens_details"); d != nil {
		p.PromptTokensDetails = &openai.PromptTokensDetails{CachedTokens: int(wire.Int(wire.Key(d, "cached_tokens")))}
	}
	if d := wire.Key(u, "completion_tokens_details"); d != nil {
		p.CompletionTokensDetails = &openai.CompletionTokensDetails{ReasoningTokens: int(wire.Int(wire.Key(d, "reasoning_tokens")))}
	}
	t.usagePiv = p
	t.u = pivotUsage(&p)
}

// event starts an event: its event line, then its data up to and with the sequence number.
func (t *StreamFromOpenAI) event(dst []byte, name string) []byte {
	dst = appendEventStart(dst, name, t.seq)
	t.seq++
	return dst
}

// appendEventStart starts event number seq: its event line, then its data up to and with the
// sequence number.
func appendEventStart(dst []byte, name string, seq int64) []byte {
	dst = append(dst, "event: "...)
	dst = append(dst, name...)
	dst = append(dst, "\ndata: {\"type\":\""...)
	dst = append(dst, name...)
	dst = append(dst, `","sequence_number":`...)
	return strconv.AppendInt(dst, seq, 10)
}

func (t *StreamFromOpenAI) start(dst []byte) []byte {
	t.started = true
	if t.h.id == nil {
		t.h.id = []byte("resp_router")
	}
	t.h.created = t.opts.Created
	if t.h.created == 0 {
		t.h.created = time.Now().Unix()
	}
	if t.opts.Model != "" || t.h.model == nil {
		t.h.model = jsonstr.Append(nil, t.opts.Model)
	}
	for _, name := range [...]string{"response.created", "response.in_progress"} {
		dst = t.event(dst, name)
		dst = append(dst, `,"response":`...)
		dst = appendResponse(dst, &t.h, nil, "in_progress", "", nil)
		dst = append(dst, "}\n\n"...)
	}
	return dst
}

// addItem opens a new output item and writes output_item.added.
func (t *StreamFromOpenAI) addItem(dst []byte, it outItem) []byte {
	if !t.started {
		dst = t.start(dst)
	}
	idx := len(t.items)
	prefix := "msg_"
	switch it.kind {
	case kindFunctionCall:
		prefix = "fc_"
	case kindCustomCall:
		prefix = "ctc_"
	case kindReasoning:
		prefix = "rs_"
	}
	it.id = itemID(prefix, t.h.id[len("resp_"):], idx)
	t.items = append(t.items, it)
	dst = t.event(dst, "response.output_item.added")
	dst = t.index(dst, idx)
	dst = append(dst, `,"item":`...)
	dst = appendItem(dst, &t.items[idx], false)
	return append(dst, "}\n\n"...)
}

// index writes the output_index field.
func (t *StreamFromOpenAI) index(dst []byte, idx int) []byte {
	dst = append(dst, `,"output_index":`...)
	return strconv.AppendInt(dst, int64(idx), 10)
}

// ref writes the item_id and output_index fields.
func (t *StreamFromOpenAI) ref(dst []byte, idx int) []byte {
	dst = append(dst, `,"item_id":`...)
	dst = appendQuoted(dst, t.items[idx].id)
	return t.index(dst, idx)
}

// ensure makes an open item of kind k (message or reasoning), closing another one first.
func (t *StreamFromOpenAI) ensure(dst []byte, k int) []byte {
	if t.open >= 0 && t.items[t.open].kind == k {
		return dst
	}
	dst = t.closeOpen(dst)
	dst = t.addItem(dst, outItem{kind: k})
	t.open = len(t.items) - 1
	if k == kindMessage {
		dst = t.event(dst, "response.content_part.added")
		dst = t.ref(dst, t.open)
		dst = append(dst, `,"content_index":0,"part":{"type":"output_text","text":"","annotations":[],"logprobs":[]}}`+"\n\n"...)
	} else {
		dst = t.event(dst, "response.reasoning_summary_part.added")
		dst = t.ref(dst, t.open)
		dst = append(dst, `,"summary_index":0,"part":{"type":"summary_text","text":""}}`+"\n\n"...)
	}
	return dst
}

// textDelta writes a delta of the open item; s is a raw JSON string.
func (t *StreamFromOpenAI) textDelta(dst, s []byte) []byte {
	it := &t.items[t.open]
	it.text = append(it.text, s[1:len(s)-1]...)
	if it.kind == kindMessage {
		dst = t.event(dst, "response.output_text.delta")
		dst = t.ref(dst, t.open)
		dst = append(dst, `,"content_index":0,"delta":`...)
		dst = append(dst, s...)
		return append(dst, `,"logprobs":[]}`+"\n\n"...)
	}
	dst = t.event(dst, "response.reasoning_summary_text.delta")
	dst = t.ref(dst, t.open)
	dst = append(dst, `,"summary_index":0,"delta":`...)
	dst = append(dst, s...)
	return append(dst, "}\n\n"...)
}

func (t *StreamFromOpenAI) toolCall(dst, tc []byte) ([]byte, error) {
	call, begun, ok := t.calls.Call(tc, maxTools)
	if !ok {
		return dst, ErrMalformed
	}
	if begun {
		dst = t.closeOpen(dst)
		it := outItem{kind: kindFunctionCall}
		if id := wire.Key(tc, "id"); wire.IsString(id) && !wire.EmptyString(id) {
			it.callID = append([]byte(nil), id[1:len(id)-1]...)
		} else {
			it.callID = itemID("call_", t.coreID(), call)
		}
		if name := wire.Path(tc, "function", "name"); wire.IsString(name) {
			name = name[1 : len(name)-1]
			if t.opts.custom(name) {
				it.kind = kindCustomCall
			}
			it.namespace, it.name = t.opts.split(append([]byte(nil), name...))
		}
		dst = t.addItem(dst, it)
		t.tools = append(t.tools, len(t.items)-1)
	}
	out := t.tools[call]
	it := &t.items[out]
	if it.done {
		return dst, ErrMalformed // a call continued after finish_reason
	}
	if len(it.name) == 0 {
		if name := wire.Path(tc, "function", "name"); wire.IsString(name) {
			it.namespace, it.name = t.opts.split(append(it.name, name[1:len(name)-1]...))
		}
	}
	args := wire.Path(tc, "function", "arguments")
	if !wire.IsString(args) || wire.EmptyString(args) {
		return dst, nil
	}
	it.text = append(it.text, args[1:len(args)-1]...)
	if it.kind == kindCustomCall {
		if it.input == nil {
			it.input = new(customStream)
		}
		return t.inputDelta(dst, out, it.input.next(args[1:len(args)-1])), nil
	}
	dst = t.event(dst, "response.function_call_arguments.delta")
	dst = t.ref(dst, out)
	dst = append(dst, `,"delta":`...)
	dst = append(dst, args...)
	return append(dst, "}\n\n"...), nil
}

// inputDelta writes a custom_tool_call_input.delta of the call at output index i, unless
// text (its next piece of input, not escaped) is empty.
func (t *StreamFromOpenAI) inputDelta(dst []byte, i int, text []byte) []byte {
	if len(text) == 0 {
		return dst
	}
	dst = t.event(dst, "response.custom_tool_call_input.delta")
	dst = t.ref(dst, i)
	dst = append(dst, `,"delta":`...)
	dst = jsonstr.Append(dst, string(text))
	return append(dst, "}\n\n"...)
}

func (t *StreamFromOpenAI) coreID() []byte {
	if t.h.id == nil {
		return []byte("router")
	}
	return t.h.id[len("resp_"):]
}

// closeOpen closes the open message or reasoning item.
func (t *StreamFromOpenAI) closeOpen(dst []byte) []byte {
	if t.open < 0 {
		return dst
	}
	i := t.open
	t.open = -1
	return t.closeItem(dst, i)
}

func (t *StreamFromOpenAI) closeItem(dst []byte, i int) []byte {
	it := &t.items[i]
	if it.done {
		return dst
	}
	it.done = true
	switch it.kind {
	case kindMessage:
		dst = t.event(dst, "response.output_text.done")
		dst = t.ref(dst, i)
		dst = append(dst, `,"content_index":0,"text":`...)
		dst = appendQuoted(dst, it.text)
		dst = append(dst, `,"logprobs":[]}`+"\n\n"...)
		dst = t.event(dst, "response.content_part.done")
		dst = t.ref(dst, i)
		dst = append(dst, `,"content_index":0,"part":`...)
		dst = appendTextPart(dst, it.text)
		dst = append(dst, "}\n\n"...)
	case kindReasoning:
		dst = t.event(dst, "response.reasoning_summary_text.done")
		dst = t.ref(dst, i)
		dst = append(dst, `,"summary_index":0,"text":`...)
		dst = appendQuoted(dst, it.text)
		dst = append(dst, "}\n\n"...)
		dst = t.event(dst, "response.reasoning_summary_part.done")
		dst = t.ref(dst, i)
		dst = append(dst, `,"summary_index":0,"part":`...)
		dst = appendSummaryPart(dst, it.text)
		dst = append(dst, "}\n\n"...)
	case kindCustomCall:
		// The chat arguments, {"input": "..."}, escaped, become the input they carry; what
		// was not yet written of it (all of it, for arguments of another shape) is the last
		// delta.
		var input string
		if args, ok := jsonstr.AppendUnquoted(nil, it.text); ok {
			input = customInput(string(args))
		}
		rest := []byte(input)
		if it.input != nil {
			rest = it.input.rest(input)
		}
		dst = t.inputDelta(dst, i, rest)
		it.text = escape(input)
		dst = t.event(dst, "response.custom_tool_call_input.done")
		dst = t.ref(dst, i)
		dst = append(dst, `,"input":`...)
		dst = appendQuoted(dst, it.text)
		dst = append(dst, "}\n\n"...)
	case kindFunctionCall:
		dst = t.event(dst, "response.function_call_arguments.done")
		dst = t.ref(dst, i)
		dst = append(dst, `,"name":`...)
		dst = appendQuoted(dst, it.name)
		dst = append(dst, `,"arguments":`...)
		dst = appendQuoted(dst, it.arguments())
		dst = append(dst, "}\n\n"...)
	}
	dst = t.event(dst, "response.output_item.done")
	dst = t.index(dst, i)
	dst = append(dst, `,"item":`...)
	dst = appendItem(dst, it, true)
	return append(dst, "}\n\n"...)
}

func (t *StreamFromOpenAI) closeAll(dst []byte) []byte {
	t.open = -1
	for i := range t.items {
		dst = t.closeItem(dst, i)
	}
	return dst
}

func (t *StreamFromOpenAI) end(dst []byte) []byte {
	if !t.started {
		dst = t.start(dst)
	}
	dst = t.closeAll(dst)
	t.done = true
	reason := incompleteReason(t.finish)
	status, name := "completed", "response.completed"
	if reason != "" {
		status, name = "incomplete", "response.incomplete"
	}
	dst = t.event(dst, name)
	dst = append(dst, `,"response":`...)
	dst = appendResponse(dst, &t.h, t.items, status, reason, &t.u)
	return append(dst, "}\n\n"...)
}
