package ingest

import "github.com/twmb/franz-go/pkg/kgo"

// kafkaLogger passes the Kafka client's log lines on, except that the ones
// a problem already reports, rate-limited (conditions.go), go down to
// INFO: the client logs them at WARN on every retry, every few seconds
// for as long as the fault lasts.
type kafkaLogger struct{ kgo.Logger }

func (l kafkaLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	// A failed dial is the broker problem.
	if level == kgo.LogLevelWarn && msg == "unable to open connection to broker" {
		level = kgo.LogLevelInfo
	}
	l.Logger.Log(level, msg, keyvals...)
}
