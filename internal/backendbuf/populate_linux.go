package backendbuf

import (
	"runtime"
	"sync"
	"syscall"
	"unsafe"
)

// populateMin is the smallest buffer, in bytes, populate faults in ahead.
const populateMin = 4 << 20

// populate faults the pages of a fresh buffer in ahead of its filling, with
// madvise(MADV_POPULATE_WRITE) (Linux 5.14+) over one part of it per core, instead of one page
// fault per 4 KiB page while it is filled: loading a checkpoint is the first touch of its whole
// size in fresh memory (docs/BENCHMARKS.md, issue 24). Best effort: an older kernel refuses the
// advice and the pages fault in as before.
func populate(data []float32) {
	size := 4 * len(data)
	if size < populateMin {
		return
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(data))), size)
	parts := max(1, min(runtime.GOMAXPROCS(0), size/populateMin))
	per := (size/parts + 4095) &^ 4095
	var wg sync.WaitGroup
	for lo := 0; lo < size; lo += per {
		part := b[lo:min(lo+per, size)]
		wg.Go(func() { _ = syscall.Madvise(part, 23) }) // MADV_POPULATE_WRITE
	}
	wg.Wait()
}
