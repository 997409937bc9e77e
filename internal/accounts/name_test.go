package accounts

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		why  string // "" = valid
	}{
		{"alice", ""},
		{"a", ""},
		{"7", ""},
		{"bob.smith", ""},
		{"bob-smith_2", ""},
		{"0day", ""},
		{"a.", ""},
		{strings.Repeat("a", 64), ""},
		{"", "is empty"},
		{strings.Repeat("a", 65), "at most 64"},
		{"Alice", "upper-case"},
		{".alice", "must start with a letter or a digit"},
		{"-alice", "must start with a letter or a digit"},
		{"_alice", "must start with a letter or a digit"},
		{"al ice", "whitespace"},
		{" alice", "whitespace"},
		{"alice\n", "whitespace"},
		{"zoë", "non-ASCII"},
		{"a@b", `contains "@"`},
		{"a/b", `contains "/"`},
		{"a\x00", `contains "\x00"`},
		{"operator", "is reserved"},
	}
	for _, tt := range tests {
		err := ValidateName(tt.name)
		if tt.why == "" {
			if err != nil {
				t.Errorf("ValidateName(%q) = %v, want nil", tt.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidName) || !strings.Contains(err.Error(), tt.why) {
			t.Errorf("ValidateName(%q) = %v, want ErrInvalidName mentioning %q", tt.name, err, tt.why)
		}
	}
}
