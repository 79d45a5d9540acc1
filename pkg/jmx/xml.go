package jmx

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Limits on outside input. A .jmx is written by a tool, and the largest real
// plans are a few MiB; anything bigger is more likely a mistake or an attack,
// and the tree is held in memory whole.
const (
	// MaxPlanSize is the largest .jmx (and the largest CSV file) Parse reads.
	MaxPlanSize = 32 << 20
	// maxDepth bounds XML nesting; each level of a test plan's tree costs
	// two (the element and its hashTree), and real plans stay under 40.
	maxDepth = 256
)

// node is one XML element, kept generically so that the JMeter 2.x and 5.x
// shapes of the same property read the same way.
type node struct {
	name string
	attr []xml.Attr
	text []byte
	kids []*node
}

func (n *node) attrValue(name string) (string, bool) {
	for _, a := range n.attr {
		if a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

// decode reads the whole document into a node tree, refusing documents
// over MaxPlanSize, nested deeper than maxDepth, or declaring entities.
// encoding/xml expands no external entities, so a plan cannot make Parse
// read other files.
func decode(r io.Reader) (*node, error) {
	lr := &io.LimitedReader{R: r, N: MaxPlanSize + 1}
	d := xml.NewDecoder(lr)
	d.CharsetReader = charsetReader
	var root *node
	var stack []*node
	tooBig := func() error { return fmt.Errorf("larger than %d MiB", MaxPlanSize>>20) }
	for {
		tok, err := d.Token()
		if lr.N <= 0 {
			return nil, tooBig()
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("XML: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) >= maxDepth {
				line, _ := d.InputPos()
				return nil, fmt.Errorf("line %d: elements nested deeper than %d", line, maxDepth)
			}
			n := &node{name: t.Name.Local, attr: t.Attr}
			if len(stack) == 0 {
				if root != nil {
					return nil, errors.New("XML: more than one root element")
				}
				root = n
			} else {
				top := stack[len(stack)-1]
				top.kids = append(top.kids, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.Directive:
			// encoding/xml expands none of the entities a DOCTYPE declares
			// (a reference to one fails as undefined), so neither a
			// billion laughs nor an external entity can do harm here. A
			// plan that declares any is still refused by name, before its
			// first use: JMeter never writes one, and the undefined-entity
			// error would not tell the user why.
			if bytes.Contains(t, []byte("<!ENTITY")) || bytes.HasPrefix(bytes.TrimSpace(t), []byte("ENTITY")) {
				line, _ := d.InputPos()
				return nil, fmt.Errorf("line %d: <!ENTITY>: entity declarations are not accepted", line)
			}
		case xml.CharData:
			if len(stack) > 0 {
				top := stack[len(stack)-1]
				top.text = append(top.text, t...)
			}
		}
	}
	if root == nil {
		return nil, errors.New("no XML element in the document")
	}
	return root, nil
}

// charsetReader lets JMeter 2.x files declared ISO-8859-1 through; Go's
// decoder knows only UTF-8 on its own.
func charsetReader(label string, in io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "utf-8", "utf8", "us-ascii", "ascii":
		return in, nil
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1":
		b, err := io.ReadAll(in)
		if err != nil {
			return nil, err
		}
		var out bytes.Buffer
		out.Grow(len(b))
		for _, c := range b {
			out.WriteRune(rune(c))
		}
		return &out, nil
	}
	return nil, fmt.Errorf("unsupported encoding %q (save the plan as UTF-8)", label)
}

// element is one test element of the plan: the XML element that names it
// and the children its sibling hashTree holds.
type element struct {
	class   string // testclass without org.apache.jmeter's package, or the tag
	gui     string
	name    string // testname, what JMeter's tree shows
	enabled bool
	props   *node
	kids    []*element
}

// planTree reads the jmeterTestPlan root down to its TestPlan element.
func planTree(root *node) (*element, error) {
	if root.name != "jmeterTestPlan" {
		return nil, fmt.Errorf("not a JMeter test plan: the root element is <%s>, not <jmeterTestPlan>", root.name)
	}
	var top []*element
	for _, k := range root.kids {
		if k.name != "hashTree" {
			continue
		}
		els, err := hashTree(k)
		if err != nil {
			return nil, err
		}
		top = append(top, els...)
	}
	for _, e := range top {
		if e.class == "TestPlan" {
			return e, nil
		}
	}
	return nil, errors.New("no TestPlan element under jmeterTestPlan")
}

// hashTree pairs each element with the hashTree that follows it, which
// holds the element's children.
func hashTree(ht *node) ([]*element, error) {
	var els []*element
	var last *element
	for _, k := range ht.kids {
		if k.name == "hashTree" {
			if last == nil {
				return nil, errors.New("a hashTree with no element before it")
			}
			kids, err := hashTree(k)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", last.name, err)
			}
			last.kids = append(last.kids, kids...)
			continue
		}
		last = newElement(k)
		els = append(els, last)
	}
	return els, nil
}

func newElement(n *node) *element {
	e := &element{class: n.name, props: n, enabled: true}
	if c, ok := n.attrValue("testclass"); ok && c != "" {
		e.class = c
	}
	if strings.HasPrefix(e.class, "org.apache.jmeter.") {
		e.class = e.class[strings.LastIndexByte(e.class, '.')+1:]
	}
	e.gui, _ = n.attrValue("guiclass")
	e.name, _ = n.attrValue("testname")
	if e.name == "" {
		e.name = e.class
	}
	if v, ok := n.attrValue("enabled"); ok && v == "false" {
		e.enabled = false
	}
	return e
}

// prop finds the property called name among n's children. JMeter writes
// most properties as <kindProp name="…">, but doubles and floats as
// <doubleProp><name>…</name><value>…</value></doubleProp>.
func prop(n *node, name string) *node {
	if n == nil {
		return nil
	}
	for _, k := range n.kids {
		if v, ok := k.attrValue("name"); ok {
			if v == name {
				return k
			}
			continue
		}
		for _, kk := range k.kids {
			if kk.name == "name" && string(kk.text) == name {
				return k
			}
		}
	}
	return nil
}

// str is the value of property name, "" when absent. Values are not
// trimmed: a raw body's whitespace is part of the request.
func str(n *node, name string) string {
	p := prop(n, name)
	if p == nil {
		return ""
	}
	for _, k := range p.kids {
		if k.name == "value" {
			return string(k.text)
		}
	}
	return string(p.text)
}

// items are the elements of a collectionProp (or the properties of an
// elementProp) called name.
func items(n *node, name string) []*node {
	p := prop(n, name)
	if p == nil {
		return nil
	}
	return p.kids
}
