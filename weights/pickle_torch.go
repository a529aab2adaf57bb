package weights

import (
	"errors"
	"fmt"
	"strings"
)

// The torch-specific half of the unpickler: which globals exist, what "calling" them builds, and
// how storage ids resolve. Everything here constructs inert Go values.

// storageDTypes maps torch's legacy typed-storage classes (still what torch.save writes) to
// safetensors dtype names.
var storageDTypes = map[string]string{
	"FloatStorage": "F32", "HalfStorage": "F16", "BFloat16Storage": "BF16", "DoubleStorage": "F64",
	"LongStorage": "I64", "IntStorage": "I32", "ShortStorage": "I16", "CharStorage": "I8",
	"ByteStorage": "U8", "BoolStorage": "BOOL",
}

// torchDTypes are the torch.<dtype> objects that may appear as plain values.
var torchDTypes = map[string]bool{
	"float32": true, "float": true, "float16": true, "half": true, "bfloat16": true, "float64": true,
	"double": true, "int64": true, "long": true, "int32": true, "int": true, "int16": true,
	"short": true, "int8": true, "uint8": true, "bool": true,
}

// resolveGlobal is the allow-list: everything a state dict or a TorchScript module tree needs,
// nothing that could have side effects if a real unpickler ran it.
func resolveGlobal(module, name string) (*pyGlobal, error) {
	ok := false
	switch {
	case module == "collections" && name == "OrderedDict":
		ok = true
	case module == "torch._utils":
		switch name {
		case "_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_parameter", "_rebuild_parameter_with_state":
			ok = true
		}
	case module == "torch":
		ok = storageDTypes[name] != "" || torchDTypes[name]
	case module == "__torch__" || strings.HasPrefix(module, "__torch__."):
		ok = true
	}
	if !ok {
		return nil, fmt.Errorf("global %.100s.%.100s is not allowed", module, name)
	}
	return &pyGlobal{module, name}, nil
}

// callGlobal is REDUCE for the allow-listed callables.
func callGlobal(g *pyGlobal, args pyTuple) (any, error) {
	switch g.module + "." + g.name {
	case "collections.OrderedDict":
		if len(args) != 0 {
			return nil, errors.New("OrderedDict with arguments is not supported")
		}
		return newDict(), nil
	case "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2":
		// (storage, storage_offset, size, stride[, requires_grad, backward_hooks[, metadata]])
		if len(args) < 4 || len(args) > 7 {
			return nil, fmt.Errorf("%s takes 4 to 7 arguments, got %d", g.name, len(args))
		}
		return rebuildTensor(args[0], args[1], args[2], args[3])
	case "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state":
		// (data, requires_grad, backward_hooks[, state]): a Parameter is its data tensor.
		if len(args) < 3 || len(args) > 4 {
			return nil, fmt.Errorf("%s takes 3 or 4 arguments, got %d", g.name, len(args))
		}
		t, ok := args[0].(*tensorRef)
		if !ok {
			return nil, fmt.Errorf("%s of %s", g.name, typeName(args[0]))
		}
		return t, nil
	}
	return nil, fmt.Errorf("calling %s.%s is not allowed", g.module, g.name)
}

// newObject is NEWOBJ: only TorchScript classes, which are inert attribute holders.
func newObject(g *pyGlobal, args pyTuple) (any, error) {
	if g.module != "__torch__" && !strings.HasPrefix(g.module, "__torch__.") {
		return nil, fmt.Errorf("cannot instantiate %s.%s", g.module, g.name)
	}
	if len(args) != 0 {
		return nil, fmt.Errorf("%s.%s with arguments is not supported", g.module, g.name)
	}
	return &pyObject{class: g}, nil
}

func rebuildTensor(storage, offset, size, stride any) (*tensorRef, error) {
	s, ok := storage.(*storageRef)
	if !ok {
		return nil, fmt.Errorf("tensor storage is %s", typeName(storage))
	}
	off, ok := offset.(int64)
	if !ok || off < 0 {
		return nil, fmt.Errorf("bad storage offset %s", brief(offset))
	}
	sz, ok1 := size.(pyTuple)
	st, ok2 := stride.(pyTuple)
	if !ok1 || !ok2 || len(sz) != len(st) {
		return nil, fmt.Errorf("size %s and stride %s must be tuples of equal length", brief(size), brief(stride))
	}
	dims := make([]int64, len(sz))
	t := &tensorRef{storage: s, offset: off, stride: make([]int64, len(st))}
	for i := range sz {
		d, ok1 := sz[i].(int64)
		s, ok2 := st[i].(int64)
		if !ok1 || !ok2 || s < 0 {
			return nil, fmt.Errorf("bad size %s or stride %s", brief(size), brief(stride))
		}
		dims[i], t.stride[i] = d, s
	}
	var err error
	if t.shape, t.numel, err = checkShape(dims); err != nil {
		return nil, err
	}
	return t, nil
}

// torchPersistentLoad resolves torch's storage ids ('storage', torch.XStorage, key, location,
// numel) without reading anything: the data is fetched after the pickle has been checked.
func torchPersistentLoad(pid any) (any, error) {
	t, ok := pid.(pyTuple)
	if !ok || len(t) != 5 || t[0] != "storage" {
		return nil, fmt.Errorf("unsupported persistent id %s", brief(pid))
	}
	g, ok := t[1].(*pyGlobal)
	key, ok2 := t[2].(string)
	loc, ok3 := t[3].(string)
	n, ok4 := t[4].(int64)
	if !ok || !ok2 || !ok3 || !ok4 || n < 0 {
		return nil, fmt.Errorf("malformed storage id %s", brief(pid))
	}
	dt := storageDTypes[g.name]
	if g.module != "torch" || dt == "" {
		return nil, fmt.Errorf("storage %q has unsupported type %s.%s", key, g.module, g.name)
	}
	return &storageRef{dtype: dt, key: key, location: loc, numel: n}, nil
}
