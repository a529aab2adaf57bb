//go:build !linux

package backendbuf

// populate is a no-op where pages are not faulted in ahead (populate_linux.go).
func populate([]float32) {}
