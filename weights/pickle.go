package weights

import (
	"errors"
	"fmt"
	"strings"
)

// This file is a restricted unpickler. Python's pickle is a small stack machine whose GLOBAL and
// REDUCE opcodes can call any importable function; here GLOBAL only resolves an allow-list of names
// and REDUCE/NEWOBJ only "call" them symbolically (building Go values), so a checkpoint can describe
// tensors and module trees but never run anything. This file holds the machine (stack, marks,
// memo, limits); pickle_ops.go the opcodes it executes.

// Python values as the unpickler represents them. Containers are pointers because pickles share
// and mutate them through the memo (APPEND/SETITEM on a memoized object).
type (
	pyTuple []any
	pyList  struct{ items []any }
	// pyDict keeps insertion order (state dicts are ordered) and supports the key types that
	// checkpoints use: str, int, bool, float, None.
	pyDict struct {
		keys, vals []any
		index      map[any]int
	}
	// pyGlobal is an allow-listed name from GLOBAL/STACK_GLOBAL.
	pyGlobal struct{ module, name string }
	// pyObject is an instance of a TorchScript class (`__torch__.…`), built by NEWOBJ and filled
	// by BUILD; for modules the state is a dict of attributes, parameters and submodules.
	pyObject struct {
		class *pyGlobal
		state any
	}
	// storageRef is the persistent id of a tensor storage: a zip entry data/<key>.
	storageRef struct {
		dtype, key, location string
		numel                int64
	}
	// tensorRef is a tensor view of a storage, as _rebuild_tensor_v2 describes it.
	tensorRef struct {
		storage *storageRef
		offset  int64
		shape   []int
		stride  []int64
		numel   int64
	}
)

func newDict() *pyDict { return &pyDict{index: map[any]int{}} }

func (d *pyDict) set(k, v any) error {
	switch k.(type) {
	case string, int64, bool, float64, nil:
	default:
		return fmt.Errorf("unsupported dict key type %T", k)
	}
	if i, ok := d.index[k]; ok {
		d.vals[i] = v
		return nil
	}
	d.index[k] = len(d.keys)
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
	return nil
}

// Limits that keep a hostile pickle from exhausting memory or time. They come from the tiny golden
// TorchScript CLIP (vit16.openai.jit.pt: 149 tensors, 5 605 opcodes, stack depth 99, 9 nested
// marks, 613 memo entries, i.e. about 38 opcodes and 4 memo entries per tensor) scaled to the
// largest checkpoints we load, SAM ViT-H and CLIP ViT-L/14 (under 700 tensors: about 27 000
// opcodes and 3 000 memo entries; a torch.save state dict batches SETITEMS by 1 000, so the stack
// stays near 2 000), with a margin of 20× or more. Every opcode adds at most a few small values,
// so the opcode budget also bounds the memory a pickle can build (about 100 MB).
const (
	maxPickleOps   = 1 << 20
	maxPickleStack = 1 << 16
	maxPickleMarks = 1 << 10 // nesting depth: 9 in real checkpoints
	maxPickleMemo  = 1 << 16
)

type unpickler struct {
	data  []byte
	pos   int
	stack []any
	marks []int
	memo  map[uint32]any
	// persistentLoad resolves BINPERSID ids (torch storages).
	persistentLoad func(pid any) (any, error)
}

var errTruncated = errors.New("truncated pickle")

// unpickle runs the pickle in data and returns the value STOP leaves on top of the stack.
func unpickle(data []byte, persistentLoad func(any) (any, error)) (any, error) {
	u := &unpickler{data: data, memo: map[uint32]any{}, persistentLoad: persistentLoad}
	for ops := 0; ; ops++ {
		if ops > maxPickleOps {
			return nil, fmt.Errorf("pickle: more than %d opcodes (real checkpoints need under 30 000)", maxPickleOps)
		}
		if u.pos >= len(u.data) {
			return nil, fmt.Errorf("pickle: %w (no STOP)", errTruncated)
		}
		at, op := u.pos, u.data[u.pos]
		u.pos++
		done, err := u.step(op)
		if err != nil {
			return nil, fmt.Errorf("pickle: opcode %s at offset %d: %w", opName(op), at, err)
		}
		if done {
			if len(u.stack) != 1 || len(u.marks) != 0 {
				return nil, fmt.Errorf("pickle: STOP with %d values and %d marks on the stack", len(u.stack), len(u.marks))
			}
			return u.stack[0], nil
		}
		switch {
		case len(u.stack) > maxPickleStack:
			return nil, fmt.Errorf("pickle: stack deeper than %d values", maxPickleStack)
		case len(u.marks) > maxPickleMarks:
			return nil, fmt.Errorf("pickle: mark stack deeper than %d", maxPickleMarks)
		case len(u.memo) > maxPickleMemo:
			return nil, fmt.Errorf("pickle: memo larger than %d entries", maxPickleMemo)
		}
	}
}

func (u *unpickler) take(n int) ([]byte, error) {
	if n < 0 || n > len(u.data)-u.pos {
		return nil, errTruncated
	}
	b := u.data[u.pos : u.pos+n]
	u.pos += n
	return b, nil
}

func (u *unpickler) line() (string, error) {
	for i := u.pos; i < len(u.data); i++ {
		if u.data[i] == '\n' {
			s := string(u.data[u.pos:i])
			u.pos = i + 1
			return s, nil
		}
	}
	return "", errTruncated
}

func (u *unpickler) push(v any) { u.stack = append(u.stack, v) }

func (u *unpickler) pop() (any, error) {
	floor := 0
	if len(u.marks) > 0 {
		floor = u.marks[len(u.marks)-1]
	}
	if len(u.stack) <= floor {
		return nil, errors.New("stack underflow")
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

// popMark returns the values pushed since the last MARK and removes them and the mark.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, errors.New("no MARK")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := append([]any(nil), u.stack[m:]...)
	u.stack = u.stack[:m]
	return items, nil
}

func (u *unpickler) top() (any, error) {
	floor := 0
	if len(u.marks) > 0 {
		floor = u.marks[len(u.marks)-1]
	}
	if len(u.stack) <= floor {
		return nil, errors.New("stack underflow")
	}
	return u.stack[len(u.stack)-1], nil
}

func (u *unpickler) uint(n int) (uint64, error) {
	b, err := u.take(n)
	if err != nil {
		return 0, err
	}
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, nil
}

func (u *unpickler) str(n uint64) error {
	if n > uint64(len(u.data)-u.pos) {
		return errTruncated
	}
	b, _ := u.take(int(n))
	u.push(string(b))
	return nil
}

func (u *unpickler) memoPut(i uint32) error {
	v, err := u.top()
	if err != nil {
		return err
	}
	u.memo[i] = v
	return nil
}

func (u *unpickler) memoGet(i uint32) error {
	v, ok := u.memo[i]
	if !ok {
		return fmt.Errorf("memo key %d not defined", i)
	}
	u.push(v)
	return nil
}

// brief renders a value for an error message within a fixed budget: fmt's %v would expand shared
// tuples exponentially ((t,t) of (t,t) of ...), which a hostile pickle can build cheaply.
func brief(v any) string {
	var b strings.Builder
	writeBrief(&b, v, 0)
	return b.String()
}

func writeBrief(b *strings.Builder, v any, depth int) {
	if b.Len() > 200 || depth > 4 {
		b.WriteString("…")
		return
	}
	switch x := v.(type) {
	case pyTuple:
		b.WriteString("(")
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			if b.Len() > 200 {
				b.WriteString("…")
				break
			}
			writeBrief(b, e, depth+1)
		}
		b.WriteString(")")
	case string:
		fmt.Fprintf(b, "%.60q", x)
	case int64, float64, bool:
		fmt.Fprint(b, x)
	default:
		b.WriteString(typeName(v))
	}
}

func typeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case *pyGlobal:
		return x.module + "." + x.name
	case *pyObject:
		return "object " + x.class.module + "." + x.class.name
	case *pyDict:
		return "dict"
	case *pyList:
		return "list"
	case pyTuple:
		return "tuple"
	case *tensorRef:
		return "tensor"
	case *storageRef:
		return "storage"
	}
	return fmt.Sprintf("%T", v)
}
