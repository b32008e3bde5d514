package sse

import (
	"bytes"
	"strings"
	"testing"
)

func TestFilterAppend(t *testing.T) {
	openai := Filter{}
	anthro := Filter{KeepEventNames: true}
	all := Filter{KeepEventNames: true, KeepComments: true}
	tests := []struct {
		name string
		f    Filter
		ev   string
		want string
	}{
		{"data kept", openai, "data: x\n\n", "data: x\n\n"},
		{"keepalive dropped", openai, ": keepalive\n\n", ""},
		{"keepalive kept on request", all, ": keepalive\n\n", ": keepalive\n\n"},
		{"bare colon comment", openai, ":\n\n", ""},
		{"event dropped", openai, "event: delta\ndata: x\n\n", "data: x\n\n"},
		{"event kept", anthro, "event: delta\ndata: x\n\n", "event: delta\ndata: x\n\n"},
		{"event only", openai, "event: ping\n\n", ""},
		{"comment between data lines", openai, "data: a\n: c\ndata: b\n\n", "data: a\ndata: b\n\n"},
		{"id and retry kept", openai, "id: 1\nretry: 10\ndata: x\n\n", "id: 1\nretry: 10\ndata: x\n\n"},
		{"field without colon", openai, "data\nid\nevent\n\n", "data\nid\n\n"},
		{"no space after colon", openai, "data:x\nevent:y\n\n", "data:x\n\n"},
		{"unknown field dropped", all, "foo: 1\ndata: x\n\n", "data: x\n\n"},
		{"field name is exact", all, "datas: 1\ndat: 2\nDATA: 3\n\n", ""},
		{"bom field dropped", all, "\xef\xbb\xbfdata: x\n\n", ""},
		{"empty", openai, "", ""},
		{"blank only", openai, "\n", ""},
		// Not in normal form: the output still is.
		{"missing blank line", openai, "data: x\n", "data: x\n\n"},
		{"missing line end", openai, "data: x", "data: x\n\n"},
		{"missing line end after drop", openai, ": c\ndata: x", "data: x\n\n"},
		{"inner blank line", openai, "data: a\n\ndata: b\n\n", "data: a\ndata: b\n\n"},
		{"leading blank line", openai, "\ndata: a\n\n", "data: a\n\n"},
		{"extra blank lines", openai, "data: a\n\n\n", "data: a\n\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.f.Append(nil, []byte(tc.ev)); string(got) != tc.want {
				t.Fatalf("Append(nil, %q) = %q, want %q", tc.ev, got, tc.want)
			}
			dst := []byte("prefix\n\n")
			got := tc.f.Append(dst, []byte(tc.ev))
			if string(got) != "prefix\n\n"+tc.want {
				t.Fatalf("Append(prefix, %q) = %q, want the prefix kept", tc.ev, got)
			}
		})
	}
}

// refFilter is the obviously right, slow filter Append must match.
func refFilter(f Filter, ev []byte) string {
	var out strings.Builder
	for _, l := range strings.Split(string(ev), "\n") {
		if l == "" {
			continue
		}
		name, _, _ := strings.Cut(l, ":")
		keep := false
		switch {
		case l[0] == ':':
			keep = f.KeepComments
		case name == "data" || name == "id" || name == "retry":
			keep = true
		case name == "event":
			keep = f.KeepEventNames
		}
		if keep {
			out.WriteString(l + "\n")
		}
	}
	if out.Len() > 0 {
		out.WriteString("\n")
	}
	return out.String()
}

func FuzzFilter(f *testing.F) {
	for _, tc := range streamCases {
		if len(tc.in) < 1<<10 {
			f.Add([]byte(tc.in), uint8(0))
			f.Add([]byte(tc.in), uint8(3))
		}
	}
	for _, ev := range []string{"event: a\n: b\ndata: c\n\n", "data: a\n\n\ndata", ":\n\n", "\n\n\n"} {
		f.Add([]byte(ev), uint8(1))
	}
	f.Fuzz(func(t *testing.T, ev []byte, flags uint8) {
		flt := Filter{KeepEventNames: flags&1 != 0, KeepComments: flags&2 != 0}
		orig := bytes.Clone(ev)
		got := flt.Append([]byte("p"), ev)
		if !bytes.Equal(ev, orig) {
			t.Fatalf("Append modified its input")
		}
		if got[0] != 'p' {
			t.Fatalf("Append lost dst: %q", got)
		}
		out := got[1:]
		if want := refFilter(flt, ev); string(out) != want {
			t.Fatalf("Append(%q) = %q, want %q", ev, out, want)
		}
		if len(out) > 0 && (!bytes.HasSuffix(out, []byte("\n\n")) || bytes.Contains(out[:len(out)-1], []byte("\n\n"))) {
			t.Fatalf("output %q is not one event ending in one blank line", out)
		}
		if again := flt.Append(nil, out); !bytes.Equal(again, out) {
			t.Fatalf("filtering twice changed %q into %q", out, again)
		}
		// Relay writes verbatim events without copying: that must be safe.
		if _, verbatim := flt.scan(ev); verbatim && !bytes.Equal(ev, out) {
			t.Fatalf("scan claimed %q passes verbatim, Append made %q", ev, out)
		}
	})
}
