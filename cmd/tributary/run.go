package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"

	"github.com/tributary-dev/tributary/config"
	"github.com/tributary-dev/tributary/connectors/kafka"
	"github.com/tributary-dev/tributary/lake/compactor"
	"github.com/tributary-dev/tributary/metrics"
)

// cmdRun runs `tributary run -c lake.yaml -s source.yaml...`: every reader
// and a compactor in one process, for one machine. With kafka.brokers
// empty in the lake config it starts the embedded broker, which keeps its
// log in kafka.embedded.dir so that a restart loses nothing.
func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "", "lake config file (YAML)")
	var sources listFlag
	fs.Var(&sources, "s", "source config `file` (YAML); repeat for each source")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if *path == "" || len(sources) == 0 {
		fmt.Fprintln(stderr, "tributary run: -c LAKE.yaml and at least one -s SOURCE.yaml are required")
		fs.Usage()
		return exitConfig
	}
	ctx, stop := signalContext(slog.New(slog.NewTextHandler(stderr, nil)))
	defer stop()
	lakeCfg, err := config.LoadLake(*path)
	if err != nil {
		fmt.Fprintf(stderr, "tributary run: %v\n", err)
		return exitConfig
	}
	var srcCfgs []*config.Source
	for _, s := range sources {
		cfg, err := config.LoadSource(s)
		if err != nil {
			fmt.Fprintf(stderr, "tributary run: %v\n", err)
			return exitConfig
		}
		srcCfgs = append(srcCfgs, cfg)
	}
	log := newLogger(lakeCfg.Log, stderr)
	reg := newRegistry(lakeCfg.Metrics)
	p, err := newRunProcess(lakeCfg, srcCfgs, log, reg)
	if err != nil {
		fmt.Fprintf(stderr, "tributary run: %v\n", err)
		return exitConfig
	}
	defer p.close()
	log.Info("run starting", "sources", len(srcCfgs), "brokers", lakeCfg.Kafka.Brokers, "version", Version)
	if err := serveAdmin(ctx, lakeCfg.Metrics, p, reg, log); err != nil {
		fmt.Fprintf(stderr, "tributary run: %v\n", err)
		return exitConfig
	}
	err = p.run(ctx)
	if err != nil {
		log.Error("run stopped", "err", err)
		fmt.Fprintf(stderr, "tributary run: %v\n", err)
	}
	return exitCode(err, isSourceFatal)
}

// newRunProcess wires the readers and the compactor of `tributary run`
// (and of the demo). It starts the embedded broker when the lake config
// names no brokers; everything else waits for run.
func newRunProcess(lakeCfg *config.Lake, srcCfgs []*config.Source, log *slog.Logger, reg *metrics.Registry) (*process, error) {
	p := &process{log: log}
	brokers := lakeCfg.Kafka.Brokers
	if lakeCfg.Kafka.UsesEmbeddedBroker() {
		e := lakeCfg.Kafka.Embedded
		if e.Dir == "" {
			return nil, fmt.Errorf("kafka.embedded.dir is required when kafka.brokers is empty and the warehouse is on S3: set it to a local folder for the embedded broker's log, or set kafka.brokers")
		}
		for _, s := range srcCfgs {
			if !s.Kafka.UsesEmbeddedBroker() {
				return nil, fmt.Errorf("source %s sets kafka.brokers %v but the lake config has none (the embedded broker): set the same brokers in both, or none", s.Name, s.Kafka.Brokers)
			}
		}
		b, err := kafka.StartEmbedded(kafka.EmbeddedConfig{Dir: e.Dir, Addr: e.Listen, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("%w (kafka.embedded.listen %s: is another broker or tributary run using it?)", err, e.Listen)
		}
		p.broker = b
		p.closers = append(p.closers, b.Close)
		brokers = []string{b.Addr()}
		log.Info("embedded kafka started", "addr", b.Addr(), "dir", e.Dir)
	}
	for _, s := range srcCfgs {
		if !s.Kafka.UsesEmbeddedBroker() && !slices.Equal(s.Kafka.Brokers, brokers) {
			p.close()
			return nil, fmt.Errorf("source %s publishes to kafka.brokers %v but the lake reads %v: give both the same brokers", s.Name, s.Kafka.Brokers, brokers)
		}
		addLakeSource(lakeCfg, s)
		slg := log.With("source", s.Name)
		src, err := newSource(s, slg, nil, false, reg)
		if err != nil {
			p.close()
			return nil, fmt.Errorf("source %s: %w", s.Name, err)
		}
		sink, err := newSink(s, brokers, slg, reg)
		if err != nil {
			p.close()
			return nil, fmt.Errorf("source %s: %w", s.Name, err)
		}
		p.readers = append(p.readers, newReaderUnit(s, src, sink, slg))
	}
	lc := *lakeCfg
	lc.Kafka.Brokers = brokers
	ccfg, release, err := compactorConfig(&lc, log, reg)
	if err != nil {
		p.close()
		return nil, err
	}
	p.closers = append(p.closers, release)
	p.compactor = compactor.New(ccfg)
	return p, nil
}

// addLakeSource adds a source's topics to the lake config with the
// defaults, unless the lake config lists them already.
func addLakeSource(l *config.Lake, s *config.Source) {
	for _, ls := range l.Sources {
		if ls.TopicPrefix == s.Kafka.TopicPrefix {
			return
		}
	}
	l.Sources = append(l.Sources, config.LakeSource{TopicPrefix: s.Kafka.TopicPrefix, Namespace: "{db}"})
}
