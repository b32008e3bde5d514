package openai

import (
	"encoding/json"
	"strconv"

	"github.com/llmrouter/caddy-llm-router/internal/jsonstr"
)

// AppendJSON appends the request as JSON to dst, the same document json.Marshal writes but
// without reflection or the re-validation encoding/json gives every Marshaler's output: a
// translated Claude Code request is tens of kilobytes, translated once per attempt. Raw values
// (tool parameters, metadata, unknown parts) are copied as they are; they come from a decoded,
// hence valid, document.
func (r *Request) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"model":`...)
	dst = jsonstr.Append(dst, r.Model)
	dst = append(dst, `,"messages":[`...)
	for i := range r.Messages {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = r.Messages[i].appendJSON(dst)
	}
	dst = append(dst, ']')
	dst = appendIntPtr(dst, `,"max_tokens":`, r.MaxTokens)
	dst = appendIntPtr(dst, `,"max_completion_tokens":`, r.MaxCompletionTokens)
	dst = appendFloatPtr(dst, `,"temperature":`, r.Temperature)
	dst = appendFloatPtr(dst, `,"top_p":`, r.TopP)
	if len(r.Stop) > 0 {
		dst = append(dst, `,"stop":[`...)
		for i, s := range r.Stop {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = jsonstr.Append(dst, s)
		}
		dst = append(dst, ']')
	}
	if r.Stream {
		dst = append(dst, `,"stream":true`...)
	}
	if r.StreamOptions != nil {
		dst = append(dst, `,"stream_options":{"include_usage":`...)
		dst = strconv.AppendBool(dst, r.StreamOptions.IncludeUsage)
		dst = append(dst, '}')
	}
	if len(r.Tools) > 0 {
		dst = append(dst, `,"tools":[`...)
		for i := range r.Tools {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = r.Tools[i].appendJSON(dst)
		}
		dst = append(dst, ']')
	}
	if r.ToolChoice != nil {
		dst = append(dst, `,"tool_choice":`...)
		if r.ToolChoice.Function != "" {
			dst = append(dst, `{"type":"function","function":{"name":`...)
			dst = jsonstr.Append(dst, r.ToolChoice.Function)
			dst = append(dst, "}}"...)
		} else {
			dst = jsonstr.Append(dst, r.ToolChoice.Mode)
		}
	}
	if r.ParallelToolCalls != nil {
		dst = append(dst, `,"parallel_tool_calls":`...)
		dst = strconv.AppendBool(dst, *r.ParallelToolCalls)
	}
	dst = appendStr(dst, `,"user":`, r.User)
	dst = appendStr(dst, `,"reasoning_effort":`, r.ReasoningEffort)
	if rf := r.ResponseFormat; rf != nil {
		b, _ := json.Marshal(rf) // rare and small
		dst = append(dst, `,"response_format":`...)
		dst = append(dst, b...)
	}
	if len(r.Metadata) > 0 {
		dst = append(dst, `,"metadata":`...)
		dst = append(dst, r.Metadata...)
	}
	return append(dst, '}')
}

func (m *Message) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"role":`...)
	dst = jsonstr.Append(dst, m.Role)
	if m.Content != nil {
		dst = append(dst, `,"content":`...)
		dst = m.Content.appendJSON(dst)
	}
	dst = appendStr(dst, `,"name":`, m.Name)
	if len(m.ToolCalls) > 0 {
		dst = append(dst, `,"tool_calls":[`...)
		for i := range m.ToolCalls {
			if i > 0 {
				dst = append(dst, ',')
			}
			tc := &m.ToolCalls[i]
			dst = append(dst, '{')
			if tc.Index != nil {
				dst = append(dst, `"index":`...)
				dst = strconv.AppendInt(dst, int64(*tc.Index), 10)
				dst = append(dst, ',')
			}
			dst = appendStr(dst, `"id":`, tc.ID)
			if tc.ID != "" {
				dst = append(dst, ',')
			}
			dst = appendStr(dst, `"type":`, tc.Type)
			if tc.Type != "" {
				dst = append(dst, ',')
			}
			dst = append(dst, `"function":{`...)
			dst = appendStr(dst, `"name":`, tc.Function.Name)
			if tc.Function.Name != "" {
				dst = append(dst, ',')
			}
			dst = append(dst, `"arguments":`...)
			dst = jsonstr.Append(dst, tc.Function.Arguments)
			dst = append(dst, "}}"...)
		}
		dst = append(dst, ']')
	}
	dst = appendStr(dst, `,"tool_call_id":`, m.ToolCallID)
	dst = appendStr(dst, `,"reasoning_content":`, m.ReasoningContent)
	dst = appendStr(dst, `,"refusal":`, m.Refusal)
	return append(dst, '}')
}

func (c *Content) appendJSON(dst []byte) []byte {
	if c.Parts == nil {
		return jsonstr.Append(dst, c.Text)
	}
	dst = append(dst, '[')
	for i := range c.Parts {
		if i > 0 {
			dst = append(dst, ',')
		}
		p := &c.Parts[i]
		switch {
		case p.Raw != nil:
			dst = append(dst, p.Raw...)
		case p.Type == "image_url":
			dst = append(dst, `{"type":"image_url","image_url":`...)
			if p.ImageURL == nil {
				dst = append(dst, "null}"...)
				continue
			}
			dst = append(dst, `{"url":`...)
			dst = jsonstr.Append(dst, p.ImageURL.URL)
			dst = appendStr(dst, `,"detail":`, p.ImageURL.Detail)
			dst = append(dst, "}}"...)
		default:
			dst = append(dst, `{"type":`...)
			dst = jsonstr.Append(dst, p.Type)
			dst = append(dst, `,"text":`...)
			dst = jsonstr.Append(dst, p.Text)
			dst = append(dst, '}')
		}
	}
	return append(dst, ']')
}

func (t *Tool) appendJSON(dst []byte) []byte {
	dst = append(dst, `{"type":`...)
	dst = jsonstr.Append(dst, t.Type)
	if f := t.Function; f != nil {
		dst = append(dst, `,"function":{"name":`...)
		dst = jsonstr.Append(dst, f.Name)
		dst = appendStr(dst, `,"description":`, f.Description)
		if len(f.Parameters) > 0 {
			dst = append(dst, `,"parameters":`...)
			dst = append(dst, f.Parameters...)
		}
		if f.Strict != nil {
			dst = append(dst, `,"strict":`...)
			dst = strconv.AppendBool(dst, *f.Strict)
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

func appendStr(dst []byte, key, s string) []byte {
	if s == "" {
		return dst
	}
	dst = append(dst, key...)
	return jsonstr.Append(dst, s)
}

func appendIntPtr(dst []byte, key string, n *int) []byte {
	if n == nil {
		return dst
	}
	dst = append(dst, key...)
	return strconv.AppendInt(dst, int64(*n), 10)
}

func appendFloatPtr(dst []byte, key string, f *float64) []byte {
	if f == nil {
		return dst
	}
	dst = append(dst, key...)
	return strconv.AppendFloat(dst, *f, 'g', -1, 64)
}
