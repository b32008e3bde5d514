package sse

import (
	"strconv"

	"github.com/llmrouter/caddy-llm-router/internal/jsonstr"
)

// Dialect is the wire format of a stream's error event.
type Dialect uint8

const (
	// OpenAI is the dialect of chat completions and the Responses API:
	// every OpenAI client raises a data-only {"error":{...}} chunk.
	OpenAI Dialect = iota
	// Anthropic is the dialect of /v1/messages: its clients raise only an
	// event named "error".
	Anthropic
	// Responses is the dialect of /v1/responses. Its broken stream ends with
	// the API's own response.failed event, which Codex CLI reports as the
	// turn's error; the event also carries a top-level "error" object, which
	// is what openai-node and openai-go raise on (they pass response.failed
	// on as an ordinary event). The router's JSON errors keep OpenAI's shape,
	// which the Responses API shares.
	Responses
	// Gemini is the dialect of /v1beta/models/{model}:generateContent and its
	// kin: errors are {"error":{"code":N,"message":"...","status":"..."}},
	// and a broken server-sent stream ends with one such object as its last
	// data event, which Google's SDKs raise.
	Gemini
)

// ErrorEvent is the terminal event that tells a client the stream failed
// after it began, so that a cut never reads as a silent success:
//
//	OpenAI:    data: {"error":{"message":"...","type":"..."}}
//	Anthropic: event: error
//	           data: {"type":"error","error":{"type":"...","message":"..."}}
//	Responses: event: response.failed
//	           data: {"type":"response.failed","response":{"id":"resp_router",
//	             "object":"response","status":"failed","error":{"code":"...",
//	             "message":"..."},"output":[]},"error":{"message":"...","type":"..."}}
//	Gemini:    data: {"error":{"code":500,"message":"...","status":"INTERNAL"}}
//
// each followed by a blank line. message and errType are JSON-escaped;
// invalid UTF-8 becomes U+FFFD as encoding/json would make it. An empty
// errType becomes "server_error" (OpenAI) or "api_error" (Anthropic), the
// types those APIs use for failures on their side.
func ErrorEvent(d Dialect, errType, message string) []byte {
	b := make([]byte, 0, 80+len(errType)+len(message))
	if d == Gemini {
		// errType is a Gemini status name; a failure on the server's side by default.
		if errType == "" {
			errType = "INTERNAL"
		}
		b = append(b, `data: {"error":{"code":`...)
		b = strconv.AppendInt(b, int64(geminiCode(errType)), 10)
		b = append(b, `,"message":`...)
		b = jsonstr.Append(b, message)
		b = append(b, `,"status":`...)
		b = jsonstr.Append(b, errType)
		return append(b, "}}\n\n"...)
	}
	if d == Responses {
		if errType == "" {
			errType = "server_error"
		}
		b = append(b, "event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"id\":\"resp_router\",\"object\":\"response\",\"status\":\"failed\",\"error\":{\"code\":"...)
		b = jsonstr.Append(b, errType)
		b = append(b, `,"message":`...)
		b = jsonstr.Append(b, message)
		b = append(b, `},"output":[]},"error":{"message":`...)
		b = jsonstr.Append(b, message)
		b = append(b, `,"type":`...)
		b = jsonstr.Append(b, errType)
		return append(b, "}}\n\n"...)
	}
	if d == Anthropic {
		if errType == "" {
			errType = "api_error"
		}
		b = append(b, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":"...)
		b = jsonstr.Append(b, errType)
		b = append(b, `,"message":`...)
		b = jsonstr.Append(b, message)
	} else {
		if errType == "" {
			errType = "server_error"
		}
		b = append(b, `data: {"error":{"message":`...)
		b = jsonstr.Append(b, message)
		b = append(b, `,"type":`...)
		b = jsonstr.Append(b, errType)
	}
	return append(b, "}}\n\n"...)
}

// geminiCode is the HTTP status Google's APIs give a status name.
func geminiCode(status string) int {
	switch status {
	case "INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE":
		return 400
	case "UNAUTHENTICATED":
		return 401
	case "PERMISSION_DENIED":
		return 403
	case "NOT_FOUND":
		return 404
	case "RESOURCE_EXHAUSTED":
		return 429
	case "UNAVAILABLE":
		return 503
	case "DEADLINE_EXCEEDED":
		return 504
	}
	return 500
}
