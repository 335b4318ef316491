package caddymodule

// scanPrompt returns the parts of body that Ollama reads as the start of the model's prompt, as the request
// carries them (JSON, still escaped): a chat's "messages" array (/api/chat, /v1/chat/completions), or a generate
// request's "system" and then "prompt" (/api/generate, /v1/completions). The next turn of a conversation resends
// them with more at the end, so their bytes start with this turn's. A member cut short by max_body, or left
// malformed, yields what was read of it; members after it are not seen.
func scanPrompt(body []byte) (first, then []byte) {
	i := skipJSONSpace(body, 0)
	if i >= len(body) || body[i] != '{' {
		return nil, nil
	}
	i++
	for {
		i = skipJSONSpace(body, i)
		if i >= len(body) || body[i] != '"' {
			return first, then
		}
		keyEnd, _, ok := scanJSONString(body, i+1)
		if !ok {
			return first, then
		}
		key := body[i+1 : keyEnd]
		i = skipJSONSpace(body, keyEnd+1)
		if i >= len(body) || body[i] != ':' {
			return first, then
		}
		start := skipJSONSpace(body, i+1)
		if start >= len(body) {
			return first, then
		}
		end, ok := skipJSONValue(body, start)
		if !ok {
			end = len(body)
		}
		switch string(key) {
		case "messages", "system":
			first = body[start:end]
		case "prompt":
			then = body[start:end]
		}
		if !ok {
			return first, then
		}
		i = skipJSONSpace(body, end)
		if i >= len(body) || body[i] != ',' {
			return first, then
		}
		i++
	}
}
