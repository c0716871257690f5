// Package devkafka runs an in-process Kafka broker (kfake) and a Confluent
// compatible schema registry (srfake) on the loopback interface. It backs
// `bigfather dev`, component tests and benchmarks, so that nothing outside
// this process is needed to exercise the real Kafka wire protocol and the
// real registry REST API.
package devkafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

// Default addresses used when the corresponding Options field is empty. They
// match the ports of a stock Kafka and Confluent Schema Registry so that
// tools configured for a local stack work unchanged.
const (
	DefaultKafkaAddr    = "127.0.0.1:9092"
	DefaultRegistryAddr = "127.0.0.1:8081"
)

// ErrNotLoopback is returned by Start when an address names a host other
// than the loopback interface. The dev stack has no authentication, so it
// must never be reachable from another machine.
var ErrNotLoopback = errors.New("address must be on 127.0.0.1")

// Options configures Start. The zero value starts an in-memory cluster on
// the default ports with no topics.
type Options struct {
	// KafkaAddr is the broker listen address, "127.0.0.1:PORT". Port 0
	// picks a free port. Default DefaultKafkaAddr.
	KafkaAddr string
	// RegistryAddr is the schema registry listen address,
	// "127.0.0.1:PORT". Port 0 picks a free port. Default
	// DefaultRegistryAddr.
	RegistryAddr string
	// DataDir makes the broker log, committed offsets and the registered
	// schemas survive Close and a later Start on the same directory.
	// Empty keeps everything in memory.
	DataDir string
	// Topics maps topic name to partition count. Topics missing from the
	// cluster (including a cluster reloaded from DataDir) are created.
	Topics map[string]int32
	// Logger receives broker and registry logs. Default: discard.
	Logger *slog.Logger
}

// Cluster is a running broker plus schema registry. It is safe for
// concurrent use; Close is idempotent.
type Cluster struct {
	log      *slog.Logger
	kafka    *kfake.Cluster
	registry *registryServer

	closeOnce sync.Once
	closeErr  error
}

// Start starts the broker and the registry and returns once both accept
// connections and every topic in o.Topics exists.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	kafkaPort, err := loopbackPort(o.KafkaAddr, DefaultKafkaAddr)
	if err != nil {
		return nil, fmt.Errorf("kafka address: %w", err)
	}
	regAddr, err := loopbackAddr(o.RegistryAddr, DefaultRegistryAddr)
	if err != nil {
		return nil, fmt.Errorf("registry address: %w", err)
	}

	opts := []kfake.Opt{
		// One broker: the advertised address is then exactly the one
		// the caller asked for, which is what external tools (kcat)
		// and `bigfather dev` users expect to type.
		kfake.Ports(kafkaPort),
		// kfake already listens on 127.0.0.1, but pin it here so a
		// future change of its default cannot expose the broker.
		kfake.ListenFn(listenLoopback),
		kfake.ClusterID("bigfather-dev"),
		kfake.WithLogger(kfakeLogger{log: log.With("component", "kfake")}),
	}
	if o.DataDir != "" {
		opts = append(opts, kfake.DataDir(o.DataDir))
	}
	for topic, parts := range o.Topics {
		opts = append(opts, kfake.SeedTopics(parts, topic))
	}
	kc, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("start kafka on port %d: %w", kafkaPort, err)
	}

	c := &Cluster{log: log, kafka: kc}
	// Seeded topics are ignored when kfake reloads state from DataDir,
	// so topics added to Options since the last run are created here.
	if o.DataDir != "" && len(o.Topics) > 0 {
		if err := ensureTopics(ctx, c.Brokers(), o.Topics); err != nil {
			kc.Close()
			return nil, err
		}
	}

	rs, err := startRegistry(regAddr, o.DataDir, log.With("component", "srfake"))
	if err != nil {
		kc.Close()
		return nil, err
	}
	c.registry = rs
	log.Info("dev kafka started", "brokers", c.Brokers(), "registry", c.RegistryURL(), "data_dir", o.DataDir)
	return c, nil
}

// Brokers returns the seed broker addresses, "127.0.0.1:PORT".
func (c *Cluster) Brokers() []string { return c.kafka.ListenAddrs() }

// RegistryURL returns the schema registry base URL, "http://127.0.0.1:PORT".
func (c *Cluster) RegistryURL() string { return c.registry.url() }

// Kafka returns the underlying fake cluster, for fault injection in tests
// (ControlKey, SleepControl, MoveTopicPartition, ...).
func (c *Cluster) Kafka() *kfake.Cluster { return c.kafka }

// Registry returns the underlying fake registry, for seeding schemas and
// installing interceptors that simulate outages.
func (c *Cluster) Registry() *srfake.Registry { return c.registry.reg }

// Close stops the registry and the broker. With a DataDir it persists the
// registered schemas and the broker state first. Calling Close again
// returns the first call's result.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = c.registry.close()
		// kfake.Close flushes its log to DataDir and reports no error.
		c.kafka.Close()
		c.log.Info("dev kafka stopped")
	})
	return c.closeErr
}

// ensureTopics creates every topic of want that the cluster lacks.
func ensureTopics(ctx context.Context, brokers []string, want map[string]int32) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return fmt.Errorf("admin client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for topic, parts := range want {
		_, err := adm.CreateTopic(ctx, parts, -1, nil, topic)
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", topic, err)
		}
	}
	return nil
}

// listenLoopback ignores the host kfake asks for and binds 127.0.0.1 only.
func listenLoopback(network, address string) (net.Listener, error) {
	_, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", address, err)
	}
	if network == "tcp" {
		network = "tcp4"
	}
	return net.Listen(network, net.JoinHostPort("127.0.0.1", port))
}

// loopbackAddr validates addr (or def when empty) and returns it with the
// host normalised to 127.0.0.1.
func loopbackAddr(addr, def string) (string, error) {
	if addr == "" {
		addr = def
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("parse %q: %w", addr, err)
	}
	switch host {
	case "", "127.0.0.1", "localhost":
	default:
		return "", fmt.Errorf("%q: %w", addr, ErrNotLoopback)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return "", fmt.Errorf("%q: invalid port %q", addr, port)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(n)), nil
}

// loopbackPort is loopbackAddr returning only the port number.
func loopbackPort(addr, def string) (int, error) {
	a, err := loopbackAddr(addr, def)
	if err != nil {
		return 0, err
	}
	_, port, _ := net.SplitHostPort(a)
	return strconv.Atoi(port)
}
