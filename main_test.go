package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/go-kit/log"
)

// promhttp logs with Println("error encoding and sending metric family:", err):
// the message keeps the space between them.
func TestStdLoggerSeparatesItsOperands(t *testing.T) {
	var buf bytes.Buffer
	stdLogger{log.NewLogfmtLogger(&buf)}.Println("error encoding and sending metric family:", errors.New("write tcp: broken pipe"))
	if !strings.Contains(buf.String(), `msg="error encoding and sending metric family: write tcp: broken pipe"`) {
		t.Errorf("logged %q", buf.String())
	}
}
