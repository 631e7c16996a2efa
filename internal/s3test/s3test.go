// Package s3test is a small in-memory S3-compatible server for tests: the
// path-style subset the S3 actions use (CreateBucket, PutObject,
// GetObject, HeadObject, ListObjectsV2), on loopback, with no signature
// checks. Debian ships no S3-compatible server, so tests that exercise
// the real aws-sdk-go-v2 client start this instead.
package s3test

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Owner is the account id the server reports as every bucket's owner;
// requests whose x-amz-expected-bucket-owner differs are refused, as S3
// does.
const Owner = "111122223333"

type object struct {
	data     []byte
	modified time.Time
}

// Server is a running in-memory S3 endpoint. Use URL as the client's base
// endpoint with path-style addressing.
type Server struct {
	URL string

	srv     *httptest.Server
	mu      sync.Mutex
	buckets map[string]map[string]object
}

// Start starts a server on a loopback port. Close it when done.
func Start() *Server {
	s := &Server{buckets: map[string]map[string]object{}}
	s.srv = httptest.NewServer(s)
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// CreateBucket makes an empty bucket (a no-op if it exists).
func (s *Server) CreateBucket(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.buckets[name] == nil {
		s.buckets[name] = map[string]object{}
	}
}

// Put stores an object, creating the bucket if needed.
func (s *Server) Put(bucket, key string, data []byte) {
	s.CreateBucket(bucket)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buckets[bucket][key] = object{data: append([]byte(nil), data...), modified: time.Now().UTC()}
}

// Get returns an object's content.
func (s *Server) Get(bucket, key string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.buckets[bucket][key]
	return o.data, ok
}

// Keys returns a bucket's keys in order.
func (s *Server) Keys(bucket string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.buckets[bucket]))
	for k := range s.buckets[bucket] {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ServeHTTP implements the path-style S3 subset.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if bucket == "" {
		writeError(w, http.StatusNotImplemented, "NotImplemented", "ListBuckets is not supported")
		return
	}
	if want := r.Header.Get("x-amz-expected-bucket-owner"); want != "" && want != Owner {
		writeError(w, http.StatusForbidden, "AccessDenied", "bucket owner does not match")
		return
	}
	if key == "" {
		switch r.Method {
		case http.MethodPut:
			s.CreateBucket(bucket)
			w.WriteHeader(http.StatusOK)
		case http.MethodGet:
			s.list(w, r, bucket)
		case http.MethodHead:
			if !s.hasBucket(bucket) {
				writeError(w, http.StatusNotFound, "NoSuchBucket", bucket)
			}
		default:
			writeError(w, http.StatusNotImplemented, "NotImplemented", r.Method+" on a bucket")
		}
		return
	}
	switch r.Method {
	case http.MethodPut:
		s.put(w, r, bucket, key)
	case http.MethodGet, http.MethodHead:
		s.get(w, r, bucket, key)
	default:
		writeError(w, http.StatusNotImplemented, "NotImplemented", r.Method+" on an object")
	}
}

func (s *Server) hasBucket(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buckets[name] != nil
}

func (s *Server) put(w http.ResponseWriter, r *http.Request, bucket, key string) {
	if !s.hasBucket(bucket) {
		writeError(w, http.StatusNotFound, "NoSuchBucket", bucket)
		return
	}
	var body io.Reader = r.Body
	if strings.Contains(r.Header.Get("Content-Encoding"), "aws-chunked") ||
		strings.HasPrefix(r.Header.Get("x-amz-content-sha256"), "STREAMING-") {
		body = &chunkedReader{r: bufio.NewReader(r.Body)}
	}
	data, err := io.ReadAll(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "IncompleteBody", err.Error())
		return
	}
	s.Put(bucket, key, data)
	w.Header().Set("ETag", etag(data))
	w.WriteHeader(http.StatusOK)
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, bucket, key string) {
	s.mu.Lock()
	b := s.buckets[bucket]
	o, ok := b[key]
	s.mu.Unlock()
	switch {
	case b == nil:
		writeError(w, http.StatusNotFound, "NoSuchBucket", bucket)
		return
	case !ok:
		writeError(w, http.StatusNotFound, "NoSuchKey", key)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(o.data)))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("ETag", etag(o.data))
	w.Header().Set("Last-Modified", o.modified.Format(http.TimeFormat))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		w.Write(o.data)
	}
}

type listContents struct {
	Key          string `xml:"Key"`
	LastModified string `xml:"LastModified"`
	ETag         string `xml:"ETag"`
	Size         int    `xml:"Size"`
	StorageClass string `xml:"StorageClass"`
}

type listResult struct {
	XMLName               xml.Name       `xml:"http://s3.amazonaws.com/doc/2006-03-01/ ListBucketResult"`
	Name                  string         `xml:"Name"`
	Prefix                string         `xml:"Prefix"`
	KeyCount              int            `xml:"KeyCount"`
	MaxKeys               int            `xml:"MaxKeys"`
	IsTruncated           bool           `xml:"IsTruncated"`
	ContinuationToken     string         `xml:"ContinuationToken,omitempty"`
	NextContinuationToken string         `xml:"NextContinuationToken,omitempty"`
	Contents              []listContents `xml:"Contents"`
}

// list answers ListObjectsV2. The continuation token is simply the last
// key returned.
func (s *Server) list(w http.ResponseWriter, r *http.Request, bucket string) {
	q := r.URL.Query()
	if q.Get("list-type") != "2" {
		writeError(w, http.StatusNotImplemented, "NotImplemented", "only ListObjectsV2 is supported")
		return
	}
	maxKeys := 1000
	if v := q.Get("max-keys"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "InvalidArgument", "max-keys")
			return
		}
		maxKeys = min(n, 1000)
	}
	after := q.Get("start-after")
	if t := q.Get("continuation-token"); t != "" {
		after = t
	}
	prefix := q.Get("prefix")
	s.mu.Lock()
	b := s.buckets[bucket]
	s.mu.Unlock()
	if b == nil {
		writeError(w, http.StatusNotFound, "NoSuchBucket", bucket)
		return
	}
	res := listResult{Name: bucket, Prefix: prefix, MaxKeys: maxKeys, ContinuationToken: q.Get("continuation-token")}
	for _, k := range s.Keys(bucket) {
		if !strings.HasPrefix(k, prefix) || k <= after {
			continue
		}
		if len(res.Contents) == maxKeys {
			res.IsTruncated = true
			res.NextContinuationToken = res.Contents[len(res.Contents)-1].Key
			break
		}
		s.mu.Lock()
		o := b[k]
		s.mu.Unlock()
		res.Contents = append(res.Contents, listContents{
			Key: k, LastModified: o.modified.Format("2006-01-02T15:04:05.000Z"),
			ETag: etag(o.data), Size: len(o.data), StorageClass: "STANDARD",
		})
	}
	res.KeyCount = len(res.Contents)
	writeXML(w, http.StatusOK, res)
}

func etag(data []byte) string {
	sum := md5.Sum(data)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

type errorBody struct {
	XMLName xml.Name `xml:"Error"`
	Code    string   `xml:"Code"`
	Message string   `xml:"Message"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeXML(w, status, errorBody{Code: code, Message: msg})
}

func writeXML(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	if err := xml.NewEncoder(&buf).Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// chunkedReader decodes the aws-chunked content encoding SDKs use for
// streaming uploads: "<hex size>[;chunk-signature=...]\r\n<data>\r\n"
// repeated, a zero-size chunk, then optional trailer lines (checksums),
// which are ignored.
type chunkedReader struct {
	r    *bufio.Reader
	left int64 // bytes left in the current chunk
	done bool
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	for c.left == 0 {
		if c.done {
			return 0, io.EOF
		}
		if err := c.nextChunk(); err != nil {
			return 0, err
		}
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left == 0 && err == nil {
		err = c.readCRLF()
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (c *chunkedReader) nextChunk() error {
	line, err := c.r.ReadString('\n')
	if err != nil {
		return fmt.Errorf("aws-chunked: reading chunk header: %w", err)
	}
	sizeText, _, _ := strings.Cut(strings.TrimRight(line, "\r\n"), ";")
	size, err := strconv.ParseInt(strings.TrimSpace(sizeText), 16, 64)
	if err != nil || size < 0 {
		return fmt.Errorf("aws-chunked: bad chunk size %q", sizeText)
	}
	if size == 0 {
		c.done = true
		// Drain trailers up to the blank line (or the end of the body).
		for {
			l, err := c.r.ReadString('\n')
			if strings.TrimRight(l, "\r\n") == "" || err != nil {
				return nil
			}
		}
	}
	c.left = size
	return nil
}

func (c *chunkedReader) readCRLF() error {
	b, err := c.r.ReadByte()
	if err != nil {
		return err
	}
	if b == '\r' {
		if b, err = c.r.ReadByte(); err != nil {
			return err
		}
	}
	if b != '\n' {
		return errors.New("aws-chunked: missing CRLF after chunk")
	}
	return nil
}
