package pluginhost

import (
	"os/exec"
	"syscall"
)

// bindToParent makes the kernel kill the plugin process when the daemon
// dies, even by SIGKILL: an orphaned plugin would keep its ports (a SIP
// plugin its 5060) and serve with a stale view.
func bindToParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
