package awsapi

// The generated files (*_gen.go) come from the Image Builder API model plus
// gen/overlay.json; see gen/main.go. CI checks they are fresh with
// `go generate ./internal/awsapi && git diff --exit-code`.
//go:generate go run ./gen
