package sigv4

import (
	"strconv"
	"testing"
)

// BenchmarkVerify measures strict verification of a typical SDK request
// with a body and a query, as the server sees it (RequestURI and Host set).
func BenchmarkVerify(b *testing.B) {
	v := testVerifier(ModeStrict)
	body := `{"name":"hello","semanticVersion":"1.0.0","platform":"Linux","data":"name: hello\nschemaVersion: 1.0\n"}`
	r := sign(b, request{method: "DELETE", url: "http://127.0.0.1:8080" + tagsPath + "?tagKeys=a&tagKeys=b%20c", body: body,
		header: map[string]string{"Content-Type": "application/json", "Amz-Sdk-Invocation-Id": "7b3b2a1c-0000-4000-8000-000000000000", "Amz-Sdk-Request": "attempt=1; max=3"}})
	r.RequestURI = r.URL.RequestURI()
	r.Host = "127.0.0.1:8080"
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	payload := []byte(body)
	if _, err := v.Verify(r, payload); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(r, payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyLoopback is the default mode's cost: parsing only.
func BenchmarkVerifyLoopback(b *testing.B) {
	v := testVerifier(ModeLoopback)
	r := sign(b, request{method: "POST", url: "http://127.0.0.1:8080/ListImages", body: "{}"})
	r.RequestURI = r.URL.RequestURI()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(r, []byte("{}")); err != nil {
			b.Fatal(err)
		}
	}
}
