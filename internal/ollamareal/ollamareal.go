// Package ollamareal runs a real Ollama server for a test: `ollama serve` on a free loopback port, with its own
// OLLAMA_MODELS and HOME in the test's temporary folder, serving random-weight llama models that the test writes
// with internal/gguf and imports with `ollama create`. The server is stopped when the test ends.
//
// The binary comes from OLLAMA_BIN, else from the cache folder scripts/need-ollama.sh builds into
// (${XDG_CACHE_HOME:-$HOME/.cache}/sollol/ollama-v0.17.4/ollama), else from PATH. When there is none the test is
// skipped with a message saying how to build it, except under CI=true, where it fails.
package ollamareal

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sollol-go/sollol/internal/gguf"
)

// Version is the Ollama release scripts/need-ollama.sh builds.
const Version = "v0.17.4"

// Binary returns the path of the ollama binary, or fails or skips t as the package documentation says.
func Binary(t testing.TB) string {
	t.Helper()
	if bin := os.Getenv("OLLAMA_BIN"); bin != "" {
		return bin
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	if bin := filepath.Join(cache, "sollol", "ollama-"+Version, "ollama"); isExecutable(bin) {
		return bin
	}
	if bin, err := exec.LookPath("ollama"); err == nil {
		return bin
	}
	msg := "ollama not found: run scripts/need-ollama.sh (builds Ollama " + Version + " from its Go module, " +
		"about 10 minutes the first time) or `make test-ollama`, or set OLLAMA_BIN"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func isExecutable(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.Mode().IsRegular() && info.Mode()&0o111 != 0
}

// Options are Ollama's own settings for one server; the zero value is Ollama's defaults.
type Options struct {
	// NumParallel is OLLAMA_NUM_PARALLEL, the requests one loaded model serves at once; 0 means Ollama's 1.
	NumParallel int
	// MaxQueue is OLLAMA_MAX_QUEUE, the requests that may wait for a model load before 503; 0 means Ollama's 512.
	MaxQueue int
	// KeepAlive is OLLAMA_KEEP_ALIVE, how long a model stays loaded after its last request; empty means 5m.
	KeepAlive string
	// Env adds KEY=value settings, such as OLLAMA_CONTEXT_LENGTH=2048.
	Env []string
}

// Server is one `ollama serve` process owned by a test.
type Server struct {
	// URL is the server's base URL, http://127.0.0.1:PORT.
	URL string
	// Addr is its host:port, as a Caddy upstream names it.
	Addr string

	t    testing.TB
	bin  string
	dir  string
	env  []string
	log  string
	cmd  *exec.Cmd
	done chan struct{}
	once sync.Once
}

// Start launches `ollama serve` and waits until it answers; its shutdown is registered with t.Cleanup.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	port := freePort(t)
	s := &Server{t: t, bin: bin, dir: dir, Addr: "127.0.0.1:" + strconv.Itoa(port), log: filepath.Join(dir, "serve.log")}
	s.URL = "http://" + s.Addr
	s.env = append(cleanEnv(), "HOME="+dir, "OLLAMA_HOST="+s.Addr, "OLLAMA_MODELS="+filepath.Join(dir, "models"),
		"OLLAMA_NOHISTORY=1")
	if o.NumParallel > 0 {
		s.env = append(s.env, "OLLAMA_NUM_PARALLEL="+strconv.Itoa(o.NumParallel))
	}
	if o.MaxQueue > 0 {
		s.env = append(s.env, "OLLAMA_MAX_QUEUE="+strconv.Itoa(o.MaxQueue))
	}
	if o.KeepAlive != "" {
		s.env = append(s.env, "OLLAMA_KEEP_ALIVE="+o.KeepAlive)
	}
	s.env = append(s.env, o.Env...)

	logFile, err := os.Create(s.log)
	if err != nil {
		t.Fatalf("ollamareal: %v", err)
	}
	s.cmd = exec.Command(bin, "serve")
	s.cmd.Env, s.cmd.Dir = s.env, dir
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	// Its own process group, so that Stop also reaches the runner processes serve starts for each model.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("ollamareal: starting %s serve: %v", bin, err)
	}
	s.done = make(chan struct{})
	go func() {
		s.cmd.Wait()
		logFile.Close()
		close(s.done)
	}()
	t.Cleanup(s.Stop)

	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-s.done:
			t.Fatalf("ollamareal: ollama serve exited at start:\n%s", s.LogTail())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("ollamareal: ollama serve did not answer on %s within 30 s:\n%s", s.Addr, s.LogTail())
		}
	}
}

// cleanEnv is this process's environment without Ollama's settings, so that a developer's own OLLAMA_HOST or
// OLLAMA_MODELS never reaches the test server.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OLLAMA_") && !strings.HasPrefix(kv, "HOME=") {
			env = append(env, kv)
		}
	}
	return env
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("ollamareal: finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Stop ends the server (SIGTERM, then SIGKILL to its process group after 10 s) and waits for it. It may be called
// more than once.
func (s *Server) Stop() {
	s.once.Do(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.done
		}
	})
}

// LogFile is the path of the server's log: what serve writes, one [GIN] line per request answered.
func (s *Server) LogFile() string { return s.log }

// LogTail returns the last lines of the server's log, for failure messages.
func (s *Server) LogTail() string {
	b, _ := os.ReadFile(s.log)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-30):], "\n")
}

// Model is a model the test imports into servers.
type Model struct {
	// Name is the name it is created under, such as "tiny:latest".
	Name string
	// Llama is its shape and seed.
	Llama gguf.Llama
	// NumPredict bounds every answer (PARAMETER num_predict), so that random weights stop in known time.
	NumPredict int
}

// Template renders a chat as plain text, one message a line, ending where the assistant's answer goes: a later
// turn's prompt extends the earlier turn's prompt and answer, as real chat templates do.
const Template = `{{- range .Messages }}<|{{ .Role }}|>{{ .Content }}
{{ end }}<|assistant|>`

// Create imports m with `ollama create NAME -f Modelfile`, writing its GGUF into dir first unless a file of that
// name is there already, so that servers and tests sharing dir write each model once. It returns the GGUF's size
// in bytes.
func (s *Server) Create(dir string, m Model) int64 {
	s.t.Helper()
	base := strings.NewReplacer(":", "_", "/", "_").Replace(m.Name)
	file := filepath.Join(dir, base+".gguf")
	info, err := os.Stat(file)
	if err != nil {
		if _, err := m.Llama.WriteFile(file); err != nil {
			s.t.Fatalf("ollamareal: %v", err)
		}
		if info, err = os.Stat(file); err != nil {
			s.t.Fatalf("ollamareal: %v", err)
		}
	}
	modelfile := fmt.Sprintf("FROM ./%s\nTEMPLATE \"\"\"%s\"\"\"\nPARAMETER num_predict %d\n",
		filepath.Base(file), Template, max(m.NumPredict, 1))
	mf := filepath.Join(dir, base+"-"+s.portString()+".Modelfile")
	if err := os.WriteFile(mf, []byte(modelfile), 0o644); err != nil {
		s.t.Fatalf("ollamareal: %v", err)
	}
	cmd := exec.Command(s.bin, "create", m.Name, "-f", mf)
	cmd.Env, cmd.Dir = s.env, dir
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("ollamareal: ollama create %s: %v\n%s\nserver log:\n%s", m.Name, err, out, s.LogTail())
	}
	return info.Size()
}

func (s *Server) portString() string { return s.Addr[strings.LastIndexByte(s.Addr, ':')+1:] }

// Post sends body (marshalled to JSON unless it is a string) to path and returns the status and the answer.
func (s *Server) Post(ctx context.Context, path string, body any) (int, []byte, error) {
	return Post(ctx, s.URL+path, body)
}

// Post sends body (marshalled to JSON unless it is a string) to url and returns the status and the answer.
func Post(ctx context.Context, url string, body any) (int, []byte, error) {
	b, ok := body.(string)
	if !ok {
		j, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		b = string(j)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, bytes.TrimSpace(out), err
}

// Loaded is one model of GET /api/ps as Ollama gives it (sizes in bytes).
type Loaded struct {
	Name          string    `json:"name"`
	Size          int64     `json:"size"`
	SizeVRAM      int64     `json:"size_vram"`
	ExpiresAt     time.Time `json:"expires_at"`
	ContextLength int       `json:"context_length"`
}

// PS returns the models in memory.
func (s *Server) PS(ctx context.Context) ([]Loaded, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/api/ps", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var ps struct{ Models []Loaded }
	if err := json.NewDecoder(resp.Body).Decode(&ps); err != nil {
		return nil, fmt.Errorf("GET /api/ps: %w", err)
	}
	return ps.Models, nil
}

// Message is one message of a chat.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ChatResponse is the part of a non-streamed /api/chat answer the tests read (durations in nanoseconds).
type ChatResponse struct {
	Model              string  `json:"model"`
	Message            Message `json:"message"`
	Done               bool    `json:"done"`
	TotalDuration      int64   `json:"total_duration"`
	LoadDuration       int64   `json:"load_duration"`
	PromptEvalCount    int     `json:"prompt_eval_count"`
	PromptEvalDuration int64   `json:"prompt_eval_duration"`
	EvalCount          int     `json:"eval_count"`
	EvalDuration       int64   `json:"eval_duration"`
	Error              string  `json:"error"`
}

// Chat posts a non-streamed /api/chat request for model to baseURL (a server's or a gateway's) and decodes the
// answer; options may be nil. A status other than 200 is an error that carries the body.
func Chat(ctx context.Context, baseURL, model string, msgs []Message, options map[string]any) (ChatResponse, error) {
	req := map[string]any{"model": model, "messages": msgs, "stream": false}
	if options != nil {
		req["options"] = options
	}
	status, body, err := Post(ctx, baseURL+"/api/chat", req)
	if err != nil {
		return ChatResponse{}, err
	}
	var r ChatResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return ChatResponse{}, fmt.Errorf("POST /api/chat: status %d, %q: %w", status, body, err)
	}
	if status != http.StatusOK {
		return r, fmt.Errorf("POST /api/chat: status %d: %s", status, body)
	}
	return r, nil
}
