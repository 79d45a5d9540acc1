package loadgen

import (
	"errors"

	"golang.org/x/net/http2/hpack"
)

// hpackDecoder decodes the header blocks of responses (RFC 7541) as
// x/net's hpack.Decoder does, field for field and error for error
// (FuzzHPACKDecoder holds it to that), but without allocating for what
// repeats. Servers send the same fields on every response, and many send
// them as literals to be indexed (nginx sends server, date, content-type
// and content-length so, Huffman-coded, on each one): x/net's decoder
// Huffman-decodes and allocates every one of them, some 800 ns and four
// allocations a response, as much as the rest of the client's own work
// on it. Here a literal's decoded string is remembered by its encoded
// bytes, so a repeated one costs a comparison; the dynamic table is a
// ring of those strings.
type hpackDecoder struct {
	emit   func(hpack.HeaderField)
	maxStr int // longest string accepted, encoded or decoded; 0: any

	allowed uint32 // the table size we allow (SETTINGS_HEADER_TABLE_SIZE)
	max     uint32 // the table's maximum size, as the server last set it
	size    uint32 // the table's size (RFC 7541 4.1)
	ring    []hpack.HeaderField
	head    int // where the next entry goes
	n       int // entries in the table; the newest is at head-1
	first   bool
	saved   []byte // the start of a field cut at the end of a fragment
	buf     []byte // what is being decoded

	memo [64]memoString
}

// memoString is a decoded string remembered by its encoded bytes.
type memoString struct {
	raw  []byte
	huff bool
	s    string
}

// memoMaxRaw bounds the strings remembered: those that repeat (names,
// types, dates, lengths, pod names) are short.
const memoMaxRaw = 64

// newHPACKDecoder is a decoder for a table of tableSize bytes (4096,
// HTTP/2's default, which we keep) calling emit for each field.
func newHPACKDecoder(tableSize uint32, emit func(hpack.HeaderField)) *hpackDecoder {
	return &hpackDecoder{
		emit: emit, allowed: tableSize, max: tableSize, first: true,
		// An entry is at least 32 bytes; one more for the entry added
		// before eviction makes room.
		ring: make([]hpack.HeaderField, tableSize/32+1),
	}
}

// SetEmitFunc changes the function fields go to.
func (d *hpackDecoder) SetEmitFunc(emit func(hpack.HeaderField)) { d.emit = emit }

// SetMaxStringLength bounds the strings accepted (hpack.ErrStringLength).
func (d *hpackDecoder) SetMaxStringLength(n int) { d.maxStr = n }

// errNeedMore: the fragment ended inside a field.
var errNeedMore = errors.New("need more data")

// Write decodes a fragment of a header block; a field cut at its end is
// kept for the next.
func (d *hpackDecoder) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if len(d.saved) == 0 {
		d.buf = p
	} else {
		d.saved = append(d.saved, p...)
		d.buf = d.saved
	}
	for len(d.buf) > 0 {
		err := d.field()
		if err == errNeedMore {
			// A cut field is at most a string and its prefixes: more is
			// a server sending a string past the limit slowly.
			if d.maxStr != 0 && len(d.buf) > 2*(d.maxStr+8) {
				d.saved = d.saved[:0]
				return 0, hpack.ErrStringLength
			}
			// d.buf may be the end of d.saved: append moves it to the
			// front as copy does, overlap and all.
			d.saved = append(d.saved[:0], d.buf...)
			return len(p), nil
		}
		d.first = false
		if err != nil {
			d.saved = d.saved[:0]
			return len(p), err
		}
	}
	d.saved = d.saved[:0]
	return len(p), nil
}

// Close ends a header block: a field cut at its end is an error.
func (d *hpackDecoder) Close() error {
	if len(d.saved) > 0 {
		d.saved = d.saved[:0]
		return hpack.DecodingError{Err: errors.New("truncated headers")}
	}
	d.first = true
	return nil
}

// field decodes one field representation (RFC 7541 6) from d.buf, which
// it advances past it; errNeedMore leaves d.buf as it was.
func (d *hpackDecoder) field() error {
	b := d.buf[0]
	switch {
	case b&0x80 != 0: // 6.1 indexed
		idx, rest, err := hpackVarint(7, d.buf)
		if err != nil {
			return err
		}
		hf, ok := d.at(idx)
		if !ok {
			return hpack.DecodingError{Err: hpack.InvalidIndexError(idx)}
		}
		d.buf = rest
		return d.call(hf)
	case b&0xc0 == 0x40: // 6.2.1 with incremental indexing
		return d.literal(6, true, false)
	case b&0xf0 == 0: // 6.2.2 without indexing
		return d.literal(4, false, false)
	case b&0xf0 == 0x10: // 6.2.3 never indexed
		return d.literal(4, false, true)
	case b&0xe0 == 0x20: // 6.3 dynamic table size update
		if !d.first && d.size > 0 {
			return hpack.DecodingError{Err: errors.New("dynamic table size update MUST occur at the beginning of a header block")}
		}
		size, rest, err := hpackVarint(5, d.buf)
		if err != nil {
			return err
		}
		if size > uint64(d.allowed) {
			return hpack.DecodingError{Err: errors.New("dynamic table size update too large")}
		}
		d.max = uint32(size)
		d.evict()
		d.buf = rest
		return nil
	}
	return hpack.DecodingError{Err: errors.New("invalid encoding")}
}

// literal decodes a literal field whose index prefix has n bits.
func (d *hpackDecoder) literal(n byte, index, never bool) error {
	idx, p, err := hpackVarint(n, d.buf)
	if err != nil {
		return err
	}
	var hf hpack.HeaderField
	var name, value []byte
	var nameHuff, valueHuff bool
	if idx > 0 {
		ihf, ok := d.at(idx)
		if !ok {
			return hpack.DecodingError{Err: hpack.InvalidIndexError(idx)}
		}
		hf.Name = ihf.Name
	} else if name, nameHuff, p, err = d.str(p); err != nil {
		return err
	}
	if value, valueHuff, p, err = d.str(p); err != nil {
		return err
	}
	if idx == 0 {
		if hf.Name, err = d.decode(name, nameHuff); err != nil {
			return err
		}
	}
	if hf.Value, err = d.decode(value, valueHuff); err != nil {
		return err
	}
	d.buf = p
	if index {
		d.add(hf)
	}
	hf.Sensitive = never
	return d.call(hf)
}

// str reads a string literal's encoded bytes (RFC 7541 5.2).
func (d *hpackDecoder) str(p []byte) (b []byte, huff bool, rest []byte, err error) {
	if len(p) == 0 {
		return nil, false, p, errNeedMore
	}
	huff = p[0]&0x80 != 0
	n, p, err := hpackVarint(7, p)
	if err != nil {
		return nil, false, p, err
	}
	if d.maxStr != 0 && n > uint64(d.maxStr) {
		return nil, false, nil, hpack.ErrStringLength
	}
	if uint64(len(p)) < n {
		return nil, false, p, errNeedMore
	}
	return p[:n], huff, p[n:], nil
}

// decode is the string b encodes: remembered, when it was seen before.
func (d *hpackDecoder) decode(b []byte, huff bool) (string, error) {
	if len(b) > memoMaxRaw {
		return d.decodeNew(b, huff)
	}
	m := &d.memo[memoSlot(b, huff)]
	if m.huff == huff && m.raw != nil && string(m.raw) == string(b) {
		return m.s, nil
	}
	s, err := d.decodeNew(b, huff)
	if err != nil {
		return "", err
	}
	m.raw, m.huff, m.s = append(m.raw[:0], b...), huff, s
	return s, nil
}

func (d *hpackDecoder) decodeNew(b []byte, huff bool) (string, error) {
	if !huff {
		return string(b), nil
	}
	s, err := hpack.HuffmanDecodeToString(b)
	if err != nil {
		return "", err
	}
	if d.maxStr != 0 && len(s) > d.maxStr {
		return "", hpack.ErrStringLength
	}
	return s, nil
}

// memoSlot hashes an encoded string (FNV-1a) to its memo slot.
func memoSlot(b []byte, huff bool) int {
	h := uint32(2166136261)
	if huff {
		h ^= 1
	}
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	return int(h % uint32(len(hpackDecoder{}.memo)))
}

// call hands a field to emit.
func (d *hpackDecoder) call(hf hpack.HeaderField) error {
	if d.maxStr != 0 && (len(hf.Name) > d.maxStr || len(hf.Value) > d.maxStr) {
		return hpack.ErrStringLength
	}
	if d.emit != nil {
		d.emit(hf)
	}
	return nil
}

// at is the field at index i: the static table's first, then the dynamic
// table's, newest first (RFC 7541 2.3.3).
func (d *hpackDecoder) at(i uint64) (hpack.HeaderField, bool) {
	if i == 0 {
		return hpack.HeaderField{}, false
	}
	if i <= uint64(len(hpackStatic)) {
		return hpackStatic[i-1], true
	}
	j := i - uint64(len(hpackStatic)) - 1
	if j >= uint64(d.n) {
		return hpack.HeaderField{}, false
	}
	k := d.head - 1 - int(j)
	if k < 0 {
		k += len(d.ring)
	}
	return d.ring[k], true
}

// add puts a field in the dynamic table and evicts the oldest entries
// beyond its size; a field larger than the table empties it.
func (d *hpackDecoder) add(hf hpack.HeaderField) {
	d.ring[d.head] = hpack.HeaderField{Name: hf.Name, Value: hf.Value}
	d.head = (d.head + 1) % len(d.ring)
	d.n++
	d.size += hf.Size()
	d.evict()
}

// evict drops the oldest entries while the table is over its size.
func (d *hpackDecoder) evict() {
	for d.size > d.max && d.n > 0 {
		k := d.head - d.n
		if k < 0 {
			k += len(d.ring)
		}
		d.size -= d.ring[k].Size()
		d.ring[k] = hpack.HeaderField{}
		d.n--
	}
}

// hpackVarint reads an integer with an n-bit prefix (RFC 7541 5.1), as
// x/net does, overflow included.
func hpackVarint(n byte, p []byte) (uint64, []byte, error) {
	if len(p) == 0 {
		return 0, p, errNeedMore
	}
	i := uint64(p[0]) & (1<<n - 1)
	if i < 1<<n-1 {
		return i, p[1:], nil
	}
	orig := p
	p = p[1:]
	var m uint
	for len(p) > 0 {
		b := p[0]
		p = p[1:]
		i += uint64(b&127) << m
		if b&128 == 0 {
			return i, p, nil
		}
		m += 7
		if m >= 63 {
			return 0, orig, hpack.DecodingError{Err: errors.New("varint integer overflow")}
		}
	}
	return 0, orig, errNeedMore
}

// hpackStatic is the static table (RFC 7541 Appendix A).
var hpackStatic = [...]hpack.HeaderField{
	{Name: ":authority"}, {Name: ":method", Value: "GET"}, {Name: ":method", Value: "POST"},
	{Name: ":path", Value: "/"}, {Name: ":path", Value: "/index.html"}, {Name: ":scheme", Value: "http"},
	{Name: ":scheme", Value: "https"}, {Name: ":status", Value: "200"}, {Name: ":status", Value: "204"},
	{Name: ":status", Value: "206"}, {Name: ":status", Value: "304"}, {Name: ":status", Value: "400"},
	{Name: ":status", Value: "404"}, {Name: ":status", Value: "500"}, {Name: "accept-charset"},
	{Name: "accept-encoding", Value: "gzip, deflate"}, {Name: "accept-language"}, {Name: "accept-ranges"},
	{Name: "accept"}, {Name: "access-control-allow-origin"}, {Name: "age"}, {Name: "allow"},
	{Name: "authorization"}, {Name: "cache-control"}, {Name: "content-disposition"},
	{Name: "content-encoding"}, {Name: "content-language"}, {Name: "content-length"},
	{Name: "content-location"}, {Name: "content-range"}, {Name: "content-type"}, {Name: "cookie"},
	{Name: "date"}, {Name: "etag"}, {Name: "expect"}, {Name: "expires"}, {Name: "from"}, {Name: "host"},
	{Name: "if-match"}, {Name: "if-modified-since"}, {Name: "if-none-match"}, {Name: "if-range"},
	{Name: "if-unmodified-since"}, {Name: "last-modified"}, {Name: "link"}, {Name: "location"},
	{Name: "max-forwards"}, {Name: "proxy-authenticate"}, {Name: "proxy-authorization"}, {Name: "range"},
	{Name: "referer"}, {Name: "refresh"}, {Name: "retry-after"}, {Name: "server"}, {Name: "set-cookie"},
	{Name: "strict-transport-security"}, {Name: "transfer-encoding"}, {Name: "user-agent"}, {Name: "vary"},
	{Name: "via"}, {Name: "www-authenticate"},
}

// The static table has 61 entries; a typo that drops one would shift
// every index after it.
var _ = [1]struct{}{}[len(hpackStatic)-61]
