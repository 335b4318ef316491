// Package nvml is the "nvml" sampler of package reporter: NVIDIA GPUs read through NVML (go-nvml, which needs cgo
// and loads libnvidia-ml.so.1 at run time). Importing the package registers the sampler:
//
//	import _ "github.com/sollol-go/sollol/reporter/nvml"
//
// It is a package of its own so that only gpu-reporter compiles and links the binding; the gateway and the demo use
// package reporter without it.
package nvml
