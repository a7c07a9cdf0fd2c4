package pluginhost

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// pinsFile is the name of the pin file in the plugin directory.
const pinsFile = "pins.json"

// pin is what PluginDir/pins.json records of one installed plugin: the
// executable's file name inside the plugin directory and its SHA-256, which
// every launch verifies (DESIGN §2).
type pin struct {
	File      string    `json:"file"`
	SHA256    string    `json:"sha256"`
	Installed time.Time `json:"installed"`
}

// validName is the rule for a plugin name: it names the executable in the
// plugin directory and the plugin's section under plugins: in the config.
var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func checkName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("%w: plugin name %q: want 1-63 lowercase letters, digits, '-' and '_', starting with a letter or digit", ErrInvalid, name)
	}
	return nil
}

// loadPins reads dir/pins.json; a missing file is no pins.
func loadPins(dir string) (map[string]pin, error) {
	data, err := os.ReadFile(filepath.Join(dir, pinsFile))
	if errors.Is(err, os.ErrNotExist) {
		return map[string]pin{}, nil
	}
	if err != nil {
		return nil, err
	}
	pins := map[string]pin{}
	if err := json.Unmarshal(data, &pins); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, pinsFile), err)
	}
	for name, p := range pins {
		if checkName(name) != nil || p.File != name {
			return nil, fmt.Errorf("%s: bad entry %q (file %q)", filepath.Join(dir, pinsFile), name, p.File)
		}
		if _, err := hex.DecodeString(p.SHA256); err != nil || len(p.SHA256) != 2*sha256.Size {
			return nil, fmt.Errorf("%s: %s: bad sha256 %q", filepath.Join(dir, pinsFile), name, p.SHA256)
		}
	}
	return pins, nil
}

// savePins writes dir/pins.json atomically.
func savePins(dir string, pins map[string]pin) error {
	data, err := json.MarshalIndent(pins, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, pinsFile), 0o600, func(w io.Writer) error {
		_, err := w.Write(append(data, '\n'))
		return err
	})
}

// installFile copies the executable src to dst (mode 0755) atomically and
// returns the hex SHA-256 of what it wrote.
func installFile(src, dst string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%w: %s is not a regular file", ErrInvalid, src)
	}
	h := sha256.New()
	err = writeAtomic(dst, 0o755, func(w io.Writer) error {
		_, err := io.Copy(io.MultiWriter(w, h), in)
		return err
	})
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeAtomic writes path through a temporary file in the same directory,
// synced and renamed over path, so a reader sees the old or the new file,
// never a part.
func writeAtomic(path string, mode os.FileMode, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer os.Remove(name) // after a successful rename this is a no-op
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(name, path)
}
