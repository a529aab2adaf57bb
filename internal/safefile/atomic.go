package safefile

import (
	"io"
	"os"
	"path/filepath"
)

// Atomic writes a file through a temporary file in the same folder that is renamed into place,
// so that a failed or interrupted write never leaves half a file under the final name. A nil
// field takes the default: Create makes ".<name>.tmp<random>" beside path, Commit renames it to
// path, Discard removes it. A command that removes its temporary files on a signal supplies its
// own, which track them.
type Atomic struct {
	Create  func(path string) (*os.File, error) // the temporary file for path
	Commit  func(tmp, path string) error        // rename the written tmp to path
	Discard func(tmp string)                    // remove tmp after a failure
}

// WriteAtomic writes path with the default Atomic.
func WriteAtomic(path string, write func(io.Writer) error) error {
	return Atomic{}.Write(path, write)
}

// Write streams the content from write into a temporary file and renames it to path. The file
// gets mode 0644, readable like any output, not CreateTemp's 0600.
func (a Atomic) Write(path string, write func(io.Writer) error) (err error) {
	create, commit, discard := a.Create, a.Commit, a.Discard
	if create == nil {
		create = func(path string) (*os.File, error) {
			return os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
		}
	}
	if commit == nil {
		commit = os.Rename
	}
	if discard == nil {
		discard = func(tmp string) { os.Remove(tmp) }
	}
	f, err := create(path)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			discard(f.Name())
		}
	}()
	if err = write(f); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	return commit(f.Name(), path)
}
