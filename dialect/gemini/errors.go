package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/llmrouter/caddy-llm-router/dialect"
	"github.com/llmrouter/caddy-llm-router/dialect/openai"
	"github.com/llmrouter/caddy-llm-router/internal/jsonstr"
)

// ErrBadRequest marks a translation failure caused by the client's request (the body is not a
// request of the ingress dialect, tool call arguments are not JSON): answer 400 in the ingress
// dialect's shape, never retry. Test with errors.Is.
var ErrBadRequest = errors.New("invalid request")

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadRequest}, args...)...)
}

// ErrIncomplete is returned by a stream translator's Finish when the upstream stream ended
// without its end (a candidate finishReason from Gemini, [DONE] or a finish_reason from an
// OpenAI upstream): the relay must end the client's stream with an error event, never a clean
// close.
var ErrIncomplete = fmt.Errorf("gemini: %w", dialect.ErrIncomplete)

// ErrEmpty is returned by a stream translator at [DONE] when nothing came before it: no
// content, no tool call and no finish_reason (see dialect.ErrEmpty).
var ErrEmpty = fmt.Errorf("gemini: %w", dialect.ErrEmpty)

// ErrMalformed is returned by a stream translator for an event whose data is not the JSON the
// dialect sends; like any upstream failure after commit it ends the stream with an error event.
var ErrMalformed = errors.New("gemini: malformed stream event")

// Google's canonical error statuses (error.status).
const (
	StatusInvalidArgument    = "INVALID_ARGUMENT"
	StatusFailedPrecondition = "FAILED_PRECONDITION"
	StatusOutOfRange         = "OUT_OF_RANGE"
	StatusUnauthenticated    = "UNAUTHENTICATED"
	StatusPermissionDenied   = "PERMISSION_DENIED"
	StatusNotFound           = "NOT_FOUND"
	StatusAborted            = "ABORTED"
	StatusAlreadyExists      = "ALREADY_EXISTS"
	StatusResourceExhausted  = "RESOURCE_EXHAUSTED"
	StatusCancelled          = "CANCELLED"
	StatusInternal           = "INTERNAL"
	StatusUnimplemented      = "UNIMPLEMENTED"
	StatusUnavailable        = "UNAVAILABLE"
	StatusDeadlineExceeded   = "DEADLINE_EXCEEDED"
	StatusUnknown            = "UNKNOWN"
)

// TypeRetryInfo is the @type of the error detail that says how long to wait (its retryDelay,
// e.g. "7s").
const TypeRetryInfo = "type.googleapis.com/google.rpc.RetryInfo"

// ReasonAPIKeyInvalid is the ErrorInfo reason Gemini gives a bad key (with 400
// INVALID_ARGUMENT, not 401).
const ReasonAPIKeyInvalid = "API_KEY_INVALID"

// Error is a Gemini error: a reply body's (or a stream event's) "error" object. Reasons are
// the details' ErrorInfo reasons (API_KEY_INVALID, ...); RetryDelay is RetryInfo's delay, 0
// when absent.
type Error struct {
	Code       int
	Message    string
	Status     string
	Reasons    []string
	RetryDelay time.Duration
}

// Error returns status and message.
func (e *Error) Error() string {
	s := e.Status
	if s == "" {
		s = StatusName(e.Code)
	}
	return "gemini: " + s + ": " + e.Message
}

// ParseError reads {"error":{"code","message","status","details":[...]}}, also wrapped in a
// JSON array as Gemini's streaming endpoints send it. ok is false when body holds no error
// object. An empty status is filled from the code.
func ParseError(body []byte) (e Error, ok bool) {
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		var arr []json.RawMessage
		if json.Unmarshal(body, &arr) != nil || len(arr) == 0 {
			return e, false
		}
		body = arr[0]
	}
	var v struct {
		Error *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Status  string `json:"status"`
			Details []struct {
				Type       string `json:"@type"`
				Reason     string `json:"reason"`
				RetryDelay string `json:"retryDelay"`
			} `json:"details"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &v) != nil || v.Error == nil {
		return e, false
	}
	e = Error{Code: v.Error.Code, Message: v.Error.Message, Status: v.Error.Status}
	for _, d := range v.Error.Details {
		if d.Reason != "" {
			e.Reasons = append(e.Reasons, d.Reason)
		}
		if d.RetryDelay != "" {
			if dur, err := time.ParseDuration(d.RetryDelay); err == nil && dur > 0 {
				e.RetryDelay = dur
			}
		}
	}
	if e.Status == "" {
		e.Status = StatusName(e.Code)
	}
	return e, true
}

// StatusName is the canonical status Google answers an HTTP status with: 400
// INVALID_ARGUMENT, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 NOT_FOUND, 408 and 504
// DEADLINE_EXCEEDED, 409 ABORTED, 413 INVALID_ARGUMENT (Google refuses an oversized payload
// as an invalid argument), 402 and 429 RESOURCE_EXHAUSTED, 499 CANCELLED, 501 UNIMPLEMENTED,
// 502 and 503 UNAVAILABLE, any other 4xx INVALID_ARGUMENT, 500 and anything else INTERNAL.
func StatusName(httpStatus int) string {
	switch httpStatus {
	case 400, 413, 422:
		return StatusInvalidArgument
	case 401:
		return StatusUnauthenticated
	case 403:
		return StatusPermissionDenied
	case 404:
		return StatusNotFound
	case 408, 504:
		return StatusDeadlineExceeded
	case 409:
		return StatusAborted
	case 402, 429:
		return StatusResourceExhausted
	case 499:
		return StatusCancelled
	case 501:
		return StatusUnimplemented
	case 502, 503:
		return StatusUnavailable
	}
	if httpStatus >= 400 && httpStatus < 500 {
		return StatusInvalidArgument
	}
	return StatusInternal
}

// HTTPStatus is the HTTP status of a canonical status (500 for an unknown one).
func HTTPStatus(status string) int {
	switch status {
	case StatusInvalidArgument, StatusFailedPrecondition, StatusOutOfRange:
		return 400
	case StatusUnauthenticated:
		return 401
	case StatusPermissionDenied:
		return 403
	case StatusNotFound:
		return 404
	case StatusAborted, StatusAlreadyExists:
		return 409
	case StatusResourceExhausted:
		return 429
	case StatusCancelled:
		return 499
	case StatusUnimplemented:
		return 501
	case StatusUnavailable:
		return 503
	case StatusDeadlineExceeded:
		return 504
	}
	return 500
}

// AppendErrorBody appends {"error":{"code":status,"message":...,"status":StatusName(status)}}
// to dst: the router's own errors on Gemini paths.
func AppendErrorBody(dst []byte, status int, message string) []byte {
	return appendError(dst, status, StatusName(status), message)
}

func appendError(dst []byte, code int, status, message string) []byte {
	dst = append(dst, `{"error":{"code":`...)
	dst = appendInt(dst, code)
	dst = append(dst, `,"message":`...)
	dst = jsonstr.Append(dst, message)
	dst = append(dst, `,"status":`...)
	dst = jsonstr.Append(dst, status)
	return append(dst, "}}"...)
}

// AppendErrorEvent appends what ends a broken stream for a Gemini client after commit: with
// SSE framing one event "data: {error body}\n\n" and then StreamFailedComment; with the
// array framing (array true)
// ",\r\n" + the error body + "]", which closes the array the stream opened. The relay writes it only
// after something was written, and in the array framing the first write always opens the
// array; a translator that may not have written yet has an AppendError method that knows.
func AppendErrorEvent(dst []byte, array bool, status int, message string) []byte {
	if array {
		dst = append(dst, ",\r\n"...)
		dst = AppendErrorBody(dst, status, message)
		return append(dst, ']')
	}
	dst = append(dst, "data: "...)
	dst = AppendErrorBody(dst, status, message)
	return append(dst, "\n\n"+StreamFailedComment...)
}

// StreamFailedComment follows the error event of a broken server-sent stream. The
// @google/generative-ai SDK (what LangChain's ChatGoogleGenerativeAI runs on) takes an error
// object for one more chunk and would return the text before it as a whole answer, but it
// raises on stream bytes that are not a data event; every other client ignores a comment.
const StreamFailedComment = ": stream failed\n\n"

// Fault says whose fault a Gemini error is, for the selector's failure classes.
type Fault uint8

// The faults.
const (
	// FaultUpstream: INTERNAL, UNAVAILABLE, DEADLINE_EXCEEDED, UNKNOWN and unknown statuses:
	// retry another target, cool this one.
	FaultUpstream Fault = iota
	// FaultRateLimit: RESOURCE_EXHAUSTED: retry another target, cool this one (RetryDelay).
	FaultRateLimit
	// FaultKey: UNAUTHENTICATED, PERMISSION_DENIED, or reason API_KEY_INVALID (which Gemini
	// sends with INVALID_ARGUMENT): the key is refused.
	FaultKey
	// FaultClient: INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE, NOT_FOUND, CANCELLED,
	// ...: the client's request; pass it through, never retry or cool.
	FaultClient
)

// FaultOf classifies an error by its reasons, then its status (or its code when it has none).
func FaultOf(e Error) Fault {
	for _, r := range e.Reasons {
		if r == ReasonAPIKeyInvalid || r == "API_KEY_SERVICE_BLOCKED" || r == "CONSUMER_SUSPENDED" {
			return FaultKey
		}
	}
	s := e.Status
	if s == "" {
		s = StatusName(e.Code)
	}
	switch s {
	case StatusResourceExhausted:
		return FaultRateLimit
	case StatusUnauthenticated, StatusPermissionDenied:
		return FaultKey
	case StatusInternal, StatusUnavailable, StatusDeadlineExceeded, StatusUnknown:
		return FaultUpstream
	case StatusInvalidArgument, StatusFailedPrecondition, StatusOutOfRange, StatusNotFound, StatusAborted,
		StatusAlreadyExists, StatusCancelled, StatusUnimplemented:
		return FaultClient
	}
	return FaultUpstream
}

// Retryable reports whether another target may succeed where this error came from: true for
// RESOURCE_EXHAUSTED, UNAVAILABLE, INTERNAL, DEADLINE_EXCEEDED and the key refusals; false for
// the client's errors (INVALID_ARGUMENT, FAILED_PRECONDITION, ...).
func Retryable(e Error) bool { return FaultOf(e) != FaultClient }

// OpenAIErrorType maps a canonical status to the type an OpenAI client sees.
func OpenAIErrorType(status string) string {
	switch status {
	case StatusInvalidArgument, StatusFailedPrecondition, StatusOutOfRange, StatusNotFound, StatusAlreadyExists, StatusAborted:
		return "invalid_request_error"
	case StatusUnauthenticated:
		return "authentication_error"
	case StatusPermissionDenied:
		return "permission_error"
	case StatusResourceExhausted:
		return "rate_limit_error"
	}
	return "server_error"
}

// ErrorBodyToOpenAI turns a Gemini upstream's error reply (status and body) into the body an
// OpenAI client gets with the same status: {"error":{"message","type","code"}}, the type from
// the canonical status, the code "invalid_api_key" for API_KEY_INVALID, "rate_limit_exceeded"
// for RESOURCE_EXHAUSTED, else the status in lower case. nil when body holds no Gemini error.
func ErrorBodyToOpenAI(status int, body []byte) []byte {
	e, ok := ParseError(body)
	if !ok {
		return nil
	}
	if e.Status == "" {
		e.Status = StatusName(status)
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	code := strings.ToLower(e.Status)
	switch {
	case FaultOf(e) == FaultKey && e.Status == StatusInvalidArgument:
		code = "invalid_api_key"
	case e.Status == StatusResourceExhausted:
		code = "rate_limit_exceeded"
	case e.Status == StatusInvalidArgument && strings.Contains(e.Message, "exceeds the maximum number of tokens"):
		// "The input token count (N) exceeds the maximum number of tokens allowed (M)": OpenAI
		// clients act on the code (Codex CLI says the context is full).
		code = openai.CodeContextLength
	}
	typ := OpenAIErrorType(e.Status)
	if code == "invalid_api_key" {
		typ = "authentication_error"
	}
	return openai.AppendError(nil, typ, code, e.Message)
}

// ErrorBodyFromOpenAI turns an OpenAI upstream's error reply into the body a Gemini client
// gets with the same status: code = status, the upstream's message, status from StatusName.
// nil when body holds no OpenAI error.
func ErrorBodyFromOpenAI(status int, body []byte) []byte {
	e, ok := openai.ParseError(body)
	if !ok {
		return nil
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	return AppendErrorBody(nil, status, e.Message)
}

// errorFromOpenAI is the *Error for an OpenAI stream's error chunk, its code from the type.
func errorFromOpenAI(data []byte) *Error {
	oe, _ := openai.ParseError(data)
	code := 500
	switch {
	case oe.Type == "invalid_request_error":
		code = 400
	case oe.Type == "authentication_error" || oe.Code == "invalid_api_key":
		code = 401
	case oe.Type == "permission_error":
		code = 403
	case oe.Type == "rate_limit_error" || oe.Code == "rate_limit_exceeded" || oe.Type == "tokens" || oe.Type == "requests":
		code = 429
	}
	msg := oe.Message
	if msg == "" {
		msg = "upstream stream error"
	}
	return &Error{Code: code, Message: msg, Status: StatusName(code)}
}
