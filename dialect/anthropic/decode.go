package anthropic

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/llmrouter/caddy-llm-router/dialect/internal/wire"
)

// decode decodes a Messages request body into r, the fast way when it can; errors wrap
// ErrBadRequest.
func decode(body []byte, r *Request) error {
	if decodeRequest(body, r) {
		return nil
	}
	*r = Request{}
	if err := json.Unmarshal(body, r); err != nil {
		return badRequest("%v", err)
	}
	return nil
}

// decodeRequest decodes a Messages request without reflection, for the 50 KB requests Claude
// Code sends on every turn: encoding/json scans each string-or-array content value several
// times. It reports false, leaving r partly written, for anything it does not decode exactly as
// json.Unmarshal would (null, duplicate or case-folded keys, escaped keys, numbers or types that
// json.Unmarshal refuses); the caller then uses json.Unmarshal, which also gives
// the error message. A fuzz target holds both decoders equal wherever this one answers.
func decodeRequest(body []byte, r *Request) bool {
	if !json.Valid(body) {
		return false
	}
	d := decoder{ok: true}
	d.request(body, r)
	return d.ok
}

type decoder struct{ ok bool }

func (d *decoder) fail() { d.ok = false }

var (
	requestKeys    = []string{"model", "messages", "system", "max_tokens", "metadata", "stop_sequences", "stream", "temperature", "top_p", "top_k", "tools", "tool_choice", "thinking"}
	messageKeys    = []string{"role", "content"}
	blockKeys      = []string{"type", "text", "source", "id", "name", "input", "tool_use_id", "content", "is_error", "thinking", "signature", "data", "cache_control"}
	sourceKeys     = []string{"type", "media_type", "data", "url"}
	toolKeys       = []string{"type", "name", "description", "input_schema", "cache_control"}
	toolChoiceKeys = []string{"type", "name", "disable_parallel_tool_use"}
	thinkingKeys   = []string{"type", "budget_tokens"}
	metadataKeys   = []string{"user_id"}
)

// fields calls f for every member of obj; f returns the member's index in keys, or -1 for a
// key it ignores. A key seen twice, escaped, null-valued or matching a known key only
// case-insensitively fails the decoder (json.Unmarshal's rules for those differ).
func (d *decoder) fields(obj []byte, keys []string, f func(i int, val []byte)) {
	if len(obj) == 0 || obj[0] != '{' {
		d.fail()
		return
	}
	var seen uint64
	for k, v, p, ok := wire.Field(obj, 0); ok && d.ok; k, v, p, ok = wire.Field(obj, p) {
		i := -1
		for j, name := range keys {
			if string(k) == name {
				i = j
				break
			}
		}
		if i < 0 {
			if bytes.IndexByte(k, '\\') >= 0 {
				d.fail()
				return
			}
			for _, name := range keys {
				if bytes.EqualFold(k, []byte(name)) {
					d.fail()
					return
				}
			}
			continue
		}
		if seen&(1<<i) != 0 || string(v) == "null" {
			d.fail()
			return
		}
		seen |= 1 << i
		f(i, v)
	}
}

func (d *decoder) str(raw []byte) string {
	s, ok := wire.Unquote(raw)
	if !ok {
		d.fail()
	}
	return s
}

func (d *decoder) int(raw []byte) int {
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		d.fail()
	}
	return int(n)
}

func (d *decoder) float(raw []byte) *float64 {
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		d.fail()
		return nil
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		d.fail()
	}
	return &f
}

func (d *decoder) bool(raw []byte) bool {
	switch string(raw) {
	case "true":
		return true
	case "false":
		return false
	}
	d.fail()
	return false
}

func (d *decoder) raw(raw []byte) json.RawMessage { return append(json.RawMessage(nil), raw...) }

// each calls f for every element of the array arr.
func (d *decoder) each(arr []byte, f func(elem []byte)) {
	if len(arr) == 0 || arr[0] != '[' {
		d.fail()
		return
	}
	for e, p := wire.Elem(arr, 0); e != nil && d.ok; e, p = wire.Elem(arr, p) {
		f(e)
	}
}

func (d *decoder) request(body []byte, r *Request) {
	d.fields(body, requestKeys, func(i int, v []byte) {
		switch i {
		case 0:
			r.Model = d.str(v)
		case 1:
			r.Messages = make([]Message, 0, 16)
			d.each(v, func(e []byte) {
				var m Message
				d.fields(e, messageKeys, func(i int, v []byte) {
					if i == 0 {
						m.Role = d.str(v)
					} else {
						m.Content = d.blocks(v)
					}
				})
				r.Messages = append(r.Messages, m)
			})
		case 2:
			r.System = d.blocks(v)
		case 3:
			r.MaxTokens = d.int(v)
		case 4:
			r.Metadata = &Metadata{}
			d.fields(v, metadataKeys, func(_ int, v []byte) { r.Metadata.UserID = d.str(v) })
		case 5:
			r.StopSequences = []string{}
			d.each(v, func(e []byte) { r.StopSequences = append(r.StopSequences, d.str(e)) })
		case 6:
			r.Stream = d.bool(v)
		case 7:
			r.Temperature = d.float(v)
		case 8:
			r.TopP = d.float(v)
		case 9:
			n := d.int(v)
			r.TopK = &n
		case 10:
			r.Tools = make([]Tool, 0, 16)
			d.each(v, func(e []byte) {
				var t Tool
				d.fields(e, toolKeys, func(i int, v []byte) {
					switch i {
					case 0:
						t.Type = d.str(v)
					case 1:
						t.Name = d.str(v)
					case 2:
						t.Description = d.str(v)
					case 3:
						t.InputSchema = d.raw(v)
					case 4:
						t.CacheControl = d.raw(v)
					}
				})
				r.Tools = append(r.Tools, t)
			})
		case 11:
			tc := &ToolChoice{}
			d.fields(v, toolChoiceKeys, func(i int, v []byte) {
				switch i {
				case 0:
					tc.Type = d.str(v)
				case 1:
					tc.Name = d.str(v)
				case 2:
					b := d.bool(v)
					tc.DisableParallelToolUse = &b
				}
			})
			r.ToolChoice = tc
		case 12:
			th := &Thinking{}
			d.fields(v, thinkingKeys, func(i int, v []byte) {
				if i == 0 {
					th.Type = d.str(v)
				} else {
					th.BudgetTokens = d.int(v)
				}
			})
			r.Thinking = th
		}
	})
}

// blocks decodes a string (one text block) or an array of blocks, as Blocks.UnmarshalJSON.
func (d *decoder) blocks(v []byte) Blocks {
	if len(v) > 0 && v[0] == '"' {
		return Blocks{{Type: "text", Text: d.str(v)}}
	}
	out := make(Blocks, 0, 4)
	d.each(v, func(e []byte) {
		var b Block
		d.fields(e, blockKeys, func(i int, v []byte) {
			switch i {
			case 0:
				b.Type = d.str(v)
			case 1:
				b.Text = d.str(v)
			case 2:
				s := &Source{}
				d.fields(v, sourceKeys, func(i int, v []byte) {
					switch i {
					case 0:
						s.Type = d.str(v)
					case 1:
						s.MediaType = d.str(v)
					case 2:
						s.Data = d.str(v)
					case 3:
						s.URL = d.str(v)
					}
				})
				b.Source = s
			case 3:
				b.ID = d.str(v)
			case 4:
				b.Name = d.str(v)
			case 5:
				b.Input = d.raw(v)
			case 6:
				b.ToolUseID = d.str(v)
			case 7:
				b.Content = d.blocks(v)
			case 8:
				b.IsError = d.bool(v)
			case 9:
				b.Thinking = d.str(v)
			case 10:
				b.Signature = d.str(v)
			case 11:
				b.Data = d.str(v)
			case 12:
				b.CacheControl = d.raw(v)
			}
		})
		out = append(out, b)
	})
	return out
}
