package dialect

import (
	"bytes"

	"github.com/llmrouter/caddy-llm-router/dialect/openai"
)

// Chain is a StreamTranslator through the pivot: First turns the upstream's events into pivot
// chunks, Second turns those into the client's dialect (an Anthropic upstream for a Responses
// client: anthropic.StreamToOpenAI, then responses.StreamFromOpenAI). Done is Second's, Usage
// First's. Like its parts, it writes nothing before Second's first content.
type Chain struct {
	First, Second StreamTranslator
	buf           []byte
	prompted      bool // Second, a PromptTaker, has First's prompt count, or is none
}

// Event translates one upstream event through both translators.
func (c *Chain) Event(dst, ev []byte) ([]byte, error) {
	var err error
	if c.buf, err = c.First.Event(c.buf[:0], ev); err != nil {
		return dst, err
	}
	if !c.prompted {
		c.handPrompt()
	}
	return c.feed(dst, c.buf)
}

// handPrompt gives a PromptTaker Second First's counts once First has a prompt count.
func (c *Chain) handPrompt() {
	pt, ok := c.Second.(PromptTaker)
	if !ok {
		c.prompted = true
		return
	}
	if u := c.First.Usage(); u.PromptTokens > 0 {
		pt.TakePrompt(u)
		c.prompted = true
	}
}

// Finish ends First, feeds what it wrote to Second, then ends Second.
func (c *Chain) Finish(dst []byte) ([]byte, error) {
	var err error
	if c.buf, err = c.First.Finish(c.buf[:0]); err != nil {
		return dst, err
	}
	if dst, err = c.feed(dst, c.buf); err != nil {
		return dst, err
	}
	return c.Second.Finish(dst)
}

// Done reports whether Second wrote its terminator.
func (c *Chain) Done() bool { return c.Second.Done() }

// Usage is First's: the upstream's own counts.
func (c *Chain) Usage() openai.Usage { return c.First.Usage() }

// UsageFinal is First's: it reads the upstream's usage.
func (c *Chain) UsageFinal() bool { return UsageFinal(c.First) }

// feed splits First's output (whole events, each ending in a blank line) and hands each to
// Second.
func (c *Chain) feed(dst, out []byte) ([]byte, error) {
	var err error
	for len(out) > 0 {
		n := len(out)
		if i := bytes.Index(out, []byte("\n\n")); i >= 0 {
			n = i + 2
		}
		if dst, err = c.Second.Event(dst, out[:n]); err != nil {
			return dst, err
		}
		out = out[n:]
	}
	return dst, nil
}

// EndingChain is a Chain whose Second ends a broken stream its own way (an ErrorEnder: a
// Gemini client's JSON array must still be closed).
type EndingChain struct{ Chain }

// AppendError is Second's.
func (c *EndingChain) AppendError(dst []byte, status int, message string) []byte {
	return c.Second.(ErrorEnder).AppendError(dst, status, message)
}

// NewChain chains first and second: an EndingChain when second is an ErrorEnder, so that the
// relay ends a broken stream with second's framing, else a Chain.
func NewChain(first, second StreamTranslator) StreamTranslator {
	if _, ok := second.(ErrorEnder); ok {
		return &EndingChain{Chain{First: first, Second: second}}
	}
	return &Chain{First: first, Second: second}
}
