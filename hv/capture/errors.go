package capture

import (
	"errors"
	"fmt"
)

// What went wrong, for errors.Is on an [*Error].
var (
	ErrNotCapture   = errors.New("not a hindsight capture")
	ErrVersion      = errors.New("unsupported capture format version")
	ErrCRC          = errors.New("capture CRC mismatch")
	ErrTruncated    = errors.New("capture truncated")
	ErrMalformed    = errors.New("malformed capture")
	ErrBadRecord    = errors.New("malformed log record in capture")
	ErrTrailing     = errors.New("bytes after the end of the capture")
	ErrIncompatible = errors.New("capture made for another machine")
	ErrUsage        = errors.New("capture writer misused")
)

// Error is every refusal of this package: what (Kind, one of the Err
// values), where (the section and the byte offset from the start of the
// capture) and the details.
type Error struct {
	Kind    error
	Section string // "header", "STATE", "MEMORY", "LOG", "END", or ""
	Offset  int64  // from the capture's first byte; -1 if it does not apply
	Index   int    // ErrBadRecord: the record's index in the LOG section
	Msg     string
}

func newError(kind error, section string, off int64, format string, args ...any) *Error {
	return &Error{Kind: kind, Section: section, Offset: off, Msg: fmt.Sprintf(format, args...)}
}

// Error returns "capture: " and the problem, e.g.
//
//	capture: MEMORY section at offset 1312: chunk 2 CRC mismatch (stored 0x1b2c3d4e, computed 0x9a8b7c6d)
//	capture: truncated in the LOG section at offset 9000: chunk 3: expected 65536 bytes, got 12
func (e *Error) Error() string {
	switch {
	case e.Kind == ErrTruncated:
		return fmt.Sprintf("capture: truncated in the %s at offset %d: %s", e.where(), e.Offset, e.Msg)
	case e.Section == "" && e.Offset < 0:
		return "capture: " + e.Msg
	case e.Section == "":
		return fmt.Sprintf("capture: at offset %d: %s", e.Offset, e.Msg)
	}
	return fmt.Sprintf("capture: %s at offset %d: %s", e.where(), e.Offset, e.Msg)
}

func (e *Error) where() string {
	if e.Section == "header" {
		return "header"
	}
	return e.Section + " section"
}

// Unwrap returns Kind.
func (e *Error) Unwrap() error { return e.Kind }
