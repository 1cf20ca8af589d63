package plugin

import (
	"fmt"
	"testing"
)

func TestExchangeParams(t *testing.T) {
	x := &Exchange{}
	for i := 0; i < 10; i++ { // past the inline buffer too
		x.AddParam(fmt.Sprint("p", i), fmt.Sprint(i))
	}
	if x.Param("p1") != "1" || x.Param("p9") != "9" || x.Param("nope") != "" {
		t.Fatalf("params = %v", x.Params)
	}
	if a := testing.AllocsPerRun(100, func() {
		x.Reset()
		x.AddParam("id", "7")
		x.AddParam("name", "x")
	}); a != 0 {
		t.Errorf("AddParam allocs = %v; want 0", a)
	}
}
