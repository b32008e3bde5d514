package anthropic

import "github.com/llmrouter/caddy-llm-router/dialect/internal/wire"

// UnsignedToolTurn reports whether body, a Messages request, turns thinking on while its last
// assistant message calls tools with no thinking block before the calls. Anthropic refuses to
// continue such a turn with thinking on (400: expected thinking or redacted_thinking). A
// client replays one so when another wire's provider made the calls: that reasoning has no
// signature to replay. It reads the body without decoding it.
func UnsignedToolTurn(body []byte) bool {
	th := wire.Key(body, "thinking")
	if th == nil || wire.Is(wire.Key(th, "type"), "disabled") {
		return false
	}
	msgs := wire.Key(body, "messages")
	var last []byte
	for elem, next := wire.Elem(msgs, 0); elem != nil; elem, next = wire.Elem(msgs, next) {
		if wire.Is(wire.Key(elem, "role"), "assistant") {
			last = elem
		}
	}
	content := wire.Key(last, "content")
	for block, next := wire.Elem(content, 0); block != nil; block, next = wire.Elem(content, next) {
		switch typ := wire.Key(block, "type"); {
		case wire.Is(typ, "thinking"), wire.Is(typ, "redacted_thinking"):
			return false
		case wire.Is(typ, "tool_use"):
			return true
		}
	}
	return false
}
