package accounts

import "fmt"

// MaxNameLen is the longest user name, in octets.
const MaxNameLen = 64

// reservedNames cannot be user names: "operator" is how the audit log names
// the command line.
var reservedNames = map[string]bool{"operator": true}

// ValidateName reports whether name is an acceptable user name: 1 to 64
// characters of lower-case letters, digits, '.', '-' and '_', starting with
// a letter or a digit.
func ValidateName(name string) error {
	why := nameProblem(name)
	if why == "" {
		return nil
	}
	return errorf(ErrInvalidName, "user name %q %s", name, why)
}

func nameProblem(name string) string {
	if name == "" {
		return "is empty"
	}
	if len(name) > MaxNameLen {
		return fmt.Sprintf("is %d characters long; at most %d are allowed", len(name), MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case c == '.' || c == '-' || c == '_':
			if i == 0 {
				return "must start with a letter or a digit"
			}
		case 'A' <= c && c <= 'Z':
			return "contains upper-case letters; user names are lower-case"
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			return "contains whitespace"
		case c >= 0x80:
			return "contains non-ASCII characters"
		default:
			return fmt.Sprintf("contains %q; only lower-case letters, digits, '.', '-' and '_' are allowed", string(c))
		}
	}
	if reservedNames[name] {
		return "is reserved"
	}
	return ""
}
