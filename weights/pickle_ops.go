package weights

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// The opcodes the restricted unpickler (pickle.go) executes: one table entry per opcode byte, one
// small function per family (framing, stack and marks, constants, numbers, strings and bytes,
// containers, memo, globals and calls). Opcode numbers and meanings are CPython's
// Lib/pickletools.py; anything not in the table is refused.

// opcode is one supported instruction: its pickletools name (for error messages) and what it does.
type opcode struct {
	name string
	run  func(u *unpickler) error
}

const opStop = '.' // ends the pickle; unpickle handles it

var opcodes = [256]opcode{
	// Framing.
	0x80: {"PROTO", opProto}, 0x95: {"FRAME", opFrame}, opStop: {"STOP", nil},
	// The stack and its marks.
	'(': {"MARK", opMark}, '0': {"POP", opPop}, '1': {"POP_MARK", opPopMark}, '2': {"DUP", opDup},
	// Constants and empty containers (each push makes a new container: pickles mutate them).
	'N':  {"NONE", pushNew(func() any { return nil })},
	0x88: {"NEWTRUE", pushNew(func() any { return true })},
	0x89: {"NEWFALSE", pushNew(func() any { return false })},
	')':  {"EMPTY_TUPLE", pushNew(func() any { return pyTuple{} })},
	']':  {"EMPTY_LIST", pushNew(func() any { return &pyList{} })},
	'}':  {"EMPTY_DICT", pushNew(func() any { return newDict() })},
	// Numbers.
	'K': {"BININT1", opUint(1)}, 'M': {"BININT2", opUint(2)}, 'J': {"BININT", opBinInt},
	0x8a: {"LONG1", opLong1}, 'G': {"BINFLOAT", opBinFloat},
	// Strings and bytes, each after its length in 1, 4 or 8 little-endian bytes.
	0x8c: {"SHORT_BINUNICODE", opUnicode(1)}, 'X': {"BINUNICODE", opUnicode(4)}, 0x8d: {"BINUNICODE8", opUnicode(8)},
	'C': {"SHORT_BINBYTES", opBytes(1)}, 'B': {"BINBYTES", opBytes(4)},
	// Building containers.
	't': {"TUPLE", opTuple}, 0x85: {"TUPLE1", opTupleN(1)}, 0x86: {"TUPLE2", opTupleN(2)}, 0x87: {"TUPLE3", opTupleN(3)},
	'a': {"APPEND", opAppend}, 'e': {"APPENDS", opAppends},
	's': {"SETITEM", opSetItem}, 'u': {"SETITEMS", opSetItems},
	// The memo.
	'q': {"BINPUT", opPut(1)}, 'r': {"LONG_BINPUT", opPut(4)}, 0x94: {"MEMOIZE", opMemoize},
	'h': {"BINGET", opGet(1)}, 'j': {"LONG_BINGET", opGet(4)},
	// Globals (allow-listed) and their symbolic calls.
	'c': {"GLOBAL", opGlobal}, 0x93: {"STACK_GLOBAL", opStackGlobal}, 'Q': {"BINPERSID", opPersistentID},
	'R': {"REDUCE", opCall(callGlobal)}, 0x81: {"NEWOBJ", opCall(newObject)}, 'b': {"BUILD", opBuild},
}

// step executes one opcode; done is true after STOP.
func (u *unpickler) step(op byte) (done bool, err error) {
	if op == opStop {
		return true, nil
	}
	run := opcodes[op].run
	if run == nil {
		return false, errors.New("unsupported opcode")
	}
	return false, run(u)
}

func opName(op byte) string {
	if n := opcodes[op].name; n != "" {
		return n
	}
	return fmt.Sprintf("0x%02x", op)
}

// Framing.

func opProto(u *unpickler) error {
	v, err := u.uint(1)
	if err != nil {
		return err
	}
	if v > 5 {
		return fmt.Errorf("unsupported protocol %d", v)
	}
	return nil
}

// opFrame skips a frame's length: a prefix for buffering, meaningless once the data is in memory.
func opFrame(u *unpickler) error {
	_, err := u.uint(8)
	return err
}

// The stack and its marks.

func opMark(u *unpickler) error {
	u.marks = append(u.marks, len(u.stack))
	return nil
}

func opPop(u *unpickler) error {
	_, err := u.pop()
	return err
}

func opPopMark(u *unpickler) error {
	_, err := u.popMark()
	return err
}

func opDup(u *unpickler) error {
	v, err := u.top()
	if err == nil {
		u.push(v)
	}
	return err
}

// Constants.

func pushNew(v func() any) func(u *unpickler) error {
	return func(u *unpickler) error {
		u.push(v())
		return nil
	}
}

// Numbers.

// opUint pushes an unsigned integer of n little-endian bytes (BININT1, BININT2).
func opUint(n int) func(u *unpickler) error {
	return func(u *unpickler) error {
		v, err := u.uint(n)
		if err == nil {
			u.push(int64(v))
		}
		return err
	}
}

// opBinInt pushes a signed 4-byte integer.
func opBinInt(u *unpickler) error {
	v, err := u.uint(4)
	if err == nil {
		u.push(int64(int32(uint32(v))))
	}
	return err
}

// opLong1 pushes a little-endian two's complement integer of n bytes, n in the first byte.
func opLong1(u *unpickler) error {
	n, err := u.uint(1)
	if err != nil {
		return err
	}
	if n > 8 {
		return fmt.Errorf("integer of %d bytes does not fit int64", n)
	}
	b, err := u.take(int(n))
	if err != nil {
		return err
	}
	var v int64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | int64(b[i])
	}
	if n > 0 && n < 8 && b[n-1]&0x80 != 0 {
		v -= 1 << (8 * n) // sign-extend
	}
	u.push(v)
	return nil
}

// opBinFloat pushes a big-endian float64.
func opBinFloat(u *unpickler) error {
	b, err := u.take(8)
	if err == nil {
		u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
	}
	return err
}

// Strings and bytes.

// opUnicode pushes a UTF-8 string whose length comes first in size bytes.
func opUnicode(size int) func(u *unpickler) error {
	return func(u *unpickler) error {
		n, err := u.uint(size)
		if err != nil {
			return err
		}
		return u.str(n)
	}
}

// opBytes pushes a copy of a byte string whose length comes first in size bytes.
func opBytes(size int) func(u *unpickler) error {
	return func(u *unpickler) error {
		n, err := u.uint(size)
		if err != nil {
			return err
		}
		if n > uint64(len(u.data)-u.pos) {
			return errTruncated
		}
		b, _ := u.take(int(n))
		u.push(append([]byte(nil), b...))
		return nil
	}
}

// Building containers.

func opTuple(u *unpickler) error {
	items, err := u.popMark()
	if err == nil {
		u.push(pyTuple(items))
	}
	return err
}

// opTupleN makes a tuple of the top n values (TUPLE1..3).
func opTupleN(n int) func(u *unpickler) error {
	return func(u *unpickler) error {
		items := make(pyTuple, n)
		for i := n - 1; i >= 0; i-- {
			var err error
			if items[i], err = u.pop(); err != nil {
				return err
			}
		}
		u.push(items)
		return nil
	}
}

func opAppend(u *unpickler) error {
	v, err := u.pop()
	if err != nil {
		return err
	}
	return u.appendItems([]any{v})
}

func opAppends(u *unpickler) error {
	items, err := u.popMark()
	if err != nil {
		return err
	}
	return u.appendItems(items)
}

// appendItems appends items to the list on top of the stack.
func (u *unpickler) appendItems(items []any) error {
	l, err := u.top()
	if err != nil {
		return err
	}
	list, ok := l.(*pyList)
	if !ok {
		return fmt.Errorf("append to %s", typeName(l))
	}
	list.items = append(list.items, items...)
	return nil
}

func opSetItem(u *unpickler) error {
	items := make([]any, 2)
	var err error
	if items[1], err = u.pop(); err != nil {
		return err
	}
	if items[0], err = u.pop(); err != nil {
		return err
	}
	return u.setItems(items)
}

func opSetItems(u *unpickler) error {
	items, err := u.popMark()
	if err != nil {
		return err
	}
	return u.setItems(items)
}

// setItems sets key, value pairs in the dict on top of the stack.
func (u *unpickler) setItems(items []any) error {
	if len(items)%2 != 0 {
		return errors.New("odd number of items")
	}
	d, err := u.top()
	if err != nil {
		return err
	}
	dict, ok := d.(*pyDict)
	if !ok {
		return fmt.Errorf("setitem on %s", typeName(d))
	}
	for i := 0; i < len(items); i += 2 {
		if err := dict.set(items[i], items[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// The memo.

// opPut memoizes the top of the stack under an index of size bytes (BINPUT, LONG_BINPUT).
func opPut(size int) func(u *unpickler) error {
	return func(u *unpickler) error {
		i, err := u.uint(size)
		if err != nil {
			return err
		}
		return u.memoPut(uint32(i))
	}
}

func opMemoize(u *unpickler) error { return u.memoPut(uint32(len(u.memo))) }

// opGet pushes the memo entry of an index of size bytes (BINGET, LONG_BINGET).
func opGet(size int) func(u *unpickler) error {
	return func(u *unpickler) error {
		i, err := u.uint(size)
		if err != nil {
			return err
		}
		return u.memoGet(uint32(i))
	}
}

// Globals and calls.

// opGlobal resolves "module\nname\n" against the allow-list.
func opGlobal(u *unpickler) error {
	mod, err := u.line()
	if err != nil {
		return err
	}
	name, err := u.line()
	if err != nil {
		return err
	}
	g, err := resolveGlobal(mod, name)
	if err == nil {
		u.push(g)
	}
	return err
}

// opStackGlobal is GLOBAL with module and name taken from the stack.
func opStackGlobal(u *unpickler) error {
	name, err := u.pop()
	if err != nil {
		return err
	}
	mod, err := u.pop()
	if err != nil {
		return err
	}
	ms, ok1 := mod.(string)
	ns, ok2 := name.(string)
	if !ok1 || !ok2 {
		return errors.New("module and name must be strings")
	}
	g, err := resolveGlobal(ms, ns)
	if err == nil {
		u.push(g)
	}
	return err
}

// opPersistentID (BINPERSID) resolves a persistent id (a torch storage).
func opPersistentID(u *unpickler) error {
	pid, err := u.pop()
	if err != nil {
		return err
	}
	if u.persistentLoad == nil {
		return errors.New("persistent ids not supported here")
	}
	v, err := u.persistentLoad(pid)
	if err == nil {
		u.push(v)
	}
	return err
}

// opCall applies an allow-listed callable or class to an argument tuple (REDUCE: callGlobal,
// NEWOBJ: newObject), symbolically.
func opCall(apply func(*pyGlobal, pyTuple) (any, error)) func(u *unpickler) error {
	return func(u *unpickler) error {
		a, err := u.pop()
		if err != nil {
			return err
		}
		f, err := u.pop()
		if err != nil {
			return err
		}
		args, ok := a.(pyTuple)
		if !ok {
			return fmt.Errorf("arguments are %s, not a tuple", typeName(a))
		}
		g, ok := f.(*pyGlobal)
		if !ok {
			return fmt.Errorf("cannot call %s", typeName(f))
		}
		v, err := apply(g, args)
		if err == nil {
			u.push(v)
		}
		return err
	}
}

// opBuild sets an object's state (BUILD).
func opBuild(u *unpickler) error {
	state, err := u.pop()
	if err != nil {
		return err
	}
	obj, err := u.top()
	if err != nil {
		return err
	}
	switch o := obj.(type) {
	case *pyObject:
		o.state = state
	case *pyDict, *tensorRef:
		// An OrderedDict's __dict__ (a state dict's _metadata) or a tensor's Python
		// attributes: nothing a reader of weights needs.
	default:
		return fmt.Errorf("BUILD on %s", typeName(obj))
	}
	return nil
}
