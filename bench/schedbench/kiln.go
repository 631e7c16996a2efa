package main

import (
	"net"
	"sync"
)

// The benchmark's throwaway credentials: kiln on loopback accepts any
// well-formed signature.
const (
	benchAccessKey = "AKIDSCHEDBENCH000001"
	benchSecret    = "schedbench-secret"
)

// hangingRegistry accepts TCP connections and never answers on them. A
// build whose parent image it names stays in its pull until kiln stops,
// holding one of kiln's build slots and costing no CPU; with every slot
// held, the other builds stay PENDING.
type hangingRegistry struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startHangingRegistry() (*hangingRegistry, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &hangingRegistry{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.conns = append(h.conns, c)
			h.mu.Unlock()
		}
	}()
	return h, nil
}

func (h *hangingRegistry) Addr() string { return h.ln.Addr().String() }

func (h *hangingRegistry) Close() {
	h.ln.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.conns {
		c.Close()
	}
}
