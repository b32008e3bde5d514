package wire

import "testing"

func TestToolCalls(t *testing.T) {
	type step struct {
		delta        string
		call         int
		begun, valid bool
	}
	for name, steps := range map[string][]step{
		"indexes in order, ids on the first deltas": {
			{`{"index":0,"id":"a","function":{"name":"f"}}`, 0, true, true},
			{`{"index":0,"function":{"arguments":"{}"}}`, 0, false, true},
			{`{"index":1,"id":"b"}`, 1, true, true},
			{`{"index":0,"function":{"arguments":"x"}}`, 0, false, true},
		},
		"every call under index 0 (Ollama)": {
			{`{"index":0,"id":"a"}`, 0, true, true},
			{`{"index":0,"id":"b"}`, 1, true, true},
			{`{"index":0,"function":{"arguments":"x"}}`, 1, false, true},
			{`{"index":0,"id":"b"}`, 1, false, true},
		},
		"no index, the id repeated on every delta": {
			{`{"id":"a"}`, 0, true, true},
			{`{"id":"a","function":{"arguments":"x"}}`, 0, false, true},
			{`{"id":"b"}`, 1, true, true},
			{`{"function":{"arguments":"y"}}`, 1, false, true},
		},
		"an id after a call began without one": {
			{`{"index":0,"function":{"name":"f"}}`, 0, true, true},
			{`{"index":0,"id":"a"}`, 0, false, true},
		},
		"bad indexes": {
			{`{"index":-1,"id":"a"}`, 0, false, false},
			{`{"index":4,"id":"a"}`, 0, false, false},
		},
		"too many calls": {
			{`{"index":0,"id":"a"}`, 0, true, true},
			{`{"index":0,"id":"b"}`, 1, true, true},
			{`{"index":0,"id":"c"}`, 2, true, true},
			{`{"index":0,"id":"d"}`, 3, true, true},
			{`{"index":0,"id":"e"}`, 0, false, false},
		},
	} {
		var c ToolCalls
		for i, s := range steps {
			call, begun, ok := c.Call([]byte(s.delta), 4)
			if ok != s.valid || ok && (call != s.call || begun != s.begun) {
				t.Errorf("%s, delta %d: call %d begun %v ok %v, want %d %v %v", name, i, call, begun, ok, s.call, s.begun, s.valid)
			}
		}
	}
}
