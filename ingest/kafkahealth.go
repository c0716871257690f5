package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// brokerProblemTTL is how long a broker's failure stays a problem without
// a new one: the client keeps dialing a broker it needs, so a failure that
// is not repeated is one it no longer needs (a seed, once the cluster is
// known).
const brokerProblemTTL = time.Minute

// fetchProblemTTL clears a fetch problem once its partition has gone that
// long without the error.
const fetchProblemTTL = 30 * time.Second

// kafkaHealth turns the client's connection and group failures into
// problems (conditions.go). franz-go retries them forever and logs them
// at INFO or DEBUG; they must be visible.
type kafkaHealth struct {
	p  *Pipeline
	mu sync.Mutex
	// saslFailed is when a SASL request to a broker last failed: a
	// broker may answer a bad login by closing the connection, which
	// the connection's own error (EOF) does not tell apart.
	saslFailed map[string]time.Time
}

var (
	_ kgo.HookBrokerConnect    = (*kafkaHealth)(nil)
	_ kgo.HookBrokerE2E        = (*kafkaHealth)(nil)
	_ kgo.HookGroupManageError = (*kafkaHealth)(nil)
)

func brokerAddr(meta kgo.BrokerMetadata) string {
	return net.JoinHostPort(meta.Host, strconv.Itoa(int(meta.Port)))
}

// OnBrokerE2E notes SASL requests that fail.
func (h *kafkaHealth) OnBrokerE2E(meta kgo.BrokerMetadata, key int16, e2e kgo.BrokerE2E) {
	if (key == kmsg.SASLHandshake.Int16() || key == kmsg.SASLAuthenticate.Int16()) && e2e.Err() != nil {
		h.mu.Lock()
		h.saslFailed[brokerAddr(meta)] = time.Now()
		h.mu.Unlock()
	}
}

// OnBrokerConnect sees every connection attempt; err covers the dial and
// the connection's initialisation (ApiVersions, SASL).
func (h *kafkaHealth) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, conn net.Conn, err error) {
	addr := brokerAddr(meta)
	c := h.p.cond
	h.mu.Lock()
	duringSASL := time.Since(h.saslFailed[addr]) < 5*time.Second
	h.mu.Unlock()
	var ne net.Error
	switch {
	case err == nil:
		c.clear(ProblemBroker, addr)
		c.clear(ProblemAuth, addr)
	case errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed):
	case isSASLError(err) || duringSASL:
		c.set(ProblemAuth, addr, slog.LevelError, brokerProblemTTL,
			fmt.Sprintf("broker %s refused the SASL login (check kafka.sasl: mechanism, user, password): %v", addr, err), "broker", addr)
	case conn != nil && errors.As(err, &ne) && ne.Timeout():
		c.set(ProblemBroker, addr, slog.LevelWarn, brokerProblemTTL,
			fmt.Sprintf("broker %s accepted the connection but did not answer: %v", addr, err), "broker", addr)
	case conn != nil:
		c.set(ProblemBroker, addr, slog.LevelWarn, brokerProblemTTL,
			fmt.Sprintf("broker %s closed the connection while it was being set up (is it a Kafka listener, and are kafka.tls and kafka.sasl right?): %v", addr, err), "broker", addr)
	default:
		c.set(ProblemBroker, addr, slog.LevelWarn, brokerProblemTTL,
			fmt.Sprintf("cannot connect to broker %s: %v", addr, err), "broker", addr)
	}
}

// OnGroupManageError sees the group loop failing (joining, syncing,
// heartbeating); it retries on its own.
func (h *kafkaHealth) OnGroupManageError(err error) {
	if errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed) {
		return
	}
	h.p.cond.set(ProblemGroup, "", slog.LevelWarn, brokerProblemTTL,
		fmt.Sprintf("consumer group %s: %v", h.p.opts.Group, err), "group", h.p.opts.Group)
}

func isSASLError(err error) bool {
	return errors.Is(err, kerr.SaslAuthenticationFailed) || errors.Is(err, kerr.IllegalSaslState) ||
		errors.Is(err, kerr.UnsupportedSaslMechanism) || strings.Contains(strings.ToLower(err.Error()), "sasl")
}

// monitor keeps the problems current while the pipeline runs: it expires
// stale ones and checks, every topicCheckEvery, that the topics the tables
// name exist (a missing one is otherwise a silent, empty assignment).
func (p *Pipeline) monitor(ctx context.Context) {
	const topicCheckEvery = 10 * time.Second
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var lastCheck time.Time
	for {
		if time.Since(lastCheck) >= topicCheckEvery {
			lastCheck = time.Now()
			p.checkTopics(ctx)
		}
		p.cond.sweep()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// checkTopics sets a problem for every table topic named literally that
// the cluster does not have, and clears it once the topic exists.
func (p *Pipeline) checkTopics(ctx context.Context) {
	topics := p.opts.literalTopics()
	if len(topics) == 0 {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	details, err := p.adm.ListTopics(lctx, topics...)
	if err != nil {
		return // the brokers' own problems say why
	}
	for _, t := range topics {
		d, ok := details[t]
		switch {
		case ok && d.Err == nil:
			p.cond.clear(ProblemTopic, t)
		case !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition):
			p.cond.set(ProblemTopic, t, slog.LevelWarn, 0,
				fmt.Sprintf("topic %s does not exist: nothing of it is ingested until it is created", t), "topic", t)
		}
	}
}
