package llmrouter

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/llmrouter/caddy-llm-router/sse"
)

// seam joins a continuation's text to the text the client has: have is what the client got,
// sent the part of it the continuing target was given (have less trailing blanks for
// Anthropic). The continuation's first seamWindow bytes are held until the overlap can be
// seen: a repeat of sent's last characters (at least minOverlap of them), then whatever it
// repeats of the blanks the client has beyond sent.
type seam struct {
	have, sent string
	buf        strings.Builder
	decided    bool
	dropped    int
}

// push takes the continuation's next text and returns what the client is to get of it now.
func (s *seam) push(txt string) string {
	if s.decided {
		return txt
	}
	s.buf.WriteString(txt)
	if s.buf.Len() < seamWindow {
		return ""
	}
	return s.decide()
}

// decide ends the hold: it returns the held text less the overlap.
func (s *seam) decide() string {
	if s.decided {
		return ""
	}
	s.decided = true
	c := s.buf.String()
	s.buf.Reset()
	k := 0
	for n := min(len(s.sent), len(c)); n >= minOverlap; n-- {
		if strings.HasSuffix(s.sent, c[:n]) {
			k = n
			break
		}
	}
	c = c[k:]
	extra := s.have[len(s.sent):]
	j := 0
	for j < len(extra) && j < len(c) && extra[j] == c[j] {
		j++
	}
	s.dropped = k + j
	return c[j:]
}

// stitcher rewrites a continuation's events (in the client's dialect) into the client's
// stream.
type stitcher struct {
	tp   *streamTap
	seam seam
	done bool
	// usage is the continuation's own usage, as it reported it; final says its final count
	// came (a chat usage chunk, Anthropic's message_delta).
	usage tokenUsage
	final bool
	// base is the usage the client had been told before the seam: the continuation's is
	// added to it.
	base tokenUsage
	// Anthropic: the continuation's block indexes mapped to the client's (-1: dropped), the
	// client's next index, whether the client's last block is still open, and the block the
	// seam is in (the continuation's index, -1 before its first text block).
	index     map[int]int
	next      int
	open      bool
	openIndex int
	seamBlock int
	started   bool
	wantUsage bool
}

func newStitcher(tp *streamTap, have, sent string) *stitcher {
	return &stitcher{tp: tp, seam: seam{have: have, sent: sent}, base: tp.usage, index: map[int]int{},
		next: tp.lastIndex + 1, open: tp.open, openIndex: tp.lastIndex, seamBlock: -1, wantUsage: true}
}

// feedAll stitches whole events (as a translator writes them) onto dst.
func (st *stitcher) feedAll(dst, evs []byte) ([]byte, error) {
	var err error
	for len(evs) > 0 {
		n := len(evs)
		if i := bytes.Index(evs, []byte("\n\n")); i >= 0 {
			n = i + 2
		}
		if dst, err = st.feed(dst, evs[:n]); err != nil {
			return dst, err
		}
		evs = evs[n:]
	}
	return dst, nil
}

func (st *stitcher) feed(dst, ev []byte) ([]byte, error) {
	data, ok := sse.Data(ev)
	if !ok {
		return dst, nil // comments, keepalives: the client's stream goes on without them
	}
	if st.tp.dialect == sse.Anthropic {
		return st.feedMessages(dst, eventName(ev), data)
	}
	if sse.IsDone(ev) {
		if txt := st.seam.decide(); txt != "" {
			dst = st.chatText(dst, txt)
		}
		st.done = true
		return append(dst, "data: [DONE]\n\n"...), nil
	}
	return st.feedChat(dst, data)
}

// finish is the end of the continuation's stream: held text is let go (a stream that ends
// without its terminator still fails, but the client has all the text there was).
func (st *stitcher) finish(dst []byte) []byte {
	txt := st.seam.decide()
	if txt == "" {
		return dst
	}
	if st.tp.dialect == sse.Anthropic {
		if st.seamBlock < 0 {
			return dst
		}
		return st.messagesText(dst, st.index[st.seamBlock], txt)
	}
	return st.chatText(dst, txt)
}

// chatText is a content chunk of the client's stream.
func (st *stitcher) chatText(dst []byte, txt string) []byte {
	m := map[string]any{"id": st.tp.id, "object": "chat.completion.chunk", "model": st.tp.model,
		"choices": []any{map[string]any{"index": 0, "delta": map[string]any{"content": txt}, "finish_reason": nil}}}
	if len(st.tp.created) > 0 {
		m["created"] = st.tp.created
	}
	b, _ := json.Marshal(m)
	dst = append(dst, "data: "...)
	dst = append(dst, b...)
	return append(dst, "\n\n"...)
}

func (st *stitcher) feedChat(dst, data []byte) ([]byte, error) {
	var top map[string]json.RawMessage
	if json.Unmarshal(data, &top) != nil {
		return dst, errContinuationUnreadable
	}
	if !isNull(top["error"]) {
		return dst, errStreamErrorEvent
	}
	id, _ := json.Marshal(st.tp.id)
	model, _ := json.Marshal(st.tp.model)
	top["id"], top["model"] = id, model
	if len(st.tp.created) > 0 {
		top["created"] = st.tp.created
	}
	var choices []map[string]json.RawMessage
	_ = json.Unmarshal(top["choices"], &choices)
	keep := false
	for _, ch := range choices {
		var delta map[string]json.RawMessage
		_ = json.Unmarshal(ch["delta"], &delta)
		delete(delta, "role")
		delete(delta, "reasoning_content")
		delete(delta, "reasoning")
		var txt string
		if raw, ok := delta["content"]; ok && !isNull(raw) {
			var s string
			_ = json.Unmarshal(raw, &s)
			txt = st.seam.push(s)
		}
		delete(delta, "content")
		if len(delta) > 0 || !isNull(ch["finish_reason"]) {
			txt += st.seam.decide() // anything but text ends the hold
		}
		if txt != "" {
			delta["content"], _ = json.Marshal(txt)
		}
		if len(delta) > 0 || !isNull(ch["finish_reason"]) {
			keep = true
		}
		ch["delta"], _ = json.Marshal(delta)
	}
	if raw := top["usage"]; !isNull(raw) {
		u := parseUsage(raw)
		st.usage, st.final = u, true
		if !st.wantUsage {
			delete(top, "usage")
		} else {
			top["usage"] = chatUsage(u.plus(st.base))
			keep = true
		}
	}
	if !keep {
		return dst, nil
	}
	top["choices"], _ = json.Marshal(choices)
	if choices == nil {
		top["choices"] = json.RawMessage("[]")
	}
	b, err := json.Marshal(top)
	if err != nil {
		return dst, err
	}
	dst = append(dst, "data: "...)
	dst = append(dst, b...)
	return append(dst, "\n\n"...), nil
}

func chatUsage(u tokenUsage) json.RawMessage {
	p, c := u.input(), u.output()
	return json.RawMessage(`{"prompt_tokens":` + strconv.FormatInt(p, 10) + `,"completion_tokens":` +
		strconv.FormatInt(c, 10) + `,"total_tokens":` + strconv.FormatInt(p+c, 10) + `}`)
}

// messagesText is a text delta of the client's block i.
func (st *stitcher) messagesText(dst []byte, i int, txt string) []byte {
	b, _ := json.Marshal(map[string]any{"type": "content_block_delta", "index": i,
		"delta": map[string]any{"type": "text_delta", "text": txt}})
	return appendEvent(dst, "content_block_delta", b)
}

func appendEvent(dst []byte, name string, data []byte) []byte {
	dst = append(dst, "event: "...)
	dst = append(dst, name...)
	dst = append(dst, "\ndata: "...)
	dst = append(dst, data...)
	return append(dst, "\n\n"...)
}

// closeOpen ends the client's open block before the continuation starts one of its own.
func (st *stitcher) closeOpen(dst []byte) []byte {
	if !st.open {
		return dst
	}
	st.open = false
	b, _ := json.Marshal(map[string]any{"type": "content_block_stop", "index": st.openIndex})
	return appendEvent(dst, "content_block_stop", b)
}

// flushSeam lets the held text go into the seam's block.
func (st *stitcher) flushSeam(dst []byte) []byte {
	if st.seam.decided || st.seamBlock < 0 {
		return dst
	}
	if txt := st.seam.decide(); txt != "" {
		dst = st.messagesText(dst, st.index[st.seamBlock], txt)
	}
	return dst
}

func (st *stitcher) feedMessages(dst []byte, name string, data []byte) ([]byte, error) {
	var ev messagesEvent
	if json.Unmarshal(data, &ev) != nil {
		return dst, errContinuationUnreadable
	}
	var top map[string]json.RawMessage
	_ = json.Unmarshal(data, &top)
	reindex := func(i int) []byte {
		top["index"] = json.RawMessage(strconv.Itoa(i))
		b, _ := json.Marshal(top)
		return b
	}
	switch ev.Type {
	case "error":
		return dst, errStreamErrorEvent
	case "message_start":
		st.usage = parseUsage(ev.Message.Usage)
		return dst, nil
	case "ping":
		return dst, nil
	case "content_block_start":
		switch ev.ContentBlock.Type {
		case "thinking", "redacted_thinking":
			st.index[ev.Index] = -1 // the client's answer had none: the continuation's is not shown
			return dst, nil
		}
		first := !st.started
		st.started = true
		dst = st.flushSeam(dst)
		if first && ev.ContentBlock.Type == "text" {
			st.seamBlock = ev.Index
			if st.open {
				st.index[ev.Index] = st.openIndex // the continuation goes on in the open block
				return dst, nil
			}
		}
		dst = st.closeOpen(dst)
		st.index[ev.Index] = st.next
		st.next++
		return appendEvent(dst, name, reindex(st.index[ev.Index])), nil
	case "content_block_delta":
		i, ok := st.index[ev.Index]
		if !ok || i < 0 {
			return dst, nil
		}
		if ev.Index == st.seamBlock && ev.Delta.Type == "text_delta" && !st.seam.decided {
			if txt := st.seam.push(ev.Delta.Text); txt != "" {
				dst = st.messagesText(dst, i, txt)
			}
			return dst, nil
		}
		return appendEvent(dst, name, reindex(i)), nil
	case "content_block_stop":
		i, ok := st.index[ev.Index]
		if !ok || i < 0 {
			return dst, nil
		}
		if ev.Index == st.seamBlock {
			dst = st.flushSeam(dst)
		}
		if st.open && i == st.openIndex {
			st.open = false
		}
		return appendEvent(dst, name, reindex(i)), nil
	case "message_delta":
		dst = st.flushSeam(dst)
		dst = st.closeOpen(dst)
		if u := parseUsage(ev.Usage); u.known() {
			st.final = true
			st.usage.OutputTokens = u.OutputTokens
			if u.InputTokens > 0 {
				st.usage.InputTokens = u.InputTokens
			}
			var usage map[string]json.RawMessage
			_ = json.Unmarshal(top["usage"], &usage)
			usage["output_tokens"] = json.RawMessage(strconv.FormatInt(u.OutputTokens+st.base.OutputTokens, 10))
			if u.InputTokens > 0 {
				usage["input_tokens"] = json.RawMessage(strconv.FormatInt(u.InputTokens+st.base.InputTokens, 10))
			}
			top["usage"], _ = json.Marshal(usage)
		}
		b, _ := json.Marshal(top)
		return appendEvent(dst, name, b), nil
	case "message_stop":
		dst = st.flushSeam(dst)
		st.done = true
		return appendEvent(dst, name, data), nil
	}
	return appendEvent(dst, name, data), nil
}

// errContinuationUnreadable is a continuation event the stitcher cannot read.
var errContinuationUnreadable = errorString("continuation sent an event the router cannot read")

type errorString string

func (e errorString) Error() string { return string(e) }

// eventName is an event's `event:` value, "" when it has none.
func eventName(ev []byte) string {
	for len(ev) > 0 {
		line := ev
		if i := bytes.IndexByte(ev, '\n'); i >= 0 {
			line, ev = ev[:i], ev[i+1:]
		} else {
			ev = nil
		}
		if v, ok := bytes.CutPrefix(line, []byte("event:")); ok {
			return string(bytes.TrimSpace(v))
		}
	}
	return ""
}
