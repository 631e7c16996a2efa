package main

import (
	"context"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder"
	"github.com/aws/aws-sdk-go-v2/service/imagebuilder/types"

	"github.com/kiln-build/kiln/internal/awsapi"
	"github.com/kiln-build/kiln/internal/kilntest"
)

// sdkOperations reflects over the aws-sdk-go-v2 client: every method
// shaped func(ctx, *XInput, ...func(*Options)) (*XOutput, error) is an
// operation.
func sdkOperations() []string {
	ctxType := reflect.TypeOf((*context.Context)(nil)).Elem()
	var ops []string
	ct := reflect.TypeOf(&imagebuilder.Client{})
	for i := range ct.NumMethod() {
		m := ct.Method(i)
		ft := m.Type
		if ft.NumIn() == 4 && ft.In(1) == ctxType && ft.In(2).Kind() == reflect.Pointer &&
			ft.In(2).Elem().Name() == m.Name+"Input" {
			ops = append(ops, m.Name)
		}
	}
	return ops
}

// TestEveryOperationIsRoutedAndAnswered sends every operation the current
// SDK knows to kiln with an empty input. Each must be routed: answered
// either by its implementation (success or a validation error) or with
// InvalidRequestException naming it as not supported yet — never an
// unknown route. The test logs which operations are not supported yet.
func TestEveryOperationIsRoutedAndAnswered(t *testing.T) {
	t.Parallel()
	ops := sdkOperations()
	if len(ops) != 77 {
		t.Errorf("aws-sdk-go-v2 imagebuilder knows %d operations, this test expects 77", len(ops))
	}
	srv := kilntest.Start(t)
	var unsupported []string
	for _, name := range ops {
		op := awsapi.OperationByName(name)
		if op == nil {
			t.Errorf("%s is not in the generated operation table", name)
			continue
		}
		path := strings.Replace(op.Path, "{resourceArn}", "arn%3Aaws%3Aimagebuilder%3Aus-east-1%3A000000000000%3Acomponent%2Fx%2F1.0.0%2F1", 1)
		var body []byte
		if op.Method == http.MethodPut || op.Method == http.MethodPost {
			body = []byte("{}")
		}
		resp := srv.Raw(t, kilntest.DefaultCreds, op.Method, path, body)
		switch {
		case resp.ErrorType == "InvalidRequestException" && strings.Contains(resp.Message, "does not support the operation "+name):
			if resp.Status != 400 {
				t.Errorf("%s: not-supported answer has status %d", name, resp.Status)
			}
			unsupported = append(unsupported, name)
		case resp.ErrorType == "UnknownOperationException" || resp.Status == 404 && resp.ErrorType == "":
			t.Errorf("%s %s is not routed: %d %s", op.Method, path, resp.Status, resp.Body)
		case resp.Status >= 500:
			t.Errorf("%s with an empty input: %d %s", name, resp.Status, resp.Body)
		}
	}
	t.Logf("%d of %d operations implemented; not supported yet: %s", len(ops)-len(unsupported), len(ops), strings.Join(unsupported, ", "))
}

// TestCrashLosesNoAcknowledgedWrite kills kiln with SIGKILL while 32
// clients create components, restarts it, and reads back every create
// that was acknowledged.
func TestCrashLosesNoAcknowledgedWrite(t *testing.T) {
	t.Parallel()
	srv := kilntest.Start(t)
	c := srv.Client(kilntest.DefaultCreds)
	ctx, cancel := context.WithCancel(kilntest.Context(t))
	defer cancel()

	var (
		mu    sync.Mutex
		acked []string
		count atomic.Int64
		wg    sync.WaitGroup
	)
	killed := make(chan struct{})
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				out, err := c.CreateComponent(ctx, &imagebuilder.CreateComponentInput{
					Name:            aws.String("crash-" + strconv.Itoa(w) + "-" + strconv.Itoa(i)),
					SemanticVersion: aws.String("1.0.0"), Platform: types.PlatformLinux,
					Data: aws.String(helloDoc),
				})
				if err != nil {
					return // the server died under us
				}
				mu.Lock()
				acked = append(acked, aws.ToString(out.ComponentBuildVersionArn))
				mu.Unlock()
				if count.Add(1) == 400 {
					close(killed)
				}
			}
		}()
	}
	<-killed
	srv.Kill()
	wg.Wait()
	cancel()

	srv.Restart()
	// Reading back, the client retries transient transport errors as any
	// real client does; what is checked is the data, not the first try.
	c = srv.Client(kilntest.DefaultCreds, func(o *imagebuilder.Options) {
		o.Retryer = retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 5 })
	})
	check := kilntest.Context(t)
	mu.Lock()
	defer mu.Unlock()
	for _, arn := range acked {
		got, err := c.GetComponent(check, &imagebuilder.GetComponentInput{ComponentBuildVersionArn: aws.String(arn)})
		if err != nil || aws.ToString(got.Component.Data) != helloDoc {
			t.Fatalf("acknowledged %s lost or damaged after kill -9: %v", arn, err)
		}
	}
	// Nothing half-written either: every stored component reads back whole.
	total := 0
	for _, page := range allPages(t, check, imagebuilder.NewListComponentsPaginator(c, &imagebuilder.ListComponentsInput{})) {
		for _, v := range page.ComponentVersionList {
			total++
			if _, err := c.GetComponent(check, &imagebuilder.GetComponentInput{ComponentBuildVersionArn: v.Arn}); err != nil {
				t.Fatalf("listed %s unreadable: %v", aws.ToString(v.Arn), err)
			}
		}
	}
	if total < len(acked) {
		t.Fatalf("%d components stored, %d acknowledged", total, len(acked))
	}
	t.Logf("%d creates acknowledged before kill -9, %d stored after restart", len(acked), total)
}
