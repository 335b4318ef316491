package ollamasim

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// testModels are a small catalogue: sizes in MiB.
var testModels = []Model{
	{Name: "small:1b", SizeMB: 1000, TokensPerSec: 100},
	{Name: "mid:8b", SizeMB: 8000, VRAMMB: 9000, TokensPerSec: 50},
	{Name: "big:14b", SizeMB: 10000, TokensPerSec: 40},
	{Name: "huge:70b", SizeMB: 40000, TokensPerSec: 10},
}

// startNode starts a node with one 24 GiB GPU and testModels, running at scale (simulated seconds per real
// second), after letting edit change its configuration.
func startNode(t *testing.T, scale float64, edit func(*Config)) *Node {
	t.Helper()
	cfg := Config{Name: "t", GPUs: []GPU{{Name: "Sim 24G", VRAMMB: 24576}}, Models: testModels,
		Clock: NewClock(scale), StateEvery: 5 * time.Millisecond}
	if edit != nil {
		edit(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// post sends body to path and returns the status, content type and body; a failed request is a test error with
// status 0, as post may run in a goroutine of its own, where t.Fatal must not be called.
func post(t *testing.T, n *Node, path, body string) (int, string, string) {
	t.Helper()
	resp, err := http.Post(n.URL()+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Error(err)
		return 0, "", ""
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Error(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

func getJSON(t *testing.T, n *Node, path string, v any) {
	t.Helper()
	resp, err := http.Get(n.URL() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

type psEntry struct {
	Name      string `json:"name"`
	Model     string `json:"model"`
	Size      int64  `json:"size"`
	SizeVRAM  int64  `json:"size_vram"`
	Digest    string `json:"digest"`
	ExpiresAt string `json:"expires_at"`
	Details   struct {
		Format string `json:"format"`
		Family string `json:"family"`
	} `json:"details"`
}

// loaded returns the names in /api/ps, most recently used first.
func loaded(t *testing.T, n *Node) []string {
	t.Helper()
	var ps struct{ Models []psEntry }
	getJSON(t, n, "/api/ps", &ps)
	names := []string{}
	for _, m := range ps.Models {
		names = append(names, m.Name)
	}
	return names
}

// lines splits NDJSON or SSE output into its non-empty lines.
func lines(body string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		if sc.Text() != "" {
			out = append(out, sc.Text())
		}
	}
	return out
}

// generate asks for a short non-streamed answer from model and fails the test unless it is 200.
func generate(t *testing.T, n *Node, model string, extra string) {
	t.Helper()
	status, _, body := post(t, n, "/api/generate", `{"model":"`+model+`","prompt":"hi","stream":false,"options":{"num_predict":5}`+extra+`}`)
	if status != 200 {
		t.Fatalf("generate %s: %d %s", model, status, body)
	}
}

// final is the last line of a native answer, with Ollama's figures.
type final struct {
	Done               bool   `json:"done"`
	DoneReason         string `json:"done_reason"`
	Total              int64  `json:"total_duration"`
	Load               int64  `json:"load_duration"`
	PromptEvalCount    int    `json:"prompt_eval_count"`
	PromptEvalDuration int64  `json:"prompt_eval_duration"`
	EvalCount          int    `json:"eval_count"`
	EvalDuration       int64  `json:"eval_duration"`
	Error              string `json:"error"`
}

// ask posts a non-streamed native request and returns its status and decoded answer.
func ask(t *testing.T, n *Node, path, body string) (int, final) {
	t.Helper()
	status, _, b := post(t, n, path, body)
	var f final
	if err := json.Unmarshal([]byte(b), &f); err != nil {
		t.Errorf("%s: %v", b, err)
	}
	return status, f
}

// askOK is ask that fails the test unless the answer is 200; it may run in a goroutine of its own.
func askOK(t *testing.T, n *Node, path, body string) final {
	t.Helper()
	status, f := ask(t, n, path, body)
	if status != 200 {
		t.Errorf("%s %s: %d %+v", path, body, status, f)
	}
	return f
}

// waitFor polls cond, under the node's lock, until it holds; it fails the test after a few seconds.
func waitFor(t *testing.T, n *Node, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		n.mu.Lock()
		ok := cond()
		n.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited in vain for %s", what)
		}
	}
}

// near reports whether got is within frac of want.
func near(got, want time.Duration, frac float64) bool {
	return got >= time.Duration(float64(want)*(1-frac)) && got <= time.Duration(float64(want)*(1+frac))
}

// fast makes loads instant, so that a test sees only what it measures.
func fast(c *Config) { c.LoadBase = time.Nanosecond; c.LoadMBps = 1e12 }
