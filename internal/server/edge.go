package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/kiln-build/kiln/internal/awsapi"
)

// DefaultBodyTimeout is Server.BodyTimeout when zero: an API body is at
// most a megabyte, which any live client sends in far less.
const DefaultBodyTimeout = 30 * time.Second

// DefaultUploadTimeout is Server.UploadTimeout when zero: long enough for
// a multi-gigabyte layer over a slow link, short enough that a connection
// cannot be held for ever by a body that trickles in.
const DefaultUploadTimeout = time.Hour

func (s *Server) bodyTimeout() time.Duration {
	if s.BodyTimeout > 0 {
		return s.BodyTimeout
	}
	return DefaultBodyTimeout
}

func (s *Server) uploadTimeout() time.Duration {
	if s.UploadTimeout > 0 {
		return s.UploadTimeout
	}
	return DefaultUploadTimeout
}

// Bodies the server holds before their signature can be checked (most
// SDKs do not send X-Amz-Content-Sha256, so the signature covers a hash of
// the body that only reading it yields) are bounded in memory: one of at
// most smallBody bytes always proceeds, larger ones share
// pendingBodyBudget, and a body that finds the budget spent is refused
// with ThrottlingException, which SDKs retry. Legitimate large bodies
// (inline component documents) are rare and brief; a crowd of stalled
// megabyte bodies from a client that knows an access key ID but not its
// secret then costs the budget, not a megabyte each.
const (
	smallBody         = 64 << 10
	pendingBodyBudget = 32 << 20
)

// readBody reads an API request body: at most maxBodyBytes, all of it
// within BodyTimeout, in memory reserved from the pending-body budget.
// release gives the reservation back; call it once the body is verified
// or refused.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) (body []byte, release func(), err error) {
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		// Nothing to wait for (a GET): no deadline to arm and clear, each
		// of which reprograms the runtime's timers and may wake the
		// network poller.
		return []byte{}, func() {}, nil
	}
	size := r.ContentLength
	if size < 0 { // chunked: reserve for the worst case
		size = maxBodyBytes + 1
	}
	reserved := int64(0)
	if size > smallBody {
		if s.pending.Add(size) > pendingBodyBudget {
			s.pending.Add(-size)
			return nil, func() {}, awsapi.Errorf(awsapi.ErrCodeThrottlingException, "Rate exceeded: too many large request bodies are arriving at once; retry")
		}
		reserved = size
	}
	release = func() { s.pending.Add(-reserved) }
	timeout := s.bodyTimeout()
	rd := newDeadlineBody(w, r.Body, timeout, timeout)
	buf := bytes.NewBuffer(make([]byte, 0, min(size, maxBodyBytes)+1))
	_, err = buf.ReadFrom(io.LimitReader(rd, maxBodyBytes+1))
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, release, awsapi.Errorf(awsapi.ErrCodeRequestTimeoutException, "the request body did not arrive within %s", timeout)
	case err != nil:
		return nil, release, awsapi.Errorf(awsapi.ErrCodeSerializationException, "reading the request body: %v", err)
	case buf.Len() > maxBodyBytes:
		return nil, release, awsapi.Errorf(awsapi.ErrCodeInvalidRequestException, "the request body exceeds %d bytes", maxBodyBytes)
	}
	return buf.Bytes(), release, nil
}

// withUploadDeadline bounds the body of requests h serves: it must arrive
// within UploadTimeout and never stall longer than BodyTimeout. The first
// deadline is set before h runs, so a body h refuses without reading is
// still bounded while the server drains it after h returns.
func (s *Server) withUploadDeadline(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
			body := newDeadlineBody(w, r.Body, s.bodyTimeout(), s.uploadTimeout())
			body.arm()
			r.Body = body
			w = &closeOnRefusal{ResponseWriter: w, body: body}
		}
		h.ServeHTTP(w, r)
	})
}

// closeOnRefusal closes the connection after an error answer to a request
// whose body was not read to its end (a registry upload refused for want
// of credentials): otherwise Go's server would first drain up to 256 KiB
// of a body nobody will use, from a client that may never send it.
type closeOnRefusal struct {
	http.ResponseWriter
	body *deadlineBody
}

func (c *closeOnRefusal) WriteHeader(code int) {
	if code >= 400 && !c.body.done {
		c.Header().Set("Connection", "close")
	}
	c.ResponseWriter.WriteHeader(code)
}

// Flush and Unwrap keep streaming and http.ResponseController working
// through the wrapper.
func (c *closeOnRefusal) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (c *closeOnRefusal) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// deadlineBody reads a request body under the connection's read deadline,
// moved forward before every read: the next bytes must come within
// stall, and the whole body by the fixed end. It is kiln's answer to
// slowloris bodies.
//
// Why not http.Server.ReadTimeout: it is one deadline for the headers and
// the whole body of every request, so any value short enough to cut a
// stalled API body would also cut a legitimate multi-gigabyte layer upload
// to /v2/, and one long enough for the upload would let a stalled API body
// hold its connection for as long. Per-request deadlines set through
// http.ResponseController give each kind of body its own bound.
//
// The deadline is cleared once the body has been read to its end: Go's
// server then keeps a background read on the connection while the handler
// runs, to notice a client going away, and a deadline left in place would
// fire there and cancel the request of a handler that merely takes its
// time. A body not read to its end keeps its deadline, so the server's
// drain of the rest after the handler returns is bounded too.
type deadlineBody struct {
	rc    *http.ResponseController
	body  io.ReadCloser
	stall time.Duration
	end   time.Time
	done  bool
}

func newDeadlineBody(w http.ResponseWriter, body io.ReadCloser, stall, total time.Duration) *deadlineBody {
	return &deadlineBody{rc: http.NewResponseController(w), body: body, stall: stall, end: time.Now().Add(total)}
}

// arm moves the deadline forward by one stall, never past the end.
// ErrNotSupported (a ResponseWriter that is not the server's, as in some
// tests) leaves the body unbounded in time, as before.
func (d *deadlineBody) arm() {
	deadline := time.Now().Add(d.stall)
	if deadline.After(d.end) {
		deadline = d.end
	}
	d.rc.SetReadDeadline(deadline)
}

func (d *deadlineBody) Read(p []byte) (int, error) {
	if d.done {
		return d.body.Read(p)
	}
	d.arm()
	n, err := d.body.Read(p)
	if err == io.EOF {
		d.clear()
	}
	return n, err
}

func (d *deadlineBody) Close() error { return d.body.Close() }

func (d *deadlineBody) clear() {
	if !d.done {
		d.done = true
		d.rc.SetReadDeadline(time.Time{})
	}
}

// HostAllowList is the set of names a Host header may carry. In loopback
// mode kiln trusts whoever can reach it, and a web page the user visits
// can reach it too once its own name resolves to 127.0.0.1 (DNS
// rebinding): the browser then sends the attacker's name as Host. Checking
// Host against the names kiln is really known by closes that door, as
// Docker's and Jupyter's local servers do.
//
// Loopback addresses (127.0.0.0/8, ::1) and "localhost" are always
// allowed, on any port: an attacker controls the name in a rebinding
// attack, not the port, and proxies may rewrite the port. Entries added
// with Add are a bare name or address (any port) or host:port (that port
// only). Names compare case-insensitively, without a trailing dot.
type HostAllowList struct {
	names     map[string]bool // normalised hosts allowed on any port
	hostPorts map[string]bool // normalised "host:port"
}

// NewHostAllowList returns the loopback names plus entries.
func NewHostAllowList(entries ...string) *HostAllowList {
	l := &HostAllowList{names: map[string]bool{"localhost": true}, hostPorts: map[string]bool{}}
	for _, e := range entries {
		l.Add(e)
	}
	return l
}

// Add allows one more name: "host", "[v6]", "host:port" or "[v6]:port".
func (l *HostAllowList) Add(entry string) {
	host, port, ok := splitHost(entry)
	if host == "" {
		return
	}
	if ok && port != "" {
		l.hostPorts[net.JoinHostPort(host, port)] = true
		return
	}
	l.names[host] = true
}

// Allows reports whether a request whose Host header is hostHeader may be
// served.
func (l *HostAllowList) Allows(hostHeader string) bool {
	host, port, ok := splitHost(hostHeader)
	if !ok || host == "" {
		return false
	}
	if l.names[host] {
		return true
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return true
	}
	return port != "" && l.hostPorts[net.JoinHostPort(host, port)]
}

// splitHost splits a Host header value or allow-list entry into a
// normalised host (lower case, no brackets, no trailing dot) and its port
// ("" when absent). ok is false for values that are not host[:port].
func splitHost(v string) (host, port string, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", "", false
	}
	if h, p, err := net.SplitHostPort(v); err == nil {
		host, port = h, p
		if port == "" || strings.Trim(port, "0123456789") != "" {
			return "", "", false
		}
	} else {
		host = v
		if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
			host = host[1 : len(host)-1]
		}
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" || strings.ContainsAny(host, "[]/ \t@") {
		return "", "", false
	}
	if strings.Contains(host, ":") && net.ParseIP(host) == nil {
		return "", "", false
	}
	return host, port, true
}

// refuseHost answers a request whose Host is not on the allow-list: 403
// with the reason, as an AWS error on the API and an OCI error on the
// registry, so each kind of client shows it.
func (s *Server) refuseHost(w http.ResponseWriter, r *http.Request) {
	msg := "kiln does not serve the host name " + quoteHost(r.Host) +
		": in loopback mode only localhost, loopback addresses, the listen address and the registry host are accepted" +
		" (a defence against DNS rebinding); start kiln with --allow-host NAME to accept another name"
	if s.Log != nil {
		s.Log.Warn("refused a request for an unknown Host", "host", r.Host, "path", r.URL.Path, "remote", r.RemoteAddr)
	}
	w.Header().Set("Content-Type", "application/json")
	var payload []byte
	if strings.HasPrefix(r.URL.Path, "/v2/") || r.URL.Path == "/v2" {
		payload, _ = json.Marshal(map[string]any{"errors": []map[string]string{{"code": "DENIED", "message": msg}}})
	} else {
		w.Header().Set("X-Amzn-ErrorType", awsapi.ErrCodeAccessDeniedException)
		payload, _ = json.Marshal(struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}{awsapi.ErrCodeAccessDeniedException, msg})
	}
	w.WriteHeader(http.StatusForbidden)
	w.Write(payload)
}

// quoteHost quotes a client-supplied Host for a message, cut short.
func quoteHost(h string) string {
	if len(h) > 100 {
		h = h[:100] + "..."
	}
	b, _ := json.Marshal(h)
	return string(b)
}

// InternalError answers 500 for an error the client must not see (it can
// name host paths, SQL or other accounts' resources): the text goes to log
// with a fresh request ID, the client gets only the ID to quote. kiln's
// own endpoints outside the API use it; the API does the same in
// writeError.
func InternalError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	id := newRequestID()
	if log != nil {
		log.Error("request failed", "path", r.URL.Path, "requestId", id, "err", err)
	}
	w.Header().Set("x-amzn-RequestId", id)
	http.Error(w, "An internal error occurred. Request ID: "+id, http.StatusInternalServerError)
}
