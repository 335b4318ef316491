package gguf

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// Llama describes a llama-architecture model with random weights: what Ollama needs to load it, run it and report
// it, and nothing it could learn from. The same fields and Seed give the same bytes.
//
// The vocabulary is byte-level: <unk>, <s>, </s>, then one token per byte value (<0x00> … <0xFF>), so any text
// tokenizes with one token per UTF-8 byte (a space is "▁", three bytes) and a prompt's length in tokens is
// predictable. Generated text is random bytes.
type Llama struct {
	// Name is general.name; empty means "sollol-test".
	Name string
	// Blocks is the number of transformer blocks; it sets the size most directly.
	Blocks int
	// Embedding is the hidden size; a multiple of Heads.
	Embedding int
	// FeedForward is the hidden size of each block's MLP.
	FeedForward int
	// Heads and KVHeads are the attention heads (Heads a multiple of KVHeads, grouped-query attention when fewer).
	Heads, KVHeads int
	// Context is the trained context length (llama.context_length), which bounds Ollama's num_ctx.
	Context int
	// Seed seeds the weights.
	Seed uint64
}

// Small is about 1.8 M parameters (7 MiB): two blocks of 256, quick to load and to run on two CPU cores.
func Small(seed uint64) Llama {
	return Llama{Blocks: 2, Embedding: 256, FeedForward: 768, Heads: 4, KVHeads: 4, Context: 4096, Seed: seed}
}

// WithBlocks returns l with n blocks: each block of Small's shape adds about 3.3 MiB.
func (l Llama) WithBlocks(n int) Llama {
	l.Blocks = n
	return l
}

// Token ids of the byte-level vocabulary.
const (
	TokenUnknown = 0
	TokenBOS     = 1
	TokenEOS     = 2
	// TokenByte0 is the id of <0x00>; byte b is TokenByte0+b.
	TokenByte0 = 3
	// VocabSize is the number of tokens.
	VocabSize = TokenByte0 + 256
)

// Token types as llama.cpp numbers them.
const (
	tokenTypeUnknown = 2
	tokenTypeControl = 3
	tokenTypeByte    = 6
)

func (l Llama) check() error {
	switch {
	case l.Blocks < 1 || l.Embedding < 1 || l.FeedForward < 1 || l.Heads < 1 || l.KVHeads < 1 || l.Context < 1:
		return fmt.Errorf("gguf: llama %+v: every size must be at least 1", l)
	case l.Embedding%l.Heads != 0:
		return fmt.Errorf("gguf: llama embedding %d is not a multiple of heads %d", l.Embedding, l.Heads)
	case l.Heads%l.KVHeads != 0:
		return fmt.Errorf("gguf: llama heads %d is not a multiple of kv heads %d", l.Heads, l.KVHeads)
	case (l.Embedding/l.Heads)%2 != 0:
		return fmt.Errorf("gguf: llama head size %d must be even for rotary embeddings", l.Embedding/l.Heads)
	}
	return nil
}

// headDim is the size of one attention head.
func (l Llama) headDim() int { return l.Embedding / l.Heads }

// Params is the number of weights.
func (l Llama) Params() int64 {
	e, f, kv := int64(l.Embedding), int64(l.FeedForward), int64(l.KVHeads*l.headDim())
	block := 2*e + e*e*2 + 2*e*kv + 3*e*f // norms, q and output, k and v, gate, up and down
	return 2*e*VocabSize + e + int64(l.Blocks)*block
}

// File returns the GGUF content of l.
func (l Llama) File() (*File, error) {
	if err := l.check(); err != nil {
		return nil, err
	}
	name := l.Name
	if name == "" {
		name = "sollol-test"
	}
	tokens := make([]string, VocabSize)
	scores := make([]float32, VocabSize)
	types := make([]int32, VocabSize)
	tokens[TokenUnknown], types[TokenUnknown] = "<unk>", tokenTypeUnknown
	tokens[TokenBOS], types[TokenBOS] = "<s>", tokenTypeControl
	tokens[TokenEOS], types[TokenEOS] = "</s>", tokenTypeControl
	for b := range 256 {
		tokens[TokenByte0+b], types[TokenByte0+b] = fmt.Sprintf("<0x%02X>", b), tokenTypeByte
	}
	u := func(n int) uint32 { return uint32(n) }
	f := &File{KV: []KV{
		{"general.architecture", "llama"},
		{"general.name", name},
		{"general.file_type", uint32(0)}, // all F32
		{"general.alignment", uint32(Alignment)},
		{"llama.block_count", u(l.Blocks)},
		{"llama.context_length", u(l.Context)},
		{"llama.embedding_length", u(l.Embedding)},
		{"llama.feed_forward_length", u(l.FeedForward)},
		{"llama.attention.head_count", u(l.Heads)},
		{"llama.attention.head_count_kv", u(l.KVHeads)},
		{"llama.attention.layer_norm_rms_epsilon", float32(1e-5)},
		{"llama.rope.dimension_count", u(l.headDim())},
		{"llama.rope.freq_base", float32(10000)},
		{"llama.vocab_size", u(VocabSize)},
		{"tokenizer.ggml.model", "llama"},
		{"tokenizer.ggml.tokens", tokens},
		{"tokenizer.ggml.scores", scores},
		{"tokenizer.ggml.token_type", types},
		{"tokenizer.ggml.bos_token_id", u(TokenBOS)},
		{"tokenizer.ggml.eos_token_id", u(TokenEOS)},
		{"tokenizer.ggml.unknown_token_id", u(TokenUnknown)},
		{"tokenizer.ggml.add_bos_token", true},
		{"tokenizer.ggml.add_eos_token", false},
	}}

	// Small normal weights keep the activations finite through the blocks; norms start at one, as trained ones do.
	rng := rand.New(rand.NewPCG(l.Seed, 0x5011011))
	random := func() float32 { return float32(rng.NormFloat64() * 0.02) }
	one := func() float32 { return 1 }
	e, kv := uint64(l.Embedding), uint64(l.KVHeads*l.headDim())
	ff, vocab := uint64(l.FeedForward), uint64(VocabSize)
	add := func(name string, next func() float32, dims ...uint64) {
		f.Tensors = append(f.Tensors, Tensor{Name: name, Dims: dims, Next: next})
	}
	add("token_embd.weight", random, e, vocab)
	for i := range l.Blocks {
		b := fmt.Sprintf("blk.%d.", i)
		add(b+"attn_norm.weight", one, e)
		add(b+"attn_q.weight", random, e, e)
		add(b+"attn_k.weight", random, e, kv)
		add(b+"attn_v.weight", random, e, kv)
		add(b+"attn_output.weight", random, e, e)
		add(b+"ffn_norm.weight", one, e)
		add(b+"ffn_gate.weight", random, e, ff)
		add(b+"ffn_up.weight", random, e, ff)
		add(b+"ffn_down.weight", random, ff, e)
	}
	add("output_norm.weight", one, e)
	add("output.weight", random, e, vocab)
	return f, nil
}

// WriteFile writes l to path (through a temporary file in the same folder, so that a reader never sees half a
// model) and returns the file's size in bytes.
func (l Llama) WriteFile(path string) (int64, error) {
	f, err := l.File()
	if err != nil {
		return 0, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".gguf-*")
	if err != nil {
		return 0, fmt.Errorf("gguf: %w", err)
	}
	defer os.Remove(tmp.Name())
	werr := f.Write(tmp)
	info, serr := tmp.Stat()
	if err := errors.Join(werr, serr, tmp.Close()); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return 0, fmt.Errorf("gguf: %w", err)
	}
	return info.Size(), nil
}
