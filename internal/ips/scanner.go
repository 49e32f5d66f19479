package ips

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"iter"
)

// XML namespaces the decoder recognises.
const (
	nsSOAPEnvURI = "http://schemas.xmlsoap.org/soap/envelope/"
	nsIPSURI     = "http://www.scene7.com/IpsApi/xsd"
	nsXMLURI     = "http://www.w3.org/XML/1998/namespace"
)

// nsClass is the class of an element's namespace URI, computed once per
// namespace declaration so that matching an element is an integer compare.
type nsClass uint8

const (
	nsOther   nsClass = iota // any namespace the decoder does not know
	nsNone                   // no namespace
	nsSOAPEnv                // SOAP 1.1 envelope
	nsIPS                    // unversioned IPS namespace (authHeader, fault details)
	nsIPSVer                 // http://www.scene7.com/IpsApi/xsd/<any version>
)

func classify(uri string) nsClass {
	switch {
	case uri == "":
		return nsNone
	case uri == nsSOAPEnvURI:
		return nsSOAPEnv
	case uri == nsIPSURI:
		return nsIPS
	case len(uri) > len(nsIPSURI)+1 && uri[:len(nsIPSURI)+1] == nsIPSURI+"/":
		return nsIPSVer
	}
	return nsOther
}

// binding is one in-scope namespace declaration.
type binding struct {
	prefix string // "" for the default namespace
	class  nsClass
	depth  int // depth of the element that declared it
}

// elem is a start element with its namespace resolved.
type elem struct {
	ns    nsClass
	local string
}

// tokKind is the kind of a scanner event.
type tokKind uint8

const (
	tokEOF tokKind = iota
	tokStart
	tokEnd
	tokText
)

// scanner is a namespace-aware XML token stream over xml.Decoder.RawToken.
// RawToken neither resolves prefixes nor checks that end tags match; the
// scanner does both, resolving prefixes to a namespace class from its own
// binding stack, and bounds the nesting depth. Strict mode is on and no
// entity map is set, so only the five predefined entities and character
// references are expanded; DOCTYPE declarations are rejected.
type scanner struct {
	d   *xml.Decoder
	raw *rawReader
	// tokStart is the stream offset where the last token began.
	tokStart int64
	// capture is set while an element's raw bytes are kept and the bytes
	// rawReader replaced in it are left for the caller (see capture).
	capture  bool
	bindings []binding
	open     []xml.Name // raw names of the open elements
	text     []byte     // CharData of the last tokText, valid until next()
	cur      elem       // last tokStart
	done     bool       // root element closed
	sawRoot  bool
	// sawText is set when child skips text that is not white space.
	sawText bool
}

func newScanner(r io.Reader) *scanner {
	raw := newRawReader(r)
	d := xml.NewDecoder(raw)
	d.Strict = true
	return &scanner{d: d, raw: raw, open: make([]xml.Name, 0, 16), bindings: make([]binding, 0, 8)}
}

func (s *scanner) depth() int { return len(s.open) }

// next returns the next event. At the end of the document it returns tokEOF
// once the root element has closed, and a truncation error otherwise.
func (s *scanner) next() (tokKind, error) {
	for {
		if !s.capture {
			if bad, ok := s.raw.badBefore(s.d.InputOffset()); ok {
				return tokEOF, malformed("%s at byte offset %d", bad.what, bad.off)
			}
			s.tokStart = s.d.InputOffset()
			s.raw.keep(s.tokStart)
		}
		tok, err := s.d.RawToken()
		if err != nil {
			if err == io.EOF {
				if len(s.open) > 0 || !s.sawRoot {
					if !s.sawRoot {
						return tokEOF, &malformedError{msg: "empty body or no XML element", truncated: false}
					}
					return tokEOF, &malformedError{msg: "truncated: document ended inside <" + s.open[len(s.open)-1].Local + ">", truncated: true}
				}
				return tokEOF, nil
			}
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				if se.Msg == "unexpected EOF" {
					return tokEOF, &malformedError{msg: "truncated: " + se.Error(), truncated: true}
				}
				return tokEOF, malformed("%v", se)
			}
			// A read error of the underlying body (too large, connection
			// reset, gzip error): returned as is for the caller to type.
			if err == s.raw.err {
				return tokEOF, err
			}
			// Anything else encoding/xml refuses (an <?xml?> declaration
			// of another version, say) is the document's fault.
			return tokEOF, malformed("%v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if s.done {
				return tokEOF, malformed("second root element <%s> after the document's end", t.Name.Local)
			}
			if len(s.open) >= maxDepth {
				return tokEOF, malformed("elements nested deeper than %d levels", maxDepth)
			}
			s.sawRoot = true
			s.open = append(s.open, t.Name)
			depth := len(s.open)
			for _, a := range t.Attr {
				switch {
				case a.Name.Space == "xmlns":
					if a.Value == "" {
						return tokEOF, malformed("empty namespace URI for prefix %q", a.Name.Local)
					}
					s.bindings = append(s.bindings, binding{prefix: a.Name.Local, class: classify(a.Value), depth: depth})
				case a.Name.Space == "" && a.Name.Local == "xmlns":
					s.bindings = append(s.bindings, binding{prefix: "", class: classify(a.Value), depth: depth})
				}
			}
			ns, ok := s.resolve(t.Name.Space)
			if !ok {
				return tokEOF, malformed("undeclared namespace prefix %q on <%s:%s>", t.Name.Space, t.Name.Space, t.Name.Local)
			}
			s.cur = elem{ns: ns, local: t.Name.Local}
			return tokStart, nil
		case xml.EndElement:
			n := len(s.open)
			if n == 0 {
				return tokEOF, malformed("unexpected end element </%s>", t.Name.Local)
			}
			if top := s.open[n-1]; top != t.Name {
				return tokEOF, malformed("element <%s> closed by </%s>", qname(top), qname(t.Name))
			}
			for len(s.bindings) > 0 && s.bindings[len(s.bindings)-1].depth == n {
				s.bindings = s.bindings[:len(s.bindings)-1]
			}
			s.open = s.open[:n-1]
			if n == 1 {
				s.done = true
			}
			return tokEnd, nil
		case xml.CharData:
			if len(s.open) == 0 {
				if !isSpace(t) {
					return tokEOF, malformed("text outside the root element")
				}
				continue
			}
			s.text = t
			return tokText, nil
		case xml.Directive:
			return tokEOF, malformed("DTD or other <!...> declaration not allowed")
		default: // comments, processing instructions
			continue
		}
	}
}

func qname(n xml.Name) string {
	if n.Space == "" {
		return n.Local
	}
	return n.Space + ":" + n.Local
}

func isSpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// resolve maps a prefix to the class of its in-scope namespace.
func (s *scanner) resolve(prefix string) (nsClass, bool) {
	if prefix == "xml" {
		return nsOther, true
	}
	for i := len(s.bindings) - 1; i >= 0; i-- {
		if s.bindings[i].prefix == prefix {
			return s.bindings[i].class, true
		}
	}
	if prefix == "" {
		return nsNone, true
	}
	return nsOther, false
}

// child advances to the next child element of the element open at depth d,
// skipping text. It returns false when that element ends.
func (s *scanner) child(d int) (bool, error) {
	for {
		k, err := s.next()
		if err != nil {
			return false, err
		}
		switch k {
		case tokStart:
			return true, nil
		case tokEnd:
			if s.depth() < d {
				return false, nil
			}
		case tokText:
			if !s.sawText && !isSpace(s.text) {
				s.sawText = true
			}
		case tokEOF:
			return false, malformed("document ended early")
		}
	}
}

// children yields each child element of the element open at depth d as it
// starts, skipping text, until that element ends. The loop's body consumes
// the element it is given (reads or skips it). An error is yielded once,
// and ends the sequence.
func (s *scanner) children(d int) iter.Seq2[elem, error] { return s.matching(d, false, "") }

// fields is children restricted to the versioned IPS namespace: the other
// children are skipped.
func (s *scanner) fields(d int) iter.Seq2[elem, error] { return s.matching(d, true, "") }

// named is fields restricted to the children called local.
func (s *scanner) named(d int, local string) iter.Seq2[elem, error] {
	return s.matching(d, true, local)
}

// matching yields the children of the element open at depth d, skipping
// those outside the versioned IPS namespace when ips, and those not called
// local unless it is "".
func (s *scanner) matching(d int, ips bool, local string) iter.Seq2[elem, error] {
	return func(yield func(elem, error) bool) {
		for {
			ok, err := s.child(d)
			if err != nil {
				yield(elem{}, err)
				return
			}
			if !ok {
				return
			}
			if ips && s.cur.ns != nsIPSVer || local != "" && s.cur.local != local {
				if err := s.skip(); err != nil {
					yield(elem{}, err)
					return
				}
				continue
			}
			if !yield(s.cur, nil) {
				return
			}
		}
	}
}

// skip consumes the rest of the element just started (its whole subtree).
func (s *scanner) skip() error { return s.skipOut(s.depth()) }

// skipOut consumes the rest of the element open at depth d, wherever
// inside it the scanner is.
func (s *scanner) skipOut(d int) error {
	for s.depth() >= d {
		k, err := s.next()
		if err != nil {
			return err
		}
		if k == tokEOF {
			return malformed("document ended early")
		}
	}
	return nil
}

// textContent reads the text of the element just started up to its end. A
// child element inside it is an error; comments are ignored.
func (s *scanner) textContent(buf []byte) ([]byte, error) {
	d := s.depth()
	name := s.cur.local
	buf = buf[:0]
	for {
		k, err := s.next()
		if err != nil {
			return buf, err
		}
		switch k {
		case tokText:
			buf = append(buf, s.text...)
		case tokStart:
			reason := fmt.Sprintf("element <%s> where text belongs", s.cur.local)
			return buf, &malformedError{msg: "<" + name + ">: " + reason, local: true, reason: reason}
		case tokEnd:
			if s.depth() < d {
				return buf, nil
			}
		}
	}
}

// startCapture keeps the raw bytes of the element just started, from its
// start tag on, until endCapture.
func (s *scanner) startCapture() { s.capture = true }

// endCapture ends a capture begun when the element that has just ended
// started. It returns the element's raw bytes, and the first byte in it
// that was not valid UTF-8 or not an XML character, with its offset in the
// element. It does not copy the bytes unless want (or there is a bad byte).
func (s *scanner) endCapture(want bool) (raw []byte, bad badByte, hasBad bool) {
	s.capture = false
	end := s.d.InputOffset()
	if b, ok := s.raw.badBefore(end); ok {
		bad, hasBad = b, true
		bad.off -= s.tokStart
		want = true
	}
	if want {
		raw = s.raw.kept(s.tokStart, end)
	}
	s.raw.dropBad(end)
	return raw, bad, hasBad
}

// finish reads the rest of the document, so that a body cut short after the
// interesting part is still noticed.
func (s *scanner) finish() error {
	for {
		k, err := s.next()
		if err != nil {
			return err
		}
		if k == tokEOF {
			return nil
		}
	}
}
