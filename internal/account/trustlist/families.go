package trustlist

import "github.com/scp-exporter/scp_exporter/internal/metric"

// Families are the families of one expected-list file's watcher. A file
// not read yet has none. They carry no account label: a file the top
// level names applies to every account, and is shown once.
var Families = []metric.Family[*Status]{
	{
		Name: "scp_expected_list_file_entries", Labels: []string{"file"},
		Help: "Account IDs in the expected-list file's list in use (the last good read).",
		Series: func(st *Status, s metric.Sink) {
			if st.read() {
				s.Value(float64(len(st.IDs)), st.Path)
			}
		},
	},
	{
		Name: "scp_expected_list_file_last_read_successful", Labels: []string{"file"},
		Help: "1 when the expected-list file was found good at its last check, 0 when it is missing, unreadable, malformed, or changed since the check before with no newline ending its last line (perhaps half written), and its last good list stays in use.",
		Series: func(st *Status, s metric.Sink) {
			if st.read() {
				s.Value(metric.Bool(st.Err == nil), st.Path)
			}
		},
	},
	{
		Name: "scp_expected_list_file_last_success_timestamp_seconds", Labels: []string{"file"},
		Help: "When the expected-list file was last found good (read at a check and used), in Unix seconds; 0 if never since start.",
		Series: func(st *Status, s metric.Sink) {
			if st.read() {
				s.Value(metric.Timestamp(st.LastSuccess), st.Path)
			}
		},
	},
}

// read reports whether the file has been read at all, well or not.
func (st *Status) read() bool { return st.Generation > 0 || st.Err != nil }
