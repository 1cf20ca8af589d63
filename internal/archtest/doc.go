// Package archtest holds no code: its tests check the shape of the module,
// namely which packages may import which (STYLE.md 4.2) and that every
// package has a doc comment. They run `go list` from the module root.
package archtest
