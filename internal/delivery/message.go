package delivery

import (
	"context"
	"strings"
	"time"

	"github.com/cabalmail/cabalmail/internal/queue"
)

// start splits a claimed message into jobs, one per destination.
func (r *Runner) start(ctx context.Context, w queue.Work) {
	m := &message{work: w}
	if len(w.Recipients) == 0 {
		r.finish(queue.Result{Work: w})
		return
	}
	hosted, err := r.hostedApexes(ctx)
	if err != nil {
		// Without the apex list nothing can be routed safely: defer all.
		outs := make([]queue.Outcome, 0, len(w.Recipients))
		for _, rc := range w.Recipients {
			outs = append(outs, queue.Outcome{Rcpt: rc, Kind: queue.Deferred, DSN: "4.3.0", Reply: "local routing unavailable: " + err.Error()})
		}
		r.finish(queue.Result{Work: w, Outcomes: outs})
		return
	}
	groups := map[string][]string{}
	var keys []string
	for _, rc := range w.Recipients {
		key := strings.ToLower(queue.Domain(rc))
		if isHosted(key, hosted) {
			key = localKey
		}
		if _, ok := groups[key]; !ok {
			keys = append(keys, key)
		}
		groups[key] = append(groups[key], rc)
	}
	m.left = len(keys)
	r.sched.track(w.ID)
	for _, k := range keys {
		r.sched.add(ctx, &job{msg: m, key: k, rcpts: groups[k]})
	}
}

// done records a job's outcomes; the message is finished with its last job.
func (r *Runner) done(j *job, outs []queue.Outcome) {
	m := j.msg
	m.mu.Lock()
	m.outs = append(m.outs, outs...)
	m.left--
	last := m.left == 0
	m.mu.Unlock()
	if last {
		r.sched.untrack(m.work.ID)
		r.finish(queue.Result{Work: m.work, Outcomes: m.outs})
	}
}

// runSession works the jobs of one destination.
func (r *Runner) runSession(ctx context.Context, key string, next func() *job) {
	if key == localKey {
		for j := next(); j != nil; j = next() {
			r.done(j, r.deliverLocal(ctx, j))
		}
		return
	}
	s := &session{r: r, domain: key}
	defer s.close()
	for j := next(); j != nil; j = next() {
		r.done(j, s.deliver(ctx, j))
	}
}

// hostedApexes returns the configured mail apexes, read from the store at
// most every few seconds, so an apex added by the operator is soon routed
// locally.
func (r *Runner) hostedApexes(ctx context.Context) ([]string, error) {
	r.apexMu.Lock()
	defer r.apexMu.Unlock()
	if r.apexes != nil && time.Since(r.apexAt) < 5*time.Second {
		return r.apexes, nil
	}
	ds, err := r.q.Store().ListDomains(ctx)
	if err != nil {
		return nil, err
	}
	apexes := make([]string, 0, len(ds))
	for _, d := range ds {
		apexes = append(apexes, strings.ToLower(d.Apex))
	}
	r.apexes, r.apexAt = apexes, time.Now()
	return apexes, nil
}

func isHosted(domain string, apexes []string) bool {
	for _, a := range apexes {
		if domain == a || strings.HasSuffix(domain, "."+a) {
			return true
		}
	}
	return false
}
