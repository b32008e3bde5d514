package sse

import (
	"bytes"
	"strconv"

	"github.com/llmrouter/caddy-llm-router/internal/jsonscan"
)

// toolCallsFinish appends to dst the OpenAI chat chunk ev with each finish_reason "stop"
// written "tool_calls" where its choice streamed tool calls, in this chunk or an earlier one
// (the bits of *called, by choice index, which it updates); ok is false, and dst unchanged,
// when ev needs no change.
func toolCallsFinish(dst, ev []byte, called *uint64) (out []byte, ok bool) {
	if !bytes.Contains(ev, []byte(`"choices"`)) {
		return dst, false
	}
	var at []int // offsets in ev of the "stop" values to rewrite
	for pos := 0; pos < len(ev); {
		end := len(ev)
		if i := bytes.IndexByte(ev[pos:], '\n'); i >= 0 {
			end = pos + i
		}
		if name, val := field(ev[pos:end]); string(name) == "data" {
			choices := jsonscan.ObjectKey(val, "choices")
			for c, p := jsonscan.Elem(choices, 0); c != nil; c, p = jsonscan.Elem(choices, p) {
				idx, err := strconv.Atoi(string(jsonscan.ObjectKey(c, "index")))
				if err != nil || idx < 0 || idx > 63 {
					continue
				}
				if tc := jsonscan.ObjectKey(jsonscan.ObjectKey(c, "delta"), "tool_calls"); len(tc) > 2 && tc[0] == '[' {
					*called |= 1 << idx
				}
				if fr := jsonscan.ObjectKey(c, "finish_reason"); string(fr) == `"stop"` && *called&(1<<idx) != 0 {
					at = append(at, cap(ev)-cap(fr)) // fr is a subslice of ev
				}
			}
		}
		pos = end + 1
	}
	if len(at) == 0 {
		return dst, false
	}
	prev := 0
	for _, i := range at {
		dst = append(append(dst, ev[prev:i]...), `"tool_calls"`...)
		prev = i + len(`"stop"`)
	}
	return append(dst, ev[prev:]...), true
}
