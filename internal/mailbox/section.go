package mailbox

import "fmt"

// IsMessage reports whether p encapsulates a message (message/rfc822 or
// message/global) whose Envelope and Message are set.
func (p *Part) IsMessage() bool { return p.Message != nil }

// Section finds the part named by an IMAP part number (RFC 3501 6.4.5),
// given as its numbers: [] is the message itself (p must be the root), [1]
// its first part. In a message that is not multipart, part 1 is the body.
// A part that encapsulates a message is numbered through to the parts of
// that message, so [2, 1] is the first part of the message in part 2.
// The BODY[<part>] content is [BodyStart, End) of the result, its MIME
// header [HeaderStart, BodyStart); for HEADER and TEXT of an encapsulated
// message use result.Message.
func (p *Part) Section(path []int) (*Part, error) {
	cur := p
	for depth, n := range path {
		if n < 1 {
			return nil, fmt.Errorf("mailbox: section %v: part number %d", path, n)
		}
		// The parts of an encapsulated message are numbered as the
		// message's own (RFC 3501 6.4.5), except at the top, where the
		// root part is the message itself.
		container := cur
		if depth > 0 && cur.Message != nil {
			container = cur.Message
		}
		switch {
		case len(container.Parts) > 0:
			if n > len(container.Parts) {
				return nil, fmt.Errorf("mailbox: section %v: no part %d", path, n)
			}
			cur = container.Parts[n-1]
		case n == 1 && (depth == 0 || container != cur):
			cur = container
		default:
			return nil, fmt.Errorf("mailbox: section %v: no part %d", path, n)
		}
	}
	return cur, nil
}
