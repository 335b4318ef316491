// Package ollamasim is a simulated Ollama server for demos and tests on machines without a GPU. It behaves like
// the real one where routing cares, and nowhere else:
//
//   - A node has GPUs with fixed VRAM and a catalogue of installed models with their sizes.
//   - A request for a model that is not installed gets Ollama's 404, {"error":"model \"x\" not found, try pulling
//     it first"}.
//   - A model that is not loaded is loaded first (a cold load), taking time proportional to its size. To make room
//     Ollama unloads idle models, least recently used first; it also unloads when more than MaxLoaded models would
//     be resident (OLLAMA_MAX_LOADED_MODELS). When the room is held by busy models, the request waits for them.
//   - A model larger than the node's whole VRAM gets Ollama's 500, {"error":"model requires more system memory
//     (X GiB) than is available (Y GiB)"}, at once.
//   - Each loaded model serves NumParallel requests at a time (OLLAMA_NUM_PARALLEL); the others queue in arrival
//     order. An idle model stays loaded for its keep_alive (5 minutes unless the request or the node says otherwise).
//   - Generation takes tokens ÷ (the model's tokens per second × the node's speed).
//
// The HTTP API is Ollama's: POST /api/generate and /api/chat (NDJSON streaming, the default, or one JSON object
// with "stream": false), POST /v1/chat/completions (one JSON object, or server-sent events with "stream": true),
// GET /api/ps, /api/tags, /api/version and /. The answers carry Ollama's members; the generated text is filler.
//
// All durations are simulated time. A Clock with Scale 30 runs the simulation thirty times faster than the wall
// clock, so that ten simulated minutes pass in twenty seconds; every duration in a response and in /api/ps is in
// simulated time.
//
// The node's GPU memory and utilisation are what reporter's "sim" sampler reads: with StateFile set, the node
// writes its reporter.SimState there whenever it changes, so that the real gpu-reporter code reports the
// simulation. State returns the same value in process.
package ollamasim
