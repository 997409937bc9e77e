package sqlite

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

// writerEnv makes the test binary act as a writer process for the tests
// below instead of running tests.
const writerEnv = "CABALMAIL_SQLITE_TEST_WRITER"

// TestWriterProcess is the body of a child writer process: it creates
// users and addresses in the database named by the environment and prints
// each name once the store has acknowledged it. With count 0 it writes until
// killed.
func TestWriterProcess(t *testing.T) {
	if os.Getenv(writerEnv) == "" {
		t.Skip("runs only as a child of TestTwoProcesses and TestKillDurability")
	}
	path, prefix := os.Getenv(writerEnv), os.Getenv(writerEnv+"_PREFIX")
	count, _ := strconv.Atoi(os.Getenv(writerEnv + "_COUNT"))
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	for i := 0; count == 0 || i < count; i++ {
		if err := writeOne(ctx, s, prefix, i); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println(name(prefix, i))
	}
	s.Close()
	os.Exit(0)
}

func name(prefix string, i int) string { return fmt.Sprintf("%s%04d", prefix, i) }

// writeOne is one unit of acknowledged work: a user, an address it holds
// (a transaction that reads before it writes) and a count on the shared
// address.
func writeOne(ctx context.Context, s *Store, prefix string, i int) error {
	u := store.User{Name: name(prefix, i)}
	if err := s.CreateUser(ctx, &u); err != nil {
		return err
	}
	a := store.Address{Address: u.Name + "@" + prefix + ".example.test", Local: u.Name, Subdomain: prefix, Apex: "example.test",
		Holders: []store.Holding{{UserID: u.ID}}}
	if err := s.CreateAddress(ctx, &a); err != nil {
		return err
	}
	return s.CountReceived(ctx, "shared@common.example.test", time.Time{})
}

// sharedDB creates a database with the domain and the shared address the
// writers need.
func sharedDB(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "shared.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateDomain(ctx, &store.Domain{Apex: "example.test"}); err != nil {
		t.Fatal(err)
	}
	owner := store.User{Name: "owner"}
	if err := s.CreateUser(ctx, &owner); err != nil {
		t.Fatal(err)
	}
	a := store.Address{Address: "shared@common.example.test", Local: "shared", Subdomain: "common", Apex: "example.test",
		Holders: []store.Holding{{UserID: owner.ID}}}
	if err := s.CreateAddress(ctx, &a); err != nil {
		t.Fatal(err)
	}
	return path
}

// writer starts a child writer process and returns it with its output.
func writer(t *testing.T, path, prefix string, count int) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestWriterProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), writerEnv+"="+path, writerEnv+"_PREFIX="+prefix, writerEnv+"_COUNT="+strconv.Itoa(count))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Do not leave a writer running if the test ends early; killing one
	// that has exited fails harmlessly.
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd, bufio.NewScanner(out)
}

// received is the shared address's count as the owner sees it.
func received(t *testing.T, s *Store) int64 {
	t.Helper()
	a, err := s.AddressByName(context.Background(), "shared@common.example.test")
	if err != nil {
		t.Fatal(err)
	}
	return a.Holders[0].Received
}

// TestTwoProcesses runs two writer processes and this one against one
// database file at once: none may fail with SQLITE_BUSY, none may lose a
// write.
func TestTwoProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	path := sharedDB(t)
	const each = 40
	var wg sync.WaitGroup
	for _, prefix := range []string{"pa", "pb"} {
		cmd, out := writer(t, path, prefix, each)
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for out.Scan() {
				if line := out.Text(); line != name(prefix, n) {
					t.Errorf("writer %s: %q", prefix, line)
				}
				n++
			}
			if err := cmd.Wait(); err != nil {
				t.Errorf("writer %s: %v", prefix, err)
			}
			if n != each {
				t.Errorf("writer %s acknowledged %d writes, want %d", prefix, n, each)
			}
		}()
	}
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < each; i++ {
		if err := writeOne(ctx, s, "pc", i); err != nil {
			t.Errorf("this process: %v", err)
			break
		}
	}
	wg.Wait()
	users, err := s.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 + 3*each; len(users) != want {
		t.Errorf("%d users, want %d", len(users), want)
	}
	if n := received(t, s); n != 3*each {
		t.Errorf("shared address counted %d, want %d (lost updates)", n, 3*each)
	}
}

// TestTwoHandles is TestTwoProcesses within one process: two Stores on one
// file, each with its own connection pool, written from many goroutines.
func TestTwoHandles(t *testing.T) {
	ctx := context.Background()
	path := sharedDB(t)
	var stores [2]*Store
	for i := range stores {
		s, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores[i] = s
	}
	const goroutines, each = 4, 15
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[g%2]
			prefix := fmt.Sprintf("g%d", g)
			for i := 0; i < each; i++ {
				if err := writeOne(ctx, s, prefix, i); err != nil {
					t.Errorf("handle %d, goroutine %d: %v", g%2, g, err)
					return
				}
				// A read-write transaction on the other handle.
				if _, err := stores[(g+1)%2].UserByToken(ctx, "none"); err == nil {
					t.Error("UserByToken found a token that does not exist")
				}
			}
		}()
	}
	wg.Wait()
	if n := received(t, stores[0]); n != goroutines*each {
		t.Errorf("shared address counted %d, want %d", n, goroutines*each)
	}
	users, err := stores[1].ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 + goroutines*each; len(users) != want {
		t.Errorf("%d users, want %d", len(users), want)
	}
}

// TestKillDurability kills a writer with SIGKILL in mid-stream: every write
// it acknowledged must be in the database afterwards, which must pass an
// integrity check. (Power loss is covered by synchronous=FULL, checked in
// TestOpenSettings; a process kill is what a test can do.)
func TestKillDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	path := sharedDB(t)
	cmd, out := writer(t, path, "k", 0)
	var acked []string
	for len(acked) < 30 && out.Scan() {
		acked = append(acked, out.Text())
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	// Whatever was printed before the kill was acknowledged too.
	for out.Scan() {
		acked = append(acked, out.Text())
	}
	cmd.Wait()
	if len(acked) < 30 {
		t.Fatalf("writer acknowledged only %d writes: %q", len(acked), acked)
	}
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var check string
	if err := s.db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity check after kill: %q, %v", check, err)
	}
	for _, n := range acked {
		if _, err := s.UserByName(ctx, n); err != nil {
			t.Errorf("acknowledged user %s lost: %v", n, err)
		}
		if _, err := s.AddressByName(ctx, n+"@k.example.test"); err != nil {
			t.Errorf("acknowledged address of %s lost: %v", n, err)
		}
	}
	if n := received(t, s); n < int64(len(acked)) {
		t.Errorf("shared address counted %d, at least %d acknowledged", n, len(acked))
	}
}
