package sse

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestErrorEventBytes(t *testing.T) {
	tests := []struct {
		d        Dialect
		typ, msg string
		want     string
	}{
		{OpenAI, "upstream_error", "upstream closed", `data: {"error":{"message":"upstream closed","type":"upstream_error"}}` + "\n\n"},
		{OpenAI, "", "x", `data: {"error":{"message":"x","type":"server_error"}}` + "\n\n"},
		{Anthropic, "overloaded_error", "Overloaded", "event: error\n" + `data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}` + "\n\n"},
		{Anthropic, "", "x", "event: error\n" + `data: {"type":"error","error":{"type":"api_error","message":"x"}}` + "\n\n"},
		{Gemini, "", "cut \"x\"", `data: {"error":{"code":500,"message":"cut \"x\"","status":"INTERNAL"}}` + "\n\n"},
		{Gemini, "UNAVAILABLE", "x", `data: {"error":{"code":503,"message":"x","status":"UNAVAILABLE"}}` + "\n\n"},
		{OpenAI, "t", "a \"quoted\" \\ path\nline2\r\t\x00\x1f\u2028\u2029 é 😀 <&>", `data: {"error":{"message":"a \"quoted\" \\ path\nline2\r\t\u0000\u001f\u2028\u2029 é 😀 <&>","type":"t"}}` + "\n\n"},
		{OpenAI, "t", "bad \xff utf8 \xe2\x82", `data: {"error":{"message":"bad \ufffd utf8 \ufffd\ufffd","type":"t"}}` + "\n\n"},
	}
	for _, tc := range tests {
		if got := string(ErrorEvent(tc.d, tc.typ, tc.msg)); got != tc.want {
			t.Errorf("ErrorEvent(%v, %q, %q) =\n%s\nwant\n%s", tc.d, tc.typ, tc.msg, got, tc.want)
		}
	}
}

// errorShapes are what the SDKs decode: the OpenAI and Anthropic error bodies.
type openaiErr struct {
	Error *struct {
		Message string `json:"message"`
		Type    string `json:"type"`
	} `json:"error"`
}

type anthropicErr struct {
	Type  string `json:"type"`
	Error *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// decodeErrorEvent checks the event's framing and returns its data.
func decodeErrorEvent(t *testing.T, d Dialect, ev []byte) string {
	t.Helper()
	s := string(ev)
	if d == Anthropic {
		rest, ok := strings.CutPrefix(s, "event: error\n")
		if !ok {
			t.Fatalf("no event name: %q", s)
		}
		s = rest
	}
	data, ok := strings.CutPrefix(s, "data: ")
	if !ok || !strings.HasSuffix(data, "\n\n") || strings.Count(data, "\n") != 2 || strings.ContainsAny(data, "\r") {
		t.Fatalf("not one data line ending in a blank line: %q", ev)
	}
	// The relay's own framing must leave it untouched.
	got, err := readAll(t, strings.NewReader(string(ev)), 0)
	if len(got) != 1 || got[0] != string(ev) {
		t.Fatalf("Reader frames the error event as %q, %v", got, err)
	}
	return strings.TrimSuffix(data, "\n\n")
}

func FuzzErrorEvent(f *testing.F) {
	f.Add("server_error", "upstream said \"no\"\n\x00\xff\u2028")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, typ, msg string) {
		wantTyp, wantMsg := []rune(typ), []rune(msg) // invalid bytes become U+FFFD
		for _, d := range []Dialect{OpenAI, Anthropic} {
			data := decodeErrorEvent(t, d, ErrorEvent(d, typ, msg))
			var gotTyp, gotMsg string
			if d == OpenAI {
				var e openaiErr
				if err := json.Unmarshal([]byte(data), &e); err != nil || e.Error == nil {
					t.Fatalf("OpenAI error event does not decode: %v: %q", err, data)
				}
				gotTyp, gotMsg = e.Error.Type, e.Error.Message
			} else {
				var e anthropicErr
				if err := json.Unmarshal([]byte(data), &e); err != nil || e.Error == nil || e.Type != "error" {
					t.Fatalf("Anthropic error event does not decode: %v: %q", err, data)
				}
				gotTyp, gotMsg = e.Error.Type, e.Error.Message
			}
			if gotMsg != string(wantMsg) {
				t.Fatalf("message = %q, want %q", gotMsg, string(wantMsg))
			}
			if typ != "" && gotTyp != string(wantTyp) || typ == "" && gotTyp == "" {
				t.Fatalf("type = %q for %q", gotTyp, typ)
			}
			if !utf8.ValidString(data) {
				t.Fatalf("invalid UTF-8 reached the client: %q", data)
			}
		}
	})
}

func TestErrorEventResponses(t *testing.T) {
	got := string(ErrorEvent(Responses, "", "upstream \"x\" failed"))
	want := "event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"id\":\"resp_router\",\"object\":\"response\",\"status\":\"failed\",\"error\":{\"code\":\"server_error\",\"message\":\"upstream \\\"x\\\" failed\"},\"output\":[]},\"error\":{\"message\":\"upstream \\\"x\\\" failed\",\"type\":\"server_error\"}}\n\n"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}
