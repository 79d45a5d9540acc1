package jmx

import (
	"fmt"
	"strings"
)

const (
	// maxExpanded bounds all text that substitution reads and produces in
	// one Parse: a variable defined as ${a}${a} doubles with each
	// definition, CSV rows multiply every string of a sampler, and defaults
	// repeat their arguments in every sampler. Each string counts one byte
	// more than its length, so that empty ones count too.
	maxExpanded = 64 << 20
	// maxNesting bounds ${…} inside function arguments inside ${…}.
	maxNesting = 16
)

// expand substitutes ${name} from row, then from the User Defined
// Variables, and ${__P(name,default)} with its default, as JMeter would
// with no -J properties given. Anything else is kept verbatim and noted at
// path, so the user sees every string rolltest could not resolve.
func (t *translator) expand(s, path string, row map[string]string) (string, error) {
	return t.expandDepth(s, path, row, 0)
}

func (t *translator) expandDepth(s, path string, row map[string]string, depth int) (string, error) {
	if t.expanded += len(s) + 1; t.expanded > maxExpanded {
		return "", t.tooMuch(path)
	}
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		end := closing(s, i+2)
		if end < 0 {
			b.WriteString(s[i:])
			break
		}
		v, err := t.resolve(s[i:end+1], path, row, depth)
		if err != nil {
			return "", err
		}
		b.WriteString(v)
		s = s[end+1:]
		if t.expanded+b.Len() > maxExpanded {
			return "", t.tooMuch(path)
		}
	}
	t.expanded += b.Len()
	return b.String(), nil
}

func (t *translator) tooMuch(path string) error {
	return fmt.Errorf("%s: the plan's strings, variables substituted, come to more than %d MiB", path, maxExpanded>>20)
}

// closing is the index of the '}' that closes a "${" ending at from, or -1.
func closing(s string, from int) int {
	depth := 1
	for i := from; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// resolve gives the value of one reference ref, "${…}".
func (t *translator) resolve(ref, path string, row map[string]string, depth int) (string, error) {
	inner := ref[2 : len(ref)-1]
	if !strings.HasPrefix(inner, "__") {
		if v, ok := row[inner]; ok {
			return v, nil
		}
		if v, ok := t.vars[inner]; ok {
			return v, nil
		}
		t.note(path, fmt.Sprintf("variable %s is not defined by the plan (set by a script or extractor?): sent verbatim", ref))
		return ref, nil
	}
	open := strings.IndexByte(inner, '(')
	if open < 0 || !strings.HasSuffix(inner, ")") || inner[2:open] != "P" {
		name := inner[2:]
		if open >= 0 {
			name = inner[2:open]
		}
		t.note(path, fmt.Sprintf("function __%s not supported: %s sent verbatim", name, ref))
		return ref, nil
	}
	if depth >= maxNesting {
		t.note(path, fmt.Sprintf("%s nested more than %d deep: sent verbatim", ref, maxNesting))
		return ref, nil
	}
	args := splitArgs(inner[open+1 : len(inner)-1])
	name, err := t.expandDepth(args[0], path, row, depth+1)
	if err != nil {
		return "", err
	}
	// JMeter's own default for __P when none is given.
	def := "1"
	if len(args) > 1 {
		if def, err = t.expandDepth(args[1], path, row, depth+1); err != nil {
			return "", err
		}
	}
	t.note(path, fmt.Sprintf("property %s: JMeter -J properties are not read, its default %q used", strings.TrimSpace(name), def))
	return def, nil
}

// splitArgs splits a function's argument list at the commas outside nested
// references and parentheses; "\," is a literal comma, as in JMeter.
func splitArgs(s string) []string {
	var args []string
	var cur strings.Builder
	depth := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && s[i+1] == ',':
			cur.WriteByte(',')
			i++
			continue
		case c == '(' || c == '{':
			depth++
		case (c == ')' || c == '}') && depth > 0:
			depth--
		case c == ',' && depth == 0:
			args = append(args, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteByte(c)
	}
	return append(args, cur.String())
}
