package h1server

// Exported for bench_gateway_test.go (package h1server_test), which cannot
// be in this package: the gateway will import this one.
var (
	CompareCPU = compareCPU
	StartFloor = startFloor
)
