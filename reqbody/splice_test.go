package reqbody

import (
	"io"
	"testing"
)

func TestSplice(t *testing.T) {
	b := []byte("--x\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper\r\n--x--\r\n")
	start := len("--x\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n")
	end := start + len("whisper")
	for _, tc := range []struct {
		start, end  int
		value, want string
	}{
		{start, end, "whisper-large-v3", "--x\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-large-v3\r\n--x--\r\n"},
		{start, end, "", "--x\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\n\r\n--x--\r\n"},
		{0, 0, "", string(b)},
	} {
		body := Splice(b, tc.start, tc.end, tc.value)
		got, err := io.ReadAll(body.Reader())
		if err != nil || string(got) != tc.want || body.Len() != int64(len(tc.want)) || string(body.Bytes()) != tc.want {
			t.Errorf("Splice(%d, %d, %q) = %q (len %d, err %v), want %q", tc.start, tc.end, tc.value, got, body.Len(), err, tc.want)
		}
	}
}
