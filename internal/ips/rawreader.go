package ips

import (
	"io"
	"unicode/utf8"
)

// rawReader is the byte source of the scanner's xml.Decoder (it implements
// io.ByteReader, so the decoder reads it directly, with no buffer of its
// own in between). It does two things the decoder cannot:
//
//   - It keeps the raw bytes from a given stream offset on (keep), so that
//     the scanner can hand back the exact bytes of an element, for the
//     dead letter of an entry that does not decode.
//   - It replaces every byte that is not valid UTF-8 or not an XML
//     character by '?' before the decoder sees it, and remembers where and
//     what it was (bad). encoding/xml stops the whole document at such a
//     byte; this way the scanner can fail only the entry that holds it. The
//     replacement keeps every offset, and never reaches a caller: the
//     scanner fails the element holding it, or the whole document.
type rawReader struct {
	src  io.Reader
	buf  []byte
	base int64 // stream offset of buf[0]
	r    int   // next byte to serve
	ok   int   // buf[:ok] is checked; buf[ok:w] is an unfinished UTF-8 sequence
	w    int
	err  error // the source's error, returned once buf[r:ok] is served

	// keepFrom is the stream offset from which bytes are kept in buf.
	keepFrom int64
	// bad lists the replaced bytes, in stream order.
	bad []badByte
}

// badByte is a byte rawReader replaced.
type badByte struct {
	off  int64
	b    byte
	what string // "invalid UTF-8" or "character not allowed in XML"
}

const rawReaderChunk = 32 << 10

func newRawReader(src io.Reader) *rawReader {
	return &rawReader{src: src, buf: make([]byte, rawReaderChunk)}
}

// ReadByte implements io.ByteReader.
func (r *rawReader) ReadByte() (byte, error) {
	if r.r >= r.ok {
		if err := r.fill(); err != nil {
			return 0, err
		}
	}
	b := r.buf[r.r]
	r.r++
	return b, nil
}

// Read implements io.Reader (the decoder only uses ReadByte).
func (r *rawReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if r.r >= r.ok {
		if err := r.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.buf[r.r:r.ok])
	r.r += n
	return n, nil
}

// keep makes the reader keep every byte from stream offset off on, until
// the next call. off must not be before a byte already dropped.
func (r *rawReader) keep(off int64) { r.keepFrom = off }

// kept returns the raw bytes of [from, to), with the replaced bytes put
// back, in a new slice; both offsets must lie in what was kept and read.
func (r *rawReader) kept(from, to int64) []byte {
	out := append([]byte(nil), r.buf[from-r.base:to-r.base]...)
	for _, b := range r.bad {
		if b.off >= from && b.off < to {
			out[b.off-from] = b.b
		}
	}
	return out
}

// badBefore returns the first replaced byte before stream offset off, if
// any.
func (r *rawReader) badBefore(off int64) (badByte, bool) {
	if len(r.bad) > 0 && r.bad[0].off < off {
		return r.bad[0], true
	}
	return badByte{}, false
}

// dropBad forgets the replaced bytes before stream offset off.
func (r *rawReader) dropBad(off int64) {
	i := 0
	for i < len(r.bad) && r.bad[i].off < off {
		i++
	}
	r.bad = append(r.bad[:0], r.bad[i:]...)
}

// fill makes at least one more checked byte available, or returns the
// source's error.
func (r *rawReader) fill() error {
	for r.r >= r.ok {
		if r.err != nil {
			if r.ok < r.w {
				// The source ended inside a UTF-8 sequence.
				r.check(true)
				continue
			}
			return r.err
		}
		// Drop what was served and is not kept, then make room.
		drop := r.r
		if k := int(r.keepFrom - r.base); k >= 0 && k < drop {
			drop = k
		}
		if drop > 0 {
			copy(r.buf, r.buf[drop:r.w])
			r.base += int64(drop)
			r.r -= drop
			r.ok -= drop
			r.w -= drop
		}
		if len(r.buf)-r.w < rawReaderChunk/2 {
			grown := make([]byte, 2*len(r.buf))
			copy(grown, r.buf[:r.w])
			r.buf = grown
		}
		n, err := r.src.Read(r.buf[r.w:])
		r.w += n
		if err != nil {
			r.err = err
		} else if n == 0 {
			continue
		}
		r.check(false)
	}
	return nil
}

// check checks buf[ok:w], replacing what the decoder must not see, and
// advances ok. An unfinished UTF-8 sequence at the end stays unchecked
// unless atEOF.
func (r *rawReader) check(atEOF bool) {
	b := r.buf
	i := r.ok
	for i < r.w {
		c := b[i]
		if c >= 0x20 && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < 0x20 {
			if c != '\t' && c != '\n' && c != '\r' {
				r.replace(i, 1, "character not allowed in XML")
			}
			i++
			continue
		}
		if !atEOF && !utf8.FullRune(b[i:r.w]) {
			break
		}
		rn, size := utf8.DecodeRune(b[i:r.w])
		switch {
		case rn == utf8.RuneError && size == 1:
			r.replace(i, 1, "invalid UTF-8")
		case rn == 0xFFFE || rn == 0xFFFF:
			r.replace(i, size, "character not allowed in XML")
		}
		i += size
	}
	r.ok = i
}

func (r *rawReader) replace(i, n int, what string) {
	for j := i; j < i+n; j++ {
		r.bad = append(r.bad, badByte{off: r.base + int64(j), b: r.buf[j], what: what})
		r.buf[j] = '?'
	}
}
