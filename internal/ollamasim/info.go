package ollamasim

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
	"time"
)

const mib = 1 << 20

type modelDetails struct {
	ParentModel       string   `json:"parent_model"`
	Format            string   `json:"format"`
	Family            string   `json:"family"`
	Families          []string `json:"families"`
	ParameterSize     string   `json:"parameter_size"`
	QuantizationLevel string   `json:"quantization_level"`
}

type tagsModel struct {
	Name       string       `json:"name"`
	Model      string       `json:"model"`
	ModifiedAt string       `json:"modified_at"`
	Size       int64        `json:"size"`
	Digest     string       `json:"digest"`
	Details    modelDetails `json:"details"`
}

type psModel struct {
	Name      string       `json:"name"`
	Model     string       `json:"model"`
	Size      int64        `json:"size"`
	Digest    string       `json:"digest"`
	Details   modelDetails `json:"details"`
	ExpiresAt string       `json:"expires_at"`
	SizeVRAM  int64        `json:"size_vram"`
}

func details(m *Model) modelDetails {
	family := m.Family
	if family == "" {
		family, _, _ = strings.Cut(m.Name, ":")
	}
	return modelDetails{Format: "gguf", Family: family, Families: []string{family}, ParameterSize: m.ParameterSize,
		QuantizationLevel: "Q4_K_M"}
}

func digest(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:])
}

// servePS answers GET /api/ps: the loaded models, most recently used first, with their memory in bytes (size_vram
// the part on the GPUs, less than size when the rest spilled to system memory) and when
// they unload (far in the future for a model in use or kept forever, as Ollama does).
func (n *Node) servePS(w http.ResponseWriter, _ *http.Request) {
	forever := n.cfg.Clock.Now().Add(24 * time.Hour * 365 * 100)
	type entry struct {
		m              *Model
		sizeMB, vramMB float64
		used, expires  time.Time
	}
	n.mu.Lock()
	n.expireLocked()
	es := make([]entry, 0, len(n.runners))
	for _, r := range n.runners {
		e := entry{m: r.model, sizeMB: r.sizeMB, vramMB: r.vramMB(), used: r.lastUsed, expires: r.expires}
		if r.refs > 0 || e.expires.IsZero() {
			e.expires = forever
		}
		es = append(es, e)
	}
	n.mu.Unlock()
	slices.SortFunc(es, func(a, b entry) int { return b.used.Compare(a.used) })
	out := struct {
		Models []psModel `json:"models"`
	}{Models: []psModel{}}
	for _, e := range es {
		out.Models = append(out.Models, psModel{Name: e.m.Name, Model: e.m.Name, Size: int64(e.sizeMB * mib),
			Digest: digest(e.m.Name), Details: details(e.m), ExpiresAt: e.expires.Format(time.RFC3339Nano),
			SizeVRAM: int64(e.vramMB * mib)})
	}
	writeJSON(w, http.StatusOK, out)
}

// serveTags answers GET /api/tags: the installed models with their size on disk in bytes.
func (n *Node) serveTags(w http.ResponseWriter, _ *http.Request) {
	out := struct {
		Models []tagsModel `json:"models"`
	}{Models: []tagsModel{}}
	modified := n.cfg.Clock.Now().Add(-24 * time.Hour).Truncate(time.Second).Format(time.RFC3339)
	for i := range n.cfg.Models {
		m := &n.cfg.Models[i]
		out.Models = append(out.Models, tagsModel{Name: m.Name, Model: m.Name, ModifiedAt: modified,
			Size: int64(m.SizeMB * mib), Digest: digest(m.Name), Details: details(m)})
	}
	writeJSON(w, http.StatusOK, out)
}

func (n *Node) serveVersion(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"version": n.cfg.Version})
}
