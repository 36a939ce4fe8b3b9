package server

import "testing"

func BenchmarkZZRegistryServer(b *testing.B) {
	for b.Loop() {
		newRegistryServer(b, false)
	}
}
func BenchmarkZZTestServer(b *testing.B) {
	for b.Loop() {
		newTestServer(b, true)
	}
}
