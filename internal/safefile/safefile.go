// Package safefile opens the files a user names (images, .npy arrays, label lists) so that a
// careless or hostile name cannot hang or exhaust the program: only regular files are read (a FIFO
// or a device such as /dev/zero is refused before it is opened for reading, and opening never
// blocks), and a file's size is checked from its metadata before any of it is read. Outputs are
// written atomically (Atomic): never half a file under the final name.
package safefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Errors for errors.Is.
var (
	ErrNotRegular = errors.New("not a regular file")
	ErrTooLarge   = errors.New("file too large")
)

// Open opens path for reading if it is a regular file (symbolic links followed). The mode is
// checked before opening, the open itself is non-blocking (a FIFO swapped in after the check
// cannot block it), and the opened file is checked again.
func Open(path string) (*os.File, fs.FileInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	if err := regular(path, st); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_RDONLY|oNonblock, 0)
	if err != nil {
		return nil, nil, err
	}
	if st, err = f.Stat(); err == nil {
		err = regular(path, st)
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, st, nil
}

// Check reports whether path is a regular file Open would accept, without opening it.
func Check(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	return regular(path, st)
}

// ReadFile reads the regular file at path if it holds at most limit bytes. The size is checked
// from the file's metadata first, and at most limit+1 bytes are read in case the file grows.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, st, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st.Size() > limit {
		return nil, tooLarge(path, st.Size(), limit)
	}
	data := make([]byte, 0, st.Size()+1)
	for {
		n, err := f.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if int64(len(data)) > limit {
			return nil, tooLarge(path, int64(len(data)), limit)
		}
		if err == io.EOF {
			return data, nil
		}
		if err != nil {
			return nil, err
		}
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
	}
}

func tooLarge(path string, size, limit int64) error {
	return fmt.Errorf("%s: %w: %d bytes, above the limit of %d", path, ErrTooLarge, size, limit)
}

func regular(path string, st fs.FileInfo) error {
	if st.Mode().IsRegular() {
		return nil
	}
	kind := "special file"
	switch t := st.Mode().Type(); {
	case t&fs.ModeDir != 0:
		kind = "folder"
	case t&fs.ModeNamedPipe != 0:
		kind = "named pipe"
	case t&fs.ModeSocket != 0:
		kind = "socket"
	case t&fs.ModeDevice != 0:
		kind = "device"
	}
	return fmt.Errorf("%s: %w (a %s)", path, ErrNotRegular, kind)
}
