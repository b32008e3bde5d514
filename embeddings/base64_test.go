package embeddings

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"testing"
)

// decode is what the openai Node SDK does with a base64 embedding: little-endian float32.
func decode(t *testing.T, s string) []float32 {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw)%4 != 0 {
		t.Fatalf("not base64 float32: %q (%v)", s, err)
	}
	out := make([]float32, len(raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out
}

func TestToBase64EncodesFloatArrays(t *testing.T) {
	in := []byte(`{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5,-1.25,3e-2]},` +
		`{"object":"embedding","index":1,"embedding":[]}],"model":"m","usage":{"prompt_tokens":2,"total_tokens":2}}`)
	out, changed := ToBase64(in)
	if !changed {
		t.Fatal("float arrays left as they were")
	}
	var got struct {
		Object string `json:"object"`
		Model  string `json:"model"`
		Data   []struct {
			Object    string `json:"object"`
			Index     int    `json:"index"`
			Embedding string `json:"embedding"`
		} `json:"data"`
		Usage struct {
			PromptTokens int `json:"prompt_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got.Object != "list" || got.Model != "m" || got.Usage.PromptTokens != 2 || len(got.Data) != 2 {
		t.Fatalf("other fields lost: %s", out)
	}
	want := []float32{0.5, -1.25, 0.03}
	v := decode(t, got.Data[0].Embedding)
	if len(v) != len(want) {
		t.Fatalf("decoded %v, want %v", v, want)
	}
	for i := range want {
		if v[i] != want[i] {
			t.Errorf("value %d: %v, want %v", i, v[i], want[i])
		}
	}
	if got.Data[1].Index != 1 || got.Data[1].Object != "embedding" || len(decode(t, got.Data[1].Embedding)) != 0 {
		t.Errorf("second item: %+v", got.Data[1])
	}
}

// Replies that need nothing, or that this function does not understand, pass byte for byte.
func TestToBase64LeavesOthersAlone(t *testing.T) {
	for _, in := range []string{
		`{"object":"list","data":[{"object":"embedding","index":0,"embedding":"AAAAPw=="}]}`,
		`{"error":{"message":"bad","type":"invalid_request_error"}}`,
		`{"data":[{"embedding":[1,"x"]}]}`,
		`{"data":{"embedding":[1]}}`,
		`not json "embedding"`,
	} {
		out, changed := ToBase64([]byte(in))
		if changed || string(out) != in {
			t.Errorf("%s changed to %s", in, out)
		}
	}
}
