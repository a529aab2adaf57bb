//go:build !race

// Package racedetect tells tests whether the race detector is on: its instrumentation slows code
// down and changes what is allocated, so allocation counts are only checked without it.
package racedetect

// Enabled reports whether the binary was built with -race.
const Enabled = false
