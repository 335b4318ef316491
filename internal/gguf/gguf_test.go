package gguf

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// header is what readHeader finds in a GGUF file: written by this test from the format's description, not from
// the writer's code, so that a mistake in one does not hide in the other.
type header struct {
	version  uint32
	kv       map[string]any
	tensors  []tensorInfo
	dataAt   int64 // file offset of the data section
	fileSize int64
}

type tensorInfo struct {
	name   string
	dims   []uint64
	typ    uint32
	offset uint64
}

func readHeader(t *testing.T, b []byte) header {
	t.Helper()
	r := bytes.NewReader(b)
	le := binary.LittleEndian
	var fail error
	read := func(v any) {
		if fail == nil {
			fail = binary.Read(r, le, v)
		}
	}
	str := func() string {
		var n uint64
		read(&n)
		if fail != nil || n > uint64(r.Len()) {
			fail = fmt.Errorf("string of %d bytes at %d", n, r.Size()-int64(r.Len()))
			return ""
		}
		s := make([]byte, n)
		_, _ = io.ReadFull(r, s)
		return string(s)
	}
	var scalar func(typ uint32) any
	scalar = func(typ uint32) any {
		switch typ {
		case typeUint32:
			var v uint32
			read(&v)
			return v
		case typeInt32:
			var v int32
			read(&v)
			return v
		case typeUint64:
			var v uint64
			read(&v)
			return v
		case typeFloat32:
			var v float32
			read(&v)
			return v
		case typeBool:
			var v uint8
			read(&v)
			return v == 1
		case typeString:
			return str()
		case typeArray:
			var elem uint32
			var n uint64
			read(&elem)
			read(&n)
			var out []any
			for range n {
				out = append(out, scalar(elem))
			}
			return out
		}
		fail = fmt.Errorf("unknown value type %d", typ)
		return nil
	}

	magic := make([]byte, 4)
	_, _ = io.ReadFull(r, magic)
	if string(magic) != "GGUF" {
		t.Fatalf("magic %q", magic)
	}
	var h header
	var nTensors, nKV uint64
	read(&h.version)
	read(&nTensors)
	read(&nKV)
	h.kv = map[string]any{}
	for range nKV {
		k := str()
		var typ uint32
		read(&typ)
		h.kv[k] = scalar(typ)
	}
	for range nTensors {
		ti := tensorInfo{name: str()}
		var n uint32
		read(&n)
		ti.dims = make([]uint64, n)
		read(ti.dims)
		read(&ti.typ)
		read(&ti.offset)
		h.tensors = append(h.tensors, ti)
	}
	if fail != nil {
		t.Fatalf("reading the header: %v", fail)
	}
	pos := r.Size() - int64(r.Len())
	h.dataAt = (pos + 31) / 32 * 32
	h.fileSize = r.Size()
	return h
}

func TestSmallLlamaHeader(t *testing.T) {
	l := Small(7)
	path := filepath.Join(t.TempDir(), "small.gguf")
	size, err := l.WriteFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != size {
		t.Errorf("WriteFile said %d bytes, the file has %d", size, len(b))
	}
	h := readHeader(t, b)
	if h.version != 3 {
		t.Errorf("version %d, want 3", h.version)
	}
	for k, want := range map[string]any{
		"general.architecture":                   "llama",
		"general.alignment":                      uint32(32),
		"llama.block_count":                      uint32(2),
		"llama.context_length":                   uint32(4096),
		"llama.embedding_length":                 uint32(256),
		"llama.feed_forward_length":              uint32(768),
		"llama.attention.head_count":             uint32(4),
		"llama.attention.head_count_kv":          uint32(4),
		"llama.rope.dimension_count":             uint32(64),
		"llama.attention.layer_norm_rms_epsilon": float32(1e-5),
		"llama.vocab_size":                       uint32(259),
		"tokenizer.ggml.model":                   "llama",
		"tokenizer.ggml.bos_token_id":            uint32(1),
		"tokenizer.ggml.eos_token_id":            uint32(2),
		"tokenizer.ggml.add_bos_token":           true,
	} {
		if got := h.kv[k]; got != want {
			t.Errorf("%s = %#v, want %#v", k, got, want)
		}
	}
	tokens, _ := h.kv["tokenizer.ggml.tokens"].([]any)
	types, _ := h.kv["tokenizer.ggml.token_type"].([]any)
	scores, _ := h.kv["tokenizer.ggml.scores"].([]any)
	if len(tokens) != 259 || len(types) != 259 || len(scores) != 259 {
		t.Fatalf("vocabulary of %d tokens, %d types, %d scores; want 259 each", len(tokens), len(types), len(scores))
	}
	if tokens[0] != "<unk>" || tokens[1] != "<s>" || tokens[2] != "</s>" || tokens[3] != "<0x00>" ||
		tokens[3+'A'] != "<0x41>" || tokens[258] != "<0xFF>" || types[3+'A'] != int32(6) || types[1] != int32(3) {
		t.Errorf("vocabulary starts %v, 'A' is %v of type %v", tokens[:4], tokens[3+'A'], types[3+'A'])
	}

	// 2 + 9 per block tensors; each F32, its data 32-aligned, one after the other, the last one ending the file.
	if len(h.tensors) != 2+2*9+1 {
		t.Fatalf("%d tensors, want 21", len(h.tensors))
	}
	var params, next uint64
	names := map[string][]uint64{}
	for _, ti := range h.tensors {
		if ti.typ != 0 {
			t.Errorf("%s has type %d, want 0 (F32)", ti.name, ti.typ)
		}
		if ti.offset%32 != 0 || ti.offset != next {
			t.Errorf("%s at offset %d, want %d (32-aligned, after the previous tensor)", ti.name, ti.offset, next)
		}
		n := uint64(1)
		for _, d := range ti.dims {
			n *= d
		}
		params += n
		next = (ti.offset + 4*n + 31) / 32 * 32
		names[ti.name] = ti.dims
	}
	if int64(params) != l.Params() {
		t.Errorf("tensors hold %d values, Params says %d", params, l.Params())
	}
	if h.dataAt+int64(next) != h.fileSize {
		t.Errorf("data ends at %d, the file at %d", h.dataAt+int64(next), h.fileSize)
	}
	for name, want := range map[string][]uint64{
		"token_embd.weight":      {256, 259},
		"output.weight":          {256, 259},
		"output_norm.weight":     {256},
		"blk.1.attn_k.weight":    {256, 256},
		"blk.1.ffn_down.weight":  {768, 256},
		"blk.0.ffn_gate.weight":  {256, 768},
		"blk.0.attn_norm.weight": {256},
	} {
		if fmt.Sprint(names[name]) != fmt.Sprint(want) {
			t.Errorf("%s dims %v, want %v", name, names[name], want)
		}
	}

	// The first norm weight is 1 and the weights are small and finite.
	norm := h.tensors[1]
	at := h.dataAt + int64(norm.offset)
	if v := math.Float32frombits(binary.LittleEndian.Uint32(b[at:])); norm.name != "blk.0.attn_norm.weight" || v != 1 {
		t.Errorf("tensor 1 is %s, first value %v; want blk.0.attn_norm.weight, 1", norm.name, v)
	}
	for i := h.dataAt; i < h.dataAt+4*256*259; i += 4 {
		if v := math.Float32frombits(binary.LittleEndian.Uint32(b[i:])); math.IsNaN(float64(v)) || math.Abs(float64(v)) > 0.2 {
			t.Fatalf("token_embd value %v at %d", v, i)
		}
	}
}

func TestLlamaSeedAndSize(t *testing.T) {
	write := func(l Llama) []byte {
		f, err := l.File()
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := f.Write(&b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	a, again, other := write(Small(1)), write(Small(1)), write(Small(2))
	if !bytes.Equal(a, again) {
		t.Error("the same seed wrote different files")
	}
	if bytes.Equal(a, other) || len(a) != len(other) {
		t.Errorf("seeds 1 and 2: equal %v, sizes %d and %d", bytes.Equal(a, other), len(a), len(other))
	}
	// Grouped-query attention and more blocks: the size follows Params, the header says what was asked.
	gqa := Llama{Name: "gqa", Blocks: 5, Embedding: 128, FeedForward: 320, Heads: 8, KVHeads: 2, Context: 512, Seed: 3}
	b := write(gqa)
	h := readHeader(t, b)
	if h.kv["llama.attention.head_count_kv"] != uint32(2) || h.kv["llama.block_count"] != uint32(5) || h.kv["general.name"] != "gqa" {
		t.Errorf("header %v", h.kv)
	}
	if got, min := int64(len(b)), 4*gqa.Params(); got < min || got > min+64*1024 {
		t.Errorf("file of %d bytes for %d parameters", got, gqa.Params())
	}
	if big := Small(1).WithBlocks(8); big.Params() <= Small(1).Params()*3 {
		t.Errorf("8 blocks: %d parameters, 2 blocks: %d", big.Params(), Small(1).Params())
	}
}

func TestBadInput(t *testing.T) {
	for _, l := range []Llama{
		{},
		{Blocks: 1, Embedding: 100, FeedForward: 8, Heads: 3, KVHeads: 1, Context: 8},
		{Blocks: 1, Embedding: 64, FeedForward: 8, Heads: 4, KVHeads: 3, Context: 8},
		{Blocks: 1, Embedding: 60, FeedForward: 8, Heads: 4, KVHeads: 4, Context: 8}, // odd head size
	} {
		if _, err := l.File(); err == nil || !strings.HasPrefix(err.Error(), "gguf: ") {
			t.Errorf("%+v: error %v", l, err)
		}
	}
	one := func() float32 { return 1 }
	for _, f := range []File{
		{KV: []KV{{"a", 1}}},                        // int is not a GGUF type here
		{KV: []KV{{"a", "x"}, {"a", "y"}}},          // twice
		{KV: []KV{{"", "x"}}},                       // empty key
		{Tensors: []Tensor{{Name: "t", Next: one}}}, // no dims
		{Tensors: []Tensor{{Name: "t", Dims: []uint64{0}, Next: one}}},
		{Tensors: []Tensor{{Name: strings.Repeat("n", 64), Dims: []uint64{1}, Next: one}}},
		{Tensors: []Tensor{{Name: "t", Dims: []uint64{1}}}},
	} {
		var b bytes.Buffer
		if err := f.Write(&b); err == nil || b.Len() != 0 {
			t.Errorf("%+v: error %v, wrote %d bytes", f, err, b.Len())
		}
	}
	if _, err := Small(1).WriteFile(filepath.Join(t.TempDir(), "missing", "x.gguf")); err == nil {
		t.Error("WriteFile into a missing folder did not fail")
	}
}
