package wire

import "testing"

func TestEvent(t *testing.T) {
	for _, tc := range []struct {
		ev, name, data string
		ok             bool
	}{
		{"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n", "message_stop", `{"type":"message_stop"}`, true},
		{"data: [DONE]\n\n", "", "[DONE]", true},
		{"data:x\n\n", "", "x", true},
		{"data: a\ndata: b\ndata: c\n\n", "", "a\nb\nc", true},
		{": keepalive\n\n", "", "", false},
		{"event: ping\n\n", "ping", "", false},
		{"id: 3\nevent: e\nretry: 1\ndata: d\n\n", "e", "d", true},
	} {
		name, data, ok := Event([]byte(tc.ev))
		if string(name) != tc.name || string(data) != tc.data || ok != tc.ok {
			t.Errorf("Event(%q) = %q, %q, %v", tc.ev, name, data, ok)
		}
	}
}

func TestScan(t *testing.T) {
	d := []byte(`{"a":{"b":[1, "x,]", {"c":2}], "n": null},"s":"q\"","i":12,"f":3.9}`)
	if got := string(Path(d, "a", "b")); got != `[1, "x,]", {"c":2}]` {
		t.Errorf("Path = %s", got)
	}
	var elems []string
	arr := Path(d, "a", "b")
	for e, p := Elem(arr, 0); e != nil; e, p = Elem(arr, p) {
		elems = append(elems, string(e))
	}
	if len(elems) != 3 || elems[1] != `"x,]"` || elems[2] != `{"c":2}` {
		t.Errorf("elems %q", elems)
	}
	if e, _ := Elem([]byte(`[]`), 0); e != nil {
		t.Errorf("empty array gave %s", e)
	}
	if e, _ := Elem([]byte(`{}`), 0); e != nil {
		t.Errorf("object gave %s", e)
	}
	if Path(d, "a", "n") != nil || Key(d, "zz") != nil {
		t.Errorf("null or absent not nil")
	}
	if !Is(Key(d, "s"), `q\"`) || Is(Key(d, "i"), "12") || !IsString(Key(d, "s")) {
		t.Errorf("Is")
	}
	if Int(Key(d, "i")) != 12 || Int(Key(d, "f")) != 3 || Int(Key(d, "s")) != 0 || Int(nil) != 0 {
		t.Errorf("Int")
	}
	if !EmptyString(nil) || !EmptyString([]byte(`""`)) || EmptyString([]byte(`"a"`)) {
		t.Errorf("EmptyString")
	}
}

func TestField(t *testing.T) {
	d := []byte(` { "a" : 1 , "b":{"x":[1,{"y":"}"}]},"c\"":"s", "d":null } `)
	var got []string
	for k, v, p, ok := Field(d, 0); ok; k, v, p, ok = Field(d, p) {
		got = append(got, string(k)+"="+string(v))
	}
	want := []string{`a=1`, `b={"x":[1,{"y":"}"}]}`, `c\"="s"`, `d=null`}
	if len(got) != len(want) {
		t.Fatalf("%q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%d: %q, want %q", i, got[i], want[i])
		}
	}
	for _, bad := range []string{`[]`, `{}`, ``, `"x"`} {
		if _, _, _, ok := Field([]byte(bad), 0); ok {
			t.Errorf("%q gave a field", bad)
		}
	}
}
