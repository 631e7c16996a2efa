// Package pgtest runs a throwaway PostgreSQL cluster for tests: Debian's
// postgresql-15 binaries, initdb into a temporary directory, a server on a
// free loopback port and a unix socket in that directory, fsync on (what
// kiln's PostgreSQL store promises is durability, so the tests run with
// it). One cluster serves a whole test binary, started on first use and
// stopped by Main; every caller of URL gets a fresh database in it, so
// tests stay independent without paying for an initdb each.
//
// initdb and postgres refuse to run as root; when the tests run as root
// (CI does), the cluster runs as the "postgres" user in a directory it
// owns.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// BinDir is where Debian's postgresql-15 installs its server binaries;
// KILN_PG_BINDIR overrides it.
const BinDir = "/usr/lib/postgresql/15/bin"

var (
	once     sync.Once
	cluster  *Cluster
	startErr error
	dbSeq    atomic.Int64
)

// Cluster is one running postgres server.
type Cluster struct {
	Dir  string // data directory and socket directory
	Port int
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

func binDir() string {
	if d := os.Getenv("KILN_PG_BINDIR"); d != "" {
		return d
	}
	return BinDir
}

// Available reports why PostgreSQL cannot run here, or "" when it can.
func Available() string {
	if _, err := os.Stat(filepath.Join(binDir(), "initdb")); err != nil {
		return fmt.Sprintf("PostgreSQL binaries not found in %s (apt-get install postgresql-15)", binDir())
	}
	return ""
}

// skipOrFail skips t when PostgreSQL is not installed, except under
// CI=true, where a missing database is a broken CI image rather than a
// developer's machine without PostgreSQL.
func skipOrFail(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("pgtest: %s", reason)
	}
	t.Skipf("pgtest: %s", reason)
}

// Start returns the binary's cluster, starting it on first use.
func Start(t testing.TB) *Cluster {
	t.Helper()
	if why := Available(); why != "" {
		skipOrFail(t, why)
	}
	once.Do(func() { cluster, startErr = start() })
	if startErr != nil {
		t.Fatalf("pgtest: %v", startErr)
	}
	return cluster
}

// URL creates a fresh, empty database and returns its postgres:// URL over
// TCP on loopback.
func URL(t testing.TB) string {
	t.Helper()
	c := Start(t)
	name := c.createDB(t)
	return c.tcpURL(name)
}

// SocketURL is URL over the cluster's unix socket.
func SocketURL(t testing.TB) string {
	t.Helper()
	c := Start(t)
	name := c.createDB(t)
	return c.socketURL(name)
}

func (c *Cluster) tcpURL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, db)
}

func (c *Cluster) socketURL(db string) string {
	return fmt.Sprintf("postgres://postgres@/%s?host=%s&port=%d&sslmode=disable", db, url.QueryEscape(c.Dir), c.Port)
}

func (c *Cluster) createDB(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d_%d", os.Getpid(), dbSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.tcpURL("postgres"))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	return name
}

// Main is a TestMain for packages that use the cluster: it runs the tests
// and stops the cluster.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop shuts the cluster down (fast shutdown) and removes its directory.
func Stop() {
	if cluster == nil {
		return
	}
	c := cluster
	cluster = nil
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	c.log.Close()
	os.RemoveAll(c.Dir)
}

// start runs initdb and postgres. The directory is made outside any test's
// TempDir (which is root-only) and given to the postgres user.
func start() (*Cluster, error) {
	dir, err := os.MkdirTemp("", "kiln-pg-")
	if err != nil {
		return nil, err
	}
	cred, err := credential(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(binDir(), "initdb"), "-D", data, "-U", "postgres",
		"--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-instructions")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	initdb.Dir = dir
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	var lastErr error
	for range 5 { // a free port can be taken between choosing and binding
		c, err := run(dir, data, cred)
		if err == nil {
			return c, nil
		}
		lastErr = err
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

func run(dir, data string, cred *syscall.Credential) (*Cluster, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(binDir(), "postgres"), "-D", data,
		"-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=on", "-c", "synchronous_commit=on",
		"-c", "max_connections=300",
		"-c", "shared_buffers=64MB")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	c := &Cluster{Dir: dir, Port: port, cmd: cmd, done: make(chan struct{}), log: logf}
	go func() { cmd.Wait(); close(c.done) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		conn, err := pgx.Connect(ctx, c.tcpURL("postgres"))
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return c, nil
		}
		select {
		case <-c.done:
			logf.Close()
			out, _ := os.ReadFile(logf.Name())
			return nil, fmt.Errorf("postgres exited: %s", tail(string(out)))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-c.done
			logf.Close()
			return nil, fmt.Errorf("postgres did not accept connections: %v", err)
		}
	}
}

// credential returns the postgres user's credential and gives it dir, or
// nil when not running as root.
func credential(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, errors.New("running as root and there is no postgres user to run the cluster as")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return strings.Join(lines, "\n")
}
