package ingest

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/bigfather/bigfather/table"
)

type metrics struct {
	records       *prometheus.CounterVec // table
	bytes         *prometheus.CounterVec // table (Kafka value bytes)
	undecodable   *prometheus.CounterVec // topic, reason
	rejected      *prometheus.CounterVec // topic, stage, reason
	schemaChanges *prometheus.CounterVec // table
	incompatible  *prometheus.CounterVec // table
	dlqProduced   prometheus.Counter
	filtered      *prometheus.CounterVec   // table
	unrouted      *prometheus.CounterVec   // topic
	dlqDropped    *prometheus.CounterVec   // reason
	commits       *prometheus.CounterVec   // table
	commitDur     *prometheus.HistogramVec // table
	conflicts     *prometheus.CounterVec   // table
	fenced        *prometheus.CounterVec   // table
	unknown       *prometheus.CounterVec   // table, outcome
	files         *prometheus.CounterVec   // table
	fileBytes     *prometheus.CounterVec   // table
	lag           *prometheus.GaugeVec     // topic, partition
	tableLag      *prometheus.GaugeVec     // table, topic, partition
	halted        *prometheus.GaugeVec     // topic, partition
	lastCommit    *prometheus.GaugeVec     // table
	registryWait  prometheus.Counter
	bufferBytes   prometheus.Gauge
	// health is the per-table growth the next maintenance must take back
	// (snapshots, data files, manifests, metadata bytes).
	health *table.HealthMetrics
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		health: table.NewHealthMetrics(reg, 0, nil),
		records: f.NewCounterVec(prometheus.CounterOpts{
			Name: "bigfather_ingest_records_total", Help: "Records committed to a table.",
		}, []string{"table"}),
		bytes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "bigfather_ingest_bytes_total", Help: "Kafka value bytes of records committed to a table.",
		}, []string{"table"}),
		undecodable: f.NewCounterVec(prometheus.CounterOpts{
			Name: "bigfather_ingest_undecodable_records_total", Help: "Records passed over because they could not be decoded.",
		}, []string{"topic", "reason"}),
		rejected: f.NewCounterVec(prometheus.CounterOpts{
			Name: "bigfather_ingest_rejected_records_total", Help: "Records sent to quarantine (or passed over where a route has none), by stage and reason.",
		}, []string{"topic", "stage", "reason"}),
		filtered: f.NewCounterVec(prometheus.CounterOpts{
			Name: "bigfather_ingest_filtered_records_total", Help: "Records dropped by a route's filter (their offsets still count as consumed).",
		}, []string{"table"}),
		unrouted: f.NewCounterVec(prometheus.CounterOpts{
			Name: "bigfather_ingest_unrouted_records_total", Help: "Records no table's route took, dropped (unrouted: drop; their offsets still count as consumed).",
		}, []string{"topic"}),
		dlqProduced: f.NewCounter(prometheus.CounterOpts{
			Name: "bigfather_ingest_dlq_records_total", Help: "Rejected records produced to the DLQ topic.",
		}),
		dlqDropped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "bigfather_ingest_dlq_dropped_total", Help: "Rejected records the DLQ topic refused for good (too large, invalid); they are still in quarantine.",
		}, []string{"reason"}),
		schemaChanges: f.NewCounterVec(prometheus.CounterOpts{
			Name: "bigfather_ingest_schema_changes_total", Help: "Table schema changes committed by evolution (columns added, types widened, columns made optional).",
		}, []string{"table"}),
		incompatible: f.NewCounterVec(prometheus.CounterOpts{
			Name: "bigfather_ingest_incompatible_schemas_total", Help: "Writer schemas found incompatible with their table; their records go to quarantine.",
		}, []string{"table"}),
		commits: f.NewCounterVec(prometheus.CounterOpts{
			Name: "bigfather_commit_total", Help: "Successful ingest commits.",
		}, []string{"table"}),
		commitDur: f.NewHistogramVec(prometheus.HistogramOpts{
			Name: "bigfather_commit_duration_seconds", Help: "Time from closing the batch's files to a committed snapshot.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"table"}),
		conflicts: f.NewCounterVec(prometheus.CounterOpts{
			Name: "bigfather_commit_conflicts_total", Help: "Commit conflicts retried because the watermarks were untouched.",
		}, []string{"table"}),
		fenced: f.NewCounterVec(prometheus.CounterOpts{
			Name: "bigfather_commit_fenced_batches_total", Help: "Batches dropped because another writer moved the watermark.",
		}, []string{"table"}),
		unknown: f.NewCounterVec(prometheus.CounterOpts{
			Name: "bigfather_commit_unknown_outcomes_total", Help: "Commits whose outcome was unknown, by how reconciliation ended.",
		}, []string{"table", "outcome"}),
		files: f.NewCounterVec(prometheus.CounterOpts{
			Name: "bigfather_ingest_files_total", Help: "Data files committed.",
		}, []string{"table"}),
		fileBytes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "bigfather_ingest_file_bytes_total", Help: "Bytes of Parquet data files committed.",
		}, []string{"table"}),
		lag: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bigfather_ingest_lag_records", Help: "Records of a partition not committed to a data table yet: high watermark minus the data tables' committed watermark (0 once fetched up to the end and only markers or aborted records remain).",
		}, []string{"topic", "partition"}),
		tableLag: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bigfather_ingest_table_lag_records", Help: "High watermark minus one table's committed watermark, per partition, quarantine tables included (they commit only every idle_commit_interval while nothing is rejected).",
		}, []string{"table", "topic", "partition"}),
		halted: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bigfather_ingest_partition_halted", Help: "1 while a partition is halted (offset gap or data loss), else 0.",
		}, []string{"topic", "partition"}),
		lastCommit: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bigfather_commit_last_success_timestamp_seconds", Help: "Unix time of the last successful commit.",
		}, []string{"table"}),
		registryWait: f.NewCounter(prometheus.CounterOpts{
			Name: "bigfather_ingest_registry_stalls_total", Help: "Times the pipeline paused because the schema registry failed.",
		}),
		bufferBytes: f.NewGauge(prometheus.GaugeOpts{
			Name: "bigfather_ingest_buffer_bytes", Help: "Bytes held in column builders and unflushed row groups.",
		}),
	}
}
