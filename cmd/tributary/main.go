// Command tributary captures MySQL/MariaDB and PostgreSQL changes into
// Kafka and from there into Iceberg tables.
//
// Usage:
//
//	tributary reader -c sources/orders.yaml   read one source database into Kafka
//	tributary compactor -c lake.yaml          change topics into Iceberg tables
//	tributary run -c lake.yaml -s src.yaml    readers and a compactor in one process
//	tributary check -c FILE                   config and prerequisites, with fixes
//	tributary status -c lake.yaml -s src.yaml lag, progress and freshness per table
//	tributary admin -a ADDR pause SOURCE      pause, resume, re-snapshot a running process
//	tributary demo                            the whole pipeline on embedded defaults
//	tributary version
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/tributary-dev/tributary/connectors/redact"
	"github.com/tributary-dev/tributary/internal/gctune"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "dev"

// Exit codes, for scripts.
const (
	exitOK     = 0
	exitError  = 1 // the run failed (a source or Kafka error)
	exitConfig = 2 // bad usage or an invalid config file
	exitSource = 3 // a source prerequisite is not met, or its position is gone
)

const usage = `tributary: change data capture from MySQL/MariaDB and PostgreSQL into Kafka and Iceberg.

Usage:
  tributary reader -c FILE [flags]   read one source database into Kafka
  tributary compactor -c FILE        write the change topics into Iceberg tables
  tributary run -c LAKE -s SRC...    readers and a compactor in one process (embedded Kafka
                                     when the lake config names no brokers)
  tributary check -c FILE...         validate configs and every source/Kafka/lake prerequisite
  tributary status -c LAKE -s SRC... per source and table: state, lag, freshness, files
  tributary admin -a ADDR CMD        status, pause/resume a source, re-snapshot a table
  tributary demo [flags]             MariaDB + PostgreSQL -> Kafka -> Iceberg on embedded
                                     defaults, then source vs lake, table by table
  tributary version                  print the version

Run "tributary COMMAND -h" for a command's flags.
`

func main() {
	gctune.Apply()
	// TRIBUTARY_CPUPROFILE=file writes a CPU profile of the whole run, for
	// the benchmarks.
	if path := os.Getenv("TRIBUTARY_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			if err := pprof.StartCPUProfile(f); err == nil {
				code := run(os.Args[1:], os.Stdout, os.Stderr)
				pprof.StopCPUProfile()
				f.Close()
				os.Exit(code)
			}
		}
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitConfig
	}
	switch args[0] {
	case "reader":
		return cmdReader(args[1:], stdout, stderr)
	case "compactor":
		return cmdCompactor(args[1:], stdout, stderr)
	case "run":
		return cmdRun(args[1:], stdout, stderr)
	case "status":
		return cmdStatus(args[1:], stdout, stderr)
	case "check":
		return cmdCheck(args[1:], stdout, stderr)
	case "admin":
		return cmdAdmin(args[1:], stdout, stderr)
	case "demo":
		return cmdDemo(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "tributary", Version)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "tributary: unknown command %q\n\n%s", args[0], usage)
	return exitConfig
}

// signalContext returns a context cancelled by the first SIGINT/SIGTERM
// (drain and stop); a second signal exits at once.
func signalContext(log *slog.Logger) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-ch
		log.Info("signal received: stopping; send it again to exit at once", "signal", s.String())
		cancel()
		<-ch
		log.Warn("second signal: exiting now")
		os.Exit(exitError)
	}()
	return ctx, func() { signal.Stop(ch); cancel() }
}

// exitCode maps an error to the process exit code.
func exitCode(err error, sourceFatal func(error) bool) int {
	switch {
	case err == nil, errors.Is(err, context.Canceled):
		return exitOK
	case errors.Is(err, redact.ErrConfig):
		return exitConfig
	case sourceFatal(err):
		return exitSource
	}
	return exitError
}
