package responses

import (
	"strconv"

	"github.com/llmrouter/caddy-llm-router/internal/jsonstr"
)

// Item kinds of a response's output.
const (
	kindMessage = iota
	kindFunctionCall
	kindReasoning
	kindCustomCall
)

// outItem is one output item being built. Text values are held JSON-escaped, without their
// quotes: escaped pieces of a stream concatenate into the escaped whole.
type outItem struct {
	kind int
	id   []byte // escaped, no quotes
	// text is the message's text, the reasoning summary, the call's arguments, or a custom
	// tool call's input (in a stream: its chat arguments until the call is done).
	text []byte
	// callID, name and namespace are a function call's, escaped, no quotes; namespace is nil
	// for a function of no namespace.
	callID, name, namespace []byte
	done                    bool
	// input reads a streamed custom tool call's input out of its arguments.
	input *customStream
}

// usage is a reply's token counts in the Responses API's terms.
type usage struct {
	input, cached, output, reasoning, total int64
}

// head is what a response object says of itself besides its output.
type head struct {
	id      []byte // escaped, no quotes
	created int64
	model   []byte // a raw JSON string, with its quotes
}

func appendQuoted(dst, escaped []byte) []byte {
	dst = append(dst, '"')
	dst = append(dst, escaped...)
	return append(dst, '"')
}

// escape returns s JSON-escaped without its quotes.
func escape(s string) []byte {
	b := jsonstr.Append(make([]byte, 0, len(s)+2), s)
	return b[1 : len(b)-1]
}

// appendItem writes the item as the Responses API shows it: done says whether it is whole
// (status completed) or just opened (in_progress, with no content yet).
func appendItem(dst []byte, it *outItem, done bool) []byte {
	status := `"in_progress"`
	if done {
		status = `"completed"`
	}
	switch it.kind {
	case kindMessage:
		dst = append(dst, `{"id":`...)
		dst = appendQuoted(dst, it.id)
		dst = append(dst, `,"type":"message","status":`...)
		dst = append(dst, status...)
		dst = append(dst, `,"role":"assistant","content":[`...)
		if done {
			dst = appendTextPart(dst, it.text)
		}
		dst = append(dst, "]}"...)
	case kindFunctionCall, kindCustomCall:
		// A custom (freeform) tool's call carries its input as a string where a function's
		// carries its JSON arguments.
		typ, field, value := "function_call", "arguments", []byte(nil)
		if it.kind == kindCustomCall {
			typ, field = "custom_tool_call", "input"
		}
		if done {
			if it.kind == kindCustomCall {
				value = it.text
			} else {
				value = it.arguments()
			}
		}
		dst = append(dst, `{"id":`...)
		dst = appendQuoted(dst, it.id)
		dst = append(dst, `,"type":"`...)
		dst = append(dst, typ...)
		dst = append(dst, `","status":`...)
		dst = append(dst, status...)
		dst = append(dst, `,"call_id":`...)
		dst = appendQuoted(dst, it.callID)
		dst = append(dst, `,"name":`...)
		dst = appendQuoted(dst, it.name)
		if it.namespace != nil {
			dst = append(dst, `,"namespace":`...)
			dst = appendQuoted(dst, it.namespace)
		}
		dst = append(dst, `,"`...)
		dst = append(dst, field...)
		dst = append(dst, `":`...)
		dst = appendQuoted(dst, value)
		dst = append(dst, '}')
	case kindReasoning:
		dst = append(dst, `{"id":`...)
		dst = appendQuoted(dst, it.id)
		dst = append(dst, `,"type":"reasoning","summary":[`...)
		if done {
			dst = appendSummaryPart(dst, it.text)
		}
		dst = append(dst, "]}"...)
	}
	return dst
}

// arguments are the call's arguments, "{}" when the upstream sent none (clients parse them).
func (it *outItem) arguments() []byte {
	if len(it.text) == 0 {
		return []byte("{}")
	}
	return it.text
}

func appendTextPart(dst, text []byte) []byte {
	dst = append(dst, `{"type":"output_text","text":`...)
	dst = appendQuoted(dst, text)
	return append(dst, `,"annotations":[],"logprobs":[]}`...)
}

func appendSummaryPart(dst, text []byte) []byte {
	dst = append(dst, `{"type":"summary_text","text":`...)
	dst = appendQuoted(dst, text)
	return append(dst, '}')
}

// appendResponse writes the response object. status is in_progress, completed or incomplete
// (then reason says why); u is written for a finished response only.
func appendResponse(dst []byte, h *head, items []outItem, status, reason string, u *usage) []byte {
	dst = append(dst, `{"id":`...)
	dst = appendQuoted(dst, h.id)
	dst = append(dst, `,"object":"response","created_at":`...)
	dst = strconv.AppendInt(dst, h.created, 10)
	dst = append(dst, `,"status":"`...)
	dst = append(dst, status...)
	dst = append(dst, `","error":null,"incomplete_details":`...)
	if reason != "" {
		dst = append(dst, `{"reason":"`...)
		dst = append(dst, reason...)
		dst = append(dst, `"}`...)
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"model":`...)
	if len(h.model) > 0 {
		dst = append(dst, h.model...)
	} else {
		dst = append(dst, `""`...)
	}
	dst = append(dst, `,"output":[`...)
	for i := range items {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendItem(dst, &items[i], true)
	}
	dst = append(dst, `],"parallel_tool_calls":true,"tool_choice":"auto","tools":[],"store":false,"text":{"format":{"type":"text"}},"usage":`...)
	if u == nil {
		return append(dst, "null}"...)
	}
	dst = append(dst, `{"input_tokens":`...)
	dst = strconv.AppendInt(dst, u.input, 10)
	dst = append(dst, `,"input_tokens_details":{"cached_tokens":`...)
	dst = strconv.AppendInt(dst, u.cached, 10)
	dst = append(dst, `},"output_tokens":`...)
	dst = strconv.AppendInt(dst, u.output, 10)
	dst = append(dst, `,"output_tokens_details":{"reasoning_tokens":`...)
	dst = strconv.AppendInt(dst, u.reasoning, 10)
	dst = append(dst, `},"total_tokens":`...)
	dst = strconv.AppendInt(dst, u.total, 10)
	return append(dst, "}}"...)
}

// incompleteReason is the incomplete_details reason for a pivot finish reason, "" when the
// response is complete.
func incompleteReason(finish string) string {
	switch finish {
	case "length":
		return "max_output_tokens"
	case "content_filter":
		return "content_filter"
	}
	return ""
}

// itemID makes the id of output item i of the response with the given id core.
func itemID(prefix string, core []byte, i int) []byte {
	b := make([]byte, 0, len(prefix)+len(core)+4)
	b = append(b, prefix...)
	b = append(b, core...)
	b = append(b, '_')
	return strconv.AppendInt(b, int64(i), 10)
}
