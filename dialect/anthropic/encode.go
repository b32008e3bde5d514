package anthropic

import (
	"strconv"

	"github.com/llmrouter/caddy-llm-router/internal/jsonstr"
)

// AppendJSON appends the request as JSON to dst: the document json.Marshal writes, without
// reflection or encoding/json's re-validation of raw values (tool schemas, tool inputs), which
// are copied as they are: they come from a decoded, hence valid, document.
func (r *Request) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"model":`...)
	dst = jsonstr.Append(dst, r.Model)
	dst = append(dst, `,"messages":[`...)
	for i := range r.Messages {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"role":`...)
		dst = jsonstr.Append(dst, r.Messages[i].Role)
		dst = append(dst, `,"content":`...)
		dst = r.Messages[i].Content.appendJSON(dst)
		dst = append(dst, '}')
	}
	dst = append(dst, ']')
	if len(r.System) > 0 {
		dst = append(dst, `,"system":`...)
		dst = r.System.appendJSON(dst)
	}
	dst = append(dst, `,"max_tokens":`...)
	dst = strconv.AppendInt(dst, int64(r.MaxTokens), 10)
	if r.Metadata != nil {
		dst = append(dst, `,"metadata":{`...)
		if r.Metadata.UserID != "" {
			dst = append(dst, `"user_id":`...)
			dst = jsonstr.Append(dst, r.Metadata.UserID)
		}
		dst = append(dst, '}')
	}
	if len(r.StopSequences) > 0 {
		dst = append(dst, `,"stop_sequences":[`...)
		for i, s := range r.StopSequences {
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
	if r.Temperature != nil {
		dst = append(dst, `,"temperature":`...)
		dst = strconv.AppendFloat(dst, *r.Temperature, 'g', -1, 64)
	}
	if r.TopP != nil {
		dst = append(dst, `,"top_p":`...)
		dst = strconv.AppendFloat(dst, *r.TopP, 'g', -1, 64)
	}
	if r.TopK != nil {
		dst = append(dst, `,"top_k":`...)
		dst = strconv.AppendInt(dst, int64(*r.TopK), 10)
	}
	if len(r.Tools) > 0 {
		dst = append(dst, `,"tools":[`...)
		for i := range r.Tools {
			if i > 0 {
				dst = append(dst, ',')
			}
			t := &r.Tools[i]
			dst = append(dst, '{')
			if t.Type != "" {
				dst = append(dst, `"type":`...)
				dst = jsonstr.Append(dst, t.Type)
				dst = append(dst, ',')
			}
			dst = append(dst, `"name":`...)
			dst = jsonstr.Append(dst, t.Name)
			dst = appendStr(dst, `,"description":`, t.Description)
			dst = appendRaw(dst, `,"input_schema":`, t.InputSchema)
			dst = appendRaw(dst, `,"cache_control":`, t.CacheControl)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if tc := r.ToolChoice; tc != nil {
		dst = append(dst, `,"tool_choice":{"type":`...)
		dst = jsonstr.Append(dst, tc.Type)
		dst = appendStr(dst, `,"name":`, tc.Name)
		if tc.DisableParallelToolUse != nil {
			dst = append(dst, `,"disable_parallel_tool_use":`...)
			dst = strconv.AppendBool(dst, *tc.DisableParallelToolUse)
		}
		dst = append(dst, '}')
	}
	if th := r.Thinking; th != nil {
		dst = append(dst, `,"thinking":{"type":`...)
		dst = jsonstr.Append(dst, th.Type)
		if th.BudgetTokens != 0 {
			dst = append(dst, `,"budget_tokens":`...)
			dst = strconv.AppendInt(dst, int64(th.BudgetTokens), 10)
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

func (bs Blocks) appendJSON(dst []byte) []byte {
	dst = append(dst, '[')
	for i := range bs {
		if i > 0 {
			dst = append(dst, ',')
		}
		b := &bs[i]
		dst = append(dst, `{"type":`...)
		dst = jsonstr.Append(dst, b.Type)
		dst = appendStr(dst, `,"text":`, b.Text)
		if s := b.Source; s != nil {
			dst = append(dst, `,"source":{"type":`...)
			dst = jsonstr.Append(dst, s.Type)
			dst = appendStr(dst, `,"media_type":`, s.MediaType)
			dst = appendStr(dst, `,"data":`, s.Data)
			dst = appendStr(dst, `,"url":`, s.URL)
			dst = append(dst, '}')
		}
		dst = appendStr(dst, `,"id":`, b.ID)
		dst = appendStr(dst, `,"name":`, b.Name)
		dst = appendRaw(dst, `,"input":`, b.Input)
		dst = appendStr(dst, `,"tool_use_id":`, b.ToolUseID)
		if len(b.Content) > 0 {
			dst = append(dst, `,"content":`...)
			dst = b.Content.appendJSON(dst)
		}
		if b.IsError {
			dst = append(dst, `,"is_error":true`...)
		}
		dst = appendStr(dst, `,"thinking":`, b.Thinking)
		dst = appendStr(dst, `,"signature":`, b.Signature)
		dst = appendStr(dst, `,"data":`, b.Data)
		dst = appendRaw(dst, `,"cache_control":`, b.CacheControl)
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

func appendStr(dst []byte, key, s string) []byte {
	if s == "" {
		return dst
	}
	dst = append(dst, key...)
	return jsonstr.Append(dst, s)
}

func appendRaw(dst []byte, key string, raw []byte) []byte {
	if len(raw) == 0 {
		return dst
	}
	dst = append(dst, key...)
	return append(dst, raw...)
}
