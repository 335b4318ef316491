// Package reporter is the node side of SOLLOL for Caddy: it reads this node's GPUs through one of several samplers,
// asks the local Ollama server which models it holds, and publishes the result to Redis through gpustats.Publisher
// every interval, in the format SOLLOL's gpu_reporter.py writes.
//
// The pieces are independent:
//
//   - A Sampler reads GPUs. Open returns one by name ("nvml", "nvidia-smi", "amd", "rocm-smi", "intel", "none",
//     "sim", or "auto", which tries them in turn and says why it passed over the others). "nvml" is in
//     reporter/nvml, which a program imports to have it, so that only gpu-reporter links go-nvml.
//   - An OllamaProbe asks Ollama's /api/ps every cycle and /api/tags less often.
//   - Collect turns one sample and one probe into a gpustats.Report.
//   - Run repeats that and publishes, surviving Redis outages, until its context ends; then it publishes a tombstone.
//
// Where this reporter deliberately differs from SOLLOL's: an idle GPU with no model loaded is still reported as a
// GPU (SOLLOL calls such a node CPU-only), every GPU is reported, and AMD and Intel GPUs report real numbers. A value
// a driver does not give is unknown (JSON null), never zero.
package reporter
