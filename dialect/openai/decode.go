package openai

import (
	"encoding/json"

	"github.com/llmrouter/caddy-llm-router/dialect/internal/wire"
)

// DecodeRequest decodes a chat completion request body into r, as json.Unmarshal does but
// without reflection for the requests clients send: the document is validated once and
// walked, instead of every string-or-parts content value being scanned again per nesting
// level. Anything the walker would not decode exactly as json.Unmarshal (null, duplicate,
// escaped or case-folded keys, numbers json refuses) is decoded by json.Unmarshal, whose error
// is returned. A fuzz target holds both decoders equal.
func DecodeRequest(body []byte, r *Request) error {
	if json.Valid(body) {
		d := decoder{wire.Decoder{OK: true}}
		var fast Request
		d.request(body, &fast)
		if d.OK {
			*r = fast
			return nil
		}
	}
	*r = Request{}
	return json.Unmarshal(body, r)
}

type decoder struct{ wire.Decoder }

var (
	requestKeys = []string{"model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "stop", "stream",
		"stream_options", "tools", "tool_choice", "parallel_tool_calls", "user", "reasoning_effort", "response_format", "metadata"}
	messageKeys    = []string{"role", "content", "name", "tool_calls", "tool_call_id", "reasoning_content", "refusal"}
	partKeys       = []string{"type", "text", "image_url"}
	imageURLKeys   = []string{"url", "detail"}
	toolCallKeys   = []string{"index", "id", "type", "function"}
	callKeys       = []string{"name", "arguments"}
	toolKeys       = []string{"type", "function"}
	functionKeys   = []string{"name", "description", "parameters", "strict"}
	choiceKeys     = []string{"type", "function"}
	nameKeys       = []string{"name"}
	streamOptKeys  = []string{"include_usage"}
	respFormatKeys = []string{"type", "json_schema"}
	schemaKeys     = []string{"name", "description", "schema", "strict"}
)

func (d *decoder) intPtr(v []byte) *int {
	n := d.Int(v)
	return &n
}

func (d *decoder) boolPtr(v []byte) *bool {
	b := d.Bool(v)
	return &b
}

func (d *decoder) request(body []byte, r *Request) {
	d.Fields(body, requestKeys, func(i int, v []byte) {
		switch i {
		case 0:
			r.Model = d.Str(v)
		case 1:
			r.Messages = make([]Message, 0, 16)
			d.Each(v, func(e []byte) {
				var m Message
				d.message(e, &m)
				r.Messages = append(r.Messages, m)
			})
		case 2:
			r.MaxTokens = d.intPtr(v)
		case 3:
			r.MaxCompletionTokens = d.intPtr(v)
		case 4:
			r.Temperature = d.Float(v)
		case 5:
			r.TopP = d.Float(v)
		case 6:
			if v[0] == '"' {
				r.Stop = StringList{d.Str(v)}
				return
			}
			r.Stop = StringList{}
			d.Each(v, func(e []byte) { r.Stop = append(r.Stop, d.Str(e)) })
		case 7:
			r.Stream = d.Bool(v)
		case 8:
			r.StreamOptions = &StreamOptions{}
			d.Fields(v, streamOptKeys, func(_ int, v []byte) { r.StreamOptions.IncludeUsage = d.Bool(v) })
		case 9:
			r.Tools = make([]Tool, 0, 16)
			d.Each(v, func(e []byte) {
				var t Tool
				d.Fields(e, toolKeys, func(i int, v []byte) {
					if i == 0 {
						t.Type = d.Str(v)
						return
					}
					f := &FunctionDef{}
					d.Fields(v, functionKeys, func(i int, v []byte) {
						switch i {
						case 0:
							f.Name = d.Str(v)
						case 1:
							f.Description = d.Str(v)
						case 2:
							f.Parameters = d.Raw(v)
						case 3:
							f.Strict = d.boolPtr(v)
						}
					})
					t.Function = f
				})
				r.Tools = append(r.Tools, t)
			})
		case 10:
			tc := &ToolChoice{}
			if v[0] == '"' {
				tc.Mode = d.Str(v)
			} else {
				d.Fields(v, choiceKeys, func(i int, v []byte) {
					if i == 0 {
						d.Str(v) // must be a string; its value is not kept
						return
					}
					d.Fields(v, nameKeys, func(_ int, v []byte) { tc.Function = d.Str(v) })
				})
				if tc.Function == "" {
					d.Fail() // json.Unmarshal refuses it (ToolChoice.UnmarshalJSON)
				}
			}
			r.ToolChoice = tc
		case 11:
			r.ParallelToolCalls = d.boolPtr(v)
		case 12:
			r.User = d.Str(v)
		case 13:
			r.ReasoningEffort = d.Str(v)
		case 14:
			rf := &ResponseFormat{}
			d.Fields(v, respFormatKeys, func(i int, v []byte) {
				if i == 0 {
					rf.Type = d.Str(v)
					return
				}
				s := &JSONSchema{}
				d.Fields(v, schemaKeys, func(i int, v []byte) {
					switch i {
					case 0:
						s.Name = d.Str(v)
					case 1:
						s.Description = d.Str(v)
					case 2:
						s.Schema = d.Raw(v)
					case 3:
						s.Strict = d.boolPtr(v)
					}
				})
				rf.JSONSchema = s
			})
			r.ResponseFormat = rf
		case 15:
			r.Metadata = d.Raw(v)
		}
	})
}

func (d *decoder) message(e []byte, m *Message) {
	d.Fields(e, messageKeys, func(i int, v []byte) {
		switch i {
		case 0:
			m.Role = d.Str(v)
		case 1:
			m.Content = d.content(v)
		case 2:
			m.Name = d.Str(v)
		case 3:
			m.ToolCalls = make([]ToolCall, 0, 2)
			d.Each(v, func(e []byte) {
				var tc ToolCall
				d.Fields(e, toolCallKeys, func(i int, v []byte) {
					switch i {
					case 0:
						tc.Index = d.intPtr(v)
					case 1:
						tc.ID = d.Str(v)
					case 2:
						tc.Type = d.Str(v)
					case 3:
						d.Fields(v, callKeys, func(i int, v []byte) {
							if i == 0 {
								tc.Function.Name = d.Str(v)
							} else {
								tc.Function.Arguments = d.Str(v)
							}
						})
					}
				})
				m.ToolCalls = append(m.ToolCalls, tc)
			})
		case 4:
			m.ToolCallID = d.Str(v)
		case 5:
			m.ReasoningContent = d.Str(v)
		case 6:
			m.Refusal = d.Str(v)
		}
	})
}

// content decodes as Content.UnmarshalJSON and ContentPart.UnmarshalJSON do.
func (d *decoder) content(v []byte) *Content {
	if v[0] != '[' {
		return &Content{Text: d.Str(v)}
	}
	c := &Content{Parts: make([]ContentPart, 0, 4)}
	d.Each(v, func(e []byte) {
		var p ContentPart
		var text string
		var img []byte
		d.Fields(e, partKeys, func(i int, v []byte) {
			switch i {
			case 0:
				p.Type = d.Str(v)
			case 1:
				text = d.Str(v) // decoded (and so checked) whatever the type, as json does
			case 2:
				img = v
			}
		})
		switch p.Type {
		case "text":
			p.Text = text
		case "image_url":
			p.ImageURL = &ImageURL{}
			switch {
			case img == nil:
				d.Fail() // json.Unmarshal refuses a missing image_url
			case img[0] == '"':
				p.ImageURL.URL = d.Str(img)
			default:
				d.Fields(img, imageURLKeys, func(i int, v []byte) {
					if i == 0 {
						p.ImageURL.URL = d.Str(v)
					} else {
						p.ImageURL.Detail = d.Str(v)
					}
				})
			}
		default:
			p.Raw = d.Raw(e)
		}
		c.Parts = append(c.Parts, p)
	})
	return c
}
