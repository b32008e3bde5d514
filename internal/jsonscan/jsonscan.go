// Package jsonscan finds values in JSON documents without decoding them: the router reads one
// or two fields (usage counts) out of replies it otherwise passes through byte for byte.
package jsonscan

import "bytes"

// ObjectKey returns the first non-null value of key in the JSON object obj,
// or nil. Keys are compared as written, without unescaping.
func ObjectKey(obj []byte, key string) []byte {
	var v []byte
	Members(obj, func(k, val []byte) bool {
		if string(k) == key && !isNull(val) {
			v = val
			return false
		}
		return true
	})
	return v
}

// Members calls fn with the key (as written, without unescaping) and the raw value of each
// member of the JSON object obj, in order, until fn returns false or a member is malformed.
// It lets a caller read several keys in one pass.
func Members(obj []byte, fn func(key, value []byte) bool) {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return
	}
	i++
	for {
		i = skipSpace(obj, i)
		if i >= len(obj) || obj[i] != '"' {
			return // '}' or malformed
		}
		ks := i + 1
		if i = skipString(obj, i); i < 0 {
			return
		}
		k := obj[ks : i-1]
		i = skipSpace(obj, i)
		if i >= len(obj) || obj[i] != ':' {
			return
		}
		i = skipSpace(obj, i+1)
		vs := i
		if i = skipValue(obj, i); i < 0 {
			return
		}
		if !fn(k, obj[vs:i]) {
			return
		}
		i = skipSpace(obj, i)
		if i < len(obj) && obj[i] == ',' {
			i++
		}
	}
}

func isNull(v []byte) bool { return string(v) == "null" }

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index just past the string starting at b[i] ('"'),
// or -1 when it is unterminated. IndexByte keeps long strings (a whole
// response text in response.completed) fast.
func skipString(b []byte, i int) int {
	i++
	for {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return -1
		}
		i += j
		bs := 0
		for k := i - 1; k >= 0 && b[k] == '\\'; k-- {
			bs++
		}
		i++
		if bs%2 == 0 {
			return i
		}
	}
}

// skipValue returns the index just past the JSON value starting at b[i], or
// -1. Containers are skipped by bracket depth without validating them: the
// caller validates only the value it keeps, and no recursion means no stack
// risk on hostile nesting.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				if i = skipString(b, i); i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	}
	s := i
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			if i == s {
				return -1
			}
			return i
		}
		i++
	}
	if i == s {
		return -1
	}
	return i
}
