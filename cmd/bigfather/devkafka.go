package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"github.com/bigfather/bigfather/internal/devkafka"
)

// cmdDevKafka runs internal/devkafka (kfake and srfake, in memory, on the
// loopback interface) and nothing else, until SIGINT or SIGTERM. It gives
// other tools a Kafka and a schema registry to talk to, and `bench --kafka
// spawn` a broker in its own process, so that the ingester's CPU,
// allocations and RSS are measured without the broker's.
//
// Once both listen it prints one line on stdout, and nothing else there:
//
//	kafka=127.0.0.1:9092 registry=http://127.0.0.1:8081
//
// With port 0 the line is how a parent learns the ports picked.
func cmdDevKafka(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("dev-kafka", stdout)
	kafkaAddr := fs.String("kafka-addr", devkafka.DefaultKafkaAddr, "broker listen `ADDR` on 127.0.0.1 (port 0 picks a free port)")
	regAddr := fs.String("registry-addr", devkafka.DefaultRegistryAddr, "schema registry listen `ADDR` on 127.0.0.1 (port 0 picks a free port)")
	var topicFlags multiFlag
	fs.Var(&topicFlags, "topic", "create topic `NAME[:PARTITIONS]` (default 1 partition); repeatable")
	logLevel := fs.String("log-level", "warn", "`LEVEL` of the broker's and registry's logs on stderr: debug, info, warn, error")
	if _, err := fs.parse(args); err != nil {
		return err
	}
	topics, err := parseTopics(topicFlags)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("%w: --log-level: %v", errUsage, err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	cluster, err := devkafka.Start(ctx, devkafka.Options{
		KafkaAddr: *kafkaAddr, RegistryAddr: *regAddr, Topics: topics, Logger: log,
	})
	if errors.Is(err, devkafka.ErrNotLoopback) {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if err != nil {
		return fmt.Errorf("start kafka and registry: %w", err)
	}
	// The one line a parent waits for; everything else goes to stderr.
	if _, err := fmt.Fprintf(stdout, "kafka=%s registry=%s\n", strings.Join(cluster.Brokers(), ","), cluster.RegistryURL()); err != nil {
		cluster.Close()
		return fmt.Errorf("announce addresses: %w", err)
	}
	<-ctx.Done()
	log.Info("dev-kafka stopping", "cause", context.Cause(ctx))
	return cluster.Close()
}

// parseTopics parses --topic NAME[:PARTITIONS] values.
func parseTopics(vals []string) (map[string]int32, error) {
	topics := make(map[string]int32, len(vals))
	for _, v := range vals {
		name, parts, hasParts := strings.Cut(v, ":")
		n := int64(1)
		if hasParts {
			var err error
			if n, err = strconv.ParseInt(parts, 10, 32); err != nil || n < 1 {
				return nil, fmt.Errorf("--topic %q: partitions must be a whole number of at least 1", v)
			}
		}
		if name == "" {
			return nil, fmt.Errorf("--topic %q: no topic name", v)
		}
		if _, dup := topics[name]; dup {
			return nil, fmt.Errorf("--topic %q: topic %s given twice", v, name)
		}
		topics[name] = int32(n)
	}
	return topics, nil
}
