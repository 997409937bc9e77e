package submission

import (
	"context"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/cabalmail/cabalmail/internal/providers"
)

// checkSuppressed refuses a recipient on the user's suppression list (a
// definite hard bounce earlier, internal/providers) with 550 5.1.1, saying
// since when and why, until the operator releases it. A store failure is
// our fault and answered 451 4.3.0.
func (ss *session) checkSuppressed(to string) *reply {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, ok, err := providers.Suppressed(ctx, ss.s.opts.Store, ss.user.ID, to)
	if err != nil {
		ss.s.log.Error("look up suppression", "tier", tier, "rcpt", to, "err", err)
		return &replyLocalError
	}
	if !ok {
		return nil
	}
	// RFC 3463 3.2: X.1.1 bad destination mailbox address.
	r := reply{550, smtp.EnhancedCode{5, 1, 1}, providers.RefusalText(e)}
	return &r
}
