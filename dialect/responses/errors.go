package responses

import (
	"errors"
	"fmt"

	"github.com/llmrouter/caddy-llm-router/dialect"
)

// ErrBadRequest marks a translation failure caused by the client's request: answer 400, never
// retry.
var ErrBadRequest = errors.New("invalid request")

// ErrNeedsNative marks a request that only a provider serving the Responses API itself can
// answer: one that continues a stored response (previous_response_id), asks for the response
// to be stored (store: true), or refers to stored items (item_reference). The pivot has no
// server-side state, and dropping the history would answer a different question. It wraps
// ErrBadRequest.
var ErrNeedsNative = fmt.Errorf("%w: needs a provider that serves the Responses API natively", ErrBadRequest)

// ErrIncomplete is returned by a stream translator's Finish when the upstream stream ended
// before its terminator: the relay must end the client's stream with an error event.
var ErrIncomplete = fmt.Errorf("responses: %w", dialect.ErrIncomplete)

// ErrEmpty is returned by a stream translator at [DONE] when nothing came before it: no
// output and no finish_reason (see dialect.ErrEmpty).
var ErrEmpty = fmt.Errorf("responses: %w", dialect.ErrEmpty)

// ErrMalformed is returned by a stream translator for an event whose data is not the JSON the
// upstream's dialect sends.
var ErrMalformed = errors.New("responses: malformed upstream event")

// StreamError is an upstream's error event, read from a pivot stream's {"error":{...}} chunk.
type StreamError struct {
	Type, Code, Message string
}

// Error returns the type and message.
func (e *StreamError) Error() string {
	return "responses: upstream error: " + e.Type + ": " + e.Message
}

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadRequest}, args...)...)
}
