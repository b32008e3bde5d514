package openai

import (
	"encoding/json"

	"github.com/llmrouter/caddy-llm-router/internal/jsonstr"
)

// Error is an OpenAI error body's "error" object.
type Error struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Code    string `json:"code,omitempty"`
}

// CodeContextLength is the error code OpenAI gives a request whose prompt does not fit the
// model's context; clients (Codex CLI, the SDKs' users) act on it.
const CodeContextLength = "context_length_exceeded"

// Error returns the message.
func (e *Error) Error() string { return "openai: " + e.Type + ": " + e.Message }

// ErrorType is the OpenAI error type for an HTTP status the router answers with.
func ErrorType(status int) string {
	switch {
	case status == 401:
		return "authentication_error"
	case status == 403:
		return "permission_error"
	case status == 429:
		return "rate_limit_error"
	case status >= 400 && status < 500:
		return "invalid_request_error"
	}
	return "server_error"
}

// AppendError appends the error body {"error":{"message":...,"type":...}} (with "code" when
// set) to dst. An empty errType becomes "server_error".
func AppendError(dst []byte, errType, code, message string) []byte {
	if errType == "" {
		errType = "server_error"
	}
	dst = append(dst, `{"error":{"message":`...)
	dst = jsonstr.Append(dst, message)
	dst = append(dst, `,"type":`...)
	dst = jsonstr.Append(dst, errType)
	if code != "" {
		dst = append(dst, `,"code":`...)
		dst = jsonstr.Append(dst, code)
	}
	return append(dst, "}}"...)
}

// ParseError reads an OpenAI-shaped error body (also a stream's {"error":{...}} chunk). ok is
// false when body has no error object. A numeric or absent code is left empty; a bare string
// error ({"error":"..."}, which some compatible servers send) becomes the message.
func ParseError(body []byte) (e Error, ok bool) {
	var v struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &v) != nil || len(v.Error) == 0 || string(v.Error) == "null" {
		return e, false
	}
	if v.Error[0] == '"' {
		return e, json.Unmarshal(v.Error, &e.Message) == nil
	}
	var o struct {
		Message string          `json:"message"`
		Type    string          `json:"type"`
		Code    json.RawMessage `json:"code"`
	}
	if json.Unmarshal(v.Error, &o) != nil {
		return e, false
	}
	e.Message, e.Type = o.Message, o.Type
	if len(o.Code) > 0 && o.Code[0] == '"' {
		_ = json.Unmarshal(o.Code, &e.Code)
	}
	return e, true
}
