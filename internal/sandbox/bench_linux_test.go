//go:build linux

package sandbox

import (
	"context"
	"testing"
)

// BenchmarkRun is the cost of one sandboxed `true` per network and with
// limits: what every component phase of a build pays.
func BenchmarkRun(b *testing.B) {
	requireSandbox(b)
	for _, tt := range []struct {
		name string
		cfg  func(*Config)
	}{
		{"host", func(c *Config) {}},
		{"none", func(c *Config) { c.Network = NetworkNone }},
		{"private", func(c *Config) { c.Network = NetworkPrivate }},
		{"host+limits", func(c *Config) { c.Limits = Limits{MilliCPU: 1000, Memory: 1 << 30, Pids: 1024} }},
	} {
		b.Run(tt.name, func(b *testing.B) {
			cfg := newLayers(b).config()
			tt.cfg(&cfg)
			if cfg.Network == NetworkPrivate && PrivateNetwork().Helper == "" {
				b.Skip("no private network here")
			}
			b.ResetTimer()
			for range b.N {
				if code, err := Run(context.Background(), cfg, "/bin/true"); err != nil || code != 0 {
					b.Fatalf("code %d err %v", code, err)
				}
			}
		})
	}
}
