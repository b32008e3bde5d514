package anthropic

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/llmrouter/caddy-llm-router/dialect"
	"github.com/llmrouter/caddy-llm-router/dialect/openai"
	"github.com/llmrouter/caddy-llm-router/internal/jsonstr"
)

// Anthropic error types.
const (
	ErrInvalidRequest  = "invalid_request_error"
	ErrAuthentication  = "authentication_error"
	ErrBilling         = "billing_error"
	ErrPermission      = "permission_error"
	ErrNotFound        = "not_found_error"
	ErrRequestTooLarge = "request_too_large"
	ErrRateLimit       = "rate_limit_error"
	ErrTimeout         = "timeout_error"
	ErrAPI             = "api_error"
	ErrOverloaded      = "overloaded_error"
)

// ErrorType is the Anthropic error type for an HTTP status: 400 invalid_request_error, 401
// authentication_error, 402 billing_error, 403 permission_error, 404 not_found_error, 413
// request_too_large, 429 rate_limit_error, 504 timeout_error, 529 (and 503) overloaded_error,
// any other 4xx invalid_request_error, anything else api_error.
func ErrorType(status int) string {
	switch status {
	case 400:
		return ErrInvalidRequest
	case 401:
		return ErrAuthentication
	case 402:
		return ErrBilling
	case 403:
		return ErrPermission
	case 404:
		return ErrNotFound
	case 413:
		return ErrRequestTooLarge
	case 429:
		return ErrRateLimit
	case 503, 529:
		return ErrOverloaded
	case 504:
		return ErrTimeout
	}
	if status >= 400 && status < 500 {
		return ErrInvalidRequest
	}
	return ErrAPI
}

// Status is the HTTP status Anthropic answers an error type with (500 for an unknown type).
func Status(errType string) int {
	switch errType {
	case ErrInvalidRequest:
		return 400
	case ErrAuthentication:
		return 401
	case ErrBilling:
		return 402
	case ErrPermission:
		return 403
	case ErrNotFound:
		return 404
	case ErrRequestTooLarge:
		return 413
	case ErrRateLimit:
		return 429
	case ErrTimeout:
		return 504
	case ErrOverloaded:
		return 529
	}
	return 500
}

// Fault says whose fault an Anthropic error is, for the selector's failure classes.
type Fault uint8

// The faults.
const (
	// FaultUpstream: the provider failed (api_error, overloaded_error, timeout_error, unknown
	// types): retry another target, cool this one.
	FaultUpstream Fault = iota
	// FaultRateLimit: rate_limit_error: retry another target, cool this one for Retry-After.
	FaultRateLimit
	// FaultKey: authentication_error, permission_error, billing_error: the key is refused.
	FaultKey
	// FaultClient: invalid_request_error, not_found_error, request_too_large: the client's
	// request; pass it through, never retry or cool.
	FaultClient
)

// FaultOf classifies an error type.
func FaultOf(errType string) Fault {
	switch errType {
	case ErrInvalidRequest, ErrNotFound, ErrRequestTooLarge:
		return FaultClient
	case ErrAuthentication, ErrPermission, ErrBilling:
		return FaultKey
	case ErrRateLimit:
		return FaultRateLimit
	}
	return FaultUpstream
}

// Retryable reports whether another target may succeed where this error came from: true for
// overloaded_error, rate_limit_error, api_error, timeout_error and the key errors; false for
// the client's errors.
func Retryable(errType string) bool { return FaultOf(errType) != FaultClient }

// OpenAIErrorType maps an Anthropic error type to the type an OpenAI client sees.
func OpenAIErrorType(errType string) string {
	switch errType {
	case ErrInvalidRequest, ErrNotFound, ErrRequestTooLarge:
		return "invalid_request_error"
	case ErrAuthentication:
		return "authentication_error"
	case ErrPermission, ErrBilling:
		return "permission_error"
	case ErrRateLimit:
		return "rate_limit_error"
	}
	return "server_error"
}

// Error is an Anthropic error: a reply body's or an `event: error`'s "error" object.
type Error struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// Error returns type and message.
func (e *Error) Error() string { return "anthropic: " + e.Type + ": " + e.Message }

// ParseError reads {"type":"error","error":{"type":...,"message":...}}; ok is false when body
// holds no error object.
func ParseError(body []byte) (e Error, ok bool) {
	var v struct {
		Error *Error `json:"error"`
	}
	if json.Unmarshal(body, &v) != nil || v.Error == nil {
		return e, false
	}
	return *v.Error, true
}

// AppendErrorBody appends {"type":"error","error":{"type":...,"message":...}} to dst. An empty
// errType becomes api_error.
func AppendErrorBody(dst []byte, errType, message string) []byte {
	if errType == "" {
		errType = ErrAPI
	}
	dst = append(dst, `{"type":"error","error":{"type":`...)
	dst = jsonstr.Append(dst, errType)
	dst = append(dst, `,"message":`...)
	dst = jsonstr.Append(dst, message)
	return append(dst, "}}"...)
}

// AppendErrorEvent appends the stream event that ends a broken stream for an Anthropic client:
// "event: error\ndata: {error body}\n\n".
func AppendErrorEvent(dst []byte, errType, message string) []byte {
	dst = append(dst, "event: error\ndata: "...)
	dst = AppendErrorBody(dst, errType, message)
	return append(dst, "\n\n"...)
}

// ErrIncomplete is returned by a stream translator's Finish when the upstream stream ended
// without its terminator (message_stop, [DONE]): the relay must end the client's stream with
// an error event, never a clean close.
var ErrIncomplete = fmt.Errorf("anthropic: %w", dialect.ErrIncomplete)

// ErrEmpty is returned by a stream translator at the upstream's terminator when nothing came
// before it that the client could be given: no content and no stop reason (see
// dialect.ErrEmpty).
var ErrEmpty = fmt.Errorf("anthropic: %w", dialect.ErrEmpty)

// ErrMalformed is returned by a stream translator for an event whose data is not the JSON the
// dialect sends; like any upstream failure after commit it ends the stream with an error event.
var ErrMalformed = errors.New("anthropic: malformed stream event")

// ErrorBodyFromOpenAI turns an OpenAI upstream's error reply (status and body) into the body an
// Anthropic client gets with the same status: the type from the status (ErrorType), the
// upstream's message, or the status text when the body has none.
func ErrorBodyFromOpenAI(status int, body []byte) []byte {
	msg := ""
	if e, ok := openai.ParseError(body); ok {
		msg = e.Message
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return AppendErrorBody(nil, ErrorType(status), msg)
}

// ErrorBodyToOpenAI turns an Anthropic upstream's error reply into the body an OpenAI client
// gets with the same status: {"error":{"message","type"}} with OpenAIErrorType of the
// upstream's type (or of ErrorType(status) when the body has none).
func ErrorBodyToOpenAI(status int, body []byte) []byte {
	e, ok := ParseError(body)
	if !ok || e.Type == "" {
		e.Type = ErrorType(status)
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	code := ""
	if e.ContextFull() {
		code = openai.CodeContextLength
	}
	return openai.AppendError(nil, OpenAIErrorType(e.Type), code, e.Message)
}

// ContextFull reports whether the error says the prompt does not fit the model's context
// ("prompt is too long: 210000 tokens > 200000 maximum", or the input and max_tokens together
// exceeding the limit): OpenAI clients act on that under the code context_length_exceeded
// (Codex CLI says the context is full instead of printing the error).
func (e *Error) ContextFull() bool {
	return e.Type == ErrInvalidRequest && (strings.Contains(e.Message, "prompt is too long") ||
		strings.Contains(e.Message, "exceed context limit"))
}
