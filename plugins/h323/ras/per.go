package ras

import (
	"encoding/asn1"
	"errors"
	"fmt"
	"math/bits"
	"unicode/utf16"
)

// This file is the aligned PER layer (ITU-T X.691, ALIGNED variant): a bit
// writer and a bit reader with the encodings the H.225.0 RAS types use. It
// knows nothing of H.225.0; types.go and messages.go are written on it.
//
// Both sides keep a sticky error: after the first failure every further
// operation is a no-op (reads return zero values), so type codecs read
// straight through and the error is checked once at the end. A failed
// decoder also reports no remaining input, which ends every loop bounded by
// it.

// Errors of the codec. Decoding errors wrap ErrMalformed, or ErrUnsupported
// for valid PER this package chose not to decode (see the package doc).
var (
	ErrMalformed   = errors.New("ras: malformed PER")
	ErrUnsupported = errors.New("ras: unsupported")
	ErrValue       = errors.New("ras: value outside its ASN.1 constraints")
)

// maxLength is the largest length determinant this codec writes or reads:
// lengths of 16K and more need fragmentation (X.691 11.9.3.8), which no RAS
// message needs within a UDP datagram.
const maxLength = 16383

// ---- encoder ----

type encoder struct {
	buf  []byte
	nbit int // bits written
	err  error
}

func (e *encoder) fail(format string, a ...any) {
	if e.err == nil {
		e.err = fmt.Errorf("%w: "+format, append([]any{ErrValue}, a...)...)
	}
}

// bits writes the n (<= 64) low bits of v, most significant first.
func (e *encoder) bits(v uint64, n int) {
	if e.err != nil {
		return
	}
	for n > 0 {
		if e.nbit%8 == 0 {
			e.buf = append(e.buf, 0)
		}
		free := 8 - e.nbit%8
		take := min(free, n)
		chunk := byte(v>>(n-take)) & byte(1<<take-1)
		e.buf[len(e.buf)-1] |= chunk << (free - take)
		e.nbit += take
		n -= take
	}
}

func (e *encoder) bit(b bool) {
	if b {
		e.bits(1, 1)
	} else {
		e.bits(0, 1)
	}
}

// align pads with zero bits up to the next octet boundary.
func (e *encoder) align() {
	if e.err == nil && e.nbit%8 != 0 {
		e.nbit += 8 - e.nbit%8
	}
}

// octetsRaw writes p at the current position (aligned or not).
func (e *encoder) octetsRaw(p []byte) {
	if e.err != nil {
		return
	}
	if e.nbit%8 == 0 {
		e.buf = append(e.buf, p...)
		e.nbit += 8 * len(p)
		return
	}
	for _, b := range p {
		e.bits(uint64(b), 8)
	}
}

// bytes returns the complete encoding (X.691 11.1): padded to an octet, and
// one zero octet if nothing was written.
func (e *encoder) bytes() []byte {
	if len(e.buf) == 0 {
		return []byte{0}
	}
	return e.buf
}

// bitsFor is the number of bits of the bit-field holding 0..n.
func bitsFor(n uint64) int { return bits.Len64(n) }

// octetsFor is the number of octets holding n (at least one).
func octetsFor(n uint64) int { return max(1, (bits.Len64(n)+7)/8) }

// constrained writes v in lb..ub as a constrained whole number (X.691
// 11.5.7, aligned): nothing for one value, a minimal bit-field up to 255
// values, one aligned octet for 256, two for up to 64K, and beyond that a
// bit-field length (1..octets of ub-lb) then the aligned minimal octets.
func (e *encoder) constrained(v, lb, ub uint64) {
	if v < lb || v > ub {
		e.fail("%d not in %d..%d", v, lb, ub)
		return
	}
	r := ub - lb // range - 1
	v -= lb
	switch {
	case r == 0:
	case r < 255:
		e.bits(v, bitsFor(r))
	case r == 255:
		e.align()
		e.bits(v, 8)
	case r < 65536:
		e.align()
		e.bits(v, 16)
	default:
		n := octetsFor(v)
		e.bits(uint64(n-1), bitsFor(uint64(octetsFor(r)-1)))
		e.align()
		e.bits(v, 8*n)
	}
}

// length writes a length determinant for n in lb..ub (ub < 0: no upper
// bound). Constrained lengths with ub < 64K are constrained whole numbers
// (none when lb == ub); others are the aligned one- or two-octet form.
func (e *encoder) length(n, lb, ub int) {
	if n < lb || (ub >= 0 && n > ub) {
		e.fail("length %d not in %d..%d", n, lb, ub)
		return
	}
	if ub >= 0 && ub < 65536 {
		e.constrained(uint64(n), uint64(lb), uint64(ub))
		return
	}
	e.align()
	switch {
	case n < 128:
		e.bits(uint64(n), 8)
	case n <= maxLength:
		e.bits(0x8000|uint64(n), 16)
	default:
		e.fail("length %d needs fragmentation", n)
	}
}

// smallNumber writes a normally small non-negative whole number (X.691
// 11.6): a CHOICE extension index.
func (e *encoder) smallNumber(n uint64) {
	if n < 64 {
		e.bits(n, 7)
		return
	}
	e.bit(true)
	k := octetsFor(n)
	e.length(k, 0, -1)
	e.bits(n, 8*k)
}

// smallLength writes a normally small length (X.691 11.9.3.4): the size of
// an extension-addition bitmap, n >= 1.
func (e *encoder) smallLength(n int) {
	if n >= 1 && n <= 64 {
		e.bits(uint64(n-1), 7)
		return
	}
	e.bit(true)
	e.length(n, 0, -1)
}

// optional writes a SEQUENCE preamble bitmap: one bit per OPTIONAL root
// component, in order.
func (e *encoder) optional(present ...bool) {
	for _, p := range present {
		e.bit(p)
	}
}

// choice writes a CHOICE index among root alternatives (and the extension
// bit if the CHOICE is extensible). An extension alternative is written with
// choiceExt instead.
func (e *encoder) choice(idx, root int, extensible bool) {
	if extensible {
		e.bit(false)
	}
	if idx < 0 || idx >= root {
		e.fail("choice index %d not in root of %d", idx, root)
		return
	}
	e.constrained(uint64(idx), 0, uint64(root-1))
}

// choiceExt writes extension alternative idx (counted from the first
// alternative, root ones included) whose value f writes, as an open type.
func (e *encoder) choiceExt(idx, root int, f func(*encoder)) {
	if idx < root {
		e.fail("choice index %d is not an extension", idx)
		return
	}
	e.bit(true)
	e.smallNumber(uint64(idx - root))
	e.openType(f)
}

// openType writes what f encodes as an open type (X.691 10.2): the complete
// encoding of the value, behind an unconstrained length.
func (e *encoder) openType(f func(*encoder)) {
	if e.err != nil {
		return
	}
	var sub encoder
	if f != nil {
		f(&sub)
	}
	if sub.err != nil {
		e.err = sub.err
		return
	}
	e.openRaw(sub.bytes())
}

// openRaw writes p, an already complete encoding, as an open type.
func (e *encoder) openRaw(p []byte) {
	if len(p) == 0 {
		p = []byte{0}
	}
	e.length(len(p), 0, -1)
	e.align()
	e.octetsRaw(p)
}

// extensions collects the extension additions of one SEQUENCE value.
type extensions struct {
	n     int // additions in the type (sets the bitmap size)
	items []extItem
}

type extItem struct {
	idx int
	f   func(*encoder)
}

func newExt(n int) *extensions { return &extensions{n: n} }

// add marks addition idx (0-based among the additions) present, written by f.
func (x *extensions) add(idx int, f func(*encoder)) {
	x.items = append(x.items, extItem{idx, f})
}

// addIf is add when cond holds.
func (x *extensions) addIf(cond bool, idx int, f func(*encoder)) {
	if cond {
		x.add(idx, f)
	}
}

// present is the SEQUENCE extension bit.
func (x *extensions) present() bool { return len(x.items) > 0 }

// encode writes the bitmap (as many bits as the type has additions) and the
// present additions, each an open type, in index order.
func (x *extensions) encode(e *encoder) {
	if !x.present() {
		return
	}
	bitmap := make([]func(*encoder), x.n)
	for _, it := range x.items {
		if it.idx < 0 || it.idx >= x.n || bitmap[it.idx] != nil {
			e.fail("extension addition %d of %d", it.idx, x.n)
			return
		}
		bitmap[it.idx] = it.f
	}
	e.smallLength(x.n)
	for _, f := range bitmap {
		e.bit(f != nil)
	}
	for _, f := range bitmap {
		if f != nil {
			e.openType(f)
		}
	}
}

// octets writes an OCTET STRING of size lb..ub (ub < 0: no bound). Fixed
// sizes of up to two octets are not aligned; other contents are.
func (e *encoder) octets(p []byte, lb, ub int) {
	if lb == ub {
		if len(p) != lb {
			e.fail("octet string of %d octets, want %d", len(p), lb)
			return
		}
		if lb > 2 {
			e.align()
		}
		e.octetsRaw(p)
		return
	}
	e.length(len(p), lb, ub)
	e.align()
	e.octetsRaw(p)
}

// bitString writes a BIT STRING of bitLen bits (the leading bits of p) and
// size lb..ub (ub < 0: no bound).
func (e *encoder) bitString(b asn1.BitString, lb, ub int) {
	if b.BitLength < 0 || (b.BitLength+7)/8 > len(b.Bytes) {
		e.fail("bit string of %d bits in %d octets", b.BitLength, len(b.Bytes))
		return
	}
	if lb == ub {
		if b.BitLength != lb {
			e.fail("bit string of %d bits, want %d", b.BitLength, lb)
			return
		}
		if lb > 16 {
			e.align()
		}
	} else {
		e.length(b.BitLength, lb, ub)
		e.align()
	}
	for i := 0; i < b.BitLength; i++ {
		e.bit(b.At(i) == 1)
	}
}

// alphabet is the effective permitted alphabet of a known-multiplier
// character string (X.691 27.5): b bits per character, each character
// written as its value, or as its index in the sorted alphabet when the
// largest value does not fit in b bits.
type alphabet struct {
	chars string // sorted by value; "" means the whole character set
	b     int
	index bool
	max   rune // the whole set: characters are 0..max
}

// newAlphabet builds a permitted alphabet for IA5String FROM(chars).
func newAlphabet(chars string) *alphabet {
	a := &alphabet{chars: sortString(chars)}
	b := bitsFor(uint64(len(a.chars) - 1))
	for _, p := range []int{1, 2, 4, 8, 16} { // ALIGNED: a power of two
		if b <= p {
			b = p
			break
		}
	}
	a.b = b
	a.index = rune(a.chars[len(a.chars)-1]) > 1<<b-1
	return a
}

func sortString(s string) string {
	r := []byte(s)
	for i := 1; i < len(r); i++ {
		for j := i; j > 0 && r[j] < r[j-1]; j-- {
			r[j], r[j-1] = r[j-1], r[j]
		}
	}
	return string(r)
}

var (
	ia5Alphabet   = &alphabet{b: 8, max: 127}     // 128 characters: 7 bits, 8 aligned
	bmpAlphabet   = &alphabet{b: 16, max: 0xffff} // BMPString
	printableAlph = newAlphabet(" '()+,-./0123456789:=?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
	digitsAlph    = newAlphabet("0123456789#*,") // dialedDigits, NumberDigits
)

// code is the value written for character c, and whether c is permitted.
func (a *alphabet) code(c rune) (uint64, bool) {
	if a.chars == "" {
		return uint64(c), c >= 0 && c <= a.max
	}
	for i := 0; i < len(a.chars); i++ {
		if rune(a.chars[i]) == c {
			if a.index {
				return uint64(i), true
			}
			return uint64(c), true
		}
	}
	return 0, false
}

// char is the character read as code v.
func (a *alphabet) char(v uint64) (rune, bool) {
	if a.chars == "" {
		return rune(v), v <= uint64(a.max)
	}
	if a.index {
		if v >= uint64(len(a.chars)) {
			return 0, false
		}
		return rune(a.chars[v]), true
	}
	for i := 0; i < len(a.chars); i++ {
		if uint64(a.chars[i]) == v {
			return rune(v), true
		}
	}
	return 0, false
}

// chars writes a known-multiplier character string of lb..ub characters
// (ub < 0: no bound). A BMPString holds characters of the Basic
// Multilingual Plane only (UCS-2), one 16-bit unit each.
func (e *encoder) chars(s string, lb, ub int, a *alphabet) {
	var units []uint16
	if a == bmpAlphabet {
		for _, r := range s {
			if r >= 0x10000 {
				e.fail("character %U is outside the BMP", r)
				return
			}
			units = append(units, uint16(r))
		}
	} else {
		for i := 0; i < len(s); i++ {
			units = append(units, uint16(s[i]))
		}
	}
	n := len(units)
	if lb == ub {
		if n != lb {
			e.fail("string of %d characters, want %d", n, lb)
			return
		}
		if ub*a.b > 16 {
			e.align()
		}
	} else {
		e.length(n, lb, ub)
		e.align()
	}
	for _, u := range units {
		v, ok := a.code(rune(u))
		if !ok {
			e.fail("character %q not in the permitted alphabet", rune(u))
			return
		}
		e.bits(v, a.b)
	}
}

// oid writes an OBJECT IDENTIFIER: an unconstrained length and the BER
// contents octets (X.691 24, X.690 8.19).
func (e *encoder) oid(o asn1.ObjectIdentifier) {
	if len(o) < 2 || o[0] < 0 || o[0] > 2 || o[1] < 0 || (o[0] < 2 && o[1] >= 40) {
		e.fail("object identifier %v", o)
		return
	}
	var c []byte
	put := func(v uint64) {
		var tmp [10]byte
		i := len(tmp) - 1
		tmp[i] = byte(v & 0x7f)
		for v >>= 7; v > 0; v >>= 7 {
			i--
			tmp[i] = byte(v&0x7f) | 0x80
		}
		c = append(c, tmp[i:]...)
	}
	put(uint64(o[0])*40 + uint64(o[1]))
	for _, arc := range o[2:] {
		if arc < 0 {
			e.fail("object identifier %v", o)
			return
		}
		put(uint64(arc))
	}
	e.octets(c, 0, -1)
}

// ---- decoder ----

type decoder struct {
	buf []byte
	pos int // bit position
	err error
}

func newDecoder(p []byte) *decoder { return &decoder{buf: p} }

func (d *decoder) fail(format string, a ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format+" at bit %d", append(append([]any{ErrMalformed}, a...), d.pos)...)
	}
}

func (d *decoder) unsupported(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrUnsupported, what)
	}
}

// remaining is the number of unread bits (0 after an error).
func (d *decoder) remaining() int {
	if d.err != nil {
		return 0
	}
	return 8*len(d.buf) - d.pos
}

// bits reads n (<= 64) bits.
func (d *decoder) bits(n int) uint64 {
	if d.err != nil {
		return 0
	}
	if n > d.remaining() {
		d.fail("%d bits wanted, %d left", n, d.remaining())
		return 0
	}
	var v uint64
	for n > 0 {
		off := d.pos % 8
		take := min(8-off, n)
		b := uint64(d.buf[d.pos/8]>>(8-off-take)) & (1<<take - 1)
		v = v<<take | b
		d.pos += take
		n -= take
	}
	return v
}

func (d *decoder) bit() bool { return d.bits(1) == 1 }

func (d *decoder) align() {
	if d.err == nil && d.pos%8 != 0 {
		d.pos += 8 - d.pos%8
		if d.pos > 8*len(d.buf) {
			d.fail("padding past the end")
		}
	}
}

// octetsRaw reads n octets (aligned or not); n is bounded by the input, so
// a hostile length allocates nothing. Zero octets read as nil, as an empty
// value is written from nil.
func (d *decoder) octetsRaw(n int) []byte {
	if n < 0 || 8*n > d.remaining() {
		d.fail("%d octets wanted, %d bits left", n, d.remaining())
		return nil
	}
	if n == 0 {
		return nil
	}
	out := make([]byte, n)
	if d.pos%8 == 0 {
		copy(out, d.buf[d.pos/8:])
		d.pos += 8 * n
		return out
	}
	for i := range out {
		out[i] = byte(d.bits(8))
	}
	return out
}

func (d *decoder) constrained(lb, ub uint64) uint64 {
	r := ub - lb
	var v uint64
	switch {
	case r == 0:
	case r < 255:
		v = d.bits(bitsFor(r))
	case r == 255:
		d.align()
		v = d.bits(8)
	case r < 65536:
		d.align()
		v = d.bits(16)
	default:
		n := int(d.bits(bitsFor(uint64(octetsFor(r)-1)))) + 1
		d.align()
		v = d.bits(8 * n)
	}
	if d.err == nil && v > r {
		d.fail("%d above range %d..%d", v+lb, lb, ub)
		return lb
	}
	return v + lb
}

// length reads a length determinant in lb..ub (ub < 0: no bound); a
// fragmented length is rejected.
func (d *decoder) length(lb, ub int) int {
	if ub >= 0 && ub < 65536 {
		return int(d.constrained(uint64(lb), uint64(ub)))
	}
	d.align()
	var n int
	first := d.bits(8)
	switch {
	case first&0x80 == 0:
		n = int(first)
	case first&0xc0 == 0x80:
		n = int(first&0x3f)<<8 | int(d.bits(8))
	default:
		d.fail("fragmented length")
		return 0
	}
	if d.err == nil && (n < lb || (ub >= 0 && n > ub)) {
		d.fail("length %d not in %d..%d", n, lb, ub)
		return 0
	}
	return n
}

// count reads the length of a SEQUENCE OF and checks it against the input:
// every element takes at least one bit.
func (d *decoder) count(lb, ub int) int {
	n := d.length(lb, ub)
	if n > d.remaining() {
		d.fail("%d elements in %d bits", n, d.remaining())
		return 0
	}
	return n
}

func (d *decoder) smallNumber() uint64 {
	if !d.bit() {
		return d.bits(6)
	}
	k := d.length(0, -1)
	if k < 1 || k > 8 {
		d.fail("normally small number of %d octets", k)
		return 0
	}
	return d.bits(8 * k)
}

func (d *decoder) smallLength() int {
	if !d.bit() {
		return int(d.bits(6)) + 1
	}
	n := d.length(0, -1)
	if n == 0 {
		d.fail("empty extension bitmap")
	}
	return n
}

// optional reads n preamble bits; bit i of the result is the i-th OPTIONAL
// component's presence.
func (d *decoder) optional(n int) optBits {
	var o optBits
	for i := 0; i < n; i++ {
		if d.bit() {
			o |= 1 << i
		}
	}
	return o
}

type optBits uint64

func (o optBits) has(i int) bool { return o&(1<<i) != 0 }

// choice reads a CHOICE index. For an extension alternative it returns its
// index counted from the first alternative and ext = true; the caller then
// reads the value from openType.
func (d *decoder) choice(root int, extensible bool) (idx int, ext bool) {
	if extensible && d.bit() {
		n := d.smallNumber()
		if n > 1<<20 {
			d.fail("extension alternative %d", n)
			return 0, true
		}
		return root + int(n), true
	}
	return int(d.constrained(0, uint64(root-1))), false
}

// openType reads an open type and returns a decoder over its contents.
func (d *decoder) openType() *decoder {
	p := d.openRaw()
	if d.err != nil {
		return &decoder{err: d.err}
	}
	return newDecoder(p)
}

// openRaw reads an open type's contents: a complete encoding, so at least
// one octet.
func (d *decoder) openRaw() []byte {
	n := d.length(0, -1)
	if n == 0 {
		d.fail("empty open type")
		return nil
	}
	d.align()
	return d.octetsRaw(n)
}

// sub decodes an open type's contents with f and carries its error back.
func (d *decoder) sub(f func(*decoder)) {
	s := d.openType()
	if d.err != nil {
		return
	}
	f(s)
	if s.err != nil && d.err == nil {
		d.err = s.err
	}
}

// extensions reads a SEQUENCE's extension additions after its root: the
// bitmap, then each present addition's open type, given to f with its
// index. Additions f does not read (unknown ones) are skipped by length.
func (d *decoder) extensions(f func(idx int, d *decoder)) {
	n := d.smallLength()
	if n > d.remaining() {
		d.fail("extension bitmap of %d bits", n)
		return
	}
	present := make([]int, 0, min(n, 64))
	for i := 0; i < n; i++ {
		if d.bit() {
			present = append(present, i)
		}
	}
	for _, i := range present {
		d.sub(func(s *decoder) { f(i, s) })
	}
}

func (d *decoder) octets(lb, ub int) []byte {
	if lb == ub {
		if lb > 2 {
			d.align()
		}
		return d.octetsRaw(lb)
	}
	n := d.length(lb, ub)
	d.align()
	return d.octetsRaw(n)
}

func (d *decoder) bitString(lb, ub int) asn1.BitString {
	var n int
	if lb == ub {
		n = lb
		if lb > 16 {
			d.align()
		}
	} else {
		n = d.length(lb, ub)
		d.align()
	}
	if n > d.remaining() {
		d.fail("bit string of %d bits", n)
		return asn1.BitString{}
	}
	b := asn1.BitString{Bytes: make([]byte, (n+7)/8), BitLength: n}
	for i := 0; i < n; i++ {
		if d.bit() {
			b.Bytes[i/8] |= 0x80 >> (i % 8)
		}
	}
	return b
}

func (d *decoder) chars(lb, ub int, a *alphabet) string {
	var n int
	if lb == ub {
		n = lb
		if ub*a.b > 16 {
			d.align()
		}
	} else {
		n = d.length(lb, ub)
		d.align()
	}
	if n*a.b > d.remaining() {
		d.fail("string of %d characters in %d bits", n, d.remaining())
		return ""
	}
	units := make([]uint16, 0, n)
	for i := 0; i < n; i++ {
		c, ok := a.char(d.bits(a.b))
		if d.err != nil {
			return ""
		}
		if !ok {
			d.fail("character %d not in the permitted alphabet", c)
			return ""
		}
		units = append(units, uint16(c))
	}
	if a == bmpAlphabet {
		// UCS-2: one character per unit. A surrogate (no character on
		// its own) reads as U+FFFD, so what decodes always encodes.
		r := make([]rune, len(units))
		for i, u := range units {
			r[i] = rune(u)
			if utf16.IsSurrogate(r[i]) {
				r[i] = 0xfffd
			}
		}
		return string(r)
	}
	b := make([]byte, len(units))
	for i, u := range units {
		b[i] = byte(u)
	}
	return string(b)
}

func (d *decoder) oid() asn1.ObjectIdentifier {
	c := d.octets(0, -1)
	if d.err != nil {
		return nil
	}
	if len(c) == 0 {
		d.fail("empty object identifier")
		return nil
	}
	var o asn1.ObjectIdentifier
	var v uint64
	start := true
	for i, b := range c {
		if start && b == 0x80 {
			d.fail("object identifier arc not minimal")
			return nil
		}
		start = false
		if v > 1<<55 {
			d.fail("object identifier arc too large")
			return nil
		}
		v = v<<7 | uint64(b&0x7f)
		if b&0x80 != 0 {
			if i == len(c)-1 {
				d.fail("object identifier truncated")
				return nil
			}
			continue
		}
		if o == nil {
			if v < 80 {
				o = append(o, int(v/40), int(v%40))
			} else {
				o = append(o, 2, int(v-80))
			}
		} else {
			o = append(o, int(v))
		}
		v, start = 0, true
	}
	return o
}
