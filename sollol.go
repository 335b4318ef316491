// Package sollol is GPU-memory-aware load balancing for Ollama fleets in Caddy. Importing it registers the
// vram_aware selection policy, so that `xcaddy build --with github.com/sollol-go/sollol=.` works from a checkout.
package sollol

import _ "github.com/sollol-go/sollol/caddymodule"
