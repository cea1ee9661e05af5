package trustlist

import "os"

// RefuseOpen makes opening path fail with err until the returned func is
// called, as a file this process may not read does.
func RefuseOpen(path string, err error) (restore func()) {
	openFile = func(name string) (*os.File, error) {
		if name == path {
			return nil, &os.PathError{Op: "open", Path: name, Err: err}
		}
		return os.Open(name)
	}
	return func() { openFile = os.Open }
}
