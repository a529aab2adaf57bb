package weights

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
)

// This file is a restricted unpickler. Python's pickle is a small stack machine whose GLOBAL and
// REDUCE opcodes can call any importable function; here GLOBAL only resolves an allow-list of names
// and REDUCE/NEWOBJ only "call" them symbolically (building Go values), so a checkpoint can describe
// tensors and module trees but never run anything.

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

// step executes one opcode; done is true after STOP.
func (u *unpickler) step(op byte) (done bool, err error) {
	switch op {
	case 0x80: // PROTO
		v, err := u.uint(1)
		if err != nil {
			return false, err
		}
		if v > 5 {
			return false, fmt.Errorf("unsupported protocol %d", v)
		}
	case 0x95: // FRAME: a length prefix for buffering, meaningless once the data is in memory
		_, err = u.uint(8)
	case '.': // STOP
		return true, nil
	case '(': // MARK
		u.marks = append(u.marks, len(u.stack))
	case '0': // POP
		_, err = u.pop()
	case '1': // POP_MARK
		_, err = u.popMark()
	case '2': // DUP
		var v any
		if v, err = u.top(); err == nil {
			u.push(v)
		}
	case 'N':
		u.push(nil)
	case 0x88:
		u.push(true)
	case 0x89:
		u.push(false)
	case 'K': // BININT1
		var v uint64
		if v, err = u.uint(1); err == nil {
			u.push(int64(v))
		}
	case 'M': // BININT2
		var v uint64
		if v, err = u.uint(2); err == nil {
			u.push(int64(v))
		}
	case 'J': // BININT (signed)
		var v uint64
		if v, err = u.uint(4); err == nil {
			u.push(int64(int32(uint32(v))))
		}
	case 0x8a: // LONG1: little-endian two's complement of n bytes
		var n uint64
		if n, err = u.uint(1); err != nil {
			return false, err
		}
		if n > 8 {
			return false, fmt.Errorf("integer of %d bytes does not fit int64", n)
		}
		var b []byte
		if b, err = u.take(int(n)); err != nil {
			return false, err
		}
		var v int64
		for i := len(b) - 1; i >= 0; i-- {
			v = v<<8 | int64(b[i])
		}
		if n > 0 && n < 8 && b[n-1]&0x80 != 0 {
			v -= 1 << (8 * n) // sign-extend
		}
		u.push(v)
	case 'G': // BINFLOAT (big-endian)
		var b []byte
		if b, err = u.take(8); err == nil {
			u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
		}
	case 'X': // BINUNICODE
		var n uint64
		if n, err = u.uint(4); err == nil {
			err = u.str(n)
		}
	case 0x8c: // SHORT_BINUNICODE
		var n uint64
		if n, err = u.uint(1); err == nil {
			err = u.str(n)
		}
	case 0x8d: // BINUNICODE8
		var n uint64
		if n, err = u.uint(8); err == nil {
			err = u.str(n)
		}
	case 'C', 'B': // SHORT_BINBYTES, BINBYTES
		size := 1
		if op == 'B' {
			size = 4
		}
		var n uint64
		if n, err = u.uint(size); err == nil {
			if n > uint64(len(u.data)-u.pos) {
				return false, errTruncated
			}
			b, _ := u.take(int(n))
			u.push(append([]byte(nil), b...))
		}
	case ')':
		u.push(pyTuple{})
	case ']':
		u.push(&pyList{})
	case '}':
		u.push(newDict())
	case 't': // TUPLE
		var items []any
		if items, err = u.popMark(); err == nil {
			u.push(pyTuple(items))
		}
	case 0x85, 0x86, 0x87: // TUPLE1..3
		n := int(op - 0x84)
		items := make(pyTuple, n)
		for i := n - 1; i >= 0; i-- {
			if items[i], err = u.pop(); err != nil {
				return false, err
			}
		}
		u.push(items)
	case 'a', 'e': // APPEND, APPENDS
		var items []any
		if op == 'a' {
			var v any
			if v, err = u.pop(); err != nil {
				return false, err
			}
			items = []any{v}
		} else if items, err = u.popMark(); err != nil {
			return false, err
		}
		var l any
		if l, err = u.top(); err != nil {
			return false, err
		}
		list, ok := l.(*pyList)
		if !ok {
			return false, fmt.Errorf("append to %s", typeName(l))
		}
		list.items = append(list.items, items...)
	case 's', 'u': // SETITEM, SETITEMS
		var items []any
		if op == 's' {
			items = make([]any, 2)
			if items[1], err = u.pop(); err != nil {
				return false, err
			}
			if items[0], err = u.pop(); err != nil {
				return false, err
			}
		} else if items, err = u.popMark(); err != nil {
			return false, err
		}
		if len(items)%2 != 0 {
			return false, errors.New("odd number of items")
		}
		var d any
		if d, err = u.top(); err != nil {
			return false, err
		}
		dict, ok := d.(*pyDict)
		if !ok {
			return false, fmt.Errorf("setitem on %s", typeName(d))
		}
		for i := 0; i < len(items); i += 2 {
			if err = dict.set(items[i], items[i+1]); err != nil {
				return false, err
			}
		}
	case 'q': // BINPUT
		var i uint64
		if i, err = u.uint(1); err == nil {
			err = u.memoPut(uint32(i))
		}
	case 'r': // LONG_BINPUT
		var i uint64
		if i, err = u.uint(4); err == nil {
			err = u.memoPut(uint32(i))
		}
	case 0x94: // MEMOIZE
		err = u.memoPut(uint32(len(u.memo)))
	case 'h': // BINGET
		var i uint64
		if i, err = u.uint(1); err == nil {
			err = u.memoGet(uint32(i))
		}
	case 'j': // LONG_BINGET
		var i uint64
		if i, err = u.uint(4); err == nil {
			err = u.memoGet(uint32(i))
		}
	case 'c': // GLOBAL "module\nname\n"
		var mod, name string
		if mod, err = u.line(); err != nil {
			return false, err
		}
		if name, err = u.line(); err != nil {
			return false, err
		}
		var g *pyGlobal
		if g, err = resolveGlobal(mod, name); err == nil {
			u.push(g)
		}
	case 0x93: // STACK_GLOBAL
		var mod, name any
		if name, err = u.pop(); err != nil {
			return false, err
		}
		if mod, err = u.pop(); err != nil {
			return false, err
		}
		ms, ok1 := mod.(string)
		ns, ok2 := name.(string)
		if !ok1 || !ok2 {
			return false, errors.New("module and name must be strings")
		}
		var g *pyGlobal
		if g, err = resolveGlobal(ms, ns); err == nil {
			u.push(g)
		}
	case 'Q': // BINPERSID
		var pid, v any
		if pid, err = u.pop(); err != nil {
			return false, err
		}
		if u.persistentLoad == nil {
			return false, errors.New("persistent ids not supported here")
		}
		if v, err = u.persistentLoad(pid); err == nil {
			u.push(v)
		}
	case 'R', 0x81: // REDUCE, NEWOBJ: callable/class and an argument tuple
		var f, a any
		if a, err = u.pop(); err != nil {
			return false, err
		}
		if f, err = u.pop(); err != nil {
			return false, err
		}
		args, ok := a.(pyTuple)
		if !ok {
			return false, fmt.Errorf("arguments are %s, not a tuple", typeName(a))
		}
		g, ok := f.(*pyGlobal)
		if !ok {
			return false, fmt.Errorf("cannot call %s", typeName(f))
		}
		var v any
		if op == 'R' {
			v, err = callGlobal(g, args)
		} else {
			v, err = newObject(g, args)
		}
		if err == nil {
			u.push(v)
		}
	case 'b': // BUILD
		var state, obj any
		if state, err = u.pop(); err != nil {
			return false, err
		}
		if obj, err = u.top(); err != nil {
			return false, err
		}
		switch o := obj.(type) {
		case *pyObject:
			o.state = state
		case *pyDict, *tensorRef:
			// An OrderedDict's __dict__ (a state dict's _metadata) or a tensor's Python
			// attributes: nothing a reader of weights needs.
		default:
			return false, fmt.Errorf("BUILD on %s", typeName(obj))
		}
	default:
		return false, errors.New("unsupported opcode")
	}
	return false, err
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

var opNames = map[byte]string{
	0x80: "PROTO", 0x95: "FRAME", '.': "STOP", '(': "MARK", '0': "POP", '1': "POP_MARK", '2': "DUP",
	'N': "NONE", 0x88: "NEWTRUE", 0x89: "NEWFALSE", 'K': "BININT1", 'M': "BININT2", 'J': "BININT",
	0x8a: "LONG1", 'G': "BINFLOAT", 'X': "BINUNICODE", 0x8c: "SHORT_BINUNICODE", 0x8d: "BINUNICODE8",
	'C': "SHORT_BINBYTES", 'B': "BINBYTES", ')': "EMPTY_TUPLE", ']': "EMPTY_LIST", '}': "EMPTY_DICT",
	't': "TUPLE", 0x85: "TUPLE1", 0x86: "TUPLE2", 0x87: "TUPLE3", 'a': "APPEND", 'e': "APPENDS",
	's': "SETITEM", 'u': "SETITEMS", 'q': "BINPUT", 'r': "LONG_BINPUT", 0x94: "MEMOIZE", 'h': "BINGET",
	'j': "LONG_BINGET", 'c': "GLOBAL", 0x93: "STACK_GLOBAL", 'Q': "BINPERSID", 'R': "REDUCE",
	0x81: "NEWOBJ", 'b': "BUILD",
}

func opName(op byte) string {
	if n, ok := opNames[op]; ok {
		return n
	}
	return fmt.Sprintf("0x%02x", op)
}
