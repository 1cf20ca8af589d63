//go:build !unix

package stdio

import (
	"os"
	"os/exec"
)

// Without Unix process groups, signals reach the child alone.

func setProcessGroup(*exec.Cmd) {}

func terminate(p *os.Process) { _ = p.Kill() }

func kill(p *os.Process) { _ = p.Kill() }

func killGroup(*os.Process) {}
