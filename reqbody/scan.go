package reqbody

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"unicode/utf8"

	"github.com/llmrouter/caddy-llm-router/internal/jsonstr"
)

// maxDepth bounds container nesting, counting the top-level object as 1.
// encoding/json stops at 10000; real chat bodies (tool schemas included) stay
// far below 100, so a tighter cap keeps the bracket stack small enough to live
// in Scan's stack frame.
const maxDepth = 1000

// Fields are what the router reads from a request body.
type Fields struct {
	Model            string // the model value, unescaped
	ModelStart       int    // byte offset of the model value's opening quote
	ModelEnd         int    // byte offset just past its closing quote
	Stream           bool   // top-level "stream": true
	HasStreamOptions bool   // a top-level "stream_options" key exists
	End              int    // offset of the top-level object's closing '}'
	// RouterKey and RouterEnd span the first top-level "llm_router" member (the router's own
	// instructions, cut out before forwarding): the offset of its key's opening quote and the
	// offset just past its value; both 0 when there is none.
	RouterKey, RouterEnd int
	// MaxTokens is the largest of the top-level output limits given as integers (max_tokens,
	// max_completion_tokens, max_output_tokens; see Fit); 0 when there is none.
	// LegacyMaxTokens says a top-level max_tokens is there, which OpenAI's reasoning models
	// refuse, as they refuse the Sampling parameters (temperature, top_p, the penalties,
	// logprobs, top_logprobs, logit_bias); Reasoning says reasoning_effort or thinking is
	// there, which a model that does not reason refuses.
	MaxTokens                            int64
	LegacyMaxTokens, Reasoning, Sampling bool
}

// Errors returned by Scan. Their messages are meant for the client (an HTTP
// 400); Scan wraps them with the byte offset, so compare with errors.Is.
var (
	// ErrEmpty means the body is empty or only whitespace.
	ErrEmpty = errors.New("request body is empty")
	// ErrNotObject means the body is a JSON value other than an object.
	ErrNotObject = errors.New("request body must be a JSON object")
	// ErrMalformed means the body is not well-formed JSON.
	ErrMalformed = errors.New("request body is not valid JSON")
	// ErrNoModel means there is no top-level "model", or it is "".
	ErrNoModel = errors.New(`request body has no "model"`)
	// ErrModelNotString means "model" is not a string (null included).
	ErrModelNotString = errors.New(`"model" must be a string`)
	// ErrDuplicateModel means "model" appears more than once at top level,
	// also under another letter case ("Model"), which Go upstreams would read.
	ErrDuplicateModel = errors.New(`"model" appears more than once`)
	// ErrStreamNotBool means "stream" is neither true, false nor null.
	ErrStreamNotBool = errors.New(`"stream" must be true or false`)
)

type keyKind uint8

const (
	keyOther keyKind = iota
	keyModel
	keyModelFold // "Model", "MODEL", ...: not ours, but a case-insensitive decoder would take it
	keyStream
	keyStreamOptions
	keyRouter
	keyMaxTokens
	keyReasoning
	keySampling
)

// Scan finds the top-level "model", "stream", "stream_options" and "llm_router" keys of the
// JSON object in b, validating the whole document on the way. Nested values
// are skipped without recursion. Scan accepts only documents encoding/json
// accepts (it is stricter on nesting depth, see maxDepth). Syntax errors take
// precedence over the semantic ones (ErrNoModel and friends). A repeated
// "stream" is allowed and the last one wins, as in common JSON decoders.
// Only the Model string is allocated, and only on success.
func Scan(b []byte) (Fields, error) {
	var f Fields
	i := skipWS(b, 0)
	if i == len(b) {
		return f, ErrEmpty
	}
	if b[i] != '{' {
		switch c := b[i]; {
		case c == '[' || c == '"' || c == '-' || c == 't' || c == 'f' || c == 'n' || isDigit(c):
			return f, ErrNotObject
		}
		return f, unexpected(b, i, "'{'")
	}

	var (
		semErr     error // first semantic error; reported only if the syntax is fine
		modelKeys  int
		haveModel  bool
		modelEsc   bool
		err        error
		keyEsc     bool
		valueStart int
	)
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		f.End = i
	} else {
		for {
			if i >= len(b) || b[i] != '"' {
				return f, unexpected(b, i, "object key")
			}
			keyStart := i
			if i, keyEsc, err = scanString(b, i+1); err != nil {
				return f, err
			}
			kind := classifyKey(b[keyStart+1:i-1], keyEsc)
			i = skipWS(b, i)
			if i >= len(b) || b[i] != ':' {
				return f, unexpected(b, i, "':'")
			}
			i = skipWS(b, i+1)
			valueStart = i

			switch kind {
			case keyModel, keyModelFold:
				modelKeys++
				if modelKeys > 1 && semErr == nil {
					semErr = fmt.Errorf("%w (again at byte %d)", ErrDuplicateModel, keyStart)
				}
				if kind == keyModel && i < len(b) && b[i] == '"' {
					var esc bool
					if i, esc, err = scanString(b, i+1); err != nil {
						return f, err
					}
					if !haveModel {
						haveModel, modelEsc = true, esc
						f.ModelStart, f.ModelEnd = valueStart, i
					}
					break
				}
				if i, err = skipValue(b, i, 1); err != nil {
					return f, err
				}
				if kind == keyModel && semErr == nil {
					semErr = fmt.Errorf("%w (byte %d)", ErrModelNotString, valueStart)
				}
			case keyStream:
				if i, err = skipValue(b, i, 1); err != nil {
					return f, err
				}
				switch string(b[valueStart:i]) {
				case "true":
					f.Stream = true
				case "false", "null":
					f.Stream = false
				default:
					if semErr == nil {
						semErr = fmt.Errorf("%w (byte %d)", ErrStreamNotBool, valueStart)
					}
				}
			case keyMaxTokens:
				if i, err = skipValue(b, i, 1); err != nil {
					return f, err
				}
				if n, ok := parseCount(b[valueStart:i]); ok && n > f.MaxTokens {
					f.MaxTokens = n
				}
				if b[keyStart+5] == 't' && !keyEsc { // "max_tokens, not "max_completion_ or "max_output_
					f.LegacyMaxTokens = f.LegacyMaxTokens || string(b[valueStart:i]) != "null"
				}
			case keyReasoning, keySampling:
				if i, err = skipValue(b, i, 1); err != nil {
					return f, err
				}
				if string(b[valueStart:i]) != "null" {
					if kind == keyReasoning {
						f.Reasoning = true
					} else {
						f.Sampling = true
					}
				}
			case keyRouter:
				if i, err = skipValue(b, i, 1); err != nil {
					return f, err
				}
				if f.RouterEnd == 0 {
					f.RouterKey, f.RouterEnd = keyStart, i
				}
			case keyStreamOptions:
				f.HasStreamOptions = true
				fallthrough
			default:
				if i, err = skipValue(b, i, 1); err != nil {
					return f, err
				}
			}

			i = skipWS(b, i)
			if i < len(b) && b[i] == ',' {
				i = skipWS(b, i+1)
				continue
			}
			if i < len(b) && b[i] == '}' {
				f.End = i
				break
			}
			return f, unexpected(b, i, "',' or '}'")
		}
	}
	if j := skipWS(b, f.End+1); j != len(b) {
		return f, fmt.Errorf("%w: unexpected data after the top-level object at byte %d", ErrMalformed, j)
	}

	if semErr != nil {
		return f, semErr
	}
	if !haveModel || f.ModelEnd-f.ModelStart == 2 {
		return f, ErrNoModel
	}
	f.Model = decodeString(b[f.ModelStart+1:f.ModelEnd-1], modelEsc)
	return f, nil
}

// classifyKey tells which of the keys Scan cares about raw (a key without its
// quotes) names once unescaped, so "mod\u0065l" cannot slip past the duplicate
// check while an upstream decoder reads it as "model".
func classifyKey(raw []byte, esc bool) keyKind {
	if esc {
		// Six bytes per escaped character at most; longer cannot be ours.
		if len(raw) > 6*len("max_completion_tokens") {
			return keyOther
		}
		var buf [32]byte
		raw, _ = jsonstr.AppendUnquoted(buf[:0], raw) // scanString validated it
	}
	switch string(raw) {
	case "model":
		return keyModel
	case "stream":
		return keyStream
	case "stream_options":
		return keyStreamOptions
	case "llm_router":
		return keyRouter
	case "max_tokens", "max_completion_tokens", "max_output_tokens":
		return keyMaxTokens
	case "reasoning_effort", "thinking":
		return keyReasoning
	case "temperature", "top_p", "presence_penalty", "frequency_penalty", "logprobs", "top_logprobs", "logit_bias":
		return keySampling
	}
	if len(raw) == len("model") {
		for i, c := range raw {
			if c|0x20 != "model"[i] {
				return keyOther
			}
		}
		return keyModelFold
	}
	return keyOther
}

// parseCount reads a JSON number that is a plain non-negative integer (no sign, fraction or
// exponent), as token limits are written.
func parseCount(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// skipValue returns the offset just past the JSON value that starts at b[i],
// validating it. depth is the number of containers already open around it.
// Containers are tracked in a bit stack (1 = object) instead of recursion so
// hostile nesting cannot exhaust the goroutine stack.
func skipValue(b []byte, i, depth int) (int, error) {
	var stack [(maxDepth + 63) / 64]uint64
	n := 0 // containers opened by this call
	var err error
	for {
		// Here b[i] should start a value.
		if i >= len(b) {
			return i, unexpected(b, i, "value")
		}
		switch c := b[i]; {
		case c == '{' || c == '[':
			if depth+n >= maxDepth {
				return i, fmt.Errorf("%w: nesting deeper than %d at byte %d", ErrMalformed, maxDepth, i)
			}
			if c == '{' {
				stack[n>>6] |= 1 << (n & 63)
			} else {
				stack[n>>6] &^= 1 << (n & 63)
			}
			n++
			i = skipWS(b, i+1)
			if i < len(b) && b[i] == c+2 { // '{'+2 == '}', '['+2 == ']'
				n--
				i++
				break
			}
			if c == '{' {
				if i, err = skipKey(b, i); err != nil {
					return i, err
				}
			}
			continue
		case c == '"':
			if i, _, err = scanString(b, i+1); err != nil {
				return i, err
			}
		case c == 't' || c == 'f' || c == 'n':
			if i, err = scanLiteral(b, i); err != nil {
				return i, err
			}
		case c == '-' || isDigit(c):
			if i, err = scanNumber(b, i); err != nil {
				return i, err
			}
		default:
			return i, unexpected(b, i, "value")
		}

		// A value just ended: close containers until one wants another value.
	after:
		for n > 0 {
			i = skipWS(b, i)
			inObject := stack[(n-1)>>6]&(1<<((n-1)&63)) != 0
			switch {
			case i < len(b) && b[i] == ',':
				i = skipWS(b, i+1)
				if inObject {
					if i, err = skipKey(b, i); err != nil {
						return i, err
					}
				}
				break after
			case i < len(b) && inObject && b[i] == '}', i < len(b) && !inObject && b[i] == ']':
				n--
				i++
			case inObject:
				return i, unexpected(b, i, "',' or '}'")
			default:
				return i, unexpected(b, i, "',' or ']'")
			}
		}
		if n == 0 {
			return i, nil
		}
	}
}

// skipKey consumes `"key" :` and the whitespace after it.
func skipKey(b []byte, i int) (int, error) {
	if i >= len(b) || b[i] != '"' {
		return i, unexpected(b, i, "object key")
	}
	i, _, err := scanString(b, i+1)
	if err != nil {
		return i, err
	}
	i = skipWS(b, i)
	if i >= len(b) || b[i] != ':' {
		return i, unexpected(b, i, "':'")
	}
	return skipWS(b, i+1), nil
}

const (
	lsb   = 0x0101010101010101
	msb   = 0x8080808080808080
	quote = '"' * lsb
	bslsh = '\\' * lsb
	ctl   = 0x20 * lsb
)

// scanString validates the string whose contents start at b[i] (just past the
// opening quote) and returns the offset just past the closing quote, and
// whether it holds escapes. Message text is nearly all string bytes, so it
// looks at 8 bytes at a time for the only bytes that matter: '"', '\\' and
// control characters.
func scanString(b []byte, i int) (int, bool, error) {
	start := i - 1
	esc := false
	for {
		for i+8 <= len(b) {
			v := binary.LittleEndian.Uint64(b[i:])
			// Flag bytes below 0x20, equal to '"', equal to '\\'. The lowest
			// flagged byte is exact (borrows only run upwards), which is all
			// that is needed to jump to it.
			m := ((v - ctl) &^ v) | (((v ^ quote) - lsb) &^ (v ^ quote)) | (((v ^ bslsh) - lsb) &^ (v ^ bslsh))
			m &= msb
			if m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(b) {
			return i, esc, fmt.Errorf("%w: unterminated string starting at byte %d", ErrMalformed, start)
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, esc, nil
		case c == '\\':
			esc = true
			if i+1 >= len(b) {
				return i, esc, fmt.Errorf("%w: unterminated string starting at byte %d", ErrMalformed, start)
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return i, esc, fmt.Errorf("%w: invalid \\u escape at byte %d", ErrMalformed, i)
				}
				i += 6
			default:
				return i, esc, fmt.Errorf("%w: invalid escape at byte %d", ErrMalformed, i)
			}
		case c < 0x20:
			return i, esc, fmt.Errorf("%w: control character in string at byte %d", ErrMalformed, i)
		default:
			i++ // an ordinary byte in the tail shorter than 8
		}
	}
}

// scanLiteral checks true, false or null at b[i].
func scanLiteral(b []byte, i int) (int, error) {
	var lit string
	switch b[i] {
	case 't':
		lit = "true"
	case 'f':
		lit = "false"
	default:
		lit = "null"
	}
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, fmt.Errorf("%w: invalid literal at byte %d", ErrMalformed, i)
	}
	return i + len(lit), nil
}

// scanNumber checks the JSON number grammar at b[i]; the bytes themselves are
// never converted, so precision is never lost.
func scanNumber(b []byte, i int) (int, error) {
	start := i
	bad := func() (int, error) {
		return i, fmt.Errorf("%w: invalid number at byte %d", ErrMalformed, start)
	}
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && isDigit(b[i]):
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return bad()
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return bad()
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return bad()
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	return i, nil
}

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

func isDigit(c byte) bool { return c-'0' < 10 }

func isHex(c byte) bool {
	return c-'0' < 10 || (c|0x20)-'a' < 6
}

// unexpected builds a syntax error naming at most one byte of the body, so an
// error answer never echoes client content back.
func unexpected(b []byte, i int, want string) error {
	if i >= len(b) {
		return fmt.Errorf("%w: unexpected end of input at byte %d, expected %s", ErrMalformed, i, want)
	}
	c := b[i]
	if c > ' ' && c < 0x7f {
		return fmt.Errorf("%w: unexpected %q at byte %d, expected %s", ErrMalformed, rune(c), i, want)
	}
	return fmt.Errorf("%w: unexpected byte 0x%02x at byte %d, expected %s", ErrMalformed, c, i, want)
}

// decodeString returns what encoding/json would decode from the string
// contents raw: escapes resolved and invalid UTF-8 replaced by U+FFFD, so the
// router sees the same model an upstream decoder would.
func decodeString(raw []byte, esc bool) string {
	if !esc && utf8.Valid(raw) {
		return string(raw)
	}
	out, _ := jsonstr.AppendUnquoted(make([]byte, 0, len(raw)+8), raw) // scanString validated it
	return string(out)
}
