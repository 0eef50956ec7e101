// Package atomicfile writes files that other processes read, so that a
// reader sees either the old content or the whole new content, never half a
// file: the data goes to a temporary file in the same directory, is synced,
// and is renamed over the target.
//
// Each call costs few filesystem operations, because every task of a large
// job writes through it on a shared filesystem, where each is a round trip:
// parents are created only when missing, the mode is given at creation, and
// the rename does not stat its target first (os.Rename does).
package atomicfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// Write creates or replaces path with what fill writes, with mode perm less
// the umask (as os.WriteFile). Missing parent directories are created. On
// any error the target is left untouched.
func Write(path string, perm os.FileMode, fill func(w io.Writer) error) (err error) {
	tmp, err := createTemp(path, perm)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			_ = syscall.Unlink(tmp.Name())
		}
	}()
	if err := fill(tmp); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	if err := syscall.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename into %s: %w", path, err)
	}
	return nil
}

// WriteFile is Write for data already in memory.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := io.Copy(w, bytes.NewReader(data))
		return err
	})
}

// Touch creates path empty if it does not exist, and its missing parents:
// a marker whose existence is all it says needs no temporary file.
func Touch(path string, perm os.FileMode) error {
	// Read-only: a marker left read-only is still there to be found.
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, perm)
	if errors.Is(err, os.ErrNotExist) {
		if err = os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("create directory for %s: %w", path, err)
		}
		f, err = os.OpenFile(path, os.O_RDONLY|os.O_CREATE, perm)
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	return f.Close()
}

// createTemp creates a new temporary file beside path, creating the
// directory when it is missing.
func createTemp(path string, perm os.FileMode) (*os.File, error) {
	dir, base := filepath.Split(path)
	for tries := 0; ; tries++ {
		name := filepath.Join(dir, "."+base+".tmp-"+strconv.FormatUint(rand.Uint64(), 36))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		switch {
		case err == nil:
			return f, nil
		case errors.Is(err, os.ErrNotExist) && tries == 0:
			if err := os.MkdirAll(filepath.Clean(dir), 0o755); err != nil {
				return nil, fmt.Errorf("create directory for %s: %w", path, err)
			}
		case errors.Is(err, os.ErrExist) && tries < 100:
		default:
			return nil, fmt.Errorf("create temporary file for %s: %w", path, err)
		}
	}
}
