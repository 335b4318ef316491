package reporter

import (
	"errors"
	"net"
	"net/url"
	"strings"

	"github.com/sollol-go/sollol/gpustats"
)

// DefaultOllamaPort is the port SOLLOL appends to a node's address when it names the node.
const DefaultOllamaPort = "11434"

// routeProbeAddr is in TEST-NET-1 (RFC 5737), reserved for documentation: it is never anyone's host.
const routeProbeAddr = "192.0.2.1:9"

// OutboundIP returns the local address the kernel would use for traffic to the Internet, the address SOLLOL names
// a node by. It connects a UDP socket, which only consults the routing table and sends no packet, towards a
// documentation address; without a default route it falls back to the first address of LocalAddresses.
func OutboundIP() (net.IP, error) {
	if conn, err := net.Dial("udp", routeProbeAddr); err == nil {
		ip := conn.LocalAddr().(*net.UDPAddr).IP
		conn.Close()
		if ip != nil && !ip.IsUnspecified() && !ip.IsLoopback() {
			return ip, nil
		}
	}
	addrs := LocalAddresses()
	if len(addrs) == 0 {
		return nil, errors.New("no network address other than loopback")
	}
	return net.ParseIP(addrs[0]), nil
}

// DefaultNodeID is OutboundIP joined with the port of ollamaURL, or DefaultOllamaPort when the URL names none:
// the address a gateway's Caddyfile most likely lists for this node's Ollama.
func DefaultNodeID(ollamaURL string) (string, error) {
	ip, err := OutboundIP()
	if err != nil {
		return "", err
	}
	port := DefaultOllamaPort
	if u, err := url.Parse(ollamaURL); err == nil && u.Port() != "" {
		port = u.Port()
	}
	return net.JoinHostPort(ip.String(), port), nil
}

// virtualInterfaces are prefixes of interfaces whose addresses are the same on many hosts (container bridges)
// and so must not identify a node.
var virtualInterfaces = []string{"docker", "br-", "veth", "virbr", "cni", "flannel", "cali", "podman", "lxc"}

// LocalAddresses lists the node's IPv4 and global IPv6 addresses on interfaces that are up, IPv4 first, leaving
// out loopback, link-local and container bridge addresses. A report carries them so that a gateway can map an
// upstream written with any of them to this node.
func LocalAddresses() []string {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var v4, v6 []string
	for _, iface := range ifaces {
		if iface.Flags&net.FlagUp == 0 || iface.Flags&net.FlagLoopback != 0 || isVirtual(iface.Name) {
			continue
		}
		addrs, err := iface.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || !ipn.IP.IsGlobalUnicast() {
				continue
			}
			if ipn.IP.To4() != nil {
				v4 = append(v4, ipn.IP.String())
			} else {
				v6 = append(v6, ipn.IP.String())
			}
		}
	}
	all := append(v4, v6...)
	return all[:min(len(all), gpustats.MaxAddresses)]
}

func isVirtual(name string) bool {
	for _, p := range virtualInterfaces {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
