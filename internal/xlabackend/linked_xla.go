//go:build xla

package xlabackend

import (
	// GoMLX's XLA backend ("xla", also "stablehlo", "hlo", "shlo"): cgo, loads a PJRT plugin with
	// dlopen when a backend is created. Its autoinstall package is deliberately not imported, so
	// nothing is ever downloaded.
	_ "github.com/gomlx/go-xla/compute/xla"
)

// Linked reports whether this binary was built with the xla tag, i.e. has the XLA backend.
const Linked = true
