package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// floorBody is the floor server's answer: about the size and shape of a
// small Image Builder response, so the bytes on the wire are comparable.
var floorBody = []byte(`{"requestId":"00000000-0000-4000-8000-000000000000","component":{"arn":"arn:aws:imagebuilder:us-east-1:111111111111:component/floor/1.0.0/1","name":"floor","version":"1.0.0","platform":"Linux","type":"BUILD"}}`)

// floorHandler is the least an HTTP API server can do: no routing, no
// authentication, no storage; a fixed body for every request. Whatever kiln
// spends beyond this is kiln's own cost.
func floorHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", fmt.Sprint(len(floorBody)))
		w.Write(floorBody)
	})
}

// serveFloor is the -floor-server mode: the floor runs in its own process,
// as kiln does, so both pay the same scheduling and loopback costs. It
// announces itself with a line in the same form as kiln's.
func serveFloor(listen string) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stdout, "floor listening on http://%s\n", ln.Addr())
	srv := &http.Server{Handler: floorHandler(), ReadHeaderTimeout: 10 * time.Second}
	return srv.Serve(ln)
}
