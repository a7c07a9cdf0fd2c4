//go:build !linux

package pluginhost

import "os/exec"

// bindToParent is a no-op where the kernel cannot tie a child's life to
// its parent's: a plugin outlives a daemon killed with SIGKILL.
func bindToParent(*exec.Cmd) {}
