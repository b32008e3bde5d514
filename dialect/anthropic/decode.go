package anthropic

import (
	"encoding/json"

	"github.com/llmrouter/caddy-llm-router/dialect/internal/wire"
)

// DecodeRequest decodes a Messages request body into r (as json.Unmarshal would, without
// reflection where it can); errors wrap ErrBadRequest. For callers that need the decoded
// request more than once (EstimateTokens for message_start, then ToOpenAIRequest).
func DecodeRequest(body []byte, r *Request) error {
	if decodeFast(body, r) {
		return nil
	}
	*r = Request{}
	if err := json.Unmarshal(body, r); err != nil {
		return badRequest("%v", err)
	}
	return nil
}

// decodeFast decodes a Messages request without reflection, for the 50 KB requests Claude
// Code sends on every turn: encoding/json scans each string-or-array content value several
// times. It reports false, leaving r partly written, for anything it does not decode exactly as
// json.Unmarshal would (null, duplicate or case-folded keys, escaped keys, numbers or types that
// json.Unmarshal refuses); the caller then uses json.Unmarshal, which also gives
// the error message. A fuzz target holds both decoders equal wherever this one answers.
func decodeFast(body []byte, r *Request) bool {
	if !json.Valid(body) {
		return false
	}
	d := decoder{wire.Decoder{OK: true}}
	d.request(body, r)
	return d.OK
}

type decoder struct{ wire.Decoder }

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

func (d *decoder) request(body []byte, r *Request) {
	d.Fields(body, requestKeys, func(i int, v []byte) {
		switch i {
		case 0:
			r.Model = d.Str(v)
		case 1:
			r.Messages = make([]Message, 0, 16)
			d.Each(v, func(e []byte) {
				var m Message
				d.Fields(e, messageKeys, func(i int, v []byte) {
					if i == 0 {
						m.Role = d.Str(v)
					} else {
						m.Content = d.blocks(v)
					}
				})
				r.Messages = append(r.Messages, m)
			})
		case 2:
			r.System = d.blocks(v)
		case 3:
			r.MaxTokens = d.Int(v)
		case 4:
			r.Metadata = &Metadata{}
			d.Fields(v, metadataKeys, func(_ int, v []byte) { r.Metadata.UserID = d.Str(v) })
		case 5:
			r.StopSequences = []string{}
			d.Each(v, func(e []byte) { r.StopSequences = append(r.StopSequences, d.Str(e)) })
		case 6:
			r.Stream = d.Bool(v)
		case 7:
			r.Temperature = d.Float(v)
		case 8:
			r.TopP = d.Float(v)
		case 9:
			n := d.Int(v)
			r.TopK = &n
		case 10:
			r.Tools = make([]Tool, 0, 16)
			d.Each(v, func(e []byte) {
				var t Tool
				d.Fields(e, toolKeys, func(i int, v []byte) {
					switch i {
					case 0:
						t.Type = d.Str(v)
					case 1:
						t.Name = d.Str(v)
					case 2:
						t.Description = d.Str(v)
					case 3:
						t.InputSchema = d.Raw(v)
					case 4:
						t.CacheControl = d.Raw(v)
					}
				})
				r.Tools = append(r.Tools, t)
			})
		case 11:
			tc := &ToolChoice{}
			d.Fields(v, toolChoiceKeys, func(i int, v []byte) {
				switch i {
				case 0:
					tc.Type = d.Str(v)
				case 1:
					tc.Name = d.Str(v)
				case 2:
					b := d.Bool(v)
					tc.DisableParallelToolUse = &b
				}
			})
			r.ToolChoice = tc
		case 12:
			th := &Thinking{}
			d.Fields(v, thinkingKeys, func(i int, v []byte) {
				if i == 0 {
					th.Type = d.Str(v)
				} else {
					th.BudgetTokens = d.Int(v)
				}
			})
			r.Thinking = th
		}
	})
}

// blocks decodes a string (one text block) or an array of blocks, as Blocks.UnmarshalJSON.
func (d *decoder) blocks(v []byte) Blocks {
	if len(v) > 0 && v[0] == '"' {
		return Blocks{{Type: "text", Text: d.Str(v)}}
	}
	out := make(Blocks, 0, 4)
	d.Each(v, func(e []byte) {
		var b Block
		d.Fields(e, blockKeys, func(i int, v []byte) {
			switch i {
			case 0:
				b.Type = d.Str(v)
			case 1:
				b.Text = d.Str(v)
			case 2:
				s := &Source{}
				d.Fields(v, sourceKeys, func(i int, v []byte) {
					switch i {
					case 0:
						s.Type = d.Str(v)
					case 1:
						s.MediaType = d.Str(v)
					case 2:
						s.Data = d.Str(v)
					case 3:
						s.URL = d.Str(v)
					}
				})
				b.Source = s
			case 3:
				b.ID = d.Str(v)
			case 4:
				b.Name = d.Str(v)
			case 5:
				b.Input = d.Raw(v)
			case 6:
				b.ToolUseID = d.Str(v)
			case 7:
				b.Content = d.blocks(v)
			case 8:
				b.IsError = d.Bool(v)
			case 9:
				b.Thinking = d.Str(v)
			case 10:
				b.Signature = d.Str(v)
			case 11:
				b.Data = d.Str(v)
			case 12:
				b.CacheControl = d.Raw(v)
			}
		})
		out = append(out, b)
	})
	return out
}
