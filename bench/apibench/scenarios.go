package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
)

// componentDocument is the smallest AWSTOE document kiln accepts; every
// created component uses it, so CreateComponent measures the API and the
// store, not YAML parsing of a big document.
const componentDocument = `name: bench
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Hello
        action: ExecuteBash
        inputs:
          commands:
            - echo hello
`

// listPageSize is the page size of the ListComponents scenario.
const listPageSize = 25

// floorPath is what the floor scenario requests; the floor server answers
// every path alike.
const floorPath = "/GetComponent?componentBuildVersionArn=floor"

// floorScenario requests the floor server's fixed body. Its name must
// start with "floor".
func floorScenario(name string) Scenario {
	return Scenario{Name: name, NewWorker: func(int, int) Worker {
		return fixedWorker{Request{Method: "GET", Path: floorPath}}
	}}
}

type fixedWorker struct{ r Request }

func (w fixedWorker) Next() Request { return w.r }
func (fixedWorker) Observe([]byte)  {}

// getComponentScenario gets a uniformly random one of arns per request.
func getComponentScenario(arns []string) Scenario {
	paths := make([]string, len(arns))
	for i, a := range arns {
		paths[i] = "/GetComponent?componentBuildVersionArn=" + url.QueryEscape(a)
	}
	return Scenario{Name: "GetComponent", NewWorker: func(id, _ int) Worker {
		return &getWorker{paths: paths, rng: rand.New(rand.NewPCG(uint64(id), 1))}
	}}
}

type getWorker struct {
	paths []string
	rng   *rand.Rand
}

func (w *getWorker) Next() Request {
	return Request{Method: "GET", Path: w.paths[w.rng.IntN(len(w.paths))]}
}
func (*getWorker) Observe([]byte) {}

// listComponentsScenario walks ListComponents in pages of listPageSize:
// each request fetches the page after the previous one's nextToken, and the
// walk restarts at the first page after the last. Every goroutine walks on
// its own.
// Completed walks are added to walks, so the caller can check that each one
// saw every component.
func listComponentsScenario(walks *walkLog) Scenario {
	return Scenario{Name: "ListComponents", NewWorker: func(int, int) Worker { return &listWorker{walks: walks} }}
}

type listWorker struct {
	next  string // token for the next page; "" starts over
	pages int    // pages walked in the current walk
	items int    // items seen in the current walk
	walks *walkLog
}

// walk is the length of one complete ListComponents walk.
type walk struct{ Pages, Items int }

// walkLog collects the walks of all goroutines.
type walkLog struct {
	mu    sync.Mutex
	walks []walk
}

func (l *walkLog) add(w walk) {
	l.mu.Lock()
	l.walks = append(l.walks, w)
	l.mu.Unlock()
}

// summary returns how many walks there were and the distinct shapes they
// had; a healthy run has exactly one shape.
func (l *walkLog) summary() (n int, shapes []walk) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, w := range l.walks {
		if !slices.Contains(shapes, w) {
			shapes = append(shapes, w)
		}
	}
	return len(l.walks), shapes
}

type listRequest struct {
	MaxResults int    `json:"maxResults"`
	NextToken  string `json:"nextToken,omitempty"`
}

type listResponse struct {
	ComponentVersionList []json.RawMessage `json:"componentVersionList"`
	NextToken            string            `json:"nextToken"`
}

func (w *listWorker) Next() Request {
	body, _ := json.Marshal(listRequest{MaxResults: listPageSize, NextToken: w.next})
	return Request{Method: "POST", Path: "/ListComponents", Body: body}
}

func (w *listWorker) Observe(body []byte) {
	var resp listResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		w.next = ""
		return
	}
	w.pages++
	w.items += len(resp.ComponentVersionList)
	w.next = resp.NextToken
	if w.next == "" {
		w.walks.add(walk{w.pages, w.items})
		w.pages, w.items = 0, 0
	}
}

// createComponentScenario creates a new component per request. Names are
// unique across the whole benchmark run (prefix, goroutine, sequence), so
// every request is a fresh durable write rather than an idempotent replay.
// created counts the acknowledged creates, for checking afterwards that
// all of them are listed.
func createComponentScenario(prefix string, seq, created *atomic.Int64) Scenario {
	return Scenario{Name: "CreateComponent", NewWorker: func(int, int) Worker {
		return &createWorker{prefix: prefix, seq: seq, created: created}
	}}
}

type createWorker struct {
	prefix  string
	seq     *atomic.Int64
	created *atomic.Int64
}

type createRequest struct {
	Name            string `json:"name"`
	SemanticVersion string `json:"semanticVersion"`
	Platform        string `json:"platform"`
	ClientToken     string `json:"clientToken"`
	Data            string `json:"data"`
}

type createResponse struct {
	ComponentBuildVersionArn string `json:"componentBuildVersionArn"`
}

// createBody is the CreateComponent request for the n-th component.
func createBody(prefix string, n int64) []byte {
	name := fmt.Sprintf("%s-%06d", prefix, n)
	body, _ := json.Marshal(createRequest{
		Name: name, SemanticVersion: "1.0.0", Platform: "Linux",
		ClientToken: name, Data: componentDocument,
	})
	return body
}

func (w *createWorker) Next() Request {
	return Request{Method: "PUT", Path: "/CreateComponent", Body: createBody(w.prefix, w.seq.Add(1))}
}

func (w *createWorker) Observe(body []byte) {
	// Decoding the response costs the client what an SDK would spend on it.
	var resp createResponse
	if json.Unmarshal(body, &resp) == nil && resp.ComponentBuildVersionArn != "" {
		w.created.Add(1)
	}
}
