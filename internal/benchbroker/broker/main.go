// Command broker is the benchmarks' Kafka broker (kfake), in a process of
// its own (see package benchbroker). It prints "brokers <addr>,..." once listening, then
// answers each line "cpu" on stdin with "cpu <ns>", its CPU time so far,
// and exits when stdin closes.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	segment := flag.String("segment-bytes", "", "log.segment.bytes of the broker (empty: kfake's default)")
	flag.Parse()
	opts := []kfake.Opt{kfake.NumBrokers(1)}
	if *segment != "" {
		opts = append(opts, kfake.BrokerConfigs(map[string]string{"log.segment.bytes": *segment}))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchbroker:", err)
		os.Exit(1)
	}
	defer c.Close()
	fmt.Printf("brokers %s\n", strings.Join(c.ListenAddrs(), ","))
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() == "cpu" {
			var ru syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
			fmt.Printf("cpu %d\n", ru.Utime.Nano()+ru.Stime.Nano())
		}
	}
}
