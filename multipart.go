package llmrouter

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/llmrouter/caddy-llm-router/reqbody"
)

// Multipart uploads (audio transcriptions and translations, image edits and variations) name
// their model in a form field. The body is already buffered once (reqbody.ReadLimited); this
// finds where the model part's value lies in it, without copying the form or decoding its
// files, so that each target's body is the client's bytes with its upstream id spliced over
// that value (reqbody.Splice): every other part, the boundary and the Content-Type are kept.

// errBadMultipart marks a body that is not the multipart/form-data its Content-Type says.
var errBadMultipart = errors.New("request body is not a valid multipart/form-data body")

// maxModelField bounds the model field's value: a model name, not a file.
const maxModelField = 512

// scanMultipart finds the "model" field of a multipart/form-data body, and reads a "stream"
// field of "true". The Fields it returns locate the model's value (ModelStart, ModelEnd) for
// reqbody.Splice; End is the body's length. An absent model is reqbody.ErrNoModel, a repeated
// one reqbody.ErrDuplicateModel; needModel false (files uploads) allows its absence.
func scanMultipart(contentType string, body []byte, needModel bool) (reqbody.Fields, error) {
	f := reqbody.Fields{End: len(body), ModelStart: -1}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/form-data" {
		return f, fmt.Errorf("%w: Content-Type is %q, want multipart/form-data with a boundary", errBadMultipart, clipEcho(contentType))
	}
	boundary := params["boundary"]
	if boundary == "" || len(boundary) > 70 {
		return f, fmt.Errorf("%w: Content-Type has no valid boundary", errBadMultipart)
	}
	delim := []byte("--" + boundary)
	next := append([]byte("\r\n"), delim...)
	// The first delimiter opens the body, or follows a preamble and a line break.
	i := 0
	if !bytes.HasPrefix(body, delim) {
		j := bytes.Index(body, next)
		if j < 0 {
			return f, fmt.Errorf("%w: no boundary found", errBadMultipart)
		}
		i = j + 2
	}
	seenStream := false
	for {
		i += len(delim)
		if bytes.HasPrefix(body[i:], []byte("--")) {
			break // the closing delimiter; an epilogue may follow
		}
		for i < len(body) && (body[i] == ' ' || body[i] == '\t') {
			i++
		}
		if !bytes.HasPrefix(body[i:], []byte("\r\n")) {
			return f, fmt.Errorf("%w: a boundary is not followed by a line break", errBadMultipart)
		}
		i += 2
		hdrEnd := bytes.Index(body[i:], []byte("\r\n\r\n"))
		if hdrEnd < 0 {
			return f, fmt.Errorf("%w: a part's headers do not end", errBadMultipart)
		}
		name := partName(body[i : i+hdrEnd])
		start := i + hdrEnd + 4
		end := delimiterAt(body, start, next)
		if end < 0 {
			return f, fmt.Errorf("%w: the body ends inside a part (no closing boundary)", errBadMultipart)
		}
		switch name {
		case "model":
			if f.ModelStart >= 0 {
				return f, fmt.Errorf("%w: the form has more than one model field", reqbody.ErrDuplicateModel)
			}
			v := body[start:end]
			if len(v) > maxModelField || !utf8.Valid(v) || bytes.ContainsAny(v, "\r\n") {
				return f, fmt.Errorf("%w: the form's model field is not a model name", reqbody.ErrModelNotString)
			}
			f.Model, f.ModelStart, f.ModelEnd = string(v), start, end
		case "stream":
			if !seenStream {
				seenStream = true
				f.Stream = strings.TrimSpace(string(body[start:end])) == "true"
			}
		}
		i = end + 2
	}
	if f.Model == "" && needModel {
		return f, fmt.Errorf("%w: the multipart form has no model field (or it is empty)", reqbody.ErrNoModel)
	}
	if f.ModelStart < 0 {
		f.ModelStart, f.ModelEnd = 0, 0
	}
	return f, nil
}

// partName is the form field name in a part's headers ("" when none): the name parameter of
// its Content-Disposition.
func partName(hdr []byte) string {
	for len(hdr) > 0 {
		line := hdr
		if j := bytes.Index(hdr, []byte("\r\n")); j >= 0 {
			line, hdr = hdr[:j], hdr[j+2:]
		} else {
			hdr = nil
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok || !strings.EqualFold(string(bytes.TrimSpace(k)), "Content-Disposition") {
			continue
		}
		if _, params, err := mime.ParseMediaType(string(v)); err == nil {
			return params["name"]
		}
	}
	return ""
}

// delimiterAt finds the next delimiter line (CRLF, "--boundary", then "--" or optional
// blanks and CRLF) at or after from; a "--boundary" that goes on with other text is content,
// as mime/multipart reads it. It returns the offset of the CRLF, or -1.
func delimiterAt(body []byte, from int, next []byte) int {
	for from <= len(body) {
		j := bytes.Index(body[from:], next)
		if j < 0 {
			return -1
		}
		at := from + j
		rest := body[at+len(next):]
		if bytes.HasPrefix(rest, []byte("--")) {
			return at
		}
		rest = bytes.TrimLeft(rest, " \t")
		if bytes.HasPrefix(rest, []byte("\r\n")) {
			return at
		}
		from = at + 1
	}
	return -1
}
