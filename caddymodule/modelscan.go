package caddymodule

import (
	"bytes"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// maxScanDepth is the deepest nesting of arrays and objects, the top-level
// object included, that scanModel skips over: the limit encoding/json puts on
// a valid document. Anything deeper is rejected.
const maxScanDepth = 10000

// shortJSONString is how many bytes skipJSONString scans one at a time
// before it switches to bytes.IndexByte.
const shortJSONString = 16

// Flags scanJSONString reports about a string's contents.
const (
	jsonStrEscaped  = 1 << iota // contains at least one backslash escape
	jsonStrNonASCII             // contains at least one byte >= 0x80
)

// scanModel returns the model that Ollama reads from the JSON object in body, without decoding the rest of the
// body. It is meant for the request bodies of Ollama's /api/generate, /api/chat, /api/embed and /api/embeddings
// and of OpenAI's /v1/chat/completions, /v1/completions and /v1/embeddings, which all carry the model name as a
// top-level string. Ollama binds them with encoding/json into a struct with a `json:"model"` field, and scanModel
// follows what that binding does:
//
//   - body must be a JSON object, optionally surrounded by JSON whitespace. Anything else (an array, a string,
//     a number, null, an empty or whitespace-only body) gives ok == false. Bytes after the object's closing
//     brace are not read, as Ollama's decoder reads one value.
//   - Keys are compared after JSON unescaping and without regard to ASCII case, so "mod\u0065l", "Model" and
//     "MODEL" are all the model member (no other rune folds to a letter of "model" in encoding/json).
//   - Of several model members the last string wins; a null one leaves the model read before it, as null
//     leaves a Go string unchanged. Any other value (a number, a boolean, an array, an object) makes Ollama
//     refuse the request, and gives ok == false.
//   - Members may come in any order with whitespace anywhere JSON allows it. The other values are skipped by
//     scanning bytes: strings from quote to quote (bytes.IndexByte past their first bytes), arrays and objects
//     by tracking depth and string state, so a "model" inside messages, options, tools or another nested value,
//     or a `"model": "x"` inside a string, is never taken for the top-level one.
//   - The model string is unescaped exactly as encoding/json does it: \" \\ \/ \b \f \n \r \t and \uXXXX, with
//     UTF-16 surrogate pairs combined; a lone surrogate and each byte of invalid UTF-8 become U+FFFD. An empty
//     string gives ("", true).
//   - Malformed or truncated JSON gives ok == false, unless cut says that the caller cut the body short at a
//     size limit: then the scan stops where the body ends and returns the last model read before that point (a
//     model member past the cut is not seen). scanModel never panics and never reads outside body. The check is
//     structural, not a full validation: it verifies the top-level object's keys, colons and commas; the
//     top-level scalar values; bracket matching of skipped arrays and objects (by kind for the outermost 64
//     levels of each, by count below that, with encoding/json's nesting limit); and the bytes and escapes of the
//     keys and of the model strings. It does not check numbers, literals, control characters or escapes inside
//     skipped arrays, objects and strings: a body that is invalid only there may still yield a model, which is
//     harmless for routing because Ollama rejects the request.
//
// For every body that encoding/json accepts as valid, scanModel returns the model that json.Unmarshal decodes into
// a `json:"model"` string field, and ok == false where json.Unmarshal fails. It allocates nothing except the
// returned string (one allocation, none for an empty string).
func scanModel(body []byte, cut bool) (model string, ok bool) {
	var seen modelSeen
	i := skipJSONSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return "", false
	}
	i = skipJSONSpace(body, i+1)
	if i < len(body) && body[i] == '}' {
		return "", false // {}
	}
	for {
		// Key.
		i = skipJSONSpace(body, i)
		if i >= len(body) || body[i] != '"' {
			return seen.stopped(cut)
		}
		keyStart := i + 1
		keyEnd, keyFlags, ok := scanJSONString(body, keyStart)
		if !ok {
			return seen.stopped(cut)
		}
		// Colon.
		i = skipJSONSpace(body, keyEnd+1)
		if i >= len(body) || body[i] != ':' {
			return seen.stopped(cut)
		}
		i = skipJSONSpace(body, i+1)
		if i >= len(body) {
			return seen.stopped(cut)
		}
		// Value.
		if keyIsModel(body[keyStart:keyEnd], keyFlags) {
			i, ok = seen.read(body, i)
		} else {
			i, ok = skipJSONValue(body, i)
		}
		if !ok {
			return seen.stopped(cut)
		}
		// Comma, or the end of the object.
		i = skipJSONSpace(body, i)
		if i >= len(body) {
			return seen.stopped(cut)
		}
		switch body[i] {
		case ',':
			i++
		case '}':
			return seen.result()
		default:
			return seen.stopped(cut)
		}
	}
}

// modelSeen is what scanModel has read of the model members so far.
type modelSeen struct {
	raw   []byte // the last string's contents, still escaped
	flags uint8  // scanJSONString's flags for raw
	found bool   // a string was read
	bad   bool   // a value that is neither a string nor null was read
}

// read reads the value of a model member at body[i] and returns the index just after it.
func (m *modelSeen) read(body []byte, i int) (int, bool) {
	switch body[i] {
	case '"':
		end, flags, ok := scanJSONString(body, i+1)
		if !ok {
			return 0, false
		}
		*m = modelSeen{raw: body[i+1 : end], flags: flags, found: true, bad: m.bad}
		return end + 1, true
	case 'n':
		j, ok := skipJSONScalar(body, i)
		return j, ok && string(body[i:j]) == "null"
	}
	m.bad = true
	return skipJSONValue(body, i)
}

// result is the model of a body read to the end of its object.
func (m *modelSeen) result() (string, bool) {
	if !m.found || m.bad {
		return "", false
	}
	return decodeJSONString(m.raw, m.flags), true
}

// stopped is the model of a body that does not go on as a JSON object: none, unless the caller cut it short.
func (m *modelSeen) stopped(cut bool) (string, bool) {
	if !cut {
		return "", false
	}
	return m.result()
}

func isJSONSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t'
}

// skipJSONSpace returns the index of the first non-whitespace byte at or
// after i, or len(b).
func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && isJSONSpace(b[i]) {
		i++
	}
	return i
}

// scanJSONString scans the string whose contents start at b[i] (just after
// the opening quote), checking every byte and escape as encoding/json would.
// It returns the index of the closing quote and flags describing the
// contents.
func scanJSONString(b []byte, i int) (end int, flags uint8, ok bool) {
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			return i, flags, true
		case c == '\\':
			flags |= jsonStrEscaped
			if i+1 >= len(b) {
				return 0, 0, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) {
					return 0, 0, false
				}
				if _, ok := parseHex4(b[i+2 : i+6]); !ok {
					return 0, 0, false
				}
				i += 6
			default:
				return 0, 0, false
			}
		case c < 0x20:
			return 0, 0, false
		case c >= utf8.RuneSelf:
			flags |= jsonStrNonASCII
			i++
		default:
			i++
		}
	}
	return 0, 0, false
}

// parseHex4 decodes four hex digits.
func parseHex4(b []byte) (rune, bool) {
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// decodeJSONRune decodes the rune at s[i] of string contents s that scanJSONString
// accepted, returning it and the number of bytes of s it consumed. It follows
// encoding/json: a lone or mismatched surrogate escape and each invalid UTF-8
// byte give utf8.RuneError.
func decodeJSONRune(s []byte, i int) (rune, int) {
	c := s[i]
	if c >= utf8.RuneSelf {
		return utf8.DecodeRune(s[i:])
	}
	if c != '\\' {
		return rune(c), 1
	}
	switch s[i+1] {
	case 'b':
		return '\b', 2
	case 'f':
		return '\f', 2
	case 'n':
		return '\n', 2
	case 'r':
		return '\r', 2
	case 't':
		return '\t', 2
	case 'u':
		r, _ := parseHex4(s[i+2 : i+6])
		if !utf16.IsSurrogate(r) {
			return r, 6
		}
		// s[i+6] starts an escape if it is a backslash, and a \u escape was
		// checked by scanJSONString to have four hex digits.
		if i+12 <= len(s) && s[i+6] == '\\' && s[i+7] == 'u' {
			r2, _ := parseHex4(s[i+8 : i+12])
			if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
				return d, 12
			}
		}
		return utf8.RuneError, 6
	default: // '"', '\\', '/'
		return rune(s[i+1]), 2
	}
}

// keyIsModel reports whether the raw key contents equal "model" once unescaped, ignoring ASCII case as
// encoding/json's field matching does, without allocating.
func keyIsModel(raw []byte, flags uint8) bool {
	const want = "model"
	if flags&jsonStrEscaped == 0 {
		if len(raw) != len(want) {
			return false
		}
		for k := range len(want) {
			if raw[k]|0x20 != want[k] {
				return false
			}
		}
		return true
	}
	k := 0
	for i := 0; i < len(raw); {
		r, n := decodeJSONRune(raw, i)
		if k >= len(want) || r|0x20 != rune(want[k]) {
			return false
		}
		k++
		i += n
	}
	return k == len(want)
}

// decodeJSONString unescapes string contents that scanJSONString accepted, with one
// allocation for the result.
func decodeJSONString(raw []byte, flags uint8) string {
	if flags&jsonStrEscaped == 0 && (flags&jsonStrNonASCII == 0 || utf8.Valid(raw)) {
		return string(raw)
	}
	n := 0
	for i := 0; i < len(raw); {
		r, w := decodeJSONRune(raw, i)
		n += utf8.RuneLen(r)
		i += w
	}
	var sb strings.Builder
	sb.Grow(n)
	for i := 0; i < len(raw); {
		r, w := decodeJSONRune(raw, i)
		sb.WriteRune(r)
		i += w
	}
	return sb.String()
}

// skipJSONValue skips the value starting at b[i] (a non-whitespace byte) and
// returns the index just after it.
func skipJSONValue(b []byte, i int) (int, bool) {
	switch b[i] {
	case '"':
		return skipJSONString(b, i+1)
	case '{', '[':
		return skipJSONContainer(b, i)
	default:
		return skipJSONScalar(b, i)
	}
}

// skipJSONString skips string contents starting at b[i] (just after the
// opening quote) and returns the index just after the closing quote. Short strings
// (keys, roles) are scanned byte by byte; past shortJSONString bytes it jumps
// from quote to quote with bytes.IndexByte, where a quote is escaped exactly
// when an odd number of backslashes precedes it.
func skipJSONString(b []byte, i int) (int, bool) {
	for stop := min(i+shortJSONString, len(b)); i < stop; {
		switch b[i] {
		case '"':
			return i + 1, true
		case '\\':
			i += 2 // may step past stop or len(b); both are checked below
		default:
			i++
		}
	}
	if i >= len(b) {
		return 0, false
	}
	// i is not inside an escape: the loop above consumed escapes whole, so
	// only backslashes at or after i are counted.
	for {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return 0, false
		}
		j += i
		k := j
		for k > i && b[k-1] == '\\' {
			k--
		}
		if (j-k)%2 == 0 {
			return j + 1, true
		}
		i = j + 1
	}
}

// skipJSONContainer skips the array or object starting at b[i] and returns
// the index just after its closing bracket. Brackets must match in kind for the
// outermost 64 levels and in number below that.
func skipJSONContainer(b []byte, i int) (int, bool) {
	var kinds uint64 // bit d set: level d is an object
	depth := 0
	for i < len(b) {
		switch c := b[i]; c {
		case '"':
			var ok bool
			if i, ok = skipJSONString(b, i+1); !ok {
				return 0, false
			}
			continue
		case '{', '[':
			// The top-level object is one level of its own.
			if depth >= maxScanDepth-1 {
				return 0, false
			}
			if depth < 64 {
				if c == '{' {
					kinds |= 1 << depth
				} else {
					kinds &^= 1 << depth
				}
			}
			depth++
		case '}', ']':
			depth--
			if depth < 64 && (kinds>>depth&1 == 1) != (c == '}') {
				return 0, false
			}
			if depth == 0 {
				return i + 1, true
			}
		}
		i++
	}
	return 0, false
}

// skipJSONScalar skips the number or literal starting at b[i] and returns the
// index just after it. The token must be complete: a scalar that runs into the
// end of the body may have been cut short.
func skipJSONScalar(b []byte, i int) (int, bool) {
	j := i
	for j < len(b) && isJSONScalarByte(b[j]) {
		j++
	}
	if j == len(b) || !validJSONScalar(b[i:j]) {
		return 0, false
	}
	return j, true
}

func isJSONScalarByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'E'
}

// validJSONScalar reports whether tok is true, false, null or a JSON number.
func validJSONScalar(tok []byte) bool {
	switch string(tok) {
	case "true", "false", "null":
		return true
	}
	i := 0
	if i < len(tok) && tok[i] == '-' {
		i++
	}
	switch {
	case i < len(tok) && tok[i] == '0':
		i++
	case i < len(tok) && '1' <= tok[i] && tok[i] <= '9':
		i = skipJSONDigits(tok, i)
	default:
		return false
	}
	if i < len(tok) && tok[i] == '.' {
		j := skipJSONDigits(tok, i+1)
		if j == i+1 {
			return false
		}
		i = j
	}
	if i < len(tok) && (tok[i] == 'e' || tok[i] == 'E') {
		i++
		if i < len(tok) && (tok[i] == '+' || tok[i] == '-') {
			i++
		}
		j := skipJSONDigits(tok, i)
		if j == i {
			return false
		}
		i = j
	}
	return i == len(tok)
}

func skipJSONDigits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}
