package auth

import (
	"fmt"
	"regexp"
	"strings"
)

// PrincipalMapper maps a client certificate's distinguished name (RFC
// 2253, "CN=alice,OU=eng,O=example") to a principal name with Kafka's
// ssl.principal.mapping.rules (SslPrincipalMapper): a comma-separated
// list of "RULE:pattern/replacement/" (optionally followed by L or U to
// lower- or upper-case the result) and "DEFAULT" (the name unchanged);
// the first rule whose pattern matches the whole name gives it. Patterns
// are Go regular expressions (RE2: Java's look-arounds and
// back-references are refused when the rules are parsed); a replacement
// takes Java's $n and \-escapes.
type PrincipalMapper struct {
	rules []mappingRule
}

type mappingRule struct {
	isDefault   bool
	source      string         // as written, for errors
	whole       *regexp.Regexp // the pattern anchored at both ends
	replacement string
	lower       bool
	upper       bool
}

// Kafka's rule grammar (SslPrincipalMapper.RULE_PATTERN), which RE2
// reads alike (leftmost-first alternation, lazy quantifiers).
const rulePattern = `(DEFAULT)|RULE:((\\.|[^\\/])*)/((\\.|[^\\/])*)/([LU]?).*?|(.*?)`

var (
	ruleSplitter = regexp.MustCompile(`\s*(` + rulePattern + `)\s*(,\s*|$)`)
	ruleParser   = regexp.MustCompile(`^(?:` + rulePattern + `)`)
)

// ParsePrincipalMappingRules parses rules; empty is DEFAULT.
func ParsePrincipalMappingRules(rules string) (*PrincipalMapper, error) {
	rules = strings.TrimSpace(rules)
	if rules == "" {
		return &PrincipalMapper{rules: []mappingRule{{isDefault: true, source: "DEFAULT"}}}, nil
	}
	pm := &PrincipalMapper{}
	for _, m := range ruleSplitter.FindAllStringSubmatch(rules, -1) {
		rule := m[1]
		loc := ruleParser.FindStringSubmatchIndex(rule)
		if loc == nil {
			return nil, fmt.Errorf("invalid rule: %s", rule)
		}
		if loc[1] != len(rule) {
			return nil, fmt.Errorf("invalid rule: `%s`, unmatched substring: `%s`", rule, rule[loc[1]:])
		}
		group := func(i int) (string, bool) {
			if loc[2*i] < 0 {
				return "", false
			}
			return rule[loc[2*i]:loc[2*i+1]], true
		}
		if _, ok := group(1); ok {
			pm.rules = append(pm.rules, mappingRule{isDefault: true, source: rule})
			continue
		}
		pat, ok := group(2)
		if !ok {
			continue // empty rules are ignored
		}
		repl, _ := group(4)
		flag, _ := group(6)
		re, err := regexp.Compile(`^(?:` + pat + `)$`)
		if err != nil {
			return nil, fmt.Errorf("invalid rule: %s: %w", rule, err)
		}
		pm.rules = append(pm.rules, mappingRule{source: rule, whole: re, replacement: repl, lower: flag == "L", upper: flag == "U"})
	}
	return pm, nil
}

// Name maps a distinguished name; ok is false when no rule applies
// (Kafka's NoMatchingRule: the connection is refused).
func (pm *PrincipalMapper) Name(dn string) (string, bool) {
	for _, r := range pm.rules {
		if name, ok := r.apply(dn); ok {
			return name, true
		}
	}
	return "", false
}

func (r mappingRule) apply(dn string) (string, bool) {
	if r.isDefault {
		return dn, true
	}
	// Java's Matcher.matches: the pattern must match the whole name.
	m := r.whole.FindStringSubmatchIndex(dn)
	if m == nil {
		return "", false
	}
	out := expandJavaReplacement(r.replacement, dn, m, r.whole.NumSubexp())
	switch {
	case r.lower:
		out = strings.ToLower(out)
	case r.upper:
		out = strings.ToUpper(out)
	}
	return out, true
}

// expandJavaReplacement applies a java.util.regex replacement: $n is
// group n (digits taken while they name a group, as Java does; a group
// number above the pattern's groups stays literal, as Kafka escapes
// it), \c is c literally.
func expandJavaReplacement(repl, src string, m []int, groups int) string {
	var b strings.Builder
	for i := 0; i < len(repl); i++ {
		c := repl[i]
		switch {
		case c == '\\' && i+1 < len(repl):
			i++
			b.WriteByte(repl[i])
		case c == '$' && i+1 < len(repl) && repl[i+1] >= '0' && repl[i+1] <= '9':
			n := int(repl[i+1] - '0')
			if n > groups {
				b.WriteByte(c)
				continue
			}
			i++
			for i+1 < len(repl) && repl[i+1] >= '0' && repl[i+1] <= '9' {
				next := n*10 + int(repl[i+1]-'0')
				if next > groups {
					break
				}
				n = next
				i++
			}
			if m[2*n] >= 0 {
				b.WriteString(src[m[2*n]:m[2*n+1]])
			}
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// String lists the rules as parsed.
func (pm *PrincipalMapper) String() string {
	s := make([]string, len(pm.rules))
	for i, r := range pm.rules {
		s[i] = r.source
	}
	return strings.Join(s, ", ")
}
