// Command caddy is Caddy with its standard modules and the vram_aware selection policy, so that
// `go run ./cmd/caddy run --config Caddyfile.example` works from a checkout without xcaddy.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/sollol-go/sollol"
)

func main() {
	caddycmd.Main()
}
