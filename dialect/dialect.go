// Package dialect names what every wire-format package under it provides, so that the relay
// can hold any of them behind one hook. The formats themselves live in the subpackages:
// openai (the pivot), anthropic, responses and gemini.
package dialect

import (
	"errors"

	"github.com/llmrouter/caddy-llm-router/dialect/openai"
)

// ErrIncomplete is what every translator's Finish wraps when the upstream's stream ended
// before its dialect's end (a terminator event, or Gemini's finish chunk): to a client, a cut.
var ErrIncomplete = errors.New("upstream stream ended before its end")

// ErrEmpty is what a translator returns at its upstream's terminator when the stream brought
// neither content nor a stop reason: translated, it would be an empty answer that reads as
// complete ("stop", end_turn), the success clients cannot tell from a failure. Nothing was
// written yet, so the relay fails the attempt over.
var ErrEmpty = errors.New("upstream stream ended with neither content nor a stop reason")

// StreamTranslator turns one upstream stream into the client's dialect, event by event. One
// value serves one attempt's stream; it is not safe for concurrent use.
//
// The relay calls Event for every event the sse.Reader frames (normal form, ending in a blank
// line) and writes what was appended to dst, if anything, as one write plus one flush: the
// output is whole events only. Event returns an error for an upstream error event or data it
// cannot read; the relay then stops reading and, if anything was written to the client, ends
// the stream with the client dialect's error event. At the upstream's io.EOF the relay calls
// Finish, which appends nothing on a normal end and returns an error when the upstream never
// sent its terminator (wrapping ErrIncomplete), so that a cut stream never reads as a success. Done reports the
// terminator; Usage the counts read so far, in the pivot's terms.
type StreamTranslator interface {
	Event(dst, ev []byte) ([]byte, error)
	Finish(dst []byte) ([]byte, error)
	Done() bool
	Usage() openai.Usage
}

// UsageFinaler is a StreamTranslator that knows when it has read the upstream's final usage
// (an OpenAI usage chunk, Anthropic's message_delta), which comes before the terminator: a
// stream that ends between them is charged that usage, not an estimate of it.
type UsageFinaler interface {
	UsageFinal() bool
}

// UsageFinal reports whether tr has read the upstream's final usage; false for a translator
// that cannot tell.
func UsageFinal(tr StreamTranslator) bool {
	f, ok := tr.(UsageFinaler)
	return ok && f.UsageFinal()
}

// PromptTaker is a second translator of a Chain whose opening event states the prompt's token
// count (Anthropic's message_start) while its pivot stream reports usage only at its end. The
// Chain hands it the counts First read (Gemini's first chunk has promptTokenCount), once, as
// soon as First has a prompt count and before Second sees that event's chunks.
type PromptTaker interface {
	TakePrompt(u openai.Usage)
}

// ErrorEnder is a StreamTranslator whose framing ends a broken stream its own way (Gemini's
// JSON array must still be closed): after commit, the relay ends the client's stream with
// what AppendError appends instead of the dialect's usual error event; status is the HTTP
// status the failure would have had (500 for a stream the upstream broke).
type ErrorEnder interface {
	AppendError(dst []byte, status int, message string) []byte
}
