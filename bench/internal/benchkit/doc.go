// Package benchkit is what kiln's benchmark programs (bench/apibench,
// bench/buildbench, bench/schedbench, bench/machinebench) share: the facts
// about the machine a report must state, the statistics and number
// formats its tables use, starting kiln as a child process and talking to
// it, waiting for an image build and breaking it into kiln's own step
// times (with the tables that show them), and finding what is mounted
// under a work directory before removing it. Each program keeps its own
// workload, report layout and targets.
package benchkit
