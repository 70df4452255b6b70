package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/tributary-dev/tributary/config"
	"github.com/tributary-dev/tributary/lake/compactor"
	"github.com/tributary-dev/tributary/lake/iceberg"
	"github.com/tributary-dev/tributary/lake/notify"
	"github.com/tributary-dev/tributary/metrics"
)

// cmdCompactor runs `tributary compactor -c lake.yaml`: one compactor
// worker, which joins the others of its consumer group and writes the
// change topics into the lake until SIGTERM (drain: commit what it holds)
// or a second signal (exit at once).
func cmdCompactor(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("compactor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", "", "lake config file (YAML)")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if *path == "" {
		fmt.Fprintln(stderr, "tributary compactor: -c FILE is required")
		fs.Usage()
		return exitConfig
	}
	ctx, stop := signalContext(slog.New(slog.NewTextHandler(stderr, nil)))
	defer stop()
	cfg, err := config.LoadLake(*path)
	if err != nil {
		fmt.Fprintf(stderr, "tributary compactor: %v\n", err)
		return exitConfig
	}
	log := newLogger(cfg.Log, stderr)
	reg := newRegistry(cfg.Metrics)
	ccfg, closeLake, err := compactorConfig(cfg, log, reg)
	if err != nil {
		fmt.Fprintf(stderr, "tributary compactor: %s: %v\n", *path, err)
		return exitConfig
	}
	p := &process{log: log, compactor: compactor.New(ccfg), closers: []func(){closeLake}}
	defer p.close()
	if err := serveAdmin(ctx, cfg.Metrics, p, reg, log); err != nil {
		fmt.Fprintf(stderr, "tributary compactor: %s: %v\n", *path, err)
		return exitConfig
	}
	log.Info("compactor starting", "group", cfg.Kafka.Group, "sources", len(cfg.Sources), "version", Version)
	err = p.run(ctx)
	if err != nil {
		log.Error("compactor stopped", "err", err)
		fmt.Fprintf(stderr, "tributary compactor: %v\n", err)
	}
	return exitCode(err, func(error) bool { return false })
}

// compactorConfig builds the compactor, its lake and its commit
// notifiers from the lake config; release closes the notifiers (draining
// a webhook's queue for a few seconds) and the lake, once the compactor
// has returned.
func compactorConfig(cfg *config.Lake, log *slog.Logger, reg *metrics.Registry) (cc compactor.Config, release func(), err error) {
	if cfg.Kafka.UsesEmbeddedBroker() {
		return cc, nil, fmt.Errorf("kafka.brokers is empty; the compactor needs a Kafka cluster (set kafka.brokers: [\"host:9092\"]), or use tributary run for the embedded broker")
	}
	kopts, err := kafkaOpts(config.Kafka{TLS: cfg.Kafka.TLS, SASL: cfg.Kafka.SASL})
	if err != nil {
		return cc, nil, err
	}
	lk := newLake(cfg, log)
	cc = compactor.Config{
		Brokers: cfg.Kafka.Brokers, ClientOpts: kopts, Group: cfg.Kafka.Group, SessionTimeout: cfg.Kafka.SessionTimeout.Std(),
		FetchAhead: int64(cfg.Kafka.FetchAhead),
		Interval:   cfg.Commit.Interval.Std(), MaxRows: cfg.Commit.MaxRows, MaintainEvery: cfg.Maintenance.Interval.Std(),
		Lake: lk, Metrics: reg.Compactor(cfg.Kafka.Group), Logger: log,
	}
	for _, s := range cfg.Sources {
		sc := compactor.SourceConfig{TopicPrefix: s.TopicPrefix, Namespace: s.Namespace, Properties: s.Properties, Tables: map[string]compactor.TableOptions{}}
		for name, t := range s.Tables {
			sc.Tables[name] = compactor.TableOptions{PartitionColumn: t.PartitionBy, Granularity: string(t.Granularity), CopyOnWrite: t.WriteMode == config.WriteCopyOnWrite}
		}
		cc.Sources = append(cc.Sources, sc)
	}
	var fan notify.Fanout
	var closers []func()
	if t := cfg.Notify.KafkaTopic; t != "" {
		kn := notify.NewKafka(notify.KafkaConfig{Brokers: cfg.Kafka.Brokers, ClientOpts: kopts, Topic: t, Logger: log})
		fan, closers = append(fan, kn), append(closers, kn.Close)
	}
	if w := cfg.Notify.Webhook; w != nil {
		wh := notify.NewWebhook(notify.WebhookConfig{URL: w.URL, Secret: []byte(w.Secret.Reveal()),
			BearerToken: w.BearerToken.Reveal(), Timeout: w.Timeout.Std(), Retries: w.Retries,
			QueueSize: w.QueueSize, Logger: log})
		fan, closers = append(fan, wh), append(closers, wh.Close)
	}
	if len(fan) > 0 {
		cc.Notifier = fan
	}
	release = func() {
		for _, c := range closers {
			c()
		}
		lk.Close()
	}
	return cc, release, nil
}

// newLake returns the iceberg lake of a lake config.
func newLake(cfg *config.Lake, log *slog.Logger) *iceberg.Lake {
	icfg := iceberg.Config{
		Warehouse: cfg.Warehouse.Path, CatalogURI: cfg.Catalog.URI.Reveal(), Logger: log,
		Maintain: iceberg.MaintainConfig{SnapshotAge: cfg.Maintenance.SnapshotAge.Std(), OrphanAge: cfg.Maintenance.OrphanAge.Std()},
	}
	if s := cfg.Warehouse.S3; s != nil {
		icfg.Warehouse = "s3://" + s.Bucket + "/" + strings.Trim(s.Prefix, "/")
		icfg.S3 = iceberg.S3Config{
			Region: s.Region, Endpoint: s.Endpoint, PathStyle: s.PathStyle,
			AccessKeyID: s.AccessKeyID.Reveal(), SecretAccessKey: s.SecretAccessKey.Reveal(),
			CAFile: s.CAFile,
		}
	}
	switch c := cfg.Catalog; c.Kind {
	case config.CatalogGlue:
		icfg.CatalogURI = ""
		icfg.Glue = &iceberg.GlueConfig{Region: c.Glue.Region, CatalogID: c.Glue.CatalogID, Endpoint: c.Glue.Endpoint}
	case config.CatalogREST:
		icfg.CatalogURI = ""
		r := c.REST
		icfg.REST = &iceberg.RESTConfig{
			URI: c.URI.Reveal(), Warehouse: r.Warehouse, Prefix: r.Prefix,
			Token: r.Token.Reveal(), ClientID: r.ClientID, ClientSecret: r.ClientSecret.Reveal(),
			OAuthURI: r.OAuthURI, Scope: r.Scope, CAFile: r.CAFile,
			SigV4: r.SigV4, SigningRegion: r.SigningRegion, SigningName: r.SigningName,
		}
	}
	return iceberg.New(icfg)
}
