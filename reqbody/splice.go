package reqbody

// Splice returns b with b[start:end] replaced by value, sent as it is (no JSON quoting): the
// value of a multipart form field, whose part keeps its headers and boundary around it. With
// start == end == 0 and an empty value it is b unchanged, as a Body. b is shared, not copied:
// it must stay unchanged while the Body or any of its readers is in use.
func Splice(b []byte, start, end int, value string) Body {
	var out Body
	out.parts[0] = b[:start]
	out.parts[1] = []byte(value)
	out.parts[2] = b[end:]
	out.n = int64(start + len(value) + len(b) - end)
	return out
}
