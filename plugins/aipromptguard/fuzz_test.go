package aipromptguard

import (
	"regexp"
	"testing"
)

// FuzzCompile checks the one-program trick: for patterns that compile
// alone, the joined program compiles too and matches a text exactly when
// one of them does (a \Q quote left open, say, must not swallow the next).
func FuzzCompile(f *testing.F) {
	f.Add(`badword`, `(?i)ignore previous`, "please IGNORE PREVIOUS words")
	f.Add(`\Q(x)|`, `y`, "y")
	f.Add(`\Q.\E\\Q`, `a|b`, `.\Q`)
	f.Add(`(?m)^look$`, `^$`, "look\nhere")
	f.Add(`[\]\\]+`, `(?U)a+b`, `]\`)
	f.Fuzz(func(t *testing.T, a, b, text string) {
		ra, errA := regexp.Compile(a)
		rb, errB := regexp.Compile(b)
		if errA != nil || errB != nil || a == "" || b == "" || len(a) > MaxPatternLength || len(b) > MaxPatternLength {
			return
		}
		p, err := compile("p", []string{a, b})
		if err != nil {
			if programSize(a)+programSize(b) > MaxProgram/2 {
				return // too large together, reported as such
			}
			t.Fatalf("compile(%q, %q) = %v; each compiles alone", a, b, err)
		}
		if got, want := p.any.MatchString(text), ra.MatchString(text) || rb.MatchString(text); got != want {
			t.Fatalf("joined %q matches %q: %t; the patterns alone: %t", p.any, text, got, want)
		}
	})
}
