//go:build !go1.24

package main

// buildModern is a no-op before Go 1.24 (no runtime.AddCleanup, no weak package).
func buildModern(b *truthBuilder) {}
