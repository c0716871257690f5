package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bigfather/bigfather/internal/devkafka"
	"github.com/bigfather/bigfather/internal/eventually"
	"github.com/bigfather/bigfather/internal/music"
)

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// runSecretChild runs the real binary with cfg, until it exits or, when
// until is set, until its output contains until (then it is stopped), and
// returns everything it wrote.
func runSecretChild(t *testing.T, cfg, until string) string {
	t.Helper()
	bin := buildBinary(t)
	dir := t.TempDir()
	cfg = strings.ReplaceAll(cfg, "DIR", dir)
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", cfgPath)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	if until != "" {
		eventually.Within(t, 60*time.Second, func() error {
			if !strings.Contains(out.String(), until) {
				return fmt.Errorf("no %q in the output:\n%s", until, out)
			}
			return nil
		})
		_ = cmd.Process.Signal(syscall.SIGTERM)
	}
	if err := waitExit(cmd, 60*time.Second); err == nil && until == "" {
		t.Fatalf("the child should have failed to start:\n%s", out)
	}
	return out.String()
}

func assertNoSecrets(t *testing.T, out string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("output contains the secret %q:\n%s", s, out)
		}
	}
}

// Secrets inside URLs and DSNs never reach the output of the real binary:
// not the registry's failure warnings (whose errors embed the URL), not a
// REST catalog's start error, not a PostgreSQL DSN's parse error.
func TestSecretsInURLsStayOutOfTheOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	// Each subtest is its own child (and Kafka); most of their time is
	// the clients' retry backoff, so they wait in parallel.
	t.Parallel()
	t.Run("registry", func(t *testing.T) {
		t.Parallel()
		cluster, err := devkafka.Start(context.Background(), devkafka.Options{
			KafkaAddr: "127.0.0.1:0", RegistryAddr: "127.0.0.1:0", Topics: map[string]int32{"tracks": 1},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cluster.Close() })
		cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.Brokers()...), kgo.DefaultProduceTopic("tracks"))
		if err != nil {
			t.Fatal(err)
		}
		// A framed record whose schema id sends the worker to the registry.
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: []byte{0, 0, 0, 0, 1, 2}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		cl.Close()
		out := runSecretChild(t, fmt.Sprintf(`pipeline: p
kafka: {brokers: [%q], session_timeout: 6s}
schema_registry: {url: "http://sr-user:SrUrlSecret1@%s/base?token=SrQuerySecret1", username: sr-user, password: SrPassword1}
warehouse: {url: "file://DIR/wh"}
tables: [{topic: tracks, table: music.tracks}]
metrics: {addr: ""}
shutdown_timeout: 2s
`, cluster.Brokers()[0], closedPort(t)), "schema registry unavailable")
		assertNoSecrets(t, out, "SrUrlSecret1", "SrQuerySecret1", "SrPassword1")
		if !strings.Contains(out, "sr-user:***@") {
			t.Errorf("the registry's URL is not shown redacted:\n%s", out)
		}
	})
	t.Run("rest", func(t *testing.T) {
		t.Parallel()
		out := runSecretChild(t, fmt.Sprintf(`pipeline: p
kafka: {brokers: ["127.0.0.1:1"]}
schema_registry: {url: "http://127.0.0.1:1"}
catalog: {type: rest, rest: {uri: "http://rest:RestUriSecret1@%s/api?token=RestQuerySecret1", properties: {credential: "id:RestCredSecret1", "oauth2-server-uri": "http://o:RestOauthSecret1@%s/token"}}}
warehouse: {url: "file://DIR/wh"}
tables: [{topic: tracks, table: music.tracks}]
metrics: {addr: ""}
`, closedPort(t), closedPort(t)), "")
		assertNoSecrets(t, out, "RestUriSecret1", "RestQuerySecret1", "RestCredSecret1", "RestOauthSecret1")
	})
	t.Run("s3", func(t *testing.T) {
		t.Parallel()
		// Good records, so the pipeline goes to S3 to create the table.
		cluster, err := devkafka.Start(context.Background(), devkafka.Options{
			KafkaAddr: "127.0.0.1:0", RegistryAddr: "127.0.0.1:0", Topics: map[string]int32{"tracks": 1},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cluster.Close() })
		p, err := music.NewProducer(music.ProducerOptions{
			Brokers: cluster.Brokers(), RegistryURL: cluster.RegistryURL(), Topic: "tracks", Total: 5, Seed: 1,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		out := runSecretChild(t, fmt.Sprintf(`pipeline: p
kafka: {brokers: [%q], session_timeout: 6s}
schema_registry: {url: %q}
catalog: {type: objectstore}
warehouse:
  url: s3://bucket/wh
  s3: {endpoint: "http://ep:S3EndpointSecret1@%s", path_style: true, access_key_id: AKIAH6TEST, secret_access_key: S3SecretKey1, session_token: S3SessionToken1}
tables: [{topic: tracks, table: music.tracks}]
metrics: {addr: ""}
shutdown_timeout: 2s
`, cluster.Brokers()[0], cluster.RegistryURL(), closedPort(t)), "ListObjectsV2")
		assertNoSecrets(t, out, "S3EndpointSecret1", "S3SecretKey1", "S3SessionToken1")
	})
	for name, dsn := range map[string]string{
		"postgres-url-unparsable": "postgres://bf:PgUrlSecret1@127.0.0.1:notaport/c",
		"postgres-url":            "postgres://bf:PgUrlSecret1@" + closedPort(t) + "/c?sslmode=disable&password=PgQuerySecret1",
		"postgres-keyvalue":       "host=127.0.0.1 port=1 user=bf password=PgKvSecret1 dbname=c sslmode=disable",
		"postgres-keyvalue-bad":   "host=127.0.0.1 port=1 user=bf password='PgKvSecret1 x' dbname=c sslmode=disable bogus",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			out := runSecretChild(t, fmt.Sprintf(`pipeline: p
kafka: {brokers: ["127.0.0.1:1"]}
schema_registry: {url: "http://127.0.0.1:1"}
catalog: {type: sql, sql: {driver: postgres, dsn: %q}}
warehouse: {url: "file://DIR/wh"}
tables: [{topic: tracks, table: music.tracks}]
metrics: {addr: ""}
`, dsn), "")
			assertNoSecrets(t, out, "PgUrlSecret1", "PgQuerySecret1", "PgKvSecret1")
		})
	}
}
