package llmrouter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// fakeAccounts is an OpenAI files, batches and Responses upstream whose state is per key, as
// OpenAI's is per account: a key sees only its own files, batches and responses. It answers
// 404 for an id another key holds, so a follow-up sent to the wrong key fails.
type fakeAccounts struct {
	mu      sync.Mutex
	files   map[string]map[string][]byte // key -> id -> content
	batches map[string]map[string]string // key -> id -> status
	resps   map[string]map[string]bool
	n       int
	// failUploads makes this many uploads answer 500 first.
	failUploads int
}

func newFakeAccounts() *fakeAccounts {
	return &fakeAccounts{files: map[string]map[string][]byte{}, batches: map[string]map[string]string{}, resps: map[string]map[string]bool{}}
}

// keyTag is the distinctive part of the test keys (sk-acct-A... -> A).
func keyTag(r *http.Request) string {
	k := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer sk-acct-")
	if k == "" {
		return "?"
	}
	return k[:1]
}

func (f *fakeAccounts) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := keyTag(r)
	for _, m := range []map[string]map[string][]byte{f.files} {
		if m[key] == nil {
			m[key] = map[string][]byte{"file-foreign-" + key: []byte("not the router's")}
		}
	}
	if f.batches[key] == nil {
		f.batches[key] = map[string]string{"batch_foreign_" + key: "completed"}
	}
	if f.resps[key] == nil {
		f.resps[key] = map[string]bool{}
	}
	path := strings.TrimPrefix(r.URL.Path, "/v1")
	seg := strings.Split(strings.TrimPrefix(path, "/"), "/")
	js := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	notFound := func() {
		js(404, map[string]any{"error": map[string]any{"message": "No such object at key " + key, "type": "invalid_request_error"}})
	}
	fileObj := func(id string) map[string]any {
		return map[string]any{"id": id, "object": "file", "bytes": len(f.files[key][id]), "created_at": 1, "filename": "in.jsonl",
			"purpose": "batch", "status": "processed"}
	}
	batchObj := func(id string) map[string]any {
		return map[string]any{"id": id, "object": "batch", "endpoint": "/v1/chat/completions", "input_file_id": "x",
			"completion_window": "24h", "status": f.batches[key][id], "created_at": 1}
	}
	switch {
	case seg[0] == "files" && len(seg) == 1 && r.Method == http.MethodPost:
		if f.failUploads > 0 {
			f.failUploads--
			js(500, map[string]any{"error": map[string]any{"message": "try later", "type": "server_error"}})
			return
		}
		_, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		mr := multipart.NewReader(r.Body, params["boundary"])
		var content []byte
		purpose := ""
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(p)
			switch p.FormName() {
			case "file":
				content = b
			case "purpose":
				purpose = string(b)
			}
		}
		if purpose != "batch" || content == nil {
			js(400, map[string]any{"error": map[string]any{"message": "need file and purpose batch", "type": "invalid_request_error"}})
			return
		}
		f.n++
		id := fmt.Sprintf("file-%s%d", key, f.n)
		f.files[key][id] = content
		js(200, fileObj(id))
	case seg[0] == "files" && len(seg) == 1:
		var data []any
		for id := range f.files[key] {
			data = append(data, fileObj(id))
		}
		js(200, map[string]any{"object": "list", "data": data, "has_more": false})
	case seg[0] == "files" && f.files[key][seg[1]] == nil:
		notFound()
	case seg[0] == "files" && len(seg) == 3:
		w.Header().Set("Content-Type", "application/octet-stream")
		c := f.files[key][seg[1]]
		for i := 0; i < len(c); i += 3 {
			_, _ = w.Write(c[i:min(i+3, len(c))])
			w.(http.Flusher).Flush()
		}
	case seg[0] == "files" && r.Method == http.MethodDelete:
		delete(f.files[key], seg[1])
		js(200, map[string]any{"id": seg[1], "object": "file", "deleted": true})
	case seg[0] == "files":
		js(200, fileObj(seg[1]))
	case seg[0] == "batches" && len(seg) == 1 && r.Method == http.MethodPost:
		var req struct {
			InputFileID string `json:"input_file_id"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		if f.files[key][req.InputFileID] == nil {
			notFound()
			return
		}
		f.n++
		id := fmt.Sprintf("batch_%s%d", key, f.n)
		f.batches[key][id] = "validating"
		js(200, batchObj(id))
	case seg[0] == "batches" && len(seg) == 1:
		var data []any
		for id := range f.batches[key] {
			data = append(data, batchObj(id))
		}
		js(200, map[string]any{"object": "list", "data": data, "has_more": false})
	case seg[0] == "batches" && f.batches[key][seg[1]] == "":
		notFound()
	case seg[0] == "batches" && len(seg) == 3:
		f.batches[key][seg[1]] = "cancelling"
		js(200, batchObj(seg[1]))
	case seg[0] == "batches":
		js(200, batchObj(seg[1]))
	case seg[0] == "responses" && len(seg) == 1:
		body, _ := io.ReadAll(r.Body)
		if prev := jsonString(jsonObjectKey(body, "previous_response_id")); prev != "" && !f.resps[key][prev] {
			notFound()
			return
		}
		f.n++
		id := fmt.Sprintf("resp_%s%d", key, f.n)
		f.resps[key][id] = true
		js(200, map[string]any{"id": id, "object": "response", "status": "completed", "model": "m-up", "output": []any{}})
	case seg[0] == "responses" && !f.resps[key][seg[1]]:
		notFound()
	case seg[0] == "responses" && r.Method == http.MethodDelete:
		delete(f.resps[key], seg[1])
		js(200, map[string]any{"id": seg[1], "object": "response", "deleted": true})
	case seg[0] == "responses":
		js(200, map[string]any{"id": seg[1], "object": "response", "status": "completed", "model": "m-up", "output": []any{}})
	default:
		notFound()
	}
}

// accountsRouter serves model "m" from one OpenAI-like provider with two keys, A and B, that
// serves files, batches and the Responses API.
func accountsRouter(t *testing.T, fa *fakeAccounts) (*fakeUpstream, *testRouter) {
	t.Helper()
	up := newFakeUpstream(t, fa.ServeHTTP)
	p := provider("oa", up.URL+"/v1", []string{"sk-acct-A-000001", "sk-acct-B-000002"}, "m", "m-up")
	p.Serves = []string{"chat", "files", "batches", "responses"}
	return up, newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{p}})
}

func decodeID(t *testing.T, body []byte) string {
	t.Helper()
	var v struct{ ID string }
	if err := json.Unmarshal(body, &v); err != nil || v.ID == "" {
		t.Fatalf("no id in %s", body)
	}
	return v.ID
}

// TestFilesAndBatchesSticky uploads files with round robin over two keys, and checks that
// every later call on each id went to the key that holds it (the fake answers 404 at the
// other), the lists hold only the router's ids, and unknown ids are 404 at the router.
func TestFilesAndBatchesSticky(t *testing.T) {
	fa := newFakeAccounts()
	up, tr := accountsRouter(t, fa)
	content := "{\"custom_id\":\"1\",\"body\":{}}\n\x00\xffbinary tail"
	var fileIDs, batchIDs []string
	for range 2 {
		body, ct := form(t, "purpose", "batch", "file", "@"+content)
		rec := tr.send(http.MethodPost, "/v1/files", ct, body)
		if rec.Code != 200 {
			t.Fatalf("upload: %d %s", rec.Code, rec.Body)
		}
		fileIDs = append(fileIDs, decodeID(t, rec.Body.Bytes()))
	}
	if fileIDs[0][5] == fileIDs[1][5] {
		t.Fatalf("both uploads went to key %c: the test needs one at each", fileIDs[0][5])
	}
	for _, id := range fileIDs {
		if rec := tr.send(http.MethodGet, "/v1/files/"+id, "", nil); rec.Code != 200 || decodeID(t, rec.Body.Bytes()) != id {
			t.Errorf("get %s: %d %s", id, rec.Code, rec.Body)
		}
		if rec := tr.send(http.MethodGet, "/files/"+id+"/content", "", nil); rec.Code != 200 || rec.Body.String() != content {
			t.Errorf("content %s: %d %q", id, rec.Code, rec.Body)
		}
		rec := tr.send(http.MethodPost, "/v1/batches", "application/json",
			[]byte(`{"input_file_id":"`+id+`","endpoint":"/v1/chat/completions","completion_window":"24h"}`))
		if rec.Code != 200 {
			t.Fatalf("batch on %s: %d %s", id, rec.Code, rec.Body)
		}
		bid := decodeID(t, rec.Body.Bytes())
		if bid[6] != id[5] {
			t.Errorf("batch %s made at another key than its file %s", bid, id)
		}
		batchIDs = append(batchIDs, bid)
		if rec := tr.send(http.MethodGet, "/v1/batches/"+bid, "", nil); rec.Code != 200 {
			t.Errorf("get batch %s: %d %s", bid, rec.Code, rec.Body)
		}
		if rec := tr.send(http.MethodPost, "/v1/batches/"+bid+"/cancel", "", nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), "cancelling") {
			t.Errorf("cancel batch %s: %d %s", bid, rec.Code, rec.Body)
		}
	}
	for _, tc := range []struct {
		path string
		want []string
	}{{"/v1/files", fileIDs}, {"/v1/batches", batchIDs}} {
		rec := tr.send(http.MethodGet, tc.path+"?limit=10", "", nil)
		var list struct {
			Object string
			Data   []struct{ ID string }
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &list); rec.Code != 200 || err != nil || list.Object != "list" {
			t.Fatalf("list %s: %d %s", tc.path, rec.Code, rec.Body)
		}
		var got []string
		for _, d := range list.Data {
			got = append(got, d.ID)
		}
		slices.Sort(got)
		if !slices.Equal(got, slices.Sorted(slices.Values(tc.want))) {
			t.Errorf("list %s: %v, want the router's ids %v only", tc.path, got, tc.want)
		}
	}
	if rec := tr.send(http.MethodDelete, "/v1/files/"+fileIDs[0], "", nil); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"deleted":true`) {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	// Forgotten once deleted, and never known: a 404 from the router, no upstream call.
	before := len(up.received())
	for _, path := range []string{"/v1/files/" + fileIDs[0], "/v1/files/file-foreign-A/content", "/v1/batches/batch_nope", "/v1/responses/resp_nope"} {
		rec := tr.send(http.MethodGet, path, "", nil)
		if e, err := parseAPIError(rec.Body.Bytes()); rec.Code != 404 || err != nil || !strings.HasSuffix(e.Code, "_not_found") ||
			!strings.Contains(e.Message, "through this router") {
			t.Errorf("%s: %d %s", path, rec.Code, rec.Body)
		}
	}
	if rec := tr.send(http.MethodPost, "/v1/batches", "application/json", []byte(`{"input_file_id":"file-foreign-B"}`)); rec.Code != 404 {
		t.Errorf("batch on an unknown file: %d %s", rec.Code, rec.Body)
	}
	if n := len(up.received()); n != before {
		t.Errorf("unknown ids reached the upstream (%d calls)", n-before)
	}
	if rec := tr.send(http.MethodPut, "/v1/files/"+fileIDs[1], "", nil); rec.Code != 405 || rec.Header().Get("Allow") != "GET, DELETE" {
		t.Errorf("PUT: %d %v", rec.Code, rec.Header())
	}
	// The upstream saw no request on an id at a key that does not hold it: every follow-up was
	// answered 2xx above, and the fake answers 404 elsewhere.
	for _, r := range up.received() {
		if strings.Contains(string(r.Body), "sk-acct") {
			t.Errorf("a key in a body")
		}
	}
}

// An upload fails over to the other key; the file is then pinned there, and a follow-up whose
// key is cooling gets a clear 503, not the other key.
func TestFilesFailoverAndPinnedCooling(t *testing.T) {
	fa := newFakeAccounts()
	fa.failUploads = 1
	_, tr := accountsRouter(t, fa)
	body, ct := form(t, "purpose", "batch", "file", "@x")
	rec := tr.send(http.MethodPost, "/v1/files", ct, body)
	if rec.Code != 200 || rec.Header().Get("X-LLM-Router-Attempts") != "2" {
		t.Fatalf("upload: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	id := decodeID(t, rec.Body.Bytes())
	// Cool the holding key's account targets by hand, as a 429 would.
	now := tr.clock.Now().UnixNano()
	for _, a := range tr.accounts {
		if a.KeyStateID != "" && strings.Contains(a.Key(), "-"+id[5:6]+"-") {
			a.key.Cool(now, now+int64(30*time.Second))
		}
	}
	rec = tr.send(http.MethodGet, "/v1/files/"+id, "", nil)
	if e, err := parseAPIError(rec.Body.Bytes()); rec.Code != 503 || err != nil || e.Code != "owner_cooling" || rec.Header().Get("Retry-After") != "30" {
		t.Fatalf("pinned to a cooling key: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	tr.clock.Advance(31 * time.Second)
	if rec := tr.send(http.MethodGet, "/v1/files/"+id, "", nil); rec.Code != 200 {
		t.Fatalf("after the cooldown: %d %s", rec.Code, rec.Body)
	}
}

// Responses made by a native provider are pinned to their key: previous_response_id, GET and
// DELETE go there (the fake answers 404 at the other key).
func TestResponsesSticky(t *testing.T) {
	fa := newFakeAccounts()
	_, tr := accountsRouter(t, fa)
	var ids []string
	for range 2 {
		rec := tr.send(http.MethodPost, "/v1/responses", "application/json", []byte(`{"model":"m","input":"hi"}`))
		if rec.Code != 200 {
			t.Fatalf("create: %d %s", rec.Code, rec.Body)
		}
		ids = append(ids, decodeID(t, rec.Body.Bytes()))
	}
	if ids[0][5] == ids[1][5] {
		t.Fatalf("both responses at key %c", ids[0][5])
	}
	for _, id := range ids {
		for range 2 { // round robin would alternate keys without the pin
			rec := tr.send(http.MethodPost, "/v1/responses", "application/json", []byte(`{"model":"m","input":"and?","previous_response_id":"`+id+`"}`))
			if rec.Code != 200 {
				t.Fatalf("follow-up on %s: %d %s", id, rec.Code, rec.Body)
			}
			if got := decodeID(t, rec.Body.Bytes()); got[5] != id[5] {
				t.Errorf("follow-up on %s answered by key %c", id, got[5])
			}
		}
		if rec := tr.send(http.MethodGet, "/v1/responses/"+id, "", nil); rec.Code != 200 {
			t.Errorf("get %s: %d %s", id, rec.Code, rec.Body)
		}
	}
	if rec := tr.send(http.MethodDelete, "/v1/responses/"+ids[0], "", nil); rec.Code != 200 {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	if rec := tr.send(http.MethodGet, "/v1/responses/"+ids[0], "", nil); rec.Code != 404 {
		t.Errorf("get after delete: %d %s", rec.Code, rec.Body)
	}
	// The holding key cooling: a clear 503, not the other key.
	now := tr.clock.Now().UnixNano()
	for _, t2 := range tr.targets {
		if strings.Contains(t2.Key(), "-"+ids[1][5:6]+"-") {
			t2.key.Cool(now, now+int64(20*time.Second))
		}
	}
	rec := tr.send(http.MethodPost, "/v1/responses", "application/json", []byte(`{"model":"m","input":"and?","previous_response_id":"`+ids[1]+`"}`))
	if e, err := parseAPIError(rec.Body.Bytes()); rec.Code != 503 || err != nil || e.Code != "owner_cooling" || !strings.Contains(e.Message, ids[1]) {
		t.Fatalf("pinned to a cooling key: %d %s", rec.Code, rec.Body)
	}
}

func TestMemoryStickyBounds(t *testing.T) {
	clock := newFakeClock()
	m := newMemorySticky(3, clock.Now)
	for i := range 5 {
		m.Put("file", fmt.Sprint(i), "o", time.Hour)
	}
	for i, want := range []bool{false, false, true, true, true} {
		if _, ok := m.Get("file", fmt.Sprint(i)); ok != want {
			t.Errorf("id %d kept %v, want %v", i, ok, want)
		}
	}
	if _, ok := m.Get("batch", "4"); ok {
		t.Error("kinds share ids")
	}
	m.Put("file", "2", "o2", time.Hour) // replaced: now the newest
	m.Put("file", "5", "o", time.Hour)
	if o, ok := m.Get("file", "2"); !ok || o != "o2" {
		t.Errorf("replaced id: %q %v", o, ok)
	}
	if _, ok := m.Get("file", "3"); ok {
		t.Error("the oldest id was not dropped")
	}
	clock.Advance(time.Hour)
	if _, ok := m.Get("file", "5"); ok {
		t.Error("an id outlived its ttl")
	}
	m.Put("file", "6", "o", time.Hour)
	m.Delete("file", "6")
	if _, ok := m.Get("file", "6"); ok {
		t.Error("a deleted id is still there")
	}
	for i := range 100 { // the order ring stays bounded under churn
		m.Put("file", "x", "o", time.Hour)
		m.Delete("file", fmt.Sprint(i))
	}
	if n := len(m.kinds["file"].order); n > 2*3+16 {
		t.Errorf("order ring holds %d entries", n)
	}
}

var jsonObjectKey = func(b []byte, k string) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(bytes.TrimSpace(b), &m) != nil {
		return nil
	}
	return m[k]
}

// A passed-through Responses stream records its response id from response.created.
func TestResponsesStreamRecordsID(t *testing.T) {
	up := newFakeUpstream(t, nativeResponsesUpstream)
	on := true
	p := provider("oa", up.URL+"/v1", []string{"sk-acct-A-000001", "sk-acct-B-000002"}, "m", "m-up")
	p.Responses = &on
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{p}})
	rec := tr.send(http.MethodPost, "/v1/responses", "application/json", []byte(`{"model":"m","input":"hi","stream":true}`))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "response.completed") {
		t.Fatalf("stream: %d %s", rec.Code, rec.Body)
	}
	owner, ok := tr.sticky.Get(stickyResponse, "resp_up1")
	if !ok {
		t.Fatal("the stream's response id was not recorded")
	}
	var served *target
	for _, t2 := range tr.targets {
		if t2.Label == rec.Header().Get("X-LLM-Router-Target") {
			served = t2
		}
	}
	if served == nil || owner != ownerOf(served, "").String() || strings.Contains(owner, "sk-acct") {
		t.Errorf("owner %q, want the serving key's %v", owner, served)
	}
}

// An id belongs to the gateway key that made it: another client gets 404 and never sees it
// listed.
func TestStickyIDsPerClient(t *testing.T) {
	up := newFakeUpstream(t, newFakeAccounts().ServeHTTP)
	p := provider("oa", up.URL+"/v1", []string{"sk-acct-A-000001"}, "m", "m-up")
	p.Serves = []string{"chat", "files", "batches", "responses"}
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{p}, Auth: &AuthConfig{Keys: []GatewayKey{
		{Name: "alice", Key: "gw-alice-0000000001"}, {Name: "bob", Key: "gw-bob-00000000001"}}}})
	alice, bob := []string{"Authorization", "Bearer gw-alice-0000000001"}, []string{"Authorization", "Bearer gw-bob-00000000001"}
	body, ct := form(t, "purpose", "batch", "file", "@x")
	rec := tr.send(http.MethodPost, "/v1/files", ct, body, alice...)
	if rec.Code != 200 {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
	id := decodeID(t, rec.Body.Bytes())
	rec = tr.send(http.MethodPost, "/v1/responses", "application/json", []byte(`{"model":"m","input":"hi"}`), alice...)
	rid := decodeID(t, rec.Body.Bytes())
	if rec := tr.send(http.MethodGet, "/v1/files/"+id, "", nil, alice...); rec.Code != 200 {
		t.Fatalf("alice's own file: %d %s", rec.Code, rec.Body)
	}
	for _, path := range []string{"/v1/files/" + id, "/v1/files/" + id + "/content", "/v1/responses/" + rid} {
		if rec := tr.send(http.MethodGet, path, "", nil, bob...); rec.Code != 404 {
			t.Errorf("bob reads %s: %d %s", path, rec.Code, rec.Body)
		}
	}
	if rec := tr.send(http.MethodPost, "/v1/responses", "application/json",
		[]byte(`{"model":"m","input":"x","previous_response_id":"`+rid+`"}`), bob...); rec.Code != 404 {
		t.Errorf("bob continues alice's response: %d %s", rec.Code, rec.Body)
	}
	if rec := tr.send(http.MethodGet, "/v1/files", "", nil, bob...); rec.Code != 200 || strings.Contains(rec.Body.String(), id) {
		t.Errorf("bob's list: %d %s", rec.Code, rec.Body)
	}
	if rec := tr.send(http.MethodGet, "/v1/files", "", nil, alice...); rec.Code != 200 || !strings.Contains(rec.Body.String(), id) {
		t.Errorf("alice's list: %d %s", rec.Code, rec.Body)
	}
}

// A key scoped to models reaches files only through a model it may use, or @files.
func TestFilesScopedKey(t *testing.T) {
	up := newFakeUpstream(t, newFakeAccounts().ServeHTTP)
	p := provider("oa", up.URL+"/v1", []string{"sk-acct-A-000001"}, "m", "m-up")
	p.Serves = []string{"chat", "files"}
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{p}, Auth: &AuthConfig{Keys: []GatewayKey{
		{Name: "scoped", Key: "gw-scoped-00000001", Models: []string{"m"}}, {Name: "files", Key: "gw-files-000000001", Models: []string{"@files"}}}}})
	body, ct := form(t, "purpose", "batch", "file", "@x")
	scoped := []string{"Authorization", "Bearer gw-scoped-00000001"}
	if rec := tr.send(http.MethodPost, "/v1/files", ct, body, scoped...); rec.Code != 403 {
		t.Errorf("scoped key without a model: %d %s", rec.Code, rec.Body)
	}
	if rec := tr.send(http.MethodPost, "/v1/files", ct, body, append(scoped, "X-LLM-Router-Model", "m")...); rec.Code != 200 {
		t.Errorf("scoped key naming its model: %d %s", rec.Code, rec.Body)
	}
	if rec := tr.send(http.MethodPost, "/v1/files", ct, body, "Authorization", "Bearer gw-files-000000001"); rec.Code != 200 {
		t.Errorf("key with @files: %d %s", rec.Code, rec.Body)
	}
}

// A file id outlives a config reload: a new config with the same provider and key (its state
// id is a hash of them, not of the config) finds it in the same store.
func TestStickyIDsSurviveReload(t *testing.T) {
	up := newFakeUpstream(t, newFakeAccounts().ServeHTTP)
	store := newMemorySticky(stickyLimit, time.Now)
	cfg := func(extra ...catalog.ProviderConfig) *Handler {
		p := provider("oa", up.URL+"/v1", []string{"sk-acct-A-000001", "sk-acct-B-000002"}, "m", "m-up")
		p.Serves = []string{"chat", "files"}
		return &Handler{sticky: store, Providers: append([]catalog.ProviderConfig{p}, extra...)}
	}
	tr1 := newTestRouter(t, cfg())
	body, ct := form(t, "purpose", "batch", "file", "@x")
	var ids []string
	for range 2 {
		rec := tr1.send(http.MethodPost, "/v1/files", ct, body)
		ids = append(ids, decodeID(t, rec.Body.Bytes()))
	}
	other := provider("other", up.URL+"/v2", []string{"sk-other-0000001"}, "n", "n-up")
	tr2 := newTestRouter(t, cfg(other))
	for _, id := range ids {
		if rec := tr2.send(http.MethodGet, "/v1/files/"+id, "", nil); rec.Code != 200 {
			t.Errorf("after the reload, %s: %d %s", id, rec.Code, rec.Body)
		}
	}
}

// Without a store of its own a handler uses the process's, which every config shares.
func TestDefaultStickyStoreIsShared(t *testing.T) {
	a, b := new(Handler), new(Handler)
	if a.stickyStore() != stickyIDs || b.stickyStore() != stickyIDs {
		t.Fatal("handlers do not share the process's sticky store")
	}
}

// X-LLM-Router-Model may name a discovered model: a key scoped to it reaches its provider's
// files.
func TestFilesModelHeaderNamesADiscoveredModel(t *testing.T) {
	accounts := newFakeAccounts()
	up := newFakeUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/v1/models" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, openRouterList)
			return
		}
		accounts.ServeHTTP(w, r)
	})
	p := provider("or", up.URL+"/v1", []string{"sk-acct-A-000001"})
	p.Discover = &catalog.DiscoverConfig{}
	p.Serves = []string{"chat", "files"}
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{p}, Auth: &AuthConfig{Keys: []GatewayKey{
		{Name: "scoped", Key: "gw-scoped-00000001", Models: []string{"openai/gpt-4o-mini"}}}}})
	body, ct := form(t, "purpose", "batch", "file", "@x")
	rec := tr.send(http.MethodPost, "/v1/files", ct, body, "Authorization", "Bearer gw-scoped-00000001", "X-LLM-Router-Model", "openai/gpt-4o-mini")
	if rec.Code != http.StatusOK {
		t.Fatalf("upload for a discovered model: %d %s", rec.Code, rec.Body)
	}
}
