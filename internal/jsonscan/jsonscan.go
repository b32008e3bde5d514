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

// Elem returns the array element that starts at or after pos in arr and the position after it;
// elem is nil at the end of the array or when arr is not an array. Start with pos 0:
//
//	for e, p := jsonscan.Elem(arr, 0); e != nil; e, p = jsonscan.Elem(arr, p) { ... }
func Elem(arr []byte, pos int) (elem []byte, next int) {
	i := skipSpace(arr, pos)
	if pos == 0 {
		if i >= len(arr) || arr[i] != '[' {
			return nil, len(arr)
		}
		i = skipSpace(arr, i+1)
	} else if i < len(arr) && arr[i] == ',' {
		i = skipSpace(arr, i+1)
	}
	if i >= len(arr) || arr[i] == ']' {
		return nil, len(arr)
	}
	end := skipValue(arr, i)
	if end < 0 {
		return nil, len(arr)
	}
	return arr[i:end], end
}

// Field returns the key (as written, without quotes) and raw value of the object member that
// starts at or after pos in obj, and the position after it; ok is false at the end of the
// object or when obj is not an object. Start with pos 0:
//
//	for k, v, p, ok := jsonscan.Field(obj, 0); ok; k, v, p, ok = jsonscan.Field(obj, p) { ... }
//
// obj must be valid JSON (json.Valid): the scan does not check it.
func Field(obj []byte, pos int) (key, val []byte, next int, ok bool) {
	i := skipSpace(obj, pos)
	if pos == 0 {
		if i >= len(obj) || obj[i] != '{' {
			return nil, nil, len(obj), false
		}
		i = skipSpace(obj, i+1)
	} else if i < len(obj) && obj[i] == ',' {
		i = skipSpace(obj, i+1)
	}
	if i >= len(obj) || obj[i] != '"' {
		return nil, nil, len(obj), false
	}
	ks := i
	if i = skipString(obj, i); i < 0 {
		return nil, nil, len(obj), false
	}
	key = obj[ks+1 : i-1]
	i = skipSpace(obj, i)
	if i >= len(obj) || obj[i] != ':' {
		return nil, nil, len(obj), false
	}
	i = skipSpace(obj, i+1)
	end := skipValue(obj, i)
	if end < 0 {
		return nil, nil, len(obj), false
	}
	return key, obj[i:end], end, true
}
