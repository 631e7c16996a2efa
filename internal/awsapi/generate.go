package awsapi

// The generated files (*_gen.go) come from the Image Builder API model plus
// gen/overlay.json; see gen/main.go. .ci/run checks they are fresh: it
// runs `go generate ./...` and fails when the tree then differs.
//go:generate go run ./gen
