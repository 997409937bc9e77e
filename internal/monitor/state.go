package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cabalmail/cabalmail/internal/store"
)

// Setting keys under which the monitor keeps what other processes read:
// the probes' last round (for "cabalmail diagnose probes") and each
// periodic job's last success (written by whichever process runs the job).
const (
	probesKey          = "monitor.probes"
	heartbeatKeyPrefix = "monitor.heartbeat."
)

// ProbeState is one probe's state as the last round left it.
type ProbeState struct {
	Name         string        `json:"name"`   // "<tier> <kind> <target>", the probe label
	Tier         string        `json:"tier"`   // the tier the probed listener belongs to
	Target       string        `json:"target"` // host:port or URL
	OK           bool          `json:"ok"`
	LastCheck    time.Time     `json:"last_check"`
	Duration     time.Duration `json:"duration_ns"`
	LastSuccess  time.Time     `json:"last_success,omitzero"`
	LastFailure  time.Time     `json:"last_failure,omitzero"`
	LastError    string        `json:"last_error,omitempty"` // the last failure's error, kept after recovery
	CertNotAfter time.Time     `json:"cert_not_after,omitzero"`
}

// SaveProbeStates stores the states of a round, replacing the previous
// round's.
func SaveProbeStates(ctx context.Context, st store.Settings, states []ProbeState) error {
	b, err := json.Marshal(states)
	if err != nil {
		return fmt.Errorf("monitor: encode probe states: %w", err)
	}
	if err := st.SetSetting(ctx, probesKey, string(b)); err != nil {
		return fmt.Errorf("monitor: save probe states: %w", err)
	}
	return nil
}

// LoadProbeStates returns the states the monitor saved last; none (and no
// error) if no monitor has run on this store.
func LoadProbeStates(ctx context.Context, st store.Settings) ([]ProbeState, error) {
	v, err := st.Setting(ctx, probesKey)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("monitor: load probe states: %w", err)
	}
	var states []ProbeState
	if err := json.Unmarshal([]byte(v), &states); err != nil {
		return nil, fmt.Errorf("monitor: decode probe states: %w", err)
	}
	return states, nil
}

// RecordHeartbeat notes that job succeeded at at. Periodic jobs call it
// after each successful run, from whichever process runs them; the monitor
// role reads it back (LastHeartbeat) to export it and alert on it.
func RecordHeartbeat(ctx context.Context, st store.Settings, job string, at time.Time) error {
	if err := checkJobName(job); err != nil {
		return err
	}
	if err := st.SetSetting(ctx, heartbeatKeyPrefix+job, at.UTC().Format(time.RFC3339Nano)); err != nil {
		return fmt.Errorf("monitor: record heartbeat %s: %w", job, err)
	}
	return nil
}

// LastHeartbeat returns job's last recorded success, or the zero time if it
// never reported one.
func LastHeartbeat(ctx context.Context, st store.Settings, job string) (time.Time, error) {
	v, err := st.Setting(ctx, heartbeatKeyPrefix+job)
	if errors.Is(err, store.ErrNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("monitor: heartbeat %s: %w", job, err)
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("monitor: heartbeat %s: stored value %q: %w", job, v, err)
	}
	return t, nil
}

// checkJobName keeps job names to a bounded, label-safe alphabet.
func checkJobName(job string) error {
	if job == "" || len(job) > 64 || strings.Trim(job, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		return fmt.Errorf("monitor: job name %q: want 1 to 64 lower-case letters, digits and hyphens", job)
	}
	return nil
}
