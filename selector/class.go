package selector

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// Class is the outcome class of one upstream attempt.
type Class uint8

// The outcome classes. The handler decides retry and cooldown from them; see Retryable.
const (
	// Success is a 2xx reply.
	Success Class = iota
	// ClientError is a 4xx the client caused (400, 404, 422, ...): pass it through, no retry,
	// no cooldown.
	ClientError
	// RateLimited is a 429 that is not about exhausted quota, or a 503 with Retry-After: cool
	// the target.
	RateLimited
	// KeyRefused is a 401, 402 or 403, a 429 saying the quota or credit is gone, or another 4xx
	// whose error object refuses the key in a structured field (see refusalValues): cool the
	// key.
	KeyRefused
	// UpstreamDown is a 5xx, a 408, or no usable reply at all (connection error, timeout
	// before the first byte, truncated body): cool the target.
	UpstreamDown
	// ClientGone means the client cancelled: no retry, no cooldown, not counted.
	ClientGone
)

var classNames = [...]string{
	Success:      "success",
	ClientError:  "client_error",
	RateLimited:  "rate_limited",
	KeyRefused:   "key_refused",
	UpstreamDown: "upstream_down",
	ClientGone:   "client_gone",
}

// String returns the snake_case name used in logs, metrics labels and error bodies.
func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return "class(" + strconv.Itoa(int(c)) + ")"
}

// Retryable reports whether the failure is the target's or the key's fault, so that another
// target may succeed where this one failed.
func (c Class) Retryable() bool {
	return c == RateLimited || c == KeyRefused || c == UpstreamDown
}

// maxScan bounds how much of a body Classify and RetryAfter read: provider error bodies are
// well under this, and a bound keeps a hostile upstream from making classification costly.
const maxScan = 8 << 10

// Where a key refusal may be read from. A 4xx other than 401, 402, 403 and 429 is the client's
// error unless the provider says otherwise in a structured field of its error object, because
// the free text of a client-caused error can echo the client's input: a FastAPI/pydantic 422
// quotes the rejected value ("input": "quota exceeded"), a 400 names a bad tool or field. A
// client that could write a refusal phrase into such a reply would cool every key it reaches.
//
// So on those statuses only these are read, and only as whole values (case-insensitive):
//   - error.code and error.type (OpenAI, Anthropic, OpenRouter, DeepSeek and most others),
//   - error.status (Google's RPC status name),
//   - error.details[].reason (Google's ErrorInfo: API_KEY_INVALID for a bad Gemini key),
//
// where error is the top-level "error" object of a JSON object, or of the first element of a
// JSON array (Gemini's streaming endpoints). Anything else, message text included, is the
// client's error: passed through, no retry, no cooldown. Anthropic's 400 "Your credit balance
// is too low" carries no structured sign (its type is invalid_request_error), so it is passed
// through as the client's error and cools nothing: a refusal that is only in prose costs one
// provider's answers until its account is fixed, and no client gets the power to cool keys.
//
// A 429 is the provider's own answer to this key's traffic (no upstream echoes a request into a
// rate-limit reply), so its text may say whether the key is out of quota or only rate limited.
var (
	// refusalValues are error.code, error.type or error.status values that refuse the key.
	refusalValues = []string{
		"insufficient_quota",         // OpenAI code and type, with 429
		"billing_hard_limit_reached", // OpenAI
		"billing_not_active",         // OpenAI inactive account
		"invalid_api_key",            // OpenAI, Groq, Mistral: code with 401
		"account_deactivated",        // OpenAI
		"authentication_error",       // Anthropic type with 401
		"permission_error",           // Anthropic type with 403
		"billing_error",              // Anthropic type with 402
		"unauthenticated",            // Google status with 401
		"permission_denied",          // Google status with 403
	}
	// credentialValues are the refusalValues that refuse the key itself, not its quota or
	// billing (see KeyInvalid).
	credentialValues = []string{"invalid_api_key", "account_deactivated", "authentication_error",
		"permission_error", "unauthenticated", "permission_denied"}
	// refusalReasons are Google ErrorInfo reasons (error.details[].reason) that refuse the key;
	// each refuses the key itself.
	refusalReasons = []string{"api_key_invalid"}

	// rateMarkers say a 429 is a plain rate limit even when its text also mentions quota or
	// billing (OpenAI rate-limit messages link to the billing page; Gemini's per-minute limits
	// say "You exceeded your current quota").
	rateMarkers = bytesList("rate_limit", "rate limit", "retrydelay", "try again in", "retry in", "retry after",
		"resource_exhausted", "resource has been exhausted") // Vertex AI: "(e.g. check quota)"
	// weakKeyMarkers are trusted only on a 429 that carries no rate-limit sign: there the body
	// comes from the provider's quota logic, not from an echo of the request.
	weakKeyMarkers = bytesList("billing", "credit", "quota")
	// strongKeyMarkers beat rate-limit signs on a 429.
	strongKeyMarkers = bytesList("insufficient_quota", "billing_hard_limit", "billing_not_active")
)

// Classify classifies an upstream HTTP reply. body is a prefix of the reply body (may be nil or
// truncated; only the first 8 KiB are read); retryAfter says whether the reply carried a
// Retry-After header.
//
// A status of 0 (or any value outside 100-599) means there was no usable reply and gives
// UpstreamDown; so do 1xx and 3xx, which are no answer to an API call. Classify never returns
// ClientGone: the handler knows a cancelled client from its request context.
func Classify(status int, body []byte, retryAfter bool) Class {
	switch {
	case status >= 200 && status < 300:
		return Success
	case status == 401 || status == 402 || status == 403:
		return KeyRefused
	case status == 408:
		return UpstreamDown
	case status == 429:
		return classify429(body, retryAfter)
	case status >= 400 && status < 500:
		if refusesKey(body, refusalValues) {
			return KeyRefused
		}
		return ClientError
	case status == 503 && retryAfter:
		return RateLimited
	}
	return UpstreamDown
}

// classify429 tells a rate limit from exhausted quota. It is apart from Classify so that only
// replies that need it pay for the lowered copy on the stack.
func classify429(body []byte, retryAfter bool) Class {
	var buf [maxScan]byte
	b := lowerPrefix(&buf, body)
	switch {
	case containsAny(b, strongKeyMarkers):
		return KeyRefused
	case retryAfter || containsAny(b, rateMarkers):
		return RateLimited
	case containsAny(b, weakKeyMarkers):
		return KeyRefused
	}
	return RateLimited
}

// errorObject is the part of a provider's error object that refusesKey reads. Fields are raw
// so that a number where a string was expected (OpenRouter's "code": 402) is no decode error.
type errorObject struct {
	Code    json.RawMessage   `json:"code"`
	Type    json.RawMessage   `json:"type"`
	Status  json.RawMessage   `json:"status"`
	Details []json.RawMessage `json:"details"`
}

// KeyInvalid reports whether a reply refuses the key itself rather than its quota or billing:
// a 401 or 403, or another 4xx but 402 and 429 whose error object says so in a structured
// field, as Gemini's 400 INVALID_ARGUMENT with reason API_KEY_INVALID does. An authenticated
// call that succeeds later proves such a refusal gone; it proves nothing of quota.
func KeyInvalid(status int, body []byte) bool {
	switch {
	case status == 401 || status == 403:
		return true
	case status == 402 || status == 429 || status < 400 || status > 499:
		return false
	}
	return refusesKey(body, credentialValues)
}

// refusesKey reports whether a 4xx body's error object says, in a structured field, that the
// key is refused: error.code, error.type or error.status is one of values, or a detail's
// reason one of refusalReasons. A body longer than maxScan, or not JSON, says nothing:
// provider refusals are short, and a long body is most likely an echo of the request.
func refusesKey(body []byte, values []string) bool {
	if len(body) > maxScan {
		return false
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 || (body[0] != '{' && body[0] != '[') {
		return false
	}
	if body[0] == '[' {
		var arr []json.RawMessage
		if json.Unmarshal(body, &arr) != nil || len(arr) == 0 {
			return false
		}
		body = arr[0]
	}
	var doc struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &doc) != nil {
		return false
	}
	var e errorObject
	if len(doc.Error) == 0 || doc.Error[0] != '{' || json.Unmarshal(doc.Error, &e) != nil {
		return false
	}
	for _, v := range [...]json.RawMessage{e.Code, e.Type, e.Status} {
		if oneOf(v, values) {
			return true
		}
	}
	for _, d := range e.Details {
		var info struct {
			Reason json.RawMessage `json:"reason"`
		}
		if json.Unmarshal(d, &info) == nil && oneOf(info.Reason, refusalReasons) {
			return true
		}
	}
	return false
}

// oneOf reports whether raw is a JSON string equal, ignoring case, to one of values.
func oneOf(raw json.RawMessage, values []string) bool {
	if len(raw) == 0 || raw[0] != '"' {
		return false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return false
	}
	for _, v := range values {
		if strings.EqualFold(s, v) {
			return true
		}
	}
	return false
}

// lowerPrefix copies at most maxScan bytes of b into buf, ASCII lower-cased, so that the
// markers can be found with bytes.Index (vectorised) instead of a byte-by-byte fold.
func lowerPrefix(buf *[maxScan]byte, b []byte) []byte {
	n := copy(buf[:], b)
	for i, c := range buf[:n] {
		buf[i] = lower(c)
	}
	return buf[:n]
}

func containsAny(lowered []byte, needles [][]byte) bool {
	for _, n := range needles {
		if bytes.Contains(lowered, n) {
			return true
		}
	}
	return false
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

// bytesList turns marker strings into byte slices once, at init.
func bytesList(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}
