package selector

import (
	"strconv"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	date := func(d time.Duration, layout string) string { return now.Add(d).Format(layout) }
	tests := []struct {
		name   string
		header string
		body   string
		want   time.Duration
	}{
		{"nothing", "", "", 0},
		{"delta seconds", "30", "", 30 * time.Second},
		{"delta seconds with spaces", "  5 ", "", 5 * time.Second},
		{"fractional seconds", "1.5", "", 1500 * time.Millisecond},
		{"zero decides even with a body hint: a second", "0", geminiRate, retryNow},
		{"fractional zero", "0.0", "", retryNow},
		{"24h is believed", "86400", "", 24 * time.Hour},
		{"above 24h is absurd", "86401", "", 0},
		{"huge", "99999999999999999999999999", "", 0},
		{"negative falls back to the body", "-5", groqRate, 7660 * time.Millisecond},
		{"garbage falls back to the body", "soon", geminiRate, 37 * time.Second},
		{"trailing garbage", "30s", "", 0},
		{"IMF-fixdate", date(90*time.Second, "Mon, 02 Jan 2006 15:04:05 GMT"), "", 90 * time.Second},
		{"RFC 850 date", date(2*time.Minute, "Monday, 02-Jan-06 15:04:05 GMT"), "", 2 * time.Minute},
		{"ANSI C date", date(10*time.Second, "Mon Jan _2 15:04:05 2006"), "", 10 * time.Second},
		{"past date: a second", date(-time.Minute, "Mon, 02 Jan 2006 15:04:05 GMT"), "", retryNow},
		{"far future date", date(72*time.Hour, "Mon, 02 Jan 2006 15:04:05 GMT"), "", 0},
		{"header beats body", "3", geminiRate, 3 * time.Second},
		{"gemini retryDelay", "", geminiRate, 37 * time.Second},
		{"gemini fractional retryDelay", "", `{"retryDelay": "12.5s"}`, 12500 * time.Millisecond},
		{"retryDelay in escaped JSON", "", `{"message":"{\"retryDelay\": \"8s\"}"}`, 8 * time.Second},
		{"gemini message only", "", `Please retry in 36.6s.`, 36600 * time.Millisecond},
		{"groq", "", groqRate, 7660 * time.Millisecond},
		{"openai", "", openAIRate, 2002 * time.Millisecond},
		{"minutes and seconds", "", `Please try again in 1m30.5s.`, 90500 * time.Millisecond},
		{"minutes only", "", `try again in 7m12s`, 432 * time.Second},
		{"milliseconds", "", `Please try again in 120ms.`, 120 * time.Millisecond},
		{"word unit", "", `Please retry after 6 seconds.`, 6 * time.Second},
		{"upper case", "", `TRY AGAIN IN 20S`, 20 * time.Second},
		{"prose first, number later", "", `retry after a pause. Or try again in 4s`, 4 * time.Second},
		{"no number", "", `Please try again in a few minutes.`, 0},
		{"bare number without unit", "", `try again in 20.`, 0},
		{"absurd hint", "", `try again in 25h`, 0},
		{"unknown unit", "", `try again in 3 fortnights`, 0},
		{"hint past the scan limit", "", string(make([]byte, maxScan)) + `try again in 4s`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RetryAfter(tt.header, []byte(tt.body), now); got != tt.want {
				t.Errorf("RetryAfter(%q, %.40q) = %v, want %v", tt.header, tt.body, got, tt.want)
			}
		})
	}
}

func FuzzRetryAfter(f *testing.F) {
	f.Add("30", []byte(nil), int64(0))
	f.Add("Sat, 01 Mar 2025 12:01:30 GMT", []byte(nil), int64(1740830400))
	f.Add("", []byte(geminiRate), int64(0))
	f.Add("", []byte(groqRate), int64(0))
	f.Add("x", []byte(`try again in 1m30.5s`), int64(0))
	f.Add("1.", []byte(`retryDelay": "99999999999999999999.9999999999999999999s`), int64(0))
	f.Fuzz(func(t *testing.T, header string, body []byte, unix int64) {
		d := RetryAfter(header, body, time.Unix(unix, 0))
		if d < 0 || d > maxRetryAfter {
			t.Fatalf("RetryAfter(%q, %q) = %v: out of [0, %v]", header, body, d, maxRetryAfter)
		}
		// Plain delta-seconds within the limit are taken as they are, whatever the body says.
		if secs, err := strconv.Atoi(header); err == nil && secs >= 0 && len(header) < 8 && isDigit(header[0]) &&
			time.Duration(secs)*time.Second <= maxRetryAfter && d != time.Duration(secs)*time.Second {
			t.Fatalf("RetryAfter(%q, %q) = %v, want %ds", header, body, d, secs)
		}
	})
}
