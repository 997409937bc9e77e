package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/cabalmail/cabalmail/internal/store"
	"github.com/cabalmail/cabalmail/internal/store/storetest"
)

// TestConformance runs the store conformance suite on a fresh database file
// per subtest.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(context.Background(), filepath.Join(t.TempDir(), "cabalmail.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
