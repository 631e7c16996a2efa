package action

import "sort"

// registry holds the Linux modules by action name. Each module family's
// file adds its modules in init, so the set is whatever the package
// compiles with.
var registry = map[string]Module{}

// register adds m under its name; a duplicate name is a programming error.
func register(m Module) {
	if _, dup := registry[m.Name()]; dup {
		panic("action: module registered twice: " + m.Name())
	}
	registry[m.Name()] = m
}

// Lookup returns the Linux action module whose name is exactly name
// (action names are case-sensitive in documents).
func Lookup(name string) (Module, bool) {
	m, ok := registry[name]
	return m, ok
}

// windowsOnly lists AWSTOE's action modules that exist only on Windows, so
// the engine can tell "not supported on Linux" apart from "no such action".
var windowsOnly = map[string]bool{
	"ExecutePowerShell": true,
	"SetRegistry":       true,
	"InstallMSI":        true,
	"UninstallMSI":      true,
	"InstallMSIX":       true,
	"UninstallMSIX":     true,
}

// WindowsOnly reports whether name is an AWSTOE action that exists only on
// Windows hosts.
func WindowsOnly(name string) bool { return windowsOnly[name] }

// Names returns the Linux action names in sorted order.
func Names() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
