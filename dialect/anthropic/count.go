package anthropic

import "strconv"

// ImageTokens is what EstimateTokens counts for one image: about what Anthropic bills for an
// image at the largest size it keeps without downscaling (about 1.15 megapixels / 750).
const ImageTokens = 1600

// EstimateTokens estimates the input tokens of a /v1/messages/count_tokens (or /v1/messages)
// body, for when the upstream is not Anthropic and cannot count: the bytes of every text the
// model reads (system, text blocks, thinking, tool inputs and results, tool names, descriptions
// and schemas) divided by 4, rounded up, plus ImageTokens per image or document and 4 per
// message for the turn framing. It is an estimate (real tokenizers give about 3.5 to 4.5 bytes
// a token for English and code, fewer for other scripts), meant to keep clients such as Claude
// Code working, not to bill by. Errors wrap ErrBadRequest.
func EstimateTokens(body []byte) (int, error) {
	var r Request
	if err := DecodeRequest(body, &r); err != nil {
		return 0, err
	}
	return r.EstimateTokens(), nil
}

// EstimateTokens is EstimateTokens for a decoded request.
func (r *Request) EstimateTokens() int {
	bytes, fixed := 0, 0
	var count func(bs Blocks)
	count = func(bs Blocks) {
		for _, b := range bs {
			bytes += len(b.Text) + len(b.Thinking) + len(b.Name) + len(b.Input)
			switch b.Type {
			case "image", "document":
				if b.Source != nil && b.Source.Type == "text" {
					bytes += len(b.Source.Data)
				} else {
					fixed += ImageTokens
				}
			}
			count(b.Content)
		}
	}
	count(r.System)
	for _, m := range r.Messages {
		fixed += 4
		count(m.Content)
	}
	for _, t := range r.Tools {
		bytes += len(t.Name) + len(t.Description) + len(t.InputSchema)
	}
	return (bytes+3)/4 + fixed
}

// AppendCountTokens appends the count_tokens reply {"input_tokens":n} to dst.
func AppendCountTokens(dst []byte, n int) []byte {
	dst = append(dst, `{"input_tokens":`...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '}')
}
