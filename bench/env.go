package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/apache/iceberg-go/catalog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/bigfather/bigfather/internal/devkafka"
	"github.com/bigfather/bigfather/objstore"
	"github.com/bigfather/bigfather/table"
)

// kafkaEnv is the broker and registry a run uses.
type kafkaEnv struct {
	brokers     []string
	registryURL string
	// adm creates the topics of later phases (createTopic). On an external
	// cluster every topic it created is deleted by close.
	adm      *kadm.Client
	external bool
	created  []string
	closers  []func() // run in reverse by close
}

func startKafka(ctx context.Context, cfg *Config, topic string) (*kafkaEnv, error) {
	env := &kafkaEnv{}
	if cfg.Kafka == KafkaInProcess {
		c, err := devkafka.Start(ctx, devkafka.Options{
			KafkaAddr: "127.0.0.1:0", RegistryAddr: "127.0.0.1:0",
			Topics: map[string]int32{topic: cfg.Partitions}, Logger: cfg.Logger,
		})
		if err != nil {
			return nil, fmt.Errorf("start in-process kafka: %w", err)
		}
		env.brokers, env.registryURL = c.Brokers(), c.RegistryURL()
		env.closers = append(env.closers, func() { c.Close() })
		if cfg.Registry != "" {
			env.registryURL = cfg.Registry
		}
	} else {
		env.external = true
		for b := range strings.SplitSeq(cfg.Kafka, ",") {
			if b = strings.TrimSpace(b); b != "" {
				env.brokers = append(env.brokers, b)
			}
		}
		if len(env.brokers) == 0 {
			return nil, fmt.Errorf("%w: kafka %q names no broker", ErrConfig, cfg.Kafka)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(env.brokers...))
	if err != nil {
		env.close(ctx, cfg)
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	env.adm = kadm.NewClient(cl)
	env.closers = append(env.closers, cl.Close)
	if !env.external {
		return env, nil
	}
	if err := env.createTopic(ctx, topic, cfg.Partitions); err != nil {
		env.close(ctx, cfg)
		return nil, err
	}
	env.registryURL = cfg.Registry
	if env.registryURL == "" {
		reg := srfake.New()
		env.registryURL = reg.URL()
		env.closers = append(env.closers, reg.Close)
	}
	return env, nil
}

// createTopic creates a topic for a later phase of the run.
func (k *kafkaEnv) createTopic(ctx context.Context, topic string, partitions int32) error {
	if _, err := k.adm.CreateTopic(ctx, partitions, -1, nil, topic); err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	k.created = append(k.created, topic)
	return nil
}

// close deletes the topics created on an external cluster, then closes the
// clients and the in-process broker and registry.
func (k *kafkaEnv) close(ctx context.Context, cfg *Config) {
	if k.external && len(k.created) > 0 {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		resp, err := k.adm.DeleteTopics(dctx, k.created...)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			cfg.Logger.Warn("delete bench topics", "topic", strings.Join(k.created, ","), "err", err)
		}
		cancel()
	}
	for i := len(k.closers) - 1; i >= 0; i-- {
		k.closers[i]()
	}
}

// warehouse is the object store and SQLite catalog of a run.
type warehouse struct {
	url    string
	bucket objstore.Bucket
	cat    catalog.Catalog
	close  func()
}

func openWarehouse(ctx context.Context, cfg *Config) (*warehouse, error) {
	var cleanup []func()
	closeAll := func() {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
	}
	tempDir := func() (string, error) {
		dir, err := os.MkdirTemp("", "bigfather-bench-*")
		if err != nil {
			return "", err
		}
		cleanup = append(cleanup, func() { os.RemoveAll(dir) })
		return dir, nil
	}
	wh := &warehouse{close: closeAll}
	dsn := cfg.CatalogDSN
	switch w := cfg.Warehouse; {
	case w == "":
		dir, err := tempDir()
		if err != nil {
			return nil, err
		}
		wh.url = "file://" + dir
		if dsn == "" {
			dsn = filepath.Join(dir, "catalog.db")
		}
	case strings.HasPrefix(w, "s3://"):
		wh.url = strings.TrimRight(w, "/")
		if dsn == "" {
			dir, err := tempDir()
			if err != nil {
				return nil, err
			}
			dsn = filepath.Join(dir, "catalog.db")
		}
	default:
		abs, err := filepath.Abs(strings.TrimPrefix(w, "file://"))
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return nil, err
		}
		wh.url = "file://" + abs
		if dsn == "" {
			dsn = filepath.Join(abs, "catalog.db")
		}
	}
	var err error
	if wh.bucket, err = objstore.Open(ctx, wh.url, cfg.S3); err != nil {
		closeAll()
		return nil, fmt.Errorf("warehouse: %w", err)
	}
	wh.cat, err = table.OpenCatalog(ctx, table.CatalogOptions{
		Type: table.CatalogSQL, SQLDriver: table.SQLDriverSQLite, SQLDSN: dsn, Warehouse: wh.url, S3: cfg.S3,
	})
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("catalog: %w", err)
	}
	if c, ok := wh.cat.(io.Closer); ok {
		cleanup = append(cleanup, func() { c.Close() })
	}
	return wh, nil
}
