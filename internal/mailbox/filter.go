package mailbox

// The search prefilter: a Bloom filter of the byte trigrams of a message's
// searchable text (its header, the decoded text of its text parts and the
// headers of attached messages, folded as searches fold them), computed once
// when the message arrives and stored in its row. SearchBody and SearchText
// read only the bodies whose filter may contain every trigram of the term,
// and then match them for real, so the answer is exact; the filter only
// saves reading bodies that cannot match. About one bit per byte of text
// and one hash make a term of n bytes pass a non-matching message with a
// probability of roughly 0.4^(n-2).

const (
	minFilterBytes = 8
	maxFilterBytes = 8192 // beyond this, large texts fill the filter: they always pass
)

// trigramHash spreads a trigram over 32 bits.
func trigramHash(a, b, c byte) uint32 {
	return (uint32(a)<<16 | uint32(b)<<8 | uint32(c)) * 0x9E3779B1
}

// filterBit maps a hash onto one of the filter's bits (Lemire's reduction).
func filterBit(h uint32, bits int) int { return int(uint64(h) * uint64(bits) >> 32) }

// buildFilter returns the prefilter of the folded texts.
func buildFilter(texts [][]byte) []byte {
	total := 0
	for _, t := range texts {
		total += len(t)
	}
	size := (total + 7) / 8
	size = max(minFilterBytes, min(size, maxFilterBytes))
	f := make([]byte, size)
	bits := size * 8
	for _, t := range texts {
		for i := 0; i+2 < len(t); i++ {
			k := filterBit(trigramHash(t[i], t[i+1], t[i+2]), bits)
			f[k/8] |= 1 << (k % 8)
		}
	}
	return f
}

// filterProbe is a term ready to test filters with.
type filterProbe []uint32

// newFilterProbe returns the trigram hashes of a folded term; terms shorter
// than a trigram give an empty probe, which passes every filter.
func newFilterProbe(term string) filterProbe {
	var p filterProbe
	for i := 0; i+2 < len(term); i++ {
		p = append(p, trigramHash(term[i], term[i+1], term[i+2]))
	}
	return p
}

// mayContain reports whether a text with filter f may contain the term. A
// missing filter (a message stored before filters existed) always may.
func (p filterProbe) mayContain(f []byte) bool {
	if len(f) == 0 {
		return true
	}
	bits := len(f) * 8
	for _, h := range p {
		k := filterBit(h, bits)
		if f[k/8]&(1<<(k%8)) == 0 {
			return false
		}
	}
	return true
}

// searchTexts returns the folded texts of a message that SearchText looks
// in: the header first, then what SearchBody looks in. The filter is built
// from the same texts the search matches, so it cannot hide a match.
func searchTexts(raw []byte, root *Part) [][]byte {
	header := func(p *Part) []byte {
		return foldInto(nil, []byte(foldHeaderValue(string(raw[p.HeaderStart:p.BodyStart]))))
	}
	texts := [][]byte{header(root)}
	textParts(root, func(p *Part, isHeader bool) bool {
		if isHeader {
			texts = append(texts, header(p))
		} else {
			texts = append(texts, foldInto(nil, decodedText(nil, raw, p)))
		}
		return true
	})
	return texts
}
