package mtlsauth

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseDN checks the subject parser never panics, and that a name it
// accepts, put into a certificate subject (through DER, as a real
// certificate is read), matches it.
func FuzzParseDN(f *testing.F) {
	f.Add("CN=agent-a,O=Example")
	f.Add(`cn = a\,b + OU=x\2Cy ,2.5.4.97=\ lead`)
	f.Add(`CN=\C3\A9t\C3\A9`)
	f.Fuzz(func(t *testing.T, s string) {
		attrs, err := parseAttributes(s)
		if err != nil {
			return
		}
		want, err := parseDN(s)
		if err != nil {
			t.Fatalf("parseAttributes accepts %q, parseDN does not: %v", s, err)
		}
		var seq pkix.RDNSequence
		for _, a := range attrs {
			var oid asn1.ObjectIdentifier
			for _, p := range strings.Split(a[0], ".") {
				n, _ := strconv.Atoi(p)
				oid = append(oid, n)
			}
			seq = append(seq, pkix.RelativeDistinguishedNameSET{{Type: oid, Value: a[1]}})
		}
		der, err := asn1.Marshal(seq)
		if err != nil {
			return // not representable in a certificate (invalid UTF-8, a bad OID)
		}
		var back pkix.RDNSequence
		if _, err := asn1.Unmarshal(der, &back); err != nil {
			return
		}
		var name pkix.Name
		name.FillFromRDNSequence(&back)
		if got := subjectDN(name); got != want {
			t.Fatalf("parseDN(%q) = %s; a certificate with its attributes has %s", s, want, got)
		}
	})
}
