package llmrouter

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/llmrouter/caddy-llm-router/dialect/anthropic"
	"github.com/llmrouter/caddy-llm-router/dialect/gemini"
	"github.com/llmrouter/caddy-llm-router/sse"
)

// OpenAI error types, as clients switch on them.
const (
	errInvalidRequest = "invalid_request_error"
	errAuthentication = "authentication_error"
	errPermission     = "permission_error"
	errRateLimit      = "rate_limit_error"
	errUnavailable    = "service_unavailable"
	errUpstream       = "upstream_error"
)

// apiError is the OpenAI error object. Attempts is an extension that says what the router
// tried; clients ignore fields they do not know.
type apiError struct {
	Message  string        `json:"message"`
	Type     string        `json:"type"`
	Code     string        `json:"code,omitempty"`
	Attempts []attemptInfo `json:"attempts,omitempty"`
}

// attemptInfo describes one failed attempt without any secret: the target is named by
// provider, node index and key fingerprint.
type attemptInfo struct {
	Provider string `json:"provider"`
	Target   string `json:"target"`
	Status   int    `json:"status,omitempty"`
	Class    string `json:"class"`
	Error    string `json:"error,omitempty"`
}

// geminiError is Google's error object with the router's extensions.
type geminiError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
	// Reason is the router's error code (model_not_found, pool_exhausted, ...).
	Reason   string        `json:"reason,omitempty"`
	Attempts []attemptInfo `json:"attempts,omitempty"`
	// Details holds Google's RetryInfo when the answer has a Retry-After: Google's SDKs
	// expose no headers, so their clients read the wait from the body only.
	Details []geminiRetryInfo `json:"details,omitempty"`
}

// geminiRetryInfo is google.rpc.RetryInfo as Gemini writes it: {"@type":...,"retryDelay":"7s"}.
type geminiRetryInfo struct {
	Type       string `json:"@type"`
	RetryDelay string `json:"retryDelay"`
}

// writeError answers with the router's own error, in the shape of the client's dialect.
func writeError(w http.ResponseWriter, d sse.Dialect, status int, typ, code, message string) {
	writeAPIError(w, d, status, apiError{Message: message, Type: typ, Code: code})
}

// writeAPIError writes e as an OpenAI error object, or for Anthropic clients as Anthropic's
// `{"type":"error","error":{...}}` with the type Anthropic uses for the status (the OpenAI code
// and the attempts stay as extensions: Anthropic clients ignore fields they do not know).
func writeAPIError(w http.ResponseWriter, d sse.Dialect, status int, e apiError) {
	var body []byte
	hdr := w.Header()
	switch d {
	case sse.Gemini:
		// Google's shape: the HTTP status as code and its status name; the OpenAI type and
		// code and the attempts stay as extensions.
		ge := geminiError{Code: status, Message: e.Message, Status: gemini.StatusName(status), Reason: e.Code, Attempts: e.Attempts}
		if ra := hdr.Get("Retry-After"); ra != "" {
			// The router writes Retry-After as whole seconds, Google's retryDelay as seconds with "s".
			ge.Details = []geminiRetryInfo{{Type: gemini.TypeRetryInfo, RetryDelay: ra + "s"}}
		}
		body, _ = json.Marshal(struct {
			Error geminiError `json:"error"`
		}{ge})
	case sse.Anthropic:
		e.Type = anthropic.ErrorType(status)
		body, _ = json.Marshal(struct {
			Type  string   `json:"type"`
			Error apiError `json:"error"`
		}{"error", e})
	default:
		body, _ = json.Marshal(struct {
			Error apiError `json:"error"`
		}{e})
	}
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Content-Length", strconv.Itoa(len(body)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// writeJSONBody answers with a JSON body as it is.
func writeJSONBody(w http.ResponseWriter, status int, body []byte) {
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// maxEcho bounds how much of a client's own string (a model name, a path) an error quotes back:
// enough to recognise it, never a 100 KB name returned as a 100 KB error.
const maxEcho = 128

// clipEcho cuts a client string to maxEcho bytes, on a UTF-8 boundary, marking the cut.
func clipEcho(s string) string {
	if len(s) <= maxEcho {
		return s
	}
	i := maxEcho
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "..."
}

// retryAfterSeconds renders a wait as whole seconds, rounded up, at least 1.
func retryAfterSeconds(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10)
}
