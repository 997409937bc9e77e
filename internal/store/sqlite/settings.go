package sqlite

import (
	"context"
	"fmt"

	"github.com/cabalmail/cabalmail/internal/store"
)

// SetSetting stores value under key, replacing any previous value.
func (s *Store) SetSetting(ctx context.Context, key, value string) error {
	if key == "" {
		return fmt.Errorf("sqlite: set setting: %w setting: empty key", store.ErrInvalid)
	}
	_, err := s.execOnce(ctx, `INSERT INTO settings (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return fmt.Errorf("sqlite: set setting %s: %w", key, err)
	}
	return nil
}

// Setting returns the value stored under key.
func (s *Store) Setting(ctx context.Context, key string) (string, error) {
	var v string
	if err := s.db.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, key).Scan(&v); err != nil {
		return "", fmt.Errorf("sqlite: %w", notFound(err, "setting "+key))
	}
	return v, nil
}

// DeleteSetting removes key. Removing an unset key is not an error.
func (s *Store) DeleteSetting(ctx context.Context, key string) error {
	if _, err := s.execOnce(ctx, `DELETE FROM settings WHERE key = ?`, key); err != nil {
		return fmt.Errorf("sqlite: delete setting %s: %w", key, err)
	}
	return nil
}
