package llmrouter

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// encodeBody compresses b with coding, as a client that compresses its request would.
func encodeBody(t *testing.T, coding string, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	switch coding {
	case "gzip":
		w = gzip.NewWriter(&buf)
	case "deflate":
		w = zlib.NewWriter(&buf)
	case "zstd":
		zw, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedDefault))
		if err != nil {
			t.Fatal(err)
		}
		w = zw
	default:
		t.Fatalf("no encoder for %q", coding)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// postEncoded sends body to the router at path with a Content-Encoding, over HTTP.
func postEncoded(t *testing.T, rs *routerServer, path, coding string, body []byte) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, rs.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", coding)
	resp, err := rs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// TestCompressedRequestBodies: Codex CLI sends its Responses bodies zstd-compressed, and other
// clients gzip theirs. The router decodes them, routes on the decoded JSON and sends the
// upstream that JSON, spliced or translated, without the client's Content-Encoding (which
// would no longer describe it). Before, a compressed body got 400 "not valid JSON", and a
// Content-Encoding on a plain body was sent on to the upstream with the router's own bytes.
func TestCompressedRequestBodies(t *testing.T) {
	up := newFakeUpstream(t, okChat)
	_, rs := newStreamRouter(t, nil, up)
	chat := []byte(`{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("hello ", 2000) + `"}]}`)
	messages := []byte(`{"model":"m","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`)
	for _, tc := range []struct {
		coding, path string
		body         []byte
	}{
		{"zstd", "/v1/chat/completions", chat},
		{"gzip", "/v1/chat/completions", chat},
		{"deflate", "/v1/chat/completions", chat},
		{"gzip", "/v1/messages", messages}, // translated for the OpenAI upstream
	} {
		before := len(up.received())
		resp, got := postEncoded(t, rs, tc.path, tc.coding, encodeBody(t, tc.coding, tc.body))
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s %s: status %d: %s", tc.coding, tc.path, resp.StatusCode, got)
			continue
		}
		recs := up.received()
		if len(recs) != before+1 {
			t.Fatalf("%s %s: the upstream got %d requests, want 1", tc.coding, tc.path, len(recs)-before)
		}
		r := recs[len(recs)-1]
		if ce := r.Header.Get("Content-Encoding"); ce != "" {
			t.Errorf("%s %s: the upstream got Content-Encoding %q on the router's plain JSON", tc.coding, tc.path, ce)
		}
		var sent struct {
			Model string `json:"model"`
		}
		if err := json.Unmarshal(r.Body, &sent); err != nil || sent.Model != "m-up" {
			t.Errorf("%s %s: the upstream got %q (%v), want the decoded JSON for m-up", tc.coding, tc.path, r.Body, err)
		}
		if tc.path == "/v1/chat/completions" && !bytes.Equal(r.Body, bytes.Replace(chat, []byte(`"m"`), []byte(`"m-up"`), 1)) {
			t.Errorf("%s: the spliced body is not the client's decoded bytes", tc.coding)
		}
	}

	calls := up.calls.Load()
	// A bomb: 12 MiB of JSON in a few KiB of gzip decodes past max_body (10 MiB).
	bomb := encodeBody(t, "gzip", []byte(`{"model":"m","pad":"`+strings.Repeat("a", 12<<20)+`"}`))
	if resp, got := postEncoded(t, rs, "/v1/chat/completions", "gzip", bomb); resp.StatusCode != http.StatusRequestEntityTooLarge ||
		!strings.Contains(got, "request_too_large") {
		t.Errorf("a %d-byte gzip bomb: status %d: %s", len(bomb), resp.StatusCode, got)
	}
	// A coding the router cannot undo is refused, in the client's dialect, naming those it can.
	resp, got := postEncoded(t, rs, "/v1/messages", "br", messages)
	var anth struct {
		Type  string `json:"type"`
		Error struct {
			Type, Code string
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(got), &anth); resp.StatusCode != http.StatusUnsupportedMediaType || err != nil ||
		anth.Type != "error" || anth.Error.Type != "invalid_request_error" || anth.Error.Code != "unsupported_content_encoding" {
		t.Errorf("br: status %d: %s", resp.StatusCode, got)
	}
	if ae := resp.Header.Get("Accept-Encoding"); !strings.Contains(ae, "zstd") || !strings.Contains(ae, "gzip") {
		t.Errorf("br: Accept-Encoding %q does not name what the router decodes", ae)
	}
	// A body that is not what its Content-Encoding says is the client's error, said as such.
	resp, got = postEncoded(t, rs, "/v1/chat/completions", "gzip", chat)
	if e, err := parseAPIError([]byte(got)); resp.StatusCode != http.StatusBadRequest || err != nil || e.Code != "invalid_content_encoding" {
		t.Errorf("plain JSON labelled gzip: status %d: %s", resp.StatusCode, got)
	}
	if n := up.calls.Load(); n != calls {
		t.Errorf("the upstream got %d requests for bodies the router refused", n-calls)
	}
}
