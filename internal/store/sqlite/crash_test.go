package sqlite

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/kiln-build/kiln/internal/store"
)

// Environment of the child process TestCrashRecovery starts.
const (
	crashDBEnv     = "KILN_SQLITE_CRASH_DB"
	crashPrefixEnv = "KILN_SQLITE_CRASH_PREFIX"
)

const (
	crashWriters = 32
	crashRounds  = 3
)

// crashResource is the resource the child writes for (prefix, writer, i).
// Everything in it is a function of its ARN, so the parent can tell an
// intact row from a torn one without the child's help.
func crashResource(prefix string, writer, i int) store.Resource {
	name := fmt.Sprintf("%s-w%02d-%05d", prefix, writer, i)
	arn := "arn:aws:imagebuilder:us-east-1:111111111111:component/" + name + "/1.0.0/1"
	return store.Resource{
		ARN: arn, Kind: "component", Account: "111111111111", Region: "us-east-1",
		Name: name, Version: "1.0.0", Build: 1,
		Doc:        crashDoc(arn),
		Tags:       map[string]string{"arn": arn, "writer": fmt.Sprint(writer)},
		Policy:     `{"for":"` + arn + `"}`,
		SharedWith: []string{"*"},
	}
}

// crashDoc is a few KiB, so that a row spans more than one page.
func crashDoc(arn string) []byte {
	sum := sha256.Sum256([]byte(arn))
	pad := strings.Repeat(hex.EncodeToString(sum[:]), 64)
	return fmt.Appendf(nil, `{"arn":%q,"pad":%q}`, arn, pad)
}

// checkCrashRow reports how r differs from what the child wrote for its ARN.
func checkCrashRow(r store.Resource) error {
	var problems []string
	if !bytes.Equal(r.Doc, crashDoc(r.ARN)) {
		problems = append(problems, "doc")
	}
	if r.Tags["arn"] != r.ARN || len(r.Tags) != 2 {
		problems = append(problems, fmt.Sprintf("tags %v", r.Tags))
	}
	if r.Policy != `{"for":"`+r.ARN+`"}` {
		problems = append(problems, "policy")
	}
	if !slices.Equal(r.SharedWith, []string{"*"}) {
		problems = append(problems, fmt.Sprintf("shared with %v", r.SharedWith))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s: torn row: %s", r.ARN, strings.Join(problems, ", "))
	}
	return nil
}

// TestCrashChild is the writer process of TestCrashRecovery; it does
// nothing unless started by it. It inserts from crashWriters goroutines and
// prints "ACK <arn>" only after Update returned nil for that ARN.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashDBEnv)
	if path == "" {
		t.Skip("started only by TestCrashRecovery")
	}
	prefix := os.Getenv(crashPrefixEnv)
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range crashWriters {
		wg.Go(func() {
			// Bounded, in case the parent dies before killing us.
			for i := range 5000 {
				r := crashResource(prefix, w, i)
				err := s.Update(ctx, func(tx store.Tx) error {
					if err := tx.Insert(ctx, r); err != nil {
						return err
					}
					_, err := tx.NextBuild(ctx, r.Account, r.Region, r.Kind, r.Name, r.Version)
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				// One write(2) per line: a line is in the pipe whole or not at all.
				os.Stdout.WriteString("ACK " + r.ARN + "\n")
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	s.Close()
}

// TestCrashRecovery kills a writing process with SIGKILL mid-stream, three
// times over the same database, and checks after each kill that every
// acknowledged insert is there and that no row is torn.
//
// SIGKILL loses no data the kernel already has, so this proves that
// acknowledgement follows commit and that recovery from a WAL cut at an
// arbitrary point is clean; that the commit's fsync reaches the disk is
// synchronous=FULL's job, checked by TestPragmas.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	ctx := context.Background()
	acked := map[string]bool{}
	for round := range crashRounds {
		var stderr bytes.Buffer
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDBEnv+"="+path, crashPrefixEnv+"="+fmt.Sprint("r", round))
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAt := 400 + 300*round
		n, killed := 0, false
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			arn, ok := strings.CutPrefix(sc.Text(), "ACK ")
			if !ok {
				continue
			}
			acked[arn] = true
			if n++; n == killAt {
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				killed = true
			}
			// Lines already in the pipe when the child died were
			// acknowledged too: keep reading to EOF.
		}
		err = cmd.Wait()
		var exit *exec.ExitError
		if !killed || !errors.As(err, &exit) {
			t.Fatalf("round %d: child ended before the kill (%d acks): %v\n%s", round, n, err, stderr.Bytes())
		}
		t.Logf("round %d: killed after %d acknowledged inserts", round, n)

		s, err := Open(ctx, path)
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		var check string
		if err := s.read.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
			t.Errorf("round %d: integrity_check = %q, %v", round, check, err)
		}
		var rows []store.Resource
		err = s.View(ctx, func(tx store.Tx) error {
			var err error
			rows, err = tx.List(ctx, store.Query{Kind: "component", Region: "us-east-1"})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		present := map[string]bool{}
		for _, r := range rows {
			present[r.ARN] = true
			if err := checkCrashRow(r); err != nil {
				t.Errorf("round %d: %v", round, err)
			}
		}
		missing := 0
		for arn := range acked {
			if !present[arn] {
				missing++
				if missing <= 5 {
					t.Errorf("round %d: acknowledged %s is missing", round, arn)
				}
			}
		}
		if missing > 0 {
			t.Fatalf("round %d: %d of %d acknowledged inserts lost", round, missing, len(acked))
		}
		// Every committed insert took a build number with it, atomically.
		var counters int
		if err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM build_counters").Scan(&counters); err != nil {
			t.Fatal(err)
		}
		if counters != len(rows) {
			t.Errorf("round %d: %d build counters for %d rows", round, counters, len(rows))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
