// Package ollamasim is a simulated Ollama server for demos and tests on machines without a GPU. It behaves like
// Ollama v0.17.4 where routing cares, and nowhere else:
//
//   - A node has GPUs with fixed VRAM, system memory (RAMMB) and a catalogue of installed models with their sizes.
//   - A request for a model that is not installed gets Ollama's 404, {"error":"model 'x' not found"} (on the
//     OpenAI path {"error":{"message":…,"type":"api_error",…}}), as Ollama v0.17.4 answers.
//   - A request for a model that is neither loaded nor loading queues for the load path, which handles one
//     request at a time as Ollama's scheduler does; beyond MaxQueue such requests get the 503 {"error":"server
//     busy, please try again.  maximum pending requests exceeded"}. Requests for a loaded (or loading) model
//     never queue there and wait for a slot without limit.
//   - A cold load takes time proportional to the model's size. With other models loaded, the new one must fit
//     entirely on the GPUs and within MaxLoaded (OLLAMA_MAX_LOADED_MODELS): idle models are unloaded, least
//     recently used first, and when the room is held by busy models the load waits for them.
//   - Alone on the node, a model larger than the GPUs loads with the rest in system memory (size_vram < size in
//     /api/ps) and runs slower in proportion to the share on the CPU (see CPUSlowdown). Only a model larger than
//     the GPUs and RAMMB together gets the 500 {"error":"model requires more system memory (X GiB) than is
//     available (Y GiB)"}, X being what would go to the CPU, at once.
//   - Each loaded model has NumParallel slots (OLLAMA_NUM_PARALLEL); the requests beyond queue in arrival order.
//     A slot keeps the text of its last request, prompt and answer; a request takes the free slot sharing the
//     longest prefix with its prompt (the first on a tie, as Ollama's runner without OLLAMA_MULTIUSER_CACHE) and
//     reads only the rest. A conversation's next turn that resends the answer (see Answer) hits that cache;
//     another conversation served on the slot in between evicts it.
//   - Reading the prompt takes its tokens (about four bytes each) ÷ (the model's prefill speed × the node's
//     speed); generating takes tokens ÷ (the model's tokens per second × the node's speed), slower per request
//     when several generate at once (see Config.ParallelGain), recomputed at every streamed chunk.
//   - An idle model stays loaded for its keep_alive (5 minutes unless the request or the node says otherwise).
//
// The HTTP API is Ollama's: POST /api/generate and /api/chat (NDJSON streaming, the default, or one JSON object
// with "stream": false), POST /v1/chat/completions (one JSON object, or server-sent events with "stream": true),
// GET /api/ps, /api/tags, /api/version and /. The answers carry Ollama's members and durations: total from the
// request's arrival, queueing included; load from arrival until the model is loaded; prompt eval for the tokens
// read past the cache (while prompt_eval_count is the whole prompt); eval for the tokens generated. A stream's
// first chunk is the first token alone, so that a client sees the time to first token. The text is filler.
//
// All durations are simulated time. A Clock with Scale 30 runs the simulation thirty times faster than the wall
// clock, so that ten simulated minutes pass in twenty seconds; every duration in a response and in /api/ps is in
// simulated time.
//
// The node's GPU memory and utilisation are what reporter's "sim" sampler reads: with StateFile set, the node
// writes its reporter.SimState there whenever it changes, so that the real gpu-reporter code reports the
// simulation. State returns the same value in process. Stats and Activity give what the node did, for results.
package ollamasim
