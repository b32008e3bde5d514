package llmrouter

import (
	"strings"
	"testing"
)

// TestSeam: what the client gets of a continuation's text at the seam.
func TestSeam(t *testing.T) {
	for _, tc := range []struct {
		name, have, sent string
		parts            []string
		want             string
		dropped          int
	}{
		{"no repeat", "The quick brown", "The quick brown", []string{" fox", " jumps over the lazy dog."}, " fox jumps over the lazy dog.", 0},
		{"repeat of the last word", "The quick brown", "The quick brown", []string{" bro", "wn fox jumps over the lazy dog."}, " fox jumps over the lazy dog.", 6},
		{"repeat of it all", "The quick brown", "The quick brown", []string{"The quick brown fox jumps over the lazy dog."}, " fox jumps over the lazy dog.", 15},
		{"a short match is kept", "I said no", "I said no", []string{" no, and no again, and no, and no."}, " no, and no again, and no, and no.", 0},
		{"trimmed blank regenerated", "The quick brown ", "The quick brown", []string{" fox jumps over the lazy dog today."}, "fox jumps over the lazy dog today.", 1},
		{"trimmed blank not regenerated", "The quick brown ", "The quick brown", []string{"fox jumps over the lazy dog today."}, "fox jumps over the lazy dog today.", 0},
		{"held text let go at the end", "Hi", "Hi", []string{" there"}, " there", 0},
		{"UTF-8 repeat", "Grüße aus Köln", "Grüße aus Köln", []string{" Köln und Bonn, und mehr Text danach."}, " und Bonn, und mehr Text danach.", len(" Köln")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := seam{have: tc.have, sent: tc.sent}
			var out strings.Builder
			for _, p := range tc.parts {
				out.WriteString(s.push(p))
			}
			out.WriteString(s.decide())
			if out.String() != tc.want || s.dropped != tc.dropped {
				t.Errorf("got %q dropping %d, want %q dropping %d", out.String(), s.dropped, tc.want, tc.dropped)
			}
		})
	}
}
