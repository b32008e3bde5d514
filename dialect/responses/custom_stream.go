package responses

import (
	"bytes"

	"github.com/llmrouter/caddy-llm-router/internal/jsonstr"
)

// customStream reads a streamed custom tool call's input out of its chat arguments as they
// come, {"input":"..."} cut anywhere, so that the client sees the input grow (and the stream
// is not silent while a long patch is written).
type customStream struct {
	args []byte // the arguments so far, decoded from their JSON string pieces
	pos  int    // where the unread input text begins in args; 0 before the opening quote
	off  bool   // the arguments are not {"input":"... (or broke): the input goes whole at the end
	sent []byte // the input written so far
}

// next takes one piece of the arguments (a JSON string's contents) and returns the input text
// that became complete, nil when none did.
func (c *customStream) next(piece []byte) []byte {
	if c.off {
		return nil
	}
	var ok bool
	if c.args, ok = jsonstr.AppendUnquoted(c.args, piece); !ok {
		c.off = true
		return nil
	}
	if c.pos == 0 {
		n, more := matchPrefix(c.args)
		if n == 0 {
			c.off = !more
			return nil
		}
		c.pos = n
	}
	end := c.pos
	for end < len(c.args) {
		b := c.args[end]
		if b == '"' {
			c.off = true // the input is whole: the rest of the arguments is not input
			break
		}
		if b != '\\' {
			end++
			continue
		}
		n := escapeLen(c.args[end:])
		if n == 0 {
			break // an escape cut by the piece: it completes with the next one
		}
		end += n
	}
	if end == c.pos {
		return nil
	}
	text, ok := jsonstr.AppendUnquoted(nil, c.args[c.pos:end])
	c.pos = end
	if !ok {
		c.off = true
		return nil
	}
	c.sent = append(c.sent, text...)
	return text
}

// rest is what is left to write of input, the call's whole input: nil when what was written is
// not its beginning (arguments a model broke), in which case the .done event alone is right.
func (c *customStream) rest(input string) []byte {
	if !bytes.HasPrefix([]byte(input), c.sent) {
		return nil
	}
	return []byte(input[len(c.sent):])
}

// matchPrefix returns the length of {"input":" (the arguments as every model writes them, up
// to the input's text) at the start of b, with the spaces JSON allows between its tokens; 0
// and more when b may still become it, 0 and !more when it cannot.
func matchPrefix(b []byte) (n int, more bool) {
	i := 0
	for _, tok := range [...]string{"{", `"` + customInputParam + `"`, ":", `"`} {
		for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
			i++
		}
		for j := 0; j < len(tok); j++ {
			if i == len(b) {
				return 0, true
			}
			if b[i] != tok[j] {
				return 0, false
			}
			i++
		}
	}
	return i, false
}

// escapeLen is the length of the escape at the start of b (which begins with a backslash),
// 0 when b ends before it does. A high surrogate takes its low one with it, so that the pair
// is decoded whole.
func escapeLen(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	if b[1] != 'u' {
		return 2
	}
	if len(b) < 6 {
		return 0
	}
	if b[2] != 'd' && b[2] != 'D' || !bytes.ContainsAny(b[3:4], "89abAB") {
		return 6
	}
	if len(b) < 8 {
		return 0
	}
	if b[6] != '\\' || b[7] != 'u' {
		return 6 // a lone surrogate: decoded as U+FFFD, as encoding/json does
	}
	if len(b) < 12 {
		return 0
	}
	return 12
}
