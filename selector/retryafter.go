package selector

import (
	"bytes"
	"math"
	"strings"
	"time"
)

// maxRetryAfter is the longest wait RetryAfter believes. Longer asks are treated as garbage
// (the handler then uses its own cooldown) rather than parking a target for days.
const maxRetryAfter = 24 * time.Hour

// retryNow is the wait RetryAfter gives for a header that says to retry at once (0, or a date
// already past): the target is still the one that refused, so the same moment's next attempt
// goes elsewhere, but it is back a second later, not after the handler's default cooldown.
const retryNow = time.Second

// HTTP-date layouts of RFC 9110, section 5.6.7 (IMF-fixdate and the two obsolete forms).
var httpDateLayouts = [...]string{
	"Mon, 02 Jan 2006 15:04:05 GMT",
	"Monday, 02-Jan-06 15:04:05 GMT",
	"Mon Jan _2 15:04:05 2006",
}

// bodyHints introduce a wait written in a provider's error body, most specific first:
// Gemini's RetryInfo ("retryDelay": "37s"), then OpenAI, Groq and Azure message text.
var bodyHints = bytesList("retrydelay", "try again in", "retry in", "retry after")

// RetryAfter returns the cooldown an upstream asked for: the Retry-After header value
// (delta-seconds, or an HTTP-date taken relative to now), else a hint in the body (Gemini's
// "retryDelay": "12.5s", or message text such as "Please try again in 1m30.5s"), else 0.
//
// A header that parses decides alone, even when it says 0 or a past date (those give a one
// second wait). Negative values and values above 24 hours give 0. Only the first 8 KiB of body are read. Never panics.
func RetryAfter(header string, body []byte, now time.Time) time.Duration {
	if d, ok := parseRetryAfterHeader(header, now); ok {
		return d
	}
	return retryAfterBody(body)
}

// retryAfterBody is apart from RetryAfter so that only replies with no usable header pay for
// the lowered copy on the stack.
func retryAfterBody(body []byte) time.Duration {
	var buf [maxScan]byte
	b := lowerPrefix(&buf, body)
	for _, h := range bodyHints {
		// Look past a first mention that carries no number: "retry after" may be prose.
		rest := b
		for {
			i := bytes.Index(rest, h)
			if i < 0 {
				break
			}
			rest = rest[i+len(h):]
			if d, ok := parseHint(rest); ok {
				return d
			}
		}
	}
	return 0
}

func parseRetryAfterHeader(h string, now time.Time) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if isDigit(h[0]) {
		// delta-seconds; a fraction is not in the RFC but some servers send one.
		secs, n := parseNumber([]byte(h))
		if n != len(h) {
			return 0, false
		}
		if secs == 0 {
			return retryNow, true
		}
		return seconds(secs), true
	}
	for _, layout := range httpDateLayouts {
		t, err := time.Parse(layout, h)
		if err == nil {
			d := t.Sub(now)
			switch {
			case d <= 0:
				return retryNow, true
			case d > maxRetryAfter:
				return 0, true
			}
			return d, true
		}
	}
	return 0, false
}

// parseHint reads a duration such as `": "37s"`, ` 7.66s`, ` 1m30.5s` or ` 20 seconds` at the
// start of b, after skipping the JSON punctuation and spaces that follow a hint phrase.
func parseHint(b []byte) (time.Duration, bool) {
	i := 0
	for i < len(b) && i < 8 && isHintFiller(b[i]) {
		i++
	}
	b = b[i:]
	total := 0.0
	parts := 0
	for len(b) > 0 && isDigit(b[0]) && parts < 4 {
		v, n := parseNumber(b)
		b = b[n:]
		if len(b) > 0 && b[0] == ' ' {
			b = b[1:]
		}
		j := 0
		for j < len(b) && j < 16 && isLetter(b[j]) {
			j++
		}
		unit, ok := unitSeconds(b[:j])
		if !ok {
			// "1m30x" keeps the minute; a bare leading number with no unit is not a wait.
			break
		}
		b = b[j:]
		total += v * unit
		parts++
	}
	if parts == 0 {
		return 0, false
	}
	return seconds(total), true
}

func isHintFiller(c byte) bool {
	return c == ' ' || c == '"' || c == ':' || c == '\\' || c == '\t' || c == '\n' || c == '\r' || c == '='
}

// parseNumber parses digits with an optional fraction at the start of b and reports how many
// bytes it used. Digits past the 18th only scale the value (or are dropped, in a fraction), so
// absurd inputs stay finite and the loop stays simple.
func parseNumber(b []byte) (float64, int) {
	v := 0.0
	i := 0
	for i < len(b) && isDigit(b[i]) {
		if v < 1e18 {
			v = v*10 + float64(b[i]-'0')
		} else {
			v *= 10
		}
		i++
	}
	if i < len(b) && b[i] == '.' {
		i++
		// Sum the fraction as an integer and divide once: 7.66 stays 7.66, not 7.6599999.
		frac, scale := 0.0, 1.0
		for i < len(b) && isDigit(b[i]) {
			if scale < 1e18 {
				frac = frac*10 + float64(b[i]-'0')
				scale *= 10
			}
			i++
		}
		v += frac / scale
	}
	return v, i
}

// unitSeconds maps a unit word to its length in seconds, ignoring ASCII case.
func unitSeconds(w []byte) (float64, bool) {
	var buf [16]byte
	n := copy(buf[:], w)
	for k := range n {
		buf[k] = lower(buf[k])
	}
	switch string(buf[:n]) {
	case "ms", "msec", "millisecond", "milliseconds":
		return 0.001, true
	case "s", "sec", "secs", "second", "seconds":
		return 1, true
	case "m", "min", "mins", "minute", "minutes":
		return 60, true
	case "h", "hr", "hrs", "hour", "hours":
		return 3600, true
	}
	return 0, false
}

// seconds converts a non-negative count of seconds, giving 0 for anything beyond maxRetryAfter.
func seconds(s float64) time.Duration {
	if !(s > 0) || s > maxRetryAfter.Seconds() {
		return 0
	}
	return time.Duration(math.Round(s * float64(time.Second)))
}

func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
