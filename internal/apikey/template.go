package apikey

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// Placeholders of a key format template.
const (
	PlaceholderEnv  = "{env}"
	PlaceholderKind = "{kind}"
)

// Limits of a key format template.
const (
	maxTemplateLen = 40
	minLeadLen     = 2
)

// Format is a product's key format: a template such as "kp_{kind}_{env}_"
// or "gsk_{env}_" that the random part and the checksum follow. Its
// literal start (Lead: "kp_", "gsk_") names the product without a database
// read. The zero Format matches nothing.
type Format struct {
	template string
	parts    []formatPart
	lead     string
	headLen  int
	hasKind  bool
}

// formatPart is a literal, or a placeholder when ph is set.
type formatPart struct {
	lit string
	ph  string
}

// ParseFormat validates template: lowercase letters, digits and _ around
// {env} (exactly once) and {kind} (at most once), starting with at least two
// literal characters (a lowercase letter first) and ending with _.
// Placeholders may not touch each other. The error says what is wrong.
func ParseFormat(template string) (Format, error) {
	f := Format{template: template}
	if template == "" {
		return Format{}, errors.New("give a key format, such as gsk_{env}_")
	}
	if len(template) > maxTemplateLen {
		return Format{}, fmt.Errorf("a key format is at most %d characters", maxTemplateLen)
	}
	rest := template
	for rest != "" {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			i = len(rest)
		}
		if i > 0 {
			lit := rest[:i]
			for _, c := range []byte(lit) {
				if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
					return Format{}, fmt.Errorf("%q is not allowed in a key format: use a-z, 0-9, _, {env} and {kind}", string(c))
				}
			}
			f.parts = append(f.parts, formatPart{lit: lit})
			f.headLen += len(lit)
			rest = rest[i:]
			continue
		}
		var ph string
		switch {
		case strings.HasPrefix(rest, PlaceholderEnv):
			ph = PlaceholderEnv
			f.headLen += len("live")
		case strings.HasPrefix(rest, PlaceholderKind):
			ph = PlaceholderKind
			f.hasKind = true
			f.headLen += len("sk")
		default:
			return Format{}, errors.New("a key format knows only the placeholders {env} and {kind}")
		}
		for _, p := range f.parts {
			if p.ph == ph {
				return Format{}, fmt.Errorf("%s may appear only once in a key format", ph)
			}
		}
		if n := len(f.parts); n > 0 && f.parts[n-1].ph != "" {
			return Format{}, errors.New("put a literal character, such as _, between {env} and {kind}")
		}
		f.parts = append(f.parts, formatPart{ph: ph})
		rest = rest[len(ph):]
	}
	switch {
	case f.parts[0].ph != "" || len(f.parts[0].lit) < minLeadLen:
		return Format{}, fmt.Errorf("a key format starts with at least %d literal characters, such as gsk_", minLeadLen)
	case f.parts[0].lit[0] < 'a' || f.parts[0].lit[0] > 'z':
		return Format{}, errors.New("a key format starts with a lowercase letter")
	case !strings.Contains(template, PlaceholderEnv):
		return Format{}, errors.New("a key format needs {env}, so live and test keys differ")
	case !strings.HasSuffix(template, "_"):
		return Format{}, errors.New("a key format ends with _, before the random part")
	}
	f.lead = f.parts[0].lit
	return f, nil
}

// DefaultFormat is the format of the deployment's own prefix:
// "{prefix}_{kind}_{env}_".
func DefaultFormat(prefix string) (Format, error) {
	return ParseFormat(prefix + "_" + PlaceholderKind + "_" + PlaceholderEnv + "_")
}

// MustFormat is ParseFormat for templates known to be valid; it panics
// otherwise.
func MustFormat(template string) Format {
	f, err := ParseFormat(template)
	if err != nil {
		panic(err)
	}
	return f
}

// String is the template.
func (f Format) String() string { return f.template }

// Lead is the literal start of every key of the format.
func (f Format) Lead() string { return f.lead }

// HasKind reports whether the format writes a key's kind (sk or pk).
func (f Format) HasKind() bool { return f.hasKind }

// KeyLen is the length of every key of the format.
func (f Format) KeyLen() int { return f.headLen + secretLen }

// Head is what a key of kind and env starts with, before its secret.
func (f Format) Head(kind Kind, env Environment) string {
	var b strings.Builder
	b.Grow(f.headLen)
	for _, p := range f.parts {
		switch p.ph {
		case "":
			b.WriteString(p.lit)
		case PlaceholderEnv:
			b.WriteString(string(env))
		case PlaceholderKind:
			b.WriteString(kindTag(kind))
		}
	}
	return b.String()
}

// Example is how a live private key of the format starts, then "…":
// what pages and commands show of a format ("gsk_live_…").
func (f Format) Example() string { return f.Head(Private, Live) + "…" }

// Generate returns a new key of the format, drawing randomness from rnd
// (crypto/rand when nil).
func (f Format) Generate(rnd io.Reader, kind Kind, env Environment) (string, error) {
	if len(f.parts) == 0 {
		return "", errors.New("apikey: generate: no key format")
	}
	return WithSecret(rnd, f.Head(kind, env))
}

// Parse checks key's shape and checksum against the format and returns
// what they say: its environment, and its kind when the format writes it
// ("" otherwise). It touches no database and does not allocate.
func (f Format) Parse(key string) (Parsed, error) {
	if len(key) != f.KeyLen() || len(f.parts) == 0 {
		return Parsed{}, ErrMalformed
	}
	var p Parsed
	at := 0
	for _, part := range f.parts {
		switch part.ph {
		case "":
			if key[at:at+len(part.lit)] != part.lit {
				return Parsed{}, ErrMalformed
			}
			at += len(part.lit)
		case PlaceholderEnv:
			switch key[at : at+4] {
			case "live":
				p.Environment = Live
			case "test":
				p.Environment = Test
			default:
				return Parsed{}, ErrMalformed
			}
			at += 4
		case PlaceholderKind:
			switch key[at : at+2] {
			case "sk":
				p.Kind = Private
			case "pk":
				p.Kind = Public
			default:
				return Parsed{}, ErrMalformed
			}
			at += 2
		}
	}
	if !secretValid(key, at) {
		return Parsed{}, ErrMalformed
	}
	return p, nil
}

// Overlaps reports whether a key could start with both a and b: one is the
// start of the other.
func Overlaps(a, b string) bool {
	return strings.HasPrefix(a, b) || strings.HasPrefix(b, a)
}
