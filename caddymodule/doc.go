// Package caddymodule registers the vram_aware reverse_proxy selection policy with Caddy.
package caddymodule
