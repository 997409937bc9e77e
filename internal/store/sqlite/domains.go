package sqlite

import (
	"context"
	"fmt"

	"github.com/cabalmail/cabalmail/internal/store"
)

const domainColumns = `apex, dkim_selector, dkim_key_pem, created_at`

func scanDomain(r scanner) (store.Domain, error) {
	var d store.Domain
	var created int64
	if err := r.Scan(&d.Apex, &d.DKIMSelector, &d.DKIMKeyPEM, &created); err != nil {
		return store.Domain{}, err
	}
	d.CreatedAt = fromNanos(created)
	return d, nil
}

// CreateDomain inserts d and sets d.CreatedAt if it is unset.
func (s *Store) CreateDomain(ctx context.Context, d *store.Domain) error {
	if d.Apex == "" {
		return fmt.Errorf("sqlite: create domain: %w", fmt.Errorf("%w domain: empty apex", store.ErrInvalid))
	}
	if err := checkTimes(d.CreatedAt); err != nil {
		return fmt.Errorf("sqlite: create domain %s: %w", d.Apex, err)
	}
	created := orNow(d.CreatedAt)
	_, err := s.execOnce(ctx, `INSERT INTO domains (`+domainColumns+`) VALUES (?, ?, ?, ?)`,
		d.Apex, d.DKIMSelector, d.DKIMKeyPEM, nanos(created))
	if err != nil {
		return fmt.Errorf("sqlite: create domain %s: %w", d.Apex, mapErr(err))
	}
	d.CreatedAt = created
	return nil
}

// DomainByApex returns the domain for apex.
func (s *Store) DomainByApex(ctx context.Context, apex string) (store.Domain, error) {
	d, err := scanDomain(s.queryRow(ctx, `SELECT `+domainColumns+` FROM domains WHERE apex = ?`, apex))
	if err != nil {
		return store.Domain{}, fmt.Errorf("sqlite: %w", notFound(err, "domain "+apex))
	}
	return d, nil
}

// ListDomains returns every domain, ordered by apex.
func (s *Store) ListDomains(ctx context.Context) ([]store.Domain, error) {
	st, err := s.stmt(ctx, `SELECT `+domainColumns+` FROM domains ORDER BY apex`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list domains: %w", err)
	}
	rows, err := st.QueryContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list domains: %w", err)
	}
	defer rows.Close()
	var ds []store.Domain
	for rows.Next() {
		d, err := scanDomain(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list domains: %w", err)
		}
		ds = append(ds, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list domains: %w", err)
	}
	return ds, nil
}
