package jsonscan

import "encoding/json"

// maxDepth is the nesting Valid tracks itself, one bit a level; a deeper document is
// checked by encoding/json instead, so the answer never differs.
const maxDepth = 64

// Valid reports whether doc is exactly one JSON value, with optional white space around it.
// It gives encoding/json.Valid's answer for every input (a fuzz test holds it to that),
// in one pass without allocating and several times faster: the router checks every whole
// reply with it before the reply reaches a client. Like encoding/json.Valid, it does not
// check that strings are valid UTF-8.
func Valid(doc []byte) bool {
	var objects uint64 // bit d: the container at depth d+1 is an object
	depth := 0
	inObject := false
	i := skipSpace(doc, 0)
value:
	if i >= len(doc) {
		return false
	}
	switch c := doc[i]; c {
	case '{', '[':
		if depth == maxDepth {
			return json.Valid(doc)
		}
		if c == '{' {
			objects |= 1 << depth
		} else {
			objects &^= 1 << depth
		}
		depth++
		i = skipSpace(doc, i+1)
		if i < len(doc) && doc[i] == c+2 { // '}' is '{'+2, ']' is '['+2
			depth--
			i++
			goto next
		}
		if c == '{' {
			goto member
		}
		goto value
	case '"':
		if i = validString(doc, i); i < 0 {
			return false
		}
	case 't':
		if !hasLiteral(doc, i, "true") {
			return false
		}
		i += 4
	case 'f':
		if !hasLiteral(doc, i, "false") {
			return false
		}
		i += 5
	case 'n':
		if !hasLiteral(doc, i, "null") {
			return false
		}
		i += 4
	default:
		if i = validNumber(doc, i); i < 0 {
			return false
		}
	}
next:
	// A value ended at i: what follows closes its container, starts the next member, or ends
	// the document.
	i = skipSpace(doc, i)
	if depth == 0 {
		return i == len(doc)
	}
	if i >= len(doc) {
		return false
	}
	inObject = objects&(1<<(depth-1)) != 0
	switch doc[i] {
	case ',':
		i = skipSpace(doc, i+1)
		if inObject {
			goto member
		}
		goto value
	case '}':
		if !inObject {
			return false
		}
	case ']':
		if inObject {
			return false
		}
	default:
		return false
	}
	depth--
	i++
	goto next
member:
	// An object member: a string key, a colon, then its value.
	if i >= len(doc) || doc[i] != '"' {
		return false
	}
	if i = validString(doc, i); i < 0 {
		return false
	}
	i = skipSpace(doc, i)
	if i >= len(doc) || doc[i] != ':' {
		return false
	}
	i = skipSpace(doc, i+1)
	goto value
}

func hasLiteral(doc []byte, i int, lit string) bool {
	return len(doc)-i >= len(lit) && string(doc[i:i+len(lit)]) == lit
}

// plainByte marks the bytes a JSON string holds as they are: all but the quote, the
// backslash and control characters.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// validString returns the index just past the string that starts at doc[i] ('"'), or -1 when
// it is unterminated, holds a control character or a bad escape.
func validString(doc []byte, i int) int {
	i++
	for i < len(doc) {
		c := doc[i]
		if plainByte[c] {
			i++
			continue
		}
		switch c {
		case '"':
			return i + 1
		case '\\':
			if i+1 >= len(doc) {
				return -1
			}
			switch doc[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if len(doc)-i < 6 {
					return -1
				}
				for _, h := range doc[i+2 : i+6] {
					if !isHex(h) {
						return -1
					}
				}
				i += 6
			default:
				return -1
			}
		default: // a control character
			return -1
		}
	}
	return -1
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// validNumber returns the index just past the number that starts at doc[i], or -1:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func validNumber(doc []byte, i int) int {
	if i < len(doc) && doc[i] == '-' {
		i++
	}
	switch {
	case i < len(doc) && doc[i] == '0':
		i++
	case i < len(doc) && '1' <= doc[i] && doc[i] <= '9':
		i = digits(doc, i+1)
	default:
		return -1
	}
	if i < len(doc) && doc[i] == '.' {
		j := digits(doc, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(doc) && (doc[i] == 'e' || doc[i] == 'E') {
		i++
		if i < len(doc) && (doc[i] == '+' || doc[i] == '-') {
			i++
		}
		j := digits(doc, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func digits(doc []byte, i int) int {
	for i < len(doc) && '0' <= doc[i] && doc[i] <= '9' {
		i++
	}
	return i
}
