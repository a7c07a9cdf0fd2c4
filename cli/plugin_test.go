package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildTestPlugin builds core/pluginhost's test plugin (a real plugin on
// plugins/sdk) into a test temp dir.
func buildTestPlugin(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "testplugin")
	out, err := exec.Command("go", "build", "-o", path, "../core/pluginhost/testdata/testplugin").CombinedOutput()
	if err != nil {
		t.Fatalf("go build testplugin: %v\n%s", err, out)
	}
	return path
}

// TestPluginCommands: rally plugin install (a relative PATH, through a
// local admin socket), list, status and remove against a real daemon; the
// plugin process dies with a daemon killed by SIGKILL.
func TestPluginCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a daemon and a plugin")
	}
	t.Setenv(envAdmin, "")
	plugin := buildTestPlugin(t)
	london, _ := writeSites(t, "automatic", false)
	rec := filepath.Join(filepath.Dir(london.cfg), "record.jsonl")
	f, err := os.OpenFile(london.cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "plugins:\n  webhook: {record: %q}\n", rec)
	f.Close()
	daemon := serveSite(t, london.cfg)
	waitFor(t, 10*time.Second, "admin socket", func() bool {
		_, err := os.Stat(london.sock)
		return err == nil
	})

	t.Chdir(filepath.Dir(plugin))
	stdout, stderr, code := runCLI(t, "--config", london.cfg, "plugin", "install", "testplugin", "--name", "webhook")
	if code != 0 || !strings.HasPrefix(stdout, "installed webhook (sha256 ") || !strings.HasSuffix(stdout, "): serving\n") {
		t.Fatalf("install: code %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	_, stderr, code = runCLI(t, "--config", london.cfg, "plugin", "install", "testplugin", "--name", "webhook")
	if code != 1 || !strings.Contains(stderr, "webhook is installed (remove it first)") {
		t.Errorf("second install: code %d, stderr %q", code, stderr)
	}

	stdout, _, code = runCLI(t, "--config", london.cfg, "plugin", "list", "--json")
	var list pluginsJSON
	if err := json.Unmarshal([]byte(stdout), &list); code != 0 || err != nil {
		t.Fatalf("list --json: code %d, %v: %s", code, err, stdout)
	}
	if len(list.Plugins) != 1 {
		t.Fatalf("plugins = %+v", list.Plugins)
	}
	p := list.Plugins[0]
	if p.Name != "webhook" || p.Origin != "external" || p.Health != "serving" || p.PID <= 0 ||
		len(p.SHA256) != 64 || p.Version != "0.0.1-test" || p.APIVersion != 1 || list.SchemaVersion != 1 {
		t.Errorf("plugin = %+v", p)
	}
	stdout, _, _ = runCLI(t, "--config", london.cfg, "plugin", "list")
	if !strings.Contains(stdout, "webhook") || !strings.Contains(stdout, p.SHA256[:12]) {
		t.Errorf("list table:\n%s", stdout)
	}
	stdout, _, _ = runCLI(t, "--config", london.cfg, "status")
	if !strings.Contains(stdout, "PLUGIN") || !strings.Contains(stdout, "webhook") {
		t.Errorf("status table lacks the plugin:\n%s", stdout)
	}
	stdout, _, _ = runCLI(t, "--config", london.cfg, "status", "--json")
	var st statusJSON
	if err := json.Unmarshal([]byte(stdout), &st); err != nil || len(st.Site.Plugins) != 1 || st.Site.Plugins[0].Name != "webhook" {
		t.Errorf("status --json plugins = %+v (%v)", st.Site.Plugins, err)
	}

	stdout, stderr, code = runCLI(t, "--config", london.cfg, "plugin", "remove", "webhook")
	if code != 0 || stdout != "removed webhook\n" {
		t.Errorf("remove: code %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	_, stderr, code = runCLI(t, "--config", london.cfg, "plugin", "remove", "webhook")
	if code != 1 || !strings.Contains(stderr, "no such plugin") {
		t.Errorf("second remove: code %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(london.cfg), "data", "plugins", "webhook")); !os.IsNotExist(err) {
		t.Errorf("removed plugin's file: %v", err)
	}

	// The daemon dies by SIGKILL: its plugin dies with it.
	if _, _, code := runCLI(t, "--config", london.cfg, "plugin", "install", plugin, "--name", "webhook"); code != 0 {
		t.Fatal("reinstall failed")
	}
	stdout, _, _ = runCLI(t, "--config", london.cfg, "plugin", "list", "--json")
	if err := json.Unmarshal([]byte(stdout), &list); err != nil || len(list.Plugins) != 1 || list.Plugins[0].PID <= 0 {
		t.Fatalf("list after reinstall: %s", stdout)
	}
	pid := int(list.Plugins[0].PID)
	daemon.kill()
	waitFor(t, 5*time.Second, "the plugin to die with the daemon", func() bool { return !alive(pid) })
}

// alive reports whether process pid runs (a zombie does not).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// pid (comm) S ...: the state follows the last ')'.
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

// TestPluginInstallRemotePath: a remote daemon cannot resolve a relative
// path on this host.
func TestPluginInstallRemotePath(t *testing.T) {
	t.Setenv(envAdmin, "")
	_, stderr, code := runCLI(t, "--admin", "127.0.0.1:1", "plugin", "install", "rel/plugin")
	if code != 1 || !strings.Contains(stderr, "must be absolute for a remote daemon") {
		t.Errorf("code %d, stderr %q", code, stderr)
	}
}
