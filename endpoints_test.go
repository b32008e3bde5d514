package llmrouter

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// The endpoints beyond chat through the real handler: failover on each family, what the
// second target received, size limits, a form without a model, capabilities, and secrets.

// form builds a multipart/form-data body from name/value pairs; a value starting with "@"
// is sent as a file part (filename audio.wav) of the rest.
func form(t testing.TB, fields ...string) (body []byte, contentType string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for i := 0; i+1 < len(fields); i += 2 {
		if v, ok := strings.CutPrefix(fields[i+1], "@"); ok {
			fw, err := mw.CreateFormFile(fields[i], "audio.wav")
			if err != nil {
				t.Fatal(err)
			}
			_, _ = fw.Write([]byte(v))
			continue
		}
		if err := mw.WriteField(fields[i], fields[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), mw.FormDataContentType()
}

// parseForm reads a recorded multipart request: its fields and files by name.
func parseForm(t testing.TB, rec recorded) map[string]string {
	t.Helper()
	_, params, err := mime.ParseMediaType(rec.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("upstream Content-Type %q: %v", rec.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(bytes.NewReader(rec.Body), params["boundary"])
	out := map[string]string{}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("upstream got a broken multipart body: %v", err)
		}
		v, _ := io.ReadAll(p)
		out[p.FormName()] = string(v)
	}
}

// send posts body with contentType to path through the handler.
func (tr *testRouter) send(method, path, contentType string, body []byte, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return tr.do(req)
}

func jsonReply(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	}
}

// servesAll is a provider that declares every family.
func servesAll(p catalog.ProviderConfig) catalog.ProviderConfig {
	p.Serves = catalog.CapabilityNames()
	return p
}

func TestEndpointFailover(t *testing.T) {
	audio := "RIFF\x00\x01\x02binary\r\n--not-a-boundary\r\nbytes\xff\xfe"
	for _, tc := range []struct {
		name, path string
		// body builds the request: a JSON string, or form fields.
		json  string
		form  []string
		reply http.HandlerFunc
		// check looks at what the serving upstream received.
		check func(t *testing.T, got recorded)
		want  string
	}{
		{name: "images", path: "/v1/images/generations", json: `{"model":"img","prompt":"a cat","n":1}`,
			reply: jsonReply(`{"created":1,"data":[{"b64_json":"aGk="}]}`), want: `"b64_json":"aGk="`,
			check: func(t *testing.T, got recorded) {
				if string(got.Body) != `{"model":"img-up","prompt":"a cat","n":1}` {
					t.Errorf("upstream body %s", got.Body)
				}
			}},
		{name: "image edit", path: "/v1/images/edits", form: []string{"prompt", "hat", "model", "img", "image", "@" + audio},
			reply: jsonReply(`{"created":1,"data":[{"url":"https://x/y.png"}]}`), want: `y.png`,
			check: func(t *testing.T, got recorded) {
				f := parseForm(t, got)
				if f["model"] != "img-up" || f["prompt"] != "hat" || f["image"] != audio {
					t.Errorf("upstream form %q", f)
				}
			}},
		{name: "transcription", path: "/audio/transcriptions", form: []string{"file", "@" + audio, "model", "img", "response_format", "text"},
			reply: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				_, _ = io.WriteString(w, "hello there\n")
			}, want: "hello there\n",
			check: func(t *testing.T, got recorded) {
				f := parseForm(t, got)
				if f["model"] != "img-up" || f["file"] != audio || f["response_format"] != "text" || len(f) != 3 {
					t.Errorf("upstream form %q", f)
				}
			}},
		{name: "speech", path: "/v1/audio/speech", json: `{"model":"img","input":"hi","voice":"alloy"}`,
			reply: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "audio/mpeg")
				_, _ = io.WriteString(w, audio)
			}, want: audio},
		{name: "moderations", path: "/v1/moderations", json: `{"model":"img","input":"hi"}`,
			reply: jsonReply(`{"id":"modr-1","model":"img-up","results":[{"flagged":false}]}`), want: `"flagged":false`},
		{name: "rerank", path: "/v1/rerank", json: `{"model":"img","query":"q","documents":["a","b"]}`,
			reply: jsonReply(`{"results":[{"index":1,"relevance_score":0.9}]}`), want: `"relevance_score":0.9`,
			check: func(t *testing.T, got recorded) {
				if got.Path != "/v1/rerank" {
					t.Errorf("rerank went to %s", got.Path)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, bad := range []int{429, 500} {
				down := newFakeUpstream(t, status(bad))
				up := newFakeUpstream(t, tc.reply)
				pd := servesAll(provider("down", down.URL+"/v1", []string{"sk-down-key-000001"}, "img", "img-up"))
				pu := servesAll(provider("up", up.URL+"/v1", []string{"sk-up-key-0000002"}, "img", "img-up"))
				tr := newTestRouter(t, &Handler{Strategy: "priority", Providers: []catalog.ProviderConfig{pd, pu}})
				var rec *httptest.ResponseRecorder
				var sent []byte
				if tc.json != "" {
					sent = []byte(tc.json)
					rec = tr.send(http.MethodPost, tc.path, "application/json", sent, "Authorization", "Bearer client-own-key")
				} else {
					var ct string
					sent, ct = form(t, tc.form...)
					rec = tr.send(http.MethodPost, tc.path, ct, sent, "Authorization", "Bearer client-own-key")
				}
				if rec.Code != 200 || !strings.Contains(rec.Body.String(), tc.want) {
					t.Fatalf("%d: status %d body %q", bad, rec.Code, rec.Body.String())
				}
				if h := rec.Header(); h.Get("X-LLM-Router-Provider") != "up" || h.Get("X-LLM-Router-Attempts") != "2" ||
					h.Get("X-LLM-Router-Upstream-Model") != "img-up" || !strings.Contains(h.Get("X-LLM-Router-Failures"), "down#0") {
					t.Errorf("%d: route headers %v", bad, h)
				}
				if len(down.received()) != 1 || len(up.received()) != 1 {
					t.Fatalf("%d: down got %d, up %d", bad, len(down.received()), len(up.received()))
				}
				for _, got := range []recorded{down.received()[0], up.received()[0]} {
					if strings.Contains(got.Header.Get("Authorization"), "client-own-key") {
						t.Errorf("the client's key reached the upstream")
					}
				}
				got := up.received()[0]
				if got.Header.Get("Authorization") != "Bearer sk-up-key-0000002" {
					t.Errorf("upstream key header %q", got.Header.Get("Authorization"))
				}
				// Both targets got the same bytes: the first attempt did not consume the body.
				if d := down.received()[0]; !bytes.Equal(d.Body, got.Body) || d.Header.Get("Content-Type") != got.Header.Get("Content-Type") {
					t.Errorf("the two attempts sent different bodies")
				}
				if tc.form != nil && len(got.Body) != len(sent)+len("-up") {
					t.Errorf("multipart body %d bytes, want the client's %d with the model id spliced", len(got.Body), len(sent))
				}
				if tc.check != nil {
					tc.check(t, got)
				}
				if !strings.Contains(tr.logs.String(), `"outcome":"success"`) {
					t.Errorf("no log line for the request")
				}
			}
		})
	}
}

func TestEndpointLimitsAndErrors(t *testing.T) {
	up := newFakeUpstream(t, jsonReply(`{"text":"hi"}`))
	tr := newTestRouter(t, &Handler{MaxBody: 1 << 10, MaxUpload: 4 << 10, Providers: []catalog.ProviderConfig{
		servesAll(provider("p", up.URL+"/v1", []string{"sk-p-000000001"}, "w", "w-up")),
		provider("chatonly", up.URL+"/v1", []string{"sk-c-000000001"}, "c", "c-up"),
	}})
	// An upload above max_body but within max_upload is served; above max_upload it is 413.
	body, ct := form(t, "model", "w", "file", "@"+strings.Repeat("a", 2<<10))
	if rec := tr.send(http.MethodPost, "/v1/audio/transcriptions", ct, body); rec.Code != 200 {
		t.Fatalf("2 KiB upload: %d %s", rec.Code, rec.Body)
	}
	body, ct = form(t, "model", "w", "file", "@"+strings.Repeat("a", 5<<10))
	rec := tr.send(http.MethodPost, "/v1/audio/transcriptions", ct, body)
	if e, err := parseAPIError(rec.Body.Bytes()); rec.Code != 413 || err != nil || !strings.Contains(e.Message, "max_upload") {
		t.Fatalf("5 KiB upload: %d %s", rec.Code, rec.Body)
	}
	// A JSON endpoint keeps max_body.
	rec = tr.send(http.MethodPost, "/v1/images/generations", "application/json", []byte(`{"model":"w","prompt":"`+strings.Repeat("a", 2<<10)+`"}`))
	if e, err := parseAPIError(rec.Body.Bytes()); rec.Code != 413 || err != nil || !strings.Contains(e.Message, "max_body") {
		t.Fatalf("2 KiB JSON: %d %s", rec.Code, rec.Body)
	}
	// A form without a model.
	body, ct = form(t, "file", "@abc", "language", "en")
	rec = tr.send(http.MethodPost, "/v1/audio/translations", ct, body)
	if e, err := parseAPIError(rec.Body.Bytes()); rec.Code != 400 || err != nil || e.Code != "missing_model" || !strings.Contains(e.Message, "model field") {
		t.Fatalf("no model: %d %s", rec.Code, rec.Body)
	}
	// Not multipart at all.
	rec = tr.send(http.MethodPost, "/v1/audio/translations", "application/json", []byte(`{"model":"w"}`))
	if e, err := parseAPIError(rec.Body.Bytes()); rec.Code != 400 || err != nil || e.Code != "invalid_multipart" {
		t.Fatalf("JSON to a multipart endpoint: %d %s", rec.Code, rec.Body)
	}
	// Cut before its closing boundary.
	body, ct = form(t, "model", "w", "file", "@abc")
	rec = tr.send(http.MethodPost, "/v1/audio/translations", ct, body[:len(body)-10])
	if e, err := parseAPIError(rec.Body.Bytes()); rec.Code != 400 || err != nil || e.Code != "invalid_multipart" {
		t.Fatalf("cut form: %d %s", rec.Code, rec.Body)
	}
	// A model whose providers do not serve the endpoint: a clear 400, not a 404.
	rec = tr.send(http.MethodPost, "/v1/images/generations", "application/json", []byte(`{"model":"c","prompt":"x"}`))
	if e, err := parseAPIError(rec.Body.Bytes()); rec.Code != 400 || err != nil || e.Code != "unsupported_endpoint" {
		t.Fatalf("chat-only model on images: %d %s", rec.Code, rec.Body)
	}
	n := len(up.received())
	if n != 1 {
		t.Fatalf("upstream got %d requests, want only the one that was served", n)
	}
}

// A pool that mixes providers tries only those that declare the capability.
func TestCapabilityFiltersTargets(t *testing.T) {
	chat := newFakeUpstream(t, jsonReply(`{"results":[]}`))
	rr := newFakeUpstream(t, jsonReply(`{"results":[{"index":0,"relevance_score":1}]}`))
	prr := provider("jina", rr.URL+"/v1", []string{"sk-jina-00000001"}, "m", "jina-rerank")
	prr.Serves = []string{"rerank"}
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{
		provider("chat", chat.URL+"/v1", []string{"sk-chat-00000001"}, "m", "m-up"), prr}})
	for range 4 {
		if rec := tr.send(http.MethodPost, "/v1/rerank", "application/json", []byte(`{"model":"m","query":"q","documents":["a"]}`)); rec.Code != 200 {
			t.Fatalf("rerank: %d %s", rec.Code, rec.Body)
		}
		if rec := tr.chat(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`); rec.Code != 200 {
			t.Fatalf("chat: %d %s", rec.Code, rec.Body)
		}
	}
	if len(chat.received()) != 4 || len(rr.received()) != 4 {
		t.Fatalf("chat provider got %d, rerank provider %d; want 4 each", len(chat.received()), len(rr.received()))
	}
	for _, r := range rr.received() {
		if r.Path != "/v1/rerank" {
			t.Errorf("the rerank-only provider got %s", r.Path)
		}
	}
	var list struct {
		Data []struct {
			ID     string
			Serves []string
		}
	}
	rec := tr.send(http.MethodGet, "/v1/models", "", nil)
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || len(list.Data) == 0 {
		t.Fatalf("models: %v %s", err, rec.Body)
	}
	if got := strings.Join(list.Data[0].Serves, " "); got != "chat completions embeddings rerank" {
		t.Errorf("model m serves %q", got)
	}
}

// The speech reply reaches the client as it comes: the upstream holds its second piece until
// the client has read the first through the router.
func TestSpeechStreamsBinary(t *testing.T) {
	release := make(chan struct{})
	first, second := "ID3\x04\x00first-piece\xff", "second-piece\x00\x01"
	up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/mpeg")
		_, _ = io.WriteString(w, first)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, second)
	})
	p := provider("p", up.URL+"/v1", []string{"sk-p-000000001"}, "tts", "tts-up")
	p.Serves = []string{"audio"}
	// max_response far below the reply: binary replies are not bounded by it.
	rs := serveRouter(t, newTestRouter(t, &Handler{MaxResponse: 8, Providers: []catalog.ProviderConfig{p}}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, rs.URL+"/v1/audio/speech", strings.NewReader(`{"model":"tts","input":"hi","voice":"alloy"}`))
	resp, err := rs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "audio/mpeg" || resp.Header.Get("X-LLM-Router-Provider") != "p" {
		t.Fatalf("status %d headers %v", resp.StatusCode, resp.Header)
	}
	buf := make([]byte, len(first))
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != first {
		t.Fatalf("first piece %q, %v", buf, err)
	}
	close(release)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != second {
		t.Fatalf("rest %q, %v", rest, err)
	}
}

// A binary reply that breaks after it began is cut, never ended cleanly.
func TestSpeechCutIsNotClean(t *testing.T) {
	up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/mpeg")
		_, _ = io.WriteString(w, "part")
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	})
	p := provider("p", up.URL+"/v1", []string{"sk-p-000000001"}, "tts", "tts-up")
	p.Serves = []string{"audio"}
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{p}})
	rs := serveRouter(t, tr)
	resp, err := rs.Client().Post(rs.URL+"/v1/audio/speech", "application/json", strings.NewReader(`{"model":"tts","input":"hi"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatalf("a cut audio reply ended cleanly with %q", b)
	}
}

// No provider key, nor a fragment of one, reaches a client or the log from a multipart call
// whose upstream quotes it.
func TestEndpointSecrets(t *testing.T) {
	quote := func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		w.Header().Set("Content-Type", "application/json")
		code := 500
		if strings.Contains(key, "BBBB") {
			code = 400
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, `{"error":{"message":"bad key `+key+` (`+key[3:12]+`...)","type":"x"}}`)
	}
	up := newFakeUpstream(t, quote)
	tr := newTestRouter(t, &Handler{Strategy: "priority", Providers: []catalog.ProviderConfig{
		servesAll(provider("p", up.URL+"/v1", []string{secEnvKey1, secEnvKey2}, "w", "w-up"))}})
	body, ct := form(t, "model", "w", "file", "@abc")
	rec := tr.send(http.MethodPost, "/v1/audio/transcriptions", ct, body, "Authorization", "Bearer "+secClientOwn)
	if rec.Code != 400 {
		t.Fatalf("status %d %s", rec.Code, rec.Body)
	}
	for _, s := range []string{rec.Body.String(), tr.logs.String(), headerText(rec.Header())} {
		if found := secFind(s); len(found) > 0 {
			t.Errorf("secrets %v in %s", found, s)
		}
	}
	for _, r := range up.received() {
		if strings.Contains(string(r.Body)+headerText(r.Header), secClientOwn) {
			t.Errorf("the client's key reached the upstream")
		}
	}
}
