package llmrouter

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// A streamed image generation has no [DONE]: the router relays its named events and ends it
// when the upstream's body ends, with no error event.
func TestImageStreamEndsAtEOF(t *testing.T) {
	up := newFakeUpstream(t, sseReply(
		"event: image_generation.partial_image\ndata: {\"type\":\"image_generation.partial_image\",\"b64_json\":\"cGFy\"}\n\n",
		"event: image_generation.completed\ndata: {\"type\":\"image_generation.completed\",\"b64_json\":\"ZnVsbA==\"}\n\n"))
	p := provider("p", up.URL+"/v1", []string{"sk-p-000000001"}, "img", "img-up")
	p.Serves = []string{"images"}
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{p}})
	rec := tr.send(http.MethodPost, "/v1/images/generations", "application/json", []byte(`{"model":"img","prompt":"x","stream":true}`))
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, "event: image_generation.completed\n") || strings.Contains(body, `"error"`) {
		t.Fatalf("%d %q", rec.Code, body)
	}
	if !strings.Contains(tr.logs.String(), `"outcome":"success"`) {
		t.Errorf("the stream was not logged as a success")
	}
}

// A pinned call fails over between the nodes of the key that holds its id.
func TestPinnedCallFailsOverBetweenNodes(t *testing.T) {
	fa := newFakeAccounts()
	good := newFakeUpstream(t, fa.ServeHTTP)
	down := newFakeUpstream(t, status(502))
	p := provider("oa", good.URL+"/v1", []string{"sk-acct-A-000001"}, "m", "m-up")
	p.Serves = []string{"chat", "files"}
	p.BaseURLs = []string{down.URL + "/v1", good.URL + "/v1"}
	tr := newTestRouter(t, &Handler{Strategy: "priority", Providers: []catalog.ProviderConfig{p}})
	before := counterValue(t, requestsTotal.WithLabelValues("@files", "oa", "success"))
	body, ct := form(t, "purpose", "batch", "file", "@x")
	rec := tr.send(http.MethodPost, "/v1/files", ct, body)
	if rec.Code != 200 || rec.Header().Get("X-LLM-Router-Attempts") != "2" || !strings.Contains(rec.Header().Get("X-LLM-Router-Failures"), "oa#0") {
		t.Fatalf("upload: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	id := decodeID(t, rec.Body.Bytes())
	// Once node 0's cooldown is over the GET tries it again, fails, and goes on to node 1.
	tr.clock.Advance(61 * time.Second)
	rec = tr.send(http.MethodGet, "/v1/files/"+id, "", nil)
	if rec.Code != 200 || rec.Header().Get("X-LLM-Router-Attempts") != "2" ||
		rec.Header().Get("X-LLM-Router-Target") != "oa#1/"+tr.accounts[1].Fingerprint {
		t.Fatalf("get: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	if d := counterValue(t, requestsTotal.WithLabelValues("@files", "oa", "success")) - before; d != 2 {
		t.Errorf("requests_total{model=@files,provider=oa,outcome=success} grew by %v, want 2", d)
	}
	if len(down.received()) != 2 {
		t.Errorf("the down node got %d requests, want 2", len(down.received()))
	}
}

// A list whose upstream quotes its key fails without showing the key to the client or the log.
func TestListErrorScrubbed(t *testing.T) {
	up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(401)
		_, _ = w.Write([]byte(`{"error":{"message":"Incorrect API key provided: ` + strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ") + `"}}`))
	})
	p := provider("oa", up.URL+"/v1", []string{secEnvKey1}, "m", "m-up")
	p.Serves = []string{"chat", "files"}
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{p}})
	rec := tr.send(http.MethodGet, "/v1/files", "", nil)
	if e, err := parseAPIError(rec.Body.Bytes()); rec.Code != 502 || err != nil || len(e.Attempts) != 1 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	for _, s := range []string{rec.Body.String(), headerText(rec.Header()), tr.logs.String()} {
		if found := secFind(s); len(found) > 0 {
			t.Errorf("secrets %v in %s", found, s)
		}
	}
	if !strings.Contains(rec.Body.String(), "[redacted]") {
		t.Errorf("the upstream's error is not shown, redacted: %s", rec.Body)
	}
}

func TestMatchStateful(t *testing.T) {
	for path, want := range map[string]string{
		"/v1/files": "POST GET", "/files": "POST GET", "/v1/files/f1": "GET DELETE", "/v1/files/f1/content": "GET",
		"/v1/batches": "POST GET", "/batches/b1": "GET", "/v1/batches/b1/cancel": "POST",
		"/v1/responses/r1": "GET DELETE", "/v1/responses/r1/cancel": "POST", "/responses/r1/input_items": "GET",
		"/v1/responses": "", "/v1/chat/completions": "", "/v1/files/f1/x": "", "/v1/files//content": "", "/v1/filesx": "",
		"/v1/files/f1/content/x": "", "/v1/batches/b1/content": "", "/v2/files": "",
	} {
		sr, ok := matchStateful(path)
		var got []string
		for _, op := range sr.ops {
			got = append(got, op.method)
		}
		if strings.Join(got, " ") != want || ok != (want != "") {
			t.Errorf("%s: %v %v, want %q", path, got, ok, want)
		}
	}
	if sr, _ := matchStateful("/v1/files/file-1/content"); sr.id != "file-1" || sr.kind != stickyFile || sr.upstream != "/files/file-1/content" {
		t.Errorf("parsed %+v", sr)
	}
}

// GET /v1/responses/{id}?stream=true replays the events with their names, to its end.
func TestResponseGetStreamKeepsEventNames(t *testing.T) {
	up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.RawQuery != "stream=true" || r.URL.Path != "/v1/responses/resp_1" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.String(), 400)
			return
		}
		sseReply("event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\"}}\n\n",
			"event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\"}}\n\n")(w, r)
	})
	on := true
	p := provider("oa", up.URL+"/v1", []string{"sk-acct-A-000001"}, "m", "m-up")
	p.Responses = &on
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{p}})
	tr.sticky.Put(stickyResponse, "resp_1", ownerOf(tr.accounts[0], "").String(), time.Hour)
	rec := tr.send(http.MethodGet, "/v1/responses/resp_1?stream=true", "", nil)
	if body := rec.Body.String(); rec.Code != 200 || !strings.Contains(body, "event: response.created\n") ||
		!strings.Contains(body, "event: response.completed\n") || strings.Contains(body, "response.failed") {
		t.Fatalf("%d %q", rec.Code, body)
	}
}
