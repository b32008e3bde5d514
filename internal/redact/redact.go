// Package redact removes a secret, and any fragment of it long enough to narrow it down, from
// text an upstream sent: error bodies quote the key they refused, whole, cut, or masked in the
// middle (`sk-Wq2eR5tY8**********7dP6hh`).
//
// The rule, for a secret of at least MinFragment bytes:
//   - Text is split into words: runs of bytes other than white space, control bytes and the
//     delimiters " ' ` , ; : ( ) [ ] { } < > \ = & ? (so `key=...` and `Bearer ...` split off).
//   - A word that holds MinFragment or more consecutive bytes of the secret is replaced whole
//     by "[redacted]". The masked form above holds "sk-Wq2eR5tY8", so it goes whole, its short
//     tail with it.
//   - A masked word (one with a run of three or more of * . # or non-ASCII bytes such as the
//     bullet) is replaced whole when the part before its first mask run is a prefix of the
//     secret, or the part after its last mask run a suffix, of MinMasked bytes or more: a
//     mask shows where the secret starts or ends, so even 4 bytes next to one narrow it.
//   - Every occurrence of the whole secret is replaced too, whatever bytes it holds.
//
// A secret shorter than MinFragment is only redacted whole. Matching is case-sensitive, as
// keys are.
//
// Cost: New does O(len(secret)) work once; Redact is O(len(text)) with one table probe per
// byte, and allocates only when it redacts something.
package redact

import "bytes"

const (
	// MinFragment is the shortest run of a secret's bytes that is redacted: six base62
	// characters are about 36 bits, enough to tell one key from the others of its provider.
	MinFragment = 6
	// MinMasked is the shortest prefix or suffix of a secret redacted next to a mask.
	MinMasked = 4
)

// Marker replaces what is redacted.
const Marker = "[redacted]"

// Secret is one prepared secret. The zero value and nil redact nothing. It is immutable and
// safe for concurrent use.
type Secret struct {
	key   []byte
	table []uint64 // open addressing set of packed MinFragment-byte windows; 0 is empty
	shift uint
}

// New prepares secret for Redact. An empty secret gives nil.
func New(secret string) *Secret {
	if secret == "" {
		return nil
	}
	s := &Secret{key: []byte(secret)}
	if len(s.key) < MinFragment {
		return s
	}
	n := len(s.key) - MinFragment + 1
	size := 16
	for size < 4*n {
		size <<= 1
	}
	s.table = make([]uint64, size)
	s.shift = 64
	for 1<<(64-s.shift) < size {
		s.shift--
	}
	for i := 0; i < n; i++ {
		s.insert(pack(s.key[i : i+MinFragment]))
	}
	return s
}

// pack holds MinFragment bytes in a word; the top bit marks it non-empty.
func pack(b []byte) uint64 {
	var w uint64
	for _, c := range b[:MinFragment] {
		w = w<<8 | uint64(c)
	}
	return w | 1<<63
}

func (s *Secret) slot(w uint64) uint64 { return (w * 0x9E3779B97F4A7C15) >> s.shift }

func (s *Secret) insert(w uint64) {
	mask := uint64(len(s.table) - 1)
	for i := s.slot(w); ; i = (i + 1) & mask {
		switch s.table[i] {
		case w:
			return
		case 0:
			s.table[i] = w
			return
		}
	}
}

func (s *Secret) has(w uint64) bool {
	mask := uint64(len(s.table) - 1)
	for i := s.slot(w); ; i = (i + 1) & mask {
		switch s.table[i] {
		case w:
			return true
		case 0:
			return false
		}
	}
}

// Redact returns text with the secret and its fragments replaced by Marker. It returns text
// itself when there is nothing to redact.
func (s *Secret) Redact(text []byte) []byte {
	if s == nil || len(text) == 0 {
		return text
	}
	if bytes.Contains(text, s.key) {
		text = bytes.ReplaceAll(text, s.key, []byte(Marker))
	}
	if s.table == nil {
		return text
	}
	var out []byte // nil until the first redaction
	done := 0      // text[:done] is in out
	for i := 0; i < len(text); {
		if !isWord(text[i]) {
			i++
			continue
		}
		start := i
		for i < len(text) && isWord(text[i]) {
			i++
		}
		if s.narrows(text[start:i]) {
			out = append(out, text[done:start]...)
			out = append(out, Marker...)
			done = i
		}
	}
	if out == nil {
		return text
	}
	return append(out, text[done:]...)
}

// narrows reports whether a word holds a fragment of the secret, or is a masked form of it.
func (s *Secret) narrows(word []byte) bool {
	if len(word) >= MinFragment {
		w := uint64(0)
		for i, c := range word {
			w = w<<8 | uint64(c)
			if i >= MinFragment-1 && s.has((w&(1<<(8*MinFragment)-1))|1<<63) {
				return true
			}
		}
	}
	first, last := maskRun(word)
	if first < 0 {
		return false
	}
	head, tail := word[:first], word[last:]
	return (len(head) >= MinMasked && bytes.HasPrefix(s.key, head)) ||
		(len(tail) >= MinMasked && bytes.HasSuffix(s.key, tail))
}

// maskRun returns where the first run of three or more mask bytes in word starts and where the
// last one ends, or -1, -1.
func maskRun(word []byte) (first, last int) {
	first, last = -1, -1
	for i := 0; i < len(word); {
		if !isMask(word[i]) {
			i++
			continue
		}
		j := i
		for j < len(word) && isMask(word[j]) {
			j++
		}
		if j-i >= 3 {
			if first < 0 {
				first = i
			}
			last = j
		}
		i = j
	}
	return first, last
}

func isMask(c byte) bool { return c == '*' || c == '.' || c == '#' || c >= 0x80 }

// isWord reports whether c may be part of a word: anything but white space, control bytes and
// the delimiters listed in the package comment.
func isWord(c byte) bool {
	if c <= ' ' || c == 0x7f {
		return false
	}
	switch c {
	case '"', '\'', '`', ',', ';', ':', '(', ')', '[', ']', '{', '}', '<', '>', '\\', '=', '&', '?':
		return false
	}
	return true
}
