package sse

import (
	"unicode/utf8"
)

// Dialect is the wire format of a stream's error event.
type Dialect uint8

const (
	// OpenAI is the dialect of chat completions and the Responses API:
	// every OpenAI client raises a data-only {"error":{...}} chunk.
	OpenAI Dialect = iota
	// Anthropic is the dialect of /v1/messages: its clients raise only an
	// event named "error".
	Anthropic
)

// ErrorEvent is the terminal event that tells a client the stream failed
// after it began, so that a cut never reads as a silent success:
//
//	OpenAI:    data: {"error":{"message":"...","type":"..."}}
//	Anthropic: event: error
//	           data: {"type":"error","error":{"type":"...","message":"..."}}
//
// each followed by a blank line. message and errType are JSON-escaped;
// invalid UTF-8 becomes U+FFFD as encoding/json would make it. An empty
// errType becomes "server_error" (OpenAI) or "api_error" (Anthropic), the
// types those APIs use for failures on their side.
func ErrorEvent(d Dialect, errType, message string) []byte {
	b := make([]byte, 0, 80+len(errType)+len(message))
	if d == Anthropic {
		if errType == "" {
			errType = "api_error"
		}
		b = append(b, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":"...)
		b = appendJSONString(b, errType)
		b = append(b, `,"message":`...)
		b = appendJSONString(b, message)
	} else {
		if errType == "" {
			errType = "server_error"
		}
		b = append(b, `data: {"error":{"message":`...)
		b = appendJSONString(b, message)
		b = append(b, `,"type":`...)
		b = appendJSONString(b, errType)
	}
	return append(b, "}}\n\n"...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s for JSON. Besides what JSON requires it escapes
// U+2028 and U+2029, which some JavaScript parsers treat as line ends; no
// raw "\n" or "\r" can reach the SSE line either, so the event stays one
// data line.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
