//go:build !linux

package agent

import "errors"

// Main fails: the guest agent runs inside Linux guests only.
func Main(port string) error { return errors.New("agent: the guest agent runs on Linux only") }

// MainThenInit fails: the guest agent runs inside Linux guests only.
func MainThenInit(port, initPath string) error { return Main(port) }
