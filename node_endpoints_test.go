package llmrouter

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/llmrouter/caddy-llm-router/catalog"
)

// nodeUpload is the file endpoints.mjs uploads: bytes a text round trip would break.
var nodeUpload = []byte{0x89, 0x50, 0x4e, 0x47, 0x00, 0xff, 0xfe, 0x0d, 0x0a, 0x2d, 0x2d, 0x78, 0x0d, 0x0a, 0x41}

// nodeSpeech is the audio the fake speaks, in three pieces.
var nodeSpeech = []string{"ID3\x04\x00\x00", "\xff\xfb\x90\x00frame-one", "\xff\xfb\x90\x00frame-two\x00"}

// mediaUpstream answers images, audio, moderations and rerank like OpenAI (and Jina for
// rerank). An image reply carries the uploaded image's bytes, base64, so the client can tell
// they arrived unchanged.
func mediaUpstream(t *testing.T) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		js := func(v string) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, v)
		}
		var f map[string]string
		if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
			body, _ := io.ReadAll(r.Body)
			f = parseForm(t, recorded{Header: r.Header, Body: body})
		}
		switch r.URL.Path {
		case "/v1/images/generations":
			js(`{"created":1,"data":[{"b64_json":"` + base64.StdEncoding.EncodeToString([]byte("generated")) + `"}]}`)
		case "/v1/images/edits", "/v1/images/variations":
			js(`{"created":1,"data":[{"b64_json":"` + base64.StdEncoding.EncodeToString([]byte(f["image"])) + `"}]}`)
		case "/v1/audio/speech":
			w.Header().Set("Content-Type", "audio/mpeg")
			for _, p := range nodeSpeech {
				_, _ = io.WriteString(w, p)
				w.(http.Flusher).Flush()
			}
		case "/v1/audio/transcriptions":
			if f["response_format"] == "text" {
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				_, _ = io.WriteString(w, "hello as text\n")
				return
			}
			js(`{"text":"hello as json"}`)
		case "/v1/audio/translations":
			js(`{"text":"translated"}`)
		case "/v1/moderations":
			js(`{"id":"modr-1","model":"mod-up","results":[{"flagged":false,"categories":{},"category_scores":{}}]}`)
		case "/v1/rerank":
			js(`{"model":"rr-up","results":[{"index":1,"relevance_score":0.93},{"index":0,"relevance_score":0.02}],"usage":{"total_tokens":9}}`)
		default:
			http.NotFound(w, r)
		}
	}
}

// TestNodeEndpoints drives images, audio, moderations, rerank, files and batches with the
// openai npm package (endpoints.mjs) and checks both what it got and what the fakes received:
// the model swapped in every body, multipart fields and file bytes intact, the audio's bytes
// unchanged, and every follow-up on a file or batch at the key that made it (the accounts fake
// answers 404 at the other key).
func TestNodeEndpoints(t *testing.T) {
	node := nodeReady(t)
	media := newFakeUpstream(t, mediaUpstream(t))
	fa := newFakeAccounts()
	accts := newFakeUpstream(t, fa.ServeHTTP)
	pm := provider("media", media.URL+"/v1", []string{"sk-media-0000001"}, "img", "img-up", "tts", "tts-up", "stt", "stt-up", "mod", "mod-up", "rr", "rr-up")
	pm.Serves = []string{"images", "audio", "moderations", "rerank"}
	pa := provider("oa", accts.URL+"/v1", []string{"sk-acct-A-000001", "sk-acct-B-000002"}, "m", "m-up")
	pa.Serves = []string{"chat", "files", "batches"}
	tr := newTestRouter(t, &Handler{Providers: []catalog.ProviderConfig{pm, pa}})
	stdout, stderr := runNodeScript(t, node, "endpoints.mjs", serveRouter(t, tr).URL+"/v1")

	type result struct {
		Error, B64, Audio, Type, Text, Model, Message, Code, Provider string
		Status, Top                                                   int
		Flagged                                                       bool
	}
	var out struct {
		ImageGenerate, ImageEdit, ImageVariation, Speech, Transcription, TranscriptionText, Translation,
		Moderation, Rerank, UnknownFile result
		Files struct {
			Error                 string
			IDs                   []string `json:"ids"`
			Listed, Got, Contents []string
			Batches               []struct{ ID, Again, Status string }
			BatchList             []string `json:"batchList"`
			Deleted               bool
			AfterDelete           int `json:"afterDelete"`
		}
	}
	if err := json.Unmarshal(stdout, &out); err != nil {
		t.Fatalf("script output is not JSON: %v\n%s\nstderr: %s", err, stdout, stderr)
	}
	for name, r := range map[string]result{"imageGenerate": out.ImageGenerate, "imageEdit": out.ImageEdit, "imageVariation": out.ImageVariation,
		"speech": out.Speech, "transcription": out.Transcription, "transcriptionText": out.TranscriptionText, "translation": out.Translation,
		"moderation": out.Moderation, "rerank": out.Rerank} {
		if r.Error != "" {
			t.Errorf("%s: client error %q", name, r.Error)
		}
	}
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	if out.ImageGenerate.B64 != b64([]byte("generated")) {
		t.Errorf("images.generate: %+v", out.ImageGenerate)
	}
	if out.ImageEdit.B64 != b64(nodeUpload) || out.ImageVariation.B64 != b64(nodeUpload) {
		t.Errorf("the image reached the upstream changed: edit %q variation %q", out.ImageEdit.B64, out.ImageVariation.B64)
	}
	if out.Speech.Audio != b64([]byte(strings.Join(nodeSpeech, ""))) || out.Speech.Type != "audio/mpeg" {
		t.Errorf("speech: %+v", out.Speech)
	}
	if out.Transcription.Text != "hello as json" || out.TranscriptionText.Text != "hello as text\n" || out.Translation.Text != "translated" {
		t.Errorf("transcriptions %+v %+v, translation %+v", out.Transcription, out.TranscriptionText, out.Translation)
	}
	if out.Moderation.Flagged || out.Moderation.Model != "mod-up" {
		t.Errorf("moderation: %+v", out.Moderation)
	}
	if out.Rerank.Status != 200 || out.Rerank.Top != 1 || out.Rerank.Provider != "media" {
		t.Errorf("rerank: %+v", out.Rerank)
	}

	// What the media fake received, call by call.
	want := map[string]struct {
		model  string
		fields map[string]string
	}{
		"/v1/images/edits":         {"img-up", map[string]string{"prompt": "add a hat", "image": string(nodeUpload)}},
		"/v1/images/variations":    {"img-up", map[string]string{"image": string(nodeUpload)}},
		"/v1/audio/transcriptions": {"stt-up", map[string]string{"file": string(nodeUpload)}},
		"/v1/audio/translations":   {"stt-up", map[string]string{"file": string(nodeUpload)}},
	}
	seen := map[string]int{}
	for _, r := range media.received() {
		seen[r.Path]++
		if r.Header.Get("Authorization") != "Bearer sk-media-0000001" {
			t.Errorf("%s: key header %q", r.Path, r.Header.Get("Authorization"))
		}
		if w, ok := want[r.Path]; ok {
			f := parseForm(t, r)
			if f["model"] != w.model {
				t.Errorf("%s: model %q, want %q", r.Path, f["model"], w.model)
			}
			for k, v := range w.fields {
				if f[k] != v {
					t.Errorf("%s: field %s = %q, want %q", r.Path, k, f[k], v)
				}
			}
			continue
		}
		var v struct{ Model string }
		if err := json.Unmarshal(r.Body, &v); err != nil || !strings.HasSuffix(v.Model, "-up") {
			t.Errorf("%s: body %s", r.Path, r.Body)
		}
	}
	if len(seen) != 8 || seen["/v1/audio/transcriptions"] != 2 {
		t.Errorf("the media fake saw %v", seen)
	}

	// Files and batches.
	fs := out.Files
	if fs.Error != "" {
		t.Fatalf("files: client error %q", fs.Error)
	}
	if len(fs.IDs) != 2 || fs.IDs[0][5] == fs.IDs[1][5] {
		t.Fatalf("uploads %v: want one at each key", fs.IDs)
	}
	sorted := func(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }
	if !slices.Equal(sorted(fs.Listed), sorted(fs.IDs)) || !slices.Equal(fs.Got, fs.IDs) {
		t.Errorf("listed %v, retrieved %v, want %v", fs.Listed, fs.Got, fs.IDs)
	}
	jsonl := append([]byte(`{"custom_id":"1","method":"POST","url":"/v1/chat/completions","body":{"model":"m"}}`+"\n"), nodeUpload...)
	for _, c := range fs.Contents {
		if c != b64(jsonl) {
			t.Errorf("file content %q, want the uploaded bytes", c)
		}
	}
	var batchIDs []string
	for i, b := range fs.Batches {
		if b.ID[6] != fs.IDs[i][5] || b.Again != b.ID || b.Status != "cancelling" {
			t.Errorf("batch %+v on file %s", b, fs.IDs[i])
		}
		batchIDs = append(batchIDs, b.ID)
	}
	if !slices.Equal(sorted(fs.BatchList), sorted(batchIDs)) {
		t.Errorf("batch list %v, want %v", fs.BatchList, batchIDs)
	}
	if !fs.Deleted || fs.AfterDelete != 404 {
		t.Errorf("delete %v, then retrieve %d", fs.Deleted, fs.AfterDelete)
	}
	if u := out.UnknownFile; u.Status != 404 || u.Code != "file_not_found" || !strings.Contains(u.Message, "through this router") {
		t.Errorf("unknown file: %+v", u)
	}
	// Every call on an id went to the key in its name; the accounts fake saw each key.
	keys := map[string]int{}
	for _, r := range accts.received() {
		k := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer sk-acct-")
		keys[k[:1]]++
		for _, id := range append(slices.Clone(fs.IDs), batchIDs...) {
			tag := id[strings.IndexAny(id, "AB")]
			if strings.Contains(r.Path, id) && tag != k[0] {
				t.Errorf("%s %s went to key %c", r.Path, id, k[0])
			}
		}
		if bytes.Contains(r.Body, []byte("gateway-key")) || strings.Contains(headerText(r.Header), "gateway-key") {
			t.Errorf("the client's gateway key reached the upstream")
		}
	}
	if keys["A"] == 0 || keys["B"] == 0 {
		t.Errorf("keys used %v", keys)
	}
}
