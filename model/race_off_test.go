//go:build !race

package model

// raceEnabled reports whether the race detector is on: its sync.Pool drops
// items at random, so allocation counts mean nothing then.
const raceEnabled = false
