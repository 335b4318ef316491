// Package gguf writes GGUF version 3 files, the model format Ollama and llama.cpp load, so that tests can give a
// real Ollama a model without downloading one. File is the generic container (metadata and F32 tensors); Llama
// builds a seeded random-weight llama of any size on top of it.
//
// Layout written: the "GGUF" magic, version 3, the tensor and metadata counts, the metadata pairs, the tensor
// descriptions, then the tensor data, each tensor starting on a multiple of Alignment bytes from the start of the
// data section.
package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Alignment is the byte alignment of the tensor data; GGUF's default, so the file need not say it.
const Alignment = 32

// Version is the GGUF version written.
const Version = 3

// Magic opens every GGUF file.
const Magic = "GGUF"

// maxNameLen is ggml's limit on a tensor name (GGML_MAX_NAME, including the terminating zero).
const maxNameLen = 63

// Value types of GGUF metadata, as the format numbers them.
const (
	typeUint32  = 4
	typeInt32   = 5
	typeFloat32 = 6
	typeBool    = 7
	typeString  = 8
	typeArray   = 9
	typeUint64  = 10
)

// tensorF32 is ggml's type number of a 32-bit float tensor.
const tensorF32 = 0

// KV is one metadata pair. Value is one of uint32, int32, uint64, float32, bool, string, []string, []float32 or
// []int32; anything else makes Write fail.
type KV struct {
	Key   string
	Value any
}

// Tensor is one F32 tensor. Dims lists its extents innermost first, as ggml does (a weight that maps n inputs to
// m outputs is {n, m}). Next is called once per element, in storage order, while the file is written, so that a
// large tensor is never held in memory.
type Tensor struct {
	Name string
	Dims []uint64
	Next func() float32
}

// Elements is the number of values in t.
func (t Tensor) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// File is the content of a GGUF file.
type File struct {
	KV      []KV
	Tensors []Tensor
}

// Write writes f to w as GGUF version 3. It checks every pair and tensor before writing anything.
func (f *File) Write(w io.Writer) error {
	if err := f.check(); err != nil {
		return err
	}
	bw := &writer{w: bufio.NewWriterSize(w, 1<<16)}
	bw.bytes([]byte(Magic))
	bw.u32(Version)
	bw.u64(uint64(len(f.Tensors)))
	bw.u64(uint64(len(f.KV)))
	for _, kv := range f.KV {
		bw.str(kv.Key)
		bw.value(kv.Value)
	}
	var offset uint64
	for _, t := range f.Tensors {
		bw.str(t.Name)
		bw.u32(uint32(len(t.Dims)))
		for _, d := range t.Dims {
			bw.u64(d)
		}
		bw.u32(tensorF32)
		bw.u64(offset)
		offset = align(offset + 4*t.Elements())
	}
	bw.pad()
	bw.n = 0 // data offsets count from here
	for _, t := range f.Tensors {
		for range t.Elements() {
			bw.u32(math.Float32bits(t.Next()))
		}
		bw.pad()
	}
	if bw.err != nil {
		return fmt.Errorf("gguf: writing: %w", bw.err)
	}
	if err := bw.w.Flush(); err != nil {
		return fmt.Errorf("gguf: writing: %w", err)
	}
	return nil
}

func (f *File) check() error {
	seen := make(map[string]bool, len(f.KV))
	for _, kv := range f.KV {
		if kv.Key == "" {
			return errors.New("gguf: a metadata key is empty")
		}
		if seen[kv.Key] {
			return fmt.Errorf("gguf: metadata key %q appears twice", kv.Key)
		}
		seen[kv.Key] = true
		switch kv.Value.(type) {
		case uint32, int32, uint64, float32, bool, string, []string, []float32, []int32:
		default:
			return fmt.Errorf("gguf: metadata %q: unsupported value type %T", kv.Key, kv.Value)
		}
	}
	names := make(map[string]bool, len(f.Tensors))
	for _, t := range f.Tensors {
		switch {
		case t.Name == "" || len(t.Name) > maxNameLen:
			return fmt.Errorf("gguf: tensor name %q: want 1 to %d bytes", t.Name, maxNameLen)
		case names[t.Name]:
			return fmt.Errorf("gguf: tensor %q appears twice", t.Name)
		case len(t.Dims) == 0 || len(t.Dims) > 4:
			return fmt.Errorf("gguf: tensor %q: %d dimensions, want 1 to 4", t.Name, len(t.Dims))
		case t.Next == nil:
			return fmt.Errorf("gguf: tensor %q has no values", t.Name)
		}
		for _, d := range t.Dims {
			if d == 0 {
				return fmt.Errorf("gguf: tensor %q has an empty dimension %v", t.Name, t.Dims)
			}
		}
		names[t.Name] = true
	}
	return nil
}

func align(n uint64) uint64 { return (n + Alignment - 1) / Alignment * Alignment }

// writer writes little-endian values, keeps the first error and counts the bytes for padding.
type writer struct {
	w   *bufio.Writer
	n   uint64
	err error
	buf [8]byte
}

func (w *writer) bytes(b []byte) {
	if w.err != nil {
		return
	}
	_, w.err = w.w.Write(b)
	w.n += uint64(len(b))
}

func (w *writer) u32(v uint32) {
	binary.LittleEndian.PutUint32(w.buf[:4], v)
	w.bytes(w.buf[:4])
}

func (w *writer) u64(v uint64) {
	binary.LittleEndian.PutUint64(w.buf[:], v)
	w.bytes(w.buf[:])
}

func (w *writer) str(s string) {
	w.u64(uint64(len(s)))
	w.bytes([]byte(s))
}

func (w *writer) pad() {
	var zero [Alignment]byte
	w.bytes(zero[:align(w.n)-w.n])
}

// value writes a metadata value with its type; check has limited the types to these.
func (w *writer) value(v any) {
	switch v := v.(type) {
	case uint32:
		w.u32(typeUint32)
		w.u32(v)
	case int32:
		w.u32(typeInt32)
		w.u32(uint32(v))
	case uint64:
		w.u32(typeUint64)
		w.u64(v)
	case float32:
		w.u32(typeFloat32)
		w.u32(math.Float32bits(v))
	case bool:
		w.u32(typeBool)
		b := byte(0)
		if v {
			b = 1
		}
		w.bytes([]byte{b})
	case string:
		w.u32(typeString)
		w.str(v)
	case []string:
		w.array(typeString, len(v))
		for _, s := range v {
			w.str(s)
		}
	case []float32:
		w.array(typeFloat32, len(v))
		for _, f := range v {
			w.u32(math.Float32bits(f))
		}
	case []int32:
		w.array(typeInt32, len(v))
		for _, i := range v {
			w.u32(uint32(i))
		}
	}
}

func (w *writer) array(elem uint32, n int) {
	w.u32(typeArray)
	w.u32(elem)
	w.u64(uint64(n))
}
