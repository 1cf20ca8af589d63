package mtlsauth

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// attributeTypes maps the attribute type names a subject may use to their
// OIDs: Go's own names (pkix.Name.String) and OpenSSL's common extras.
var attributeTypes = map[string]string{
	"C":            "2.5.4.6",
	"O":            "2.5.4.10",
	"OU":           "2.5.4.11",
	"CN":           "2.5.4.3",
	"SERIALNUMBER": "2.5.4.5",
	"L":            "2.5.4.7",
	"ST":           "2.5.4.8",
	"STREET":       "2.5.4.9",
	"POSTALCODE":   "2.5.4.17",
	"DC":           "0.9.2342.19200300.100.1.25",
	"UID":          "0.9.2342.19200300.100.1.1",
	"EMAILADDRESS": "1.2.840.113549.1.9.1",
}

// parseDN parses an RFC 4514 distinguished name ("CN=agent-a,O=Example")
// into its canonical form (see canonicalDN).
func parseDN(s string) (string, error) {
	attrs, err := parseAttributes(s)
	if err != nil {
		return "", err
	}
	atvs := make([]string, len(attrs))
	for i, a := range attrs {
		atvs[i] = atv(a[0], a[1])
	}
	return canonicalDN(atvs), nil
}

// parseAttributes returns the OID and value of every attribute of an RFC
// 4514 distinguished name, flattening multi-valued RDNs (a+b). Spaces around
// separators and the case of attribute type names do not matter; values are
// taken as written, with \-escapes (\, or \2C) undone. The #hex form of
// values is not supported.
func parseAttributes(s string) ([][2]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("is empty")
	}
	var attrs [][2]string
	for rest := s; ; {
		typ, value, next, sep, err := nextATV(rest)
		if err != nil {
			return nil, err
		}
		oid, err := attributeOID(typ)
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, [2]string{oid, value})
		if sep == 0 {
			return attrs, nil
		}
		rest = next
	}
}

// nextATV splits one type=value off s, returning what follows the ',' or
// '+' that ended it (sep is 0 at the end).
func nextATV(s string) (typ, value, rest string, sep byte, err error) {
	eq := strings.IndexByte(s, '=')
	if eq < 0 {
		return "", "", "", 0, fmt.Errorf("%q has no \"=\"", strings.TrimSpace(s))
	}
	typ = strings.TrimSpace(s[:eq])
	var b strings.Builder
	i := eq + 1
	for i < len(s) && s[i] == ' ' {
		i++
	}
	if i < len(s) && s[i] == '#' {
		return "", "", "", 0, fmt.Errorf("%s: the #hex form of values is not supported", typ)
	}
	trailing := 0 // unescaped spaces at the end of b, dropped if the value ends
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ',' || c == '+':
			rest, sep = s[i+1:], c
			if strings.TrimSpace(rest) == "" {
				return "", "", "", 0, fmt.Errorf("ends with %q", c)
			}
			return typ, b.String()[:b.Len()-trailing], rest, sep, nil
		case c == '\\':
			if i+1 >= len(s) {
				return "", "", "", 0, errors.New(`ends with "\"`)
			}
			if h, err := strconv.ParseUint(s[i+1:min(i+3, len(s))], 16, 8); err == nil && i+2 < len(s) {
				b.WriteByte(byte(h))
				i += 2
			} else {
				b.WriteByte(s[i+1])
				i++
			}
			trailing = 0
		case c == '"' || c == ';' || c == '<' || c == '>':
			return "", "", "", 0, fmt.Errorf("%s: %q must be escaped with \"\\\"", typ, c)
		default:
			b.WriteByte(c)
			if c == ' ' {
				trailing++
			} else {
				trailing = 0
			}
		}
	}
	return typ, b.String()[:b.Len()-trailing], "", 0, nil
}

// attributeOID returns the OID of an attribute type name or dotted OID.
func attributeOID(typ string) (string, error) {
	if oid, ok := attributeTypes[strings.ToUpper(typ)]; ok {
		return oid, nil
	}
	if isDottedOID(typ) {
		return typ, nil
	}
	return "", fmt.Errorf("unknown attribute type %q (use CN, O, OU, C, L, ST, STREET, POSTALCODE, SERIALNUMBER, DC, UID, emailAddress or a dotted OID)", typ)
}

func isDottedOID(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return false
	}
	for _, p := range parts {
		if n, err := strconv.ParseUint(p, 10, 31); err != nil || strconv.FormatUint(n, 10) != p {
			return false
		}
	}
	return true
}

// atv is one attribute in canonical form; quoting the value keeps the
// joined form unambiguous whatever the value holds.
func atv(oid, value string) string { return oid + "=" + strconv.Quote(value) }

// canonicalDN joins attributes sorted, so that two names with the same
// attributes compare equal whatever their order. Go renders subjects in an
// order of its own (pkix.Name.String), so order cannot be matched anyway.
func canonicalDN(atvs []string) string {
	slices.Sort(atvs)
	return strings.Join(atvs, ",")
}

// subjectDN is the canonical form of a certificate's subject: every
// attribute it has, whatever the RDN structure.
func subjectDN(n pkix.Name) string {
	atvs := make([]string, 0, len(n.Names))
	for _, a := range n.Names {
		atvs = append(atvs, atv(a.Type.String(), fmt.Sprint(a.Value)))
	}
	return canonicalDN(atvs)
}

// commonName returns the subject's CN when it has exactly one.
func commonName(n pkix.Name) (string, bool) {
	cn, count := "", 0
	for _, a := range n.Names {
		if a.Type.Equal(oidCommonName) {
			cn, _ = a.Value.(string)
			count++
		}
	}
	return cn, count == 1
}

var oidCommonName = asn1.ObjectIdentifier{2, 5, 4, 3}
