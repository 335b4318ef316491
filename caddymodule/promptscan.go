package caddymodule

// scanPrompt returns the parts of body that Ollama reads as the start of the model's prompt, as the request
// carries them (JSON, still escaped): a chat's "messages" array (/api/chat, /v1/chat/completions), or a generate
// request's "system" and then "prompt" (/api/generate, /v1/completions). The next turn of a conversation resends
// them with more at the end, so their bytes start with this turn's. shared is how many bytes at the start of
// first are a system prompt: a chat's leading system message, a generate request's "system"; conversations
// behind the same system prompt share them. A member cut short by max_body, or left malformed, yields what was
// read of it; members after it are not seen.
func scanPrompt(body []byte) (first, then []byte, shared int) {
	i := skipJSONSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return nil, nil, 0
	}
	for next := i + 1; next >= 0; {
		var key, value []byte
		key, value, next = member(body, next)
		switch string(key) {
		case "messages":
			first, shared = value, systemLen(value)
		case "system":
			first, shared = value, len(value)
		case "prompt":
			then = value
		}
	}
	return first, then, shared
}

// systemLen is the length in bytes of a chat's messages array up to the end of its first message when that is
// a whole system message, else 0.
func systemLen(messages []byte) int {
	i := skipJSONSpace(messages, 0)
	if i >= len(messages) || messages[i] != '[' {
		return 0
	}
	i = skipJSONSpace(messages, i+1)
	if i >= len(messages) || messages[i] != '{' {
		return 0
	}
	end, ok := skipJSONValue(messages, i)
	if !ok {
		return 0
	}
	for next := i + 1; next >= 0; {
		var key, value []byte
		key, value, next = member(messages[:end], next)
		if string(key) == "role" {
			if string(value) == `"system"` {
				return end
			}
			return 0
		}
	}
	return 0
}

// member reads the object member that starts at b[i:] (after the object's '{' or a ','): its key and its
// value, as b carries them, and where the next member starts, -1 after the last one. Where b is cut short or
// malformed, it yields what was read of the value (nil key where no key was read) and -1.
func member(b []byte, i int) (key, value []byte, next int) {
	i = skipJSONSpace(b, i)
	if i >= len(b) || b[i] != '"' {
		return nil, nil, -1
	}
	keyEnd, _, ok := scanJSONString(b, i+1)
	if !ok {
		return nil, nil, -1
	}
	key = b[i+1 : keyEnd]
	i = skipJSONSpace(b, keyEnd+1)
	if i >= len(b) || b[i] != ':' {
		return nil, nil, -1
	}
	start := skipJSONSpace(b, i+1)
	if start >= len(b) {
		return nil, nil, -1
	}
	end, ok := skipJSONValue(b, start)
	if !ok {
		return key, b[start:], -1
	}
	value = b[start:end]
	if i = skipJSONSpace(b, end); i >= len(b) || b[i] != ',' {
		return key, value, -1
	}
	return key, value, i + 1
}
