package wire

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// Decoder holds the helpers of the dialects' reflection-free request decoders. Each helper
// decodes a raw value exactly as json.Unmarshal would decode it into the Go type it returns, or
// marks the Decoder failed (OK false) where the two could differ or json.Unmarshal would
// refuse: the caller then decodes with json.Unmarshal instead. Start with OK true, on a
// document that passed json.Valid.
type Decoder struct{ OK bool }

// Fail marks the decoding failed.
func (d *Decoder) Fail() { d.OK = false }

// Fields calls f with the index in keys and the value of every member of obj whose key is in
// keys; other members are skipped. A key seen twice, escaped, or matching a known key only
// case-insensitively fails the decoder (json.Unmarshal folds case and merges repeats), and so
// does a null value (json.Unmarshal's rules for null differ by type).
func (d *Decoder) Fields(obj []byte, keys []string, f func(i int, val []byte)) {
	if len(obj) == 0 || obj[0] != '{' {
		d.Fail()
		return
	}
	var seen uint64
	for k, v, p, ok := Field(obj, 0); ok && d.OK; k, v, p, ok = Field(obj, p) {
		i := -1
		for j, name := range keys {
			if string(k) == name {
				i = j
				break
			}
		}
		if i < 0 {
			if bytes.IndexByte(k, '\\') >= 0 {
				d.Fail()
				return
			}
			for _, name := range keys {
				if bytes.EqualFold(k, []byte(name)) {
					d.Fail()
					return
				}
			}
			continue
		}
		if seen&(1<<i) != 0 || string(v) == "null" {
			d.Fail()
			return
		}
		seen |= 1 << i
		f(i, v)
	}
}

// Each calls f for every element of the array arr.
func (d *Decoder) Each(arr []byte, f func(elem []byte)) {
	if len(arr) == 0 || arr[0] != '[' {
		d.Fail()
		return
	}
	for e, p := Elem(arr, 0); e != nil && d.OK; e, p = Elem(arr, p) {
		f(e)
	}
}

// Str decodes a string.
func (d *Decoder) Str(raw []byte) string {
	s, ok := Unquote(raw)
	if !ok {
		d.Fail()
	}
	return s
}

// Int decodes an int; a fraction or exponent fails, as json.Unmarshal refuses it.
func (d *Decoder) Int(raw []byte) int {
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		d.Fail()
	}
	return int(n)
}

// Float decodes a float64.
func (d *Decoder) Float(raw []byte) *float64 {
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		d.Fail()
		return nil
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		d.Fail()
	}
	return &f
}

// Bool decodes a bool.
func (d *Decoder) Bool(raw []byte) bool {
	switch string(raw) {
	case "true":
		return true
	case "false":
		return false
	}
	d.Fail()
	return false
}

// Raw copies a value as json.RawMessage does.
func (d *Decoder) Raw(raw []byte) json.RawMessage { return append(json.RawMessage(nil), raw...) }
