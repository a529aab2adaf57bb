//go:build !xla

package xlabackend

// Linked reports whether this binary was built with the xla tag, i.e. has the XLA backend.
const Linked = false
