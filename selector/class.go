package selector

import (
	"bytes"
	"strconv"
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
	// KeyRefused is a 401, 402, 403 or a 4xx saying the quota or credit is gone: cool the key.
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

// Markers are matched case-insensitively; they are lower case here.
var (
	// keyMarkers say the key itself is out of money or invalid. They are specific phrases,
	// not bare words, because some upstreams echo request content into 4xx bodies and a client
	// must not be able to cool a key by writing "billing" into its prompt.
	keyMarkers = bytesList(
		"insufficient_quota",          // OpenAI code, sent with 429
		"exceeded your current quota", // OpenAI message
		"billing_hard_limit",          // OpenAI billing_hard_limit_reached
		"billing_not_active",          // OpenAI inactive account
		"credit balance",              // Anthropic 400 "Your credit balance is too low"
		"insufficient credit",         // OpenRouter and others
		"insufficient balance",        // DeepSeek
		"out of credits",
		"quota exceeded",
		"quota exhausted",
		"api_key_invalid", // Gemini answers a bad key with 400
		"api key not valid",
		"api key expired",
	)
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
	case status >= 400 && status < 500:
		return classify4xx(status, body, retryAfter)
	case status == 503 && retryAfter:
		return RateLimited
	}
	return UpstreamDown
}

// classify4xx reads the body of a 4xx. It is apart from Classify so that only replies that
// need it pay for the lowered copy on the stack.
func classify4xx(status int, body []byte, retryAfter bool) Class {
	var buf [maxScan]byte
	b := lowerPrefix(&buf, body)
	if status != 429 {
		if containsAny(b, keyMarkers) {
			return KeyRefused
		}
		return ClientError
	}
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
