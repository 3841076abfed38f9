package structs

import "time"

// AllocFileInfo describes a file in an allocation directory, as the
// /v1/client/fs/ls and /stat endpoints return it (Nomad's shape). FileMode
// is Go's rendering of the mode ("-rw-r--r--", "drwxr-xr-x", "Lrwxrwxrwx"
// for a link, which is never followed). ContentType is sniffed from the
// first 512 bytes of a readable regular file by stat only.
type AllocFileInfo struct {
	Name        string
	IsDir       bool
	Size        int64
	FileMode    string
	ModTime     time.Time
	ContentType string `json:",omitempty"`
}
